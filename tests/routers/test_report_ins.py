"""Monthly report-ins: once per Shanghai month, whatever arrives at once; scoped lists."""

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from app.core.errors import AppError
from app.core.timeutil import month_key
from app.edge.access import caller_for_person
from app.models.report_in import (
    ReportIn,
    ReportInCreate,
)
from app.services import report_ins as report_service
from app.services.photos import can_see_media
from tests.factories.media import make_media
from tests.factories.tasks import make_report_in
from tests.factories.users import auth, make_user

# Everything written here leaves the dashboards' kept sums exact (tests/support/counts.py).
pytestmark = pytest.mark.usefixtures("counts_stay_exact")


async def count_reports(world):
    async with world.app.state.sessionmaker() as s:
        return (await s.execute(select(func.count()).select_from(ReportIn))).scalar_one()


async def test_first_report_of_the_month_is_201_and_later_ones_200_with_the_same_record(
    client, world
):
    h = world.headers("member")
    first = await client.post(
        "/report-ins", json={"note": "到社区报到", "lat": 23.1, "lng": 113.2}, headers=h
    )
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["community_id"] == world["C1"].id
    assert body["user_id"] == world.user("member").id
    assert body["month"] == month_key(datetime.now(UTC))
    assert body["has_location"] is True
    assert "lat" not in body
    second = await client.post("/report-ins", json={"note": "又来了"}, headers=h)
    assert second.status_code == 200
    assert second.json() == body  # the first report stands as made
    assert await count_reports(world) == 1


async def test_simultaneous_first_report_ins_give_one_201_and_one_row(client, world):
    h = world.headers("member")
    responses = await asyncio.gather(
        *(client.post("/report-ins", json={}, headers=h) for _ in range(6))
    )
    assert sorted(r.status_code for r in responses) == [200] * 5 + [201]
    assert len({r.json()["id"] for r in responses}) == 1
    assert await count_reports(world) == 1


async def test_a_retried_report_in_with_the_same_key_replays_the_first_response(client, world):
    h = {**world.headers("member"), "Idempotency-Key": "ri-1"}
    first = await client.post("/report-ins", json={"note": "报到"}, headers=h)
    second = await client.post("/report-ins", json={"note": "报到"}, headers=h)
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert await count_reports(world) == 1


async def _report_at(world, user, at):
    async with world.app.state.sessionmaker() as session, session.begin():
        caller = await caller_for_person(session, user)
        return await report_service.report_in(session, caller=caller, data=ReportInCreate(), now=at)


async def test_the_month_is_the_shanghai_calendar_month(world):
    member = world.user("member")
    # 00:30 on 1 February in Shanghai is still 31 January in UTC.
    record, created = await _report_at(world, member, datetime(2026, 1, 31, 16, 30, tzinfo=UTC))
    assert (record.month, created) == ("2026-02", True)
    # 23:59 on 28 February in Shanghai: the same month, the same record.
    again, created = await _report_at(world, member, datetime(2026, 2, 28, 15, 59, tzinfo=UTC))
    assert (again.id, created) == (record.id, False)
    # 00:00 on 1 March in Shanghai: a new month.
    march, created = await _report_at(world, member, datetime(2026, 2, 28, 16, 0, tzinfo=UTC))
    assert (march.month, created) == ("2026-03", True)


async def test_a_person_without_a_home_community_gets_409_no_home_community(client, world):
    drifter = await make_user(world.app, "新用户")
    resp = await client.post("/report-ins", json={}, headers=auth(world.app, drifter))
    assert resp.status_code == 409
    assert resp.json()["code"] == "no_home_community"
    with pytest.raises(AppError):
        await _report_at(world, drifter, datetime.now(UTC))


@pytest.mark.parametrize(
    "body",
    [
        {"lat": 23.1},
        {"lat": 91, "lng": 113},
        {"lat": 23, "lng": 181},
        {"note": "字" * 501},
        {"x": 1},
    ],
    ids=["lat_without_lng", "lat_range", "lng_range", "note_too_long", "unknown_field"],
)
async def test_bad_report_in_input_is_422_validation_error(client, world, body):
    resp = await client.post("/report-ins", json=body, headers=world.headers("member"))
    assert resp.status_code == 422
    assert resp.json()["code"] == "validation_error"


async def test_report_in_photos_must_be_the_callers_own_and_are_seen_in_scope(client, world):
    foreign = await make_media(world.app, world.user("street_admin"))
    h = world.headers("member")
    refused = await client.post("/report-ins", json={"photo_ids": [foreign.id]}, headers=h)
    assert refused.status_code == 422
    assert refused.json()["code"] == "invalid_photo"
    assert await count_reports(world) == 0
    own = await make_media(world.app, world.user("member"))
    resp = await client.post("/report-ins", json={"photo_ids": [own.id]}, headers=h)
    assert resp.status_code == 201
    assert resp.json()["photo_ids"] == [own.id]
    seen = {}
    async with world.app.state.sessionmaker() as session:
        for who in (
            "community_admin",
            "district_admin",
            "other_community_admin",
            "other_street_admin",
        ):
            caller = await caller_for_person(session, world.user(who))
            seen[who] = await can_see_media(session, caller, own)
    assert seen == {
        "community_admin": True,
        "district_admin": True,
        "other_community_admin": False,
        "other_street_admin": False,
    }


async def test_report_in_lists_are_scoped_for_each_admin_level(client, world):
    c2_person = await make_user(world.app, "仓门党员", community=world["C2"])
    c3_person = await make_user(world.app, "西湖党员", community=world["C3"])
    for person in (world.user("member"), c2_person, c3_person):
        await make_report_in(world.app, person)
    expected = {
        "district_admin": {"党员甲", "仓门党员", "西湖党员"},
        "street_admin": {"党员甲", "仓门党员"},
        "community_admin": {"党员甲"},
        "other_community_admin": {"仓门党员"},
        "other_street_admin": {"西湖党员"},
    }
    for who, names in expected.items():
        resp = await client.get("/report-ins", headers=world.headers(who))
        assert resp.status_code == 200
        assert {r["user_name"] for r in resp.json()["items"]} == names, who
        assert resp.json()["total"] == len(names)
    member = await client.get("/report-ins", headers=world.headers("member"))
    assert member.status_code == 403


async def test_the_org_filter_must_be_in_reach(client, world):
    await make_report_in(world.app, world.user("member"))
    h = world.headers("street_admin")
    c1 = await client.get("/report-ins", headers=h, params={"org_id": world["C1"].id})
    assert [r["user_name"] for r in c1.json()["items"]] == ["党员甲"]
    c2 = await client.get("/report-ins", headers=h, params={"org_id": world["C2"].id})
    assert c2.json()["items"] == []
    for outside in (world["C3"].id, world["D"].id, 999_999):
        resp = await client.get("/report-ins", headers=h, params={"org_id": outside})
        assert resp.status_code == 404, outside


async def test_the_month_filter_defaults_to_this_month_and_is_validated(client, world):
    member = world.user("member")
    await _report_at(world, member, datetime(2025, 3, 10, 4, 0, tzinfo=UTC))
    await make_report_in(world.app, member)
    h = world.headers("community_admin")
    this_month = await client.get("/report-ins", headers=h)
    assert [r["month"] for r in this_month.json()["items"]] == [month_key(datetime.now(UTC))]
    march = await client.get("/report-ins", headers=h, params={"month": "2025-03"})
    assert [r["month"] for r in march.json()["items"]] == ["2025-03"]
    for bad in ("2025-13", "2025-3", "march", "2025-00"):
        resp = await client.get("/report-ins", headers=h, params={"month": bad})
        assert resp.status_code == 422, bad
        assert resp.json()["code"] == "validation_error"
