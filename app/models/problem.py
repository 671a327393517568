"""Supervision (督办): inspection points, the problems found there, and their history."""

from collections.abc import Iterable
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Self

from pydantic import StringConstraints, model_validator
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlmodel import Field, SQLModel

from app.core.db import UTCDateTime
from app.models.common import (
    NEVER_REUSED_IDS,
    Latitude,
    Longitude,
    PhotoId,
    StrictInput,
    created_at_field,
    updated_at_field,
)
from app.models.pairing import LiaisonKind
from app.models.user import MAX_ID

# A visit counts within this distance of the point unless the point says otherwise:
# phone GPS in streets is off by tens of metres, and a market or square is large.
DEFAULT_POINT_RADIUS_M = 200
MAX_POINT_RADIUS_M = 5000


class PointKind(StrEnum):
    """The kinds of place the national assessment walks; `other` for the rest."""

    market = "market"  # 农贸市场
    back_street = "back_street"  # 背街小巷
    compound = "compound"  # 居民小区、院落
    bus_stop = "bus_stop"  # 公交站台
    main_road = "main_road"  # 主次干道
    square = "square"  # 广场、公园
    school_surroundings = "school_surroundings"  # 校园周边
    hospital = "hospital"  # 医院
    station = "station"  # 车站
    public_toilet = "public_toilet"  # 公共厕所
    construction_site = "construction_site"  # 建筑工地
    other = "other"


class ProblemCategory(StrEnum):
    """What the assessment marks down; an enum so ledgers and dashboards group by it."""

    sanitation = "sanitation"  # 环境卫生：垃圾、积存污物、卫生死角
    illegal_parking = "illegal_parking"  # 乱停乱放
    street_vending = "street_vending"  # 占道经营、流动摊贩
    illegal_ads = "illegal_ads"  # 乱贴乱画、小广告
    facilities = "facilities"  # 公共设施破损
    greening = "greening"  # 绿化缺失、黄土裸露
    publicity = "publicity"  # 公益广告、创文宣传缺失
    uncivil_behaviour = "uncivil_behaviour"  # 不文明行为
    traffic_order = "traffic_order"  # 交通秩序
    food_safety = "food_safety"  # 食品安全、农贸市场秩序
    other = "other"


class ProblemStatus(StrEnum):
    open = "open"  # found, waiting for rectification (or sent back)
    rectified = "rectified"  # rectified, waiting for verification (复核)
    closed = "closed"  # verified: 销号


class ProblemAction(StrEnum):
    create = "create"
    rectify = "rectify"
    close = "close"  # verification approved
    reopen = "reopen"  # verification refused: back to open with a reason


# Still to be dealt with: these count as overdue once past the deadline.
UNRESOLVED = frozenset({ProblemStatus.open, ProblemStatus.rectified})


def _in(values: Iterable[StrEnum]) -> str:
    return ", ".join(f"'{v.value}'" for v in sorted(values))


class Point(SQLModel, table=True):
    """An inspection point (点位) of an org, with its responsible person (包抓)."""

    __tablename__ = "points"
    __table_args__ = (
        CheckConstraint(f"kind IN ({_in(PointKind)})", name="kind"),
        CheckConstraint("lat BETWEEN -90 AND 90 AND lng BETWEEN -180 AND 180", name="location"),
        Index("ix_points_org_kind", "org_id", "kind"),
        NEVER_REUSED_IDS,
    )

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_column=Column(String(100), nullable=False))
    kind: PointKind = Field(sa_column=Column(String(30), nullable=False))
    org_id: int = Field(
        sa_column=Column(Integer, ForeignKey("orgs.id", ondelete="RESTRICT"), nullable=False)
    )
    lat: float = Field(sa_column=Column(Float, nullable=False))
    lng: float = Field(sa_column=Column(Float, nullable=False))
    responsible_user_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    )
    created_by_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("users.id", ondelete="SET NULL"))
    )
    # How far from its position a visit may be recorded (the geofence of inspections).
    radius_m: int = Field(
        default=DEFAULT_POINT_RADIUS_M,
        sa_column=Column(Integer, nullable=False, server_default=str(DEFAULT_POINT_RADIUS_M)),
    )
    # From its latest visit (by visited_at, then id), set by the visit's own conditional
    # UPDATE (services/inspections.record_visit), so two visits at once leave the later.
    meets_standard: bool | None = Field(default=None, sa_column=Column(Boolean, nullable=True))
    last_inspected_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    last_inspection_id: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


class Problem(SQLModel, table=True):
    """A problem found at a point (督办单), owned by the responsible org until verified."""

    __tablename__ = "problems"
    __table_args__ = (
        CheckConstraint(f"status IN ({_in(ProblemStatus)})", name="status"),
        CheckConstraint(f"category IN ({_in(ProblemCategory)})", name="category"),
        CheckConstraint(
            "(lat IS NULL AND lng IS NULL) OR (lat IS NOT NULL AND lng IS NOT NULL)",
            name="location_complete",
        ),
        CheckConstraint("status <> 'closed' OR closed_at IS NOT NULL", name="closed_at_present"),
        # The dashboards count overdue and escalated problems from this index alone.
        Index("ix_problems_org_status_deadline_at", "org_id", "status", "deadline_at"),
        # Overdue and escalation filters: unresolved problems by deadline.
        Index("ix_problems_status_deadline_at", "status", "deadline_at"),
        Index("ix_problems_created_at", "created_at"),
        # Dashboards: the problems an org found in a month.
        Index("ix_problems_org_created_at", "org_id", "created_at"),
        # Reports' possible duplicates: problems within 50 m (a latitude range first).
        Index("ix_problems_lat_lng", "lat", "lng"),
        NEVER_REUSED_IDS,
    )

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(
        sa_column=Column(Integer, ForeignKey("orgs.id", ondelete="RESTRICT"), nullable=False)
    )
    point_id: int | None = Field(
        default=None,
        sa_column=Column(
            Integer, ForeignKey("points.id", ondelete="RESTRICT"), nullable=True, index=True
        ),
    )
    category: ProblemCategory = Field(sa_column=Column(String(30), nullable=False))
    description: str = Field(sa_column=Column(Text, nullable=False))
    lat: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    lng: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    # The last day (Asia/Shanghai) to fix it, and the instant that day ends (the
    # start of the next Shanghai day, in UTC): overdue iff now >= deadline_at.
    deadline: date = Field(sa_column=Column(Date, nullable=False))
    deadline_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    status: ProblemStatus = Field(sa_column=Column(String(20), nullable=False))
    reported_by_id: int = Field(
        sa_column=Column(Integer, ForeignKey("users.id", ondelete="RESTRICT"), nullable=False)
    )
    rectified_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    rectify_note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    rectified_by_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("users.id", ondelete="RESTRICT"), nullable=True),
    )
    closed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


class ProblemEvent(SQLModel, table=True):
    """The append-only history of a problem: every step, who took it and when."""

    __tablename__ = "problem_events"
    __table_args__ = (
        CheckConstraint(f"action IN ({_in(ProblemAction)})", name="action"),
        # The weekly bulletin counts rectifications and closures by time.
        Index("ix_problem_events_action_at", "action", "at"),
        NEVER_REUSED_IDS,
    )

    id: int | None = Field(default=None, primary_key=True)
    problem_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("problems.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    action: ProblemAction = Field(sa_column=Column(String(20), nullable=False))
    from_status: ProblemStatus | None = Field(
        default=None, sa_column=Column(String(20), nullable=True)
    )
    to_status: ProblemStatus = Field(sa_column=Column(String(20), nullable=False))
    actor_id: int = Field(
        sa_column=Column(Integer, ForeignKey("users.id", ondelete="RESTRICT"), nullable=False)
    )
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    at: datetime = created_at_field()


# --- API shapes ---------------------------------------------------------------

Text1 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]

MAX_WORKING_DAYS = 250  # about a working year


class Location(SQLModel):
    lat: Latitude
    lng: Longitude


class LocationInput(Location, StrictInput):
    pass


class PointCreate(StrictInput):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    kind: PointKind
    org_id: int = Field(ge=1, le=MAX_ID, description="社区、街道或单位")
    location: LocationInput
    responsible_user_id: int | None = Field(
        default=None, ge=1, le=MAX_ID, description="包抓责任人，须在调用者的管理范围内"
    )
    radius_m: int = Field(
        default=DEFAULT_POINT_RADIUS_M,
        ge=10,
        le=MAX_POINT_RADIUS_M,
        description="巡查定位范围（米）：巡查记录须在此距离内",
    )


class PointPublic(SQLModel):
    id: int
    name: str
    kind: PointKind
    org_id: int
    location: Location
    radius_m: int
    responsible_user_id: int | None
    responsible_user_name: str | None
    meets_standard: bool | None = Field(description="最近一次巡查是否全部达标；未巡查为 null")
    last_inspected_at: datetime | None
    created_at: datetime


class ProblemCreate(StrictInput):
    org_id: int = Field(ge=1, le=MAX_ID, description="责任单位：社区、街道或单位")
    point_id: int | None = Field(
        default=None, ge=1, le=MAX_ID, description="所在点位，须属于责任单位或其下级"
    )
    category: ProblemCategory
    description: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)
    ]
    location: LocationInput | None = Field(default=None, description="不填则取点位的位置")
    photo_ids: list[PhotoId] = Field(
        min_length=1, max_length=9, description="整改前照片，至少一张本人上传的照片"
    )
    deadline: date | None = Field(
        default=None,
        description="整改期限（北京时间的日期，含当天）；与 deadline_working_days 二选一",
    )
    deadline_working_days: int | None = Field(
        default=None,
        ge=1,
        le=MAX_WORKING_DAYS,
        description="整改期限：自提交次日起的第 N 个工作日（按国务院节假日安排，含调休）",
    )

    @model_validator(mode="after")
    def _one_deadline(self) -> Self:
        if (self.deadline is None) == (self.deadline_working_days is None):
            raise ValueError("deadline 和 deadline_working_days 须且只须填写一个")
        return self


class ProblemRectify(StrictInput):
    photo_ids: list[PhotoId] = Field(
        min_length=1, max_length=9, description="整改后照片，至少一张本人上传的照片"
    )
    note: Text1 = Field(max_length=2000, description="整改情况说明")


class ProblemVerify(StrictInput):
    approve: bool
    note: str | None = Field(default=None, max_length=2000, description="退回重新整改时必填")


class EscalationLevel(StrEnum):
    none = "none"
    street = "street"  # overdue: the street office follows it
    district = "district"  # overdue for PROBLEM_DISTRICT_ESCALATION_DAYS more days


class ProblemPublic(SQLModel):
    id: int
    org_id: int
    point_id: int | None
    category: ProblemCategory
    description: str
    location: Location | None
    deadline: date = Field(description="整改期限（北京时间，含当天）")
    deadline_at: datetime = Field(description="期限届满的时刻（期限次日零点，北京时间）")
    status: ProblemStatus
    overdue: bool = Field(description="待整改或已整改未复核，且已过期限")
    escalation_level: EscalationLevel = Field(
        description="逾期即升级到街道；逾期超过 PROBLEM_DISTRICT_ESCALATION_DAYS 天升级到区"
    )
    reported_by_id: int
    photo_ids: list[int] = Field(description="整改前照片")
    after_photo_ids: list[int] = Field(description="最近一次整改的整改后照片")
    rectified_at: datetime | None
    rectify_note: str | None
    rectified_by_id: int | None
    closed_at: datetime | None
    created_at: datetime
    updated_at: datetime


class ProblemEventPublic(SQLModel):
    id: int
    action: ProblemAction
    from_status: ProblemStatus | None
    to_status: ProblemStatus
    actor_id: int
    actor_name: str
    note: str | None
    photo_ids: list[int] = Field(description="该步骤附的照片（提交时为整改前，整改时为整改后）")
    at: datetime


class ProblemDetail(ProblemPublic):
    history: list[ProblemEventPublic]


class BulletinCounts(SQLModel):
    found: int = Field(description="本周发现问题（本周提交）")
    rectified: int = Field(description="本周整改的问题数")
    closed: int = Field(description="本周复核销号的问题数")
    overdue: int = Field(description="周末（本周尚未结束则为此刻）逾期未销号的问题数")


class BulletinRow(BulletinCounts):
    org_id: int
    org_name: str


# The inspection figures of a week (GET /stats/inspections, and the weekly bulletin's).


class InspectionCounts(SQLModel):
    points_inspected: int = Field(description="本周巡查过的点位数")
    visits: int = Field(description="本周巡查次数")
    visits_meeting_standard: int = Field(description="其中全部检查项通过的")
    pass_rate: float | None = Field(description="达标率 = visits_meeting_standard / visits")
    items_failed: int = Field(description="未通过的检查项（次）")
    problems_opened: int = Field(description="巡查当场提交的问题")
    reports_accepted: int = Field(default=0, description="本周受理的随手拍（转为问题）")
    report_hours_to_accept: float | None = Field(
        default=None,
        description="本周受理的随手拍从提交到受理用时的中位数（小时）；本周无受理则为 null",
    )


class InspectionStatsRow(InspectionCounts):
    org_id: int
    org_name: str


class LiaisonVisits(SQLModel):
    kind: LiaisonKind = Field(description="leader：领导包联；unit：单位包联（其党员的巡查）")
    user_id: int | None
    user_name: str | None
    unit_id: int | None
    unit_name: str | None
    org_id: int = Field(description="包联的街道或社区")
    org_name: str
    visits: int = Field(description="本周在包联组织内的巡查次数")
    quota: int = Field(description="LIAISON_VISITS_PER_WEEK")
    behind: bool = Field(description="未完成每周巡查次数")


class InspectionStats(SQLModel):
    org_id: int
    org_name: str
    week: str = Field(description="ISO 周，如 2026-W47")
    starts_on: date
    ends_on: date
    rows: list[InspectionStatsRow] = Field(description="每个下级组织一行；本级的点位单列一行")
    totals: InspectionCounts
    liaison_visits: list[LiaisonVisits] = Field(description="包联领导本周的巡查（落后者在前）")


class WeeklyBulletin(SQLModel):
    org_id: int
    org_name: str
    week: str = Field(description="ISO 周，如 2026-W47")
    starts_on: date = Field(description="周一（北京时间）")
    ends_on: date = Field(description="周日（北京时间）")
    rows: list[BulletinRow] = Field(description="每个下级组织一行；本级的问题单列一行")
    totals: BulletinCounts
    inspections: InspectionStats = Field(
        description="本周督导巡查情况（同 GET /stats/inspections）"
    )
