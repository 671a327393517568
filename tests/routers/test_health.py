"""/healthz and /readyz at the root."""

import httpx

from app.main import create_app
from tests.conftest import make_settings


async def test_healthz_answers_while_the_process_is_up(client):
    resp = await client.get("http://test/healthz")
    assert resp.json() == {"status": "ok"}


async def test_readyz_checks_the_database_and_the_storage(client):
    resp = await client.get("http://test/readyz")
    assert resp.status_code == 200
    assert resp.json()["checks"] == {"database": "ok", "storage": "ok"}


async def test_readyz_is_503_when_the_database_does_not_answer(tmp_path):
    settings = make_settings(
        "postgresql://nobody@127.0.0.1:1/none", tmp_path, "http://127.0.0.1:9/"
    )
    app = create_app(settings)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as c:
        resp = await c.get("/readyz")
    await app.state.engine.dispose()
    assert resp.status_code == 503
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.json()["checks"]["database"] == "unavailable"
    assert resp.json()["checks"]["storage"] == "ok"


async def test_a_request_during_a_database_outage_is_503_problem_json(tmp_path):
    settings = make_settings(
        "postgresql://nobody@127.0.0.1:1/none", tmp_path, "http://127.0.0.1:9/"
    )
    app = create_app(settings)
    from app.core.security import issue_access_token

    token = issue_access_token(settings, 1, 0).access_token
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as c:
        resp = await c.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    await app.state.engine.dispose()
    assert resp.status_code == 503
    assert resp.json()["code"] == "service_unavailable"
