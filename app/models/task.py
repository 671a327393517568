"""Community tasks (社区任务) and attendance by check-in/check-out.

Monthly report-ins (报到) live in app/models/report_in.py."""

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, StringConstraints
from sqlalchemy import (
    CheckConstraint,
    Column,
    Connection,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
    text,
)
from sqlalchemy.orm import Mapper
from sqlmodel import Field, SQLModel, col, select

from app.core.db import UTCDateTime
from app.models.common import (
    NEVER_REUSED_IDS,
    Latitude,
    Longitude,
    PhotoId,
    StrictInput,
    created_at_field,
    updated_at_field,
)
from app.models.user import MAX_ID
from app.models.volunteer import OpenTo


class TaskCategory(StrEnum):
    """The kinds of work a 创文 campaign counts separately; `other` for the rest.

    An enum rather than free text so dashboards and ledgers can group by it without
    every community spelling "环境卫生" its own way.
    """

    sanitation = "sanitation"  # 环境卫生、清洁家园
    traffic = "traffic"  # 文明交通劝导
    persuasion = "persuasion"  # 文明劝导（不文明行为）
    publicity = "publicity"  # 创文宣传
    culture = "culture"  # 文化活动
    care = "care"  # 关爱帮扶（走访、助老）
    other = "other"


class TaskStatus(StrEnum):
    """Derived from the time window, never stored: [starts_at, ends_at] is `active`."""

    upcoming = "upcoming"
    active = "active"
    ended = "ended"


MIN_RADIUS_M = 10  # below a phone's GPS accuracy nobody could check in
MAX_RADIUS_M = 50_000
MAX_CAPACITY = 100_000
MAX_TASK_HOURS = 24  # as for hand-logged hours: one attendance is at most a day


class Task(SQLModel, table=True):
    __tablename__ = "tasks"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="time_window"),
        CheckConstraint(
            "(lat IS NULL AND lng IS NULL AND radius_m IS NULL)"
            " OR (lat IS NOT NULL AND lng IS NOT NULL AND radius_m IS NOT NULL)",
            name="location_complete",
        ),
        CheckConstraint("capacity IS NULL OR capacity >= 1", name="capacity_positive"),
        # The last line of defence for "capacity is never exceeded".
        CheckConstraint(
            "checked_in_count >= 0 AND (capacity IS NULL OR checked_in_count <= capacity)",
            name="within_capacity",
        ),
        CheckConstraint(
            "category IN ('sanitation', 'traffic', 'persuasion', 'publicity', 'culture', "
            "'care', 'other')",
            name="category",
        ),
        Index("ix_tasks_org_starts", "org_id", "starts_at"),
        # The target of check_ins' (task_id, org_id) foreign key.
        UniqueConstraint("id", "org_id"),
        NEVER_REUSED_IDS,
    )

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(
        sa_column=Column(Integer, ForeignKey("orgs.id", ondelete="RESTRICT"), nullable=False)
    )
    title: str = Field(sa_column=Column(String(100), nullable=False))
    description: str = Field(sa_column=Column(Text, nullable=False))
    category: TaskCategory = Field(sa_column=Column(String(20), nullable=False))
    starts_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    ends_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    lat: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    lng: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    radius_m: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    capacity: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    # Organised with a paired unit (结对共建): the pairing of this community.
    pairing_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("pairings.id", ondelete="RESTRICT"), nullable=True),
    )
    # Attendances so far (one per member, kept after check-out); raised only by a
    # conditional UPDATE, so it always equals the number of check_ins rows.
    checked_in_count: int = Field(
        default=0, sa_column=Column(Integer, nullable=False, server_default=text("0"))
    )
    # Who may attend: the roster (party members and the rest of it), or approved
    # volunteers of the subtree as well.
    open_to: OpenTo = Field(
        default=OpenTo.party_members,
        sa_column=Column(
            String(20),
            CheckConstraint("open_to IN ('everyone', 'party_members')", name="open_to"),
            nullable=False,
            server_default=OpenTo.party_members.value,
        ),
    )
    created_by_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("users.id", ondelete="SET NULL"))
    )
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


class CheckIn(SQLModel, table=True):
    """One member's attendance at one task: checked in, later checked out.

    The coordinates are personal data: stored as proof of presence, never returned
    (the API shows the distance to the task instead) and never logged.
    """

    __tablename__ = "check_ins"
    __table_args__ = (
        UniqueConstraint("task_id", "user_id"),
        CheckConstraint("minutes IS NULL OR minutes >= 0", name="minutes_non_negative"),
        Index("ix_check_ins_user_checked_in", "user_id", "checked_in_at"),
        # The database keeps the copy equal to the task's org.
        ForeignKeyConstraint(
            ["task_id", "org_id"],
            ["tasks.id", "tasks.org_id"],
            name="fk_check_ins_task_id_org_id_tasks",
            ondelete="RESTRICT",
            onupdate="CASCADE",
        ),
        # Dashboards: a subtree's check-ins of a month, from one index range per org.
        Index("ix_check_ins_org_checked_in", "org_id", "checked_in_at"),
        NEVER_REUSED_IDS,
    )

    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(
        sa_column=Column(Integer, ForeignKey("tasks.id", ondelete="RESTRICT"), nullable=False)
    )
    # The task's org, copied so a month's check-ins of an org are found without going
    # through tasks (a task's own dates do not bound its check-ins in the database).
    # Filled from the task at insert when not given (see _copy_task_org below).
    org_id: int | None = Field(default=None, sa_column=Column(Integer, nullable=False))
    user_id: int = Field(
        sa_column=Column(Integer, ForeignKey("users.id", ondelete="RESTRICT"), nullable=False)
    )
    checked_in_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    check_in_lat: float = Field(sa_column=Column(Float, nullable=False))
    check_in_lng: float = Field(sa_column=Column(Float, nullable=False))
    checked_out_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    check_out_lat: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    check_out_lng: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    minutes: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    created_at: datetime = created_at_field()


@event.listens_for(CheckIn, "before_insert")
def _copy_task_org(_mapper: Mapper[CheckIn], connection: Connection, target: CheckIn) -> None:
    # The check-in service passes the org of the task it holds; anyone else inserting
    # a check-in (factories, scripts) gets it looked up, and the composite foreign key
    # refuses a wrong one either way.
    if target.org_id is None:
        target.org_id = connection.scalar(
            select(col(Task.org_id)).where(col(Task.id) == target.task_id)
        )


# --- API shapes ---------------------------------------------------------------


class TaskLocation(SQLModel):
    lat: Latitude
    lng: Longitude
    radius_m: int = Field(
        ge=MIN_RADIUS_M, le=MAX_RADIUS_M, description="签到范围（米），以该点为圆心"
    )


class TaskLocationInput(TaskLocation, StrictInput):
    pass


class TaskCreate(StrictInput):
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    description: str = Field(max_length=2000)
    org_id: int = Field(ge=1, le=MAX_ID, description="区、街道或社区；该组织整棵子树的成员可参加")
    category: TaskCategory
    starts_at: AwareDatetime
    ends_at: AwareDatetime = Field(description=f"晚于 starts_at，且不超过 {MAX_TASK_HOURS} 小时")
    location: TaskLocationInput | None = Field(default=None, description="设置后须在范围内签到")
    capacity: int | None = Field(default=None, ge=1, le=MAX_CAPACITY, description="不填则不限人数")
    pairing_id: int | None = Field(
        default=None, ge=1, le=MAX_ID, description="与结对单位共同组织：该社区进行中的结对"
    )
    open_to: OpenTo = Field(
        default=OpenTo.party_members, description="everyone：审核通过的志愿者也可签到"
    )


class AttendanceInput(StrictInput):
    lat: Latitude
    lng: Longitude
    photo_ids: list[PhotoId] | None = None


class CheckInPublic(SQLModel):
    id: int
    task_id: int
    user_id: int
    user_name: str
    checked_in_at: datetime
    checked_out_at: datetime | None
    minutes: int | None = Field(description="签退后计入的志愿时长（分钟）")
    check_in_distance_m: float | None = Field(description="签到位置距任务地点（米）；无地点则为空")
    check_out_distance_m: float | None
    photo_ids: list[int]


class TaskPublic(SQLModel):
    id: int
    org_id: int
    title: str
    description: str
    category: TaskCategory
    starts_at: datetime
    ends_at: datetime
    status: TaskStatus
    location: TaskLocation | None
    capacity: int | None
    checked_in_count: int
    pairing_id: int | None = None
    open_to: OpenTo = OpenTo.party_members
    created_at: datetime
    my_check_in: CheckInPublic | None = Field(description="调用者本人在该任务的签到情况")


class CheckOutPublic(SQLModel):
    check_in_id: int
    minutes: int = Field(description="计入志愿时长的整分钟数，签退时间最晚按任务结束时间计")
    checked_out_at: datetime
