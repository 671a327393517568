"""Dashboards (GET /dashboard) and rankings (GET /dashboard/children).

Every number is a count or sum over the subtree of an org (the org and everything
below it) and is computed with the very rules the detail endpoints list by, so the
dashboard of an org agrees with what those endpoints show for the same org:

People (a snapshot of the roster now)
- members: people whose home community or unit lies in the subtree, the rule of
  GET /users (app/services/users.users_in_reach). An unbound WeChat account with
  neither is on nobody's roster and is never counted. Someone living in C1 and
  working at a unit of another street counts once for an org covering both, and in
  each of the two child orgs of a ranking (so children's members may sum to more
  than the parent's).
- party_members: those of them with is_party_member.
- party_members_reported: party members of the subtree who reported in (报到) in the
  month, to whichever community.
- report_in_rate = party_members_reported / party_members, rounded to 4 places; null
  without party members. The denominator is party members, not all members: 报到
  is the party members' duty. The numerator is people, not reports, so the rate
  never exceeds 1.
- report_ins: reports of the month made to a community in the subtree (the community
  of the report, i.e. the home at the time), exactly what GET /report-ins?month=&org_id=
  totals. It counts anyone who reported, party member or not.

Month-bound activity (the Asia/Shanghai calendar month `month`, default this month)
- check_ins: check-ins whose checked_in_at lies in the month, at tasks whose org lies
  in the subtree: the rows GET /tasks/{id}/check-ins lists for those tasks.
- approved_volunteer_minutes: minutes of approved ledger entries whose org lies in the
  subtree and that start in the month, the rule of GET /volunteer-hours/totals
  (which is the same per year).
- articles_submitted / articles_published: articles of orgs in the subtree first
  submitted / published in the month, each by its own date, the rule of
  GET /stats/articles (which is the same per year or quarter).
- problems_found: problems filed (created) in the month for an org in the subtree;
  problems_found_closed: those of them closed (销号) by now; rectification_rate =
  problems_found_closed / problems_found, rounded to 4 places, null when none was
  found. A month's rate thus rises as its problems get closed later.

Snapshots at the moment of the request (`as_of`), whatever the month
- wishes_<status>: wishes of communities in the subtree by current status, as
  GET /wishes?status= lists them; wishes_overdue: open or claimed past their
  deadline (the `overdue` flag of GET /wishes, app/services/wishes.is_overdue).
- wish_quota_claimed / wish_quota_owing: party members of the subtree who have /
  have not kept a claim in the month's year (app/services/wishes.kept_claimers), as
  GET /stats/wish-quota?year= counts them.
- problems_open / _rectified / _closed: problems of orgs in the subtree by status;
  problems_overdue and problems_escalated_street / _district: by the conditions of
  GET /problems?overdue=true&escalated_to= (app/services/problems).

The ranking has one entry per direct child org, each with the same metrics over its
own subtree. Records held by the org itself (a task posted by the street, a problem
of the street office) lie in no child, so the children's sums may fall short of
the parent's; for additive metrics over records held below, they sum to it.
Sorting: `sort` is any numeric metric, `order` desc (default) or asc; rows without
a value (a null rate) come last either way; equal values share a rank (1, 2, 2, 4)
and are listed by org name (code point order), then id.

Both endpoints run the same fixed set of grouped queries (one per kind of record),
each bucketing records by the org whose subtree holds them: the org itself for
GET /dashboard, each child for GET /dashboard/children.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, SQLColumnExpression, String, and_, case, func, union
from sqlalchemy import select as sa_select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased, join
from sqlmodel import col, select

from app.core.db import utcnow
from app.core.errors import NotFound
from app.core.scope import Caller
from app.core.timeutil import local, month_bounds, month_key
from app.models.article import Article
from app.models.dashboard import (
    Dashboard,
    DashboardMetrics,
    DashboardRanking,
    DashboardRankingItem,
    DashboardSort,
    SortOrder,
)
from app.models.hours import HourStatus, VolunteerHour
from app.models.org import Org
from app.models.problem import EscalationLevel, Problem, ProblemStatus
from app.models.task import CheckIn, ReportIn, Task
from app.models.user import User
from app.models.wish import Wish, WishStatus
from app.services.problems import escalation_condition, overdue_condition
from app.services.wishes import kept_claimers

Counts = dict[int, Sequence[Any]]


def _count(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.count(case((condition, 1)))


def _inside(path: SQLColumnExpression[str], bucket: Any) -> ColumnElement[bool]:
    """`path` lies in the bucket org's subtree: app/core/scope.path_within, with the
    upper bound (the final "/" raised to "0") computed in SQL from the bucket's row."""
    prefix = col(bucket.path)
    upper = func.substr(prefix, 1, func.length(prefix) - 1, type_=String).concat("0")
    return and_(path >= prefix, path < upper)


async def _grouped(
    session: AsyncSession,
    bucket_ids: list[int],
    *,
    source: Any,
    org_id: SQLColumnExpression[int],
    aggregates: Sequence[ColumnElement[Any]],
    where: Sequence[ColumnElement[bool]],
) -> Counts:
    """Aggregates of `source` rows per bucket org whose subtree holds the row's org."""
    bucket, held = aliased(Org), aliased(Org)
    rows = await session.execute(
        sa_select(col(bucket.id), *aggregates)
        .select_from(source)
        .join(held, col(held.id) == org_id)
        .join(bucket, and_(col(bucket.id).in_(bucket_ids), _inside(col(held.path), bucket)))
        .where(*where)
        .group_by(col(bucket.id))
    )
    return {r[0]: r[1:] for r in rows.all()}


async def _people(session: AsyncSession, bucket_ids: list[int], month: str, year: int) -> Counts:
    """members, party members, party members who reported, party members who claimed."""
    reported = col(User.id).in_(select(ReportIn.user_id).where(ReportIn.month == month))
    claimed = col(User.id).in_(kept_claimers(year))

    def homes(home_column: SQLColumnExpression[int | None]) -> Any:
        bucket, home = aliased(Org), aliased(Org)
        return (
            sa_select(
                col(User.id).label("user_id"),
                col(bucket.id).label("bucket_id"),
                col(User.is_party_member).label("party"),
                reported.label("reported"),
                claimed.label("claimed"),
            )
            .select_from(User)
            .join(home, col(home.id) == home_column)
            .join(bucket, and_(col(bucket.id).in_(bucket_ids), _inside(col(home.path), bucket)))
        )

    # UNION, not UNION ALL: someone whose community and unit both lie in a bucket is
    # one member of it.
    people = union(homes(col(User.community_id)), homes(col(User.unit_id))).subquery()
    party = people.c.party.is_(True)
    rows = await session.execute(
        sa_select(
            people.c.bucket_id,
            func.count(),
            _count(party),
            _count(and_(party, people.c.reported.is_(True))),
            _count(and_(party, people.c.claimed.is_(True))),
        ).group_by(people.c.bucket_id)
    )
    return {r[0]: r[1:] for r in rows.all()}


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


async def _metrics(
    session: AsyncSession,
    *,
    bucket_ids: list[int],
    month: str,
    now: datetime,
    district_after_days: int,
) -> dict[int, DashboardMetrics]:
    if not bucket_ids:
        return {}
    start, end = month_bounds(month)
    year = int(month[:4])
    today = local(now).date()

    people = await _people(session, bucket_ids, month, year)
    report_ins = await _grouped(
        session,
        bucket_ids,
        source=ReportIn,
        org_id=col(ReportIn.community_id),
        aggregates=[func.count()],
        where=[col(ReportIn.month) == month],
    )
    check_ins = await _grouped(
        session,
        bucket_ids,
        source=join(CheckIn, Task, col(Task.id) == col(CheckIn.task_id)),
        org_id=col(Task.org_id),
        aggregates=[func.count()],
        where=[col(CheckIn.checked_in_at) >= start, col(CheckIn.checked_in_at) < end],
    )
    minutes = await _grouped(
        session,
        bucket_ids,
        source=VolunteerHour,
        org_id=col(VolunteerHour.org_id),
        aggregates=[func.sum(VolunteerHour.minutes)],
        where=[
            col(VolunteerHour.status) == HourStatus.approved,
            col(VolunteerHour.started_at) >= start,
            col(VolunteerHour.started_at) < end,
        ],
    )
    wish_states = list(WishStatus)
    wishes = await _grouped(
        session,
        bucket_ids,
        source=Wish,
        org_id=col(Wish.community_id),
        aggregates=[
            *(_count(col(Wish.status) == s) for s in wish_states),
            # As wishes.is_overdue: the deadline day itself is still in time.
            _count(
                and_(
                    col(Wish.status).in_([WishStatus.open, WishStatus.claimed]),
                    col(Wish.deadline) < today,
                )
            ),
        ],
        where=[],
    )
    found = and_(col(Problem.created_at) >= start, col(Problem.created_at) < end)
    problems = await _grouped(
        session,
        bucket_ids,
        source=Problem,
        org_id=col(Problem.org_id),
        aggregates=[
            _count(col(Problem.status) == ProblemStatus.open),
            _count(col(Problem.status) == ProblemStatus.rectified),
            _count(col(Problem.status) == ProblemStatus.closed),
            _count(overdue_condition(now)),
            _count(escalation_condition(EscalationLevel.street, now, district_after_days)),
            _count(escalation_condition(EscalationLevel.district, now, district_after_days)),
            _count(found),
            _count(and_(found, col(Problem.status) == ProblemStatus.closed)),
        ],
        where=[],
    )
    submitted_at, published_at = col(Article.first_submitted_at), col(Article.published_at)
    articles = await _grouped(
        session,
        bucket_ids,
        source=Article,
        org_id=col(Article.org_id),
        aggregates=[
            _count(and_(submitted_at >= start, submitted_at < end)),
            _count(and_(published_at >= start, published_at < end)),
        ],
        where=[],
    )

    out = {}
    for bucket_id in bucket_ids:
        members, party, reported, claimed = people.get(bucket_id, (0, 0, 0, 0))
        *by_state, wishes_overdue = wishes.get(bucket_id, (0,) * (len(wish_states) + 1))
        by_status = dict(zip(wish_states, by_state, strict=True))
        (
            p_open,
            p_rectified,
            p_closed,
            p_overdue,
            p_street,
            p_district,
            p_found,
            p_found_closed,
        ) = problems.get(bucket_id, (0,) * 8)
        submitted, published = articles.get(bucket_id, (0, 0))
        out[bucket_id] = DashboardMetrics(
            members=members,
            party_members=party,
            party_members_reported=reported,
            report_in_rate=_rate(reported, party),
            report_ins=report_ins.get(bucket_id, (0,))[0],
            check_ins=check_ins.get(bucket_id, (0,))[0],
            approved_volunteer_minutes=int(minutes.get(bucket_id, (0,))[0] or 0),
            wishes_pending_review=by_status[WishStatus.pending_review],
            wishes_open=by_status[WishStatus.open],
            wishes_claimed=by_status[WishStatus.claimed],
            wishes_fulfilled=by_status[WishStatus.fulfilled],
            wishes_confirmed=by_status[WishStatus.confirmed],
            wishes_rejected=by_status[WishStatus.rejected],
            wishes_cancelled=by_status[WishStatus.cancelled],
            wishes_overdue=wishes_overdue,
            wish_quota_claimed=claimed,
            wish_quota_owing=party - claimed,
            problems_open=p_open,
            problems_rectified=p_rectified,
            problems_closed=p_closed,
            problems_overdue=p_overdue,
            problems_escalated_street=p_street,
            problems_escalated_district=p_district,
            problems_found=p_found,
            problems_found_closed=p_found_closed,
            rectification_rate=_rate(p_found_closed, p_found),
            articles_submitted=submitted,
            articles_published=published,
        )
    return out


async def _org_in_reach(session: AsyncSession, caller: Caller, org_id: int) -> Org:
    org = await session.get(Org, org_id)
    if org is None or not caller.reaches(org):
        raise NotFound()
    return org


async def dashboard(
    session: AsyncSession,
    *,
    caller: Caller,
    org_id: int,
    month: str | None,
    district_after_days: int,
    now: datetime | None = None,
) -> Dashboard:
    now = now or utcnow()
    month = month or month_key(now)
    org = await _org_in_reach(session, caller, org_id)
    assert org.id is not None
    metrics = await _metrics(
        session, bucket_ids=[org.id], month=month, now=now, district_after_days=district_after_days
    )
    return Dashboard(
        org_id=org.id,
        org_name=org.name,
        org_level=org.level,
        month=month,
        as_of=now,
        **metrics[org.id].model_dump(),
    )


def _ranked(
    items: list[tuple[Org, DashboardMetrics]], sort: DashboardSort, order: SortOrder
) -> list[DashboardRankingItem]:
    sign = -1 if order == SortOrder.desc else 1

    def value(m: DashboardMetrics) -> float | None:
        v: float | None = getattr(m, sort.value)
        return v

    def key(item: tuple[Org, DashboardMetrics]) -> tuple[bool, float, str, int]:
        org, m = item
        v = value(m)
        return (v is None, sign * v if v is not None else 0.0, org.name, org.id or 0)

    out: list[DashboardRankingItem] = []
    for position, (org, m) in enumerate(sorted(items, key=key), start=1):
        assert org.id is not None
        tied = bool(out) and value(out[-1]) == value(m)
        out.append(
            DashboardRankingItem(
                rank=out[-1].rank if tied else position,
                org_id=org.id,
                org_name=org.name,
                org_level=org.level,
                **m.model_dump(),
            )
        )
    return out


async def ranking(
    session: AsyncSession,
    *,
    caller: Caller,
    org_id: int,
    month: str | None,
    sort: DashboardSort,
    order: SortOrder,
    district_after_days: int,
    now: datetime | None = None,
) -> DashboardRanking:
    now = now or utcnow()
    month = month or month_key(now)
    org = await _org_in_reach(session, caller, org_id)
    assert org.id is not None
    children = list((await session.execute(select(Org).where(Org.parent_id == org.id))).scalars())
    metrics = await _metrics(
        session,
        bucket_ids=[c.id for c in children if c.id is not None],
        month=month,
        now=now,
        district_after_days=district_after_days,
    )
    return DashboardRanking(
        org_id=org.id,
        org_name=org.name,
        month=month,
        as_of=now,
        sort=sort,
        order=order,
        items=_ranked([(c, metrics[c.id or 0]) for c in children], sort, order),
    )
