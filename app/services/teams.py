"""Volunteer service teams (志愿服务队): created by an admin over their home org, joined
by volunteers on request and the leader's approval; their record is the service orders
their members completed and the minutes those credited.

A team's minutes are the approved volunteer-hour entries credited for its completed
orders (source `service_order`, one entry per order: volunteer_hours.credit), not the
minutes the taker reported on the order: an entry revoked after approval (approved →
rejected, app/services/volunteer_hours.py) takes its minutes out of the team's record
exactly as it takes them out of the volunteer's hours, the dashboard and the
volunteer-hours ledger. `orders_completed` still counts the order: the service order
ran its course (completed, rated), and the orderer's side of it stands; only the
credit for the time was withdrawn. The service-orders ledger shows both, the minutes
reported and the minutes credited.

Who sees a team: admins whose reach covers its org, its members, and anyone whose
home (roster community, or approved volunteer community) lies in the team's district,
who may ask to join.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, and_, false, func, or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.core.db import paged_scalars, updated_one, utcnow
from app.core.errors import Conflict, Forbidden, NotFound, Unprocessable
from app.core.scope import Caller, in_reach, is_within, org_in_reach
from app.models.org import Org
from app.models.service_order import OrderStatus, ServiceOrder
from app.models.team import (
    MemberReview,
    MemberStatus,
    Team,
    TeamCreate,
    TeamDetail,
    TeamMember,
    TeamMemberPublic,
    TeamPublic,
)
from app.models.user import ADMIN_ROLES, User
from app.models.volunteer_hours import HourSource, HourStatus, VolunteerHour
from app.services import audit, volunteers
from app.services.wishes import caller_district as home_caller_district
from app.services.wishes import volunteer_district

DONE = (OrderStatus.completed, OrderStatus.rated)


async def caller_district(session: AsyncSession, caller: Caller) -> str | None:
    """The district of the caller's roster home (read with their roles: no query), or
    else of their volunteer community."""
    return await home_caller_district(session, caller) or await volunteer_district(
        session, caller.user
    )


def _member_of(caller: Caller) -> ColumnElement[bool]:
    return col(Team.id).in_(select(TeamMember.team_id).where(TeamMember.user_id == caller.id))


def visible_teams(caller: Caller, district: str | None) -> ColumnElement[bool]:
    return or_(
        in_reach(col(Team.org_id), caller.paths(ADMIN_ROLES)),
        _member_of(caller),
        in_reach(col(Team.org_id), [district]) if district else false(),
    )


async def get_visible_team(session: AsyncSession, caller: Caller, team_id: int) -> Team:
    district = await caller_district(session, caller)
    team = (
        await session.execute(
            select(Team).where(Team.id == team_id, visible_teams(caller, district))
        )
    ).scalar_one_or_none()
    if team is None:
        raise NotFound()
    return team


async def get_org_of_teams(session: AsyncSession, caller: Caller, org_id: int) -> Org:
    """`?org_id=` of GET /teams: an org in admin reach, or one of the caller's district."""
    org = await session.get(Org, org_id)
    if org is None:
        raise NotFound()
    if not caller.reaches(org):
        district = await caller_district(session, caller)
        if district is None or not is_within(org.path, district):
            raise NotFound()
    return org


# --- public shapes ---------------------------------------------------------------------


def credited_minutes() -> ColumnElement[int]:
    """An order's minutes as they count for its team: those of its approved hour entry
    (volunteer_hours.credit writes one per completed order), 0 once that entry is
    revoked (approved → rejected) or was never approved."""
    return (
        select(func.coalesce(func.sum(col(VolunteerHour.minutes)), 0))
        .where(
            col(VolunteerHour.source) == HourSource.service_order,
            col(VolunteerHour.source_id) == col(ServiceOrder.id),
            col(VolunteerHour.status) == HourStatus.approved,
        )
        .scalar_subquery()
    )


async def minutes_of_teams(session: AsyncSession, team_ids: Sequence[int | None]) -> dict[int, int]:
    """A team's minutes: the approved hour entries credited for its completed orders
    (the rule in this module's docstring). One grouped query through the
    (source, source_id) unique index."""
    rows = await session.execute(
        select(ServiceOrder.team_id, func.sum(col(VolunteerHour.minutes)))
        .join(
            VolunteerHour,
            and_(
                col(VolunteerHour.source) == HourSource.service_order,
                col(VolunteerHour.source_id) == col(ServiceOrder.id),
            ),
        )
        .where(
            col(ServiceOrder.team_id).in_(team_ids),
            col(ServiceOrder.status).in_(DONE),
            col(VolunteerHour.status) == HourStatus.approved,
        )
        .group_by(col(ServiceOrder.team_id))
    )
    return {int(team_id): int(n or 0) for team_id, n in rows.all()}


async def to_public(session: AsyncSession, teams: Sequence[Team]) -> list[TeamPublic]:
    if not teams:
        return []  # an empty page: four counts of nothing are four round trips for nothing
    ids = [t.id for t in teams]
    members: dict[int, int] = dict(
        (
            await session.execute(
                select(TeamMember.team_id, func.count())
                .where(col(TeamMember.team_id).in_(ids), TeamMember.status == MemberStatus.approved)
                .group_by(col(TeamMember.team_id))
            )
        ).all()
    )
    done: dict[int, int] = dict(
        (
            await session.execute(
                select(ServiceOrder.team_id, func.count())
                .where(col(ServiceOrder.team_id).in_(ids), col(ServiceOrder.status).in_(DONE))
                .group_by(col(ServiceOrder.team_id))
            )
        ).all()
    )
    credited = await minutes_of_teams(session, ids)
    leaders: dict[int, str] = dict(
        (
            await session.execute(
                select(User.id, User.name).where(
                    col(User.id).in_({t.leader_user_id for t in teams})
                )
            )
        ).all()
    )
    out = []
    for t in teams:
        assert t.id is not None
        out.append(
            TeamPublic(
                id=t.id,
                name=t.name,
                org_id=t.org_id,
                leader_user_id=t.leader_user_id,
                leader_name=leaders.get(t.leader_user_id, ""),
                service_types=list(t.service_types),
                description=t.description,
                members=members.get(t.id, 0),
                minutes=credited.get(t.id, 0),
                orders_completed=done.get(t.id, 0),
                created_at=t.created_at,
            )
        )
    return out


async def detail(session: AsyncSession, *, caller: Caller, team: Team) -> TeamDetail:
    (public,) = await to_public(session, [team])
    manages = await _manages(session, caller, team)
    rows = await session.execute(
        select(TeamMember, User.name)
        .join(User, col(User.id) == col(TeamMember.user_id))
        .where(TeamMember.team_id == team.id)
        .order_by(col(TeamMember.id))
    )
    members = [
        TeamMemberPublic(user_id=m.user_id, name=name, status=m.status, created_at=m.created_at)
        for m, name in rows.all()
        if manages or m.status == MemberStatus.approved or m.user_id == caller.id
    ]
    return TeamDetail(**public.model_dump(), member_list=members)


# --- reading ---------------------------------------------------------------------------


async def list_teams(
    session: AsyncSession, *, caller: Caller, org: Org | None, offset: int, limit: int
) -> tuple[list[Team], int]:
    conditions = [visible_teams(caller, await caller_district(session, caller))]
    if org is not None:
        conditions.append(in_reach(col(Team.org_id), [org.path]))
    return await paged_scalars(
        session, select(Team).where(*conditions).order_by(col(Team.id)), offset=offset, limit=limit
    )


async def approved_member_ids(session: AsyncSession, team_id: int) -> list[int]:
    rows = await session.execute(
        select(TeamMember.user_id).where(
            TeamMember.team_id == team_id, TeamMember.status == MemberStatus.approved
        )
    )
    return list(rows.scalars())


# --- writing ---------------------------------------------------------------------------


async def _lives_within(session: AsyncSession, user: User, org: Org) -> bool:
    assert user.id is not None
    community_id = user.community_id or await volunteers.approved_community(session, user.id)
    home = await session.get(Org, community_id) if community_id is not None else None
    return home is not None and is_within(home.path, org.path)


async def create_team(session: AsyncSession, *, caller: Caller, data: TeamCreate) -> Team:
    org = await org_in_reach(session, caller, data.org_id)
    name = data.name.strip()
    if not name:
        raise Unprocessable("validation_error", "队伍名称不能为空")
    leader = await session.get(User, data.leader_user_id)
    if leader is None or not await _lives_within(session, leader, org):
        raise Unprocessable("invalid_leader", "队长须是该组织范围内的居民或志愿者")
    assert org.id is not None
    team = Team(
        name=name,
        org_id=org.id,
        leader_user_id=data.leader_user_id,
        service_types=list(dict.fromkeys(data.service_types)),
        description=data.description.strip(),
        created_by_id=caller.id,
    )
    try:
        async with session.begin_nested():
            session.add(team)
            await session.flush()
    except IntegrityError:
        raise Conflict("team_name_exists", f"该组织已有名为“{name}”的队伍") from None
    assert team.id is not None
    session.add(
        TeamMember(
            team_id=team.id,
            user_id=data.leader_user_id,
            status=MemberStatus.approved,
            reviewed_at=utcnow(),
        )
    )
    await audit.record(
        session,
        caller=caller,
        action="team.create",
        target_type="team",
        target_id=team.id,
        org_id=org.id,
        name=name,
    )
    return team


async def join(session: AsyncSession, *, caller: Caller, team: Team) -> TeamMemberPublic:
    """An approved volunteer asks to join; the leader approves."""
    if await volunteers.approved_community(session, caller.id) is None:
        raise Forbidden("not_volunteer", "请先登记成为志愿者，审核通过后再申请加入队伍")
    assert team.id is not None
    member = TeamMember(team_id=team.id, user_id=caller.id, status=MemberStatus.pending)
    try:
        async with session.begin_nested():
            session.add(member)
            await session.flush()
    except IntegrityError:
        raise Conflict("already_member", "您已申请或已加入该队伍") from None
    return TeamMemberPublic(
        user_id=caller.id, name=caller.user.name, status=member.status, created_at=member.created_at
    )


async def _manages(session: AsyncSession, caller: Caller, team: Team) -> bool:
    if team.leader_user_id == caller.id:
        return True
    org = await session.get(Org, team.org_id)
    return org is not None and caller.reaches(org)


async def review_member(
    session: AsyncSession, *, caller: Caller, team: Team, user_id: int, data: MemberReview
) -> TeamMemberPublic:
    """The leader (or an admin over the team's org) decides a pending request."""
    if not await _manages(session, caller, team):
        raise Forbidden("forbidden", "只有队长或管理员可以审批入队申请")
    row = (
        await session.execute(
            select(TeamMember, User.name)
            .join(User, col(User.id) == col(TeamMember.user_id))
            .where(TeamMember.team_id == team.id, TeamMember.user_id == user_id)
        )
    ).first()
    if row is None:
        raise NotFound("没有这个入队申请", code="no_such_request")
    member, name = row
    # Conditional on the request still pending: of two decisions at once, one lands.
    if not await updated_one(
        session,
        update(TeamMember)
        .where(col(TeamMember.id) == member.id, col(TeamMember.status) == MemberStatus.pending)
        .values(
            status=MemberStatus.approved if data.approve else MemberStatus.rejected,
            reviewed_at=utcnow(),
        ),
    ):
        raise Conflict("request_already_reviewed", "该申请已审批")
    await session.refresh(member)
    return TeamMemberPublic(
        user_id=member.user_id, name=name, status=member.status, created_at=member.created_at
    )
