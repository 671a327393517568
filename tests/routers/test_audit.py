"""The audit log: every admin action with who, when, what and from where, readable by
district admins in reach, never editable through the API."""

from fastapi.routing import iter_route_contexts

from app.models.org import OrgLevel
from app.models.user import Role
from tests.factories.orgs import make_org
from tests.factories.users import auth, make_user
from tests.factories.volunteer_hours import insert_entry


async def log(client, world, who="district_admin", **params):
    resp = await client.get("/audit-log", headers=world.headers(who), params=params)
    assert resp.status_code == 200, resp.text
    return resp.json()["items"]


async def test_granting_a_role_is_logged_with_who_what_and_where(client, world):
    member = world.user("member")
    await client.post(
        f"/users/{member.id}/roles",
        json={"role": "info_officer", "org_id": world["C1"].id},
        headers=world.headers("street_admin"),
    )
    (entry,) = await log(client, world, action="role.grant")
    assert entry["actor_id"] == world.user("street_admin").id
    assert entry["actor_name"] == "街道管理员"
    assert entry["target_type"] == "user" and entry["target_id"] == member.id
    assert entry["org_id"] == world["C1"].id
    assert entry["detail"] == {"role": "info_officer"}
    assert entry["client_ip"]
    assert entry["at"]


async def test_reviews_and_key_creation_are_logged(client, world):
    entry = await insert_entry(world.app, user=world.user("member"), org=world["C1"])
    await client.post(
        f"/volunteer-hours/{entry.id}/review",
        json={"approve": False, "reason": "时间不符"},
        headers=world.headers("community_admin"),
    )
    await client.post(
        "/api-keys",
        json={"name": "大屏", "org_id": world["S1"].id, "scopes": ["read:stats"]},
        headers=world.headers("street_admin"),
    )
    actions = {e["action"]: e for e in await log(client, world)}
    assert actions["volunteer_hour.reject"]["detail"] == {"approve": False, "reason": "时间不符"}
    assert "api_key.create" in actions
    assert "key" not in actions["api_key.create"]["detail"]


async def test_a_refused_action_leaves_no_entry(client, world):
    resp = await client.post(
        f"/users/{world.user('member').id}/roles",
        json={"role": "street_admin", "org_id": world["C1"].id},
        headers=world.headers("street_admin"),
    )
    assert resp.status_code == 422
    assert await log(client, world, action="role.grant") == []


async def test_only_district_admins_read_it_and_only_their_district(client, world):
    await client.post(
        f"/users/{world.user('member').id}/roles",
        json={"role": "inspector", "org_id": world["C1"].id},
        headers=world.headers("community_admin"),
    )
    for who in ("street_admin", "community_admin", "member", "inspector"):
        resp = await client.get("/audit-log", headers=world.headers(who))
        assert resp.status_code == 403, who
    other = await make_org(world.app, "外区", OrgLevel.district)
    outsider = await make_user(world.app, "外区管理员", roles=[(Role.district_admin, other)])
    resp = await client.get("/audit-log", headers=auth(world.app, outsider))
    assert resp.json()["total"] == 0


async def test_the_log_has_no_route_that_changes_it(db):
    methods = {
        m
        for ctx in iter_route_contexts(db.routes)
        if (ctx.path or "").startswith("/api/v1/audit-log")
        for m in (ctx.methods or ())
    }
    assert methods <= {"GET", "HEAD"}


async def test_no_phone_or_personal_data_lands_in_the_log(client, world):
    await client.post(
        "/users",
        json={"name": "新人", "phone": "13866667777", "community_id": world["C1"].id},
        headers=world.headers("community_admin"),
    )
    entries = await log(client, world, action="roster.create")
    assert entries and "13866667777" not in repr(entries)


async def test_an_export_is_logged(client, world):
    resp = await client.get(
        "/exports/members.xlsx",
        params={"org_id": world["S1"].id},
        headers=world.headers("street_admin"),
    )
    assert resp.status_code == 200
    (entry,) = await log(client, world, action="export.members")
    assert entry["org_id"] == world["S1"].id
    assert entry["actor_id"] == world.user("street_admin").id
