"""Who is calling: every credential a request may carry resolves here to one Caller.

- a bearer token (the mini-program's login): `caller_for_token`. Which person a token
  acts as is the token rule, app.core.scope.acts_as; on creating POSTs the
  idempotency step reads the same rows with its own lookup (app.edge.idempotency) and
  hands the Caller to app.routers.deps.get_caller.
- an API key (`X-API-Key`, third-party systems): `caller_for_key`, an admin of the
  key's org with the key's scopes.
- a dashboard link (`?token=` of GET /dashboard/view): `caller_for_view_link`, the
  admin who made it, with the roles they hold now.
- a console session (the HttpOnly cookie of the PC console, /console/):
  `caller_for_console`, the person who confirmed its login in the mini-program, with
  the roles they hold now; it names them and a token version as an access token does.
- a person by id, with no credential (seed scripts, tests): `caller_for_person`.

Each reads its rows in one round trip and builds the Caller with the one builder,
`caller_from_rows`. What a Caller reaches is app.core.scope's.

The person's rows are read by `CALLER_QUERY`, a statement compiled once
(app.core.db.Statement): it runs on every request that names a person. A route whose
path names one record (`reads_with_caller`: the check-in's task, a task's page) has
that record and its org's path read in the same round trip (`caller_query`), kept
for the route's loader (app.core.db.read_ahead), which still decides whether the
caller may see it.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from datetime import timedelta
from functools import cache
from typing import Any, TypeVar

from fastapi import Request
from sqlalchemy import Integer, Select, bindparam, case, literal, null, update
from sqlalchemy import select as sa_select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel, col

from app.core.config import Settings
from app.core.db import Statement, as_loaded, keep_read_ahead, table_of, utcnow
from app.core.errors import Forbidden, Unauthorized
from app.core.scope import LEVEL_ADMIN_ROLE, Caller, Grant, acts_as, token_params
from app.core.security import (
    INVALID_VIEW_LINK,
    TokenClaims,
    ViewGrant,
    api_key_hash,
    read_view_token,
)
from app.models.api_key import ApiKey
from app.models.console import ConsoleSession
from app.models.org import Org, OrgLevel
from app.models.user import MAX_ID, Role, RoleGrant, User

E = TypeVar("E", bound=Callable[..., Any])
_READS_WITH_CALLER = "__reads_with_caller__"

_USERS = table_of(User)
_GRANTS = table_of(RoleGrant)
_ORGS = table_of(Org)
_HOME = _ORGS.alias("home")
# The person's columns come first in every row, in the table's order.
_PERSON_KEYS = tuple(c.key for c in _USERS.c)

# A person with their roles and home community: one row per role (or one of NULLs).
CALLER_ROWS: Select[Any] = (
    sa_select(
        *_USERS.c,
        _GRANTS.c.id.label("grant_id"),
        _GRANTS.c.role,
        _GRANTS.c.org_id,
        _ORGS.c.path.label("org_path"),
        _ORGS.c.level,
        _HOME.c.path.label("home_path"),
    )
    .select_from(_USERS)
    .outerjoin(_GRANTS, _GRANTS.c.user_id == _USERS.c.id)
    .outerjoin(_ORGS, _ORGS.c.id == _GRANTS.c.org_id)
    .outerjoin(_HOME, _HOME.c.id == _USERS.c.community_id)
    .order_by(_GRANTS.c.id)
)
# The person a token acts as, by the token rule (bind `token_params`).
# app.edge.idempotency adds the Idempotency-Key lookup to it on creating POSTs.
CALLER_QUERY = CALLER_ROWS.where(acts_as(_USERS.c.id))
# A person by id (bind `person_id`), for code acting without a credential.
_PERSON = Statement(CALLER_ROWS.where(_USERS.c.id == bindparam("person_id", type_=Integer)))


# --- a record read along with the caller ---------------------------------------------
# (model, id): the record of `model` that the request's path names.
Along = tuple[type[SQLModel], int]


def reads_with_caller(model: type[SQLModel], id_param: str) -> Callable[[E], E]:
    """Marks an endpoint whose path parameter `id_param` names a record of `model`
    (a table with an `org_id`), read in the caller's round trip. Place it below the
    route decorator. Saves the loader a round trip; whether the caller may see the
    record is still the loader's to decide."""

    def mark(endpoint: E) -> E:
        setattr(endpoint, _READS_WITH_CALLER, (model, id_param))
        return endpoint

    return mark


def record_named(request: Request) -> Along | None:
    """The record the request's path names, if its route reads it with the caller
    and the id is one FastAPI will accept (else FastAPI answers 422 as ever)."""
    marked = getattr(request.scope.get("endpoint"), _READS_WITH_CALLER, None)
    if marked is None:
        return None
    model, id_param = marked
    raw = request.path_params.get(id_param)
    if not isinstance(raw, str) or not (raw.isascii() and raw.isdigit()):
        return None
    record_id = int(raw)
    return (model, record_id) if 1 <= record_id <= MAX_ID else None


@cache
def caller_query(model: type[SQLModel] | None) -> Select[Any]:
    """CALLER_QUERY, with the record of `model` whose id is bound as `record_id` (its
    columns labelled `record_<key>`, NULLs when there is none) and its org's path
    (`record_org_path`) on every row."""
    if model is None:
        return CALLER_QUERY
    table = table_of(model)
    record_org = _ORGS.alias("record_org")
    return (
        CALLER_QUERY.outerjoin(table, table.c.id == bindparam("record_id", type_=Integer))
        .outerjoin(record_org, record_org.c.id == table.c.org_id)
        .add_columns(
            *(c.label(f"record_{c.key}") for c in table.c),
            record_org.c.path.label("record_org_path"),
        )
    )


def along_params(along: Along | None) -> dict[str, int]:
    return {"record_id": along[1]} if along is not None else {}


@cache
def _record_labels(model: type[SQLModel]) -> tuple[tuple[str, str], ...]:
    """The record's columns and their labels in `caller_query`'s rows."""
    return tuple((c.key, f"record_{c.key}") for c in table_of(model).c)


def keep_along(session: AsyncSession, along: Along | None, first: Any) -> None:
    """The record read with the caller (first of `caller_query`'s rows), kept for the
    route's loader; nothing kept when there is no such record."""
    if along is None or first.record_id is None:
        return
    model, record_id = along
    values = {key: getattr(first, label) for key, label in _record_labels(model)}
    keep_read_ahead(session, model, record_id, values, org_path=first.record_org_path)


@cache
def _caller_statement(model: type[SQLModel] | None) -> Statement:
    return Statement(caller_query(model))


def caller_from_rows(
    session: AsyncSession,
    rows: Sequence[Any],
    *,
    user: User | None = None,
    api_key_scopes: frozenset[str] | None = None,
) -> Caller:
    """The one way a Caller is built, whatever the credential: from rows shaped as
    `CALLER_ROWS`' (at least one), whose first columns are the person's (taken into
    the session as if loaded there) unless `user` stands in for them."""
    first = rows[0]
    if user is None:
        values = dict(zip(_PERSON_KEYS, tuple(first)[: len(_PERSON_KEYS)], strict=True))
        user = as_loaded(session, User, values)
    grants = [
        Grant(
            id=r.grant_id,
            role=Role(r.role),
            org_id=r.org_id,
            org_path=r.org_path,
            org_level=OrgLevel(r.level),
        )
        for r in rows
        if r.grant_id is not None
    ]
    home_path = first.home_path
    return Caller(
        user=user,
        grants=grants,
        api_key_scopes=api_key_scopes,
        home=(user.community_id, home_path) if user.community_id and home_path else None,
    )


async def caller_for_token(
    session: AsyncSession, claims: TokenClaims, along: Along | None = None
) -> Caller | None:
    """The person the token acts as, with their roles and home community (and the
    record `along` names, kept for its loader). None when the token acts as nobody
    (any more)."""
    params = {**token_params(claims), **along_params(along)}
    rows = await _caller_statement(along[0] if along else None).rows(session, params)
    if not rows:
        return None
    keep_along(session, along, rows[0])
    return caller_from_rows(session, rows)


async def caller_for_person(session: AsyncSession, user: User) -> Caller:
    """A person as a request of theirs would see them, for code that acts without a
    credential (seed scripts, tests)."""
    return caller_from_rows(session, await _PERSON.rows(session, {"person_id": user.id}))


# The rows of an API key shaped as CALLER_ROWS' after its own columns: one grant, the
# admin role of the key's org level (keys belong to districts, streets and communities only).
_KEY_QUERY = (
    sa_select(
        ApiKey,
        literal(0).label("grant_id"),
        case(
            {level.value: role.value for level, role in LEVEL_ADMIN_ROLE.items()},
            value=col(Org.level),
        ).label("role"),
        col(Org.id).label("org_id"),
        col(Org.path).label("org_path"),
        col(Org.level),
        null().label("home_path"),
    )
    .join(Org, col(Org.id) == col(ApiKey.org_id))
    .where(col(ApiKey.key_hash) == bindparam("key_hash"), col(ApiKey.revoked_at).is_(None))
)


async def caller_for_key(session: AsyncSession, raw: str) -> tuple[Caller, ApiKey] | None:
    """The Caller an API key acts as and the key (for its rate limit), or None for an
    unknown or revoked key. Every call looks the key up, so a revoke bites at once."""
    rows = (await session.execute(_KEY_QUERY, {"key_hash": api_key_hash(raw)})).all()
    if not rows:
        return None
    key = rows[0][0]
    # A stand-in that exists in no table: a key never sees personal data (Caller).
    stand_in = User(id=0, name=f"API:{key.name}")
    caller = caller_from_rows(
        session, rows, user=stand_in, api_key_scopes=frozenset(key.scopes.split())
    )
    return caller, key


async def caller_for_view_link(
    session: AsyncSession, settings: Settings, token: str | None
) -> tuple[Caller, ViewGrant]:
    """The admin a dashboard link acts as, with the roles they hold now, and what the
    link grants: a revoked role or "log out everywhere" closes the page at once."""
    grant = read_view_token(settings, token)
    caller = await caller_for_token(session, grant.admin)
    if caller is None:
        raise Unauthorized("not_authenticated", INVALID_VIEW_LINK, title="链接无效")
    if not caller.is_admin:
        raise Forbidden("forbidden", "只有管理员可以查看工作台")
    return caller, grant


# The console session's touch, skipped when SQLite is busy (live_console_session).
logger = logging.getLogger("app.console")
# last_seen_at is written at most this often, so a page load is not a write.
CONSOLE_TOUCH_S = 60


def console_digest(raw: str) -> str:
    """How a console secret (session id, ticket, browser secret) is stored: its hash."""
    return hashlib.sha256(raw.encode()).hexdigest()


async def live_console_session(
    session: AsyncSession, settings: Settings, raw: str
) -> ConsoleSession | None:
    """The session of the cookie, if it has not ended, idled out or grown too old;
    its idle clock restarts (written at most once a minute)."""
    found = await session.get(ConsoleSession, console_digest(raw))
    now = utcnow()
    if (
        found is None
        or found.ended_at is not None
        or found.last_seen_at + timedelta(minutes=settings.console_idle_minutes) <= now
        or found.created_at + timedelta(hours=settings.console_max_hours) <= now
    ):
        return None
    if (now - found.last_seen_at).total_seconds() >= CONSOLE_TOUCH_S:
        # Page loads are GETs, whose SQLite transactions do not start as writers: a
        # busy database may refuse this write, and the page is served all the same
        # (the clock restarts at the next click).
        try:
            async with session.begin_nested():
                await session.execute(
                    update(ConsoleSession)
                    .where(col(ConsoleSession.id_hash) == found.id_hash)
                    .values(last_seen_at=now)
                    .execution_options(synchronize_session=False)
                )
        except OperationalError:
            logger.info("console session touch skipped: database busy")
    return found


async def caller_for_console(
    session: AsyncSession, settings: Settings, session_id: str | None
) -> Caller | None:
    """The person a console session acts as, or None for no live session. The
    session names a person and token version as a token does, so the token rule
    decides: "log out everywhere" ends the console too, and roles are read now."""
    live = await live_console_session(session, settings, session_id) if session_id else None
    if live is None:
        return None
    return await caller_for_token(session, TokenClaims(live.user_id, live.token_version))
