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
  a unit's subtree for a unit (kept in fact_counts); pairing_report_ins: the month's
  report-ins to a paired community by members of the unit actively paired with it.

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
  Kept in fact_counts beside approved_volunteer_minutes.

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

Both endpoints run the same statements however many children there are (the subtree,
then one statement of every figure, `_statement`; two more for the surveys' rates when
one was open), each part bucketing what it reads by the org whose subtree holds it:
the org itself for GET /dashboard, each child for GET /dashboard/children.
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

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from statistics import median
from typing import Any, NamedTuple

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Date,
    Float,
    String,
    and_,
    bindparam,
    case,
    cast,
    extract,
    func,
    literal_column,
    null,
    or_,
    union_all,
)
from sqlalchemy import join as sa_join
from sqlalchemy import select as sa_select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col

from app.core.db import Statement, dialect_of, ids_in, ids_value, table_of, utcnow
from app.core.scope import is_within, path_between, path_ids, path_upper_bound
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
from app.models.org import ALLOWED_PARENT_LEVELS, Org, OrgLevel
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
from app.models.volunteer_hours import HourStatus, VolunteerHour
from app.models.wish import Wish, WishStatus
from app.services import articles, publicity, scoring
from app.services import service_orders as order_service
from app.services.problems import escalation_at, overdue_condition

# Each bucket org with the ids of every org in its subtree (itself included).
Buckets = dict[int, list[int]]
# The values of each part of the figures' statement, per bucket: the aggregates added
# up over the bucket's orgs, or (a part of rows) the rows read.
Figures = dict[str, dict[int, list[Any]]]


def _count(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.count(case((condition, 1)))


def _owners(buckets: Buckets) -> dict[int, int]:
    """Each org of the subtrees -> its bucket. Rankings group rows by org in SQL and
    add the orgs up per bucket here: a CASE over the buckets' ids evaluated on every
    row cost PostgreSQL twice the time of the grouping itself (42,000 check-ins of a
    district's month: 23 ms against 7-10)."""
    return {org_id: bucket_id for bucket_id, ids in buckets.items() for org_id in ids}


def _hours(later: Any, earlier: Any, dialect: Dialect) -> ColumnElement[Any]:
    """Hours from `earlier` to `later`, in SQL (a median is taken of them in Python)."""
    if dialect.name == "postgresql":
        return extract("epoch", later - earlier) / 3600
    return (func.julianday(later) - func.julianday(earlier)) * 24


def _shanghai_day(instant: Any, dialect: Dialect) -> ColumnElement[Any]:
    """The Asia/Shanghai calendar day of a UTC instant, in SQL (`local(x).date()`).
    SQLite keeps UTC instants as text: Shanghai is UTC+8 all year (no summer time
    since 1991), so eight hours on give its day."""
    if dialect.name == "postgresql":
        return cast(func.timezone("Asia/Shanghai", instant), Date)
    return func.date(instant, "+8 hours")


def _within(path: Any, prefix: Any) -> ColumnElement[bool]:
    """Path `path` lies in the subtree of path `prefix` (`is_within`), both columns."""
    return func.substr(path, 1, func.length(prefix)) == prefix


@dataclass(frozen=True)
class _Part:
    """One group of figures in the figures' statement: aggregates of `source` rows
    (one row per org holding them, or one row for a dashboard), or the rows themselves
    (`rows`: what a median or a distinct count per bucket is taken of in Python).
    `org` names the org holding a row; `by`, a column naming the figure (fact_counts'
    facts: one part, many figures)."""

    values: tuple[Any, ...]
    source: Any
    org: Any
    where: tuple[Any, ...] = ()
    rows: bool = False
    by: Any = None
    # The parameter naming the orgs read: every org of the buckets, or only those of
    # the buckets of places (`place_ids`) or of units (`unit_ids`), where the two count
    # by different rules, or the buckets' orgs and every org above them (`above`).
    ids: str = "ids"
    # Rows kept by the org holding them, not by bucket (orgs above the buckets hold
    # some): what the buckets make of them is worked out in Python.
    by_org: bool = False


def _parts(dialect: Dialect, grouped: bool) -> dict[str, _Part]:
    """Every figure of a dashboard that is read with a statement, by the rules in the
    module's docstring, with the hour and month as parameters (`_params`)."""
    p = bindparam
    month_start: Any = p("month_start")
    month_end: Any = p("month_end")
    now: Any = p("now")
    counts = table_of(FactCount)
    latest = (  # each point's visits of the month, numbered from the latest
        sa_select(
            col(Inspection.org_id).label("org_id"),
            col(Inspection.meets_standard).label("meets_standard"),
            func.row_number()
            .over(
                partition_by=col(Inspection.point_id),
                order_by=(col(Inspection.visited_at).desc(), col(Inspection.id).desc()),
            )
            .label("n"),
        )
        .where(
            ids_in(col(Inspection.org_id), "ids", dialect),
            col(Inspection.visited_at) >= month_start,
            col(Inspection.visited_at) < month_end,
        )
        .subquery("latest")
    )
    submitted_in = and_(
        col(Article.first_submitted_at) >= p("q_start"),
        col(Article.first_submitted_at) < p("q_end"),
    )
    published_in = and_(
        col(Article.published_at) >= p("q_start"), col(Article.published_at) < p("q_end")
    )
    placed_in = and_(
        col(Placement.published_on) >= p("q_first"), col(Placement.published_on) < p("q_after")
    )
    source, target = (
        table_of(PointsAccount).alias("source"),
        table_of(PointsAccount).alias("target"),
    )
    amount = col(PointsEntry.amount)

    def net(kind: AccountKind) -> ColumnElement[int]:
        return func.coalesce(
            func.sum(
                case((source.c.kind == kind, amount), (target.c.kind == kind, -amount), else_=0)
            ),
            0,
        )

    approved = col(Volunteer.status) == VolunteerStatus.approved
    hours_of_month = (
        col(VolunteerHour.status) == HourStatus.approved,
        col(VolunteerHour.started_at) >= month_start,
        col(VolunteerHour.started_at) < month_end,
    )
    active_volunteer = col(VolunteerHour.user_id).in_(
        sa_select(col(Volunteer.user_id)).where(approved)
    )
    active = (
        sa_select(col(VolunteerHour.org_id), col(VolunteerHour.user_id))
        .where(ids_in(col(VolunteerHour.org_id), "ids", dialect), *hours_of_month, active_volunteer)
        .distinct()
        .subquery("active")
    )
    active_pairing = col(Pairing.status) == PairingStatus.active
    # Issue 21's leaders' visits (领导包联): the month's visits at points of the subtree
    # made in liaison, i.e. by a leader in liaison (包联) with the point's org or an org
    # above it, or by a member of a unit in such liaison (their unit inside the
    # liaison unit's subtree), the liaison running on the visit's (Shanghai) day; each
    # visit once, however many liaisons it answers. The rule of GET /stats/inspections'
    # liaison_visits, per month and per visit. The liaisons read are those of the
    # buckets' orgs and of the orgs above them (`above`): a visit's org lies in a
    # bucket, so every liaison it could answer to is among them (tens).
    held_by, home_unit = aliased(Org), aliased(Org)
    liaison_org, liaison_unit = aliased(Org), aliased(Org)
    day = _shanghai_day(col(Inspection.visited_at), dialect)
    in_liaison = (
        sa_select(col(Liaison.id))
        .select_from(
            sa_join(Liaison, liaison_org, col(liaison_org.id) == col(Liaison.org_id)).outerjoin(
                liaison_unit, col(liaison_unit.id) == col(Liaison.unit_id)
            )
        )
        .where(
            ids_in(col(Liaison.org_id), "above", dialect),
            col(Liaison.starts_on) <= day,
            or_(col(Liaison.ends_on).is_(None), col(Liaison.ends_on) >= day),
            _within(col(held_by.path), col(liaison_org.path)),
            or_(
                col(Liaison.user_id) == col(Inspection.inspector_id),
                and_(
                    col(Liaison.user_id).is_(None),
                    _within(col(home_unit.path), col(liaison_unit.path)),
                ),
            ),
        )
        .exists()
    )

    def paired_report_ins(side: str) -> _Part:
        """Report-ins of the month to a paired community by members of the unit paired
        with it, for the buckets of `side` (place: by the pairing's community; unit: by
        its unit). The subtree's active pairings (tens) give two sets read from indexes
        alone: each paired community's report-ins of the month (community, month,
        user) and each paired unit's members (unit, ...); a hash join of the two keeps
        the pairs whose reporter is of the paired unit. Both are fenced (OFFSET 0) so
        that the planner does not probe the members one by one instead (a district's
        1,102 members of 20 paired units, each probe reading a report-in row: 5 ms; now
        about 0.5). At most one active pairing per unit and community
        (uq_pairings_active), so each report-in is counted once."""
        ids = f"{side}_ids"
        held = col(Pairing.community_id) if side == "place" else col(Pairing.unit_id)
        of_side = (ids_in(held, ids, dialect), active_pairing)
        reported = (
            sa_select(
                col(Pairing.community_id).label("community_id"),
                col(Pairing.unit_id).label("unit_id"),
                col(ReportIn.user_id).label("user_id"),
            )
            .select_from(
                sa_join(
                    Pairing,
                    ReportIn,
                    and_(
                        col(ReportIn.community_id) == col(Pairing.community_id),
                        col(ReportIn.month) == p("month"),
                    ),
                )
            )
            .where(*of_side)
            .offset(0)
            .subquery(f"paired_reports_{side}")
        )
        members = (
            sa_select(col(Pairing.unit_id).label("unit_id"), col(User.id).label("user_id"))
            .select_from(sa_join(Pairing, User, col(User.unit_id) == col(Pairing.unit_id)))
            .where(*of_side)
            .offset(0)
            .subquery(f"paired_members_{side}")
        )
        return _Part(
            (func.count(),),
            reported.join(
                members,
                and_(
                    members.c.user_id == reported.c.user_id,
                    members.c.unit_id == reported.c.unit_id,
                ),
            ),
            reported.c.community_id if side == "place" else reported.c.unit_id,
            ids=ids,
        )

    return {
        "facts": _Part(
            (func.sum(counts.c.n),),
            counts,
            counts.c.org_id,
            (counts.c.period.in_([p("snapshot"), p("month"), p("year")]),),
            by=counts.c.fact,
        ),
        # As wishes.is_overdue: the deadline day itself is still in time. Overdue and
        # escalated depend on the hour of asking, so they are counted from the rows:
        # the few unresolved ones, through the (org, status, deadline) indexes.
        "wishes_overdue": _Part(
            (func.count(),),
            Wish,
            col(Wish.community_id),
            (
                col(Wish.status).in_([WishStatus.open, WishStatus.claimed]),
                col(Wish.deadline) < p("today"),
            ),
        ),
        "problems_due": _Part(
            (
                _count(overdue_condition(now)),
                _count(escalation_at(EscalationLevel.street, now, p("district_from"))),
                _count(escalation_at(EscalationLevel.district, now, p("district_from"))),
            ),
            Problem,
            col(Problem.org_id),
            # Every condition above holds only for unresolved problems.
            (col(Problem.status).in_(UNRESOLVED),),
        ),
        "visits": _Part(
            (func.count(), func.count(func.distinct(col(Inspection.point_id)))),
            Inspection,
            col(Inspection.org_id),
            (col(Inspection.visited_at) >= month_start, col(Inspection.visited_at) < month_end),
        ),
        "points": _Part(
            (
                _count(col(Point.meets_standard).is_(True)),
                _count(col(Point.created_at) < month_end),
            ),
            Point,
            col(Point.org_id),
        ),
        # The points whose latest visit of the month (by visited_at, then id, the order
        # that sets `points.meets_standard`) met the standard.
        "points_passed": _Part(
            (_count(latest.c.meets_standard.is_(True)),),
            latest,
            latest.c.org_id,
            (latest.c.n == 1,),
        ),
        "reports": _Part(
            (
                func.count(),
                _count(col(Report.status) == ReportStatus.accepted),
                _count(col(Report.status) == ReportStatus.rejected),
            ),
            Report,
            col(Report.org_id),
            (col(Report.created_at) >= month_start, col(Report.created_at) < month_end),
        ),
        # Hours from report to handling, of the month's reports handled by now.
        "report_waits": _Part(
            (
                _hours(col(Report.handled_at), col(Report.created_at), dialect),
                case((col(Report.status) == ReportStatus.accepted, 1), else_=0),
            ),
            Report,
            col(Report.org_id),
            (
                col(Report.created_at) >= month_start,
                col(Report.created_at) < month_end,
                col(Report.handled_at).is_not(None),
            ),
            rows=True,
        ),
        # An entry out of an issuing account is issued, one back into it (a
        # reversal) is not; likewise into and out of a shop.
        "credits_flows": _Part(
            (net(AccountKind.issuing), -net(AccountKind.shop)),
            table_of(PointsEntry)
            .join(source, source.c.id == col(PointsEntry.from_account_id))
            .join(target, target.c.id == col(PointsEntry.to_account_id)),
            col(PointsEntry.org_id),
            (col(PointsEntry.created_at) >= month_start, col(PointsEntry.created_at) < month_end),
        ),
        # What the accounts issued and the shops have not taken in: minus their
        # balances (the ledger sums to zero).
        "credits_outstanding": _Part(
            (-func.coalesce(func.sum(col(PointsAccount.balance)), 0),),
            PointsAccount,
            col(PointsAccount.org_id),
            (col(PointsAccount.kind).in_([AccountKind.issuing, AccountKind.shop]),),
        ),
        "redemptions": _Part(
            (func.count(), _count(col(Redemption.status) == RedemptionStatus.collected)),
            Redemption,
            col(Redemption.community_id),
            (col(Redemption.reserved_at) >= month_start, col(Redemption.reserved_at) < month_end),
        ),
        "articles_quarter": _Part(
            (_count(submitted_in), _count(published_in)),
            Article,
            col(Article.org_id),
            (or_(submitted_in, published_in),),
        ),
        "placements": _Part(
            (
                _count(and_(col(Placement.status) == PlacementStatus.verified, placed_in)),
                _count(col(Placement.status) == PlacementStatus.pending),
            ),
            Placement,
            col(Placement.org_id),
            (or_(col(Placement.status) == PlacementStatus.pending, placed_in),),
        ),
        "volunteers": _Part((func.count(),), Volunteer, col(Volunteer.community_id), (approved,)),
        "teams": _Part((func.count(),), Team, col(Team.org_id)),
        "orders": _Part(
            (
                *(_count(col(ServiceOrder.status) == s) for s in OrderStatus),
                _count(order_service.overdue_at(now, p("accept_before"))),
            ),
            ServiceOrder,
            col(ServiceOrder.community_id),
        ),
        # Approved volunteers with approved hours starting in the month, each once per
        # bucket however many of its orgs they served: counted in SQL for one bucket,
        # as (org, person) rows for a ranking.
        "volunteers_active": (
            _Part((active.c.user_id,), active, active.c.org_id, rows=True)
            if grouped
            else _Part(
                (func.count(func.distinct(col(VolunteerHour.user_id))),),
                VolunteerHour,
                col(VolunteerHour.org_id),
                (*hours_of_month, active_volunteer),
            )
        ),
        # The month's orders: time to take, completion in time, rating.
        "orders_month": _Part(
            (
                _hours(col(ServiceOrder.taken_at), col(ServiceOrder.created_at), dialect),
                case(
                    (
                        and_(
                            col(ServiceOrder.completed_at).is_not(None),
                            col(ServiceOrder.wanted_at).is_not(None),
                        ),
                        case(
                            (col(ServiceOrder.completed_at) <= col(ServiceOrder.wanted_at), 1),
                            else_=0,
                        ),
                    ),
                ),
                col(ServiceOrder.stars),
            ),
            ServiceOrder,
            col(ServiceOrder.community_id),
            (col(ServiceOrder.created_at) >= month_start, col(ServiceOrder.created_at) < month_end),
            rows=True,
        ),
        # Report-ins of the month to a paired community by members of the unit paired
        # with it (the rule of GET /stats/pairings: the person's own unit).
        "paired_report_ins_place": paired_report_ins("place"),
        "paired_report_ins_unit": paired_report_ins("unit"),
        "liaison_visits": _Part(
            (func.count(),),
            sa_join(Inspection, held_by, col(held_by.id) == col(Inspection.org_id))
            .join(User, col(User.id) == col(Inspection.inspector_id))
            .outerjoin(home_unit, col(home_unit.id) == col(User.unit_id)),
            col(Inspection.org_id),
            (
                col(Inspection.visited_at) >= month_start,
                col(Inspection.visited_at) < month_end,
                in_liaison,
            ),
        ),
        # The surveys open at some time in the month (up to now) set by the buckets'
        # orgs or an org above them (`_survey_rates`): kept by the org setting them.
        "surveys_of_month": _Part(
            (col(Survey.id),),
            Survey,
            col(Survey.org_id),
            (col(Survey.opens_at) < p("until"), col(Survey.closes_at) > month_start),
            rows=True,
            ids="above",
            by_org=True,
        ),
        "surveys_open": _Part(
            (func.count(),),
            Survey,
            col(Survey.org_id),
            (col(Survey.opens_at) <= now, col(Survey.closes_at) > now),
        ),
        "survey_responses": _Part(
            (func.count(),),
            SurveyResponse,
            col(SurveyResponse.community_id),
            (
                col(SurveyResponse.submitted_at) >= month_start,
                col(SurveyResponse.submitted_at) < month_end,
            ),
        ),
        "household_visits": _Part(
            (
                func.count(),
                _count(col(HouseholdVisit.aware).is_(True)),
                _count(col(HouseholdVisit.satisfaction) >= SATISFIED_FROM),
                # Grouped by community (or one bucket): the communities visited.
                func.count(func.distinct(col(HouseholdVisit.community_id))),
            ),
            HouseholdVisit,
            col(HouseholdVisit.community_id),
            (col(HouseholdVisit.month) == p("month"),),
        ),
        "indicators": _Part(
            (
                func.count(),
                _count(col(Indicator.status) == IndicatorStatus.accepted),
                _count(indicator_overdue(p("today"))),
            ),
            Indicator,
            col(Indicator.org_id),
        ),
    }


# The widest part's number of values: every part's row is padded to it.
_WIDTH = 9
# A bucket's values of a part that brought back no row for it.
_ZEROS = (0,) * _WIDTH
_Built = tuple["Statement", frozenset[str], frozenset[str], dict[str, int]]
_STATEMENTS: dict[tuple[str, bool, tuple[str, ...]], _Built] = {}


def _statement(dialect: Dialect, grouped: bool, names: tuple[str, ...]) -> _Built:
    """The parts `names` as one statement (UNION ALL): one round trip and, built and
    compiled once per database and shape, none of the ~1 ms of Python a statement
    built per request costs. Each row: the part's (or fact's) name, the org holding
    it (null for a dashboard's one bucket), its values padded to `_WIDTH`."""
    key = (dialect.name, grouped, names)
    if key in _STATEMENTS:
        return _STATEMENTS[key]
    parts = _parts(dialect, grouped)
    selects: list[Any] = []
    summed: list[Any] = []
    for name in names:
        part = parts[name]
        assert len(part.values) <= _WIDTH, name
        tag = part.by if part.by is not None else literal_column(f"'{name}'")
        org = part.org if grouped or part.rows else null()
        values = [cast(v, Float) for v in part.values]
        values += [cast(null(), Float)] * (_WIDTH - len(values))
        select_ = (
            sa_select(
                tag.label("tag"),
                cast(org, BigInteger).label("org"),
                *(v.label(f"v{i}") for i, v in enumerate(values)),
            )
            .select_from(part.source)
            .where(ids_in(part.org, part.ids, dialect), *part.where)
        )
        if not part.rows:
            keys = [c for c in (part.by, part.org if grouped else None) if c is not None]
            if keys:
                select_ = select_.group_by(*keys)
        (summed if grouped and not part.rows else selects).append(select_)
    if summed:
        # A ranking's rows of orgs added up per bucket in SQL: a row per part (fact)
        # and child, not per part and org (a district: ~900 rows → ~240, each a row to
        # decode and a turn of `_figures`' loop). The parts are read first, as they
        # are for a dashboard (OFFSET 0: joined to the owners directly, fact_counts
        # was read org by org without its period, ten times the pages).
        of_org = union_all(*summed).offset(0).subquery("of_org")
        owners = _owners_table(dialect)
        selects.insert(
            0,
            sa_select(
                of_org.c.tag,
                cast(owners.c.bucket, BigInteger).label("org"),
                *(func.sum(of_org.c[f"v{i}"]).label(f"v{i}") for i in range(_WIDTH)),
            )
            .select_from(sa_join(of_org, owners, owners.c.org == of_org.c.org))
            .group_by(of_org.c.tag, owners.c.bucket),
        )
    built = (
        # Planned once per connection: a custom plan for each call's values cost more
        # than running it (27 parts: ~2.5 ms planning against ~1 ms running for a
        # community), and no part's plan depends on the values (index ranges per org).
        Statement(union_all(*selects) if len(selects) > 1 else selects[0], generic_plan=True),
        frozenset(n for n in names if parts[n].rows),
        frozenset(n for n in names if parts[n].by_org),
        {n: len(parts[n].values) for n in names if parts[n].by is None},
    )
    _STATEMENTS[key] = built
    return built


def _owners_table(dialect: Dialect) -> Any:
    """Each org of a ranking's buckets with its bucket, (org, bucket), from the
    parameters `_owners_params` gives: two arrays on PostgreSQL, a JSON object on
    SQLite."""
    if dialect.name == "postgresql":
        pairs = func.unnest(
            bindparam("owner_orgs", type_=ARRAY(BigInteger)),
            bindparam("owner_buckets", type_=ARRAY(BigInteger)),
        ).table_valued("org", "bucket")
        return pairs.render_derived(name="owners")
    listed = func.json_each(bindparam("owners", type_=String)).table_valued("key", "value")
    table = listed.alias("owners")
    return sa_select(
        cast(table.c.key, BigInteger).label("org"), cast(table.c.value, BigInteger).label("bucket")
    ).subquery("owners")


def _owners_params(buckets: Buckets, dialect: Dialect) -> dict[str, Any]:
    owners = _owners(buckets)
    if dialect.name == "postgresql":
        return {"owner_orgs": list(owners), "owner_buckets": list(owners.values())}
    return {"owners": json.dumps({str(k): v for k, v in owners.items()})}


_ACCEPT_BEFORE: dict[date, datetime] = {}


def _accept_before(now: datetime) -> datetime:
    """`accept_overdue_before(now)`, which depends only on today's (Shanghai) date: kept
    per day, as stepping back over the holiday calendar cost ~0.5 ms of CPU, a sixth
    of a community's dashboard."""
    today = local(now).date()
    if today not in _ACCEPT_BEFORE:
        if len(_ACCEPT_BEFORE) > 7:
            _ACCEPT_BEFORE.clear()
        _ACCEPT_BEFORE[today] = order_service.accept_overdue_before(now)
    return _ACCEPT_BEFORE[today]


def _params(
    buckets: Buckets,
    orgs: dict[int, _OrgRow],
    month: str,
    now: datetime,
    district_after_days: int,
) -> dict[str, Any]:
    month_start, month_end = month_bounds(month)
    year, mon = (int(x) for x in month.split("-"))
    quarter = (mon - 1) // 3 + 1
    q_start, q_end = articles.period_bounds(year, quarter)
    q_first, q_after = publicity.period_dates(year, quarter)
    units = {b for b in buckets if orgs[b].level == OrgLevel.unit}
    ids = [i for ids in buckets.values() for i in ids]
    return {
        "ids": ids,
        "above": {i for b in buckets for i in path_ids(orgs[b].path)} | set(ids),
        "place_ids": [i for b, ids in buckets.items() if b not in units for i in ids],
        "unit_ids": [i for b, ids in buckets.items() if b in units for i in ids],
        "month": month,
        "year": month[:4],
        "snapshot": "",
        "month_start": month_start,
        "month_end": month_end,
        "now": now,
        "until": min(month_end, now),
        "today": local(now).date(),
        "district_from": now - timedelta(days=district_after_days),
        "accept_before": _accept_before(now),
        "q_start": q_start,
        "q_end": q_end,
        "q_first": q_first,
        "q_after": q_after,
    }


async def _figures(
    session: AsyncSession, buckets: Buckets, names: tuple[str, ...], params: dict[str, Any]
) -> Figures:
    """The parts `names` of each bucket: aggregates added up over its orgs, or its rows."""
    dialect = dialect_of(session)
    grouped = len(buckets) > 1
    statement, of_rows, by_org, widths = _statement(dialect, grouped, names)
    lists = ("ids", "place_ids", "unit_ids", "above")
    listed: dict[str, Any] = {k: ids_value(params[k], dialect) for k in lists if k in params}
    if grouped:
        listed |= _owners_params(buckets, dialect)
    rows = await statement.tuples(session, {**params, **listed})
    owners = _owners(buckets)
    (only, *_) = buckets
    out: Figures = {}
    # A ranking brings back a row per part and org (a district's: ~900), so this loop
    # is written for speed: no list made per row unless it is kept.
    for row in rows:
        tag, org = row[0], row[1]
        if tag in by_org:
            out.setdefault(tag, {}).setdefault(org, []).append(row[2:])
            continue
        bucket = only if org is None else owners[org]
        per_bucket = out.get(tag)
        if per_bucket is None:
            per_bucket = out[tag] = {}
        if tag in of_rows:  # kept as read
            per_bucket.setdefault(bucket, []).append(row[2:])
            continue
        total = per_bucket.get(bucket)
        if total is None:
            total = per_bucket[bucket] = [0] * _WIDTH
        for i in range(widths.get(tag, 1)):  # a fact is one number
            value = row[2 + i]
            if value is not None:
                total[i] += int(value)
    return out


FIGURE_PARTS = (
    "facts",
    "wishes_overdue",
    "problems_due",
    "visits",
    "points",
    "points_passed",
    "reports",
    "report_waits",
    "credits_flows",
    "credits_outstanding",
    "redemptions",
    "articles_quarter",
    "placements",
    "volunteers",
    "teams",
    "orders",
    "volunteers_active",
    "orders_month",
    "paired_report_ins_place",
    "paired_report_ins_unit",
    "liaison_visits",
    "surveys_of_month",
    "surveys_open",
    "survey_responses",
    "household_visits",
    "indicators",
)
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
    "service_order_minutes",
)
# Kept in fact_counts too, and taken by each bucket by the side of its level: a
# place's pairings are those of its communities, a unit's its own.
PAIRINGS = {"place": "pairings_active", "unit": "unit_pairings_active"}


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _median(values: list[float]) -> float | None:
    return round(median(values), 2) if values else None


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 2) if values else None


async def _metrics(
    session: AsyncSession,
    *,
    buckets: Buckets,
    orgs: dict[int, _OrgRow],
    month: str,
    now: datetime,
    district_after_days: int,
) -> dict[int, dict[str, Any]]:
    """The figures of each bucket, by DashboardMetrics' field names: one statement for
    every count and sum (and the surveys of the month), two more for the surveys'
    response rates when any was open. `orgs`: the subtree rows (`_SUBTREE`) of every
    org of the buckets. Plain values, so that each answer validates them once, in the
    model it returns (a DashboardMetrics of ~100 fields built, dumped and validated
    again as the answer cost ~0.4 ms a bucket: 14 of them a district's ranking)."""
    if not buckets:
        return {}
    params = _params(buckets, orgs, month, now, district_after_days)
    figures = await _figures(session, buckets, FIGURE_PARTS, params)
    surveys = [
        (int(values[0]), org_id)
        for org_id, rows in figures.get("surveys_of_month", {}).items()
        for values in rows
    ]
    rates = await _survey_rates(session, buckets, orgs, surveys)

    def of(name: str, bucket_id: int) -> Sequence[int]:
        return figures.get(name, {}).get(bucket_id, _ZEROS)

    out: dict[int, dict[str, Any]] = {}
    for bucket_id in buckets:
        n = {fact: of(fact, bucket_id)[0] for fact in FACTS}
        party, reported = n["party_members"], n["party_members_reported"]
        n_visits, n_points = of("visits", bucket_id)[:2]
        meeting, points = of("points", bucket_id)[:2]
        passed = of("points_passed", bucket_id)[0]
        n_received, n_accepted, n_rejected = of("reports", bucket_id)[:3]
        waits = figures.get("report_waits", {}).get(bucket_id, [])
        handled = [float(w[0]) for w in waits]
        accepted = [float(w[0]) for w in waits if w[1]]
        issued, spent = of("credits_flows", bucket_id)[:2]
        unit = orgs[bucket_id].level == OrgLevel.unit
        side = "unit" if unit else "place"
        volunteers = of("volunteers", bucket_id)[0]
        population = orgs[bucket_id].population
        if len(buckets) > 1:
            active = len({r[0] for r in figures.get("volunteers_active", {}).get(bucket_id, [])})
        else:
            active = of("volunteers_active", bucket_id)[0]
        states = of("orders", bucket_id)
        orders = figures.get("orders_month", {}).get(bucket_id, [])
        taken = [float(o[0]) for o in orders if o[0] is not None]
        timed = [o[1] for o in orders if o[1] is not None]
        stars = [float(o[2]) for o in orders if o[2] is not None]
        h_visits, aware, satisfied, visited = of("household_visits", bucket_id)[:4]
        indicators, indicators_accepted, indicators_overdue = of("indicators", bucket_id)[:3]
        communities = sum(1 for i in buckets[bucket_id] if orgs[i].level == OrgLevel.community)
        respondents, audience = rates.get(bucket_id, (0, 0))
        p_overdue, p_street, p_district = of("problems_due", bucket_id)[:3]
        found, found_closed = n["problems_found"], n["problems_found_closed"]
        q_submitted, q_published = of("articles_quarter", bucket_id)[:2]
        n_placed, n_pending = of("placements", bucket_id)[:2]
        redemptions, collected = of("redemptions", bucket_id)[:2]
        out[bucket_id] = dict(
            **n,
            report_in_rate=_rate(reported, party),
            wishes_overdue=of("wishes_overdue", bucket_id)[0],
            wish_quota_owing=party - n["wish_quota_claimed"],
            problems_overdue=p_overdue,
            problems_escalated_street=p_street,
            problems_escalated_district=p_district,
            rectification_rate=_rate(found_closed, found),
            inspections=n_visits,
            points_inspected=n_points,
            points_meeting_standard=meeting,
            points=points,
            points_passed=passed,
            points_pass_rate=_rate(passed, points),
            reports_received=n_received,
            reports_accepted=n_accepted,
            reports_rejected=n_rejected,
            report_hours_to_accept=_median(accepted),
            report_hours_to_accept_avg=_mean(accepted),
            report_hours_to_handle=_median(handled),
            liaison_visits=of("liaison_visits", bucket_id)[0],
            articles_submitted_quarter=q_submitted,
            articles_published_quarter=q_published,
            placements_quarter=n_placed,
            placements_pending=n_pending,
            volunteers=volunteers,
            volunteers_per_1000=(round(volunteers * 1000 / population, 2) if population else None),
            volunteers_active=active,
            teams=of("teams", bucket_id)[0],
            **{f"service_orders_{s.value}": states[i] for i, s in enumerate(OrderStatus)},
            service_orders_overdue=states[len(OrderStatus)],
            service_order_hours_to_take=_median(taken),
            service_orders_on_time_rate=_rate(sum(timed), len(timed)),
            service_order_rating=_mean(stars),
            pairings_active=of(PAIRINGS[side], bucket_id)[0],
            pairing_report_ins=of(f"paired_report_ins_{side}", bucket_id)[0],
            credits_issued=issued,
            credits_spent=spent,
            credits_outstanding=of("credits_outstanding", bucket_id)[0],
            redemptions=redemptions,
            redemptions_collected=collected,
            surveys_open=of("surveys_open", bucket_id)[0],
            survey_responses=of("survey_responses", bucket_id)[0],
            survey_respondents=respondents,
            survey_audience=audience,
            survey_response_rate=_rate(respondents, audience),
            household_visits=h_visits,
            household_communities_visited=visited,
            household_coverage=_rate(visited, communities),
            household_awareness_rate=_rate(aware, h_visits),
            household_satisfaction_rate=_rate(satisfied, h_visits),
            indicators=indicators,
            indicators_accepted=indicators_accepted,
            indicators_overdue=indicators_overdue,
        )
    return out


async def _survey_rates(
    session: AsyncSession,
    buckets: Buckets,
    orgs: dict[int, _OrgRow],
    found: list[tuple[int, int]],
) -> dict[int, tuple[int, int]]:
    """Each bucket's (survey_respondents, survey_audience): over the surveys open at
    some time in the month (up to now) that reach its people, which are those set by
    the bucket org or an org above it (for all its people) and those set by an org
    inside it (for that org's people). Per survey, the audience is the roster of the
    part of the bucket it is for (`members`, the people counts of fact_counts; a
    survey for `everyone` is answered by residents without a roster home too, but
    those belong to no org, so they count neither above nor below the line) and the
    respondents are its responses from homes in the bucket, at any time (the
    survey's rate, as GET /stats/surveys gives it). `found`: the surveys open in the
    month set by the buckets' orgs or those above them, (id, org) (the figures'
    `surveys_of_month`)."""
    if not found:
        return {}
    above = {b: set(path_ids(orgs[b].path)) for b in buckets}
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
                path = orgs[org_id].path
                people = {i for i in held if is_within(orgs[i].path, path)}
            else:
                continue
            audience += sum(members.get(i, 0) for i in people)
            respondents += in_bucket(pairs.get(survey_id, {}), people)[0]
        out[b] = (respondents, audience)
    return out


# The orgs of a subtree, each with what the figures need of it.
_SUBTREE = Statement(
    sa_select(
        col(Org.id),
        col(Org.path),
        col(Org.level),
        col(Org.population),
        col(Org.parent_id),
        col(Org.name),
    ).where(path_between(col(Org.path), bindparam("low"), bindparam("high")))
)


class _OrgRow(NamedTuple):
    id: int
    path: str
    level: OrgLevel
    population: int | None
    parent_id: int | None
    name: str


# Levels no org may hang under (ALLOWED_PARENT_LEVELS): communities and units.
_LEAVES = frozenset(
    level
    for level in OrgLevel
    if not any(level in parents for parents in ALLOWED_PARENT_LEVELS.values())
)


async def _subtree(session: AsyncSession, org: Org) -> dict[int, _OrgRow]:
    """Every org of `org`'s subtree (itself included) by id: a few hundred at most.
    The subtree of an org of a leaf level is the org alone: known without a round trip
    (most dashboards asked for are communities')."""
    if org.level in _LEAVES:
        assert org.id is not None
        own = _OrgRow(
            org.id, org.path, OrgLevel(org.level), org.population, org.parent_id, org.name
        )
        return {org.id: own}
    rows = await _SUBTREE.rows(session, {"low": org.path, "high": path_upper_bound(org.path)})
    return {r[0]: _OrgRow(r[0], r[1], OrgLevel(r[2]), r[3], r[4], r[5]) for r in rows}


def _buckets_of(orgs: dict[int, _OrgRow], bucket_ids: Sequence[int]) -> Buckets:
    """Each bucket (the org itself, or its children) with the ids of its subtree."""
    return {
        b: [i for i, row in orgs.items() if is_within(row.path, orgs[b].path)] for b in bucket_ids
    }


def _children(orgs: dict[int, _OrgRow], org: Org) -> list[_OrgRow]:
    """`org`'s direct children."""
    return [row for row in orgs.values() if row.parent_id == org.id]


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
    orgs = await _subtree(session, org)
    metrics = await _metrics(
        session,
        buckets=_buckets_of(orgs, [org.id]),
        orgs=orgs,
        month=month,
        now=now,
        district_after_days=district_after_days,
    )
    # model_validate: SQLModel's __init__ costs half again as much for the same
    # validation (~100 fields).
    return Dashboard.model_validate(
        {
            "org_id": org.id,
            "org_name": org.name,
            "org_level": org.level,
            "month": month,
            "as_of": now,
            **metrics[org.id],
        }
    )


def _ranked(
    group: Sequence[_OrgRow],
    metrics: dict[int, dict[str, Any]],
    sort: DashboardSort,
    order: SortOrder,
    weights: dict[ScoreMetric, float],
) -> list[DashboardRankingItem]:
    """One group of children ranked together. Each item is validated once, as it is
    answered; its score (read off its own figures) and its rank are set on it after."""
    items = [
        DashboardRankingItem.model_validate(
            {"rank": 0, "org_id": c.id, "org_name": c.name, "org_level": c.level, **metrics[c.id]}
        )
        for c in group
    ]
    for item, score in zip(items, scoring.scores_of(items, weights), strict=True):
        item.score = score
    sign = -1 if order == SortOrder.desc else 1

    def value(item: DashboardRankingItem) -> float | None:
        v: float | None = getattr(item, sort.value)
        return v

    def key(item: DashboardRankingItem) -> tuple[bool, float, str, int]:
        v = value(item)
        return (v is None, sign * v if v is not None else 0.0, item.org_name, item.org_id)

    items.sort(key=key)
    for position, item in enumerate(items, start=1):
        ahead = items[position - 2] if position > 1 else None
        tied = ahead is not None and value(ahead) == value(item)
        item.rank = ahead.rank if ahead is not None and tied else position
    return items


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
    orgs = await _subtree(session, org)
    children = _children(orgs, org)
    metrics = await _metrics(
        session,
        buckets=_buckets_of(orgs, [c.id for c in children if c.id is not None]),
        orgs=orgs,
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
            for item in _ranked(group, metrics, sort, order, weights)
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
    orgs = await _subtree(session, org)
    children = _children(orgs, org)
    buckets = _buckets_of(orgs, [c.id for c in children if c.id is not None])
    figures = [
        await _metrics(
            session,
            buckets=buckets,
            orgs=orgs,
            month=m,
            now=now,
            district_after_days=district_after_days,
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
                [
                    (c, DashboardMetrics(**figures[0][c.id]), DashboardMetrics(**figures[1][c.id]))
                    for c in group
                ],
                weights,
            )
        ],
    )


def _kinds(children: Sequence[_OrgRow]) -> list[list[_OrgRow]]:
    """Units are ranked among units, never among streets or communities: an organ's
    party members and a community's residents are not the same measure. Places
    first, then units, each group ranked on its own."""
    places = [c for c in children if c.level != OrgLevel.unit]
    units = [c for c in children if c.level == OrgLevel.unit]
    return [group for group in (places, units) if group]


async def subtrees(session: AsyncSession, org: Org, bucket_orgs: Sequence[Org]) -> Buckets:
    """Each of `bucket_orgs` (the org itself or its children) with the ids of its
    subtree: for other domains' figures per child org (assessment)."""
    orgs = await _subtree(session, org)
    return _buckets_of(orgs, [b.id for b in bucket_orgs if b.id is not None])


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
    if not buckets:
        return {}
    start, end = month_bounds(month)
    params = {"ids": [i for ids in buckets.values() for i in ids], "month_start": start}
    figures = await _figures(
        session, buckets, ("credits_flows", "credits_outstanding"), {**params, "month_end": end}
    )
    out = {}
    for b in buckets:
        issued, spent = figures.get("credits_flows", {}).get(b, [0, 0])[:2]
        outstanding = figures.get("credits_outstanding", {}).get(b, [0])[0]
        out[b] = (int(issued), int(spent), int(outstanding))
    return out
