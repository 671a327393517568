"""Volunteers (志愿者): people who registered, or roster people who opted in, with the
consent they gave to the processing of their personal data (PIPL)."""

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import StringConstraints
from sqlalchemy import JSON, CheckConstraint, Column, ForeignKey, Index, Integer, String, Text
from sqlmodel import Field, SQLModel

from app.core.db import UTCDateTime
from app.models.common import (
    MAX_ID,
    NEVER_REUSED_IDS,
    StrictInput,
    created_at_field,
    updated_at_field,
)

# The version of the consent text the mini-program shows; a consent records it, so
# which words a person agreed to stays known after the text changes.
CONSENT_VERSION = "2026-12"


class VolunteerStatus(StrEnum):
    pending = "pending"
    approved = "approved"
    rejected = "rejected"
    # Consent withdrawn: on no volunteer list any more, the row kept for the record.
    withdrawn = "withdrawn"


class VolunteerAction(StrEnum):
    register = "register"
    approve = "approve"
    reject = "reject"
    withdraw = "withdraw"


class OpenTo(StrEnum):
    """Who may take part in a task or fulfil a wish."""

    party_members = "party_members"
    everyone = "everyone"


def _in(values: Iterable[StrEnum]) -> str:
    return ", ".join(f"'{v.value}'" for v in sorted(values))


class Volunteer(SQLModel, table=True):
    """One person's volunteer registration: at most one per person (withdrawing and
    registering again reuses it)."""

    __tablename__ = "volunteers"
    __table_args__ = (
        CheckConstraint(f"status IN ({_in(VolunteerStatus)})", name="status"),
        Index("ix_volunteers_community_status", "community_id", "status"),
        NEVER_REUSED_IDS,
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, unique=True
        )
    )
    # The community whose admins review them and whose tasks and wishes they join.
    community_id: int = Field(
        sa_column=Column(Integer, ForeignKey("orgs.id", ondelete="RESTRICT"), nullable=False)
    )
    status: VolunteerStatus = Field(sa_column=Column(String(20), nullable=False))
    skills: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # A roster person who opted in (POST /me/volunteer) rather than registered.
    on_roster: bool = Field(default=False)
    consent_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    consent_version: str = Field(sa_column=Column(String(20), nullable=False))
    withdrawn_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    reviewed_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


class VolunteerEvent(SQLModel, table=True):
    """The history of a registration: every review and withdrawal, who and when."""

    __tablename__ = "volunteer_events"
    __table_args__ = (
        CheckConstraint(f"action IN ({_in(VolunteerAction)})", name="action"),
        NEVER_REUSED_IDS,
    )

    id: int | None = Field(default=None, primary_key=True)
    volunteer_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("volunteers.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    action: VolunteerAction = Field(sa_column=Column(String(20), nullable=False))
    from_status: VolunteerStatus | None = Field(
        default=None, sa_column=Column(String(20), nullable=True)
    )
    to_status: VolunteerStatus = Field(sa_column=Column(String(20), nullable=False))
    actor_id: int = Field(
        sa_column=Column(Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    )
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    at: datetime = created_at_field()


# --- API shapes ---------------------------------------------------------------

Skill = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)]


class VolunteerRegister(StrictInput):
    name: str = Field(min_length=1, max_length=50, description="真实姓名")
    phone_code: str = Field(min_length=1, max_length=128, description="getPhoneNumber 的 code")
    community_id: int = Field(ge=1, le=MAX_ID)
    skills: list[Skill] = Field(default_factory=list, max_length=10)
    consent: bool = Field(description="同意个人信息处理规则，必须为 true")


class VolunteerOptIn(StrictInput):
    skills: list[Skill] = Field(default_factory=list, max_length=10)
    consent: bool = Field(description="同意个人信息处理规则，必须为 true")


class VolunteerReview(StrictInput):
    approve: bool
    reason: str | None = Field(default=None, max_length=500, description="驳回时必填")


class VolunteerPublic(SQLModel):
    id: int
    user_id: int
    name: str
    phone_masked: str | None = Field(description="138****8000")
    community_id: int
    status: VolunteerStatus
    is_volunteer: bool = Field(description="已审核通过的志愿者")
    skills: list[str]
    on_roster: bool
    consent_at: datetime
    consent_version: str
    withdrawn_at: datetime | None
    reviewed_at: datetime | None
    created_at: datetime
