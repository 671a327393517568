"""Inspection points (点位): who sets them, who sees them, their responsible person."""

import pytest

from app.models.org import OrgLevel
from app.models.problem import PointKind
from tests.factories.orgs import make_org
from tests.factories.problems import make_point
from tests.factories.users import make_user

# Everything written here leaves the dashboards' kept sums exact (tests/support/counts.py).
pytestmark = pytest.mark.usefixtures("counts_stay_exact")


def point_body(world, **overrides):
    body = {
        "name": "东关农贸市场",
        "kind": "market",
        "org_id": world["C1"].id,
        "location": {"lat": 23.1291, "lng": 113.2644},
    }
    body.update(overrides)
    return body


async def post_point(client, world, who="community_admin", **overrides):
    return await client.post(
        "/points", json=point_body(world, **overrides), headers=world.headers(who)
    )


async def test_a_community_admin_sets_a_point_with_its_responsible_person(client, world):
    resp = await post_point(client, world, responsible_user_id=world.user("member").id)
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["kind"] == "market"
    assert body["org_id"] == world["C1"].id
    assert body["location"] == {"lat": 23.1291, "lng": 113.2644}
    assert body["responsible_user_id"] == world.user("member").id
    assert body["responsible_user_name"] == "党员甲"
    fetched = await client.get(f"/points/{body['id']}", headers=world.headers("inspector"))
    assert fetched.status_code == 200
    assert fetched.json() == body


async def test_a_responsible_person_outside_the_admins_reach_is_422(client, world):
    # The C2 secretary lives in C2, outside the C1 secretary's reach.
    resp = await post_point(
        client, world, responsible_user_id=world.user("other_community_admin").id
    )
    assert resp.status_code == 422
    assert resp.json()["code"] == "invalid_responsible_user"
    missing = await post_point(client, world, responsible_user_id=999_999)
    assert missing.json()["code"] == "invalid_responsible_user"
    # The street admin reaches both communities.
    ok = await post_point(
        client,
        world,
        who="street_admin",
        responsible_user_id=world.user("other_community_admin").id,
    )
    assert ok.status_code == 201


@pytest.mark.parametrize(
    "location",
    [{"lat": 90.5, "lng": 113.0}, {"lat": 23.0, "lng": -180.1}, {"lat": 23.0}, None],
)
async def test_a_location_outside_the_globe_or_incomplete_is_422(client, world, location):
    resp = await post_point(client, world, location=location)
    assert resp.status_code == 422
    assert resp.json()["code"] == "validation_error"


async def test_an_unknown_kind_is_422_and_other_is_accepted(client, world):
    bad = await post_point(client, world, kind="skyscraper")
    assert bad.status_code == 422
    other = await post_point(client, world, kind="other")
    assert other.status_code == 201


async def test_a_point_of_the_district_itself_is_422(client, world):
    resp = await post_point(client, world, who="district_admin", org_id=world["D"].id)
    assert resp.status_code == 422
    assert resp.json()["code"] == "invalid_org"


async def test_an_inspector_cannot_set_points_and_a_neighbour_cannot_see_the_org(client, world):
    inspector = await post_point(client, world, who="inspector")
    assert inspector.status_code == 403
    neighbour = await post_point(client, world, who="other_community_admin")
    assert neighbour.status_code == 404


async def test_points_are_listed_per_reach_and_filtered_by_org_and_kind(client, world):
    c1_market = await make_point(world.app, world["C1"], name="东关市场")
    c1_stop = await make_point(world.app, world["C1"], name="东关站", kind=PointKind.bus_stop)
    c2_market = await make_point(world.app, world["C2"], name="仓门市场")
    c3_market = await make_point(world.app, world["C3"], name="西湖市场")

    async def ids(who, **params):
        resp = await client.get("/points", params=params, headers=world.headers(who))
        assert resp.status_code == 200, resp.text
        return {p["id"] for p in resp.json()["items"]}

    assert await ids("community_admin") == {c1_market.id, c1_stop.id}
    assert await ids("street_admin") == {c1_market.id, c1_stop.id, c2_market.id}
    assert await ids("inspector") == {c1_market.id, c1_stop.id, c2_market.id}
    assert await ids("other_street_admin") == {c3_market.id}
    assert await ids("district_admin") == {c1_market.id, c1_stop.id, c2_market.id, c3_market.id}
    assert await ids("street_admin", org_id=world["C2"].id) == {c2_market.id}
    assert await ids("street_admin", kind="bus_stop") == {c1_stop.id}

    member = await client.get("/points", headers=world.headers("member"))
    assert member.status_code == 403
    outside = await client.get(
        "/points", params={"org_id": world["C3"].id}, headers=world.headers("street_admin")
    )
    assert outside.status_code == 404


async def test_a_point_outside_reach_is_404_like_a_missing_one(client, world):
    point = await make_point(world.app, world["C1"])
    for who in ("member", "other_community_admin", "other_street_admin"):
        resp = await client.get(f"/points/{point.id}", headers=world.headers(who))
        assert resp.status_code == 404, who
    missing = await client.get("/points/999999", headers=world.headers("district_admin"))
    assert missing.status_code == 404


async def test_a_unit_can_hold_points(client, world):
    unit = await make_org(world.app, "区城管局", OrgLevel.unit, world["S1"])
    staff = await make_user(world.app, "城管队员", community=world["C1"], unit=unit)
    resp = await post_point(
        client, world, who="street_admin", org_id=unit.id, responsible_user_id=staff.id
    )
    assert resp.status_code == 201, resp.text
