"""API keys: issued by district and street admins, scoped to a subtree and scopes,
shown once, revocable at once, rate limited."""

from sqlalchemy import text

from app.models.wish import WishStatus
from tests.factories.tasks import make_task
from tests.factories.wishes import insert_wish


async def issue(client, world, who="street_admin", org="C1", scopes=("read:tasks",), **extra):
    body = {"name": "12345 热线", "org_id": world[org].id, "scopes": list(scopes), **extra}
    return await client.post("/api-keys", json=body, headers=world.headers(who))


def key_headers(created):
    return {"X-API-Key": created["key"]}


async def test_street_admin_issues_a_key_shown_once(client, world):
    resp = await issue(client, world, org="S1", scopes=["read:tasks", "read:wishes"])
    assert resp.status_code == 201
    created = resp.json()
    assert created["key"].startswith("cw_")
    assert created["prefix"] == created["key"][:10]
    assert created["scopes"] == ["read:tasks", "read:wishes"]
    listed = (await client.get("/api-keys", headers=world.headers("street_admin"))).json()
    assert listed["total"] == 1
    assert "key" not in listed["items"][0]
    assert listed["items"][0]["prefix"] == created["prefix"]


async def test_the_secret_is_not_stored_in_the_clear(client, world):
    headers = {**world.headers("street_admin"), "Idempotency-Key": "key-once"}
    body = {"name": "大屏", "org_id": world["S1"].id, "scopes": ["read:stats"]}
    created = (await client.post("/api-keys", json=body, headers=headers)).json()
    async with world.app.state.engine.connect() as conn:
        for table in ("api_keys", "idempotency_records"):
            dump = repr((await conn.execute(text(f"SELECT * FROM {table}"))).all())
            assert created["key"] not in dump, table
    replay = await client.post("/api-keys", json=body, headers=headers)
    assert replay.json()["id"] == created["id"]
    assert replay.json()["key"] != created["key"]


async def test_only_district_and_street_admins_issue_keys(client, world):
    assert (await issue(client, world, who="community_admin")).status_code == 403
    assert (await issue(client, world, who="member")).status_code == 403
    assert (await issue(client, world, who="inspector")).status_code == 403


async def test_a_key_for_an_org_outside_reach_is_404(client, world):
    resp = await issue(client, world, who="other_street_admin", org="C1")
    assert resp.status_code == 404


async def test_unknown_scopes_and_unit_orgs_are_refused(client, world):
    assert (await issue(client, world, scopes=["write:everything"])).status_code == 422
    unit = await issue(client, world, org="U1")
    assert unit.status_code == 422
    assert unit.json()["code"] == "invalid_key_org"


async def test_a_key_reads_its_subtree_and_nothing_else(client, world):
    inside = await make_task(world.app, world["C1"], title="东关任务")
    neighbour = await make_task(world.app, world["C2"], title="仓门任务")
    other_street = await make_task(world.app, world["C3"], title="西湖任务")
    created = (await issue(client, world, org="C1")).json()
    listed = await client.get("/tasks", headers=key_headers(created))
    assert listed.status_code == 200
    assert {t["id"] for t in listed.json()["items"]} == {inside.id}
    assert (
        await client.get(f"/tasks/{inside.id}", headers=key_headers(created))
    ).status_code == 200
    for hidden in (neighbour, other_street):
        resp = await client.get(f"/tasks/{hidden.id}", headers=key_headers(created))
        assert resp.status_code == 404


async def test_a_key_without_the_scope_is_403(client, world):
    created = (await issue(client, world, scopes=["read:tasks"])).json()
    resp = await client.get("/wishes", headers=key_headers(created))
    assert resp.status_code == 403
    assert resp.json()["code"] == "insufficient_scope"


async def test_a_key_cannot_call_person_routes_or_write(client, world):
    created = (await issue(client, world, scopes=["read:tasks", "read:wishes"])).json()
    h = key_headers(created)
    assert (await client.get("/me", headers=h)).status_code == 401
    assert (await client.get("/users", headers=h)).status_code == 401
    task = {
        "title": "x",
        "description": "",
        "org_id": world["C1"].id,
        "category": "other",
        "starts_at": "2030-01-01T08:00:00+08:00",
        "ends_at": "2030-01-01T10:00:00+08:00",
    }
    assert (await client.post("/tasks", json=task, headers=h)).status_code == 401
    assert (await client.post("/api-keys", json={}, headers=h)).status_code in (401, 422)
    assert (await client.get("/api-keys", headers=h)).status_code == 401


async def test_a_key_sees_wishes_with_the_beneficiary_masked(client, world):
    await insert_wish(
        world.app,
        community=world["C1"],
        poster=world.user("community_admin"),
        status=WishStatus.open,
        beneficiary_name="王小明",
    )
    created = (await issue(client, world, scopes=["read:wishes"])).json()
    (item,) = (await client.get("/wishes", headers=key_headers(created))).json()["items"]
    assert item["beneficiary_name"] == "王**"
    assert item["beneficiary_details_visible"] is False


async def test_a_revoked_key_stops_at_once(client, world):
    created = (await issue(client, world)).json()
    assert (await client.get("/tasks", headers=key_headers(created))).status_code == 200
    revoke = await client.delete(
        f"/api-keys/{created['id']}", headers=world.headers("street_admin")
    )
    assert revoke.status_code == 204
    resp = await client.get("/tasks", headers=key_headers(created))
    assert resp.status_code == 401
    assert resp.json()["code"] == "not_authenticated"
    listed = (await client.get("/api-keys", headers=world.headers("street_admin"))).json()
    assert listed["items"][0]["revoked_at"] is not None


async def test_an_unknown_key_is_401(client):
    resp = await client.get("/tasks", headers={"X-API-Key": "cw_not-a-real-key"})
    assert resp.status_code == 401


async def test_a_key_over_its_rate_limit_gets_429_with_retry_after(client, world):
    created = (await issue(client, world, rate_limit_per_minute=3)).json()
    statuses = [
        (await client.get("/tasks", headers=key_headers(created))).status_code for _ in range(4)
    ]
    assert statuses == [200, 200, 200, 429]
    resp = await client.get("/tasks", headers=key_headers(created))
    assert resp.json()["code"] == "rate_limited"
    assert 1 <= int(resp.headers["Retry-After"]) <= 60


async def test_a_neighbour_cannot_revoke_someone_elses_key(client, world):
    created = (await issue(client, world)).json()
    resp = await client.delete(
        f"/api-keys/{created['id']}", headers=world.headers("other_street_admin")
    )
    assert resp.status_code == 404
