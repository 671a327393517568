"""The dashboard as a page for a secretary's PC browser (GET /dashboard/view).

A PC browser has no WeChat login, so an admin asks the API for a link
(POST /dashboard/view-links): a JWT of its own audience naming the admin and the
org, valid VIEW_LINK_TTL_S. The audience keeps the two kinds of token apart: a link
is no access token (claims_of_token wants another audience) and an access token
opens no page. Like access tokens, a link carries no roles: every load reads the
admin's grants again, so a revoked role closes the page at the next refresh. It
names the admin as an access token does (`sub` and `ver`), and the same rule
decides whom it names (app.core.scope.acts_as): "log out everywhere" closes it too.
The link's token is app.core.security's (issue_view_token, read_view_token); who it
acts as, app.edge.access.caller_for_view_link's.

A link opens its org and everything below it: the page links to each child's own
page (same token), never above the org the link was made for.

The numbers are those of app/services/dashboard (GET /dashboard and
GET /dashboard/children, called here as they are); this module only lays them out:
which figure goes where, under which Chinese label, how it is written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal
from urllib.parse import urlencode

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.core.config import Settings
from app.core.db import utcnow
from app.core.errors import NotFound
from app.core.scope import Caller, is_within, org_in_reach, path_ids
from app.core.security import ViewGrant, issue_view_token
from app.core.timeutil import local, month_key
from app.models.dashboard import (
    Dashboard,
    DashboardMetrics,
    DashboardRanking,
    DashboardSort,
    SortOrder,
)
from app.models.org import Org, OrgLevel
from app.services import audit
from app.services import dashboard as dashboard_service

# --- the link ------------------------------------------------------------------------


async def create_link(
    session: AsyncSession, *, settings: Settings, caller: Caller, org_id: int
) -> tuple[str, datetime]:
    """A link for an org the admin may see the dashboard of. Whoever holds it sees
    the page until it expires, so its making goes into the audit log."""
    await org_in_reach(session, caller, org_id)
    token, expires_at = issue_view_token(settings, admin=caller.user, org_id=org_id)
    await audit.record(
        session,
        caller=caller,
        action="dashboard_view_link.create",
        target_type="org",
        target_id=org_id,
        org_id=org_id,
        expires_at=expires_at.isoformat(),
    )
    return token, expires_at


# --- how figures are written ---------------------------------------------------------

Kind = Literal["count", "rate", "minutes", "decimal"]


def _one_decimal(value: Decimal) -> Decimal:
    # Half up, as people round (and as the charts' toFixed does): 2.25 h is 2.3 h.
    return value.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def format_value(kind: Kind, value: float | None) -> str:
    if value is None:
        return "—"
    if kind == "rate":
        return f"{_one_decimal(Decimal(str(value)) * 100)}%"
    if kind == "minutes":
        return f"{_one_decimal(Decimal(int(value)) / 60):,}"
    if kind == "decimal":
        return f"{_one_decimal(Decimal(str(value))):,}"
    return f"{int(value):,}"


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    kind: Kind = "count"
    # In the children's table, where no panel title says what "待认领" is about.
    column: str | None = None

    @property
    def unit(self) -> str:
        return {"count": "", "rate": "", "minutes": "小时", "decimal": ""}[self.kind]


_METRICS = [
    Metric("members", "花名册人数"),
    Metric("party_members", "党员"),
    Metric("party_members_reported", "本月已报到党员"),
    Metric("report_in_rate", "报到率", "rate"),
    Metric("report_ins", "本月报到次数"),
    Metric("check_ins", "本月签到"),
    Metric("approved_volunteer_minutes", "本月志愿时长", "minutes"),
    Metric("wishes_pending_review", "待审核"),
    Metric("wishes_open", "待认领", column="心愿待认领"),
    Metric("wishes_claimed", "已认领"),
    Metric("wishes_fulfilled", "已完成待确认"),
    Metric("wishes_confirmed", "已确认"),
    Metric("wishes_rejected", "已驳回"),
    Metric("wishes_cancelled", "已取消"),
    Metric("wishes_overdue", "逾期未完成", column="心愿逾期"),
    Metric("wish_quota_claimed", "今年已认领心愿的党员"),
    Metric("wish_quota_owing", "今年尚未认领的党员", column="未认领心愿党员"),
    Metric("problems_open", "待整改", column="问题待整改"),
    Metric("problems_rectified", "已整改待复核"),
    Metric("problems_closed", "已销号"),
    Metric("problems_overdue", "逾期", column="问题逾期"),
    Metric("problems_escalated_street", "已升级到街道"),
    Metric("problems_escalated_district", "已升级到区"),
    Metric("problems_found", "本月发现"),
    Metric("problems_found_closed", "本月发现已销号"),
    Metric("rectification_rate", "本月整改率", "rate"),
    Metric("articles_submitted", "本月投稿"),
    Metric("articles_published", "本月用稿"),
    Metric("inspections", "本月巡查次数"),
    Metric("points_inspected", "本月巡查点位"),
    Metric("points_meeting_standard", "达标点位"),
    Metric("points", "点位总数"),
    Metric("points_passed", "本月巡查达标点位"),
    Metric("points_pass_rate", "本月点位达标率", "rate", column="点位达标率"),
    Metric("reports_received", "本月随手拍"),
    Metric("reports_accepted", "本月随手拍已受理"),
    Metric("articles_submitted_quarter", "本季度投稿"),
    Metric("articles_published_quarter", "本季度用稿"),
    Metric("placements_quarter", "本季度上稿（已认定）"),
    Metric("placements_pending", "上稿待认定"),
    Metric("volunteers", "志愿者"),
    Metric("volunteers_per_1000", "每千人志愿者", "decimal"),
    Metric("volunteers_active", "本月活跃志愿者"),
    Metric("teams", "志愿服务队"),
    Metric("service_orders_submitted", "订单待受理"),
    Metric("service_orders_accepted", "订单已受理"),
    Metric("service_orders_dispatched", "订单已派单"),
    Metric("service_orders_taken", "订单已接单"),
    Metric("service_orders_completed", "订单已完成"),
    Metric("service_orders_rated", "订单已评价"),
    Metric("service_orders_rejected", "订单已驳回"),
    Metric("service_orders_cancelled", "订单已取消"),
    Metric("service_order_hours_to_take", "本月接单用时中位数（小时）", "decimal"),
    Metric("service_orders_on_time_rate", "本月按时完成率", "rate"),
    Metric("service_order_rating", "本月平均评分", "decimal"),
    Metric("credits_issued", "本月发放积分"),
    Metric("credits_spent", "本月兑换积分"),
    Metric("credits_outstanding", "未兑换积分"),
    Metric("redemptions", "本月兑换预约"),
    Metric("redemptions_collected", "本月兑换已取货"),
    Metric("surveys_open", "正在作答的问卷"),
    Metric("survey_responses", "本月答卷"),
    Metric("survey_respondents", "本月问卷已答人数"),
    Metric("survey_audience", "本月问卷应答人数"),
    Metric("survey_response_rate", "问卷参与率", "rate", column="问卷参与率"),
    Metric("household_visits", "本月入户调查", column="入户户数"),
    Metric("household_communities_visited", "本月入户社区"),
    Metric("household_coverage", "入户覆盖率", "rate"),
    Metric("household_awareness_rate", "入户知晓率", "rate"),
    Metric("household_satisfaction_rate", "入户满意率", "rate", column="入户满意率"),
    Metric("indicators", "申报指标"),
    Metric("indicators_accepted", "指标已通过"),
    Metric("indicators_overdue", "指标逾期", column="申报逾期"),
    # issues 18, 21 (r2s4-units)
    Metric("pairings_active", "进行中的结对", column="结对数"),
    Metric("pairing_report_ins", "本月结对单位党员报到"),
    Metric("report_hours_to_accept", "随手拍受理用时中位数（小时）", "decimal"),
    Metric("report_hours_to_accept_avg", "随手拍受理平均用时（小时）", "decimal"),
    Metric("report_hours_to_handle", "随手拍处理用时中位数（小时）", "decimal"),
    # issues 19, 21 (r2s4-figures)
    Metric("service_orders_overdue", "订单逾期", column="订单逾期"),
    Metric("service_order_minutes", "本月服务队时长", "minutes"),
    Metric("reports_rejected", "本月随手拍不予受理"),
    Metric("liaison_visits", "本月包联领导巡查", column="包联巡查"),
    # Of the ranking's rows only (app/services/scoring.py), where the district set weights.
    Metric("score", "综合评分", "decimal"),
]
METRICS = {m.key: m for m in _METRICS}

# Where each figure stands: the strip of key figures on top, then the panels. Every
# metric of DashboardMetrics appears exactly once (a test holds this).
HEADLINE = [
    "members",
    "party_members",
    "report_in_rate",
    "check_ins",
    "approved_volunteer_minutes",
    "rectification_rate",
    "articles_submitted",
    "articles_published",
]
PANELS: list[tuple[str, str | None, list[str]]] = [
    ("党员报到（本月）", "report", ["party_members_reported", "report_ins"]),
    (
        "微心愿（当前状态）",
        "wishes",
        [
            "wishes_pending_review",
            "wishes_open",
            "wishes_claimed",
            "wishes_fulfilled",
            "wishes_confirmed",
            "wishes_rejected",
            "wishes_cancelled",
            "wishes_overdue",
            "wish_quota_claimed",
            "wish_quota_owing",
        ],
    ),
    (
        "问题督办",
        "problems",
        [
            "problems_open",
            "problems_rectified",
            "problems_closed",
            "problems_overdue",
            "problems_escalated_street",
            "problems_escalated_district",
            "problems_found",
            "problems_found_closed",
        ],
    ),
    (
        "督导巡查与随手拍",
        None,
        [
            "inspections",
            "liaison_visits",
            "points_inspected",
            "points_meeting_standard",
            "points",
            "points_passed",
            "points_pass_rate",
            "reports_received",
            "reports_accepted",
            "reports_rejected",
        ],
    ),
    (
        "宣传（本季度）",
        None,
        [
            "articles_submitted_quarter",
            "articles_published_quarter",
            "placements_quarter",
            "placements_pending",
        ],
    ),
    (
        "志愿服务与点单",
        None,
        [
            "volunteers",
            "volunteers_per_1000",
            "volunteers_active",
            "teams",
            "service_orders_submitted",
            "service_orders_accepted",
            "service_orders_dispatched",
            "service_orders_taken",
            "service_orders_completed",
            "service_orders_rated",
            "service_orders_rejected",
            "service_orders_cancelled",
            "service_orders_overdue",
            "service_order_minutes",
            "service_order_hours_to_take",
            "service_orders_on_time_rate",
            "service_order_rating",
        ],
    ),
    (
        "积分超市",
        None,
        [
            "credits_issued",
            "credits_spent",
            "credits_outstanding",
            "redemptions",
            "redemptions_collected",
        ],
    ),
    (
        "测评准备",
        None,
        [
            "surveys_open",
            "survey_responses",
            "survey_respondents",
            "survey_audience",
            "survey_response_rate",
            "household_visits",
            "household_communities_visited",
            "household_coverage",
            "household_awareness_rate",
            "household_satisfaction_rate",
            "indicators",
            "indicators_accepted",
            "indicators_overdue",
        ],
    ),
    # issues 18, 21 (r2s4-units)
    ("结对共建", None, ["pairings_active", "pairing_report_ins"]),
    (
        "随手拍受理",
        None,
        ["report_hours_to_accept", "report_hours_to_accept_avg", "report_hours_to_handle"],
    ),
]
WISH_STATES = [
    "wishes_pending_review",
    "wishes_open",
    "wishes_claimed",
    "wishes_fulfilled",
    "wishes_confirmed",
    "wishes_rejected",
    "wishes_cancelled",
]
PROBLEM_BARS = [
    "problems_open",
    "problems_rectified",
    "problems_closed",
    "problems_overdue",
    "problems_escalated_street",
    "problems_escalated_district",
]
# The children's table: what a street or district compares its communities by.
TABLE_COLUMNS = [
    "members",
    "party_members",
    "report_in_rate",
    "check_ins",
    "approved_volunteer_minutes",
    "wishes_open",
    "wishes_overdue",
    "wish_quota_owing",
    "problems_open",
    "problems_overdue",
    "rectification_rate",
    "articles_submitted",
    "articles_published",
    "survey_response_rate",
    # issues 19, 20, 21 (r2s4-figures): what offices compare their children by
    "volunteers_per_1000",
    "service_orders_overdue",
    "points_pass_rate",
    "liaison_visits",
    "reports_accepted",
    "credits_issued",
]
LEVEL_NAMES = {
    OrgLevel.district: "区",
    OrgLevel.street: "街道",
    OrgLevel.community: "社区",
    OrgLevel.unit: "单位",
}


@dataclass(frozen=True)
class Figure:
    metric: Metric
    value: float | None

    @property
    def text(self) -> str:
        return format_value(self.metric.kind, self.value)

    @property
    def data_value(self) -> str:
        """The API's own value, for machines reading the page (and its test)."""
        return "" if self.value is None else str(self.value)


def _figure(metrics: DashboardMetrics, key: str) -> Figure:
    value: float | None = getattr(metrics, key)
    return Figure(METRICS[key], value)


@dataclass(frozen=True)
class Panel:
    title: str
    chart: str | None
    figures: list[Figure]


@dataclass(frozen=True)
class Link:
    text: str
    href: str | None  # None: the current page or out of range, shown without a link


@dataclass(frozen=True)
class Header:
    metric: Metric
    href: str
    sorted: SortOrder | None

    @property
    def label(self) -> str:
        return self.metric.column or self.metric.label


@dataclass(frozen=True)
class Row:
    rank: int
    org_id: int
    org_name: str
    href: str
    cells: list[Figure]


@dataclass
class DashboardPage:
    dashboard: Dashboard
    ranking: DashboardRanking
    level_name: str
    as_of_text: str
    expires_text: str
    headline: list[Figure]
    panels: list[Panel]
    breadcrumbs: list[Link]
    months: list[Link]
    sort_label: str
    headers: list[Header]
    rows: list[Row]
    charts: dict[str, Any] = field(default_factory=dict)


def _months_around(month: str, now: datetime) -> tuple[str | None, str | None]:
    year, mon = (int(x) for x in month.split("-"))
    prev = f"{year - (mon == 1)}-{(mon - 2) % 12 + 1:02d}"
    following = f"{year + (mon == 12)}-{mon % 12 + 1:02d}"
    return (
        prev if prev >= "2000-01" else None,
        following if following <= month_key(now) else None,
    )


def _chart_data(d: Dashboard, ranking: DashboardRanking) -> dict[str, Any]:
    def series(keys: list[str]) -> list[dict[str, Any]]:
        return [{"key": k, "name": METRICS[k].label, "value": getattr(d, k)} for k in keys]

    metric = METRICS[ranking.sort.value]
    return {
        "report": [
            {"key": "party_members_reported", "name": "已报到", "value": d.party_members_reported},
            {
                "key": "party_members_not_reported",
                "name": "未报到",
                "value": d.party_members - d.party_members_reported,
            },
        ],
        "wishes": series(WISH_STATES),
        "problems": series(PROBLEM_BARS),
        "ranking": {
            "key": metric.key,
            "name": metric.label,
            "kind": metric.kind,
            "orgs": [item.org_name for item in ranking.items],
            "values": [getattr(item, metric.key) for item in ranking.items],
        },
    }


def lay_out(
    d: Dashboard,
    ranking: DashboardRanking,
    *,
    breadcrumbs: list[Org],
    expires_at: datetime,
    href: Callable[..., str],
    now: datetime,
) -> DashboardPage:
    """Everything the template shows, worked out here so the template stays plain.

    `href(**changes)` is the link to this page with some parameters changed.
    """
    prev, following = _months_around(d.month, now)
    current = month_key(now)
    columns = TABLE_COLUMNS + (
        ["score"] if any(item.score is not None for item in ranking.items) else []
    )
    headers = []
    for key in columns:
        is_sorted = ranking.sort.value == key
        flip = SortOrder.asc if ranking.order == SortOrder.desc else SortOrder.desc
        headers.append(
            Header(
                metric=METRICS[key],
                href=href(sort=key, order=(flip if is_sorted else SortOrder.desc).value),
                sorted=ranking.order if is_sorted else None,
            )
        )
    return DashboardPage(
        dashboard=d,
        ranking=ranking,
        level_name=LEVEL_NAMES[d.org_level],
        as_of_text=local(d.as_of).strftime("%Y-%m-%d %H:%M"),
        expires_text=local(expires_at).strftime("%H:%M"),
        headline=[_figure(d, k) for k in HEADLINE],
        panels=[Panel(t, c, [_figure(d, k) for k in keys]) for t, c, keys in PANELS],
        breadcrumbs=[
            Link(o.name, None if o.id == d.org_id else href(org_id=o.id)) for o in breadcrumbs
        ],
        months=[
            Link("‹ 上月", href(month=prev) if prev else None),
            Link("本月", None if d.month == current else href(month=current)),
            Link("下月 ›", href(month=following) if following else None),
        ],
        sort_label=METRICS[ranking.sort.value].column or METRICS[ranking.sort.value].label,
        headers=headers,
        rows=[
            Row(
                rank=item.rank,
                org_id=item.org_id,
                org_name=item.org_name,
                href=href(org_id=item.org_id),
                cells=[_figure(item, k) for k in columns],
            )
            for item in ranking.items
        ],
        charts=_chart_data(d, ranking),
    )


async def _breadcrumbs(session: AsyncSession, root: Org, shown: Org) -> list[Org]:
    """The orgs from the link's org down to the one shown, both included."""
    ids = path_ids(shown.path)
    orgs = (await session.execute(select(Org).where(col(Org.id).in_(ids)))).scalars()
    return sorted((o for o in orgs if is_within(o.path, root.path)), key=lambda o: len(o.path))


async def page(
    session: AsyncSession,
    *,
    settings: Settings,
    caller: Caller,
    grant: ViewGrant,
    token: str,
    org_id: int | None,
    month: str | None,
    sort: DashboardSort,
    order: SortOrder,
    now: datetime | None = None,
    figures: AsyncSession | None = None,
) -> DashboardPage:
    """The page a link opens (`token`, read into `caller` and `grant` by
    app.edge.access.caller_for_view_link): its org or one below it. Which org is
    read from `session`; its figures from `figures` (the reading session) if given."""
    reading = figures or session
    root = await org_in_reach(session, caller, grant.org_id)
    shown = root if org_id in (None, root.id) else await org_in_reach(session, caller, org_id)
    if not is_within(shown.path, root.path):
        raise NotFound()
    assert shown.id is not None
    now = now or utcnow()
    month = month or month_key(now)
    days = settings.problem_district_escalation_days
    d = await dashboard_service.dashboard(
        reading, org=shown, month=month, district_after_days=days, now=now
    )
    ranking = await dashboard_service.ranking(
        reading,
        org=shown,
        month=month,
        sort=sort,
        order=order,
        district_after_days=days,
        now=now,
    )
    params: dict[str, Any] = {
        "token": token,
        "org_id": shown.id,
        "month": month,
        "sort": sort.value,
        "order": order.value,
    }

    def href(**changes: Any) -> str:
        return "?" + urlencode({**params, **changes})

    return lay_out(
        d,
        ranking,
        breadcrumbs=await _breadcrumbs(session, root, shown),
        expires_at=grant.expires_at,
        href=href,
        now=now,
    )
