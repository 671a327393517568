"""The service menu (服务清单) and its orders (点单、审单、派单、接单、评单)."""

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, CheckConstraint, Column, ForeignKey, Index, Integer, String, Text
from sqlmodel import Field, SQLModel

from app.core.db import UTCDateTime
from app.models.common import (
    MAX_ID,
    NEVER_REUSED_IDS,
    PhotoId,
    StrictInput,
    created_at_field,
    updated_at_field,
)


class OrderStatus(StrEnum):
    submitted = "submitted"
    accepted = "accepted"
    dispatched = "dispatched"
    taken = "taken"
    completed = "completed"
    rated = "rated"
    rejected = "rejected"
    cancelled = "cancelled"


class OrderAction(StrEnum):
    submit = "submit"
    accept = "accept"
    reject = "reject"
    dispatch = "dispatch"
    take = "take"
    complete = "complete"
    rate = "rate"
    cancel = "cancel"


# States in which an order has its taker (taken_by_id is set).
TAKER_STATES = frozenset({OrderStatus.taken, OrderStatus.completed, OrderStatus.rated})
# The longest a completed order may credit: one day.
MAX_ORDER_MINUTES = 24 * 60


def _in(values: Iterable[StrEnum]) -> str:
    return ", ".join(f"'{v.value}'" for v in sorted(values))


class ServiceItem(SQLModel, table=True):
    """What may be ordered, offered by an org to its communities (and theirs below)."""

    __tablename__ = "service_items"
    __table_args__ = (NEVER_REUSED_IDS,)

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("orgs.id", ondelete="RESTRICT"), nullable=False, index=True
        )
    )
    title: str = Field(sa_column=Column(String(100), nullable=False))
    description: str = Field(sa_column=Column(Text, nullable=False))
    service_type: str = Field(sa_column=Column(String(20), nullable=False))
    team_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("teams.id", ondelete="SET NULL"), nullable=True),
    )
    active: bool = Field(
        default=True, sa_column=Column(Boolean, nullable=False, server_default="1")
    )
    created_by_id: int = Field(
        sa_column=Column(Integer, ForeignKey("users.id", ondelete="RESTRICT"), nullable=False)
    )
    created_at: datetime = created_at_field()


class ServiceOrder(SQLModel, table=True):
    """A resident's order. The address and the orderer's phone are personal data:
    ciphertext, shown whole only to the taker and the community's admins."""

    __tablename__ = "service_orders"
    __table_args__ = (
        CheckConstraint(f"status IN ({_in(OrderStatus)})", name="status"),
        CheckConstraint(
            f"status NOT IN ({_in(TAKER_STATES)}) OR taken_by_id IS NOT NULL", name="taker_present"
        ),
        CheckConstraint("status != 'dispatched' OR team_id IS NOT NULL", name="team_present"),
        CheckConstraint(
            f"minutes IS NULL OR (minutes > 0 AND minutes <= {MAX_ORDER_MINUTES})", name="minutes"
        ),
        CheckConstraint("stars IS NULL OR (stars >= 1 AND stars <= 5)", name="stars"),
        Index("ix_service_orders_community_status", "community_id", "status"),
        Index("ix_service_orders_team_status", "team_id", "status"),
        NEVER_REUSED_IDS,
    )

    id: int | None = Field(default=None, primary_key=True)
    item_id: int | None = Field(
        default=None,
        sa_column=Column(
            Integer, ForeignKey("service_items.id", ondelete="SET NULL"), nullable=True
        ),
    )
    title: str = Field(sa_column=Column(String(100), nullable=False))
    description: str = Field(sa_column=Column(Text, nullable=False))
    community_id: int = Field(
        sa_column=Column(Integer, ForeignKey("orgs.id", ondelete="RESTRICT"), nullable=False)
    )
    address_cipher: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    address_masked: str | None = Field(default=None, sa_column=Column(String(40), nullable=True))
    phone_cipher: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    phone_masked: str | None = Field(default=None, sa_column=Column(String(11), nullable=True))
    wanted_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    status: OrderStatus = Field(sa_column=Column(String(20), nullable=False))
    orderer_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("users.id", ondelete="RESTRICT"), nullable=False, index=True
        )
    )
    team_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("teams.id", ondelete="RESTRICT"), nullable=True),
    )
    taken_by_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("users.id", ondelete="RESTRICT"), nullable=True),
    )
    accepted_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    dispatched_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    taken_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    completed_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    minutes: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    complete_note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    stars: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    rating_comment: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    rated_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


class ServiceOrderEvent(SQLModel, table=True):
    __tablename__ = "service_order_events"
    __table_args__ = (
        CheckConstraint(f"action IN ({_in(OrderAction)})", name="action"),
        NEVER_REUSED_IDS,
    )

    id: int | None = Field(default=None, primary_key=True)
    service_order_id: int = Field(
        sa_column=Column(
            Integer,
            ForeignKey("service_orders.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        )
    )
    action: OrderAction = Field(sa_column=Column(String(20), nullable=False))
    from_status: OrderStatus | None = Field(
        default=None, sa_column=Column(String(20), nullable=True)
    )
    to_status: OrderStatus = Field(sa_column=Column(String(20), nullable=False))
    actor_id: int = Field(
        sa_column=Column(Integer, ForeignKey("users.id", ondelete="RESTRICT"), nullable=False)
    )
    # The team an order was dispatched to, on dispatch steps.
    team_id: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    at: datetime = created_at_field()


# --- API shapes ---------------------------------------------------------------


class ServiceItemCreate(StrictInput):
    org_id: int = Field(ge=1, le=MAX_ID)
    title: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=2000)
    service_type: str = Field(min_length=1, max_length=20)
    team_id: int | None = Field(default=None, ge=1, le=MAX_ID)


class ServiceItemPublic(SQLModel):
    id: int
    org_id: int
    title: str
    description: str
    service_type: str
    team_id: int | None
    active: bool = Field(description="下架后为 false：不再列入服务清单，也不能再点")
    created_at: datetime


class OrderCreate(StrictInput):
    item_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    title: str = Field(min_length=1, max_length=100)
    description: str = Field(min_length=1, max_length=2000)
    community_id: int = Field(ge=1, le=MAX_ID)
    address: str | None = Field(default=None, max_length=200, description="服务地址")
    wanted_at: datetime | None = Field(default=None, description="希望完成的时间")


class OrderReject(StrictInput):
    reason: str = Field(min_length=1, max_length=500)


class OrderDispatch(StrictInput):
    team_id: int = Field(ge=1, le=MAX_ID)


class OrderComplete(StrictInput):
    photo_ids: list[PhotoId] = Field(max_length=9, description="至少一张本人上传的照片")
    note: str = Field(default="", max_length=1000)
    minutes: int = Field(ge=1, description=f"服务时长（分钟），不超过 {MAX_ORDER_MINUTES}")


class OrderRate(StrictInput):
    stars: int = Field(ge=1, le=5)
    comment: str | None = Field(default=None, max_length=500)


class OrderEventPublic(SQLModel):
    id: int
    action: OrderAction
    from_status: OrderStatus | None
    to_status: OrderStatus
    actor_id: int
    actor_name: str = Field(
        description="点单人、接单人和社区管理员看到全名；派单队伍的其他队员看到打码的姓名"
    )
    team_id: int | None = Field(description="派单、改派时派给的队伍")
    note: str | None
    at: datetime


class OrderPublic(SQLModel):
    id: int
    item_id: int | None
    title: str
    description: str
    community_id: int
    status: OrderStatus
    address: str | None = Field(
        description="完整地址只给接单人、点单人和社区管理员；其他人看到打码的地址"
    )
    phone: str | None = Field(description="点单人电话，规则同地址")
    details_visible: bool
    wanted_at: datetime | None
    overdue: bool = Field(description="提交后 2 个工作日未受理，或过了希望完成时间仍未完成")
    orderer_id: int
    team_id: int | None
    taken_by_id: int | None
    accepted_at: datetime | None
    dispatched_at: datetime | None
    taken_at: datetime | None
    completed_at: datetime | None
    minutes: int | None
    complete_note: str | None
    stars: int | None
    rating_comment: str | None
    rated_at: datetime | None
    photo_ids: list[int]
    created_at: datetime
    updated_at: datetime
