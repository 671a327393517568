"""Every failure is application/problem+json with a stable code, never a stack trace."""

import httpx
import pytest

from app.core.errors import AppError


async def test_unknown_path_is_problem_json_404(client):
    resp = await client.get("/no-such-thing")
    assert resp.status_code == 404
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert set(resp.json()) >= {"type", "title", "status", "detail", "code"}
    assert resp.json()["code"] == "not_found"


async def test_wrong_method_is_405_with_a_code(client):
    resp = await client.put("/me")
    assert resp.status_code == 405
    assert resp.json()["code"] == "method_not_allowed"


async def test_a_wrong_method_answers_405_naming_every_method_the_path_allows(client):
    only_get = await client.delete("/me")
    assert only_get.status_code == 405
    assert only_get.headers["content-type"].startswith("application/problem+json")
    assert only_get.headers["Allow"] == "GET"
    # GET and POST /users are two routes; the path allows both.
    two_routes = await client.put("/users")
    assert two_routes.status_code == 405
    assert two_routes.headers["Allow"] == "GET, POST"
    one_record = await client.post("/users/1")
    assert one_record.headers["Allow"] == "GET, PATCH"


async def test_malformed_json_is_400_malformed_json(client, world):
    resp = await client.post(
        "/users",
        content=b"{not json",
        headers={**world.headers("community_admin"), "content-type": "application/json"},
    )
    assert resp.status_code == 400
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.json()["code"] == "malformed_json"


async def test_out_of_range_ids_are_422_not_a_database_overflow(client, world):
    resp = await client.get(f"/orgs/{2**63}", headers=world.headers("member"))
    assert resp.status_code == 422
    assert resp.json()["code"] == "validation_error"


async def test_a_missing_record_and_one_out_of_reach_answer_alike(client, world):
    h = world.headers("other_street_admin")
    missing = await client.get("/orgs/999999", headers=h)
    hidden = await client.get(f"/orgs/{world['C1'].id}", headers=h)
    assert missing.status_code == hidden.status_code == 404
    assert missing.json() == hidden.json()


async def test_titles_and_details_are_chinese_for_the_mini_program(client):
    body = (await client.get("/me")).json()
    assert any("\u4e00" <= ch <= "\u9fff" for ch in body["title"] + body["detail"])


async def test_an_unexpected_error_is_a_500_problem_without_internals(db):
    from fastapi import APIRouter

    from app.edge.route import AppRoute
    from app.main import create_app

    app = create_app(db.state.settings)

    router = APIRouter(route_class=AppRoute)

    @router.get("/boom-for-test")
    async def boom() -> None:
        raise RuntimeError("secret internal detail SELECT * FROM users")

    app.include_router(router)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        resp = await c.get("/boom-for-test")
    await app.state.engine.dispose()
    assert resp.status_code == 500
    assert resp.json()["code"] == "internal_error"
    assert "SELECT" not in resp.text and "Traceback" not in resp.text


def test_app_errors_carry_their_status():
    with pytest.raises(AppError) as info:
        raise AppError("x")
    assert info.value.status == 400
