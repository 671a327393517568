"""Service orders: the menu, ordering, review, dispatch, take, completion with photos
(crediting the taker's minutes once), rating once, cancellation, privacy and overdue."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.core.db import utcnow
from app.models.service_order import OrderStatus, ServiceOrderEvent
from app.models.volunteer_hours import HourSource, VolunteerHour
from app.services.notifications import scans
from tests.factories.media import make_media
from tests.factories.points import set_rules
from tests.factories.service_orders import ADDRESS, insert_order
from tests.factories.teams import insert_team
from tests.factories.users import auth, make_user

pytestmark = pytest.mark.usefixtures("counts_stay_exact")


@pytest.fixture
async def cast(world):
    """A resident of C1 who orders, and a C1 team of two volunteers."""
    orderer = await make_user(world.app, "李大爷", community=world["C1"])
    taker = await make_user(world.app, "志愿者甲", community=world["C1"])
    mate = await make_user(world.app, "志愿者乙", community=world["C1"])
    team = await insert_team(world.app, org=world["C1"], leader=taker, members=[mate])
    return orderer, taker, mate, team


async def test_an_order_runs_from_submitted_to_rated_and_credits_the_taker_once(
    client, world, cast
):
    orderer, taker, mate, team = cast
    admin = world.headers("community_admin")
    await set_rules(world.app, world["D"], hour=10, order=15)
    created = await client.post(
        "/service-orders",
        json={
            "title": "上门理发",
            "description": "行动不便",
            "community_id": world["C1"].id,
            "address": ADDRESS,
        },
        headers=auth(world.app, orderer),
    )
    assert created.status_code == 201, created.text
    oid = created.json()["id"]
    assert created.json()["address"] == ADDRESS
    base = f"/service-orders/{oid}"
    assert (await client.post(f"{base}/accept", headers=admin)).json()["status"] == "accepted"
    other = await make_user(world.app, "外队", community=world["C1"])
    other_team = await insert_team(world.app, org=world["C1"], leader=other)
    await client.post(f"{base}/dispatch", json={"team_id": other_team.id}, headers=admin)
    # Re-dispatched before anyone took it.
    resp = await client.post(f"{base}/dispatch", json={"team_id": team.id}, headers=admin)
    assert resp.json()["team_id"] == team.id and resp.json()["status"] == "dispatched"
    # The team it was taken from no longer sees it; an admin sees it but is no member.
    assert (await client.post(f"{base}/take", headers=auth(world.app, other))).status_code == 404
    assert (await client.post(f"{base}/take", headers=admin)).json()["code"] == "not_team_member"

    taken = await client.post(f"{base}/take", headers=auth(world.app, taker))
    assert taken.json()["address"] == ADDRESS and taken.json()["details_visible"] is True
    seen_by_mate = (await client.get(base, headers=auth(world.app, mate))).json()
    assert seen_by_mate["address"] != ADDRESS and seen_by_mate["address"].endswith("****")
    assert seen_by_mate["phone"] == orderer.phone_masked
    assert (await client.post(f"{base}/cancel", headers=auth(world.app, orderer))).json()[
        "code"
    ] == "invalid_order_state"

    done = f"{base}/complete"
    h = auth(world.app, taker)
    photo = (await make_media(world.app, taker)).id
    no_photo = await client.post(done, json={"photo_ids": [], "minutes": 45}, headers=h)
    too_long = await client.post(done, json={"photo_ids": [photo], "minutes": 1441}, headers=h)
    assert no_photo.json()["code"] == "photo_required"
    assert too_long.json()["code"] == "too_long"
    resp = await client.post(done, json={"photo_ids": [photo], "minutes": 45}, headers=h)
    assert resp.json()["status"] == "completed" and resp.json()["photo_ids"] == [photo]

    rate = f"{base}/rate"
    mine = auth(world.app, orderer)
    assert (await client.post(rate, json={"stars": 5}, headers=mine)).json()["stars"] == 5
    again = await client.post(rate, json={"stars": 1}, headers=mine)
    assert again.status_code == 409 and again.json()["code"] == "order_already_rated"
    # The taker's points: 45 minutes at 10 an hour (whole points) and 15 for the rated
    # order, each once however often the orderer presses.
    earned = (await client.get("/me/points", headers=auth(world.app, taker))).json()
    assert earned["balance"] == 7 + 15
    async with world.app.state.sessionmaker() as s:
        hours = (
            (
                await s.execute(
                    select(VolunteerHour).where(
                        VolunteerHour.source == HourSource.service_order,
                        VolunteerHour.source_id == oid,
                    )
                )
            )
            .scalars()
            .all()
        )
        steps = (
            await s.execute(select(func.count()).where(ServiceOrderEvent.service_order_id == oid))
        ).scalar_one()
    assert [(h.user_id, h.minutes) for h in hours] == [(taker.id, 45)]
    # submit, accept, dispatch twice, take, complete, rate.
    assert steps == 7
    # The history reads as the order does: whole for the orderer, masked names for the
    # team's other member (who sees the address masked).
    for who, names in ((orderer, ["李大爷", "志愿者甲"]), (mate, ["李**", "志***"])):
        steps_seen = (await client.get(f"{base}/history", headers=auth(world.app, who))).json()
        assert [e["action"] for e in steps_seen] == [
            "submit",
            "accept",
            "dispatch",
            "dispatch",
            "take",
            "complete",
            "rate",
        ]
        assert [steps_seen[0]["actor_name"], steps_seen[4]["actor_name"]] == names
        assert steps_seen[3]["team_id"] == team.id
    team_record = (await client.get(f"/teams/{team.id}", headers=admin)).json()
    assert (team_record["minutes"], team_record["orders_completed"]) == (45, 1)
    population = await client.patch(
        f"/orgs/{world['C1'].id}", json={"population": 2000}, headers=admin
    )
    assert population.json()["population"] == 2000
    figures = (await client.get(f"/dashboard?org_id={world['C1'].id}", headers=admin)).json()
    assert figures["teams"] == 2
    assert (figures["service_orders_rated"], figures["service_order_rating"]) == (1, 5.0)
    assert figures["service_order_hours_to_take"] is not None
    assert (figures["volunteers"], figures["volunteers_per_1000"]) == (0, 0.0)


async def test_refused_steps_answer_with_codes_and_change_nothing(client, world, cast):
    orderer, taker, _, team = cast
    admin = world.headers("community_admin")
    cancelled = await insert_order(
        world.app, community=world["C1"], orderer=orderer, status=OrderStatus.cancelled, team=team
    )
    took = await client.post(f"/service-orders/{cancelled.id}/take", headers=auth(world.app, taker))
    assert took.status_code == 409 and took.json()["code"] == "invalid_order_state"
    accepted = await insert_order(
        world.app, community=world["C1"], orderer=orderer, status=OrderStatus.accepted
    )
    elsewhere = await insert_team(
        world.app, org=world["C3"], leader=await make_user(world.app, "西湖", community=world["C3"])
    )
    resp = await client.post(
        f"/service-orders/{accepted.id}/dispatch", json={"team_id": elsewhere.id}, headers=admin
    )
    assert resp.json()["code"] == "invalid_team"
    # Nothing of a resident's order is readable outside the community's reach.
    for who in ("other_community_admin", "other_street_admin", "member"):
        assert (
            await client.get(f"/service-orders/{accepted.id}", headers=world.headers(who))
        ).status_code == 404
    assert (await client.get(f"/service-orders/{accepted.id}", headers=admin)).json()[
        "status"
    ] == "accepted"


async def test_the_menu_of_a_community_holds_its_own_and_its_ancestors_items(client, world):
    for org in ("D", "S1", "C1", "C2"):
        admin = "district_admin" if org != "C2" else "other_community_admin"
        resp = await client.post(
            "/service-items",
            json={"org_id": world[org].id, "title": f"{org}的服务", "service_type": "助老"},
            headers=world.headers(admin),
        )
        assert resp.status_code == 201, resp.text
    menu = await client.get(
        f"/service-items?community_id={world['C1'].id}", headers=world.headers("member")
    )
    assert [i["title"] for i in menu.json()] == ["D的服务", "S1的服务", "C1的服务"]
    district_item, _, c1_item = (i["id"] for i in menu.json())
    # Withdrawn: off the menu, not orderable, not withdrawn twice; the district's item
    # is out of a community admin's reach.
    admin = world.headers("community_admin")
    withdraw = f"/service-items/{c1_item}/withdraw"
    assert (await client.post(withdraw, headers=admin)).json()["active"] is False
    assert (await client.post(withdraw, headers=admin)).json()["code"] == "item_withdrawn"
    outside = await client.post(f"/service-items/{district_item}/withdraw", headers=admin)
    assert outside.status_code == 404
    menu = await client.get(
        f"/service-items?community_id={world['C1'].id}", headers=world.headers("member")
    )
    assert [i["title"] for i in menu.json()] == ["D的服务", "S1的服务"]
    order = {
        "item_id": c1_item,
        "title": "理发",
        "description": "上门",
        "community_id": world["C1"].id,
    }
    resp = await client.post("/service-orders", json=order, headers=world.headers("member"))
    assert (resp.status_code, resp.json()["code"]) == (409, "item_withdrawn")


async def test_an_order_not_accepted_within_two_working_days_is_overdue_and_chased(
    client, world, cast
):
    orderer, *_ = cast
    old = await insert_order(
        world.app,
        community=world["C1"],
        orderer=orderer,
        created_at=utcnow() - timedelta(days=6),
    )
    fresh = await insert_order(world.app, community=world["C1"], orderer=orderer)
    admin = world.headers("community_admin")
    listed = (await client.get("/service-orders", headers=admin)).json()["items"]
    assert {o["id"]: o["overdue"] for o in listed} == {old.id: True, fresh.id: False}
    (scan,) = [s for s in scans.every_scan() if s.job == "service_order_scan"]
    async with world.app.state.sessionmaker() as s, s.begin():
        notified = await scan.work(s, world.app.state.settings, utcnow())
    assert notified >= 1
