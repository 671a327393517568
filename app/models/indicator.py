"""Indicators (网上资料申报): the assessment's online materials, one item per indicator
an org must document, with an owner, a due date, evidence and a review."""

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import StringConstraints
from sqlalchemy import (
    CheckConstraint,
    Column,
    ColumnElement,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    and_,
)
from sqlmodel import Field, SQLModel, col

from app.core.db import UTCDateTime
from app.models.common import (
    NEVER_REUSED_IDS,
    PhotoId,
    StrictInput,
    WrittenOut,
    updated_at_field,
)
from app.models.problem import _in
from app.models.user import MAX_ID


class IndicatorStatus(StrEnum):
    pending = "pending"  # waiting for its evidence
    submitted = "submitted"  # evidence in, waiting for review
    accepted = "accepted"  # reviewed and accepted: done
    returned = "returned"  # reviewed and sent back with a comment


class IndicatorAction(StrEnum):
    create = "create"
    submit = "submit"
    accept = "accept"
    send_back = "return"


class Indicator(SQLModel, table=True):
    __tablename__ = "indicators"
    __table_args__ = (
        UniqueConstraint("org_id", "code", name="uq_indicators_org_code"),
        CheckConstraint(f"status IN ({_in(IndicatorStatus)})", name="status"),
        # The checklist and the overdue scan: an org's items by state and due date.
        Index("ix_indicators_status_due_on", "status", "due_on"),
        NEVER_REUSED_IDS,
    )

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(
        sa_column=Column(Integer, ForeignKey("orgs.id", ondelete="RESTRICT"), nullable=False)
    )
    code: str = Field(sa_column=Column(String(30), nullable=False))
    title: str = Field(sa_column=Column(String(200), nullable=False))
    owner_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("users.id", ondelete="RESTRICT"), nullable=False, index=True
        )
    )
    # The last Shanghai day on which it is still in time.
    due_on: date = Field(sa_column=Column(Date, nullable=False))
    status: IndicatorStatus = Field(sa_column=Column(String(20), nullable=False))
    evidence_note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    submitted_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    review_comment: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    reviewed_by_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("users.id", ondelete="RESTRICT"), nullable=True),
    )
    reviewed_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    created_by_id: int = Field(
        sa_column=Column(Integer, ForeignKey("users.id", ondelete="RESTRICT"), nullable=False)
    )
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = updated_at_field()


class IndicatorEvent(SQLModel, table=True):
    """The append-only history of an indicator item."""

    __tablename__ = "indicator_events"
    __table_args__ = (
        CheckConstraint(f"action IN ({_in(IndicatorAction)})", name="action"),
        NEVER_REUSED_IDS,
    )

    id: int | None = Field(default=None, primary_key=True)
    indicator_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("indicators.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    action: IndicatorAction = Field(sa_column=Column(String(20), nullable=False))
    from_status: IndicatorStatus | None = Field(
        default=None, sa_column=Column(String(20), nullable=True)
    )
    to_status: IndicatorStatus = Field(sa_column=Column(String(20), nullable=False))
    actor_id: int = Field(
        sa_column=Column(Integer, ForeignKey("users.id", ondelete="RESTRICT"), nullable=False)
    )
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


def overdue_condition(today: date | Any) -> ColumnElement[bool]:
    """The one rule of "overdue" (lists, figures, the scan): not accepted, and its due
    day is past (the due day itself is still in time). `today`: a date, or the bound
    parameter of a statement compiled once (the dashboard's)."""
    return and_(col(Indicator.status) != IndicatorStatus.accepted, col(Indicator.due_on) < today)


# --- API shapes ---------------------------------------------------------------

Note = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class IndicatorCreate(StrictInput):
    code: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=30)] = (
        Field(description="测评体系中的指标编号，如 3.2.1；同一组织内不重复")
    )
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    org_id: int = Field(ge=1, le=MAX_ID)
    owner_user_id: int = Field(ge=1, le=MAX_ID, description="责任人")
    due_on: Annotated[date, WrittenOut] = Field(description="截止日期（北京时间，含当天）")


class EvidenceCreate(StrictInput):
    note: Note
    photo_ids: list[PhotoId] = Field(default_factory=list, max_length=9)
    media_ids: list[PhotoId] = Field(
        default_factory=list,
        max_length=9,
        description="本人上传的文档（POST /documents：PDF、Word docx、Excel xlsx）",
    )


class IndicatorReview(StrictInput):
    approve: bool
    comment: Note | None = None


class IndicatorPublic(SQLModel):
    id: int
    org_id: int
    code: str
    title: str
    owner_user_id: int
    owner_name: str | None
    due_on: date
    status: IndicatorStatus
    overdue: bool = Field(description="截止日期已过且尚未通过审核")
    evidence_note: str | None
    photo_ids: list[int]
    media_ids: list[int] = Field(description="证明文档，下载：GET /documents/{id}")
    submitted_at: datetime | None
    review_comment: str | None
    reviewed_at: datetime | None
    created_at: datetime


class IndicatorOrgStats(SQLModel):
    org_id: int
    org_name: str
    total: int
    pending: int
    submitted: int
    returned: int
    accepted: int
    overdue: int
    completion_rate: float | None = Field(description="accepted / total；无指标时为 null")


class IndicatorStats(SQLModel):
    org_id: int
    total: IndicatorOrgStats
    children: list[IndicatorOrgStats]
