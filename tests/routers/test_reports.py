"""Residents' reports (随手拍): reporting, the inbox, accepting into a problem, rejecting,
the reporter following it, and possible duplicates nearby."""

import asyncio
import random
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select

from app.core.db import utcnow
from app.core.timeutil import local
from app.main import create_app
from app.models.notification import Message
from app.models.problem import Problem
from app.models.report import Report
from tests.factories.media import make_media
from tests.factories.problems import insert_problem, make_point

pytestmark = pytest.mark.usefixtures("counts_stay_exact")

AT = {"lat": 23.1291, "lng": 113.2644}  # where make_point puts points
METRE = 1 / 111_320  # of latitude
_hashes = random.Random(21)  # photos' made-up pHashes, 32 bits apart on average


async def post_report(client, world, who="member", **overrides):
    # Each with its own picture: make_media's photos all share one pHash.
    photo = await make_media(world.app, world.user(who), phash=f"{_hashes.getrandbits(64):016x}")
    body = {
        "category": "sanitation",
        "description": "小区门口垃圾没人清",
        **AT,
        "photo_ids": [photo.id],
    }
    body.update(overrides)
    return await client.post("/reports", json=body, headers=world.headers(who))


def due():
    return (local(utcnow()).date() + timedelta(days=5)).isoformat()


async def count(world, model, *where):
    async with world.app.state.sessionmaker() as session:
        query = select(func.count()).select_from(model).where(*where)
        return (await session.execute(query)).scalar_one()


async def test_a_member_reports_and_the_community_admin_sees_it_in_the_inbox(client, world):
    resp = await post_report(client, world)
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["status"] == "submitted" and body["org_id"] == world["C1"].id
    assert body["reporter_name"] is None  # the reporter is not shown their own name back
    inbox = await client.get("/reports", headers=world.headers("community_admin"))
    (item,) = inbox.json()["items"]
    assert item["reporter_name"] == "党员甲"
    assert await count(world, Message, Message.user_id == world.user("community_admin").id) == 1
    neighbour = await client.get("/reports", headers=world.headers("other_community_admin"))
    assert neighbour.json()["total"] == 0
    member_inbox = await client.get("/reports", headers=world.headers("member"))
    assert member_inbox.status_code == 403


async def test_a_report_needs_a_photo_and_a_position_in_the_district(client, world):
    no_photo = await post_report(client, world, photo_ids=[])
    assert no_photo.status_code == 422 and no_photo.json()["code"] == "validation_error"
    await make_point(world.app, world["C1"])  # the district's extent: around its points
    far = await post_report(client, world, lat=AT["lat"] + 0.1)
    assert far.status_code == 422 and far.json()["code"] == "outside_district"
    near = await post_report(client, world, lat=AT["lat"] + 0.01)
    assert near.status_code == 201
    assert await count(world, Report) == 1


async def test_a_risky_text_is_refused(client, world, stub):
    stub.content_verdicts["赌博"] = "risky"
    resp = await post_report(client, world, description="这里有人赌博")
    assert resp.status_code == 422 and resp.json()["code"] == "content_rejected"
    assert await count(world, Report) == 0


async def test_accepting_opens_a_problem_with_the_reports_photos_and_tells_the_reporter(
    client, world
):
    report = (await post_report(client, world)).json()
    resp = await client.post(
        f"/reports/{report['id']}/accept",
        json={"org_id": world["C1"].id, "deadline_working_days": 3},
        headers=world.headers("community_admin"),
    )
    assert resp.status_code == 200, resp.text
    accepted = resp.json()
    assert accepted["status"] == "accepted" and accepted["problem_status"] == "open"
    problem = await client.get(
        f"/problems/{accepted['problem_id']}", headers=world.headers("community_admin")
    )
    assert problem.json()["photo_ids"] == report["photo_ids"]
    assert problem.json()["location"] == AT
    mine = await client.get("/reports/mine", headers=world.headers("member"))
    (followed,) = mine.json()["items"]
    assert followed["status"] == "accepted" and followed["problem_status"] == "open"
    assert (
        await count(
            world,
            Message,
            Message.user_id == world.user("member").id,
            Message.kind == "report_accepted",
        )
        == 1
    )
    again = await client.post(
        f"/reports/{report['id']}/reject",
        json={"reason": "重复"},
        headers=world.headers("street_admin"),
    )
    assert again.status_code == 409 and again.json()["code"] == "invalid_report_state"


@pytest.mark.pooled
async def test_two_admins_accepting_at_once_open_exactly_one_problem(client, world):
    report = (await post_report(client, world)).json()
    answers = await asyncio.gather(
        *(
            client.post(
                f"/reports/{report['id']}/accept",
                json={"org_id": world["C1"].id, "deadline": due()},
                headers=world.headers(who),
            )
            for who in ("community_admin", "street_admin", "district_admin")
        )
    )
    assert sorted(a.status_code for a in answers) == [200, 409, 409], [a.text for a in answers]
    assert await count(world, Problem) == 1


async def test_rejecting_needs_a_reason_and_the_reporter_reads_it(client, world):
    report = (await post_report(client, world)).json()
    path = f"/reports/{report['id']}/reject"
    blank = await client.post(path, json={"reason": " "}, headers=world.headers("community_admin"))
    assert blank.status_code == 422
    resp = await client.post(
        path, json={"reason": "不属于本社区管辖"}, headers=world.headers("community_admin")
    )
    assert resp.status_code == 200 and resp.json()["status"] == "rejected"
    seen = await client.get(f"/reports/{report['id']}", headers=world.headers("member"))
    assert seen.json()["reject_reason"] == "不属于本社区管辖"


async def test_only_admins_over_the_community_handle_a_report(client, world):
    report = (await post_report(client, world)).json()
    body = {"org_id": world["C1"].id, "deadline": due()}
    by_reporter = await client.post(
        f"/reports/{report['id']}/accept", json=body, headers=world.headers("member")
    )
    assert by_reporter.status_code == 403
    by_neighbour = await client.post(
        f"/reports/{report['id']}/accept", json=body, headers=world.headers("other_community_admin")
    )
    assert by_neighbour.status_code == 404
    elsewhere = await client.post(
        f"/reports/{report['id']}/accept",
        json={**body, "org_id": world["C3"].id},
        headers=world.headers("community_admin"),
    )
    assert elsewhere.status_code == 404
    assert await count(world, Problem) == 0


async def test_nearby_lists_reports_and_open_problems_within_50_m(client, world):
    report = (await post_report(client, world)).json()
    await post_report(client, world, lat=AT["lat"] + 30 * METRE)
    await post_report(client, world, lat=AT["lat"] + 80 * METRE)
    problem = await insert_problem(world.app, org=world["C1"], reporter=world.user("inspector"))
    async with world.app.state.sessionmaker() as session, session.begin():
        row = await session.get(Problem, problem.id)
        row.lat, row.lng = AT["lat"], AT["lng"] + 20 * METRE
    resp = await client.get(
        f"/reports/{report['id']}/nearby", headers=world.headers("community_admin")
    )
    assert resp.status_code == 200, resp.text
    found = [(i["kind"], round(i["distance_m"])) for i in resp.json()]
    assert [k for k, _ in found] == ["problem", "report"]
    assert all(d <= 50 for _, d in found)
    by_reporter = await client.get(
        f"/reports/{report['id']}/nearby", headers=world.headers("member")
    )
    assert by_reporter.status_code == 403


async def test_reports_per_person_are_rate_limited(db, world):
    app = create_app(db.state.settings.model_copy(update={"report_rate_per_minute": 2}))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t/api/v1"
    ) as c:
        codes = [(await post_report(c, world)).status_code for _ in range(3)]
        assert codes == [201, 201, 429]
        other = await post_report(c, world, "community_admin")
        assert other.status_code == 201
    await app.state.engine.dispose()


async def test_a_photo_already_on_another_record_marks_the_report_for_admins_only(client, world):
    photo = await make_media(world.app, world.user("member"))
    first = await post_report(client, world, photo_ids=[photo.id])
    again = await post_report(client, world, photo_ids=[photo.id], description="又来反映")
    assert again.status_code == 201
    assert again.json()["possible_reuse"] == []  # the reporter is not told
    seen = await client.get(
        f"/reports/{again.json()['id']}", headers=world.headers("community_admin")
    )
    assert seen.json()["possible_reuse"] == [
        {"record_type": "report", "record_id": first.json()["id"], "distance": 0}
    ]
    earlier = await client.get(
        f"/reports/{first.json()['id']}", headers=world.headers("community_admin")
    )
    assert earlier.json()["possible_reuse"] == []
