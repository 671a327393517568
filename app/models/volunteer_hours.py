from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime
from sqlalchemy import CheckConstraint, Column, ForeignKey, Index, Integer, String, Text, text
from sqlmodel import Field, SQLModel

from app.core.db import UTCDateTime, utcnow
from app.models.common import NEVER_REUSED_IDS, StrictInput, created_at_field
from app.models.user import MAX_ID


def _in(values: Iterable[StrEnum]) -> str:
    return ", ".join(f"'{v.value}'" for v in sorted(values))


class HourSource(StrEnum):
    check_in = "check_in"  # credited at task check-out, approved at once
    wish = "wish"  # credited when a fulfilled wish is confirmed
    manual = "manual"  # logged by hand, pending until an admin reviews it
    service_order = "service_order"  # credited when the taker completes a service order


class HourStatus(StrEnum):
    pending = "pending"
    approved = "approved"
    # Refused at review, or revoked after approval (the history says which).
    rejected = "rejected"


STATUS_NAMES = {
    HourStatus.pending: "待审核",
    HourStatus.approved: "已通过",
    HourStatus.rejected: "已驳回",
}


class HourAction(StrEnum):
    log = "log"  # the entry was written (hand-logged, or credited approved)
    approve = "approve"
    reject = "reject"
    # An approved entry taken back (rejected after approval): its minutes and points go.
    revoke = "revoke"


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
        # The teams' minutes (service orders' approved entries) of a month, read from
        # the index alone and without the month's other entries (the dashboards).
        Index(
            "ix_volunteer_hours_service_orders",
            "org_id",
            "started_at",
            "minutes",
            sqlite_where=text("source = 'service_order' AND status = 'approved'"),
            postgresql_where=text("source = 'service_order' AND status = 'approved'"),
        ),
        # The entries awaiting review, by org: the console's to-do counts those in an
        # admin's reach from the index alone, where the whole table was read.
        Index(
            "ix_volunteer_hours_pending",
            "org_id",
            "user_id",
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
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
    # Moved by the lifecycle (app/services/lifecycle.py); null on rows older than it.
    updated_at: datetime | None = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=True)
    )


class VolunteerHourEvent(SQLModel, table=True):
    """The history of an entry's reviews: approval, rejection, revocation, who and when."""

    __tablename__ = "volunteer_hour_events"
    __table_args__ = (
        CheckConstraint(f"action IN ({_in(HourAction)})", name="action"),
        NEVER_REUSED_IDS,
    )

    id: int | None = Field(default=None, primary_key=True)
    volunteer_hour_id: int = Field(
        sa_column=Column(
            Integer,
            ForeignKey("volunteer_hours.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        )
    )
    action: HourAction = Field(sa_column=Column(String(20), nullable=False))
    from_status: HourStatus | None = Field(
        default=None, sa_column=Column(String(20), nullable=True)
    )
    to_status: HourStatus = Field(sa_column=Column(String(20), nullable=False))
    actor_id: int = Field(
        sa_column=Column(Integer, ForeignKey("users.id", ondelete="RESTRICT"), nullable=False)
    )
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    at: datetime = created_at_field()


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


class VolunteerHourRevoke(StrictInput):
    reason: str = Field(min_length=1, max_length=500, description="撤销原因，告知本人")


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


class VolunteerHourEventPublic(SQLModel):
    id: int
    action: HourAction
    from_status: HourStatus | None
    to_status: HourStatus
    actor_id: int
    actor_name: str
    note: str | None
    at: datetime


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
