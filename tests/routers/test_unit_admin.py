"""A unit's party secretary (unit_admin): reach by membership, not by place.

The world's member lives in C1 and works at U1; U1's secretary lives nowhere."""

import pytest

from tests.factories.users import auth, make_user
from tests.factories.volunteer_hours import insert_entry

pytestmark = pytest.mark.usefixtures("counts_stay_exact")


async def grant(client, world, who, person, role, org):
    return await client.post(
        f"/users/{world.user(person).id}/roles",
        json={"role": role, "org_id": world[org].id},
        headers=world.headers(who),
    )


async def test_unit_admin_is_granted_at_a_unit_only(client, world):
    for org in ("C1", "S1"):
        resp = await grant(client, world, "street_admin", "member", "unit_admin", org)
        assert resp.status_code == 422, org
        assert resp.json()["code"] == "invalid_role_level"
    resp = await grant(client, world, "street_admin", "member", "unit_admin", "U1")
    assert resp.status_code == 201
    # A place role is never held at a unit.
    resp = await grant(client, world, "district_admin", "member", "community_admin", "U1")
    assert resp.status_code == 422


async def test_a_unit_admin_grants_nothing_and_a_street_admin_no_unit_of_the_next_street(
    client, world
):
    resp = await grant(client, world, "unit_admin", "member", "info_officer", "U1")
    assert resp.status_code == 403
    # Their own resident, at a unit of the next street: outside reach.
    resp = await grant(
        client, world, "other_street_admin", "other_street_admin", "unit_admin", "U1"
    )
    assert resp.status_code == 403
    assert resp.json()["code"] == "role_outside_reach"


async def test_unit_admin_sees_members_report_ins_wherever_they_live_and_no_one_elses(
    client, world
):
    far = await make_user(
        world.app, "外住党员", community=world["C3"], unit=world["U1"], party=True
    )
    for person in (world.user("member"), far, world.user("community_admin")):
        resp = await client.post("/report-ins", json={}, headers=auth(world.app, person))
        assert resp.status_code == 201
    resp = await client.get("/report-ins", headers=world.headers("unit_admin"))
    assert resp.status_code == 200
    seen = {r["user_id"] for r in resp.json()["items"]}
    assert seen == {world.user("member").id, far.id}
    # Filtered by their unit: the same; by the community their member reported to: 404.
    resp = await client.get(
        "/report-ins", params={"org_id": world["U1"].id}, headers=world.headers("unit_admin")
    )
    assert {r["user_id"] for r in resp.json()["items"]} == seen
    resp = await client.get(
        "/report-ins", params={"org_id": world["C1"].id}, headers=world.headers("unit_admin")
    )
    assert resp.status_code == 404
    # A street admin filtering by U1 sees its members' report-ins in the street only.
    resp = await client.get(
        "/report-ins", params={"org_id": world["U1"].id}, headers=world.headers("street_admin")
    )
    assert {r["user_id"] for r in resp.json()["items"]} == {world.user("member").id}


async def test_unit_admin_sees_members_hours_but_reviews_none(client, world):
    entry = await insert_entry(world.app, user=world.user("member"), org=world["C1"])
    other = await insert_entry(world.app, user=world.user("community_admin"), org=world["C1"])
    headers = world.headers("unit_admin")
    assert (await client.get(f"/volunteer-hours/{entry.id}", headers=headers)).status_code == 200
    assert (await client.get(f"/volunteer-hours/{other.id}", headers=headers)).status_code == 404
    resp = await client.post(
        f"/volunteer-hours/{entry.id}/review", json={"approve": True}, headers=headers
    )
    assert resp.status_code == 403
    listed = await client.get("/volunteer-hours", headers=headers)
    assert {e["id"] for e in listed.json()["items"]} == {entry.id}


async def test_each_unit_admin_lists_their_own_units_members_only(client, world):
    await make_user(world.app, "区部党员", community=world["C2"], unit=world["UD"], party=True)
    names = lambda r: {u["name"] for u in r.json()["items"]}  # noqa: E731
    resp = await client.get("/users", headers=world.headers("other_unit_admin"))
    assert (names(resp), resp.json()["total"]) == ({"区部党员"}, 1)
    resp = await client.get("/users", headers=world.headers("unit_admin"))
    assert (names(resp), resp.json()["total"]) == ({world.user("member").name}, 1)
    # Their unit's members only: a community is not theirs to filter by (404, the one
    # rule of a list's org filter), their unit is.
    resp = await client.get(
        "/users", params={"community_id": world["C2"].id}, headers=world.headers("unit_admin")
    )
    assert resp.status_code == 404
    resp = await client.get(
        "/users", params={"unit_id": world["U1"].id}, headers=world.headers("unit_admin")
    )
    assert (names(resp), resp.json()["total"]) == ({world.user("member").name}, 1)


async def test_unit_figures_count_members_wherever_they_live_and_list_who_has_not_reported(
    client, world
):
    far = await make_user(
        world.app, "外住党员", community=world["C3"], unit=world["U1"], party=True
    )
    await make_user(
        world.app, "群众", community=world["C3"], unit=world["U1"]
    )  # not a party member
    resp = await client.post("/report-ins", json={}, headers=world.headers("member"))
    assert resp.status_code == 201
    headers = world.headers("unit_admin")
    resp = await client.get("/stats/report-ins", params={"org_id": world["U1"].id}, headers=headers)
    assert resp.status_code == 200
    body = resp.json()
    assert (body["members"], body["reported"], body["rate"]) == (2, 1, 0.5)
    assert [p["user_id"] for p in body["not_reported"]] == [far.id]
    assert "*" in body["not_reported"][0]["phone_masked"]
    # The unit's dashboard is theirs too; the community's is not, nor another unit's.
    resp = await client.get("/dashboard", params={"org_id": world["U1"].id}, headers=headers)
    assert resp.status_code == 200
    assert (resp.json()["party_members"], resp.json()["party_members_reported"]) == (2, 1)
    for org in ("C1", "UD"):
        resp = await client.get(
            "/stats/report-ins", params={"org_id": world[org].id}, headers=headers
        )
        assert resp.status_code == 404, org
