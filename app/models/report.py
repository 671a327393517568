"""Residents' reports (随手拍): a problem anyone logged in saw, until an admin takes it
into a problem (accepted) or turns it down (rejected)."""

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Self

from pydantic import StringConstraints, model_validator
from sqlalchemy import (
    CheckConstraint,
    Column,
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
from app.models.photo_reuse import ReuseRef
from app.models.problem import MAX_WORKING_DAYS, Location, ProblemCategory, ProblemStatus, _in
from app.models.user import MAX_ID


class ReportStatus(StrEnum):
    submitted = "submitted"  # waiting for an admin
    accepted = "accepted"  # taken into a problem (problem_id)
    rejected = "rejected"  # turned down, with a reason


class ReportAction(StrEnum):
    create = "create"
    accept = "accept"
    reject = "reject"


class Report(SQLModel, table=True):
    __tablename__ = "reports"
    __table_args__ = (
        CheckConstraint(f"status IN ({_in(ReportStatus)})", name="status"),
        CheckConstraint(f"category IN ({_in(ProblemCategory)})", name="category"),
        CheckConstraint("lat BETWEEN -90 AND 90 AND lng BETWEEN -180 AND 180", name="location"),
        # Accepted is exactly "has its problem"; the unique key keeps it to one.
        CheckConstraint(
            "(status = 'accepted') = (problem_id IS NOT NULL)", name="accepted_has_problem"
        ),
        # The inbox: an org's reports by state; dashboards: an org's reports of a month.
        Index("ix_reports_org_status", "org_id", "status"),
        Index("ix_reports_org_created_at", "org_id", "created_at"),
        # "Within 50 m": a latitude range on this index, then longitude and time on its rows.
        Index("ix_reports_lat_lng", "lat", "lng"),
        NEVER_REUSED_IDS,
    )

    id: int | None = Field(default=None, primary_key=True)
    reporter_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("users.id", ondelete="RESTRICT"), nullable=False, index=True
        )
    )
    # The community it was reported to: whose admins (and above) take it.
    org_id: int = Field(
        sa_column=Column(Integer, ForeignKey("orgs.id", ondelete="RESTRICT"), nullable=False)
    )
    category: ProblemCategory = Field(sa_column=Column(String(30), nullable=False))
    description: str = Field(sa_column=Column(Text, nullable=False))
    lat: float = Field(sa_column=Column(Float, nullable=False))
    lng: float = Field(sa_column=Column(Float, nullable=False))
    status: ReportStatus = Field(sa_column=Column(String(20), nullable=False))
    # Set when WeChat's text check could not vouch for it: the admin reads it first.
    check_note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    problem_id: int | None = Field(
        default=None,
        sa_column=Column(
            Integer,
            ForeignKey("problems.id", ondelete="RESTRICT"),
            nullable=True,
            unique=True,
        ),
    )
    reject_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    handled_by_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("users.id", ondelete="RESTRICT"), nullable=True),
    )
    handled_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = updated_at_field()


class ReportEvent(SQLModel, table=True):
    """The append-only history of a report."""

    __tablename__ = "report_events"
    __table_args__ = (
        CheckConstraint(f"action IN ({_in(ReportAction)})", name="action"),
        NEVER_REUSED_IDS,
    )

    id: int | None = Field(default=None, primary_key=True)
    report_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("reports.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    action: ReportAction = Field(sa_column=Column(String(20), nullable=False))
    from_status: ReportStatus | None = Field(
        default=None, sa_column=Column(String(20), nullable=True)
    )
    to_status: ReportStatus = Field(sa_column=Column(String(20), nullable=False))
    actor_id: int = Field(
        sa_column=Column(Integer, ForeignKey("users.id", ondelete="RESTRICT"), nullable=False)
    )
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    at: datetime = created_at_field()


# --- API shapes ---------------------------------------------------------------


class ReportCreate(StrictInput):
    category: ProblemCategory
    description: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)
    ]
    lat: Latitude
    lng: Longitude
    photo_ids: list[PhotoId] = Field(
        min_length=1, max_length=9, description="现场照片，至少一张本人上传的照片"
    )
    community_id: int | None = Field(
        default=None, ge=1, le=MAX_ID, description="发现问题的社区；不填则为本人所在社区"
    )


class ReportAccept(StrictInput):
    org_id: int = Field(ge=1, le=MAX_ID, description="责任单位：社区、街道或单位")
    deadline: date | None = Field(default=None, description="整改期限（北京时间的日期，含当天）")
    deadline_working_days: int | None = Field(
        default=None, ge=1, le=MAX_WORKING_DAYS, description="或：自受理次日起第 N 个工作日"
    )

    @model_validator(mode="after")
    def _one_deadline(self) -> Self:
        if (self.deadline is None) == (self.deadline_working_days is None):
            raise ValueError("deadline 和 deadline_working_days 须且只须填写一个")
        return self


class ReportReject(StrictInput):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class ReportPublic(SQLModel):
    id: int
    org_id: int
    category: ProblemCategory
    description: str
    location: Location
    status: ReportStatus
    photo_ids: list[int]
    problem_id: int | None
    problem_status: ProblemStatus | None = Field(description="受理后所转问题的状态")
    reject_reason: str | None
    reporter_name: str | None = Field(description="仅管理员可见")
    check_note: str | None = Field(description="仅管理员可见：内容安全检测未能确认时的提示")
    possible_reuse: list[ReuseRef] = Field(
        description="照片与本区其他记录的照片近似（疑似重复使用），仅管理员和督导员可见"
    )
    handled_at: datetime | None
    created_at: datetime


class NearbyKind(StrEnum):
    report = "report"
    problem = "problem"


class NearbyItem(SQLModel):
    kind: NearbyKind
    id: int
    category: ProblemCategory
    description: str
    status: str
    location: Location
    distance_m: float
    created_at: datetime
