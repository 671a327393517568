"""POST /users/{id}/roles and DELETE /users/{id}/roles/{role_id}."""

import asyncio

import pytest

from app.models.user import Role
from tests.factories.users import make_user

# Everything written here leaves the dashboards' kept sums exact (tests/support/counts.py).
pytestmark = pytest.mark.usefixtures("counts_stay_exact")


async def grant(client, world, who, user, role, org):
    return await client.post(
        f"/users/{user.id}/roles",
        json={"role": role, "org_id": world[org].id},
        headers=world.headers(who),
    )


async def test_street_admin_makes_a_community_secretary(client, world):
    resp = await grant(client, world, "street_admin", world.user("member"), "community_admin", "C1")
    assert resp.status_code == 201
    assert resp.json()["role"] == "community_admin"
    me = (await client.get("/me", headers=world.headers("member"))).json()
    assert [r["role"] for r in me["roles"]] == ["community_admin"]


async def test_role_must_match_the_org_level(client, world):
    resp = await grant(client, world, "district_admin", world.user("member"), "street_admin", "C1")
    assert resp.status_code == 422
    assert resp.json()["code"] == "invalid_role_level"


async def test_inspectors_and_info_officers_may_sit_at_any_level(client, world):
    for org in ("D", "S1", "C1"):
        resp = await grant(
            client, world, "district_admin", world.user("member"), "info_officer", org
        )
        assert resp.status_code == 201, org


async def test_nobody_grants_above_their_reach(client, world):
    resp = await grant(client, world, "community_admin", world.user("member"), "street_admin", "S1")
    assert resp.status_code == 403
    assert resp.json()["code"] == "role_outside_reach"
    resp = await grant(client, world, "street_admin", world.user("member"), "district_admin", "D")
    assert resp.status_code == 403


async def test_nobody_grants_outside_their_reach(client, world):
    # The member is in reach of the street admin, the next street's community is not.
    resp = await grant(client, world, "street_admin", world.user("member"), "inspector", "C3")
    assert resp.status_code == 403
    assert resp.json()["code"] == "role_outside_reach"


async def test_inspector_role_does_not_let_anyone_grant_roles(client, world):
    resp = await grant(client, world, "inspector", world.user("member"), "info_officer", "C1")
    assert resp.status_code == 403


async def test_granting_the_same_role_twice_is_409(client, world):
    await grant(client, world, "street_admin", world.user("member"), "inspector", "C1")
    again = await grant(client, world, "street_admin", world.user("member"), "inspector", "C1")
    assert again.status_code == 409
    assert again.json()["code"] == "role_exists"


async def test_a_revoked_role_stops_working_at_once(client, world):
    secretary = world.user("community_admin")
    headers = world.headers("community_admin")  # token issued before the revocation
    assert (await client.get("/users", headers=headers)).status_code == 200
    role_id = (await client.get("/me", headers=headers)).json()["roles"][0]["id"]

    resp = await client.delete(
        f"/users/{secretary.id}/roles/{role_id}", headers=world.headers("street_admin")
    )
    assert resp.status_code == 204
    assert (await client.get("/users", headers=headers)).status_code == 403
    assert (await client.get(f"/orgs/{world['C2'].id}", headers=headers)).status_code == 404


async def test_revoking_a_role_outside_reach_is_refused(client, world):
    target = await make_user(
        world.app, "双重身份", community=world["C1"], roles=[(Role.inspector, world["S2"])]
    )
    role_id = (
        await client.get(f"/users/{target.id}", headers=world.headers("street_admin"))
    ).json()["roles"][0]["id"]
    resp = await client.delete(
        f"/users/{target.id}/roles/{role_id}", headers=world.headers("street_admin")
    )
    assert resp.status_code == 403
    assert resp.json()["code"] == "role_outside_reach"


async def test_a_role_id_of_another_person_is_404(client, world):
    admin = world.user("community_admin")
    role_id = (
        await client.get(f"/users/{admin.id}", headers=world.headers("street_admin"))
    ).json()["roles"][0]["id"]
    member = world.user("member")
    resp = await client.delete(
        f"/users/{member.id}/roles/{role_id}", headers=world.headers("street_admin")
    )
    assert resp.status_code == 404


async def test_the_last_district_admin_cannot_be_revoked(client, world):
    admin = world.user("district_admin")
    h = world.headers("district_admin")
    role_id = (await client.get("/me", headers=h)).json()["roles"][0]["id"]
    resp = await client.delete(f"/users/{admin.id}/roles/{role_id}", headers=h)
    assert resp.status_code == 409
    assert resp.json()["code"] == "last_district_admin"


@pytest.mark.pooled
async def test_two_district_admins_revoking_each_other_at_once_leave_one(client, world):
    second = world.user("member")
    assert (
        await grant(client, world, "district_admin", second, "district_admin", "D")
    ).status_code == 201
    first = world.user("district_admin")
    first_role = (await client.get("/me", headers=world.headers("district_admin"))).json()["roles"][
        0
    ]["id"]
    second_role = (await client.get("/me", headers=world.headers("member"))).json()["roles"][0][
        "id"
    ]
    results = await asyncio.gather(
        client.delete(
            f"/users/{second.id}/roles/{second_role}", headers=world.headers("district_admin")
        ),
        client.delete(f"/users/{first.id}/roles/{first_role}", headers=world.headers("member")),
    )
    assert sorted(r.status_code for r in results) == [204, 409] or sorted(
        r.status_code for r in results
    ) == [204, 403]
    remaining = (await client.get("/users", headers=world.headers("district_admin"))).status_code
    remaining_other = (await client.get("/users", headers=world.headers("member"))).status_code
    assert sorted([remaining, remaining_other]) == [200, 403]
