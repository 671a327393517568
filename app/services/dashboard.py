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

- inspections / points_inspected: visits (GET /inspections) whose visited_at lies in
  the month, at points of orgs in the subtree, and the distinct points they visited;
  reports_received: residents' reports of the month made to communities in the
  subtree; reports_accepted / reports_rejected: those of them accepted (turned into
  a problem) / rejected by now; report_hours_to_accept
  (median, and _avg) / report_hours_to_handle (median, accepted or rejected): hours
  from report to handling of the month's reports handled by now, null when none.
  Counted from the rows through the (org, time) indexes: a month's visits and
  reports of a district are hundreds, not the tens of thousands fact_counts exists for.
- liaison_visits: those visits made in liaison (包联): by a leader in liaison with the
  point's org or an org above it, or by a member of a unit in such liaison, on a day
  the liaison ran (GET /stats/inspections' liaison_visits, by the month); each once.
- points: points of orgs in the subtree set up before the month's end (points are
  never removed); points_passed: those whose latest visit of the month (by
  visited_at, then id, the order `points.meets_standard` follows) passed every item;
  points_pass_rate = points_passed / points, null without points. The denominator
  is every point, not the points visited: a point nobody checked this month is not
  known to meet the standard, and the assessment's field check may land on any
  point, so visiting only the good ones cannot raise the rate. A point passed in an
  earlier month counts again once it is visited again: the month's work is what the
  rate, and the composite score built on it, judges.
- pairings_active (a snapshot): active pairings of the subtree's communities, or of
  a unit's subtree for a unit; pairing_report_ins: the month's report-ins to a paired
  community by members of the unit actively paired with it.

The month's quarter (publicity is reckoned by quarters, 季度通报)
- articles_submitted_quarter / articles_published_quarter: as articles_submitted /
  articles_published, over the three months of the quarter holding `month`, the rule
  of GET /stats/publicity (and /stats/articles?quarter=); read from the rows by the
  (org, date) indexes: a district's quarter is hundreds of articles.
- placements_quarter: verified placements (上稿) of articles of the subtree whose
  `published_on` (a Shanghai date) lies in that quarter, the counts of
  GET /stats/publicity; placements_pending (a snapshot): those awaiting the office.

Snapshots at the moment of the request (`as_of`), whatever the month
- wishes_<status>: wishes of communities in the subtree by current status, as
  GET /wishes?status= lists them; wishes_overdue: open or claimed past their
  deadline (the `overdue` flag of GET /wishes, app/services/wishes.is_overdue).
- wish_quota_claimed / wish_quota_owing: party members of the subtree who have /
  have not kept a claim in the month's year (app/services/wish_quota.kept_claimers),
  as GET /stats/wish-quota?year= counts them.
- problems_open / _rectified / _closed: problems of orgs in the subtree by status;
  problems_overdue and problems_escalated_street / _district: by the conditions of
  GET /problems?overdue=true&escalated_to= (app/services/problems).
- points_meeting_standard: points of orgs in the subtree whose latest visit passed
  every item (`points.meets_standard`).
- volunteers: approved volunteer registrations of communities in the subtree (GET
  /volunteers?status=approved); volunteers_per_1000: per 1,000 of the org's own
  `population`, null where it is not set; teams: teams of orgs in the subtree;
  service_orders_<status>: orders of communities in the subtree by current status;
  service_orders_overdue: those overdue now, the `overdue` flag of GET /service-orders
  (not accepted within 2 working days, or not completed by `wanted_at`), counted in
  SQL by app/services/service_orders.overdue_condition.

Volunteers and service orders of the month
- volunteers_active: approved volunteers with approved hours starting in the month at
  orgs in the subtree, each once.
- service_order_hours_to_take (median hours submitted → taken),
  service_orders_on_time_rate (completed by `wanted_at`, among those that set one and
  are completed), service_order_rating (mean stars): over the orders submitted in the
  month to communities in the subtree; null when there are none.
- service_order_minutes: the teams' minutes of the month, by the rule of a team's
  record (app/services/teams.py): approved hour entries credited for service orders
  (one per completed order), starting in the month, at communities in the subtree.
  An entry revoked after approval leaves it, as it leaves approved_volunteer_minutes.

Points and the shop (app/models/points.py; app/services/points.py)
- credits_issued / credits_spent: points that left (issued) the issuing accounts, and
  that came into (spent) the shops, of orgs in the subtree in the month, each net of
  the month's reversals; credits_outstanding (a snapshot): what those accounts issued
  and the shops have not taken in, minus the sum of their balances (the ledger sums
  to zero, so for a district it is its residents' balances). redemptions /
  redemptions_collected: the month's reservations at shops in the subtree, and those
  of them collected by now. Top earners with names: GET /points/accounts (admins),
  and per community for the month: GET /stats/points.

Assessment readiness (app/services/surveys.py, household_visits.py, indicators.py)
- surveys_open (a snapshot): surveys and quizzes of orgs in the subtree open now;
  survey_responses: responses submitted in the month from homes (community) in the
  subtree.
- survey_respondents / survey_audience / survey_response_rate (参与率): over the
  surveys open at some time in the month (up to now) that are for the org's people:
  those set by the org or an org above it (for all its people) and those set by an
  org inside it (for that org's people). survey_audience sums, per survey, the roster
  (`members`) of the part of the subtree it is for; survey_respondents sums its
  responses from people whose home community or unit lies in that part (the rule
  `members` counts by), whenever they answered: each survey's own rate, as
  GET /stats/surveys?org_id= gives it, pooled. The audience is the roster for both
  audiences: a survey for `everyone` is also answered by residents with no roster
  home, but they belong to no org and count on neither side. Null when no survey was
  open in the month; a month with several surveys weighs each by its audience. The
  roster is today's and a response keeps the home its respondent had when answering,
  so people who answered and then moved can lift a rate above 1 (the score caps it).
- household_visits, household_awareness_rate, household_satisfaction_rate: the
  month's visits of communities in the subtree; household_communities_visited and
  household_coverage = communities visited / communities of the subtree (null
  without communities), as GET /stats/household-visits counts them.
- indicators, indicators_accepted, indicators_overdue (snapshots).

The ranking has one entry per direct child org, each with the same metrics over its
own subtree. Records held by the org itself (a task posted by the street, a problem
of the street office) lie in no child, so the children's sums may fall short of
the parent's; for additive metrics over records held below, they sum to it.
Sorting: `sort` is any numeric metric, `order` desc (default) or asc; rows without
a value (a null rate) come last either way; equal values share a rank (1, 2, 2, 4)
and are listed by org name (code point order), then id.

Both endpoints run the same fixed set of queries (one per kind of figure, however
many children there are), each bucketing what it reads by the org whose subtree
holds it: the org itself for GET /dashboard, each child for GET /dashboard/children.
The subtree's org ids are read first (a few dozen) and every query names them, so
each reads one index range per org. No query counts people or records one by one
where the database keeps the sum: fact_counts (app/models/fact_counts.py) holds,
per org, the record counts of each month and by status, and the people figures
(carried over from people_counts, app/models/people_counts.py, by inclusion and
exclusion: +1 at a person's community and unit, -1 at the org holding both), all
kept exact by triggers in the writing transaction. Only what depends on the hour of
asking (wishes overdue, problems overdue or escalated) is counted from the rows:
the unresolved ones, from (org, status, deadline) indexes alone. What each query
costs: docs/PERFORMANCE.md ("Dashboards at city scale").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from statistics import median
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    SQLColumnExpression,
    and_,
    case,
    func,
    or_,
)
from sqlalchemy import join as sa_join
from sqlalchemy import select as sa_select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col, select

from app.core.db import table_of, utcnow
from app.core.scope import is_within, path_ids, path_within
from app.core.timeutil import local, month_bounds, month_key, previous_month
from app.models.article import Article
from app.models.dashboard import (
    Dashboard,
    DashboardMetrics,
    DashboardRanking,
    DashboardRankingItem,
    DashboardSort,
    SortOrder,
)
from app.models.fact_counts import FactCount
from app.models.household_visit import SATISFIED_FROM, HouseholdVisit
from app.models.indicator import Indicator, IndicatorStatus
from app.models.indicator import overdue_condition as indicator_overdue
from app.models.inspection import Inspection
from app.models.org import Org, OrgLevel
from app.models.pairing import Liaison, Pairing, PairingStatus
from app.models.points import (
    AccountKind,
    PointsAccount,
    PointsEntry,
    Redemption,
    RedemptionStatus,
)
from app.models.problem import UNRESOLVED, EscalationLevel, Point, Problem, ProblemStatus
from app.models.publicity import Placement, PlacementStatus
from app.models.report import Report, ReportStatus
from app.models.report_in import ReportIn
from app.models.scoring import ScoreMetric, ScoreTable
from app.models.service_order import OrderStatus, ServiceOrder
from app.models.survey import Survey, SurveyResponse
from app.models.team import Team
from app.models.user import User
from app.models.volunteer import Volunteer, VolunteerStatus
from app.models.volunteer_hours import HourSource, HourStatus, VolunteerHour
from app.models.wish import Wish, WishStatus
from app.services import articles, publicity, scoring
from app.services import service_orders as order_service
from app.services.problems import escalation_condition, overdue_condition

Counts = dict[int, Sequence[Any]]
# Each bucket org with the ids of every org in its subtree (itself included).
Buckets = dict[int, list[int]]


def _count(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.count(case((condition, 1)))


def _held(org_id: SQLColumnExpression[int | None], buckets: Buckets) -> ColumnElement[bool]:
    return org_id.in_([i for ids in buckets.values() for i in ids])


def _owners(buckets: Buckets) -> dict[int, int]:
    """Each org of the subtrees -> its bucket. Rankings group rows by org in SQL and
    add the orgs up per bucket here: a CASE over the buckets' ids evaluated on every
    row cost PostgreSQL twice the time of the grouping itself (42,000 check-ins of a
    district's month: 23 ms against 7-10)."""
    return {org_id: bucket_id for bucket_id, ids in buckets.items() for org_id in ids}


def _add(total: list[int], numbers: Sequence[Any]) -> None:
    for i, n in enumerate(numbers):
        total[i] += int(n or 0)


async def _grouped(
    session: AsyncSession,
    buckets: Buckets,
    *,
    source: Any,
    org_id: SQLColumnExpression[int | None],
    aggregates: Sequence[ColumnElement[Any]],
    where: Sequence[ColumnElement[bool]],
) -> Counts:
    """Aggregates of `source` rows per bucket whose subtree holds the row's org.

    The orgs are named by id, so each (org, time) index is read in a range per org
    and the planner knows how many rows to expect."""
    statement = sa_select(*aggregates).select_from(source).where(_held(org_id, buckets), *where)
    if len(buckets) == 1:  # a dashboard: every row read is the one bucket's
        (bucket_id,) = buckets
        return {bucket_id: tuple((await session.execute(statement)).one())}
    owners = _owners(buckets)
    out: dict[int, list[int]] = {}
    rows = await session.execute(statement.add_columns(org_id).group_by(org_id))
    for *numbers, org in rows.all():
        _add(out.setdefault(owners[org], [0] * len(aggregates)), numbers)
    return {bucket_id: tuple(total) for bucket_id, total in out.items()}


# The metrics read from fact_counts as they are, each under its own name
# (app/models/fact_counts.py).
FACTS = (
    "members",
    "party_members",
    "party_members_reported",
    "wish_quota_claimed",
    "check_ins",
    "approved_volunteer_minutes",
    "report_ins",
    *(f"wishes_{s}" for s in WishStatus),
    *(f"problems_{s}" for s in ProblemStatus),
    "problems_found",
    "problems_found_closed",
    "articles_submitted",
    "articles_published",
)


async def _counted(
    session: AsyncSession, buckets: Buckets, month: str
) -> dict[int, dict[str, int]]:
    """The FACTS of each bucket: the snapshot's, the month's and the year's rows of
    fact_counts of the subtree's orgs, read in one range per org; their number
    follows the orgs (and a month's tasks), not the people or the records."""
    counts = table_of(FactCount)
    total = func.sum(counts.c.n)
    statement = sa_select(counts.c.fact, total).where(
        _held(counts.c.org_id, buckets), counts.c.period.in_(["", month, month[:4]])
    )
    out: dict[int, dict[str, int]] = {}
    if len(buckets) == 1:  # a dashboard: every row read is the one bucket's
        (bucket_id,) = buckets
        rows = await session.execute(statement.group_by(counts.c.fact))
        out[bucket_id] = {fact: int(n) for fact, n in rows.all()}
        return out
    owners = _owners(buckets)
    grouped = statement.add_columns(counts.c.org_id).group_by(counts.c.org_id, counts.c.fact)
    for fact, n, org in (await session.execute(grouped)).all():
        bucket = out.setdefault(owners[org], {})
        bucket[fact] = bucket.get(fact, 0) + int(n)
    return out


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


async def _metrics(
    session: AsyncSession,
    *,
    buckets: Buckets,
    month: str,
    now: datetime,
    district_after_days: int,
) -> dict[int, DashboardMetrics]:
    if not buckets:
        return {}
    today = local(now).date()
    counts = await _counted(session, buckets, month)
    # As wishes.is_overdue: the deadline day itself is still in time. Overdue and
    # escalated depend on the hour of asking, so they are counted from the rows: the
    # few open ones, found through the (org, status) indexes.
    wishes_overdue = await _grouped(
        session,
        buckets,
        source=Wish,
        org_id=col(Wish.community_id),
        aggregates=[func.count()],
        where=[
            col(Wish.status).in_([WishStatus.open, WishStatus.claimed]),
            col(Wish.deadline) < today,
        ],
    )
    problems_due = await _grouped(
        session,
        buckets,
        source=Problem,
        org_id=col(Problem.org_id),
        aggregates=[
            _count(overdue_condition(now)),
            _count(escalation_condition(EscalationLevel.street, now, district_after_days)),
            _count(escalation_condition(EscalationLevel.district, now, district_after_days)),
        ],
        # Every condition above holds only for unresolved problems.
        where=[col(Problem.status).in_(UNRESOLVED)],
    )

    month_start, month_end = month_bounds(month)
    visits = await _grouped(
        session,
        buckets,
        source=Inspection,
        org_id=col(Inspection.org_id),
        aggregates=[func.count(), func.count(func.distinct(col(Inspection.point_id)))],
        where=[col(Inspection.visited_at) >= month_start, col(Inspection.visited_at) < month_end],
    )
    meeting = await _grouped(
        session,
        buckets,
        source=Point,
        org_id=col(Point.org_id),
        aggregates=[
            _count(col(Point.meets_standard).is_(True)),
            _count(col(Point.created_at) < month_end),
        ],
        where=[],
    )
    passed = await _points_passed(session, buckets, month_start, month_end)
    in_liaison = await _liaison_visits(session, buckets, month_start, month_end)
    assessment = await _assessment(session, buckets, month, now)
    received = await _grouped(
        session,
        buckets,
        source=Report,
        org_id=col(Report.org_id),
        aggregates=[
            func.count(),
            _count(col(Report.status) == ReportStatus.accepted),
            _count(col(Report.status) == ReportStatus.rejected),
        ],
        where=[col(Report.created_at) >= month_start, col(Report.created_at) < month_end],
    )
    credits, outstanding, redemptions = await _credits(session, buckets, month_start, month_end)

    year, mon = (int(x) for x in month.split("-"))
    quarter = (mon - 1) // 3 + 1
    q_start, q_end = articles.period_bounds(year, quarter)
    first_submitted, published_at = col(Article.first_submitted_at), col(Article.published_at)
    submitted_in = and_(first_submitted >= q_start, first_submitted < q_end)
    published_in = and_(published_at >= q_start, published_at < q_end)
    quarter_articles = await _grouped(
        session,
        buckets,
        source=Article,
        org_id=col(Article.org_id),
        aggregates=[_count(submitted_in), _count(published_in)],
        where=[or_(submitted_in, published_in)],
    )
    q_first, q_after = publicity.period_dates(year, quarter)
    placed_in = and_(col(Placement.published_on) >= q_first, col(Placement.published_on) < q_after)
    placed = await _grouped(
        session,
        buckets,
        source=Placement,
        org_id=col(Placement.org_id),
        aggregates=[
            _count(and_(col(Placement.status) == PlacementStatus.verified, placed_in)),
            _count(col(Placement.status) == PlacementStatus.pending),
        ],
        where=[
            or_(col(Placement.status) == PlacementStatus.pending, placed_in),
        ],
    )
    service = await _service_figures(session, buckets, month_start, month_end, now)
    units_and_reports = await _pairing_and_report_figures(
        session, buckets, month, month_start, month_end
    )

    out = {}
    for bucket_id in buckets:
        n = counts.get(bucket_id, {})
        q_submitted, q_published = quarter_articles.get(bucket_id, (0, 0))
        n_placed, n_pending = placed.get(bucket_id, (0, 0))
        n_visits, n_points = visits.get(bucket_id, (0, 0))
        n_received, n_accepted, n_rejected = received.get(bucket_id, (0, 0, 0))
        party, reported = n.get("party_members", 0), n.get("party_members_reported", 0)
        p_overdue, p_street, p_district = problems_due.get(bucket_id, (0, 0, 0))
        found, found_closed = n.get("problems_found", 0), n.get("problems_found_closed", 0)
        out[bucket_id] = DashboardMetrics(
            report_in_rate=_rate(reported, party),
            wishes_overdue=wishes_overdue.get(bucket_id, (0,))[0],
            wish_quota_owing=party - n.get("wish_quota_claimed", 0),
            problems_overdue=p_overdue,
            problems_escalated_street=p_street,
            problems_escalated_district=p_district,
            rectification_rate=_rate(found_closed, found),
            inspections=n_visits,
            points_inspected=n_points,
            points_meeting_standard=meeting.get(bucket_id, (0, 0))[0],
            points=meeting.get(bucket_id, (0, 0))[1],
            points_passed=passed.get(bucket_id, (0,))[0],
            points_pass_rate=_rate(
                passed.get(bucket_id, (0,))[0], meeting.get(bucket_id, (0, 0))[1]
            ),
            reports_received=n_received,
            reports_accepted=n_accepted,
            reports_rejected=n_rejected,
            liaison_visits=in_liaison.get(bucket_id, 0),
            articles_submitted_quarter=q_submitted,
            articles_published_quarter=q_published,
            placements_quarter=n_placed,
            placements_pending=n_pending,
            **service[bucket_id],
            **units_and_reports[bucket_id],
            credits_issued=credits.get(bucket_id, (0, 0))[0],
            credits_spent=credits.get(bucket_id, (0, 0))[1],
            credits_outstanding=outstanding.get(bucket_id, (0,))[0],
            redemptions=redemptions.get(bucket_id, (0, 0))[0],
            redemptions_collected=redemptions.get(bucket_id, (0, 0))[1],
            **assessment(bucket_id),
            **{fact: n.get(fact, 0) for fact in FACTS},
        )
    return out


async def _liaison_visits(
    session: AsyncSession, buckets: Buckets, month_start: datetime, month_end: datetime
) -> dict[int, int]:
    """Issue 21's leaders' visits (领导包联): the month's visits at points of the
    subtree made in liaison, i.e. by a leader in liaison (包联) with the point's org or
    an org above it, or by a member of a unit in such liaison (their unit inside the
    liaison unit's subtree), the liaison running on the visit's day; each visit once,
    however many liaisons it answers. The rule of GET /stats/inspections'
    liaison_visits, per month and per visit. Two reads: the month's visits (hundreds)
    with who made them, then the liaisons of the orgs above them (tens)."""
    held_by, home_unit = aliased(Org), aliased(Org)
    visits = (
        await session.execute(
            sa_select(
                col(Inspection.org_id),
                col(Inspection.inspector_id),
                col(Inspection.visited_at),
                col(held_by.path),
                col(home_unit.path),
            )
            .join(held_by, col(held_by.id) == col(Inspection.org_id))
            .join(User, col(User.id) == col(Inspection.inspector_id))
            .outerjoin(home_unit, col(home_unit.id) == col(User.unit_id))
            .where(
                _held(col(Inspection.org_id), buckets),
                col(Inspection.visited_at) >= month_start,
                col(Inspection.visited_at) < month_end,
            )
        )
    ).all()
    # Read even without visits: a dashboard's statements are the same whatever it holds.
    above = {i for v in visits for i in path_ids(v[3])}
    liaison_org, liaison_unit = aliased(Org), aliased(Org)
    liaisons = (
        await session.execute(
            sa_select(
                col(Liaison.user_id),
                col(liaison_unit.path),
                col(liaison_org.path),
                col(Liaison.starts_on),
                col(Liaison.ends_on),
            )
            .join(liaison_org, col(liaison_org.id) == col(Liaison.org_id))
            .outerjoin(liaison_unit, col(liaison_unit.id) == col(Liaison.unit_id))
            .where(col(Liaison.org_id).in_(above))
        )
    ).all()
    owners = _owners(buckets)
    out: dict[int, int] = {}
    for org_id, inspector, visited_at, path, unit_path in visits:
        day = local(visited_at).date()
        if any(
            starts <= day
            and (ends is None or ends >= day)
            and is_within(path, org_path)
            and (
                leader == inspector
                or (
                    leader is None
                    and unit is not None
                    and unit_path is not None
                    and is_within(unit_path, unit)
                )
            )
            for leader, unit, org_path, starts, ends in liaisons
        ):
            out[owners[org_id]] = out.get(owners[org_id], 0) + 1
    return out


async def _points_passed(
    session: AsyncSession, buckets: Buckets, month_start: datetime, month_end: datetime
) -> Counts:
    """The points whose latest visit of the month met the standard: each point's visits
    of the month numbered from the latest (by visited_at, then id, the order that
    sets `points.meets_standard`), the first kept. A month's visits of a district are
    hundreds, read through (org, visited_at)."""
    visited_at = col(Inspection.visited_at)
    latest = (
        sa_select(
            col(Inspection.org_id).label("org_id"),
            col(Inspection.meets_standard).label("meets_standard"),
            func.row_number()
            .over(
                partition_by=col(Inspection.point_id),
                order_by=(visited_at.desc(), col(Inspection.id).desc()),
            )
            .label("n"),
        )
        .where(
            _held(col(Inspection.org_id), buckets),
            visited_at >= month_start,
            visited_at < month_end,
        )
        .subquery("latest")
    )
    return await _grouped(
        session,
        buckets,
        source=latest,
        org_id=latest.c.org_id,
        aggregates=[_count(latest.c.meets_standard.is_(True))],
        where=[latest.c.n == 1],
    )


async def _service_figures(
    session: AsyncSession,
    buckets: Buckets,
    month_start: datetime,
    month_end: datetime,
    now: datetime,
) -> dict[int, dict[str, Any]]:
    """Volunteers, teams and service orders (issue 19), counted from their rows: a
    district's volunteers and orders are thousands, read through (community, status)."""
    approved = col(Volunteer.status) == VolunteerStatus.approved
    volunteers = await _grouped(
        session,
        buckets,
        source=Volunteer,
        org_id=col(Volunteer.community_id),
        aggregates=[func.count()],
        where=[approved],
    )
    teams = await _grouped(
        session, buckets, source=Team, org_id=col(Team.org_id), aggregates=[func.count()], where=[]
    )
    by_state = await _grouped(
        session,
        buckets,
        source=ServiceOrder,
        org_id=col(ServiceOrder.community_id),
        aggregates=[
            *(_count(col(ServiceOrder.status) == s) for s in OrderStatus),
            _count(order_service.overdue_condition(now)),
        ],
        where=[],
    )
    # A team's minutes, as app/services/teams.py counts them: approved hour entries
    # credited for service orders (a revoked one is rejected and out), by the month
    # they start, at the order's community; read through (org, started_at).
    order_minutes = await _grouped(
        session,
        buckets,
        source=VolunteerHour,
        org_id=col(VolunteerHour.org_id),
        aggregates=[func.coalesce(func.sum(col(VolunteerHour.minutes)), 0)],
        where=[
            col(VolunteerHour.source) == HourSource.service_order,
            col(VolunteerHour.status) == HourStatus.approved,
            col(VolunteerHour.started_at) >= month_start,
            col(VolunteerHour.started_at) < month_end,
        ],
    )
    populations: dict[int, int | None] = dict(
        (
            await session.execute(select(Org.id, Org.population).where(col(Org.id).in_(buckets)))
        ).all()
    )
    owners = _owners(buckets)
    # Active: approved volunteers with approved hours starting in the month, each once
    # per bucket however many orgs of it they served.
    active: dict[int, set[int]] = {}
    rows = await session.execute(
        sa_select(col(VolunteerHour.org_id), col(VolunteerHour.user_id))
        .where(
            _held(col(VolunteerHour.org_id), buckets),
            col(VolunteerHour.status) == HourStatus.approved,
            col(VolunteerHour.started_at) >= month_start,
            col(VolunteerHour.started_at) < month_end,
            col(VolunteerHour.user_id).in_(select(Volunteer.user_id).where(approved)),
        )
        .distinct()
    )
    for org_id, user_id in rows.all():
        active.setdefault(owners[org_id], set()).add(user_id)
    # The month's orders: time to take, completion in time, rating.
    month_orders: dict[int, list[Any]] = {}
    rows = await session.execute(
        sa_select(
            col(ServiceOrder.community_id),
            col(ServiceOrder.created_at),
            col(ServiceOrder.taken_at),
            col(ServiceOrder.completed_at),
            col(ServiceOrder.wanted_at),
            col(ServiceOrder.stars),
        ).where(
            _held(col(ServiceOrder.community_id), buckets),
            col(ServiceOrder.created_at) >= month_start,
            col(ServiceOrder.created_at) < month_end,
        )
    )
    for row in rows.all():
        month_orders.setdefault(owners[row[0]], []).append(row)
    out: dict[int, dict[str, Any]] = {}
    for bucket_id in buckets:
        n_volunteers = volunteers.get(bucket_id, (0,))[0]
        population = populations.get(bucket_id)
        orders = month_orders.get(bucket_id, [])
        hours = [(o[2] - o[1]).total_seconds() / 3600 for o in orders if o[2] is not None]
        timed = [o for o in orders if o[3] is not None and o[4] is not None]
        stars = [o[5] for o in orders if o[5] is not None]
        states = by_state.get(bucket_id, (0,) * (len(OrderStatus) + 1))
        out[bucket_id] = {
            "volunteers": n_volunteers,
            "volunteers_per_1000": (
                round(n_volunteers * 1000 / population, 2) if population else None
            ),
            "volunteers_active": len(active.get(bucket_id, ())),
            "teams": teams.get(bucket_id, (0,))[0],
            **{
                f"service_orders_{s.value}": int(v)
                for s, v in zip(OrderStatus, states[: len(OrderStatus)], strict=True)
            },
            "service_orders_overdue": int(states[len(OrderStatus)]),
            "service_order_minutes": int(order_minutes.get(bucket_id, (0,))[0]),
            "service_order_hours_to_take": round(median(hours), 2) if hours else None,
            "service_orders_on_time_rate": _rate(sum(o[3] <= o[4] for o in timed), len(timed)),
            "service_order_rating": round(sum(stars) / len(stars), 2) if stars else None,
        }
    return out


async def _pairing_and_report_figures(
    session: AsyncSession,
    buckets: Buckets,
    month: str,
    month_start: datetime,
    month_end: datetime,
) -> dict[int, dict[str, Any]]:
    """Issues 18 and 21: active pairings and their units' report-ins of the month (a
    place counts the pairings of its communities; a unit, its own: a district holding
    both counts each pairing once), and the hours residents' reports of the month
    waited to be accepted or handled."""
    levels: dict[int, OrgLevel] = dict(
        (await session.execute(select(Org.id, Org.level).where(col(Org.id).in_(buckets)))).all()
    )
    unit_buckets = {b: ids for b, ids in buckets.items() if levels.get(b) == OrgLevel.unit}
    place_buckets = {b: ids for b, ids in buckets.items() if b not in unit_buckets}
    active = col(Pairing.status) == PairingStatus.active
    pairings: Counts = {}
    paired_report_ins: Counts = {}
    for chosen, side in ((place_buckets, Pairing.community_id), (unit_buckets, Pairing.unit_id)):
        # Run even when empty: the number of queries stays that of any dashboard.
        pairings |= await _grouped(
            session,
            chosen,
            source=Pairing,
            org_id=col(side),
            aggregates=[func.count()],
            where=[active],
        )
        # Report-ins of the month to a paired community by members of the unit paired
        # with it (the rule of GET /stats/pairings: the person's own unit).
        by = col(ReportIn.community_id) if side is Pairing.community_id else col(User.unit_id)
        paired_report_ins |= await _grouped(
            session,
            chosen,
            source=sa_join(ReportIn, User, col(User.id) == col(ReportIn.user_id)).join(
                Pairing,
                and_(
                    col(Pairing.community_id) == col(ReportIn.community_id),
                    col(Pairing.unit_id) == col(User.unit_id),
                    active,
                ),
            ),
            org_id=by,
            aggregates=[func.count()],
            where=[col(ReportIn.month) == month],
        )
    owners = _owners(buckets)
    waits: dict[int, tuple[list[float], list[float]]] = {}
    rows = await session.execute(
        sa_select(
            col(Report.org_id), col(Report.status), col(Report.created_at), col(Report.handled_at)
        ).where(
            _held(col(Report.org_id), buckets),
            col(Report.created_at) >= month_start,
            col(Report.created_at) < month_end,
            col(Report.handled_at).is_not(None),
        )
    )
    for org_id, status, created_at, handled_at in rows.all():
        accepted, handled = waits.setdefault(owners[org_id], ([], []))
        assert handled_at is not None
        hours = (handled_at - created_at).total_seconds() / 3600
        handled.append(hours)
        if status == ReportStatus.accepted:
            accepted.append(hours)
    out: dict[int, dict[str, Any]] = {}
    for bucket_id in buckets:
        accepted, handled = waits.get(bucket_id, ([], []))
        out[bucket_id] = {
            "pairings_active": pairings.get(bucket_id, (0,))[0],
            "pairing_report_ins": paired_report_ins.get(bucket_id, (0,))[0],
            "report_hours_to_accept": round(median(accepted), 2) if accepted else None,
            "report_hours_to_accept_avg": (
                round(sum(accepted) / len(accepted), 2) if accepted else None
            ),
            "report_hours_to_handle": round(median(handled), 2) if handled else None,
        }
    return out


async def _credits(
    session: AsyncSession, buckets: Buckets, month_start: datetime, month_end: datetime
) -> tuple[Counts, Counts, Counts]:
    """Points (app/models/points.py) issued and spent in the month by the subtree's
    issuing accounts and shops (an entry out of an issuing account is issued, one back
    into it, a reversal, is not; likewise into and out of a shop), what they issued
    and their shops have not taken in (minus their balances: the ledger sums to zero),
    and the month's reservations at their shops."""
    source = table_of(PointsAccount).alias("source")
    target = table_of(PointsAccount).alias("target")
    amount = col(PointsEntry.amount)

    def net(kind: AccountKind) -> ColumnElement[int]:
        return func.coalesce(
            func.sum(
                case((source.c.kind == kind, amount), (target.c.kind == kind, -amount), else_=0)
            ),
            0,
        )

    flows = await _grouped(
        session,
        buckets,
        source=table_of(PointsEntry)
        .join(source, source.c.id == col(PointsEntry.from_account_id))
        .join(target, target.c.id == col(PointsEntry.to_account_id)),
        org_id=col(PointsEntry.org_id),
        aggregates=[net(AccountKind.issuing), -net(AccountKind.shop)],
        where=[col(PointsEntry.created_at) >= month_start, col(PointsEntry.created_at) < month_end],
    )
    outstanding = await _grouped(
        session,
        buckets,
        source=PointsAccount,
        org_id=col(PointsAccount.org_id),
        aggregates=[-func.coalesce(func.sum(col(PointsAccount.balance)), 0)],
        where=[col(PointsAccount.kind).in_([AccountKind.issuing, AccountKind.shop])],
    )
    redemptions = await _grouped(
        session,
        buckets,
        source=Redemption,
        org_id=col(Redemption.community_id),
        aggregates=[func.count(), _count(col(Redemption.status) == RedemptionStatus.collected)],
        where=[
            col(Redemption.reserved_at) >= month_start,
            col(Redemption.reserved_at) < month_end,
        ],
    )
    return flows, outstanding, redemptions


async def _assessment(
    session: AsyncSession, buckets: Buckets, month: str, now: datetime
) -> Callable[[int], dict[str, Any]]:
    """Assessment readiness (app/services/surveys.py, household_visits.py,
    indicators.py): each a few grouped rows, whatever the number of children."""
    start, end = month_bounds(month)
    surveys = await _grouped(
        session,
        buckets,
        source=Survey,
        org_id=col(Survey.org_id),
        aggregates=[func.count()],
        where=[col(Survey.opens_at) <= now, col(Survey.closes_at) > now],
    )
    responses = await _grouped(
        session,
        buckets,
        source=SurveyResponse,
        org_id=col(SurveyResponse.community_id),
        aggregates=[func.count()],
        where=[col(SurveyResponse.submitted_at) >= start, col(SurveyResponse.submitted_at) < end],
    )
    visits = await _grouped(
        session,
        buckets,
        source=HouseholdVisit,
        org_id=col(HouseholdVisit.community_id),
        aggregates=[
            func.count(),
            _count(col(HouseholdVisit.aware).is_(True)),
            _count(col(HouseholdVisit.satisfaction) >= SATISFIED_FROM),
            # Grouped by community (or one bucket): the communities visited.
            func.count(func.distinct(col(HouseholdVisit.community_id))),
        ],
        where=[col(HouseholdVisit.month) == month],
    )
    items = await _grouped(
        session,
        buckets,
        source=Indicator,
        org_id=col(Indicator.org_id),
        aggregates=[
            func.count(),
            _count(col(Indicator.status) == IndicatorStatus.accepted),
            _count(indicator_overdue(local(now).date())),
        ],
        where=[],
    )
    orgs = await _orgs_of(session, buckets)
    rates = await _survey_rates(session, buckets, orgs, start, min(end, now))

    def figures(bucket_id: int) -> dict[str, Any]:
        n_visits, aware, satisfied, visited = visits.get(bucket_id, (0, 0, 0, 0))
        total, accepted, overdue = items.get(bucket_id, (0, 0, 0))
        respondents, audience = rates.get(bucket_id, (0, 0))
        communities = sum(1 for i in buckets[bucket_id] if orgs[i][1] == OrgLevel.community)
        return {
            "surveys_open": surveys.get(bucket_id, (0,))[0],
            "survey_responses": responses.get(bucket_id, (0,))[0],
            "survey_respondents": respondents,
            "survey_audience": audience,
            "survey_response_rate": _rate(respondents, audience),
            "household_visits": n_visits,
            "household_communities_visited": visited,
            "household_coverage": _rate(visited, communities),
            "household_awareness_rate": _rate(aware, n_visits),
            "household_satisfaction_rate": _rate(satisfied, n_visits),
            "indicators": total,
            "indicators_accepted": accepted,
            "indicators_overdue": overdue,
        }

    return figures


async def _orgs_of(session: AsyncSession, buckets: Buckets) -> dict[int, tuple[str, OrgLevel]]:
    """The path and level of every org of the buckets' subtrees (a few hundred at most)."""
    ids = {i for ids in buckets.values() for i in ids}
    rows = await session.execute(
        sa_select(col(Org.id), col(Org.path), col(Org.level)).where(col(Org.id).in_(ids))
    )
    found = cast("list[tuple[int, str, str]]", rows.all())
    return {i: (path, OrgLevel(level)) for i, path, level in found}


async def _survey_rates(
    session: AsyncSession,
    buckets: Buckets,
    orgs: dict[int, tuple[str, OrgLevel]],
    start: datetime,
    until: datetime,
) -> dict[int, tuple[int, int]]:
    """Each bucket's (survey_respondents, survey_audience): over the surveys open at
    some time in the month (up to now) that reach its people, which are those set by
    the bucket org or an org above it (for all its people) and those set by an org
    inside it (for that org's people). Per survey, the audience is the roster of the
    part of the bucket it is for (`members`, the people counts of fact_counts; a
    survey for `everyone` is answered by residents without a roster home too, but
    those belong to no org, so they count neither above nor below the line) and the
    respondents are its responses from homes in the bucket, at any time (the
    survey's rate, as GET /stats/surveys gives it)."""
    above = {b: set(path_ids(orgs[b][0])) for b in buckets}
    candidates = set().union(*above.values()) | set(orgs)
    found = cast(
        "list[tuple[int, int]]",
        (
            await session.execute(
                sa_select(col(Survey.id), col(Survey.org_id)).where(
                    col(Survey.org_id).in_(candidates),
                    col(Survey.opens_at) < until,
                    col(Survey.closes_at) > start,
                )
            )
        ).all(),
    )
    if not found:
        return {}
    members = await _members_per_org(session, set(orgs))
    everyone = sorted(set(orgs))
    pairs = await response_pairs(session, [s for s, _ in found], everyone)
    out: dict[int, tuple[int, int]] = {}
    for b, ids in buckets.items():
        held = set(ids)
        respondents = audience = 0
        for survey_id, org_id in found:
            if org_id in above[b]:
                people = held
            elif org_id in held:
                path = orgs[org_id][0]
                people = {i for i in held if is_within(orgs[i][0], path)}
            else:
                continue
            audience += sum(members.get(i, 0) for i in people)
            respondents += in_bucket(pairs.get(survey_id, {}), people)[0]
        out[b] = (respondents, audience)
    return out


async def _buckets(session: AsyncSession, org: Org, bucket_orgs: Sequence[Org]) -> Buckets:
    """Each bucket (the org itself, or its children) with the ids of its subtree."""
    if not bucket_orgs:
        return {}
    rows = await session.execute(
        select(col(Org.id), col(Org.path)).where(path_within(col(Org.path), org.path))
    )
    subtree = cast("list[tuple[int, str]]", rows.all())
    return {
        b.id: [i for i, path in subtree if is_within(path, b.path)]
        for b in bucket_orgs
        if b.id is not None
    }


async def dashboard(
    session: AsyncSession,
    *,
    org: Org,
    month: str | None,
    district_after_days: int,
    now: datetime | None = None,
) -> Dashboard:
    now = now or utcnow()
    month = month or month_key(now)
    assert org.id is not None
    metrics = await _metrics(
        session,
        buckets=await _buckets(session, org, [org]),
        month=month,
        now=now,
        district_after_days=district_after_days,
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
    items: list[tuple[Org, DashboardMetrics]],
    sort: DashboardSort,
    order: SortOrder,
    weights: dict[ScoreMetric, float],
) -> list[DashboardRankingItem]:
    sign = -1 if order == SortOrder.desc else 1
    scored = zip(items, scoring.scores_of([m for _, m in items], weights), strict=True)
    rows = [(org, m, score) for (org, m), score in scored]

    def value(m: DashboardMetrics, score: float | None) -> float | None:
        v: float | None = score if sort == DashboardSort.score else getattr(m, sort.value)
        return v

    def key(row: tuple[Org, DashboardMetrics, float | None]) -> tuple[bool, float, str, int]:
        org, m, score = row
        v = value(m, score)
        return (v is None, sign * v if v is not None else 0.0, org.name, org.id or 0)

    out: list[DashboardRankingItem] = []
    for position, (org, m, score) in enumerate(sorted(rows, key=key), start=1):
        assert org.id is not None
        tied = bool(out) and value(out[-1], out[-1].score) == value(m, score)
        out.append(
            DashboardRankingItem(
                rank=out[-1].rank if tied else position,
                org_id=org.id,
                org_name=org.name,
                org_level=org.level,
                score=score,
                **m.model_dump(),
            )
        )
    return out


async def ranking(
    session: AsyncSession,
    *,
    org: Org,
    month: str | None,
    sort: DashboardSort,
    order: SortOrder,
    district_after_days: int,
    now: datetime | None = None,
) -> DashboardRanking:
    now = now or utcnow()
    month = month or month_key(now)
    assert org.id is not None
    children = list((await session.execute(select(Org).where(Org.parent_id == org.id))).scalars())
    metrics = await _metrics(
        session,
        buckets=await _buckets(session, org, children),
        month=month,
        now=now,
        district_after_days=district_after_days,
    )
    _, weights = await scoring.weights_in_force(
        session, scoring.district_of(org), month_bounds(month)[1]
    )
    return DashboardRanking(
        org_id=org.id,
        org_name=org.name,
        month=month,
        as_of=now,
        sort=sort,
        order=order,
        items=[
            item
            for group in _kinds(children)
            for item in _ranked([(c, metrics[c.id or 0]) for c in group], sort, order, weights)
        ],
    )


async def scores(
    session: AsyncSession,
    *,
    org: Org,
    month: str | None,
    district_after_days: int,
    now: datetime | None = None,
) -> ScoreTable:
    """The monthly score table of `org`'s children (GET /stats/scores): the ranking's
    figures of the month and of the month before, weighed by app/services/scoring.py."""
    now = now or utcnow()
    month = month or month_key(now)
    assert org.id is not None
    version, weights = await scoring.weights_in_force(
        session, scoring.district_of(org), month_bounds(month)[1]
    )
    children = list((await session.execute(select(Org).where(Org.parent_id == org.id))).scalars())
    buckets = await _buckets(session, org, children)
    figures = [
        await _metrics(
            session, buckets=buckets, month=m, now=now, district_after_days=district_after_days
        )
        for m in (month, previous_month(month))
    ]
    return ScoreTable(
        org_id=org.id,
        org_name=org.name,
        month=month,
        version=version,
        weights=weights,
        items=[
            row
            for group in _kinds(children)
            for row in scoring.score_rows(
                [(c, figures[0][c.id or 0], figures[1][c.id or 0]) for c in group], weights
            )
        ],
    )


def _kinds(children: Sequence[Org]) -> list[list[Org]]:
    """Units are ranked among units, never among streets or communities: an organ's
    party members and a community's residents are not the same measure. Places
    first, then units, each group ranked on its own."""
    places = [c for c in children if c.level != OrgLevel.unit]
    units = [c for c in children if c.level == OrgLevel.unit]
    return [group for group in (places, units) if group]


async def subtrees(session: AsyncSession, org: Org, bucket_orgs: Sequence[Org]) -> Buckets:
    """Each of `bucket_orgs` (the org itself or its children) with the ids of its
    subtree: for other domains' figures per child org (assessment)."""
    return await _buckets(session, org, bucket_orgs)


async def members_of_buckets(session: AsyncSession, buckets: Buckets) -> dict[int, int]:
    """The `members` figure of each bucket, as the dashboard counts it (fact_counts):
    the denominator of other domains' response and coverage rates. The buckets may
    overlap (an org and its children): each org's count is read once and added up
    per bucket here."""
    per_org = await _members_per_org(session, {i for ids in buckets.values() for i in ids})
    return {b: sum(per_org.get(i, 0) for i in ids) for b, ids in buckets.items()}


async def _members_per_org(session: AsyncSession, ids: set[int]) -> dict[int, int]:
    """fact_counts' `members` of each org (its +1s and the -1 of the pairs it holds:
    summed over any subtree they give its members, each person once)."""
    if not ids:
        return {}
    counts = table_of(FactCount)
    rows = await session.execute(
        sa_select(counts.c.org_id, func.sum(counts.c.n))
        .where(counts.c.org_id.in_(ids), counts.c.period == "", counts.c.fact == "members")
        .group_by(counts.c.org_id)
    )
    return {org_id: int(n) for org_id, n in rows.all()}


def held_by_homes(ids: Sequence[int]) -> ColumnElement[bool]:
    """A response whose respondent's home (community or unit) lies among `ids`: the
    rule the roster's `members` count by, so a rate's parts are of the same people."""
    return or_(col(SurveyResponse.community_id).in_(ids), col(SurveyResponse.unit_id).in_(ids))


HomePairs = dict[tuple[int | None, int | None], Sequence[int | None]]


async def response_pairs(
    session: AsyncSession, survey_ids: Sequence[int], ids: Sequence[int]
) -> dict[int, HomePairs]:
    """Per survey, its responses from homes among `ids` counted per home pair
    (community, unit): responses, the sum of their scores, scored responses. A few
    rows a survey (its respondents' home pairs), whatever the number of responses;
    each bucket adds up the pairs it holds (`in_bucket`)."""
    if not survey_ids or not ids:
        return {}
    community, unit = col(SurveyResponse.community_id), col(SurveyResponse.unit_id)
    rows = await session.execute(
        sa_select(
            col(SurveyResponse.survey_id),
            community,
            unit,
            func.count(),
            func.coalesce(func.sum(col(SurveyResponse.score)), 0),
            func.count(col(SurveyResponse.score)),
        )
        .where(col(SurveyResponse.survey_id).in_(survey_ids), held_by_homes(ids))
        .group_by(col(SurveyResponse.survey_id), community, unit)
    )
    out: dict[int, HomePairs] = {}
    for survey_id, c, u, *numbers in rows.all():
        out.setdefault(survey_id, {})[(c, u)] = numbers
    return out


def in_bucket(pairs: HomePairs, ids: set[int]) -> list[int]:
    """The sums of the pairs with their community or unit in `ids` (each pair once)."""
    total = [0, 0, 0]
    for (c, u), numbers in pairs.items():
        if c in ids or u in ids:
            for i, n in enumerate(numbers):
                total[i] += int(n or 0)
    return total


async def credits_of_buckets(
    session: AsyncSession, buckets: Buckets, month: str
) -> dict[int, tuple[int, int, int]]:
    """Each bucket's credits_issued, credits_spent (in the month) and
    credits_outstanding (now), exactly as the dashboard counts them: GET /stats/points."""
    start, end = month_bounds(month)
    flows, outstanding, _ = await _credits(session, buckets, start, end)
    out = {}
    for b in buckets:
        issued, spent = flows.get(b, (0, 0))
        out[b] = (int(issued), int(spent), int(outstanding.get(b, (0,))[0]))
    return out
