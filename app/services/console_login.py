"""Logging in to the PC console with the mini-program, the WeChat way for a PC.

1. The login page asks for a ticket (`create_ticket`): a random scene for a
   mini-program code, valid TICKET_TTL_S, and a second secret that stays in the
   asking browser (a cookie), so that only that browser may collect the session,
   not whoever sees the code on its screen.
2. The admin scans the code; the mini-program, logged in as them, confirms the
   ticket (`confirm_ticket`, with their bearer token): the ticket now names them and
   their token version.
3. The page, polling, collects the session (`collect_session`): once, in a
   conditional UPDATE, so two polls cannot both open one.

A session acts as the person it names exactly as an access token does: the console's
credential resolves to the same Caller in app.edge.access (`caller_for_console`),
roles re-read on every request; "log out everywhere" ends it (token version). It
ends on logout and after idle time (Settings.console_idle_minutes), and at the
latest Settings.console_max_hours after login.

CSRF: the console's forms carry a synchronizer token derived from the session id
(`csrf_token`, an HMAC under the server's secret), so nothing more is stored and a
page of another site, which cannot read the HttpOnly cookie, cannot compute it. The
SameSite=Strict cookie already keeps cross-site posts unauthenticated; the token is
the second lock.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.core.config import Settings
from app.core.db import utcnow
from app.core.errors import Conflict, Forbidden, NotFound
from app.core.scope import Caller
from app.core.wechat import WeChatGateway
from app.edge.access import console_digest as digest
from app.models.console import ConsoleLoginTicket, ConsoleSession
from app.models.user import PEOPLE_ROLES, Role
from app.services import audit

logger = logging.getLogger("app.console")

TICKET_TTL_S = 120
# Tickets are kept this long after they expire (for nothing but a clear "expired").
TICKET_KEPT = timedelta(hours=1)

EXPIRED_TICKET = "二维码已过期，请刷新页面重新扫码"


def new_secret() -> str:
    # 24 random bytes: 32 URL-safe characters, the longest scene WeChat takes.
    return secrets.token_urlsafe(24)


def csrf_token(settings: Settings, session_id: str) -> str:
    return hmac.new(
        settings.jwt_secret.encode(), b"console-csrf:" + session_id.encode(), hashlib.sha256
    ).hexdigest()


def csrf_matches(settings: Settings, session_id: str, sent: str | None) -> bool:
    return bool(sent) and hmac.compare_digest(csrf_token(settings, session_id), sent or "")


@dataclass(frozen=True)
class NewTicket:
    ticket: str
    browser_secret: str
    expires_at: datetime
    code_image: bytes


async def create_ticket(session: AsyncSession, *, gateway: WeChatGateway) -> NewTicket:
    """A ticket and its mini-program code. WeChat is asked first: when it gives no
    code, nothing is written."""
    ticket, browser_secret = new_secret(), new_secret()
    image = await gateway.console_login_code(ticket)
    now = utcnow()
    await session.execute(
        delete(ConsoleLoginTicket).where(col(ConsoleLoginTicket.expires_at) < now - TICKET_KEPT)
    )
    expires_at = now + timedelta(seconds=TICKET_TTL_S)
    session.add(
        ConsoleLoginTicket(
            ticket_hash=digest(ticket),
            browser_hash=digest(browser_secret),
            created_at=now,
            expires_at=expires_at,
        )
    )
    await session.flush()
    return NewTicket(ticket, browser_secret, expires_at, image)


# Who may log in to the console: admins, units' party secretaries (their unit's
# screens) and inspectors (督导员: the problems they verify, their inspections); which
# screens each opens is app/routers/console.py's.
CONSOLE_ROLES = PEOPLE_ROLES | frozenset({Role.inspector})


async def confirm_ticket(session: AsyncSession, *, caller: Caller, ticket: str) -> None:
    """The admin's confirmation from the mini-program: the ticket now names them."""
    if caller.is_api_key or not caller.paths(CONSOLE_ROLES):
        raise Forbidden("forbidden", "只有管理员、督导员和单位党组织书记可以登录电脑端工作台")
    now = utcnow()
    confirmed = await session.execute(
        update(ConsoleLoginTicket)
        .where(
            col(ConsoleLoginTicket.ticket_hash) == digest(ticket),
            col(ConsoleLoginTicket.user_id).is_(None),
            col(ConsoleLoginTicket.expires_at) > now,
        )
        .values(user_id=caller.id, token_version=caller.user.token_version, confirmed_at=now)
        .execution_options(synchronize_session=False)
    )
    if confirmed.rowcount != 1:  # type: ignore[attr-defined]
        found = await session.get(ConsoleLoginTicket, digest(ticket))
        if found is None or found.expires_at <= now:
            raise NotFound(EXPIRED_TICKET, code="console_ticket_expired")
        raise Conflict("console_ticket_used", "该二维码已被确认过，请在电脑上刷新后重新扫码")
    admin_org = next(g.org_id for g in caller.grants if g.role in CONSOLE_ROLES)
    await audit.record(
        session,
        caller=caller,
        action="console_login.confirm",
        target_type="user",
        target_id=caller.id,
        org_id=admin_org,
    )


async def collect_session(
    session: AsyncSession, *, ticket: str, browser_secret: str | None
) -> str | None:
    """The new session's id once the ticket is confirmed (None while it waits).

    Only the browser that asked for the ticket may collect it; to any other the
    ticket is as missing. A ticket opens one session."""
    now = utcnow()
    if not browser_secret:
        raise NotFound(EXPIRED_TICKET, code="console_ticket_expired")
    mine = (
        col(ConsoleLoginTicket.ticket_hash) == digest(ticket),
        col(ConsoleLoginTicket.browser_hash) == digest(browser_secret),
    )
    taken = (
        await session.execute(
            update(ConsoleLoginTicket)
            .where(
                *mine,
                col(ConsoleLoginTicket.user_id).is_not(None),
                col(ConsoleLoginTicket.used_at).is_(None),
                col(ConsoleLoginTicket.expires_at) > now,
            )
            .values(used_at=now)
            .returning(col(ConsoleLoginTicket.user_id), col(ConsoleLoginTicket.token_version))
            .execution_options(synchronize_session=False)
        )
    ).first()
    if taken is None:
        found = (await session.execute(select(ConsoleLoginTicket).where(*mine))).scalar()
        if found is None or found.expires_at <= now or found.used_at is not None:
            raise NotFound(EXPIRED_TICKET, code="console_ticket_expired")
        return None
    user_id, version = taken
    assert user_id is not None and version is not None  # confirmed: both set
    return await open_session(session, user_id=user_id, token_version=version)


async def open_session(session: AsyncSession, *, user_id: int, token_version: int) -> str:
    """A new console session for the person (the ticket's, or a test's)."""
    raw, now = new_secret(), utcnow()
    session.add(
        ConsoleSession(
            id_hash=digest(raw),
            user_id=user_id,
            token_version=token_version,
            created_at=now,
            last_seen_at=now,
        )
    )
    await session.flush()
    return raw


async def end_session(session: AsyncSession, raw: str) -> None:
    await session.execute(
        update(ConsoleSession)
        .where(col(ConsoleSession.id_hash) == digest(raw), col(ConsoleSession.ended_at).is_(None))
        .values(ended_at=utcnow())
        .execution_options(synchronize_session=False)
    )
