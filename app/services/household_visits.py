"""Household visits (入户调查): community workers, inspectors and admins whose reach
covers a community record the households they visited and what each answered;
the offices read coverage, awareness and satisfaction per child org and month.

A household counts once per community and month (the unique key; a second record
is 409 `household_already_visited`). The satisfaction rate counts the answers 4
and 5 (SATISFIED_FROM) over all answers, as the assessment's 满意度 does; coverage is
the share of a child org's communities with at least one visit in the month.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.core.db import paged, utcnow
from app.core.errors import Conflict, Unprocessable
from app.core.scope import Caller, in_reach, org_in_reach
from app.core.timeutil import month_key
from app.models.household_visit import (
    SATISFIED_FROM,
    HouseholdOrgStats,
    HouseholdStats,
    HouseholdVisit,
    HouseholdVisitCreate,
    HouseholdVisitPublic,
)
from app.models.org import Org, OrgLevel
from app.models.user import User
from app.services import audit, dashboard
from app.services.problems import SUPERVISION_ROLES


async def record_visit(
    session: AsyncSession,
    *,
    caller: Caller,
    data: HouseholdVisitCreate,
    now: datetime | None = None,
) -> HouseholdVisit:
    now = now or utcnow()
    community = await org_in_reach(session, caller, data.community_id, SUPERVISION_ROLES)
    if community.level != OrgLevel.community:
        raise Unprocessable("invalid_community", "入户调查须选择社区")
    assert community.id is not None
    visit = HouseholdVisit(
        community_id=community.id,
        month=month_key(now),
        household_label=data.household_label,
        lat=data.lat,
        lng=data.lng,
        aware=data.aware,
        satisfaction=data.satisfaction,
        note=data.note,
        visitor_id=caller.id,
        visited_at=now,
    )
    try:
        async with session.begin_nested():
            session.add(visit)
            await session.flush()
    except IntegrityError:
        raise Conflict("household_already_visited", "这户本月已经调查过") from None
    await audit.record(
        session,
        caller=caller,
        action="household_visit.create",
        target_type="household_visit",
        target_id=visit.id,
        org_id=community.id,
    )
    return visit


def visit_public(visit: HouseholdVisit) -> HouseholdVisitPublic:
    assert visit.id is not None
    return HouseholdVisitPublic(
        id=visit.id,
        community_id=visit.community_id,
        month=visit.month,
        household_label=visit.household_label,
        aware=visit.aware,
        satisfaction=visit.satisfaction,
        note=visit.note,
        visited_at=visit.visited_at,
    )


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


async def household_stats(
    session: AsyncSession, *, org: Org, month: str | None, now: datetime | None = None
) -> HouseholdStats:
    month = month or month_key(now or utcnow())
    assert org.id is not None
    children = list((await session.execute(select(Org).where(Org.parent_id == org.id))).scalars())
    buckets = await dashboard.subtrees(session, org, [org, *children])
    subtree = buckets[org.id]
    communities = set(
        (
            await session.execute(
                select(Org.id).where(col(Org.id).in_(subtree), Org.level == OrgLevel.community)
            )
        ).scalars()
    )
    per_community = {
        row[0]: row[1:]
        for row in (
            await session.execute(
                sa_select(
                    col(HouseholdVisit.community_id),
                    func.count(),
                    func.count(case((col(HouseholdVisit.aware).is_(True), 1))),
                    func.count(case((col(HouseholdVisit.satisfaction) >= SATISFIED_FROM, 1))),
                    func.sum(col(HouseholdVisit.satisfaction)),
                )
                .where(
                    col(HouseholdVisit.month) == month,
                    col(HouseholdVisit.community_id).in_(communities),
                )
                .group_by(col(HouseholdVisit.community_id))
            )
        ).all()
    }

    def figures(o: Org) -> HouseholdOrgStats:
        assert o.id is not None
        mine = communities.intersection(buckets[o.id])
        rows = [per_community[c] for c in mine if c in per_community]
        visits, aware, satisfied, points = (sum(int(r[i] or 0) for r in rows) for i in range(4))
        return HouseholdOrgStats(
            org_id=o.id,
            org_name=o.name,
            visits=visits,
            communities=len(mine),
            communities_visited=len(rows),
            coverage=_rate(len(rows), len(mine)),
            awareness_rate=_rate(aware, visits),
            satisfaction_rate=_rate(satisfied, visits),
            average_satisfaction=round(points / visits, 2) if visits else None,
        )

    return HouseholdStats(
        org_id=org.id,
        month=month,
        total=figures(org),
        children=[figures(c) for c in children],
    )


@dataclass(frozen=True)
class VisitLine:
    """A visit as the office's list shows it: what the `household-visits` ledger
    shows the same admins (the household is a door label, never a name or phone)."""

    visit: HouseholdVisitPublic
    community_name: str
    visitor_name: str


async def list_visits(
    session: AsyncSession, *, org: Org, month: str, limit: int, offset: int = 0
) -> tuple[list[VisitLine], int]:
    """The month's visits in `org`'s subtree (the caller reaches `org`: checked by the
    route), newest first."""
    condition = [
        in_reach(col(HouseholdVisit.community_id), [org.path]),
        col(HouseholdVisit.month) == month,
    ]
    # The joins are on required foreign keys: the rows are the visits, one each.
    rows, total = await paged(
        session,
        sa_select(HouseholdVisit, col(Org.name), col(User.name))
        .join(Org, col(Org.id) == col(HouseholdVisit.community_id))
        .join(User, col(User.id) == col(HouseholdVisit.visitor_id))
        .where(*condition)
        .order_by(col(HouseholdVisit.visited_at).desc(), col(HouseholdVisit.id).desc()),
        offset=offset,
        limit=limit,
    )
    return [VisitLine(visit_public(v), c, u) for v, c, u in rows], total
