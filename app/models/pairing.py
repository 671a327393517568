"""Pairings (结对共建) of a unit with a community, and liaisons (包联)."""

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import StringConstraints
from sqlalchemy import JSON, CheckConstraint, Column, Date, ForeignKey, Index, Integer, String, text
from sqlmodel import Field, SQLModel

from app.models.common import NEVER_REUSED_IDS, StrictInput, created_at_field, updated_at_field
from app.models.user import MAX_ID


class PairingStatus(StrEnum):
    active = "active"
    ended = "ended"


class PairingAction(StrEnum):
    create = "create"
    end = "end"


ACTIVE = "status = 'active'"


class Pairing(SQLModel, table=True):
    """A unit paired with a community. Ended, never deleted: its history stays."""

    __tablename__ = "pairings"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'ended')", name="status"),
        CheckConstraint("ends_on IS NULL OR ends_on >= starts_on", name="period"),
        # One active pairing per unit and community, settled by the database: of two
        # admins pairing the same two at once, one gets 409 already_paired.
        Index(
            "uq_pairings_active",
            "unit_id",
            "community_id",
            unique=True,
            sqlite_where=text(ACTIVE),
            postgresql_where=text(ACTIVE),
        ),
        Index("ix_pairings_community_id", "community_id", "status"),
        NEVER_REUSED_IDS,
    )

    id: int | None = Field(default=None, primary_key=True)
    unit_id: int = Field(
        sa_column=Column(Integer, ForeignKey("orgs.id", ondelete="RESTRICT"), nullable=False)
    )
    community_id: int = Field(
        sa_column=Column(Integer, ForeignKey("orgs.id", ondelete="RESTRICT"), nullable=False)
    )
    status: PairingStatus = Field(
        default=PairingStatus.active, sa_column=Column(String(10), nullable=False)
    )
    starts_on: date = Field(sa_column=Column(Date, nullable=False))
    ends_on: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    commitments: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_by_id: int = Field(
        sa_column=Column(Integer, ForeignKey("users.id", ondelete="RESTRICT"), nullable=False)
    )
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


class PairingEvent(SQLModel, table=True):
    """The append-only history of a pairing."""

    __tablename__ = "pairing_events"
    __table_args__ = (
        CheckConstraint("action IN ('create', 'end')", name="action"),
        NEVER_REUSED_IDS,
    )

    id: int | None = Field(default=None, primary_key=True)
    pairing_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("pairings.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    action: PairingAction = Field(sa_column=Column(String(10), nullable=False))
    from_status: PairingStatus | None = Field(
        default=None, sa_column=Column(String(10), nullable=True)
    )
    to_status: PairingStatus = Field(sa_column=Column(String(10), nullable=False))
    actor_id: int = Field(
        sa_column=Column(Integer, ForeignKey("users.id", ondelete="RESTRICT"), nullable=False)
    )
    note: str | None = Field(default=None, sa_column=Column(String(500), nullable=True))
    at: datetime = created_at_field()


Commitment = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class PairingCreate(StrictInput):
    unit_id: int = Field(ge=1, le=MAX_ID, description="单位（level=unit）")
    community_id: int = Field(
        ge=1, le=MAX_ID, description="社区（level=community），须在管理范围内"
    )
    starts_on: date
    ends_on: date | None = Field(default=None, description="不早于 starts_on；不填则长期")
    commitments: list[Commitment] = Field(default_factory=list, max_length=20)


class PairingEnd(StrictInput):
    ends_on: date | None = Field(default=None, description="默认今天（北京时间），不早于 starts_on")
    note: str | None = Field(default=None, max_length=500)


class PairingPublic(SQLModel):
    id: int
    unit_id: int
    unit_name: str
    community_id: int
    community_name: str
    status: PairingStatus
    starts_on: date
    ends_on: date | None
    commitments: list[str]
    created_at: datetime


class PairingEventPublic(SQLModel):
    id: int
    action: PairingAction
    from_status: PairingStatus | None
    to_status: PairingStatus
    actor_id: int
    actor_name: str
    note: str | None
    at: datetime


class LiaisonKind(StrEnum):
    leader = "leader"
    unit = "unit"


class Liaison(SQLModel, table=True):
    """A leader or a unit assigned to a street or community (包联), for a period.
    Exactly one of `user_id` (a leader) and `unit_id` (a unit: its members go and
    their visits count for it) is set."""

    __tablename__ = "liaisons"
    __table_args__ = (
        CheckConstraint("ends_on IS NULL OR ends_on >= starts_on", name="period"),
        CheckConstraint("(user_id IS NULL) <> (unit_id IS NULL)", name="one_party"),
        NEVER_REUSED_IDS,
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int | None = Field(
        default=None,
        sa_column=Column(
            Integer, ForeignKey("users.id", ondelete="RESTRICT"), nullable=True, index=True
        ),
    )
    unit_id: int | None = Field(
        default=None,
        sa_column=Column(
            Integer, ForeignKey("orgs.id", ondelete="RESTRICT"), nullable=True, index=True
        ),
    )
    org_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("orgs.id", ondelete="RESTRICT"), nullable=False, index=True
        )
    )
    starts_on: date = Field(sa_column=Column(Date, nullable=False))
    ends_on: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    created_by_id: int = Field(
        sa_column=Column(Integer, ForeignKey("users.id", ondelete="RESTRICT"), nullable=False)
    )
    created_at: datetime = created_at_field()


class LiaisonCreate(StrictInput):
    user_id: int | None = Field(
        default=None, ge=1, le=MAX_ID, description="包联的领导（须在本区花名册上）"
    )
    unit_id: int | None = Field(
        default=None,
        ge=1,
        le=MAX_ID,
        description="或：包联的单位（与 user_id 二选一；其党员的巡查计入该单位）",
    )
    org_id: int = Field(ge=1, le=MAX_ID, description="街道或社区")
    starts_on: date
    ends_on: date | None = Field(default=None, description="不早于 starts_on")


class LiaisonEnd(StrictInput):
    ends_on: date | None = Field(
        default=None, description="最后一天，默认今天（北京时间）；不早于 starts_on"
    )


class LiaisonPublic(SQLModel):
    id: int
    kind: LiaisonKind = Field(description="leader：领导包联；unit：单位包联")
    user_id: int | None
    user_name: str | None
    unit_id: int | None
    unit_name: str | None
    org_id: int
    org_name: str
    starts_on: date
    ends_on: date | None
    created_at: datetime


class PairingFigures(SQLModel):
    pairing_id: int
    unit_id: int
    unit_name: str
    community_id: int
    community_name: str
    status: PairingStatus
    starts_on: date
    commitments: list[str]
    members: int = Field(description="该单位党员人数")
    reported_this_month: int = Field(description="其中本月向结对社区报到的人数")
    reported_this_year: int = Field(description="其中当年向结对社区报到过的人数")
    approved_minutes: int = Field(
        description="该单位人员当年在结对社区已审核通过的志愿时长（分钟）"
    )
    wishes_claimed: int = Field(description="该单位人员当年认领的结对社区微心愿数")
    joint_tasks: int = Field(description="当年与该结对共同组织的任务数")


class PairingStats(SQLModel):
    org_id: int
    year: int
    month: str
    items: list[PairingFigures]
