"""Household visits (入户调查): a community's mock of the assessment's household
survey, one record per household visited per month, with the "three rates'"
awareness (知晓) and satisfaction (满意) answers."""

from datetime import datetime
from typing import Annotated, Self

from pydantic import StringConstraints, model_validator
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
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
from app.models.common import NEVER_REUSED_IDS, Latitude, Longitude, StrictInput
from app.models.user import MAX_ID

# Satisfaction is answered 1 (非常不满意) to 5 (非常满意); the satisfaction rate counts
# 4 and 5 (比较满意, 非常满意), as the assessment's 满意度 counts the satisfied answers.
SATISFIED_FROM = 4


class HouseholdVisit(SQLModel, table=True):
    __tablename__ = "household_visits"
    __table_args__ = (
        # A household counts once a month: a second visit would weigh it twice.
        UniqueConstraint(
            "community_id", "month", "household_label", name="uq_household_visits_once"
        ),
        CheckConstraint("satisfaction BETWEEN 1 AND 5", name="satisfaction"),
        CheckConstraint("(lat IS NULL) = (lng IS NULL)", name="location"),
        Index("ix_household_visits_month_community", "month", "community_id"),
        NEVER_REUSED_IDS,
    )

    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(
        sa_column=Column(Integer, ForeignKey("orgs.id", ondelete="RESTRICT"), nullable=False)
    )
    # The Shanghai month of visited_at: the period the figures and the key are of.
    month: str = Field(sa_column=Column(String(7), nullable=False))
    # How the visitor names the household (楼栋门牌), never a resident's name or phone.
    household_label: str = Field(sa_column=Column(String(100), nullable=False))
    lat: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    lng: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    aware: bool = Field(sa_column=Column(Boolean, nullable=False))
    satisfaction: int = Field(sa_column=Column(Integer, nullable=False))
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    visitor_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("users.id", ondelete="RESTRICT"), nullable=False, index=True
        )
    )
    visited_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class HouseholdVisitCreate(StrictInput):
    community_id: int = Field(ge=1, le=MAX_ID)
    household_label: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)
    ] = Field(description="户的标识（如 3栋2单元501），不填姓名、电话")
    lat: Latitude | None = None
    lng: Longitude | None = None
    aware: bool = Field(description="是否知晓创建全国文明城市")
    satisfaction: int = Field(ge=1, le=5, description="满意程度：1 非常不满意 … 5 非常满意")
    note: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
        | None
    ) = None

    @model_validator(mode="after")
    def _both_or_neither(self) -> Self:
        if (self.lat is None) != (self.lng is None):
            raise ValueError("lat 和 lng 须同时填写或都不填")
        return self


class HouseholdVisitPublic(SQLModel):
    id: int
    community_id: int
    month: str
    household_label: str
    aware: bool
    satisfaction: int
    note: str | None
    visited_at: datetime


class HouseholdOrgStats(SQLModel):
    org_id: int
    org_name: str
    visits: int = Field(description="本月入户的户数")
    communities: int
    communities_visited: int
    coverage: float | None = Field(description="本月有入户调查的社区占比")
    awareness_rate: float | None = Field(description="知晓的户数 / 入户户数")
    satisfaction_rate: float | None = Field(description="满意程度为 4、5 的户数 / 入户户数")
    average_satisfaction: float | None


class HouseholdStats(SQLModel):
    org_id: int
    month: str
    total: HouseholdOrgStats
    children: list[HouseholdOrgStats]
