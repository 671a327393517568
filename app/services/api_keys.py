"""API keys for third-party systems (the 12345 hotline, the city's big screen).

A key belongs to an org and reads that org's subtree within its scopes. The secret
is shown once; only its SHA-256 is stored. Revocation takes effect on the next
call, since every call looks the key up.
"""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import ColumnElement, func, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.core.db import utcnow
from app.core.errors import Forbidden, NotFound, Unprocessable
from app.core.scope import LEVEL_ADMIN_ROLE, Caller, Grant, in_reach
from app.models.api_key import ApiKey, ApiKeyCreate, ApiKeyCreated, ApiKeyPublic, ApiScope
from app.models.org import Org, OrgLevel
from app.models.user import Role, User
from app.services import audit
from app.services.orgs import get_visible_org

KEY_PREFIX = "cw_"
# Keys are an office-level matter: district and street admins issue them.
ISSUERS = (Role.district_admin, Role.street_admin)


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _issuer_paths(caller: Caller) -> list[str]:
    paths = caller.paths(ISSUERS)
    if not paths or caller.is_api_key:
        raise Forbidden("forbidden", "只有区、街道管理员可以管理 API 密钥")
    return paths


def to_public(key: ApiKey) -> ApiKeyPublic:
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
    )


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
    return ApiKeyCreated(**to_public(key).model_dump(), key=raw)


def _keys_in_reach(caller: Caller) -> ColumnElement[bool]:
    return in_reach(col(ApiKey.org_id), _issuer_paths(caller))


async def list_keys(
    session: AsyncSession, *, caller: Caller, offset: int, limit: int
) -> tuple[list[ApiKey], int]:
    condition = _keys_in_reach(caller)
    total = (
        await session.execute(select(func.count()).select_from(ApiKey).where(condition))
    ).scalar_one()
    rows = await session.execute(
        select(ApiKey).where(condition).order_by(col(ApiKey.id)).offset(offset).limit(limit)
    )
    return list(rows.scalars()), total


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


async def caller_for_key(session: AsyncSession, raw: str) -> tuple[Caller, ApiKey] | None:
    """The Caller an API key acts as, or None for an unknown or revoked key."""
    row = (
        await session.execute(
            select(ApiKey, Org)
            .join(Org, col(Org.id) == col(ApiKey.org_id))
            .where(ApiKey.key_hash == hash_key(raw), col(ApiKey.revoked_at).is_(None))
        )
    ).first()
    if row is None:
        return None
    key, org = row
    level = OrgLevel(org.level)
    stand_in = User(id=0, name=f"API:{key.name}")
    grant = Grant(
        id=0, role=LEVEL_ADMIN_ROLE[level], org_id=org.id or 0, org_path=org.path, org_level=level
    )
    return Caller(user=stand_in, grants=[grant], api_key_scopes=frozenset(key.scopes.split())), key
