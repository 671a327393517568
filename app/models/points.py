"""Points and the community shop (积分超市、社区互助银行): a double-entry, append-only ledger.

Every entry moves `amount` points from one account to another. Accounts: a person's
(one per person), an org's issuing account (points come into being there, so its
balance is minus what it issued) and a community's shop (points spent or held for a
reservation). The ledger sums to zero by construction.

The rules, stated once (app/services/points.py keeps them):
- Entries are never updated or deleted: triggers refuse both (`APPEND_ONLY_TRIGGERS`);
  a correction is a new entry the other way (`reverses_id`, at most one per entry).
- `points_accounts.balance` is a kept sum: it equals the sum of the account's entries
  (in minus out), moved by the same statement that writes the entry
  (`app/services/points.py` `transfer`), proven in tests
  (tests/support/points.py `assert_ledger_is_exact`).
- A person's or a shop's balance is never below zero: the CHECK backs the
  conditional UPDATE (`balance >= amount`) that settles every spend in SQL.
- A source (an approved hour entry, a confirmed wish, a rated order, a report-in) is
  granted at most once: unique (source_kind, source_id) among grants.
"""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Column, ForeignKey, Index, Integer, String, Text, text
from sqlmodel import Field, SQLModel

from app.core.db import UTCDateTime
from app.models.common import NEVER_REUSED_IDS, PhotoId, StrictInput, created_at_field
from app.models.user import MAX_ID


class AccountKind(StrEnum):
    person = "person"
    issuing = "issuing"  # an org's: where its grants and awards come from
    shop = "shop"  # a community's shop: where redemptions go


class EntryKind(StrEnum):
    grant = "grant"  # by an earning rule, once per source
    award = "award"  # by hand, capped, with a reason
    redeem = "redeem"  # points held for a reservation
    reversal = "reversal"  # undoes one entry: a source undone, a reservation cancelled


class SourceKind(StrEnum):
    volunteer_hour = "volunteer_hour"
    wish = "wish"
    service_order = "service_order"
    report_in = "report_in"


class PointsAccount(SQLModel, table=True):
    __tablename__ = "points_accounts"
    __table_args__ = (
        CheckConstraint("kind IN ('person', 'issuing', 'shop')", name="kind"),
        CheckConstraint(
            "(kind = 'person' AND user_id IS NOT NULL AND org_id IS NULL)"
            " OR (kind <> 'person' AND user_id IS NULL AND org_id IS NOT NULL)",
            name="owner",
        ),
        # Only an issuing account goes below zero: it is what its org issued.
        CheckConstraint("kind = 'issuing' OR balance >= 0", name="not_negative"),
        Index("uq_points_accounts_person", "user_id", unique=True),
        Index("uq_points_accounts_org", "kind", "org_id", unique=True),
        NEVER_REUSED_IDS,
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: AccountKind = Field(sa_column=Column(String(10), nullable=False))
    user_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("users.id", ondelete="RESTRICT"))
    )
    org_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("orgs.id", ondelete="RESTRICT"))
    )
    balance: int = Field(default=0, sa_column=Column(Integer, nullable=False, default=0))
    created_at: datetime = created_at_field()


class PointsEntry(SQLModel, table=True):
    __tablename__ = "points_entries"
    __table_args__ = (
        CheckConstraint("amount > 0", name="positive_amount"),
        CheckConstraint("from_account_id <> to_account_id", name="two_accounts"),
        CheckConstraint("kind IN ('grant', 'award', 'redeem', 'reversal')", name="kind"),
        # A source is granted once, whatever retries or races happen.
        Index(
            "uq_points_entries_grant_source",
            "source_kind",
            "source_id",
            unique=True,
            sqlite_where=text("kind = 'grant'"),
            postgresql_where=text("kind = 'grant'"),
        ),
        # An entry is reversed at most once.
        Index("uq_points_entries_reverses", "reverses_id", unique=True),
        Index("ix_points_entries_from", "from_account_id", "id"),
        Index("ix_points_entries_to", "to_account_id", "id"),
        Index("ix_points_entries_org_created", "org_id", "created_at"),
        NEVER_REUSED_IDS,
    )

    id: int | None = Field(default=None, primary_key=True)
    from_account_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("points_accounts.id", ondelete="RESTRICT"), nullable=False
        )
    )
    to_account_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("points_accounts.id", ondelete="RESTRICT"), nullable=False
        )
    )
    amount: int = Field(sa_column=Column(Integer, nullable=False))
    kind: EntryKind = Field(sa_column=Column(String(10), nullable=False))
    source_kind: str | None = Field(default=None, sa_column=Column(String(20)))
    source_id: int | None = Field(default=None, sa_column=Column(Integer))
    reverses_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("points_entries.id", ondelete="RESTRICT")),
    )
    # The person and the org the entry is about, for lists and figures.
    user_id: int = Field(
        sa_column=Column(Integer, ForeignKey("users.id", ondelete="RESTRICT"), nullable=False)
    )
    org_id: int = Field(
        sa_column=Column(Integer, ForeignKey("orgs.id", ondelete="RESTRICT"), nullable=False)
    )
    # What the entry is, in the words the person reads ("志愿服务 3 小时").
    note: str = Field(sa_column=Column(Text, nullable=False))
    # RESTRICT, not SET NULL: that would be an UPDATE of an entry, which is refused.
    created_by_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("users.id", ondelete="RESTRICT"))
    )
    created_at: datetime = created_at_field()


class PointsRules(SQLModel, table=True):
    """A district's earning rules: points per source (0: none)."""

    __tablename__ = "points_rules"
    __table_args__ = (
        CheckConstraint(
            "per_volunteer_hour >= 0 AND per_confirmed_wish >= 0"
            " AND per_completed_order >= 0 AND per_report_in >= 0",
            name="not_negative",
        ),
    )

    district_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("orgs.id", ondelete="RESTRICT"), primary_key=True, nullable=False
        )
    )
    per_volunteer_hour: int = Field(sa_column=Column(Integer, nullable=False))
    per_confirmed_wish: int = Field(sa_column=Column(Integer, nullable=False))
    per_completed_order: int = Field(sa_column=Column(Integer, nullable=False))
    per_report_in: int = Field(sa_column=Column(Integer, nullable=False))
    updated_by_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("users.id", ondelete="SET NULL"))
    )
    updated_at: datetime = created_at_field()


class ShopItem(SQLModel, table=True):
    __tablename__ = "shop_items"
    __table_args__ = (
        CheckConstraint("points > 0", name="positive_points"),
        CheckConstraint("stock >= 0", name="stock_not_negative"),
        Index("ix_shop_items_community", "community_id"),
        NEVER_REUSED_IDS,
    )

    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(
        sa_column=Column(Integer, ForeignKey("orgs.id", ondelete="RESTRICT"), nullable=False)
    )
    name: str = Field(sa_column=Column(String(100), nullable=False))
    points: int = Field(sa_column=Column(Integer, nullable=False))
    stock: int = Field(sa_column=Column(Integer, nullable=False))
    donor_org_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("orgs.id", ondelete="RESTRICT"))
    )
    created_by_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("users.id", ondelete="SET NULL"))
    )
    created_at: datetime = created_at_field()


class RedemptionStatus(StrEnum):
    reserved = "reserved"
    collected = "collected"
    cancelled = "cancelled"
    expired = "expired"


class Redemption(SQLModel, table=True):
    __tablename__ = "shop_redemptions"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="positive_quantity"),
        CheckConstraint(
            "status IN ('reserved', 'collected', 'cancelled', 'expired')", name="status"
        ),
        Index("ix_shop_redemptions_community_status", "community_id", "status"),
        Index("ix_shop_redemptions_status_expires", "status", "expires_at"),
        Index("ix_shop_redemptions_user", "user_id"),
        NEVER_REUSED_IDS,
    )

    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(
        sa_column=Column(Integer, ForeignKey("shop_items.id", ondelete="RESTRICT"), nullable=False)
    )
    user_id: int = Field(
        sa_column=Column(Integer, ForeignKey("users.id", ondelete="RESTRICT"), nullable=False)
    )
    community_id: int = Field(
        sa_column=Column(Integer, ForeignKey("orgs.id", ondelete="RESTRICT"), nullable=False)
    )
    quantity: int = Field(sa_column=Column(Integer, nullable=False))
    points: int = Field(sa_column=Column(Integer, nullable=False))
    status: RedemptionStatus = Field(sa_column=Column(String(10), nullable=False))
    pickup_code: str = Field(sa_column=Column(String(6), nullable=False))
    # The entry that held the points; its reversal gives them back.
    entry_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("points_entries.id", ondelete="RESTRICT"), nullable=False
        )
    )
    reserved_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    closed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    closed_by_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("users.id", ondelete="SET NULL"))
    )


# The triggers that keep the ledger append-only, per dialect (the migration holds its
# own copy, as of its revision; tests/conftest.py lifts SQLite's DELETE one to empty
# the table between tests, PostgreSQL's tests TRUNCATE, which row triggers ignore).
SQLITE_NO_DELETE = (
    "CREATE TRIGGER points_entries_no_delete BEFORE DELETE ON points_entries "
    "BEGIN SELECT RAISE(ABORT, 'points entries are append-only'); END"
)


# --- API shapes ---------------------------------------------------------------


class RulesPut(StrictInput):
    per_volunteer_hour: int = Field(ge=0, le=10_000, description="每小时志愿服务（审核通过）")
    per_confirmed_wish: int = Field(ge=0, le=10_000, description="每个确认完成的微心愿")
    per_completed_order: int = Field(ge=0, le=10_000, description="每个已评价的服务订单")
    per_report_in: int = Field(ge=0, le=10_000, description="每次到社区报到")


class RulesPublic(SQLModel):
    district_id: int
    per_volunteer_hour: int
    per_confirmed_wish: int
    per_completed_order: int
    per_report_in: int
    updated_at: datetime | None = Field(description="从未设置过时为 null（各项为 0：不发积分）")


class AwardCreate(StrictInput):
    user_id: int = Field(ge=1, le=MAX_ID)
    points: int = Field(ge=1, le=MAX_ID, description="不超过 POINTS_AWARD_CAP")
    reason: str = Field(min_length=1, max_length=200)


class EntryPublic(SQLModel):
    id: int
    points: int = Field(description="对本人账户：正为收入，负为支出")
    kind: EntryKind
    text: str = Field(description="中文说明，如「2026-11 志愿服务 3 小时」")
    org_id: int
    created_at: datetime


class MyPoints(SQLModel):
    balance: int
    entries: list[EntryPublic]


class TopEarner(SQLModel):
    user_id: int | None = Field(description="只给管理员；统计接口密钥为 null")
    name: str = Field(description="管理员看到全名；统计接口密钥看到打码的姓名")
    earned: int = Field(description="当月在该社区获得的积分（扣除冲正）")


class CommunityTopEarners(SQLModel):
    org_id: int
    org_name: str
    earners: list[TopEarner]


class PointsFlow(SQLModel):
    org_id: int
    org_name: str
    issued: int = Field(description="当月发放（扣除冲正），同工作台 credits_issued")
    spent: int = Field(description="当月兑换花掉的（扣除退回），同 credits_spent")
    outstanding: int = Field(description="此刻已发放未花掉的，同 credits_outstanding")


class PointsStats(PointsFlow):
    month: str
    children: list[PointsFlow] = Field(description="各直属下级组织（含其全部下级）")
    top_earners: list[CommunityTopEarners] = Field(
        description="子树内每个社区当月获得积分最多的居民（前 TOP_EARNERS 名）"
    )


class AccountPublic(SQLModel):
    user_id: int
    name: str
    balance: int
    earned: int
    spent: int


class ShopItemCreate(StrictInput):
    community_id: int = Field(ge=1, le=MAX_ID)
    name: str = Field(min_length=1, max_length=100)
    points: int = Field(ge=1, le=1_000_000)
    stock: int = Field(ge=0, le=1_000_000)
    donor_org_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    photo_ids: list[PhotoId] | None = Field(default=None, max_length=9)


class ShopItemPublic(SQLModel):
    id: int
    community_id: int
    name: str
    points: int
    stock: int
    donor_org_id: int | None
    donor_name: str | None
    photo_ids: list[int]
    created_at: datetime


class RedemptionCreate(StrictInput):
    item_id: int = Field(ge=1, le=MAX_ID)
    quantity: int = Field(default=1, ge=1, le=100)


class RedemptionCollect(StrictInput):
    pickup_code: str = Field(min_length=1, max_length=6)


class RedemptionPublic(SQLModel):
    id: int
    item_id: int
    item_name: str
    user_id: int
    community_id: int
    quantity: int
    points: int
    status: RedemptionStatus
    pickup_code: str | None = Field(description="仅本人可见")
    reserved_at: datetime
    expires_at: datetime
    closed_at: datetime | None
