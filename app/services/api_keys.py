"""API keys for third-party systems (the 12345 hotline, the city's big screen).

A key belongs to an org and reads that org's subtree within its scopes. The secret
is shown once; only its SHA-256 is stored. Revocation takes effect on the next
call, since every call looks the key up.

Keys belong to the org, not to the admin who issued them: an integration an office
set up keeps running when the admin moves on. The issuer is recorded, and once they
no longer hold a role that lets them issue keys over the key's org
(`issuer_active` false), the key is listed first for the office to review: keep it,
or revoke it and issue another. The role revoke's audit entry says how many keys
now await review (app/services/users.revoke_role).
"""

from __future__ import annotations

import secrets

from sqlalchemy import ColumnElement, case, exists, func, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col, select

from app.core.db import paged, utcnow
from app.core.errors import Forbidden, NotFound, Unprocessable
from app.core.scope import LEVEL_ADMIN_ROLE, Caller, in_reach
from app.core.security import api_key_hash
from app.models.api_key import ApiKey, ApiKeyCreate, ApiKeyCreated, ApiKeyPublic, ApiScope
from app.models.org import Org
from app.models.user import Role, RoleGrant
from app.services import audit
from app.services.orgs import get_visible_org

KEY_PREFIX = "cw_"
# Keys are an office-level matter: district and street admins issue them.
ISSUERS = (Role.district_admin, Role.street_admin)


# Only this is stored of a key; app.edge.access finds a key by it.
hash_key = api_key_hash


def _issuer_paths(caller: Caller) -> list[str]:
    paths = caller.paths(ISSUERS)
    if not paths or caller.is_api_key:
        raise Forbidden("forbidden", "只有区、街道管理员可以管理 API 密钥")
    return paths


def to_public(key: ApiKey, *, issuer_active: bool) -> ApiKeyPublic:
    assert key.id is not None
    return ApiKeyPublic(
        id=key.id,
        name=key.name,
        org_id=key.org_id,
        scopes=[ApiScope(s) for s in key.scopes.split()],
        prefix=key.prefix,
        rate_limit_per_minute=key.rate_limit_per_minute,
        created_at=key.created_at,
        revoked_at=key.revoked_at,
        created_by_id=key.created_by_id,
        issuer_active=issuer_active,
    )


_ISSUER_ORG = aliased(Org)
_KEY_ORG = aliased(Org)
# The issuer still holds a role that lets them issue keys over the key's org: an
# issuing role at that org or above it.
ISSUER_ACTIVE: ColumnElement[bool] = exists().where(
    col(RoleGrant.user_id) == col(ApiKey.created_by_id),
    col(RoleGrant.role).in_(ISSUERS),
    col(_ISSUER_ORG.id) == col(RoleGrant.org_id),
    col(_KEY_ORG.id) == col(ApiKey.org_id),
    col(_KEY_ORG.path).startswith(col(_ISSUER_ORG.path)),
)
# A live key whose issuer has gone: what an office should look at first.
AWAITS_REVIEW: ColumnElement[bool] = col(ApiKey.revoked_at).is_(None) & ~ISSUER_ACTIVE


async def keys_awaiting_review(session: AsyncSession, issuer_id: int) -> int:
    """How many live keys `issuer_id` made that no role of theirs covers any more."""
    count = await session.execute(
        select(func.count())
        .select_from(ApiKey)
        .where(col(ApiKey.created_by_id) == issuer_id, AWAITS_REVIEW)
    )
    return int(count.scalar_one())


async def create_key(session: AsyncSession, *, caller: Caller, data: ApiKeyCreate) -> ApiKeyCreated:
    paths = _issuer_paths(caller)
    org = await get_visible_org(session, caller, data.org_id)
    if not any(org.path.startswith(p) for p in paths):
        raise Forbidden("forbidden", "只能为自己管理范围内的组织创建密钥")
    if org.level not in LEVEL_ADMIN_ROLE:
        raise Unprocessable("invalid_key_org", "密钥只能属于区、街道或社区")
    raw = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        name=data.name.strip(),
        org_id=data.org_id,
        scopes=" ".join(sorted({s.value for s in data.scopes})),
        prefix=raw[:10],
        key_hash=hash_key(raw),
        rate_limit_per_minute=data.rate_limit_per_minute,
        created_by_id=caller.id,
    )
    session.add(key)
    await session.flush()
    await audit.record(
        session,
        caller=caller,
        action="api_key.create",
        target_type="api_key",
        target_id=key.id,
        org_id=key.org_id,
        name=key.name,
        scopes=key.scopes,
    )
    return ApiKeyCreated(**to_public(key, issuer_active=True).model_dump(), key=raw)


def _keys_in_reach(caller: Caller) -> ColumnElement[bool]:
    return in_reach(col(ApiKey.org_id), _issuer_paths(caller))


async def list_keys(
    session: AsyncSession,
    *,
    caller: Caller,
    issuer_revoked: bool | None,
    offset: int,
    limit: int,
) -> tuple[list[ApiKeyPublic], int]:
    """Keys in reach, those awaiting review first; `issuer_revoked` keeps only the
    keys whose issuer has (True) or has not (False) lost the role to issue them."""
    conditions = [_keys_in_reach(caller)]
    if issuer_revoked is not None:
        conditions.append(~ISSUER_ACTIVE if issuer_revoked else ISSUER_ACTIVE)
    rows, total = await paged(
        session,
        select(ApiKey, ISSUER_ACTIVE.label("issuer_active"))
        .where(*conditions)
        .order_by(case((AWAITS_REVIEW, 0), else_=1), col(ApiKey.id)),
        offset=offset,
        limit=limit,
    )
    return [to_public(key, issuer_active=active) for key, active in rows], total


async def revoke_key(session: AsyncSession, *, caller: Caller, key_id: int) -> None:
    key = (
        await session.execute(select(ApiKey).where(ApiKey.id == key_id, _keys_in_reach(caller)))
    ).scalar_one_or_none()
    if key is None:
        raise NotFound()
    # Revoking twice is harmless; the first revocation time is kept.
    await session.execute(
        update(ApiKey)
        .where(col(ApiKey.id) == key_id, col(ApiKey.revoked_at).is_(None))
        .values(revoked_at=utcnow())
    )
    await audit.record(
        session,
        caller=caller,
        action="api_key.revoke",
        target_type="api_key",
        target_id=key.id,
        org_id=key.org_id,
    )
