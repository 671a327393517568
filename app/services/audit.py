"""The audit log of admin actions (grant/revoke, approve/reject, verify, export,
key creation...), readable by district admins in reach, never editable."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select

from app.core.db import paged_scalars, sqlite_write_transaction
from app.core.errors import Forbidden
from app.core.http import client_ip
from app.core.scope import Caller, in_reach
from app.models.audit import AuditEntry, AuditEntryPublic
from app.models.user import Role


def _entry(
    *,
    caller: Caller,
    action: str,
    target_type: str,
    target_id: int | None,
    org_id: int | None,
    **detail: Any,
) -> AuditEntry:
    return AuditEntry(
        actor_id=None if caller.is_api_key else caller.id,
        actor_name=caller.user.name[:100],
        action=action,
        target_type=target_type,
        target_id=target_id,
        org_id=org_id,
        detail=json.dumps(detail, ensure_ascii=False, default=str) if detail else None,
        client_ip=client_ip.get(),
    )


async def record(session: AsyncSession, *, caller: Caller, **entry: Any) -> None:
    session.add(_entry(caller=caller, **entry))
    await session.flush()


async def record_refusal(session: AsyncSession, *, caller: Caller, **entry: Any) -> None:
    """For a refusal worth keeping (someone tried to change who a person is): the
    request's work so far is rolled back and the entry committed alone, since the
    error raised next rolls back the request's transaction. The caller's rows are
    stale afterwards; only the error should follow."""
    refused = _entry(caller=caller, **entry)
    await session.rollback()
    session.add(refused)
    await session.commit()


async def record_in_own_transaction(
    sessionmaker: async_sessionmaker[AsyncSession], **entry: Any
) -> None:
    """For actions of read requests (exports): a short write of its own, so a long
    read never has to upgrade to SQLite's write lock at its end."""
    with sqlite_write_transaction():
        async with sessionmaker() as session, session.begin():
            await record(session, **entry)


def _readable(caller: Caller) -> Any:
    paths = caller.paths([Role.district_admin])
    if not paths or caller.is_api_key:
        raise Forbidden("forbidden", "只有区级管理员可以查看操作日志")
    return in_reach(col(AuditEntry.org_id), paths)


async def list_entries(
    session: AsyncSession,
    *,
    caller: Caller,
    action: str | None,
    actor_id: int | None,
    target_type: str | None,
    target_id: int | None,
    offset: int,
    limit: int,
) -> tuple[list[AuditEntryPublic], int]:
    conditions = [_readable(caller)]
    if action:
        conditions.append(col(AuditEntry.action) == action)
    if actor_id is not None:
        conditions.append(col(AuditEntry.actor_id) == actor_id)
    if target_type:
        conditions.append(col(AuditEntry.target_type) == target_type)
    if target_id is not None:
        conditions.append(col(AuditEntry.target_id) == target_id)
    entries, total = await paged_scalars(
        session,
        select(AuditEntry)
        .where(*conditions)
        .order_by(col(AuditEntry.at).desc(), col(AuditEntry.id).desc()),
        offset=offset,
        limit=limit,
    )
    items = []
    for e in entries:
        assert e.id is not None
        items.append(
            AuditEntryPublic(
                id=e.id,
                at=e.at,
                actor_id=e.actor_id,
                actor_name=e.actor_name,
                action=e.action,
                target_type=e.target_type,
                target_id=e.target_id,
                org_id=e.org_id,
                detail=json.loads(e.detail) if e.detail else None,
                client_ip=e.client_ip,
            )
        )
    return items, total
