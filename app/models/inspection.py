"""Inspection rounds (督导巡查): checklists per point kind, and visits judged on them."""

from datetime import date, datetime
from typing import Annotated, Self

from pydantic import StringConstraints, model_validator
from sqlalchemy import (
    JSON,
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
from app.models.common import (
    NEVER_REUSED_IDS,
    Latitude,
    Longitude,
    PhotoId,
    StrictInput,
    created_at_field,
)
from app.models.photo_reuse import ReuseRef
from app.models.problem import (
    MAX_WORKING_DAYS,
    Location,
    PointKind,
    ProblemCategory,
    _in,
)
from app.models.user import MAX_ID

MAX_CHECKLIST_ITEMS = 50
ChecklistItem = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)
]


class Checklist(SQLModel, table=True):
    """One version of a district's checklist for a kind of point (测评细则).

    A new PUT adds a version and never edits one: a visit names the version it was
    judged on, so its record reads the same after the district changes the items."""

    __tablename__ = "checklists"
    __table_args__ = (
        CheckConstraint(f"kind IN ({_in(PointKind)})", name="kind"),
        UniqueConstraint("district_id", "kind", "version"),
        NEVER_REUSED_IDS,
    )

    id: int | None = Field(default=None, primary_key=True)
    district_id: int = Field(
        sa_column=Column(Integer, ForeignKey("orgs.id", ondelete="RESTRICT"), nullable=False)
    )
    kind: PointKind = Field(sa_column=Column(String(30), nullable=False))
    version: int = Field(sa_column=Column(Integer, nullable=False))
    items: list[str] = Field(sa_column=Column(JSON, nullable=False))
    created_by_id: int = Field(
        sa_column=Column(Integer, ForeignKey("users.id", ondelete="RESTRICT"), nullable=False)
    )
    created_at: datetime = created_at_field()


class Inspection(SQLModel, table=True):
    """A visit to a point (一次巡查): who, when, where they stood, what they found."""

    __tablename__ = "inspections"
    __table_args__ = (
        # Lists, ledgers and weekly figures: an org's visits in a period.
        Index("ix_inspections_org_visited_at", "org_id", "visited_at"),
        Index("ix_inspections_point_visited_at", "point_id", "visited_at"),
        CheckConstraint("failed_count >= 0", name="failed_count"),
        NEVER_REUSED_IDS,
    )

    id: int | None = Field(default=None, primary_key=True)
    point_id: int = Field(
        sa_column=Column(Integer, ForeignKey("points.id", ondelete="RESTRICT"), nullable=False)
    )
    # The point's org, copied so scope and figures read this table alone (points never move).
    org_id: int = Field(
        sa_column=Column(Integer, ForeignKey("orgs.id", ondelete="RESTRICT"), nullable=False)
    )
    checklist_id: int = Field(
        sa_column=Column(Integer, ForeignKey("checklists.id", ondelete="RESTRICT"), nullable=False)
    )
    inspector_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("users.id", ondelete="RESTRICT"), nullable=False, index=True
        )
    )
    # The supervision team (督导组) the visit was made for, one the inspector was a
    # member of when recording it (kept if they leave the team later).
    team_id: int | None = Field(
        default=None,
        sa_column=Column(
            Integer, ForeignKey("inspection_teams.id", ondelete="RESTRICT"), nullable=True
        ),
    )
    lat: float = Field(sa_column=Column(Float, nullable=False))
    lng: float = Field(sa_column=Column(Float, nullable=False))
    distance_m: float = Field(sa_column=Column(Float, nullable=False))
    meets_standard: bool = Field(sa_column=Column(Boolean, nullable=False))
    failed_count: int = Field(sa_column=Column(Integer, nullable=False))
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    visited_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class InspectionResult(SQLModel, table=True):
    """One checklist item as judged on a visit."""

    __tablename__ = "inspection_results"
    __table_args__ = (UniqueConstraint("inspection_id", "item"), NEVER_REUSED_IDS)

    id: int | None = Field(default=None, primary_key=True)
    inspection_id: int = Field(
        sa_column=Column(Integer, ForeignKey("inspections.id", ondelete="CASCADE"), nullable=False)
    )
    item: str = Field(sa_column=Column(String(200), nullable=False))
    passed: bool = Field(sa_column=Column(Boolean, nullable=False))
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # The problem opened for this failed item in the same visit, if any.
    problem_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("problems.id", ondelete="SET NULL"), nullable=True),
    )


# --- API shapes ---------------------------------------------------------------


class ChecklistPut(StrictInput):
    items: list[ChecklistItem] = Field(
        min_length=1, max_length=MAX_CHECKLIST_ITEMS, description="检查项，按顺序，不可重复"
    )


class ChecklistPublic(SQLModel):
    id: int
    district_id: int
    kind: PointKind
    version: int = Field(description="每次修改加一；巡查记录保留其所依据的版本")
    items: list[str]
    created_at: datetime


class ResultInput(StrictInput):
    item: ChecklistItem
    passed: bool
    note: str | None = Field(default=None, max_length=500)


class VisitProblemInput(StrictInput):
    """A problem opened for a failed item in the same visit (at the point, owned by its org)."""

    item: ChecklistItem = Field(description="未通过的检查项")
    category: ProblemCategory
    description: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)
    ]
    photo_ids: list[PhotoId] | None = Field(
        default=None, max_length=9, description="不填则用本次巡查的照片"
    )
    deadline: date | None = Field(default=None, description="整改期限（北京时间的日期，含当天）")
    deadline_working_days: int | None = Field(
        default=None, ge=1, le=MAX_WORKING_DAYS, description="或：自提交次日起第 N 个工作日"
    )

    @model_validator(mode="after")
    def _one_deadline(self) -> Self:
        if (self.deadline is None) == (self.deadline_working_days is None):
            raise ValueError("deadline 和 deadline_working_days 须且只须填写一个")
        return self


class InspectionCreate(StrictInput):
    point_id: int = Field(ge=1, le=MAX_ID)
    team_id: int | None = Field(
        default=None, ge=1, le=MAX_ID, description="代表的督导组（须是其成员）"
    )
    lat: Latitude
    lng: Longitude
    results: list[ResultInput] = Field(min_length=1, max_length=MAX_CHECKLIST_ITEMS)
    photo_ids: list[PhotoId] = Field(min_length=1, max_length=9, description="现场照片")
    note: str | None = Field(default=None, max_length=2000)
    problems: list[VisitProblemInput] = Field(default_factory=list, max_length=MAX_CHECKLIST_ITEMS)


class ResultPublic(SQLModel):
    item: str
    passed: bool
    note: str | None
    problem_id: int | None


class InspectionPublic(SQLModel):
    id: int
    point_id: int
    point_name: str
    point_kind: PointKind
    org_id: int
    checklist_id: int
    checklist_version: int
    inspector_id: int
    inspector_name: str
    team_id: int | None = Field(description="代表的督导组")
    team_name: str | None
    location: Location
    distance_m: float = Field(description="与点位的距离（米）")
    meets_standard: bool = Field(description="全部检查项通过")
    failed_count: int
    note: str | None
    visited_at: datetime
    photo_ids: list[int]
    results: list[ResultPublic]
    problem_ids: list[int] = Field(description="本次巡查当场提交的问题")
    possible_reuse: list[ReuseRef] = Field(
        description="照片与本区其他记录的照片近似（疑似重复使用），仅管理员和督导员可见"
    )


class InspectionTeam(SQLModel, table=True):
    """A supervision team (督导组) of a district or street office, with its members."""

    __tablename__ = "inspection_teams"
    __table_args__ = (UniqueConstraint("org_id", "name"), NEVER_REUSED_IDS)

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(
        sa_column=Column(Integer, ForeignKey("orgs.id", ondelete="RESTRICT"), nullable=False)
    )
    name: str = Field(sa_column=Column(String(100), nullable=False))
    leader_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    )
    created_by_id: int = Field(
        sa_column=Column(Integer, ForeignKey("users.id", ondelete="RESTRICT"), nullable=False)
    )
    created_at: datetime = created_at_field()


class InspectionTeamMember(SQLModel, table=True):
    __tablename__ = "inspection_team_members"
    __table_args__ = (UniqueConstraint("team_id", "user_id"), NEVER_REUSED_IDS)

    id: int | None = Field(default=None, primary_key=True)
    team_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("inspection_teams.id", ondelete="CASCADE"), nullable=False
        )
    )
    user_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    created_at: datetime = created_at_field()


class TeamCreate(StrictInput):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    org_id: int = Field(ge=1, le=MAX_ID, description="组建督导组的区或街道")
    leader_user_id: int | None = Field(default=None, ge=1, le=MAX_ID, description="组长，须为成员")
    member_ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] = Field(
        min_length=1, max_length=50, description="成员，须在管理范围内"
    )


class TeamMemberAdd(StrictInput):
    user_id: int = Field(ge=1, le=MAX_ID)


class TeamMemberPublic(SQLModel):
    user_id: int
    name: str


class TeamPublic(SQLModel):
    id: int
    name: str
    org_id: int
    leader_user_id: int | None
    members: list[TeamMemberPublic]
    created_at: datetime
