"""Volunteer service teams (志愿服务队): a brand, a home org, a leader and members who
asked to join and were approved by the leader."""

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import StringConstraints
from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

from app.core.db import UTCDateTime
from app.models.common import (
    MAX_ID,
    NEVER_REUSED_IDS,
    StrictInput,
    created_at_field,
    updated_at_field,
)

ServiceType = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)]


class MemberStatus(StrEnum):
    pending = "pending"
    approved = "approved"
    rejected = "rejected"


class Team(SQLModel, table=True):
    __tablename__ = "teams"
    __table_args__ = (UniqueConstraint("org_id", "name"), NEVER_REUSED_IDS)

    id: int | None = Field(default=None, primary_key=True)
    # The brand (红小帽, ...), unique within its home org.
    name: str = Field(sa_column=Column(String(50), nullable=False))
    org_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("orgs.id", ondelete="RESTRICT"), nullable=False, index=True
        )
    )
    leader_user_id: int = Field(
        sa_column=Column(Integer, ForeignKey("users.id", ondelete="RESTRICT"), nullable=False)
    )
    service_types: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    description: str = Field(sa_column=Column(Text, nullable=False))
    created_by_id: int = Field(
        sa_column=Column(Integer, ForeignKey("users.id", ondelete="RESTRICT"), nullable=False)
    )
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


class TeamMember(SQLModel, table=True):
    __tablename__ = "team_members"
    __table_args__ = (
        UniqueConstraint("team_id", "user_id"),
        CheckConstraint("status IN ('approved', 'pending', 'rejected')", name="status"),
        NEVER_REUSED_IDS,
    )

    id: int | None = Field(default=None, primary_key=True)
    team_id: int = Field(
        sa_column=Column(Integer, ForeignKey("teams.id", ondelete="CASCADE"), nullable=False)
    )
    user_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    status: MemberStatus = Field(sa_column=Column(String(20), nullable=False))
    reviewed_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    created_at: datetime = created_at_field()


# --- API shapes ---------------------------------------------------------------


class TeamCreate(StrictInput):
    name: str = Field(min_length=1, max_length=50, description="队伍品牌名称，如“红小帽”")
    org_id: int = Field(ge=1, le=MAX_ID, description="所属组织，须在管理范围内")
    leader_user_id: int = Field(ge=1, le=MAX_ID)
    service_types: list[ServiceType] = Field(default_factory=list, max_length=20)
    description: str = Field(default="", max_length=2000)


class MemberReview(StrictInput):
    approve: bool


class TeamMemberPublic(SQLModel):
    user_id: int
    name: str
    status: MemberStatus
    created_at: datetime


class TeamPublic(SQLModel):
    id: int
    name: str
    org_id: int
    leader_user_id: int
    leader_name: str
    service_types: list[str]
    description: str
    members: int = Field(description="已批准的队员人数（含队长）")
    minutes: int = Field(description="队伍完成服务订单记入的志愿时长（分钟）")
    orders_completed: int
    created_at: datetime


class TeamDetail(TeamPublic):
    member_list: list[TeamMemberPublic] = Field(description="队员；待批准的申请只给队长和管理员看")
