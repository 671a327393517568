"""Notifications: in-app messages, the WeChat subscribe-message outbox, the grants
users gave for subscribe messages, and the runs of scheduled jobs."""

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import field_validator
from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

from app.core.db import UTCDateTime
from app.models.common import NEVER_REUSED_IDS, StrictInput, created_at_field, updated_at_field


class NotificationKind(StrEnum):
    wish_claimed = "wish_claimed"
    wish_fulfilled = "wish_fulfilled"
    wish_confirmed = "wish_confirmed"
    hours_approved = "hours_approved"
    hours_rejected = "hours_rejected"
    hours_revoked = "hours_revoked"
    wish_unconfirmed = "wish_unconfirmed"
    problem_assigned = "problem_assigned"
    problem_due_soon = "problem_due_soon"
    problem_overdue = "problem_overdue"
    problem_escalated = "problem_escalated"
    problem_verified = "problem_verified"
    article_returned = "article_returned"
    article_published = "article_published"
    # An urgent article waited URGENT_REVIEW_HOURS at one level: to that level, and
    # escalated to the level above.
    article_review_overdue = "article_review_overdue"
    article_review_escalated = "article_review_escalated"
    report_in_reminder = "report_in_reminder"
    # To a unit's party secretary: how many of the unit's party members still owe it.
    report_in_unit_reminder = "report_in_unit_reminder"
    wish_quota_reminder = "wish_quota_reminder"
    report_received = "report_received"
    report_accepted = "report_accepted"
    report_rejected = "report_rejected"
    volunteer_registered = "volunteer_registered"
    volunteer_reviewed = "volunteer_reviewed"
    service_order_submitted = "service_order_submitted"
    service_order_accepted = "service_order_accepted"
    service_order_rejected = "service_order_rejected"
    service_order_dispatched = "service_order_dispatched"
    service_order_taken = "service_order_taken"
    service_order_completed = "service_order_completed"
    service_order_overdue = "service_order_overdue"
    indicator_returned = "indicator_returned"
    indicator_overdue = "indicator_overdue"


class SendStatus(StrEnum):
    pending = "pending"  # waiting for a worker (new, or a retry after a transient error)
    sending = "sending"  # claimed by a worker until lease_until
    sent = "sent"
    no_grant = "no_grant"  # the user had no subscribe grant left: WeChat was not called
    failed = "failed"  # WeChat refused for good (last_errcode), or retries ran out


class Message(SQLModel, table=True):
    """An in-app message (站内消息): every notification is one, whatever WeChat does."""

    __tablename__ = "messages"
    __table_args__ = (
        # A notification that may be raised twice (a scan run again) names itself.
        UniqueConstraint("user_id", "dedupe_key"),
        Index("ix_messages_user_read", "user_id", "read_at"),
        NEVER_REUSED_IDS,
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(
        sa_column=Column(Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    )
    kind: str = Field(sa_column=Column(String(30), nullable=False))
    title: str = Field(sa_column=Column(String(50), nullable=False))
    body: str = Field(sa_column=Column(String(500), nullable=False))
    target_type: str | None = Field(default=None, sa_column=Column(String(30), nullable=True))
    target_id: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    dedupe_key: str | None = Field(default=None, sa_column=Column(String(120), nullable=True))
    created_at: datetime = created_at_field()
    read_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


class WeChatSend(SQLModel, table=True):
    """One subscribe message to deliver (the outbox), written with its in-app message."""

    __tablename__ = "wechat_sends"
    __table_args__ = (
        CheckConstraint(
            "status IN ('failed', 'no_grant', 'pending', 'sending', 'sent')", name="status"
        ),
        # The sweeper's question: what is due, and which claims have lapsed.
        Index("ix_wechat_sends_status_next_attempt_at", "status", "next_attempt_at"),
        NEVER_REUSED_IDS,
    )

    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("messages.id", ondelete="CASCADE"), nullable=False, unique=True
        )
    )
    user_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    template_id: str = Field(sa_column=Column(String(64), nullable=False))
    # subject, status, time and note, before they are fitted to the template's keys.
    fields: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    status: SendStatus = Field(sa_column=Column(String(10), nullable=False))
    attempts: int = Field(default=0, sa_column=Column(Integer, nullable=False, default=0))
    # Whether this send holds one of the user's grants (taken at claim, given back
    # on a transient failure), so a claim taken over after a crash takes no second one.
    grant_taken: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, default=False)
    )
    next_attempt_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    lease_until: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    last_errcode: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    created_at: datetime = created_at_field()
    sent_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


class SubscribeGrant(SQLModel, table=True):
    """How many subscribe messages of one template a user still allows: each "accept"
    of wx.requestSubscribeMessage allows one send."""

    __tablename__ = "subscribe_grants"
    __table_args__ = (
        UniqueConstraint("user_id", "template_id"),
        CheckConstraint("balance >= 0", name="balance_not_negative"),
        NEVER_REUSED_IDS,
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(
        sa_column=Column(Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    )
    template_id: str = Field(sa_column=Column(String(64), nullable=False))
    balance: int = Field(default=0, sa_column=Column(Integer, nullable=False, default=0))
    updated_at: datetime = updated_at_field()


class JobRun(SQLModel, table=True):
    """A scheduled job that ran for a period (a day, a month, a year). Claimed by
    inserting this row in the job's own transaction: a second scheduler or worker
    running the same job for the same period finds it and does nothing."""

    __tablename__ = "job_runs"
    __table_args__ = (UniqueConstraint("job", "period"), NEVER_REUSED_IDS)

    id: int | None = Field(default=None, primary_key=True)
    job: str = Field(sa_column=Column(String(40), nullable=False))
    period: str = Field(sa_column=Column(String(20), nullable=False))
    started_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    notified: int = Field(default=0, sa_column=Column(Integer, nullable=False, default=0))


# --- API shapes ---------------------------------------------------------------


class MessagePublic(SQLModel):
    id: int
    kind: NotificationKind
    title: str
    body: str
    target_type: str | None = Field(
        description="消息所指的记录类型（wish、problem、article、volunteer_hour、report_in），可为空"
    )
    target_id: int | None
    created_at: datetime
    read_at: datetime | None
    read: bool


class MessageList(SQLModel):
    items: list[MessagePublic]
    total: int
    page: int
    page_size: int
    unread: int = Field(description="本人全部未读消息数（不受分页和筛选影响）")


class ReadAllResult(SQLModel):
    marked: int = Field(description="本次标记为已读的消息数")


SubscribeChoice = Literal["accept", "reject", "ban", "filter"]


class SubscriptionReport(StrictInput):
    """What `wx.requestSubscribeMessage` answered, template id → choice. The `errMsg`
    key of that answer may be left in; it is ignored."""

    results: dict[str, SubscribeChoice] = Field(
        description="模板 id → accept / reject / ban / filter；每个 accept 允许发送一条该模板的消息"
    )

    @field_validator("results", mode="before")
    @classmethod
    def _drop_err_msg(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: v for k, v in value.items() if k != "errMsg"}
        return value


class TemplateGrant(SQLModel):
    template_id: str
    kinds: list[NotificationKind] = Field(description="用这个模板发送的通知种类")
    balance: int = Field(description="还可以发送的条数")


class Subscriptions(SQLModel):
    templates: list[TemplateGrant]
