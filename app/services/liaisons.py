"""Liaisons (包联): a leader or a unit assigned to a street or community for a period.

A unit's liaison is carried out by its members (people whose unit lies in the unit's
subtree, the reach of its party secretary, `members_of`): any of them may record a
visit in the liaison's org, and their visits count as the unit's in the weekly
figures (app/services/inspections.py). The party secretary counts when on the unit's
roster, as every member does; holding the role alone records nothing."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import or_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.core.db import paged_scalars, utcnow
from app.core.errors import Conflict, Forbidden, NotFound, Unprocessable
from app.core.scope import Caller, in_reach, org_in_reach
from app.core.timeutil import local
from app.models.org import Org, OrgLevel
from app.models.pairing import Liaison, LiaisonCreate, LiaisonEnd, LiaisonKind, LiaisonPublic
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
    if (data.user_id is None) == (data.unit_id is None):
        raise Unprocessable("invalid_liaison_party", "包联的一方须是一位领导或一个单位（二选一）")
    user_id = unit_id = None
    if data.user_id is not None:
        # The leader must be on a roster the district admin reaches (404 otherwise).
        user_id = (await get_user_in_reach(session, caller, data.user_id)).id
    else:
        assert data.unit_id is not None
        unit = await session.get(Org, data.unit_id)
        if unit is None or unit.level != OrgLevel.unit or not caller.reaches(unit, ASSIGNERS):
            raise Unprocessable("invalid_unit", "所选单位不存在或不在你的管理范围内")
        unit_id = unit.id
    liaison = Liaison(
        user_id=user_id,
        unit_id=unit_id,
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
        unit_id=liaison.unit_id,
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
    session: AsyncSession,
    *,
    caller: Caller,
    org: Org | None,
    offset: int,
    limit: int,
    kind: LiaisonKind | None = None,
    unit_id: int | None = None,
) -> tuple[list[Liaison], int]:
    """Liaisons at orgs in the caller's admin reach (a street sees who is assigned to
    it and its communities), within `org` when given; of one kind, or one unit."""
    paths = [org.path] if org is not None else caller.paths(ADMIN_ROLES)
    conditions = [in_reach(col(Liaison.org_id), paths)]
    if kind is LiaisonKind.leader:
        conditions.append(col(Liaison.user_id).is_not(None))
    elif kind is LiaisonKind.unit:
        conditions.append(col(Liaison.unit_id).is_not(None))
    if unit_id is not None:
        conditions.append(col(Liaison.unit_id) == unit_id)
    return await paged_scalars(
        session,
        select(Liaison).where(*conditions).order_by(col(Liaison.id)),
        offset=offset,
        limit=limit,
    )


async def to_public(session: AsyncSession, liaisons: Sequence[Liaison]) -> list[LiaisonPublic]:
    orgs = await org_names(
        session, [*(x.org_id for x in liaisons), *(x.unit_id for x in liaisons if x.unit_id)]
    )
    names = await user_names(session, (x.user_id for x in liaisons if x.user_id))
    return [
        LiaisonPublic(
            id=x.id or 0,
            kind=LiaisonKind.leader if x.user_id is not None else LiaisonKind.unit,
            user_id=x.user_id,
            user_name=names.get(x.user_id, "") if x.user_id is not None else None,
            unit_id=x.unit_id,
            unit_name=orgs.get(x.unit_id, "") if x.unit_id is not None else None,
            org_id=x.org_id,
            org_name=orgs.get(x.org_id, ""),
            starts_on=x.starts_on,
            ends_on=x.ends_on,
            created_at=x.created_at,
        )
        for x in liaisons
    ]
