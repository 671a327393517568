"""Publicity performance (宣传): columns (专栏), placements (上稿) and the district's
weights for the quarterly ranking. Articles themselves are in app/models/article.py."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import Field as PydanticField
from sqlalchemy import (
    CheckConstraint,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

from app.core.db import UTCDateTime
from app.models.common import NEVER_REUSED_IDS, StrictInput, created_at_field, updated_at_field
from app.models.user import MAX_ID


def _in(values: type[StrEnum]) -> str:
    return ", ".join(f"'{v.value}'" for v in sorted(values))


# --- columns (专栏) ---------------------------------------------------------------------


class ArticleColumn(SQLModel, table=True):
    """A column or series an org runs (专栏); an article of the org or of any org
    below it may belong to it, to one column at most (`articles.column_id`)."""

    __tablename__ = "article_columns"
    __table_args__ = (UniqueConstraint("org_id", "name"), NEVER_REUSED_IDS)

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("orgs.id", ondelete="RESTRICT"), nullable=False, index=True
        )
    )
    name: str = Field(sa_column=Column(String(50), nullable=False))
    description: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_by_id: int = Field(
        sa_column=Column(Integer, ForeignKey("users.id", ondelete="RESTRICT"), nullable=False)
    )
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


class ColumnCreate(StrictInput):
    org_id: int = Field(ge=1, le=MAX_ID, description="开设专栏的组织（须在管理范围内）")
    name: str = Field(min_length=1, max_length=50, description="同一组织内不重名")
    description: str | None = Field(default=None, max_length=1000)


class ColumnUpdate(StrictInput):
    name: str | None = Field(default=None, min_length=1, max_length=50)
    description: str | None = Field(default=None, max_length=1000)


class ColumnPublic(SQLModel):
    id: int
    org_id: int
    org_name: str
    name: str
    description: str | None
    created_at: datetime
    updated_at: datetime


# --- placements (上稿) ------------------------------------------------------------------


class PlacementLevel(StrEnum):
    central = "central"
    provincial = "provincial"
    city = "city"
    district = "district"


LEVEL_NAMES = {
    PlacementLevel.central: "中央级",
    PlacementLevel.provincial: "省级",
    PlacementLevel.city: "市级",
    PlacementLevel.district: "区级",
}


class PlacementStatus(StrEnum):
    pending = "pending"
    verified = "verified"
    rejected = "rejected"


class PlacementAction(StrEnum):
    create = "create"
    verify = "verify"
    reject = "reject"


class Placement(SQLModel, table=True):
    """An article adopted by an outside outlet (上稿): recorded by its author or an
    admin, counted in the rankings once the office has verified it."""

    __tablename__ = "placements"
    __table_args__ = (
        CheckConstraint(f"level IN ({_in(PlacementLevel)})", name="level"),
        CheckConstraint(f"status IN ({_in(PlacementStatus)})", name="status"),
        CheckConstraint(
            "(status = 'pending') = (verified_by_id IS NULL)", name="verified_by_present"
        ),
        # The same adoption recorded twice (two taps, two people) is one placement.
        UniqueConstraint("article_id", "level", "outlet", "published_on"),
        # The quarterly ranking and the office's queue.
        Index("ix_placements_status_published_on", "status", "published_on"),
        NEVER_REUSED_IDS,
    )

    id: int | None = Field(default=None, primary_key=True)
    article_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("articles.id", ondelete="RESTRICT"), nullable=False, index=True
        )
    )
    # The article's org (an article never changes org): where the audit files it.
    org_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("orgs.id", ondelete="RESTRICT"), nullable=False, index=True
        )
    )
    outlet: str = Field(sa_column=Column(String(100), nullable=False))
    level: PlacementLevel = Field(sa_column=Column(String(12), nullable=False))
    published_on: date = Field(sa_column=Column(Date, nullable=False))
    url: str | None = Field(default=None, sa_column=Column(String(500), nullable=True))
    status: PlacementStatus = Field(sa_column=Column(String(10), nullable=False))
    recorded_by_id: int = Field(
        sa_column=Column(Integer, ForeignKey("users.id", ondelete="RESTRICT"), nullable=False)
    )
    verified_by_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("users.id", ondelete="RESTRICT"), nullable=True),
    )
    verified_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


class PlacementEvent(SQLModel, table=True):
    """The append-only history of a placement."""

    __tablename__ = "placement_events"
    __table_args__ = (
        CheckConstraint(f"action IN ({_in(PlacementAction)})", name="action"),
        NEVER_REUSED_IDS,
    )

    id: int | None = Field(default=None, primary_key=True)
    placement_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("placements.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    action: PlacementAction = Field(sa_column=Column(String(10), nullable=False))
    from_status: PlacementStatus | None = Field(
        default=None, sa_column=Column(String(10), nullable=True)
    )
    to_status: PlacementStatus = Field(sa_column=Column(String(10), nullable=False))
    actor_id: int = Field(
        sa_column=Column(Integer, ForeignKey("users.id", ondelete="RESTRICT"), nullable=False)
    )
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    at: datetime = created_at_field()


HttpLink = Annotated[str, PydanticField(max_length=500, pattern=r"^https?://\S+$")]


class PlacementCreate(StrictInput):
    outlet: str = Field(min_length=1, max_length=100, description="刊发媒体，如“人民日报”")
    level: PlacementLevel = Field(
        description="central 中央级、provincial 省级、city 市级、district 区级"
    )
    published_on: date = Field(description="刊发日期（不晚于今天，北京时间）")
    url: HttpLink | None = Field(default=None, description="链接（http 或 https）")


class PlacementVerify(StrictInput):
    approve: bool
    note: str | None = Field(default=None, max_length=1000, description="不予认定时必填")


class PlacementPublic(SQLModel):
    id: int
    article_id: int
    article_title: str
    org_id: int
    outlet: str
    level: PlacementLevel
    published_on: date
    url: str | None
    status: PlacementStatus
    recorded_by_id: int
    verified_by_id: int | None
    verified_at: datetime | None
    note: str | None
    created_at: datetime


class PlacementEventPublic(SQLModel):
    id: int
    action: PlacementAction
    from_status: PlacementStatus | None
    to_status: PlacementStatus
    actor_id: int
    actor_name: str
    note: str | None
    at: datetime


class PlacementDetail(PlacementPublic):
    history: list[PlacementEventPublic]


# --- weights and the quarterly ranking ------------------------------------------------------


class PublicityWeight(SQLModel, table=True):
    """What one verified placement of a level scores in a district's ranking."""

    __tablename__ = "publicity_weights"
    __table_args__ = (
        CheckConstraint(f"level IN ({_in(PlacementLevel)})", name="level"),
        CheckConstraint("weight >= 0", name="weight_not_negative"),
        UniqueConstraint("district_id", "level"),
        NEVER_REUSED_IDS,
    )

    id: int | None = Field(default=None, primary_key=True)
    district_id: int = Field(
        sa_column=Column(Integer, ForeignKey("orgs.id", ondelete="RESTRICT"), nullable=False)
    )
    level: PlacementLevel = Field(sa_column=Column(String(12), nullable=False))
    weight: float = Field(sa_column=Column(Float, nullable=False))
    updated_by_id: int = Field(
        sa_column=Column(Integer, ForeignKey("users.id", ondelete="RESTRICT"), nullable=False)
    )
    updated_at: datetime = updated_at_field()


# Until a district sets its own: one placement in central media weighs as ten in the
# district's own.
DEFAULT_WEIGHTS = {
    PlacementLevel.central: 10.0,
    PlacementLevel.provincial: 5.0,
    PlacementLevel.city: 2.0,
    PlacementLevel.district: 1.0,
}


class PublicityWeights(StrictInput):
    weights: dict[PlacementLevel, float] = Field(
        description="每级一篇已认定上稿的分值（≥0）；未给出的级别保持不变",
        min_length=1,
    )


class PublicityWeightsPublic(SQLModel):
    district_id: int
    weights: dict[PlacementLevel, float]


class PlacementCounts(SQLModel):
    central: int = 0
    provincial: int = 0
    city: int = 0
    district: int = 0


class PublicityRow(SQLModel):
    org_id: int
    org_name: str
    submitted: int = Field(description="期间内首次提交审核的稿件数（投稿）")
    published: int = Field(description="期间内发布的稿件数（用稿）")
    placements: PlacementCounts = Field(description="期间内刊发、已认定的上稿数，按级别")
    score: float = Field(description="各级上稿数 × 区设定的分值之和")
    rank: int | None = Field(description="按得分排名（并列同名次）；合计行为 null")


class PublicityStats(SQLModel):
    org_id: int
    year: int
    quarter: int | None
    weights: dict[PlacementLevel, float]
    total: PublicityRow
    children: list[PublicityRow] = Field(description="每个直属下级组织（含其全部下级），按名次")


class ColumnStatsRow(SQLModel):
    column_id: int
    name: str
    org_id: int
    submitted: int
    published: int
    placements: int = Field(description="期间内刊发、已认定的上稿数")


class ColumnStats(SQLModel):
    org_id: int
    year: int
    quarter: int | None
    columns: list[ColumnStatsRow]
