"""Supervision teams (督导组): a district or street office's inspectors and leaders who
go out together. Formed and changed by an admin over the office; seen by those whose
supervision reach covers it and by the team's own members."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, delete, func, or_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.core.db import paged_scalars
from app.core.errors import Conflict, Forbidden, NotFound, Unprocessable
from app.core.scope import Caller, in_reach
from app.models.inspection import (
    InspectionTeam,
    InspectionTeamMember,
    TeamCreate,
    TeamMemberPublic,
    TeamPublic,
)
from app.models.org import Org, OrgLevel
from app.models.user import ADMIN_ROLES, User
from app.services import audit, problems
from app.services.orgs import get_visible_org
from app.services.users import users_in_reach

TEAM_LEVELS = frozenset({OrgLevel.district, OrgLevel.street})


def _visible(caller: Caller) -> ColumnElement[bool]:
    mine = select(InspectionTeamMember.team_id).where(InspectionTeamMember.user_id == caller.id)
    return or_(
        in_reach(col(InspectionTeam.org_id), caller.paths(problems.SUPERVISION_ROLES)),
        col(InspectionTeam.id).in_(mine),
    )


async def get_visible_team(session: AsyncSession, caller: Caller, team_id: int) -> InspectionTeam:
    found = (
        await session.execute(
            select(InspectionTeam).where(InspectionTeam.id == team_id, _visible(caller))
        )
    ).scalar_one_or_none()
    if found is None:
        raise NotFound()
    return found


async def _require_people(session: AsyncSession, caller: Caller, ids: Sequence[int]) -> None:
    wanted = set(ids)
    found = await session.execute(
        select(func.count())
        .select_from(User)
        .where(col(User.id).in_(wanted), users_in_reach(caller))
    )
    if found.scalar_one() != len(wanted):
        raise Unprocessable("invalid_member", "督导组成员须是你管理范围内的人员")


async def _require_admin(session: AsyncSession, caller: Caller, team: InspectionTeam) -> None:
    org = await session.get(Org, team.org_id)
    assert org is not None
    if not caller.reaches(org, ADMIN_ROLES):
        raise Forbidden("forbidden", "只有组建该督导组的区、街道及上级管理员可以调整成员")


async def create_team(session: AsyncSession, *, caller: Caller, data: TeamCreate) -> InspectionTeam:
    org = await get_visible_org(session, caller, data.org_id)
    if not caller.reaches(org, ADMIN_ROLES):
        raise Forbidden("forbidden", "只能在自己管理的区或街道组建督导组")
    if org.level not in TEAM_LEVELS:
        raise Unprocessable("invalid_org", "督导组由区或街道组建")
    members = list(dict.fromkeys(data.member_ids))
    if data.leader_user_id is not None and data.leader_user_id not in members:
        raise Unprocessable("invalid_leader", "组长须是督导组成员")
    await _require_people(session, caller, members)
    assert org.id is not None
    team = InspectionTeam(
        org_id=org.id, name=data.name, leader_id=data.leader_user_id, created_by_id=caller.id
    )
    try:
        async with session.begin_nested():
            session.add(team)
            await session.flush()
    except IntegrityError:
        raise Conflict("team_exists", "已有同名的督导组") from None
    assert team.id is not None
    session.add_all(InspectionTeamMember(team_id=team.id, user_id=u) for u in members)
    await audit.record(
        session,
        caller=caller,
        action="inspection_team.create",
        target_type="inspection_team",
        target_id=team.id,
        org_id=org.id,
    )
    await session.flush()
    return team


async def add_member(
    session: AsyncSession, *, caller: Caller, team: InspectionTeam, user_id: int
) -> InspectionTeam:
    await _require_admin(session, caller, team)
    await _require_people(session, caller, [user_id])
    assert team.id is not None
    try:
        async with session.begin_nested():
            session.add(InspectionTeamMember(team_id=team.id, user_id=user_id))
            await session.flush()
    except IntegrityError:
        raise Conflict("already_member", "此人已是该督导组成员") from None
    return team


async def remove_member(
    session: AsyncSession, *, caller: Caller, team: InspectionTeam, user_id: int
) -> InspectionTeam:
    await _require_admin(session, caller, team)
    removed = await session.execute(
        delete(InspectionTeamMember).where(
            col(InspectionTeamMember.team_id) == team.id,
            col(InspectionTeamMember.user_id) == user_id,
        )
    )
    if removed.rowcount == 0:  # type: ignore[attr-defined]
        raise NotFound("此人不是该督导组成员")
    if team.leader_id == user_id:
        team.leader_id = None
        await session.flush()
    return team


async def list_teams(
    session: AsyncSession, *, caller: Caller, org: Org | None, offset: int, limit: int
) -> tuple[list[InspectionTeam], int]:
    conditions = [_visible(caller)]
    if org is not None:
        conditions.append(in_reach(col(InspectionTeam.org_id), [org.path]))
    return await paged_scalars(
        session,
        select(InspectionTeam).where(*conditions).order_by(col(InspectionTeam.id)),
        offset=offset,
        limit=limit,
    )


async def teams_public(session: AsyncSession, teams: Sequence[InspectionTeam]) -> list[TeamPublic]:
    ids = [t.id for t in teams if t.id is not None]
    members: dict[int, list[TeamMemberPublic]] = {}
    if ids:
        rows = await session.execute(
            select(InspectionTeamMember.team_id, User.id, User.name)
            .join(User, col(User.id) == col(InspectionTeamMember.user_id))
            .where(col(InspectionTeamMember.team_id).in_(ids))
            .order_by(col(InspectionTeamMember.id))
        )
        for team_id, user_id, name in rows.all():
            assert user_id is not None
            members.setdefault(team_id, []).append(TeamMemberPublic(user_id=user_id, name=name))
    out = []
    for t in teams:
        assert t.id is not None
        out.append(
            TeamPublic(
                id=t.id,
                name=t.name,
                org_id=t.org_id,
                leader_user_id=t.leader_id,
                members=members.get(t.id, []),
                created_at=t.created_at,
            )
        )
    return out
