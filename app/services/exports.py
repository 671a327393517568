"""The ledgers (台账) as spreadsheets: roster, report-ins, volunteer hours, wishes,
problems, inspections, each for one org's subtree and a period, laid out as an office keeps them.

Rows are the ones the matching list endpoint shows an admin for that org (the same
scoping conditions), read in chunks from a server-side cursor and handed one chunk
at a time to openpyxl's write-only workbook in a worker thread, which streams them
to a temporary file: memory stays flat however many rows there are.

Personal data: phones only in their stored masked form (nothing is decrypted),
beneficiaries only masked and without phone, since ledgers travel by email.
Times are Shanghai wall-clock datetimes with a date format, so Excel sorts and
filters them as dates.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

import anyio
from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from sqlalchemy import Row, Select, case, func
from sqlalchemy import select as sa_select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col

from app.core import xlsx
from app.core.db import utcnow
from app.core.errors import NotFound, Unprocessable
from app.core.scope import in_reach, is_within, org_ids_within
from app.core.timeutil import local, month_bounds, month_key, year_bounds
from app.models.household_visit import HouseholdVisit
from app.models.indicator import Indicator, IndicatorStatus, overdue_condition
from app.models.inspection import Inspection, InspectionTeam
from app.models.media import Media, MediaAttachment
from app.models.org import Org, OrgLevel
from app.models.pairing import Pairing, PairingStatus
from app.models.points import (
    AccountKind,
    EntryKind,
    PointsAccount,
    PointsEntry,
    Redemption,
    RedemptionStatus,
    ShopItem,
)
from app.models.problem import Point, PointKind, Problem, ProblemCategory, ProblemStatus
from app.models.publicity import LEVEL_NAMES, PlacementLevel, PublicityRow, PublicityStats
from app.models.report import Report, ReportStatus
from app.models.report_in import ReportIn
from app.models.scoring import METRIC_NAMES, MonthlyReview, ScoreRow, ScoreTable
from app.models.service_order import OrderStatus, ServiceOrder
from app.models.survey import QuestionType, Survey, SurveyKind, SurveyResponse
from app.models.task import Task
from app.models.team import Team
from app.models.user import User
from app.models.volunteer import Volunteer, VolunteerStatus
from app.models.volunteer_hours import HourSource, HourStatus, VolunteerHour
from app.models.wish import CLAIMANT_STATES, Wish, WishStatus
from app.services import dashboard, publicity, scoring
from app.services import indicators as indicator_service
from app.services import problems as problem_service
from app.services import reports as report_service
from app.services import service_orders as order_service
from app.services import teams as team_service
from app.services import volunteers as volunteer_service
from app.services import wishes as wish_service
from app.services.pairings import pairings_of
from app.services.photos import shown_to
from app.services.report_ins import months_of
from app.services.users import homes_in

CHUNK_ROWS = 1000
TEMP_PREFIX = "chuangwen-ledger-"


def _temp_prefix() -> str:
    # The process id in the name tells whose file a leftover is when several
    # processes (app nodes, test workers) share one temporary folder.
    return f"{TEMP_PREFIX}{os.getpid()}-"


DbRow = Row[*tuple[Any, ...]]


class Dataset(StrEnum):
    members = "members"
    report_ins = "report-ins"
    volunteer_hours = "volunteer-hours"
    wishes = "wishes"
    problems = "problems"
    pairings = "pairings"
    inspections = "inspections"
    publicity = "publicity"
    volunteers = "volunteers"
    service_orders = "service-orders"
    points = "points"
    redemptions = "redemptions"
    survey_responses = "survey-responses"
    household_visits = "household-visits"
    scores = "scores"
    indicators = "indicators"
    reports = "reports"


# What a unit's party secretary may export about their unit: its members and what
# they did, and its pairings; never the places' ledgers.
UNIT_DATASETS = frozenset({Dataset.members, Dataset.report_ins, Dataset.pairings})

DATASET_NAMES = {
    Dataset.members: "人员花名册",
    Dataset.report_ins: "党员报到台账",
    Dataset.volunteer_hours: "志愿服务时长台账",
    Dataset.wishes: "微心愿台账",
    Dataset.inspections: "督导巡查台账",
    Dataset.problems: "问题督办台账",
    Dataset.pairings: "结对共建台账",
    Dataset.publicity: "宣传工作季度通报",
    Dataset.volunteers: "志愿者台账",
    Dataset.service_orders: "服务订单台账",
    Dataset.points: "积分台账",
    Dataset.redemptions: "积分兑换台账",
    Dataset.survey_responses: "问卷答卷",
    Dataset.household_visits: "入户调查台账",
    Dataset.scores: "月度综合评分排名",
    Dataset.indicators: "网上资料申报台账",
    Dataset.reports: "随手拍台账",
}

HOUR_STATUS_NAMES = {
    HourStatus.pending: "待审核",
    HourStatus.approved: "已通过",
    HourStatus.rejected: "已驳回",
}
HOUR_SOURCE_NAMES = {
    HourSource.check_in: "任务签到",
    HourSource.wish: "微心愿",
    HourSource.manual: "手工登记",
    HourSource.service_order: "服务订单",
}
CATEGORY_NAMES = {
    ProblemCategory.sanitation: "环境卫生",
    ProblemCategory.illegal_parking: "乱停乱放",
    ProblemCategory.street_vending: "占道经营",
    ProblemCategory.illegal_ads: "乱贴乱画",
    ProblemCategory.facilities: "公共设施破损",
    ProblemCategory.greening: "绿化缺失",
    ProblemCategory.publicity: "公益宣传缺失",
    ProblemCategory.uncivil_behaviour: "不文明行为",
    ProblemCategory.traffic_order: "交通秩序",
    ProblemCategory.food_safety: "食品安全",
    ProblemCategory.other: "其他",
}
ENTRY_KIND_NAMES = {
    EntryKind.grant: "规则发放",
    EntryKind.award: "社区奖励",
    EntryKind.redeem: "兑换",
    EntryKind.reversal: "撤销/退回",
}
REDEMPTION_STATUS_NAMES = {
    RedemptionStatus.reserved: "待取货",
    RedemptionStatus.collected: "已取货",
    RedemptionStatus.cancelled: "已取消",
    RedemptionStatus.expired: "逾期未取",
}
# Each dataset's statuses, for the `status=` filter and the status column.
STATUS_FILTERS: dict[Dataset, tuple[type[StrEnum], dict[Any, str]]] = {
    Dataset.volunteer_hours: (HourStatus, HOUR_STATUS_NAMES),
    Dataset.wishes: (WishStatus, wish_service.STATUS_NAMES),
    Dataset.problems: (ProblemStatus, problem_service.STATUS_NAMES),
    Dataset.volunteers: (VolunteerStatus, volunteer_service.STATUS_NAMES),
    Dataset.service_orders: (OrderStatus, order_service.STATUS_NAMES),
    Dataset.redemptions: (RedemptionStatus, REDEMPTION_STATUS_NAMES),
    Dataset.indicators: (IndicatorStatus, indicator_service.STATUS_NAMES),
    Dataset.reports: (ReportStatus, report_service.STATUS_NAMES),
}
YES_NO = {True: "是", False: "否"}


class Kind(StrEnum):
    text = "text"
    number = "number"
    datetime = "datetime"
    date = "date"


NUMBER_FORMATS = {Kind.datetime: "yyyy-mm-dd hh:mm", Kind.date: "yyyy-mm-dd"}


@dataclass(frozen=True)
class Column:
    header: str
    width: float
    kind: Kind = Kind.text


SERIAL = Column("序号", 7, Kind.number)


@dataclass
class _Spec:
    """One ledger: what it is called, its columns (after 序号), its rows and footer."""

    sheet_name: str
    title: str
    period_key: str  # ASCII, for the fallback file name
    period_label: str  # for the UTF-8 file name
    unit: str  # what the count counts: 人, 条
    columns: tuple[Column, ...]
    # The rows are read by `stmt`, or were computed already (`computed`: a ranking).
    stmt: Select[*tuple[Any, ...]] | None
    to_row: Callable[[Any], list[Any]]
    footer: Callable[[], list[list[Any]]] = field(default=lambda: [])
    computed: Sequence[Any] = ()


@dataclass(frozen=True)
class Ledger:
    """The written file; the caller sends it and then removes it (remove_ledger)."""

    path: str
    filename: str
    ascii_filename: str
    rows: int


def _row_count() -> Any:
    # The count rides on every row (a window over the whole result), so the line
    # above the header can say how many rows follow before any is written, and it
    # is the count of exactly these rows, whatever commits meanwhile.
    return func.count().over().label("row_count")


def _cn_month(month: str) -> str:
    year, mon = month.split("-")
    return f"{year}年{int(mon)}月"


def _cn_date(d: date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


def _parse_status(dataset: Dataset, status: str | None) -> tuple[StrEnum | None, str]:
    if status is None:
        return None, ""
    if dataset not in STATUS_FILTERS:
        raise Unprocessable("invalid_filter", f"{DATASET_NAMES[dataset]}不能按状态筛选")
    enum, names = STATUS_FILTERS[dataset]
    try:
        value = enum(status)
    except ValueError:
        allowed = "、".join(e.value for e in enum)
        raise Unprocessable("invalid_status", f"状态应为以下之一：{allowed}") from None
    return value, f"（{names[value]}）"


MONTHLY = (
    Dataset.report_ins,
    Dataset.inspections,
    Dataset.reports,
    Dataset.points,
    Dataset.redemptions,
    Dataset.household_visits,
    Dataset.scores,
)


def _check_filters(
    dataset: Dataset, month: str | None, year: int | None, quarter: int | None = None
) -> None:
    if quarter is not None and dataset != Dataset.publicity:
        raise Unprocessable("invalid_filter", f"{DATASET_NAMES[dataset]}不能按季度筛选")
    if month is not None and dataset not in MONTHLY:
        raise Unprocessable("invalid_filter", f"{DATASET_NAMES[dataset]}不能按月份筛选，请用 year")
    if year is not None and dataset in (
        Dataset.members,
        Dataset.volunteers,
        Dataset.household_visits,
        Dataset.scores,
        Dataset.indicators,
    ):
        raise Unprocessable("invalid_filter", f"{DATASET_NAMES[dataset]}不能按年份筛选")
    if year is not None and month is not None:
        raise Unprocessable("invalid_filter", "month 和 year 只能选一个")


# --- the datasets ------------------------------------------------------------------------


def _members(org: Org, subtree: list[int], now: datetime) -> _Spec:
    community, unit = aliased(Org), aliased(Org)
    today = local(now).date()
    stmt = (
        sa_select(
            col(User.name),
            col(User.phone_masked),
            col(community.name),
            col(unit.name),
            col(User.is_party_member),
            col(User.openid).is_not(None),
            _row_count(),
        )
        .outerjoin(community, col(community.id) == col(User.community_id))
        .outerjoin(unit, col(unit.id) == col(User.unit_id))
        # The org is in the caller's reach (checked first), so its people are too.
        .where(homes_in(subtree))
        .order_by(col(User.id))
    )

    def to_row(r: DbRow) -> list[Any]:
        return [r[0], r[1], r[2], r[3], YES_NO[bool(r[4])], YES_NO[bool(r[5])]]

    return _Spec(
        sheet_name=DATASET_NAMES[Dataset.members],
        title=f"{org.name} 人员花名册（截至{_cn_date(today)}）",
        period_key=today.strftime("%Y%m%d"),
        period_label=today.isoformat(),
        unit="人",
        columns=(
            Column("姓名", 12),
            Column("手机号", 15),
            Column("所属社区", 20),
            Column("单位", 24),
            Column("是否党员", 10),
            Column("微信已绑定", 12),
        ),
        stmt=stmt,
        to_row=to_row,
    )


def _unit_report_ins(org: Org, subtree: list[int], month: str) -> _Spec:
    """A unit's ledger: every party member of the unit, wherever they live, with this
    month's report-in or 未报到 (the secretary's list of whom to remind)."""
    community, reported_to = aliased(Org), aliased(Org)
    stmt = (
        sa_select(
            col(User.name),
            col(User.phone_masked),
            col(community.name),
            col(reported_to.name),
            col(ReportIn.reported_at),
            _row_count(),
        )
        .outerjoin(community, col(community.id) == col(User.community_id))
        .outerjoin(
            ReportIn, (col(ReportIn.user_id) == col(User.id)) & (col(ReportIn.month) == month)
        )
        .outerjoin(reported_to, col(reported_to.id) == col(ReportIn.community_id))
        .where(col(User.unit_id).in_(subtree), col(User.is_party_member).is_(True))
        # Those still owing first: they are whom the ledger is read for.
        .order_by(col(ReportIn.id).is_not(None), col(User.id))
    )
    return _Spec(
        sheet_name=DATASET_NAMES[Dataset.report_ins],
        title=f"{org.name} {_cn_month(month)} 党员到社区报到台账",
        period_key=month,
        period_label=month,
        unit="人",
        columns=(
            Column("姓名", 12),
            Column("手机号", 15),
            Column("所属社区", 20),
            Column("报到社区", 20),
            Column("报到时间", 18, Kind.datetime),
        ),
        stmt=stmt,
        to_row=lambda r: [r[0], r[1], r[2], r[3] or "未报到", r[4]],
    )


def _unit_report_ins_year(org: Org, subtree: list[int], year: int, months: list[str]) -> _Spec:
    """A unit's year: every party member of the unit, a column per month so far (✓
    reported to a community that month), the months reported; those who missed the
    most first."""
    community = aliased(Org)
    marks = [
        func.max(case((col(ReportIn.month) == m, 1), else_=0)).label(f"m{i}")
        for i, m in enumerate(months)
    ]
    reported = func.count(func.distinct(col(ReportIn.month)))
    stmt = (
        sa_select(
            col(User.name),
            col(User.phone_masked),
            col(community.name),
            *marks,
            reported,
            _row_count(),
        )
        .outerjoin(community, col(community.id) == col(User.community_id))
        .outerjoin(
            ReportIn,
            (col(ReportIn.user_id) == col(User.id)) & col(ReportIn.month).in_(months),
        )
        .where(col(User.unit_id).in_(subtree), col(User.is_party_member).is_(True))
        .group_by(col(User.id), col(User.name), col(User.phone_masked), col(community.name))
        .order_by(reported, col(User.id))
    )
    n = len(months)
    return _Spec(
        sheet_name=DATASET_NAMES[Dataset.report_ins],
        title=f"{org.name} {year}年 党员到社区报到台账（逐月）",
        period_key=str(year),
        period_label=f"{year}年",
        unit="人",
        columns=(
            Column("姓名", 12),
            Column("手机号", 15),
            Column("所属社区", 20),
            *(Column(f"{int(m[5:])}月", 6) for m in months),
            Column("报到月数", 10, Kind.number),
        ),
        stmt=stmt,
        to_row=lambda r: [r[0], r[1], r[2], *("✓" if r[3 + i] else "" for i in range(n)), r[3 + n]],
    )


def _pairings(org: Org, year: int) -> _Spec:
    """台账 of 结对共建: each pairing of the org (a unit's own, a place's communities')
    active or ended within the year, with the year's figures of GET /stats/pairings."""
    unit, community = aliased(Org), aliased(Org)
    start, end = year_bounds(year)
    member = aliased(User)

    def of_members(*where: Any) -> Any:
        return (col(member.unit_id) == col(Pairing.unit_id), *where)

    members = (
        sa_select(func.count())
        .select_from(member)
        .where(*of_members(col(member.is_party_member).is_(True)))
        .scalar_subquery()
    )
    reported = (
        sa_select(func.count(func.distinct(col(ReportIn.user_id))))
        .join(member, col(member.id) == col(ReportIn.user_id))
        .where(
            *of_members(
                col(member.is_party_member).is_(True),
                col(ReportIn.community_id) == col(Pairing.community_id),
                col(ReportIn.month).like(f"{year}-%"),
            )
        )
        .scalar_subquery()
    )
    minutes = (
        sa_select(func.coalesce(func.sum(col(VolunteerHour.minutes)), 0))
        .join(member, col(member.id) == col(VolunteerHour.user_id))
        .where(
            *of_members(
                col(VolunteerHour.org_id) == col(Pairing.community_id),
                col(VolunteerHour.status) == HourStatus.approved,
                col(VolunteerHour.started_at) >= start,
                col(VolunteerHour.started_at) < end,
            )
        )
        .scalar_subquery()
    )
    wishes = (
        sa_select(func.count())
        .select_from(Wish)
        .join(member, col(member.id) == col(Wish.claimed_by_id))
        .where(
            *of_members(
                col(Wish.community_id) == col(Pairing.community_id),
                col(Wish.status).in_(CLAIMANT_STATES),
                col(Wish.claimed_at) >= start,
                col(Wish.claimed_at) < end,
            )
        )
        .scalar_subquery()
    )
    tasks = (
        sa_select(func.count())
        .select_from(Task)
        .where(
            col(Task.pairing_id) == col(Pairing.id),
            col(Task.starts_at) >= start,
            col(Task.starts_at) < end,
        )
        .scalar_subquery()
    )
    stmt = (
        sa_select(
            col(unit.name),
            col(community.name),
            col(Pairing.starts_on),
            col(Pairing.ends_on),
            col(Pairing.status),
            col(Pairing.commitments),
            members,
            reported,
            minutes,
            wishes,
            tasks,
            _row_count(),
        )
        .join(unit, col(unit.id) == col(Pairing.unit_id))
        .join(community, col(community.id) == col(Pairing.community_id))
        .where(
            pairings_of(org),
            (col(Pairing.status) == PairingStatus.active) | (col(Pairing.ends_on) >= start.date()),
        )
        .order_by(col(unit.name), col(community.name), col(Pairing.id))
    )

    def to_row(r: DbRow) -> list[Any]:
        status = "进行中" if r[4] == PairingStatus.active else "已结束"
        commitments = "；".join(r[5] or [])
        return [
            r[0],
            r[1],
            r[2],
            r[3],
            status,
            commitments,
            r[6],
            r[7],
            round(r[8] / 60, 1),
            r[9],
            r[10],
        ]

    return _Spec(
        sheet_name=DATASET_NAMES[Dataset.pairings],
        title=f"{org.name} {year}年 结对共建台账",
        period_key=str(year),
        period_label=f"{year}年",
        unit="对",
        columns=(
            Column("单位", 24),
            Column("结对社区", 20),
            Column("结对时间", 12, Kind.date),
            Column("结束时间", 12, Kind.date),
            Column("状态", 8),
            Column("共建承诺", 40),
            Column("单位党员", 10, Kind.number),
            Column("当年报到人数", 12, Kind.number),
            Column("志愿时长（小时）", 14, Kind.number),
            Column("认领微心愿", 12, Kind.number),
            Column("共同组织任务", 12, Kind.number),
        ),
        stmt=stmt,
        to_row=to_row,
    )


def _report_ins(org: Org, month: str) -> _Spec:
    community = aliased(Org)
    stmt = (
        sa_select(
            col(User.name),
            col(community.name),
            col(ReportIn.month),
            col(ReportIn.reported_at),
            _row_count(),
        )
        .join(User, col(User.id) == col(ReportIn.user_id))
        .join(community, col(community.id) == col(ReportIn.community_id))
        .where(col(ReportIn.month) == month, in_reach(col(ReportIn.community_id), [org.path]))
        .order_by(col(ReportIn.reported_at), col(ReportIn.id))
    )
    return _Spec(
        sheet_name=DATASET_NAMES[Dataset.report_ins],
        title=f"{org.name} {_cn_month(month)} 党员报到台账",
        period_key=month,
        period_label=month,
        unit="人",
        columns=(
            Column("姓名", 12),
            Column("社区", 20),
            Column("月份", 10),
            Column("报到时间", 18, Kind.datetime),
        ),
        stmt=stmt,
        to_row=lambda r: [r[0], r[1], r[2], r[3]],
    )


def _volunteer_hours(org: Org, year: int, status: StrEnum | None, status_label: str) -> _Spec:
    entry_org = aliased(Org)
    start, end = year_bounds(year)
    conditions = [
        in_reach(col(VolunteerHour.org_id), [org.path]),
        col(VolunteerHour.started_at) >= start,
        col(VolunteerHour.started_at) < end,
    ]
    if status is not None:
        conditions.append(col(VolunteerHour.status) == status)
    stmt = (
        sa_select(
            col(User.name),
            col(entry_org.name),
            col(VolunteerHour.activity),
            col(VolunteerHour.started_at),
            col(VolunteerHour.ended_at),
            col(VolunteerHour.minutes),
            col(VolunteerHour.source),
            col(VolunteerHour.status),
            _row_count(),
        )
        .join(User, col(User.id) == col(VolunteerHour.user_id))
        .join(entry_org, col(entry_org.id) == col(VolunteerHour.org_id))
        .where(*conditions)
        .order_by(col(VolunteerHour.started_at), col(VolunteerHour.id))
    )
    sums = {"all": 0, "approved": 0}

    def to_row(r: DbRow) -> list[Any]:
        minutes, entry_status = int(r[5]), HourStatus(r[7])
        sums["all"] += minutes
        if entry_status == HourStatus.approved:
            sums["approved"] += minutes
        source = HOUR_SOURCE_NAMES[HourSource(r[6])]
        return [r[0], r[1], r[2], r[3], r[4], minutes, source, HOUR_STATUS_NAMES[entry_status]]

    def footer() -> list[list[Any]]:
        # Pending and rejected minutes are listed but are not service time yet.
        return [
            ["合计", None, None, None, None, None, sums["all"]],
            ["其中已通过", None, None, None, None, None, sums["approved"]],
        ]

    return _Spec(
        sheet_name=DATASET_NAMES[Dataset.volunteer_hours],
        title=f"{org.name} {year}年 志愿服务时长台账{status_label}",
        period_key=str(year),
        period_label=f"{year}年{status_label}",
        unit="条",
        columns=(
            Column("姓名", 12),
            Column("组织", 20),
            Column("服务内容", 30),
            Column("开始", 18, Kind.datetime),
            Column("结束", 18, Kind.datetime),
            Column("时长(分钟)", 11, Kind.number),
            Column("来源", 10),
            Column("状态", 10),
        ),
        stmt=stmt,
        to_row=to_row,
        footer=footer,
    )


def _year_period(year: int | None) -> tuple[str, str]:
    """(in the title, ASCII key) of an optional year; none means every year."""
    if year is None:
        return "历年", "all"
    return f"{year}年", str(year)


def _month_or_year(month: str | None, year: int | None, at: Any) -> tuple[str, str, list[Any]]:
    """(in the title, ASCII key, conditions on `at`) of a ledger taking a month or a
    year: the month if given, else the year, else every year (no condition)."""
    if month is not None:
        start, end = month_bounds(month)
        return _cn_month(month), month, [at >= start, at < end]
    in_title, key = _year_period(year)
    if year is None:
        return in_title, key, []
    start, end = year_bounds(year)
    return in_title, key, [at >= start, at < end]


def _wishes(org: Org, year: int | None, status: StrEnum | None, status_label: str) -> _Spec:
    community, claimant = aliased(Org), aliased(User)
    conditions = [in_reach(col(Wish.community_id), [org.path])]
    if year is not None:
        start, end = year_bounds(year)
        conditions += [col(Wish.created_at) >= start, col(Wish.created_at) < end]
    if status is not None:
        conditions.append(col(Wish.status) == status)
    stmt = (
        sa_select(Wish, col(community.name), col(claimant.name), _row_count())
        .join(community, col(community.id) == col(Wish.community_id))
        .outerjoin(claimant, col(claimant.id) == col(Wish.claimed_by_id))
        .where(*conditions)
        .order_by(col(Wish.id))
    )
    today = wish_service.today_in_shanghai()

    def to_row(r: DbRow) -> list[Any]:
        wish: Wish = r[0]
        return [
            wish.title,
            r[1],
            wish_service.mask_name(wish.beneficiary_name),
            wish_service.STATUS_NAMES[WishStatus(wish.status)],
            r[2],
            wish.claimed_at,
            wish.deadline,
            YES_NO[wish_service.is_overdue(wish, today)],
        ]

    in_title, key = _year_period(year)
    return _Spec(
        sheet_name=DATASET_NAMES[Dataset.wishes],
        title=f"{org.name} {in_title} 微心愿台账{status_label}",
        period_key=key,
        period_label=f"{in_title}{status_label}",
        unit="条",
        columns=(
            Column("标题", 30),
            Column("社区", 20),
            Column("受助人", 10),
            Column("状态", 14),
            Column("认领人", 12),
            Column("认领时间", 18, Kind.datetime),
            Column("截止日期", 12, Kind.date),
            Column("是否逾期", 10),
        ),
        stmt=stmt,
        to_row=to_row,
    )


def _volunteers(org: Org, status: StrEnum | None, status_label: str) -> _Spec:
    """Volunteers of communities in the subtree; those who withdrew consent are on no
    list (app/services/volunteers.py)."""
    community = aliased(Org)
    conditions = [
        in_reach(col(Volunteer.community_id), [org.path]),
        col(Volunteer.status) != VolunteerStatus.withdrawn,
    ]
    if status is not None:
        conditions.append(col(Volunteer.status) == status)
    stmt = (
        sa_select(
            Volunteer, col(User.name), col(User.phone_masked), col(community.name), _row_count()
        )
        .join(User, col(User.id) == col(Volunteer.user_id))
        .join(community, col(community.id) == col(Volunteer.community_id))
        .where(*conditions)
        .order_by(col(Volunteer.id))
    )

    def to_row(r: DbRow) -> list[Any]:
        v: Volunteer = r[0]
        return [
            r[1],
            r[2],
            r[3],
            "、".join(v.skills),
            volunteer_service.STATUS_NAMES[VolunteerStatus(v.status)],
            "花名册" if v.on_roster else "自主登记",
            v.consent_at,
            v.consent_version,
            v.reviewed_at,
        ]

    return _Spec(
        sheet_name=DATASET_NAMES[Dataset.volunteers],
        title=f"{org.name} 志愿者台账{status_label}",
        period_key="now",
        period_label=f"现状{status_label}",
        unit="人",
        columns=(
            Column("姓名", 12),
            Column("手机号", 14),
            Column("社区", 20),
            Column("技能", 20),
            Column("状态", 10),
            Column("来源", 10),
            Column("同意时间", 18, Kind.datetime),
            Column("同意文本版本", 12),
            Column("审核时间", 18, Kind.datetime),
        ),
        stmt=stmt,
        to_row=to_row,
    )


def _service_orders(
    org: Org, year: int | None, status: StrEnum | None, status_label: str, now: datetime
) -> _Spec:
    community, taker = aliased(Org), aliased(User)
    conditions = [in_reach(col(ServiceOrder.community_id), [org.path])]
    if year is not None:
        start, end = year_bounds(year)
        conditions += [col(ServiceOrder.created_at) >= start, col(ServiceOrder.created_at) < end]
    if status is not None:
        conditions.append(col(ServiceOrder.status) == status)
    stmt = (
        sa_select(
            ServiceOrder,
            col(community.name),
            col(Team.name),
            col(taker.name),
            team_service.credited_minutes(),
            _row_count(),
        )
        .join(community, col(community.id) == col(ServiceOrder.community_id))
        .outerjoin(Team, col(Team.id) == col(ServiceOrder.team_id))
        .outerjoin(taker, col(taker.id) == col(ServiceOrder.taken_by_id))
        .where(*conditions)
        .order_by(col(ServiceOrder.id))
    )

    def to_row(r: DbRow) -> list[Any]:
        o: ServiceOrder = r[0]
        return [
            o.title,
            r[1],
            o.address_masked,
            order_service.STATUS_NAMES[OrderStatus(o.status)],
            o.created_at,
            r[2],
            r[3],
            o.taken_at,
            o.completed_at,
            o.minutes,
            # Reported on completion; credited while its hour entry stands approved
            # (0 once revoked): the team's minutes sum the credited ones.
            int(r[4]) if o.minutes is not None else None,
            o.stars,
            YES_NO[order_service.is_overdue(o, now)],
        ]

    in_title, key = _year_period(year)
    return _Spec(
        sheet_name=DATASET_NAMES[Dataset.service_orders],
        title=f"{org.name} {in_title} 服务订单台账{status_label}",
        period_key=key,
        period_label=f"{in_title}{status_label}",
        unit="单",
        columns=(
            Column("服务", 24),
            Column("社区", 20),
            Column("地址", 16),
            Column("状态", 10),
            Column("点单时间", 18, Kind.datetime),
            Column("服务队", 14),
            Column("接单人", 12),
            Column("接单时间", 18, Kind.datetime),
            Column("完成时间", 18, Kind.datetime),
            Column("时长（分钟）", 10, Kind.number),
            Column("计入时长（分钟）", 12, Kind.number),
            Column("评分", 8, Kind.number),
            Column("是否逾期", 10),
        ),
        stmt=stmt,
        to_row=to_row,
    )


def _problems(
    org: Org, year: int | None, status: StrEnum | None, status_label: str, now: datetime
) -> _Spec:
    held_by = aliased(Org)
    conditions = [in_reach(col(Problem.org_id), [org.path])]
    if year is not None:
        start, end = year_bounds(year)
        conditions += [col(Problem.created_at) >= start, col(Problem.created_at) < end]
    if status is not None:
        conditions.append(col(Problem.status) == status)
    stmt = (
        sa_select(Problem, col(Point.name), col(held_by.name), _row_count())
        .join(held_by, col(held_by.id) == col(Problem.org_id))
        .outerjoin(Point, col(Point.id) == col(Problem.point_id))
        .where(*conditions)
        .order_by(col(Problem.id))
    )

    def to_row(r: DbRow) -> list[Any]:
        problem: Problem = r[0]
        return [
            r[1],
            r[2],
            CATEGORY_NAMES[ProblemCategory(problem.category)],
            problem.description,
            problem_service.STATUS_NAMES[ProblemStatus(problem.status)],
            problem.created_at,
            problem.deadline,
            YES_NO[problem_service.is_overdue(problem, now)],
            problem.rectified_at,
            problem.closed_at,
        ]

    in_title, key = _year_period(year)
    return _Spec(
        sheet_name=DATASET_NAMES[Dataset.problems],
        title=f"{org.name} {in_title} 问题督办台账{status_label}",
        period_key=key,
        period_label=f"{in_title}{status_label}",
        unit="条",
        columns=(
            Column("点位", 20),
            Column("责任单位", 20),
            Column("类别", 12),
            Column("描述", 40),
            Column("状态", 14),
            Column("发现时间", 18, Kind.datetime),
            Column("整改期限", 12, Kind.date),
            Column("是否逾期", 10),
            Column("整改时间", 18, Kind.datetime),
            Column("销号时间", 18, Kind.datetime),
        ),
        stmt=stmt,
        to_row=to_row,
    )


def _inspections(org: Org, month: str | None, year: int | None) -> _Spec:
    held_by, inspector, team = aliased(Org), aliased(User), aliased(InspectionTeam)
    in_title, key, within = _month_or_year(month, year, col(Inspection.visited_at))
    conditions = [in_reach(col(Inspection.org_id), [org.path]), *within]
    stmt = (
        sa_select(
            Inspection,
            col(Point.name),
            col(Point.kind),
            col(held_by.name),
            col(inspector.name),
            col(team.name),
            _row_count(),
        )
        .join(Point, col(Point.id) == col(Inspection.point_id))
        .join(held_by, col(held_by.id) == col(Inspection.org_id))
        .join(inspector, col(inspector.id) == col(Inspection.inspector_id))
        .outerjoin(team, col(team.id) == col(Inspection.team_id))
        .where(*conditions)
        .order_by(col(Inspection.visited_at), col(Inspection.id))
    )

    def to_row(r: DbRow) -> list[Any]:
        visit: Inspection = r[0]
        return [
            visit.visited_at,
            r[1],
            POINT_KIND_NAMES[PointKind(r[2])],
            r[3],
            r[4],
            r[5] or "",
            YES_NO[visit.meets_standard],
            visit.failed_count,
            round(visit.distance_m),
            visit.note or "",
        ]

    return _Spec(
        sheet_name=DATASET_NAMES[Dataset.inspections],
        title=f"{org.name} {in_title} 督导巡查台账",
        period_key=key,
        period_label=in_title,
        unit="次",
        columns=(
            Column("巡查时间", 18, Kind.datetime),
            Column("点位", 20),
            Column("点位类型", 12),
            Column("所属单位", 20),
            Column("巡查人", 12),
            Column("督导组", 16),
            Column("是否达标", 10),
            Column("未通过项", 10, Kind.number),
            Column("距点位（米）", 12, Kind.number),
            Column("备注", 30),
        ),
        stmt=stmt,
        to_row=to_row,
    )


def _reports(
    org: Org,
    month: str | None,
    year: int | None,
    status: StrEnum | None,
    status_label: str,
) -> _Spec:
    """Residents' reports (随手拍) made to the org's communities: when, where, what,
    who reported it (masked phone only: a resident, not an office's person), how it
    was handled and how long that took, and the problem it was accepted into."""
    community, reporter, handler = aliased(Org), aliased(User), aliased(User)
    in_title, key, within = _month_or_year(month, year, col(Report.created_at))
    conditions = [in_reach(col(Report.org_id), [org.path]), *within]
    if status is not None:
        conditions.append(col(Report.status) == status)
    stmt = (
        sa_select(
            Report,
            col(community.name),
            col(reporter.phone_masked),
            col(handler.name),
            col(Problem.status),
            _row_count(),
        )
        .join(community, col(community.id) == col(Report.org_id))
        .join(reporter, col(reporter.id) == col(Report.reporter_id))
        .outerjoin(handler, col(handler.id) == col(Report.handled_by_id))
        .outerjoin(Problem, col(Problem.id) == col(Report.problem_id))
        .where(*conditions)
        .order_by(col(Report.created_at), col(Report.id))
    )

    def to_row(r: DbRow) -> list[Any]:
        report: Report = r[0]
        hours = (
            round((report.handled_at - report.created_at).total_seconds() / 3600, 1)
            if report.handled_at is not None
            else None
        )
        return [
            report.created_at,
            r[1],
            CATEGORY_NAMES[ProblemCategory(report.category)],
            report.description,
            r[2] or "",
            report_service.STATUS_NAMES[ReportStatus(report.status)],
            report.handled_at,
            hours,
            r[3] or "",
            report.problem_id,
            problem_service.STATUS_NAMES[ProblemStatus(r[4])] if r[4] else "",
            report.reject_reason or "",
        ]

    return _Spec(
        sheet_name=DATASET_NAMES[Dataset.reports],
        title=f"{org.name} {in_title} 随手拍台账{status_label}",
        period_key=key,
        period_label=f"{in_title}{status_label}",
        unit="条",
        columns=(
            Column("上报时间", 18, Kind.datetime),
            Column("社区", 16),
            Column("类别", 12),
            Column("描述", 40),
            Column("上报人手机", 14),
            Column("状态", 10),
            Column("处理时间", 18, Kind.datetime),
            Column("处理用时（小时）", 14, Kind.number),
            Column("处理人", 12),
            Column("受理问题编号", 12, Kind.number),
            Column("问题状态", 12),
            Column("未受理原因", 30),
        ),
        stmt=stmt,
        to_row=to_row,
    )


def _publicity(org: Org, stats: PublicityStats) -> _Spec:
    """The quarterly bulletin (通报): one row per child org in rank order, 合计 last."""
    levels = list(PlacementLevel)

    def to_row(r: PublicityRow) -> list[Any]:
        counts = [getattr(r.placements, level.value) for level in levels]
        return [r.rank, r.org_name, r.submitted, r.published, *counts, r.score]

    def footer() -> list[list[Any]]:
        return [["合计", None, *to_row(stats.total)[2:]]]

    period = f"{stats.year}年第{stats.quarter}季度"
    weights = "，".join(f"{LEVEL_NAMES[lv]}{stats.weights[lv]:g}分" for lv in levels)
    return _Spec(
        sheet_name=DATASET_NAMES[Dataset.publicity],
        title=f"{org.name} {period} 宣传工作通报（每篇上稿：{weights}）",
        period_key=f"{stats.year}-Q{stats.quarter}",
        period_label=period,
        unit="个单位",
        columns=(
            Column("名次", 8, Kind.number),
            Column("单位", 24),
            Column("投稿", 10, Kind.number),
            Column("用稿", 10, Kind.number),
            *(Column(f"{LEVEL_NAMES[lv]}上稿", 12, Kind.number) for lv in levels),
            Column("得分", 10, Kind.number),
        ),
        stmt=None,
        to_row=to_row,
        footer=footer,
        computed=stats.children,
    )


def _scores(org: Org, table: ScoreTable, reviews: Sequence[MonthlyReview]) -> _Spec:
    """The office's monthly ranking table (月点评): one row per child org in rank
    order, its components, score, change, and the month's comments on it."""
    metrics = list(table.weights)
    said: dict[int, list[str]] = {}
    for review in sorted(reviews, key=lambda r: r.id or 0):
        said.setdefault(review.org_id, []).append(review.comment)

    def to_row(r: ScoreRow) -> list[Any]:
        values = [r.components.get(m) for m in metrics]
        cells = [None if v is None else round(v * 100, 2) for v in values]
        comments = "；".join(said.get(r.org_id, []))
        return [r.rank, r.org_name, *cells, r.score, r.change, comments]

    weights = "，".join(f"{METRIC_NAMES[m]}{table.weights[m]:g}" for m in metrics) or "未设定"
    return _Spec(
        sheet_name=DATASET_NAMES[Dataset.scores],
        title=f"{org.name} {_cn_month(table.month)} 综合评分排名（权重：{weights}）",
        period_key=table.month,
        period_label=_cn_month(table.month),
        unit="个单位",
        columns=(
            Column("名次", 8, Kind.number),
            Column("单位", 24),
            *(Column(f"{METRIC_NAMES[m]}（%）", 14, Kind.number) for m in metrics),
            Column("综合得分", 10, Kind.number),
            Column("较上月", 10, Kind.number),
            Column("月点评", 40),
        ),
        stmt=None,
        to_row=to_row,
        computed=table.items,
    )


def _period(
    month: str | None, year: int | None, now: datetime
) -> tuple[datetime, datetime, str, str]:
    """(start, end, in the title, ASCII key) of a month, a year or, by default, this month."""
    if year is not None:
        start, end = year_bounds(year)
        return start, end, f"{year}年", str(year)
    month = month or month_key(now)
    start, end = month_bounds(month)
    return start, end, _cn_month(month), month


def _points(org: Org, month: str | None, year: int | None, now: datetime) -> _Spec:
    """Every entry of the period at orgs in the subtree, signed for the person: what
    they received is positive, what they gave (a redemption, a grant reversed) negative."""
    start, end, in_title, key = _period(month, year, now)
    held_by, target = aliased(Org), aliased(PointsAccount)
    stmt = (
        sa_select(
            col(PointsEntry.created_at),
            col(User.name),
            col(held_by.name),
            col(PointsEntry.kind),
            col(PointsEntry.note),
            col(PointsEntry.amount),
            col(target.kind),
            _row_count(),
        )
        .join(User, col(User.id) == col(PointsEntry.user_id))
        .join(held_by, col(held_by.id) == col(PointsEntry.org_id))
        .join(target, col(target.id) == col(PointsEntry.to_account_id))
        .where(
            in_reach(col(PointsEntry.org_id), [org.path]),
            col(PointsEntry.created_at) >= start,
            col(PointsEntry.created_at) < end,
        )
        .order_by(col(PointsEntry.id))
    )
    sums = {"in": 0, "out": 0}

    def to_row(r: DbRow) -> list[Any]:
        signed = int(r[5]) if r[6] == AccountKind.person else -int(r[5])
        sums["in" if signed > 0 else "out"] += signed
        return [r[0], r[1], r[2], ENTRY_KIND_NAMES[EntryKind(r[3])], r[4], signed]

    def footer() -> list[list[Any]]:
        return [
            ["合计收入", None, None, None, None, None, sums["in"]],
            ["合计支出", None, None, None, None, None, sums["out"]],
        ]

    return _Spec(
        sheet_name=DATASET_NAMES[Dataset.points],
        title=f"{org.name} {in_title} 积分台账",
        period_key=key,
        period_label=in_title,
        unit="条",
        columns=(
            Column("时间", 18, Kind.datetime),
            Column("姓名", 12),
            Column("组织", 20),
            Column("类型", 10),
            Column("说明", 36),
            Column("积分", 10, Kind.number),
        ),
        stmt=stmt,
        to_row=to_row,
        footer=footer,
    )


def _redemptions(
    org: Org,
    month: str | None,
    year: int | None,
    now: datetime,
    status: StrEnum | None,
    status_label: str,
) -> _Spec:
    start, end, in_title, key = _period(month, year, now)
    community = aliased(Org)
    conditions = [
        in_reach(col(Redemption.community_id), [org.path]),
        col(Redemption.reserved_at) >= start,
        col(Redemption.reserved_at) < end,
    ]
    if status is not None:
        conditions.append(col(Redemption.status) == status)
    stmt = (
        sa_select(
            col(Redemption.reserved_at),
            col(User.name),
            col(community.name),
            col(ShopItem.name),
            col(Redemption.quantity),
            col(Redemption.points),
            col(Redemption.status),
            col(Redemption.closed_at),
            _row_count(),
        )
        .join(User, col(User.id) == col(Redemption.user_id))
        .join(community, col(community.id) == col(Redemption.community_id))
        .join(ShopItem, col(ShopItem.id) == col(Redemption.item_id))
        .where(*conditions)
        .order_by(col(Redemption.id))
    )

    def to_row(r: DbRow) -> list[Any]:
        status_name = REDEMPTION_STATUS_NAMES[RedemptionStatus(r[6])]
        return [r[0], r[1], r[2], r[3], r[4], r[5], status_name, r[7]]

    return _Spec(
        sheet_name=DATASET_NAMES[Dataset.redemptions],
        title=f"{org.name} {in_title} 积分兑换台账{status_label}",
        period_key=key,
        period_label=f"{in_title}{status_label}",
        unit="条",
        columns=(
            Column("预约时间", 18, Kind.datetime),
            Column("姓名", 12),
            Column("社区", 20),
            Column("物品", 24),
            Column("数量", 8, Kind.number),
            Column("积分", 10, Kind.number),
            Column("状态", 10),
            Column("取货/取消时间", 18, Kind.datetime),
        ),
        stmt=stmt,
        to_row=to_row,
    )


def _survey_responses(org: Org, subtree: list[int], survey: Survey) -> _Spec:
    """The answers of the survey's respondents whose home lies in `org`'s subtree,
    without their names: where they live and what they answered is the office's to
    see, who answered what is not."""
    community, unit = aliased(Org), aliased(Org)
    stmt = (
        sa_select(SurveyResponse, col(community.name), col(unit.name), _row_count())
        .outerjoin(community, col(community.id) == col(SurveyResponse.community_id))
        .outerjoin(unit, col(unit.id) == col(SurveyResponse.unit_id))
        .where(
            col(SurveyResponse.survey_id) == survey.id,
            col(SurveyResponse.community_id).in_(subtree)
            | col(SurveyResponse.unit_id).in_(subtree),
        )
        .order_by(col(SurveyResponse.submitted_at), col(SurveyResponse.id))
    )
    questions = survey.questions
    quiz = survey.kind == SurveyKind.quiz

    def shown(q: dict[str, Any], a: dict[str, Any] | None) -> Any:
        if a is None:
            return ""
        if q["type"] in (QuestionType.single, QuestionType.multi):
            return "、".join(q["options"][c] for c in a["choices"])
        return a.get("scale", a.get("text", ""))

    def to_row(r: DbRow) -> list[Any]:
        response: SurveyResponse = r[0]
        given = {a["question_id"]: a for a in response.answers}
        score = [response.score] if quiz else []
        return [
            response.submitted_at,
            r[1] or "",
            r[2] or "",
            *score,
            *(shown(q, given.get(i)) for i, q in enumerate(questions)),
        ]

    return _Spec(
        sheet_name=DATASET_NAMES[Dataset.survey_responses],
        title=f"{org.name} {survey.title} 答卷",
        period_key=f"survey{survey.id}",
        period_label=survey.title,
        unit="份",
        columns=(
            Column("提交时间", 18, Kind.datetime),
            Column("社区", 16),
            Column("单位", 16),
            *((Column("得分", 8, Kind.number),) if quiz else ()),
            *(Column(f"{i + 1}. {q['text'][:30]}", 24) for i, q in enumerate(questions)),
        ),
        stmt=stmt,
        to_row=to_row,
    )


POINT_KIND_NAMES = {
    PointKind.market: "农贸市场",
    PointKind.back_street: "背街小巷",
    PointKind.compound: "居民小区",
    PointKind.bus_stop: "公交站台",
    PointKind.main_road: "主次干道",
    PointKind.square: "广场公园",
    PointKind.school_surroundings: "校园周边",
    PointKind.hospital: "医院",
    PointKind.station: "车站",
    PointKind.public_toilet: "公共厕所",
    PointKind.construction_site: "建筑工地",
    PointKind.other: "其他",
}


# --- the sheet ---------------------------------------------------------------------------

_THIN = Side(style="thin")
_BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)


class _Sheet:
    """A write-only worksheet laid out as a ledger. Blocking: call it from a worker thread.

    Layout (column widths, frozen header, merged title lines, print settings) must be
    set before the first row: a write-only sheet writes its head when rows start.
    """

    def __init__(self, spec: _Spec):
        self._spec = spec
        self._columns = (SERIAL, *spec.columns)
        self._wb = Workbook(write_only=True)
        ws = self._wb.create_sheet(spec.sheet_name)
        assert isinstance(ws, WriteOnlyWorksheet)
        self._ws = ws
        last = get_column_letter(len(self._columns))
        for i, column in enumerate(self._columns, start=1):
            ws.column_dimensions[get_column_letter(i)].width = column.width
        ws.freeze_panes = "A4"
        # merge_cells() is missing in write-only mode, but the ranges it keeps are
        # written at the end of the sheet like any other.
        ws.merged_cells.add(f"A1:{last}1")
        ws.merged_cells.add(f"A2:{last}2")
        ws.row_dimensions[1].height = 30
        ws.print_title_rows = "3:3"
        ws.print_options.gridLines = True
        ws.page_setup.orientation = "landscape"
        ws.page_setup.fitToHeight = 0
        ws.sheet_properties.pageSetUpPr.fitToPage = True
        # One styled cell per date column, refilled row after row: append() writes
        # each row out before returning, so the next row may reuse it.
        self._date_cells = {
            i: xlsx.cell(ws, None, number_format=NUMBER_FORMATS[column.kind])
            for i, column in enumerate(self._columns)
            if column.kind in NUMBER_FORMATS
        }
        self.written = 0

    def head(self, subtitle: str) -> None:
        ws = self._ws
        ws.append(
            [
                xlsx.cell(
                    ws,
                    self._spec.title,
                    font=Font(bold=True, size=16),
                    alignment=Alignment(horizontal="center", vertical="center"),
                )
            ]
        )
        ws.append([xlsx.cell(ws, subtitle, alignment=Alignment(horizontal="right"))])
        fill = PatternFill("solid", fgColor="D9D9D9")
        ws.append(
            [
                xlsx.cell(
                    ws,
                    c.header,
                    font=Font(bold=True),
                    fill=fill,
                    border=_BORDER,
                    alignment=Alignment(horizontal="center", vertical="center"),
                )
                for c in self._columns
            ]
        )

    def _cells(self, values: Sequence[Any]) -> list[Any]:
        out = xlsx.row(self._ws, values)
        for i, cell in self._date_cells.items():
            value = values[i]
            if value is None:
                continue
            if isinstance(value, datetime):
                value = local(value).replace(tzinfo=None)
            cell.value = value
            out[i] = cell
        return out

    def rows(self, chunk: Sequence[DbRow]) -> None:
        for r in chunk:
            self.written += 1
            self._ws.append(self._cells([self.written, *self._spec.to_row(r)]))

    def finish(self, path: str) -> None:
        bold = Font(bold=True)
        for line in self._spec.footer():
            self._ws.append(
                [xlsx.cell(self._ws, v, font=bold) if v is not None else None for v in line]
            )
        self._wb.save(path)


# --- the export --------------------------------------------------------------------------


async def _write(session: AsyncSession, spec: _Spec, path: str, now: datetime) -> int:
    sheet = await anyio.to_thread.run_sync(_Sheet, spec)
    if spec.stmt is None:
        stamp = local(now).strftime("%Y-%m-%d %H:%M")
        await anyio.to_thread.run_sync(
            sheet.head, f"导出时间：{stamp}　共 {len(spec.computed)} {spec.unit}"
        )
        await anyio.to_thread.run_sync(sheet.rows, spec.computed)
        await anyio.to_thread.run_sync(sheet.finish, path)
        return sheet.written
    result = await session.stream(spec.stmt.execution_options(yield_per=CHUNK_ROWS))
    try:
        chunks = result.partitions()
        chunk: Sequence[DbRow] = await anext(chunks, [])
        total = int(chunk[0].row_count) if chunk else 0
        stamp = local(now).strftime("%Y-%m-%d %H:%M")
        await anyio.to_thread.run_sync(sheet.head, f"导出时间：{stamp}　共 {total} {spec.unit}")
        while chunk:
            await anyio.to_thread.run_sync(sheet.rows, chunk)
            chunk = await anext(chunks, [])
    finally:
        await result.close()
    await anyio.to_thread.run_sync(sheet.finish, path)
    return sheet.written


async def export_ledger(
    session: AsyncSession,
    *,
    dataset: Dataset,
    org: Org,
    month: str | None = None,
    year: int | None = None,
    status: str | None = None,
    quarter: int | None = None,
    survey_id: int | None = None,
    district_after_days: int,
    now: datetime | None = None,
) -> Ledger:
    """Write the ledger of `dataset` for `org`'s subtree to a temporary file.

    Periods: report-ins a Shanghai month (default this one); volunteer hours a
    Shanghai year (default this one) by start; wishes and problems optionally a year
    by creation (default all). The route checks `org` is in the caller's admin reach (404).
    """
    now = now or utcnow()
    _check_filters(dataset, month, year, quarter)
    status_value, status_label = _parse_status(dataset, status)
    match dataset:
        case Dataset.members:
            spec = _members(org, await org_ids_within(session, [org.path]), now)
        case Dataset.report_ins if org.level == OrgLevel.unit and year is not None:
            subtree = await org_ids_within(session, [org.path])
            spec = _unit_report_ins_year(org, subtree, year, months_of(year, now))
        case Dataset.report_ins if org.level == OrgLevel.unit:
            subtree = await org_ids_within(session, [org.path])
            spec = _unit_report_ins(org, subtree, month or month_key(now))
        case Dataset.report_ins if year is not None:
            raise Unprocessable("invalid_filter", "只有单位的党员报到台账可以按年份导出")
        case Dataset.report_ins:
            spec = _report_ins(org, month or month_key(now))
        case Dataset.pairings:
            spec = _pairings(org, year or local(now).year)
        case Dataset.volunteer_hours:
            spec = _volunteer_hours(org, year or local(now).year, status_value, status_label)
        case Dataset.wishes:
            spec = _wishes(org, year, status_value, status_label)
        case Dataset.problems:
            spec = _problems(org, year, status_value, status_label, now)
        case Dataset.inspections:
            spec = _inspections(org, month, year)
        case Dataset.reports:
            spec = _reports(org, month, year, status_value, status_label)
        case Dataset.publicity:
            year = year or local(now).year
            quarter = quarter or (local(now).month - 1) // 3 + 1
            stats = await publicity.publicity_stats(session, org=org, year=year, quarter=quarter)
            spec = _publicity(org, stats)
        case Dataset.volunteers:
            spec = _volunteers(org, status_value, status_label)
        case Dataset.service_orders:
            spec = _service_orders(org, year, status_value, status_label, now)
        case Dataset.points:
            spec = _points(org, month, year, now)
        case Dataset.redemptions:
            spec = _redemptions(org, month, year, now, status_value, status_label)
        case Dataset.household_visits:
            spec = _household_visits(org, month or month_key(now))
        case Dataset.scores:
            table = await dashboard.scores(
                session,
                org=org,
                month=month,
                district_after_days=district_after_days,
                now=now,
            )
            reviews, _ = await scoring.list_reviews(
                session, org=org, subtree=True, month=table.month, offset=0, limit=1000
            )
            spec = _scores(org, table, reviews)
        case Dataset.survey_responses:
            survey = await _survey_of(session, org, survey_id)
            spec = _survey_responses(org, await org_ids_within(session, [org.path]), survey)
        case Dataset.indicators:
            spec = _indicators(org, status_value, status_label, now)

    fd, path = tempfile.mkstemp(prefix=_temp_prefix(), suffix=".xlsx")
    os.close(fd)
    try:
        rows = await _write(session, spec, path, now)
    except BaseException:
        remove_ledger(path)
        raise
    name = DATASET_NAMES[dataset]
    return Ledger(
        path=path,
        filename=f"{org.name}-{name}-{spec.period_label}.xlsx",
        ascii_filename=f"{dataset.value}-{org.id}-{spec.period_key}.xlsx",
        rows=rows,
    )


def _household_visits(org: Org, month: str) -> _Spec:
    community, visitor = aliased(Org), aliased(User)
    stmt = (
        sa_select(HouseholdVisit, col(community.name), col(visitor.name), _row_count())
        .join(community, col(community.id) == col(HouseholdVisit.community_id))
        .join(visitor, col(visitor.id) == col(HouseholdVisit.visitor_id))
        .where(
            in_reach(col(HouseholdVisit.community_id), [org.path]),
            col(HouseholdVisit.month) == month,
        )
        .order_by(col(HouseholdVisit.visited_at), col(HouseholdVisit.id))
    )

    def to_row(r: DbRow) -> list[Any]:
        visit: HouseholdVisit = r[0]
        return [
            visit.visited_at,
            r[1],
            visit.household_label,
            YES_NO[visit.aware],
            visit.satisfaction,
            r[2],
            visit.note or "",
        ]

    return _Spec(
        sheet_name=DATASET_NAMES[Dataset.household_visits],
        title=f"{org.name} {_cn_month(month)} 入户调查台账",
        period_key=month,
        period_label=_cn_month(month),
        unit="户",
        columns=(
            Column("调查时间", 18, Kind.datetime),
            Column("社区", 16),
            Column("户", 20),
            Column("是否知晓", 10),
            Column("满意程度（1–5）", 14, Kind.number),
            Column("调查人", 12),
            Column("备注", 30),
        ),
        stmt=stmt,
        to_row=to_row,
    )


def _indicators(org: Org, status: StrEnum | None, status_label: str, now: datetime) -> _Spec:
    """网上资料申报: every indicator item of the orgs in the subtree as it stands, in
    the board's order (due day, code). Overdue is the one rule (overdue_condition)."""
    held_by, owner = aliased(Org), aliased(User)
    conditions = [in_reach(col(Indicator.org_id), [org.path])]
    if status is not None:
        conditions.append(col(Indicator.status) == status)
    # The evidence everyone who sees the item sees (shown_to(None)): a photo WeChat
    # has not passed counts for no one but its uploader, so not in an office's table.
    evidence = (
        sa_select(func.count())
        .select_from(MediaAttachment)
        .join(Media, col(Media.id) == col(MediaAttachment.media_id))
        .where(
            col(MediaAttachment.record_type) == indicator_service.INDICATOR_RECORD,
            col(MediaAttachment.record_id) == col(Indicator.id),
            shown_to(None),
        )
        .scalar_subquery()
    )
    stmt = (
        sa_select(
            Indicator,
            col(held_by.name),
            col(owner.name),
            evidence,
            overdue_condition(local(now).date()),
            _row_count(),
        )
        .join(held_by, col(held_by.id) == col(Indicator.org_id))
        .join(owner, col(owner.id) == col(Indicator.owner_id))
        .where(*conditions)
        .order_by(col(Indicator.due_on), col(Indicator.code), col(Indicator.id))
    )

    def to_row(r: DbRow) -> list[Any]:
        item: Indicator = r[0]
        return [
            item.code,
            item.title,
            r[1],
            r[2],
            item.due_on,
            indicator_service.STATUS_NAMES[IndicatorStatus(item.status)],
            YES_NO[bool(r[4])],
            int(r[3]),
            item.submitted_at,
            item.reviewed_at,
            item.review_comment or "",
        ]

    today = local(now).date()
    return _Spec(
        sheet_name=DATASET_NAMES[Dataset.indicators],
        title=f"{org.name} 网上资料申报台账{status_label}（截至{_cn_date(today)}）",
        period_key=today.strftime("%Y%m%d"),
        period_label=f"{today.isoformat()}{status_label}",
        unit="项",
        columns=(
            Column("指标编号", 12),
            Column("指标名称", 36),
            Column("责任组织", 18),
            Column("责任人", 12),
            Column("截止日期", 12, Kind.date),
            Column("状态", 10),
            Column("是否逾期", 10),
            Column("证明材料数", 10, Kind.number),
            Column("提交时间", 18, Kind.datetime),
            Column("审核时间", 18, Kind.datetime),
            Column("审核意见", 30),
        ),
        stmt=stmt,
        to_row=to_row,
    )


async def _survey_of(session: AsyncSession, org: Org, survey_id: int | None) -> Survey:
    """The survey whose answers are asked for: one of an org above or inside `org`
    (the route has checked `org` is in reach), else missing."""
    if survey_id is None:
        raise Unprocessable("survey_required", "导出答卷须指定 survey_id")
    survey = await session.get(Survey, survey_id)
    own = await session.get(Org, survey.org_id) if survey else None
    if survey is None or own is None:
        raise NotFound()
    if not (is_within(own.path, org.path) or is_within(org.path, own.path)):
        raise NotFound()
    return survey


def remove_ledger(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
