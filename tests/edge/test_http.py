"""Response headers set deliberately; login and upload rate limits."""

import httpx
from fastapi import APIRouter

from app.edge.route import AppRoute
from app.main import create_app


def assert_security_headers(resp: httpx.Response) -> None:
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
    assert resp.headers["Strict-Transport-Security"].startswith("max-age=")


async def test_security_headers_are_on_every_response(client, world):
    for resp in (
        await client.get("/me", headers=world.headers("member")),
        await client.get("/me"),
        await client.get("http://test/docs"),
        await client.delete("/me"),
        await client.get("/no-such-thing"),
    ):
        assert_security_headers(resp)


async def test_an_unexpected_error_answers_500_with_the_security_and_cors_headers(db):
    origin = "https://dashboard.example.gov.cn"
    app = await _app_with(db, cors_allow_origins=[origin])
    # A route of this test's app only: production has no route that fails on purpose.
    router = APIRouter(route_class=AppRoute)

    @router.get("/boom-for-test")
    async def boom() -> None:
        raise RuntimeError("an unexpected failure")

    app.include_router(router)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        resp = await c.get("/boom-for-test", headers={"Origin": origin})
    await app.state.engine.dispose()
    assert resp.status_code == 500
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.json()["code"] == "internal_error"
    assert_security_headers(resp)
    # The dashboard in a browser can read the error instead of seeing a CORS failure.
    assert resp.headers["access-control-allow-origin"] == origin


async def _app_with(db, **overrides):
    return create_app(db.state.settings.model_copy(update=overrides))


async def test_cors_answers_only_the_configured_origins(db):
    app = await _app_with(db, cors_allow_origins=["https://dashboard.example.gov.cn"])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        preflight = {
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        }
        ok = await c.options(
            "/api/v1/me", headers={"Origin": "https://dashboard.example.gov.cn", **preflight}
        )
        assert ok.headers["access-control-allow-origin"] == "https://dashboard.example.gov.cn"
        other = await c.options(
            "/api/v1/me", headers={"Origin": "https://evil.example", **preflight}
        )
        assert "access-control-allow-origin" not in other.headers
    await app.state.engine.dispose()


async def test_no_cors_headers_without_configured_origins(client):
    resp = await client.get("/me", headers={"Origin": "https://anywhere.example"})
    assert "access-control-allow-origin" not in resp.headers


async def test_logins_from_one_address_are_rate_limited(db):
    app = await _app_with(db, login_rate_per_minute=3)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        codes = [
            (await c.post("/api/v1/auth/wechat-login", json={"code": f"o-rl#{i}"})).status_code
            for i in range(4)
        ]
        assert codes == [200, 200, 200, 429]
        resp = await c.post("/api/v1/auth/wechat-login", json={"code": "o-rl#9"})
        assert resp.json()["code"] == "rate_limited"
        assert int(resp.headers["Retry-After"]) >= 1
    await app.state.engine.dispose()


async def test_uploads_per_person_are_rate_limited(db, world):
    app = await _app_with(db, upload_rate_per_minute=2)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        h = world.headers("member")
        codes = [
            (
                await c.post("/api/v1/media", files={"file": ("x.jpg", b"not an image")}, headers=h)
            ).status_code
            for _ in range(3)
        ]
        # The first two are refused for their content, the third before it is looked at.
        assert codes == [415, 415, 429]
        other = await c.post(
            "/api/v1/media", files={"file": ("x.jpg", b"x")}, headers=world.headers("street_admin")
        )
        assert other.status_code == 415
    await app.state.engine.dispose()
