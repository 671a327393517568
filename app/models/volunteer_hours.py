from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime
from sqlalchemy import CheckConstraint, Column, ForeignKey, Index, Integer, String, Text, text
from sqlmodel import Field, SQLModel

from app.core.db import UTCDateTime
from app.models.common import NEVER_REUSED_IDS, StrictInput, created_at_field
from app.models.user import MAX_ID


class HourSource(StrEnum):
    check_in = "check_in"  # credited at task check-out, approved at once
    wish = "wish"  # credited when a fulfilled wish is confirmed
    manual = "manual"  # logged by hand, pending until an admin reviews it
    service_order = "service_order"  # credited when the taker completes a service order


class HourStatus(StrEnum):
    pending = "pending"
    approved = "approved"
    rejected = "rejected"


class VolunteerHour(SQLModel, table=True):
    """The append-only ledger of service time (志愿服务时长).

    Rows are never edited silently: a review sets status with who, when and why;
    a correction is a new row. Automatic credits are unique per source record.
    """

    __tablename__ = "volunteer_hours"
    __table_args__ = (
        CheckConstraint("ended_at > started_at", name="positive_span"),
        CheckConstraint("minutes > 0", name="positive_minutes"),
        CheckConstraint("source IN ('check_in', 'wish', 'manual', 'service_order')", name="source"),
        CheckConstraint("status IN ('pending', 'approved', 'rejected')", name="status"),
        # One credit per check-in or wish, whatever retries or races happen.
        Index(
            "uq_volunteer_hours_source_record",
            "source",
            "source_id",
            unique=True,
            sqlite_where=text("source_id IS NOT NULL"),
            postgresql_where=text("source_id IS NOT NULL"),
        ),
        Index("ix_volunteer_hours_user_started", "user_id", "started_at"),
        Index("ix_volunteer_hours_org_started", "org_id", "started_at"),
        NEVER_REUSED_IDS,
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(
        sa_column=Column(Integer, ForeignKey("users.id", ondelete="RESTRICT"), nullable=False)
    )
    org_id: int = Field(
        sa_column=Column(Integer, ForeignKey("orgs.id", ondelete="RESTRICT"), nullable=False)
    )
    activity: str = Field(sa_column=Column(String(200), nullable=False))
    started_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    ended_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    minutes: int = Field(sa_column=Column(Integer, nullable=False))
    source: HourSource = Field(sa_column=Column(String(20), nullable=False))
    source_id: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    status: HourStatus = Field(sa_column=Column(String(20), nullable=False))
    reviewed_by_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("users.id", ondelete="SET NULL"))
    )
    reviewed_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    review_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = created_at_field()


# --- API shapes ---------------------------------------------------------------


class VolunteerHourCreate(StrictInput):
    org_id: int = Field(ge=1, le=MAX_ID, description="本人所属社区或其上级，或本人所在单位")
    activity: str = Field(min_length=1, max_length=200)
    started_at: AwareDatetime
    ended_at: AwareDatetime
    photo_ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] | None = Field(
        default=None, max_length=9
    )


class VolunteerHourReview(StrictInput):
    approve: bool
    reason: str | None = Field(default=None, max_length=500, description="驳回时必填")


class VolunteerHourPublic(SQLModel):
    id: int
    user_id: int
    user_name: str
    org_id: int
    activity: str
    started_at: datetime
    ended_at: datetime
    minutes: int
    source: HourSource
    source_id: int | None
    status: HourStatus
    reviewed_by_id: int | None
    reviewed_at: datetime | None
    review_reason: str | None
    photo_ids: list[int]
    created_at: datetime


class HoursSummary(SQLModel):
    year: int
    approved_minutes: int
    pending_minutes: int


class HoursGroupBy(StrEnum):
    user = "user"
    org = "org"


class HoursTotal(SQLModel):
    id: int = Field(description="user_id 或 org_id，视 group_by 而定")
    name: str
    minutes: int
    entries: int


class HoursTotals(SQLModel):
    year: int
    org_id: int
    group_by: HoursGroupBy
    total_minutes: int
    items: list[HoursTotal]
