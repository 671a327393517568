"""The composite score (综合评分) and the monthly comments (月点评).

Components (ScoreMetric), each a value from 0 to 1 read off the dashboard's figures
of a child org for the month (app/services/dashboard.py says what each figure counts;
nothing is counted again here):
- report_in_rate, rectification_rate, household_awareness_rate,
  household_satisfaction_rate, service_orders_on_time_rate, survey_response_rate
  (问卷参与率): the dashboard's rates.
- points_pass_rate (点位达标率) = points_passed / points: the share of *all* the org's
  points whose latest inspection of the month met the standard, an unvisited point
  counting as not met. Not "passed / inspected": that rewards inspecting only the
  good points (one visit, one pass: 100%), while the national field check may pick
  any point; a point is only known to be up to standard if someone looked this
  month. Null without points.
- reports_accepted_rate = reports_accepted / reports_received;
  wish_quota_rate = wish_quota_claimed / party_members;
  indicator_completion_rate = indicators_accepted / indicators.
- service_order_rating: the mean stars (1–5) / 5.
- volunteers_per_1000: the org's figure divided by the best among the orgs ranked
  with it (the best has 1): a count per population has no natural ceiling.
A component without a value (no party members, no visits, no population...) is null.

Score = 100 × Σ wᵢ·vᵢ / Σ wᵢ over the weighted components that have a value: the
weights are renormalised over the present components, so an org is neither
rewarded nor punished for a figure it has nothing to count on; rounded to 2 places.
Without any present component the score is null and the org is ranked last,
without a rank. Ranks are competition ranks (1, 2, 2, 4); units rank among units.

Weights: a district's, set with PUT /scoring by its district admins; each setting is
a new version (scoring_weights rows are never changed) and is audited. The score of a
month uses the version in force at the month's end (the earliest one for a month
before any was set), and last month's score, for the change, is computed with the
same version: a change is the figures' change, never the weights'.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, bindparam
from sqlalchemy import select as sa_select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.core.db import Statement, paged_scalars
from app.core.errors import Forbidden, NotFound, Unprocessable
from app.core.scope import Caller, in_reach, is_within, path_ids
from app.models.dashboard import DashboardMetrics
from app.models.org import Org, OrgLike
from app.models.scoring import (
    METRIC_NAMES,
    MetricInfo,
    MonthlyReview,
    MonthlyReviewCreate,
    MonthlyReviewPublic,
    ScoreMetric,
    ScoreRow,
    ScoringPublic,
    ScoringUpdate,
    ScoringWeights,
)
from app.models.user import User
from app.services import audit

MAX_WEIGHT = 1000.0
_NAMES = {m.value for m in ScoreMetric}


def _ratio(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


# How each component is read off the dashboard's figures (volunteers_per_1000 is
# scaled afterwards, against the best of the orgs ranked together).
_READ: dict[ScoreMetric, Callable[[DashboardMetrics], float | None]] = {
    ScoreMetric.report_in_rate: lambda m: m.report_in_rate,
    ScoreMetric.rectification_rate: lambda m: m.rectification_rate,
    ScoreMetric.reports_accepted_rate: lambda m: _ratio(m.reports_accepted, m.reports_received),
    ScoreMetric.wish_quota_rate: lambda m: _ratio(m.wish_quota_claimed, m.party_members),
    ScoreMetric.household_awareness_rate: lambda m: m.household_awareness_rate,
    ScoreMetric.household_satisfaction_rate: lambda m: m.household_satisfaction_rate,
    ScoreMetric.indicator_completion_rate: lambda m: _ratio(m.indicators_accepted, m.indicators),
    ScoreMetric.service_orders_on_time_rate: lambda m: m.service_orders_on_time_rate,
    ScoreMetric.service_order_rating: lambda m: (
        None if m.service_order_rating is None else round(m.service_order_rating / 5, 4)
    ),
    ScoreMetric.volunteers_per_1000: lambda m: m.volunteers_per_1000,
    ScoreMetric.points_pass_rate: lambda m: m.points_pass_rate,
    ScoreMetric.survey_response_rate: lambda m: (
        # Can pass 1 when people answered and then moved out: a component stays 0–1.
        None if m.survey_response_rate is None else min(m.survey_response_rate, 1.0)
    ),
}


def components(
    group: Sequence[DashboardMetrics], weights: dict[ScoreMetric, float]
) -> list[dict[ScoreMetric, float | None]]:
    """The weighted components of each of a group of orgs ranked together."""
    out = [{metric: _READ[metric](m) for metric in weights} for m in group]
    if ScoreMetric.volunteers_per_1000 in weights:
        key = ScoreMetric.volunteers_per_1000
        best = max((c[key] or 0.0 for c in out), default=0.0)
        for c in out:
            value = c[key]
            c[key] = None if value is None else (round(value / best, 4) if best else 0.0)
    return out


def weighted(
    values: dict[ScoreMetric, float | None], weights: dict[ScoreMetric, float]
) -> float | None:
    present = [(weights[k], v) for k, v in values.items() if v is not None and weights.get(k)]
    total = sum(w for w, _ in present)
    return round(100 * sum(w * v for w, v in present) / total, 2) if total else None


def scores_of(
    group: Sequence[DashboardMetrics], weights: dict[ScoreMetric, float]
) -> list[float | None]:
    """The score of each of a group of orgs ranked together; all null without weights."""
    if not weights:
        return [None] * len(group)
    return [weighted(c, weights) for c in components(group, weights)]


def score_rows(
    group: Sequence[tuple[OrgLike, DashboardMetrics, DashboardMetrics]],
    weights: dict[ScoreMetric, float],
) -> list[ScoreRow]:
    """One group of orgs ranked together, each with this month's and last month's
    figures: the rows with their components, score, rank and change, by rank."""
    now = components([m for _, m, _ in group], weights)
    then = scores_of([p for _, _, p in group], weights)
    rows = []
    for (org, _, _), values, before in zip(group, now, then, strict=True):
        assert org.id is not None
        score = weighted(values, weights) if weights else None
        rows.append(
            ScoreRow(
                org_id=org.id,
                org_name=org.name,
                org_level=org.level,
                components=values,
                score=score,
                rank=None,
                last_month_score=before,
                change=None if score is None or before is None else round(score - before, 2),
            )
        )
    rows.sort(key=lambda r: (r.score is None, -(r.score or 0.0), r.org_name, r.org_id))
    for i, r in enumerate(rows):
        if r.score is None:
            break
        ahead = rows[i - 1] if i else None
        r.rank = ahead.rank if ahead is not None and ahead.score == r.score else i + 1
    return rows


# --- weights ---------------------------------------------------------------------------------


def district_of(org: Org) -> int:
    return path_ids(org.path)[0]


def _weights_of(version: Any) -> dict[ScoreMetric, float]:
    """The weights of a version (a ScoringWeights or a row of `_VERSIONS`), if any."""
    if version is None:
        return {}
    return {ScoreMetric(k): float(v) for k, v in version.weights.items() if k in _NAMES}


# A district's versions, by set_at then id: a statement compiled once, rows not ORM
# objects (every GET /dashboard/children reads them).
_VERSIONS = Statement(
    sa_select(
        col(ScoringWeights.id),
        col(ScoringWeights.weights),
        col(ScoringWeights.set_by_id),
        col(ScoringWeights.set_at),
    )
    .where(col(ScoringWeights.district_id) == bindparam("district_id", type_=Integer))
    .order_by(col(ScoringWeights.set_at), col(ScoringWeights.id))
)


async def version_in_force(session: AsyncSession, district_id: int, at: datetime | None) -> Any:
    """The district's version (a row of `_VERSIONS`) set last before `at` (the latest
    if `at` is None); before any was set, the earliest one; None without versions.
    One query: a district keeps a few versions a year, so all are read and the one is
    picked here."""
    versions = await _VERSIONS.rows(session, {"district_id": district_id})
    if not versions:
        return None
    before = [v for v in versions if at is None or v.set_at < at]
    return before[-1] if before else versions[0]


async def weights_in_force(
    session: AsyncSession, district_id: int, at: datetime | None
) -> tuple[int | None, dict[ScoreMetric, float]]:
    version = await version_in_force(session, district_id, at)
    return (None if version is None else version.id), _weights_of(version)


def scoring_public(district_id: int, version: Any) -> ScoringPublic:
    """`version`: a ScoringWeights, a row of `_VERSIONS`, or None."""
    return ScoringPublic(
        district_id=district_id,
        version=None if version is None else version.id,
        weights=_weights_of(version),
        set_by_id=None if version is None else version.set_by_id,
        set_at=None if version is None else version.set_at,
        metrics=[MetricInfo(metric=m, name=METRIC_NAMES[m]) for m in ScoreMetric],
    )


async def current(session: AsyncSession, org: Org) -> ScoringPublic:
    district_id = district_of(org)
    return scoring_public(district_id, await version_in_force(session, district_id, None))


async def set_weights(
    session: AsyncSession, *, caller: Caller, district: Org, data: ScoringUpdate
) -> ScoringPublic:
    """A new version replacing the whole set; the earlier ones stay for past months."""
    assert district.id is not None
    unknown = sorted(set(data.weights) - _NAMES)
    if unknown:
        raise Unprocessable("unknown_metric", f"没有这项指标：{'、'.join(unknown)}")
    if any(not 0 <= w <= MAX_WEIGHT for w in data.weights.values()):
        raise Unprocessable("invalid_weight", f"权重应在 0 到 {MAX_WEIGHT:g} 之间")
    kept = {k: w for k, w in sorted(data.weights.items()) if w > 0}
    if not kept:
        raise Unprocessable("weights_all_zero", "至少一项指标的权重须大于 0")
    version = ScoringWeights(district_id=district.id, weights=kept, set_by_id=caller.id)
    session.add(version)
    await session.flush()
    await audit.record(
        session,
        caller=caller,
        action="scoring.weights",
        target_type="org",
        target_id=district.id,
        org_id=district.id,
        version=version.id,
        weights=kept,
    )
    return scoring_public(district.id, version)


# --- monthly comments (月点评) ---------------------------------------------------------------


def _above(caller: Caller, org: Org) -> bool:
    """An admin of an org strictly above `org` (the office that ranks it)."""
    return any(is_within(org.path, p) and p != org.path for p in caller.paths())


async def create_review(
    session: AsyncSession, *, caller: Caller, data: MonthlyReviewCreate
) -> MonthlyReview:
    org = await session.get(Org, data.org_id)
    if org is None or not caller.reaches(org):
        raise NotFound()
    if not _above(caller, org):
        raise Forbidden("not_above", "月点评由上级组织的管理员作出")
    review = MonthlyReview(
        org_id=data.org_id, month=data.month, comment=data.comment, author_id=caller.id
    )
    session.add(review)
    await session.flush()
    await audit.record(
        session,
        caller=caller,
        action="review.create",
        target_type="monthly_review",
        target_id=review.id,
        org_id=org.id,
        month=data.month,
    )
    return review


async def list_reviews(
    session: AsyncSession,
    *,
    org: Org,
    subtree: bool,
    month: str | None,
    offset: int,
    limit: int,
) -> tuple[list[MonthlyReview], int]:
    """The comments on `org` (and, with `subtree`, on the orgs below it), newest first."""
    assert org.id is not None
    where: list[Any] = [
        in_reach(col(MonthlyReview.org_id), [org.path])
        if subtree
        else col(MonthlyReview.org_id) == org.id
    ]
    if month is not None:
        where.append(col(MonthlyReview.month) == month)
    return await paged_scalars(
        session,
        select(MonthlyReview)
        .where(*where)
        .order_by(col(MonthlyReview.month).desc(), col(MonthlyReview.id).desc()),
        offset=offset,
        limit=limit,
    )


async def reviews_public(
    session: AsyncSession, reviews: Sequence[MonthlyReview]
) -> list[MonthlyReviewPublic]:
    org_ids = {r.org_id for r in reviews}
    user_ids = {r.author_id for r in reviews}
    orgs: dict[int, str] = dict(
        (await session.execute(select(Org.id, Org.name).where(col(Org.id).in_(org_ids)))).all()
    )
    users: dict[int, str] = dict(
        (await session.execute(select(User.id, User.name).where(col(User.id).in_(user_ids)))).all()
    )
    return [
        MonthlyReviewPublic(
            id=r.id or 0,
            org_id=r.org_id,
            org_name=orgs.get(r.org_id, ""),
            month=r.month,
            comment=r.comment,
            author_id=r.author_id,
            author_name=users.get(r.author_id, ""),
            created_at=r.created_at,
        )
        for r in reviews
    ]
