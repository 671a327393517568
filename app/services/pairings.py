"""Pairings (结对共建): a unit paired with a community, one active pair at a time,
ended (never deleted) through the one lifecycle."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, func, or_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.core.db import paged_scalars, utcnow
from app.core.errors import Conflict, Forbidden, NotFound, Unprocessable
from app.core.scope import Caller, in_reach, org_in_reach
from app.core.timeutil import local, month_key, year_bounds
from app.models.org import Org, OrgLevel
from app.models.pairing import (
    Pairing,
    PairingAction,
    PairingCreate,
    PairingEnd,
    PairingEvent,
    PairingEventPublic,
    PairingFigures,
    PairingPublic,
    PairingStats,
    PairingStatus,
)
from app.models.report_in import ReportIn
from app.models.task import Task
from app.models.user import ADMIN_ROLES, Role, User
from app.models.volunteer_hours import HourStatus, VolunteerHour
from app.models.wish import CLAIMANT_STATES, Wish
from app.services import audit, lifecycle
from app.services.lifecycle import Lifecycle, Transition
from app.services.orgs import org_names

# Who pairs a unit with a community: the district, or the street over both.
MANAGER_ROLES = frozenset({Role.district_admin, Role.street_admin})

LIFECYCLE = Lifecycle(
    name="pairing",
    model=Pairing,
    history=PairingEvent,
    org_key="community_id",
    code="invalid_pairing_state",
    called="结对",
    names={PairingStatus.active: "进行中", PairingStatus.ended: "已结束"},
    transitions=(
        Transition(PairingAction.end, {PairingStatus.active}, PairingStatus.ended, "结束"),
    ),
)


def visible_pairings(caller: Caller) -> ColumnElement[bool]:
    """Pairings an admin sees: those of a community or a unit in their reach, and
    (a unit's party secretary) their unit's."""
    places = caller.paths(ADMIN_ROLES)
    return or_(
        in_reach(col(Pairing.community_id), places),
        in_reach(col(Pairing.unit_id), places + caller.member_paths()),
    )


def _require_manager(caller: Caller) -> None:
    if not any(g.role in MANAGER_ROLES for g in caller.grants):
        raise Forbidden("forbidden", "只有区、街道管理员可以管理结对共建")


def today() -> date:
    return local(utcnow()).date()


async def _manageable_org(
    session: AsyncSession, caller: Caller, org_id: int, level: OrgLevel
) -> Org:
    # Out of reach answers as missing (404), before its level is told.
    org = await org_in_reach(session, caller, org_id, MANAGER_ROLES)
    if org.level != level:
        code, what = (
            ("not_a_unit", "单位") if level == OrgLevel.unit else ("not_a_community", "社区")
        )
        raise Unprocessable(code, f"结对共建只能在单位与社区之间：该组织不是{what}")
    return org


async def create_pairing(session: AsyncSession, *, caller: Caller, data: PairingCreate) -> Pairing:
    _require_manager(caller)
    if data.ends_on is not None and data.ends_on < data.starts_on:
        raise Unprocessable("invalid_period", "结束日期不能早于开始日期")
    unit = await _manageable_org(session, caller, data.unit_id, OrgLevel.unit)
    community = await _manageable_org(session, caller, data.community_id, OrgLevel.community)
    pairing = Pairing(
        unit_id=unit.id or 0,
        community_id=community.id or 0,
        starts_on=data.starts_on,
        ends_on=data.ends_on,
        commitments=list(data.commitments),
        created_by_id=caller.id,
    )
    try:
        async with session.begin_nested():
            session.add(pairing)
            await session.flush()
    except IntegrityError as exc:
        raise Conflict("already_paired", "该单位已与该社区结对，结束原结对后才能重新结对") from exc
    assert pairing.id is not None
    session.add(
        PairingEvent(
            pairing_id=pairing.id,
            action=PairingAction.create,
            from_status=None,
            to_status=PairingStatus.active,
            actor_id=caller.id,
        )
    )
    await audit.record(
        session,
        caller=caller,
        action="pairing.create",
        target_type="pairing",
        target_id=pairing.id,
        org_id=pairing.community_id,
        unit_id=pairing.unit_id,
    )
    return pairing


async def get_visible_pairing(session: AsyncSession, caller: Caller, pairing_id: int) -> Pairing:
    pairing = (
        await session.execute(
            select(Pairing).where(Pairing.id == pairing_id, visible_pairings(caller))
        )
    ).scalar_one_or_none()
    if pairing is None:
        raise NotFound()
    return pairing


async def end_pairing(
    session: AsyncSession, *, caller: Caller, pairing: Pairing, data: PairingEnd
) -> Pairing:
    _require_manager(caller)
    for org_id in (pairing.unit_id, pairing.community_id):
        org = await session.get(Org, org_id)
        if org is None or not caller.reaches(org, MANAGER_ROLES):
            raise Forbidden("forbidden", "只有管理该单位和社区的区、街道管理员可以结束结对")
    LIFECYCLE.require(pairing, PairingAction.end)
    ends_on = data.ends_on or today()
    if ends_on < pairing.starts_on:
        raise Unprocessable("invalid_period", "结束日期不能早于开始日期")
    await lifecycle.move(
        session,
        LIFECYCLE,
        pairing,
        caller=caller,
        action=PairingAction.end,
        note=data.note,
        values={"ends_on": ends_on},
    )
    return pairing


async def history(session: AsyncSession, pairing: Pairing) -> list[PairingEventPublic]:
    """Every change of the pairing, oldest first, with who made it."""
    rows = await session.execute(
        select(PairingEvent, User.name)
        .join(User, col(User.id) == col(PairingEvent.actor_id))
        .where(PairingEvent.pairing_id == pairing.id)
        .order_by(col(PairingEvent.id))
    )
    return [
        PairingEventPublic(
            id=event.id or 0,
            action=event.action,
            from_status=event.from_status,
            to_status=event.to_status,
            actor_id=event.actor_id,
            actor_name=name,
            note=event.note,
            at=event.at,
        )
        for event, name in rows.all()
    ]


async def list_pairings(
    session: AsyncSession,
    *,
    caller: Caller,
    unit_id: int | None,
    community_id: int | None,
    status: PairingStatus | None,
    offset: int,
    limit: int,
) -> tuple[list[Pairing], int]:
    conditions = [visible_pairings(caller)]
    if unit_id is not None:
        conditions.append(col(Pairing.unit_id) == unit_id)
    if community_id is not None:
        conditions.append(col(Pairing.community_id) == community_id)
    if status is not None:
        conditions.append(col(Pairing.status) == status)
    return await paged_scalars(
        session,
        select(Pairing).where(*conditions).order_by(col(Pairing.id)),
        offset=offset,
        limit=limit,
    )


async def to_public(session: AsyncSession, pairings: Sequence[Pairing]) -> list[PairingPublic]:
    names = await org_names(
        session, {p.unit_id for p in pairings} | {p.community_id for p in pairings}
    )
    out = []
    for p in pairings:
        assert p.id is not None
        out.append(
            PairingPublic(
                id=p.id,
                unit_id=p.unit_id,
                unit_name=names.get(p.unit_id, ""),
                community_id=p.community_id,
                community_name=names.get(p.community_id, ""),
                status=p.status,
                starts_on=p.starts_on,
                ends_on=p.ends_on,
                commitments=list(p.commitments),
                created_at=p.created_at,
            )
        )
    return out


# --- figures (GET /stats/pairings, pairings.xlsx) ------------------------------------


def pairings_of(org: Org) -> ColumnElement[bool]:
    """The pairings an org's figures cover: a unit's own, a place's communities'."""
    side = col(Pairing.unit_id) if org.level == OrgLevel.unit else col(Pairing.community_id)
    return in_reach(side, [org.path])


async def pairing_figures(
    session: AsyncSession, *, org: Org, year: int, now: datetime | None = None
) -> PairingStats:
    """Per pairing of `org` (active ones, and those ended in `year`): what the unit's
    party members did in the paired community, each figure one grouped query."""
    now = now or utcnow()
    month = month_key(now)
    start, end = year_bounds(year)
    pairings = list(
        (
            await session.execute(
                select(Pairing)
                .where(
                    pairings_of(org),
                    or_(
                        col(Pairing.status) == PairingStatus.active,
                        col(Pairing.ends_on) >= start.date(),
                    ),
                )
                .order_by(col(Pairing.id))
            )
        ).scalars()
    )
    publics = await to_public(session, pairings)
    units = sorted({p.unit_id for p in pairings})
    communities = sorted({p.community_id for p in pairings})
    if not pairings:
        assert org.id is not None
        return PairingStats(org_id=org.id, year=year, month=month, items=[])
    party = col(User.is_party_member).is_(True)
    members: dict[Any, int] = dict(
        (
            await session.execute(
                select(col(User.unit_id), func.count())
                .where(col(User.unit_id).in_(units), party)
                .group_by(col(User.unit_id))
            )
        ).all()
    )

    async def by_pair(stmt: Any) -> dict[tuple[int, int], int]:
        return {(c, u): int(n or 0) for c, u, n in (await session.execute(stmt)).all()}

    def reported(months: ColumnElement[bool]) -> Any:
        return (
            select(
                col(ReportIn.community_id),
                col(User.unit_id),
                func.count(func.distinct(col(ReportIn.user_id))),
            )
            .join(User, col(User.id) == col(ReportIn.user_id))
            .where(
                months,
                party,
                col(ReportIn.community_id).in_(communities),
                col(User.unit_id).in_(units),
            )
            .group_by(col(ReportIn.community_id), col(User.unit_id))
        )

    this_month = await by_pair(reported(col(ReportIn.month) == month))
    this_year = await by_pair(reported(col(ReportIn.month).like(f"{year}-%")))
    minutes = await by_pair(
        select(col(VolunteerHour.org_id), col(User.unit_id), func.sum(col(VolunteerHour.minutes)))
        .join(User, col(User.id) == col(VolunteerHour.user_id))
        .where(
            col(VolunteerHour.status) == HourStatus.approved,
            col(VolunteerHour.started_at) >= start,
            col(VolunteerHour.started_at) < end,
            col(VolunteerHour.org_id).in_(communities),
            col(User.unit_id).in_(units),
        )
        .group_by(col(VolunteerHour.org_id), col(User.unit_id))
    )
    wishes = await by_pair(
        select(col(Wish.community_id), col(User.unit_id), func.count())
        .join(User, col(User.id) == col(Wish.claimed_by_id))
        .where(
            col(Wish.status).in_(CLAIMANT_STATES),
            col(Wish.claimed_at) >= start,
            col(Wish.claimed_at) < end,
            col(Wish.community_id).in_(communities),
            col(User.unit_id).in_(units),
        )
        .group_by(col(Wish.community_id), col(User.unit_id))
    )
    tasks: dict[Any, int] = dict(
        (
            await session.execute(
                select(col(Task.pairing_id), func.count())
                .where(
                    col(Task.pairing_id).in_([p.id for p in pairings]),
                    col(Task.starts_at) >= start,
                    col(Task.starts_at) < end,
                )
                .group_by(col(Task.pairing_id))
            )
        ).all()
    )
    items = []
    for p, public in zip(pairings, publics, strict=True):
        pair = (p.community_id, p.unit_id)
        items.append(
            PairingFigures(
                pairing_id=public.id,
                unit_id=p.unit_id,
                unit_name=public.unit_name,
                community_id=p.community_id,
                community_name=public.community_name,
                status=p.status,
                starts_on=p.starts_on,
                commitments=public.commitments,
                members=members.get(p.unit_id, 0),
                reported_this_month=this_month.get(pair, 0),
                reported_this_year=this_year.get(pair, 0),
                approved_minutes=minutes.get(pair, 0),
                wishes_claimed=wishes.get(pair, 0),
                joint_tasks=tasks.get(p.id, 0),
            )
        )
    assert org.id is not None
    return PairingStats(org_id=org.id, year=year, month=month, items=items)
