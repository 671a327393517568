"""Liaisons (包联): a leader assigned to a street or community for a period."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, or_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.core.db import utcnow
from app.core.errors import Conflict, Forbidden, NotFound, Unprocessable
from app.core.scope import Caller, in_reach, org_in_reach
from app.core.timeutil import local
from app.models.org import Org, OrgLevel
from app.models.pairing import Liaison, LiaisonCreate, LiaisonEnd, LiaisonPublic
from app.models.user import ADMIN_ROLES, Role
from app.services import audit
from app.services.orgs import org_names
from app.services.users import get_user_in_reach, user_names

ASSIGNERS = frozenset({Role.district_admin})
LIAISON_LEVELS = frozenset({OrgLevel.street, OrgLevel.community})


async def create_liaison(session: AsyncSession, *, caller: Caller, data: LiaisonCreate) -> Liaison:
    if not any(g.role in ASSIGNERS for g in caller.grants):
        raise Forbidden("forbidden", "只有区级管理员可以安排包联")
    if data.ends_on is not None and data.ends_on < data.starts_on:
        raise Unprocessable("invalid_period", "结束日期不能早于开始日期")
    org = await org_in_reach(session, caller, data.org_id, ASSIGNERS)
    if org.level not in LIAISON_LEVELS:
        raise Unprocessable("invalid_liaison_org", "包联的对象只能是街道或社区")
    # The leader must be on a roster the district admin reaches (404 otherwise).
    leader = await get_user_in_reach(session, caller, data.user_id)
    liaison = Liaison(
        user_id=leader.id or 0,
        org_id=org.id or 0,
        starts_on=data.starts_on,
        ends_on=data.ends_on,
        created_by_id=caller.id,
    )
    session.add(liaison)
    await session.flush()
    await audit.record(
        session,
        caller=caller,
        action="liaison.create",
        target_type="liaison",
        target_id=liaison.id,
        org_id=liaison.org_id,
        user_id=liaison.user_id,
    )
    return liaison


async def get_liaison_in_reach(session: AsyncSession, caller: Caller, liaison_id: int) -> Liaison:
    """A liaison at an org the caller's admin roles reach (404 otherwise)."""
    liaison = (
        await session.execute(
            select(Liaison).where(
                Liaison.id == liaison_id, in_reach(col(Liaison.org_id), caller.paths(ADMIN_ROLES))
            )
        )
    ).scalar_one_or_none()
    if liaison is None:
        raise NotFound()
    return liaison


async def end_liaison(
    session: AsyncSession, *, caller: Caller, liaison: Liaison, data: LiaisonEnd
) -> Liaison:
    """The assignment ends on `ends_on` (kept, never deleted: its visits and weeks
    stay counted). Once ended it stays ended: 409 `liaison_ended`, decided by the
    conditional UPDATE, so two offices ending it at once end it once."""
    if not any(g.role in ASSIGNERS for g in caller.grants):
        raise Forbidden("forbidden", "只有区级管理员可以结束包联")
    ends_on = data.ends_on or local(utcnow()).date()
    if ends_on < liaison.starts_on:
        raise Unprocessable("invalid_period", "结束日期不能早于开始日期")
    ended = await session.execute(
        update(Liaison)
        .where(
            col(Liaison.id) == liaison.id,
            or_(col(Liaison.ends_on).is_(None), col(Liaison.ends_on) > ends_on),
        )
        .values(ends_on=ends_on)
        .returning(col(Liaison.id))
    )
    if ended.scalar_one_or_none() is None:
        raise Conflict("liaison_ended", "该包联已在此日期或更早结束")
    await session.refresh(liaison)
    await audit.record(
        session,
        caller=caller,
        action="liaison.end",
        target_type="liaison",
        target_id=liaison.id,
        org_id=liaison.org_id,
        ends_on=ends_on.isoformat(),
    )
    return liaison


async def list_liaisons(
    session: AsyncSession, *, caller: Caller, org: Org | None, offset: int, limit: int
) -> tuple[list[Liaison], int]:
    """Liaisons at orgs in the caller's admin reach (a street sees who is assigned to
    it and its communities), within `org` when given."""
    paths = [org.path] if org is not None else caller.paths(ADMIN_ROLES)
    conditions = [in_reach(col(Liaison.org_id), paths)]
    total = (
        await session.execute(select(func.count()).select_from(Liaison).where(*conditions))
    ).scalar_one()
    rows = await session.execute(
        select(Liaison).where(*conditions).order_by(col(Liaison.id)).offset(offset).limit(limit)
    )
    return list(rows.scalars()), total


async def to_public(session: AsyncSession, liaisons: Sequence[Liaison]) -> list[LiaisonPublic]:
    orgs = await org_names(session, (x.org_id for x in liaisons))
    names = await user_names(session, (x.user_id for x in liaisons))
    return [
        LiaisonPublic(
            id=x.id or 0,
            user_id=x.user_id,
            user_name=names.get(x.user_id, ""),
            org_id=x.org_id,
            org_name=orgs.get(x.org_id, ""),
            starts_on=x.starts_on,
            ends_on=x.ends_on,
            created_at=x.created_at,
        )
        for x in liaisons
    ]
