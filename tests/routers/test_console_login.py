"""Logging in to the PC console with the mini-program: POST /auth/console-login,
POST /auth/console-login/{ticket}/confirm, GET /auth/console-login/{ticket}, and the
console session as a credential (app.edge.access.caller_for_console)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import delete, update

from app.core.db import utcnow
from app.models.audit import AuditEntry
from app.models.console import ConsoleLoginTicket, ConsoleSession
from app.models.user import RoleGrant
from app.routers.console import LOGIN_COOKIE, SESSION_COOKIE
from app.services.console_login import digest
from tests.factories.console import console_headers
from tests.factories.world import World

HTML = {"Accept": "text/html"}


@pytest.fixture
async def browser(db) -> AsyncIterator[httpx.AsyncClient]:
    """A browser's cookie jar over HTTPS (the console's cookies are Secure)."""
    transport = httpx.ASGITransport(app=db)
    async with httpx.AsyncClient(transport=transport, base_url="https://test") as c:
        yield c


async def new_ticket(browser: httpx.AsyncClient) -> dict:
    resp = await browser.post("/api/v1/auth/console-login")
    assert resp.status_code == 200, resp.text
    return resp.json()


async def confirm(
    browser: httpx.AsyncClient, world: World, who: str, ticket: str
) -> httpx.Response:
    return await browser.post(
        f"/api/v1/auth/console-login/{ticket}/confirm", headers=world.headers(who)
    )


async def test_a_secretary_scans_confirms_and_the_page_gets_a_strict_session_cookie(
    browser, world, stub
):
    body = await new_ticket(browser)
    assert body["expires_in"] == 120 and body["code_image"].startswith("data:image/png;base64,")
    # The code's scene is the ticket, through the WeChat gateway.
    (call,) = [c for p, c in stub.calls if p == "wxa/getwxacodeunlimit"]
    assert call["scene"] == body["ticket"] and len(body["ticket"]) <= 32
    poll = f"/api/v1/auth/console-login/{body['ticket']}"
    assert (await browser.get(poll)).json() == {"status": "pending"}

    assert (await confirm(browser, world, "community_admin", body["ticket"])).status_code == 204
    resp = await browser.get(poll)
    assert resp.json() == {"status": "confirmed"}
    cookie = next(h for h in resp.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE))
    for attribute in ("HttpOnly", "Secure", "SameSite=strict", "Path=/"):
        assert attribute.lower() in cookie.lower()
    home = await browser.get("/console/", headers=HTML)
    assert home.status_code == 200 and "社区书记" in home.text
    assert "script-src 'self'" in home.headers["content-security-policy"]
    # Once used, the ticket opens nothing more.
    assert (await browser.get(poll)).status_code == 404
    async with world.app.state.sessionmaker() as s:
        stored = (await s.execute(ConsoleSession.__table__.select())).all()
    assert len(stored) == 1 and stored[0].id_hash != browser.cookies[SESSION_COOKIE]


async def test_only_the_browser_that_showed_the_code_collects_the_session(browser, world, db):
    body = await new_ticket(browser)
    await confirm(browser, world, "community_admin", body["ticket"])
    transport = httpx.ASGITransport(app=db)
    async with httpx.AsyncClient(transport=transport, base_url="https://test") as onlooker:
        resp = await onlooker.get(f"/api/v1/auth/console-login/{body['ticket']}")
        assert resp.status_code == 404 and resp.json()["code"] == "console_ticket_expired"
    assert (await browser.get(f"/api/v1/auth/console-login/{body['ticket']}")).json()[
        "status"
    ] == "confirmed"


async def test_an_expired_ticket_can_be_neither_confirmed_nor_collected(browser, world):
    body = await new_ticket(browser)
    async with world.app.state.sessionmaker() as s, s.begin():
        await s.execute(
            update(ConsoleLoginTicket).values(expires_at=utcnow() - timedelta(seconds=1))
        )
    resp = await confirm(browser, world, "community_admin", body["ticket"])
    assert resp.status_code == 404 and resp.json()["code"] == "console_ticket_expired"
    resp = await browser.get(f"/api/v1/auth/console-login/{body['ticket']}")
    assert resp.status_code == 404 and resp.json()["code"] == "console_ticket_expired"


async def test_a_ticket_is_confirmed_once_and_only_by_an_admin(browser, world):
    body = await new_ticket(browser)
    resp = await confirm(browser, world, "member", body["ticket"])
    assert resp.status_code == 403
    assert (await confirm(browser, world, "community_admin", body["ticket"])).status_code == 204
    resp = await confirm(browser, world, "street_admin", body["ticket"])
    assert resp.status_code == 409 and resp.json()["code"] == "console_ticket_used"
    async with world.app.state.sessionmaker() as s:
        actions = [
            a
            for (a,) in (
                await s.execute(
                    AuditEntry.__table__.select().with_only_columns(AuditEntry.__table__.c.action)
                )
            ).all()
        ]
    assert actions == ["console_login.confirm"]


async def test_wechat_refusing_the_code_is_503_and_writes_no_ticket(browser, world, stub):
    stub.forced_errors["wxa/getwxacodeunlimit"] = [-1]
    resp = await browser.post("/api/v1/auth/console-login")
    assert resp.status_code == 503 and resp.json()["code"] == "wechat_unavailable"
    async with world.app.state.sessionmaker() as s:
        assert (await s.execute(ConsoleLoginTicket.__table__.select())).all() == []


async def test_a_revoked_role_locks_the_console_at_the_next_click(client, world):
    headers = await console_headers(world.app, world.user("community_admin"))
    assert (await client.get("http://test/console/", headers=headers)).status_code == 200
    async with world.app.state.sessionmaker() as s, s.begin():
        await s.execute(
            delete(RoleGrant).where(RoleGrant.user_id == world.user("community_admin").id)
        )
    resp = await client.get("http://test/console/", headers=headers)
    assert resp.status_code == 403
    # A browser is shown a page saying so.
    resp = await client.get("http://test/console/", headers={**headers, **HTML})
    assert resp.status_code == 403 and "只有管理员" in resp.text


async def test_logout_everywhere_ends_console_sessions_too(client, world):
    headers = await console_headers(world.app, world.user("community_admin"))
    resp = await client.post("/auth/logout-all", headers=world.headers("community_admin"))
    assert resp.status_code == 204
    assert (await client.get("http://test/console/", headers=headers)).status_code == 401


async def test_logout_ends_the_session_and_idle_time_ends_it_too(client, world):
    headers = await console_headers(world.app, world.user("community_admin"))
    resp = await client.post("http://test/console/logout", headers=headers)
    assert resp.status_code == 303
    assert (await client.get("http://test/console/", headers=headers)).status_code == 401

    headers = await console_headers(world.app, world.user("community_admin"))
    idle = world.app.state.settings.console_idle_minutes
    async with world.app.state.sessionmaker() as s, s.begin():
        await s.execute(
            update(ConsoleSession)
            .where(ConsoleSession.ended_at.is_(None))
            .values(last_seen_at=utcnow() - timedelta(minutes=idle, seconds=1))
        )
    assert (await client.get("http://test/console/", headers=headers)).status_code == 401


async def test_a_browser_without_a_session_is_sent_to_the_login_page(client, world):
    resp = await client.get("http://test/console/", headers=HTML)
    assert resp.status_code == 303 and resp.headers["location"].endswith("/console/login")
    page = await client.get("http://test/console/login", headers=HTML)
    assert page.status_code == 200 and "data-ticket=" in page.text
    assert LOGIN_COOKIE in page.headers["set-cookie"]


async def test_a_form_without_the_csrf_token_is_refused(client, world):
    headers = await console_headers(world.app, world.user("community_admin"), csrf=False)
    resp = await client.post("http://test/console/logout", headers=headers)
    assert resp.status_code == 403 and resp.json()["code"] == "csrf_failed"
    resp = await client.post("http://test/console/logout", headers=headers, data={"csrf": "0" * 64})
    assert resp.status_code == 403
    # The session lives on.
    assert (await client.get("http://test/console/", headers=headers)).status_code == 200


async def test_the_session_id_is_stored_only_as_its_hash(client, world):
    headers = await console_headers(world.app, world.user("community_admin"))
    raw = headers["Cookie"].split("=", 1)[1]
    async with world.app.state.sessionmaker() as s:
        assert await s.get(ConsoleSession, digest(raw)) is not None
        assert await s.get(ConsoleSession, raw) is None


async def test_each_click_restarts_the_idle_clock(client, world):
    headers = await console_headers(world.app, world.user("community_admin"))
    earlier = utcnow() - timedelta(minutes=20)
    async with world.app.state.sessionmaker() as s, s.begin():
        await s.execute(update(ConsoleSession).values(last_seen_at=earlier))
    assert (await client.get("http://test/console/", headers=headers)).status_code == 200
    async with world.app.state.sessionmaker() as s:
        (seen,) = (await s.execute(ConsoleSession.__table__.select())).all()
    assert seen.last_seen_at > earlier + timedelta(minutes=19)
