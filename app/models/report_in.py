"""Monthly report-ins (到社区报到): once per Shanghai calendar month, to the home community."""

from datetime import datetime
from typing import Self

from pydantic import model_validator
from sqlalchemy import (
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
from app.models.common import (
    NEVER_REUSED_IDS,
    Latitude,
    Longitude,
    PhotoId,
    StrictInput,
    created_at_field,
)


class ReportIn(SQLModel, table=True):
    """A member's monthly report to the home community (到社区报到)."""

    __tablename__ = "report_ins"
    __table_args__ = (
        # Once per Shanghai calendar month, whatever retries or races happen.
        UniqueConstraint("user_id", "month"),
        CheckConstraint(
            "(lat IS NULL AND lng IS NULL) OR (lat IS NOT NULL AND lng IS NOT NULL)",
            name="location_complete",
        ),
        # With the reporter: a community's report-ins of a month read from the index
        # alone (the dashboards' pairing report-ins join them to the paired unit's
        # members, app/services/dashboard.py).
        Index("ix_report_ins_community_month_user", "community_id", "month", "user_id"),
        NEVER_REUSED_IDS,
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(
        sa_column=Column(Integer, ForeignKey("users.id", ondelete="RESTRICT"), nullable=False)
    )
    # The home community at the time of reporting: a member who moves later still
    # counts for the community they reported to that month.
    community_id: int = Field(
        sa_column=Column(Integer, ForeignKey("orgs.id", ondelete="RESTRICT"), nullable=False)
    )
    month: str = Field(sa_column=Column(String(7), nullable=False))  # "YYYY-MM", Shanghai
    reported_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    lat: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    lng: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = created_at_field()


# --- API shapes ---------------------------------------------------------------


class ReportInCreate(StrictInput):
    lat: Latitude | None = None
    lng: Longitude | None = None
    note: str | None = Field(default=None, max_length=500)
    photo_ids: list[PhotoId] | None = None

    @model_validator(mode="after")
    def _location_complete(self) -> Self:
        if (self.lat is None) != (self.lng is None):
            raise ValueError("lat 和 lng 须同时提供")
        return self


class NotReported(SQLModel):
    user_id: int
    name: str
    phone_masked: str | None
    community_id: int | None


class ReportInFigures(SQLModel):
    org_id: int
    org_name: str
    month: str
    members: int = Field(description="党员人数：单位为本单位（含下级）党员，其他为花名册上的党员")
    reported: int = Field(description="其中本月已向任一社区报到的人数")
    rate: float | None = Field(description="reported / members，无党员时为 null")
    not_reported: list[NotReported] | None = Field(
        description="尚未报到的党员（手机号打码，最多 500 人）；API 密钥调用时为 null"
    )


class ReportInPublic(SQLModel):
    id: int
    user_id: int
    user_name: str
    community_id: int
    month: str
    reported_at: datetime
    note: str | None
    has_location: bool
    photo_ids: list[int]


class ReportInMonth(SQLModel):
    month: str
    reported: int = Field(description="该月已向任一社区报到的党员人数")
    rate: float | None = Field(description="reported / members，无党员时为 null")


class YearNotReported(NotReported):
    months_reported: int = Field(description="当年已报到的月数（截至本月）")
    months_missed: list[str] = Field(description="当年未报到的月份（截至本月）")


class ReportInYearFigures(SQLModel):
    org_id: int
    org_name: str
    year: int
    members: int = Field(description="党员人数（此刻的花名册：单位为本单位含下级，其他为本组织）")
    months: list[ReportInMonth] = Field(
        description="当年各月（今年只到本月，北京时间），每月报到人数和报到率"
    )
    rate: float | None = Field(
        description="全年报到率 = 各月报到人次之和 / (党员人数 × 月数)；无党员时为 null"
    )
    not_reported: list[YearNotReported] | None = Field(
        description="当年有月份未报到的党员（手机号打码，缺得多者在前，最多 500 人）；"
        "API 密钥调用时为 null"
    )
