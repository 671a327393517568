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
app.core.scope.caller_from_rows. What a Caller reaches is app.core.scope's.
"""

from __future__ import annotations

from sqlalchemy import bindparam, case, literal, null
from sqlalchemy import select as sa_select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.core.config import Settings
from app.core.errors import Forbidden, Unauthorized
from app.core.scope import (
    CALLER_QUERY,
    LEVEL_ADMIN_ROLE,
    PERSON_QUERY,
    Caller,
    caller_from_rows,
    token_params,
)
from app.core.security import INVALID_VIEW_LINK, TokenClaims, ViewGrant, read_view_token
from app.models.api_key import ApiKey
from app.models.org import Org
from app.models.user import User
from app.services import console_login
from app.services.api_keys import hash_key


async def caller_for_token(session: AsyncSession, claims: TokenClaims) -> Caller | None:
    """The person the token acts as, with their roles and home community. None when
    the token acts as nobody (any more)."""
    rows = (await session.execute(CALLER_QUERY, token_params(claims))).all()
    return caller_from_rows(rows) if rows else None


async def caller_for_person(session: AsyncSession, user: User) -> Caller:
    """A person as a request of theirs would see them, for code that acts without a
    credential (seed scripts, tests)."""
    rows = (await session.execute(PERSON_QUERY, {"person_id": user.id})).all()
    return caller_from_rows(rows)


# The rows of an API key in the shape of CALLER_QUERY's: one grant, the admin role of
# the key's org level (keys belong to districts, streets and communities only).
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
    rows = (await session.execute(_KEY_QUERY, {"key_hash": hash_key(raw)})).all()
    if not rows:
        return None
    key = rows[0][0]
    # A stand-in that exists in no table: a key never sees personal data (Caller).
    stand_in = User(id=0, name=f"API:{key.name}")
    caller = caller_from_rows(rows, user=stand_in, api_key_scopes=frozenset(key.scopes.split()))
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


async def caller_for_console(
    session: AsyncSession, settings: Settings, session_id: str | None
) -> Caller | None:
    """The person a console session acts as, or None for no live session. The
    session names a person and token version as a token does, so the token rule
    decides: "log out everywhere" ends the console too, and roles are read now."""
    live = await console_login.live_session(session, settings, session_id) if session_id else None
    if live is None:
        return None
    return await caller_for_token(session, TokenClaims(live.user_id, live.token_version))
