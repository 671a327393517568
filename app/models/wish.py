from collections.abc import Iterable
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Column, Date, ForeignKey, Index, Integer, String, Text
from sqlmodel import Field, SQLModel

from app.core.db import UTCDateTime
from app.models.common import (
    NEVER_REUSED_IDS,
    PhotoId,
    StrictInput,
    created_at_field,
    updated_at_field,
)
from app.models.user import MAX_ID, PHONE_DESCRIPTION
from app.models.volunteer import OpenTo


class WishStatus(StrEnum):
    pending_review = "pending_review"
    open = "open"
    claimed = "claimed"
    fulfilled = "fulfilled"
    confirmed = "confirmed"
    rejected = "rejected"
    cancelled = "cancelled"


class WishAction(StrEnum):
    create = "create"
    approve = "approve"
    reject = "reject"
    claim = "claim"
    release = "release"
    fulfill = "fulfill"
    confirm = "confirm"
    # A confirmation withdrawn (POST /wishes/{id}/withdraw-confirmation): back to fulfilled.
    unconfirm = "unconfirm"
    cancel = "cancel"


# States in which a wish has a claimant (claimed_by_id is set).
CLAIMANT_STATES = frozenset({WishStatus.claimed, WishStatus.fulfilled, WishStatus.confirmed})


def _in(values: Iterable[StrEnum]) -> str:
    return ", ".join(f"'{v.value}'" for v in sorted(values))


class Wish(SQLModel, table=True):
    """A resident's micro-wish (微心愿), claimed and fulfilled by one member.

    The beneficiary's phone is personal data and stored like roster phones
    (ciphertext + masked form); who may see it in full is decided by the service.
    """

    __tablename__ = "wishes"
    __table_args__ = (
        CheckConstraint(f"status IN ({_in(WishStatus)})", name="status"),
        # The database keeps "a claimed/fulfilled/confirmed wish names its claimant".
        CheckConstraint(
            f"status NOT IN ({_in(CLAIMANT_STATES)}) OR claimed_by_id IS NOT NULL",
            name="claimant_present",
        ),
        # The dashboards count overdue wishes from this index alone.
        Index("ix_wishes_community_status_deadline", "community_id", "status", "deadline"),
        Index("ix_wishes_claimed_by_status", "claimed_by_id", "status"),
        NEVER_REUSED_IDS,
    )

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(sa_column=Column(String(100), nullable=False))
    description: str = Field(sa_column=Column(Text, nullable=False))
    community_id: int = Field(
        sa_column=Column(Integer, ForeignKey("orgs.id", ondelete="RESTRICT"), nullable=False)
    )
    beneficiary_name: str = Field(sa_column=Column(String(50), nullable=False))
    beneficiary_phone_cipher: str | None = Field(
        default=None, sa_column=Column(Text, nullable=True)
    )
    beneficiary_phone_masked: str | None = Field(
        default=None, sa_column=Column(String(11), nullable=True)
    )
    # The last day (Asia/Shanghai) the wish should be fulfilled by.
    deadline: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    status: WishStatus = Field(sa_column=Column(String(20), nullable=False))
    created_by_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("users.id", ondelete="RESTRICT"), nullable=False, index=True
        )
    )
    claimed_by_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("users.id", ondelete="RESTRICT"), nullable=True),
    )
    claimed_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    fulfilled_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    fulfil_note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    confirmed_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    # Who may claim it: party members, or approved volunteers as well.
    open_to: OpenTo = Field(
        default=OpenTo.party_members,
        sa_column=Column(
            String(20),
            CheckConstraint("open_to IN ('everyone', 'party_members')", name="open_to"),
            nullable=False,
            server_default=OpenTo.party_members.value,
        ),
    )
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


class WishEvent(SQLModel, table=True):
    """The append-only history of a wish: every transition, who made it and when."""

    __tablename__ = "wish_events"
    __table_args__ = (
        CheckConstraint(f"action IN ({_in(WishAction)})", name="action"),
        # The yearly quota looks for claims by person and time.
        Index("ix_wish_events_actor_action_at", "actor_id", "action", "at"),
        NEVER_REUSED_IDS,
    )

    id: int | None = Field(default=None, primary_key=True)
    wish_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("wishes.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    action: WishAction = Field(sa_column=Column(String(20), nullable=False))
    from_status: WishStatus | None = Field(
        default=None, sa_column=Column(String(20), nullable=True)
    )
    to_status: WishStatus = Field(sa_column=Column(String(20), nullable=False))
    actor_id: int = Field(
        sa_column=Column(Integer, ForeignKey("users.id", ondelete="RESTRICT"), nullable=False)
    )
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    at: datetime = created_at_field()


# --- API shapes ---------------------------------------------------------------


class WishCreate(StrictInput):
    title: str = Field(min_length=1, max_length=100)
    description: str = Field(min_length=1, max_length=2000)
    community_id: int = Field(ge=1, le=MAX_ID)
    beneficiary_name: str = Field(min_length=1, max_length=50, description="受助人姓名")
    beneficiary_phone: str | None = Field(
        default=None, min_length=11, max_length=20, description=PHONE_DESCRIPTION
    )
    deadline: date | None = Field(default=None, description="最后期限（北京时间的日期，含当天）")
    open_to: OpenTo = Field(
        default=OpenTo.party_members, description="everyone：审核通过的志愿者也可认领"
    )


class WishReview(StrictInput):
    approve: bool
    reason: str | None = Field(default=None, max_length=500, description="驳回时必填")


class WishFulfill(StrictInput):
    photo_ids: list[PhotoId] = Field(max_length=9, description="至少一张本人上传的照片")
    note: str = Field(max_length=1000, description="完成情况说明")


class WishCancel(StrictInput):
    reason: str | None = Field(default=None, max_length=500)


class WishUnconfirm(StrictInput):
    reason: str = Field(min_length=1, max_length=500, description="撤回确认的原因，告知认领人")


class WishPublic(SQLModel):
    id: int
    title: str
    description: str
    community_id: int
    status: WishStatus
    beneficiary_name: str = Field(
        description="认领人和管理范围内的管理员看到全名，其他人只看到首字，如“王*”"
    )
    beneficiary_phone: str | None = Field(
        description="完整号码，只给认领人、发布人和管理范围内的管理员；其他人为 null"
    )
    beneficiary_details_visible: bool = Field(description="是否看到受助人的完整信息")
    deadline: date | None
    overdue: bool = Field(description="已过最后期限仍未完成（open 或 claimed）")
    created_by_id: int
    claimed_by_id: int | None
    claimed_at: datetime | None
    fulfilled_at: datetime | None
    fulfil_note: str | None
    confirmed_at: datetime | None
    open_to: OpenTo = OpenTo.party_members
    photo_ids: list[int]
    created_at: datetime
    updated_at: datetime


class WishEventPublic(SQLModel):
    id: int
    action: WishAction
    from_status: WishStatus | None
    to_status: WishStatus
    actor_id: int
    actor_name: str
    note: str | None
    at: datetime


class OwingMember(SQLModel):
    id: int
    name: str
    community_id: int | None
    unit_id: int | None


class WishQuota(SQLModel):
    year: int
    org_id: int
    party_members: int
    claimed: int
    owing: int
    owing_members: list[OwingMember]
