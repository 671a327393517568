"""Community tasks and attendance: publish, see, check in, check out.

Who sees a task: a member sees the tasks of their home community and of its
ancestors (the ids in the community's path); an admin also sees every task whose
org lies inside one of their admin subtrees. A task "is for" a member when its org
is the member's home community or one of its ancestors: only they may check in.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from types import SimpleNamespace
from typing import Any, Protocol

from sqlalchemy import (
    BindParameter,
    Column,
    ColumnElement,
    Integer,
    Select,
    and_,
    bindparam,
    exists,
    false,
    func,
    or_,
    update,
)
from sqlalchemy import select as sa_select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.core.db import (
    PageStatements,
    Statement,
    as_loaded,
    dialect_of,
    ids_in,
    ids_value,
    read_ahead,
    table_of,
    updated_one,
    utcnow,
)
from app.core.errors import Conflict, Forbidden, NotFound, Unprocessable
from app.core.scope import Caller, in_reach, path_between, path_ids, path_upper_bound
from app.models.org import Org, OrgLevel
from app.models.pairing import Pairing, PairingStatus
from app.models.task import (
    MAX_TASK_HOURS,
    AttendanceInput,
    CheckIn,
    CheckInPublic,
    Task,
    TaskCreate,
    TaskLocation,
    TaskPublic,
    TaskStatus,
)
from app.models.user import ADMIN_ROLES
from app.models.volunteer import OpenTo, Volunteer, VolunteerStatus
from app.models.volunteer_hours import HourSource
from app.services import volunteer_hours
from app.services.orgs import get_visible_org
from app.services.photos import (
    attach_photos,
    photo_ids_by_record,
    register_record_type,
    require_own_photos,
    visible_photos,
)
from app.services.users import user_names

EARTH_RADIUS_M = 6_371_008.8  # the IUGG mean radius
CHECK_IN_RECORD = "check_in"
TASK_ORG_LEVELS = frozenset({OrgLevel.district, OrgLevel.street, OrgLevel.community})


def haversine_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance in metres on a sphere of the earth's mean radius."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


class TaskWhenWhere(Protocol):
    """What attending a task is checked against (a Task; a protocol, so that a row
    of its columns would do)."""

    @property
    def org_id(self) -> int: ...
    @property
    def starts_at(self) -> datetime: ...
    @property
    def ends_at(self) -> datetime: ...
    @property
    def lat(self) -> float | None: ...
    @property
    def lng(self) -> float | None: ...
    @property
    def radius_m(self) -> int | None: ...


def distance_to(task: TaskWhenWhere, lat: float | None, lng: float | None) -> float | None:
    if task.lat is None or task.lng is None or lat is None or lng is None:
        return None
    return haversine_m(task.lat, task.lng, lat, lng)


def status_at(task: Task, now: datetime) -> TaskStatus:
    if now < task.starts_at:
        return TaskStatus.upcoming
    if now > task.ends_at:
        return TaskStatus.ended
    return TaskStatus.active


# --- visibility ---------------------------------------------------------------------


async def home_ancestor_ids(session: AsyncSession, caller: Caller) -> list[int]:
    """The home community and its ancestors: the orgs whose tasks are for this member."""
    community_id = caller.user.community_id
    if community_id is None:
        return []
    if caller.home is not None and caller.home[0] == community_id:
        path = caller.home[1]  # read with the caller's roles at the start of the request
    else:
        home = await session.get(Org, community_id)
        if home is None:
            return []
        path = home.path
    return path_ids(path)


async def volunteer_ancestor_ids(session: AsyncSession, caller: Caller) -> list[int]:
    """For a volunteer on no roster: their approved community and its ancestors, whose
    tasks open to everyone are theirs to see and attend. Roster people, volunteers or
    not, attend by their home (`home_ancestor_ids`)."""
    if caller.user.community_id is not None or caller.is_api_key:
        return []
    row = await _APPROVED_COMMUNITY_PATH.first(session, {"user_id": caller.id})
    return path_ids(row.path) if row is not None else []


# The path of the community of a person's approved volunteer registration (what
# `volunteers.approved_community` names), in one statement built once: ~0.5 ms of
# CPU for the two ORM reads it replaces, on every list of an admin with no home.
_APPROVED_COMMUNITY_PATH = Statement(
    sa_select(table_of(Org).c.path)
    .select_from(table_of(Volunteer))
    .join(table_of(Org), table_of(Org).c.id == table_of(Volunteer).c.community_id)
    .where(
        table_of(Volunteer).c.user_id == bindparam("user_id", type_=Integer),
        table_of(Volunteer).c.status == VolunteerStatus.approved,
    )
)


def _open_to_volunteers(of_their_tree: ColumnElement[bool] | None) -> ColumnElement[bool]:
    """`of_their_tree`: the task's org is a volunteer's community or above (None: the
    caller is no such volunteer)."""
    if of_their_tree is None:
        return false()
    return and_(of_their_tree, col(Task.open_to) == OpenTo.everyone)


async def get_org_of_tasks(session: AsyncSession, caller: Caller, org_id: int) -> Org:
    """An org whose tasks the caller sees (the `?org_id=` of GET /tasks): one in their
    admin reach, or their home community or one above it."""
    org = await session.get(Org, org_id)
    if org is None or not (
        caller.reaches(org) or org_id in await home_ancestor_ids(session, caller)
    ):
        raise NotFound()
    return org


def _visible(
    admin_paths: list[str],
    at_home: ColumnElement[bool] | None,
    of_volunteers_tree: ColumnElement[bool] | None = None,
) -> ColumnElement[bool]:
    """The one rule: tasks of an admin's subtrees, of the home community's tree
    (`at_home`, None: no home), and what is open to everyone in a volunteer's."""
    return or_(
        in_reach(col(Task.org_id), admin_paths),
        false() if at_home is None else at_home,
        _open_to_volunteers(of_volunteers_tree),
    )


def _org_among(ids: Sequence[int]) -> ColumnElement[bool] | None:
    return col(Task.org_id).in_(ids) if ids else None


def visible_tasks(
    caller: Caller, home_ids: Sequence[int], volunteer_ids: Sequence[int] = ()
) -> ColumnElement[bool]:
    return _visible(caller.paths(ADMIN_ROLES), _org_among(home_ids), _org_among(volunteer_ids))


async def get_visible_task(session: AsyncSession, caller: Caller, task_id: int) -> Task:
    home_ids = await home_ancestor_ids(session, caller)
    # Read with the caller (app.edge.access `reads_with_caller`): one round trip fewer.
    # `visible_tasks` for one row whose org path is known: in an admin's subtree, or of
    # the home tree; anything else (a volunteer's, or none) is for the query to say.
    ahead = read_ahead(session, Task, task_id)
    if ahead is not None:
        values, extra = ahead
        if caller.reaches_path(extra["org_path"]) or values["org_id"] in home_ids:
            return as_loaded(session, Task, values)
    # On no roster: perhaps a volunteer, who sees what is open to everyone.
    volunteer_ids = await volunteer_ancestor_ids(session, caller)
    task = (
        await session.execute(
            select(Task).where(Task.id == task_id, visible_tasks(caller, home_ids, volunteer_ids))
        )
    ).scalar_one_or_none()
    if task is None:
        raise NotFound()
    return task


async def get_task_for_attendee(session: AsyncSession, caller: Caller, task_id: int) -> Task:
    """A visible task, or one the caller checked in to: someone whose home community
    changed mid-task can still check out and keep their hours."""
    home_ids = await home_ancestor_ids(session, caller)
    volunteer_ids = await volunteer_ancestor_ids(session, caller)
    own = select(CheckIn.task_id).where(CheckIn.user_id == caller.id)
    task = (
        await session.execute(
            select(Task).where(
                Task.id == task_id,
                or_(visible_tasks(caller, home_ids, volunteer_ids), col(Task.id).in_(own)),
            )
        )
    ).scalar_one_or_none()
    if task is None:
        raise NotFound()
    return task


async def _can_see_check_in(session: AsyncSession, caller: Caller, record_id: int) -> bool:
    row = (
        await session.execute(
            select(CheckIn.user_id, Org)
            .join(Task, col(Task.id) == col(CheckIn.task_id))
            .join(Org, col(Org.id) == col(Task.org_id))
            .where(CheckIn.id == record_id)
        )
    ).first()
    if row is None:
        return False
    user_id, org = row
    return user_id == caller.id or caller.reaches(org)


register_record_type(CHECK_IN_RECORD, _can_see_check_in)


# --- tasks --------------------------------------------------------------------------


async def _require_pairing_of(session: AsyncSession, pairing_id: int, community_id: int) -> None:
    """A task is organised with a pairing of its own community that is still active;
    any other (of another community, ended, missing) is the same 422, so nothing is
    learnt about pairings elsewhere."""
    found = await session.execute(
        select(Pairing.id).where(
            Pairing.id == pairing_id,
            col(Pairing.community_id) == community_id,
            col(Pairing.status) == PairingStatus.active,
        )
    )
    if found.first() is None:
        raise Unprocessable("invalid_pairing", "只能选择该社区进行中的结对共建")


async def create_task(session: AsyncSession, *, caller: Caller, data: TaskCreate) -> Task:
    # As POST /orgs: an org the caller cannot see is 404, one seen but not administered 403.
    org = await get_visible_org(session, caller, data.org_id)
    if not caller.reaches(org):
        raise Forbidden("forbidden", "只能为自己管理范围内的组织发布任务")
    if org.level not in TASK_ORG_LEVELS:
        raise Unprocessable("invalid_task_org", "任务只能发布到区、街道或社区")
    if data.ends_at <= data.starts_at:
        raise Unprocessable("invalid_time_window", "结束时间须晚于开始时间")
    if data.ends_at - data.starts_at > timedelta(hours=MAX_TASK_HOURS):
        raise Unprocessable("invalid_time_window", f"一次任务不能超过 {MAX_TASK_HOURS} 小时")
    assert org.id is not None
    if data.pairing_id is not None:
        await _require_pairing_of(session, data.pairing_id, org.id)
    task = Task(
        org_id=org.id,
        pairing_id=data.pairing_id,
        open_to=data.open_to,
        title=data.title,
        description=data.description,
        category=data.category,
        starts_at=data.starts_at,
        ends_at=data.ends_at,
        lat=data.location.lat if data.location else None,
        lng=data.location.lng if data.location else None,
        radius_m=data.location.radius_m if data.location else None,
        capacity=data.capacity,
        created_by_id=caller.id,
    )
    session.add(task)
    await session.flush()
    return task


def _status_condition(status: TaskStatus, now: BindParameter[Any]) -> ColumnElement[bool]:
    if status == TaskStatus.upcoming:
        return col(Task.starts_at) > now
    if status == TaskStatus.ended:
        return col(Task.ends_at) < now
    return (col(Task.starts_at) <= now) & (col(Task.ends_at) >= now)


@dataclass(frozen=True)
class _Reach:
    """What the statements of the list are built for, once each (`_list_statements`):
    the admin subtrees (written into the SQL, as the wishes list does), and whether the
    caller has a home tree or a volunteer's tree (their ids are parameters, so the
    members of every community share one statement)."""

    admin: tuple[str, ...]
    home: bool
    volunteer: bool


@lru_cache(maxsize=256)
def _list_statements(
    reach: _Reach, status: TaskStatus | None, by_org: bool, dialect: Dialect
) -> PageStatements:
    """GET /tasks' statements for callers of one reach, built and compiled once: the
    caller, their trees' ids, the filters' values and the page are parameters. The
    dialect is the engine's (one per database): `ids_in` is written for it. Bounded:
    a reach not listed lately is built again when it comes back."""
    conditions = [
        _visible(
            list(reach.admin),
            ids_in(col(Task.org_id), "home_ids", dialect) if reach.home else None,
            ids_in(col(Task.org_id), "volunteer_ids", dialect) if reach.volunteer else None,
        )
    ]
    if by_org:
        in_org = path_between(_ORGS.c.path, bindparam("org_path"), bindparam("org_path_end"))
        conditions.append(col(Task.org_id).in_(sa_select(_ORGS.c.id).where(in_org)))
    if status is not None:
        conditions.append(_status_condition(status, bindparam("now")))
    page = (
        sa_select(_TASKS, func.count().over().label("total"))
        .where(*conditions)
        .order_by(_TASKS.c.starts_at.desc(), _TASKS.c.id.desc())
        .offset(bindparam("offset", type_=Integer))
        .limit(bindparam("limit", type_=Integer))
        .subquery("page")
    )
    mine = _CHECK_INS.alias("mine")
    of_mine = and_(mine.c.task_id == page.c.id, mine.c.user_id == _CALLER)
    return PageStatements(
        page=Statement(
            sa_select(page, *_mine_columns(mine), _MY_PHOTOS.c.media_id.label("photo_id"))
            .select_from(
                page.outerjoin(mine, of_mine).outerjoin(
                    _MY_PHOTOS, _MY_PHOTOS.c.record_id == mine.c.id
                )
            )
            .order_by(page.c.starts_at.desc(), page.c.id.desc(), _MY_PHOTOS.c.id)
        ),
        count=Statement(sa_select(func.count()).select_from(_TASKS).where(*conditions)),
    )


async def list_tasks(
    session: AsyncSession,
    *,
    caller: Caller,
    status: TaskStatus | None,
    org: Org | None,
    offset: int,
    limit: int,
) -> tuple[list[TaskPublic], int]:
    """A page of the tasks the caller sees, latest start first, and how many there are:
    one statement (two for a page past the end; one more before it for someone on no
    roster, whose volunteer's tree it reads), rows rather than Task objects, each task
    as `task_public` shows it, the caller's own check-in read with the page."""
    home_ids = await home_ancestor_ids(session, caller)
    volunteer_ids = await volunteer_ancestor_ids(session, caller)
    dialect = dialect_of(session)
    reach = _Reach(tuple(caller.paths(ADMIN_ROLES)), bool(home_ids), bool(volunteer_ids))
    statements = _list_statements(reach, status, org is not None, dialect)
    now = utcnow()
    params: dict[str, Any] = {"user_id": caller.id, "offset": offset, "limit": limit}
    if home_ids:
        params["home_ids"] = ids_value(home_ids, dialect)
    if volunteer_ids:
        params["volunteer_ids"] = ids_value(volunteer_ids, dialect)
    if org is not None:
        params["org_path"], params["org_path_end"] = org.path, path_upper_bound(org.path)
    if status is not None:
        params["now"] = now
    rows, total = await statements.read(session, params, offset=offset)
    by_task: dict[int, list[Any]] = {}
    for row in rows:
        by_task.setdefault(row.id, []).append(row)
    name = caller.user.name
    return [
        _task_public(task_rows[0], now, _own_check_in(task_rows[0], task_rows, name))
        for task_rows in by_task.values()
    ], total


# --- public shapes ------------------------------------------------------------------


async def check_ins_public(
    session: AsyncSession, pairs: Sequence[tuple[Task, CheckIn]], *, viewer_id: int | None
) -> list[CheckInPublic]:
    """Each check-in with the distance to its task's place (never the coordinates)."""
    photos = await photo_ids_by_record(
        session, CHECK_IN_RECORD, (r.id for _, r in pairs), viewer_id=viewer_id
    )
    names = await user_names(session, (r.user_id for _, r in pairs))
    return [
        _check_in_public(task, r, names.get(r.user_id, ""), photos.get(r.id or 0, []))
        for task, r in pairs
    ]


def _check_in_public(
    task: TaskWhenWhere, r: Any, user_name: str, photo_ids: list[int]
) -> CheckInPublic:
    """A check-in (a CheckIn or a row of its columns) as the API shows it."""
    assert r.id is not None
    return CheckInPublic(
        id=r.id,
        task_id=r.task_id,
        user_id=r.user_id,
        user_name=user_name,
        checked_in_at=r.checked_in_at,
        checked_out_at=r.checked_out_at,
        minutes=r.minutes,
        check_in_distance_m=_rounded(distance_to(task, r.check_in_lat, r.check_in_lng)),
        check_out_distance_m=_rounded(distance_to(task, r.check_out_lat, r.check_out_lng)),
        photo_ids=photo_ids,
    )


def new_check_in_public(
    task: TaskWhenWhere, record: NewCheckIn, *, user_name: str, photo_ids: Sequence[int] | None
) -> CheckInPublic:
    """What `check_ins_public` answers for a check-in the caller has just made, without
    reading back what this request wrote: the name is the caller's, and the photos
    are the caller's own uploads attached in the order given (check_in refuses any
    other), which their uploader always sees."""
    return CheckInPublic(
        id=record.id,
        task_id=record.task_id,
        user_id=record.user_id,
        user_name=user_name,
        checked_in_at=record.checked_in_at,
        checked_out_at=None,
        minutes=None,
        check_in_distance_m=_rounded(distance_to(task, record.check_in_lat, record.check_in_lng)),
        check_out_distance_m=None,
        photo_ids=list(dict.fromkeys(photo_ids or [])),
    )


def _rounded(distance: float | None) -> float | None:
    return round(distance, 1) if distance is not None else None


async def task_public(session: AsyncSession, *, caller: Caller, task: Task) -> TaskPublic:
    """One task as the caller is shown it, with their own check-in (GET /tasks/{id})."""
    rows = await _MY_CHECK_IN.rows(session, {"user_id": caller.id, "task_id": task.id})
    return _task_public(task, utcnow(), _own_check_in(task, rows, caller.user.name))


def _task_public(t: Any, now: datetime, my_check_in: CheckInPublic | None) -> TaskPublic:
    """A task (a Task, or a row of its columns) as the API shows it: the one shape of
    GET /tasks and GET /tasks/{id}."""
    assert t.id is not None
    location = (
        TaskLocation(lat=t.lat, lng=t.lng, radius_m=t.radius_m)
        if t.lat is not None and t.lng is not None and t.radius_m is not None
        else None
    )
    return TaskPublic(
        id=t.id,
        org_id=t.org_id,
        title=t.title,
        description=t.description,
        category=t.category,
        starts_at=t.starts_at,
        ends_at=t.ends_at,
        status=status_at(t, now),
        location=location,
        capacity=t.capacity,
        checked_in_count=t.checked_in_count,
        pairing_id=t.pairing_id,
        open_to=t.open_to,
        created_at=t.created_at,
        my_check_in=my_check_in,
    )


# --- attendance ---------------------------------------------------------------------


@dataclass(frozen=True)
class NewCheckIn:
    """A check-in this request has just made: what its answer needs, no ORM object
    (constructing a CheckIn model costs a check-in ~0.15 ms)."""

    id: int
    task_id: int
    user_id: int
    checked_in_at: datetime
    check_in_lat: float
    check_in_lng: float


_CHECK_INS = table_of(CheckIn)
_TASKS = table_of(Task)
_ORGS = table_of(Org)
_CALLER = bindparam("user_id", type_=Integer)
# The photos on a check-in that the caller sees (all of them when it is their own).
_MY_PHOTOS = visible_photos(CHECK_IN_RECORD, _CALLER)
_MINE = "my_"


def _mine_columns(check_ins: Any) -> list[Any]:
    """The columns of the caller's own check-in, named apart from a task's (`my_id`...)."""
    return [c.label(_MINE + c.key) for c in check_ins.c]


# The caller's own check-in to one task (GET /tasks/{id}) with the photos on it they
# see, one row per photo, in their order, or one row without: what check_ins_public
# reads in three queries. GET /tasks reads the same columns with its page.
_MY_CHECK_IN = Statement(
    sa_select(*_mine_columns(_CHECK_INS), _MY_PHOTOS.c.media_id.label("photo_id"))
    .select_from(_CHECK_INS.outerjoin(_MY_PHOTOS, _MY_PHOTOS.c.record_id == _CHECK_INS.c.id))
    .where(
        _CHECK_INS.c.user_id == _CALLER,
        _CHECK_INS.c.task_id == bindparam("task_id", type_=Integer),
    )
    .order_by(_MY_PHOTOS.c.id)
)


def _own_check_in(task: TaskWhenWhere, rows: Sequence[Any], user_name: str) -> CheckInPublic | None:
    """The caller's own check-in to `task`, as check_ins_public shows it, from the rows
    of one task read with `_mine_columns` and `photo_id` (one row per photo; no rows, or
    a NULL `my_id`: none). The name on it is the caller's, read with the caller."""
    if not rows or rows[0].my_id is None:
        return None
    first = rows[0]._asdict()
    mine = SimpleNamespace(**{k[len(_MINE) :]: v for k, v in first.items() if k.startswith(_MINE)})
    photo_ids = [r.photo_id for r in rows if r.photo_id is not None]
    return _check_in_public(task, mine, user_name, photo_ids)


# Parameter names no column of either table has: an UPDATE or INSERT would take a
# parameter named after one of its columns as a value to set.
_NEW_ROW: dict[Column[Any], BindParameter[Any]] = {
    _CHECK_INS.c.task_id: bindparam("new_task_id"),
    _CHECK_INS.c.org_id: bindparam("new_org_id"),
    _CHECK_INS.c.user_id: bindparam("new_user_id"),
    _CHECK_INS.c.checked_in_at: bindparam("new_checked_in_at"),
    _CHECK_INS.c.check_in_lat: bindparam("new_lat"),
    _CHECK_INS.c.check_in_lng: bindparam("new_lng"),
    _CHECK_INS.c.created_at: bindparam("new_created_at"),
}
_ONE_PER_MEMBER = ["task_id", "user_id"]
_HAS_ROOM = or_(_TASKS.c.capacity.is_(None), _TASKS.c.checked_in_count < _TASKS.c.capacity)
_SEAT = {_TASKS.c.checked_in_count: _TASKS.c.checked_in_count + 1}

# Statements built once (building and keying them anew cost ~0.3 ms a check-in), on
# the tables, not the mapped classes: no loaded object needs synchronising, and an
# ORM-enabled UPDATE costs three times the CPU.
# SQLite: the row, then the seat, two statements.
_INSERT_ROW = (
    sqlite_insert(_CHECK_INS)
    .values(_NEW_ROW)
    .on_conflict_do_nothing(index_elements=_ONE_PER_MEMBER)
    .returning(_CHECK_INS.c.id)
)
_TAKE_SEAT = update(_TASKS).where(_TASKS.c.id == bindparam("new_task_id"), _HAS_ROOM).values(_SEAT)


def _row_and_seat() -> Select[int | None, bool]:
    """PostgreSQL: the row and the seat in one statement, one round trip less.

    The seat is taken only when the row went in (EXISTS reads the INSERT's
    RETURNING), so a duplicate takes no seat, as with two statements. Answers the new
    row's id (NULL: a duplicate) and whether a seat was taken."""
    row = (
        pg_insert(_CHECK_INS)
        .values(_NEW_ROW)
        .on_conflict_do_nothing(index_elements=_ONE_PER_MEMBER)
        .returning(_CHECK_INS.c.id)
        .cte("new_check_in")
    )
    seat = (
        update(_TASKS)
        .where(_TASKS.c.id == bindparam("new_task_id"), _HAS_ROOM, exists(sa_select(row.c.id)))
        .values(_SEAT)
        .returning(_TASKS.c.id)
        .cte("seat")
    )
    return sa_select(
        sa_select(row.c.id).scalar_subquery().label("check_in_id"),
        exists(sa_select(seat.c.id)).label("seated"),
    )


ROW_AND_SEAT = _row_and_seat()
_ROW_AND_SEAT = Statement(ROW_AND_SEAT)
_ROW = Statement(_INSERT_ROW)
_ONE_SEAT = Statement(_TAKE_SEAT)


def home_refusal(task: TaskWhenWhere, home_ids: Sequence[int]) -> Forbidden | None:
    """Members check in to the tasks of their home community and its ancestors only."""
    if task.org_id not in home_ids:
        # Visible to this admin, but not a task of their home community's tree.
        return Forbidden("forbidden", "该任务不面向你所在的社区")
    return None


def attendance_refusal(
    task: TaskWhenWhere, data: AttendanceInput, now: datetime
) -> Unprocessable | None:
    """Why checking in to `task` from where `data` says, at `now`, is refused."""
    if not task.starts_at <= now <= task.ends_at:
        detail = "任务尚未开始，请在开始后签到" if now < task.starts_at else "任务已结束"
        return Unprocessable("task_not_active", detail)
    distance = distance_to(task, data.lat, data.lng)
    if distance is not None and task.radius_m is not None and distance > task.radius_m:
        return Unprocessable(
            "outside_geofence",
            f"你距任务地点约 {math.ceil(distance)} 米，需在 {task.radius_m} 米内签到",
        )
    return None


async def check_in(
    session: AsyncSession,
    *,
    caller: Caller,
    task: Task,
    data: AttendanceInput,
    now: datetime | None = None,
) -> NewCheckIn:
    now = now or utcnow()
    if not_for_them := home_refusal(task, await home_ancestor_ids(session, caller)):
        # A volunteer on no roster attends what is open to everyone in their community's tree.
        volunteer_ids = await volunteer_ancestor_ids(session, caller)
        if task.open_to != OpenTo.everyone or task.org_id not in volunteer_ids:
            raise not_for_them
    photos = await require_own_photos(session, caller=caller, photo_ids=data.photo_ids)
    if refusal := attendance_refusal(task, data, now):
        raise refusal
    assert task.id is not None
    params = {
        "new_task_id": task.id,
        "new_org_id": task.org_id,
        "new_user_id": caller.id,
        "new_checked_in_at": now,
        "new_lat": data.lat,
        "new_lng": data.lng,
        "new_created_at": utcnow(),
    }
    # The row first, then the seat, in one transaction: a duplicate inserts nothing
    # (the unique (task_id, user_id)) before taking a seat, and a full task raises
    # after the insert, so the rollback of the request takes the row away again. A
    # member already checked in hears "already checked in", not "full".
    if dialect_of(session).name == "postgresql":
        row_and_seat = await _ROW_AND_SEAT.first(session, params)
        assert row_and_seat is not None  # a SELECT of two values: one row
        new_id, seated = row_and_seat
    else:
        row = await _ROW.first(session, params)
        new_id = row.id if row else None
        seated = (
            new_id is not None and await _ONE_SEAT.execute(session, {"new_task_id": task.id}) == 1
        )
    if new_id is None:
        existing = (
            await session.execute(
                select(CheckIn.checked_out_at).where(
                    CheckIn.task_id == task.id, CheckIn.user_id == caller.id
                )
            )
        ).scalar_one_or_none()
        detail = (
            "你已签到并签退过本任务，每个任务只能参加一次"
            if existing is not None
            else "你已签到本任务，请勿重复签到"
        )
        raise Conflict("already_checked_in", detail)
    if not seated:
        raise Conflict("task_full", "该任务名额已满")
    await attach_photos(session, media=photos, record_type=CHECK_IN_RECORD, record_id=new_id)
    return NewCheckIn(
        id=new_id,
        task_id=task.id,
        user_id=caller.id,
        checked_in_at=now,
        check_in_lat=data.lat,
        check_in_lng=data.lng,
    )


async def check_out(
    session: AsyncSession,
    *,
    caller: Caller,
    task: Task,
    data: AttendanceInput,
    now: datetime | None = None,
) -> CheckIn:
    """Closes the caller's check-in and credits its minutes as approved hours.

    Checking out after the task ended is allowed (people forget), but the time counts
    only up to ends_at. Checking out away from the task's place is accepted and the
    position recorded (shown to admins as a distance): a volunteer who walked off at
    the end should not lose the hours they served, and an admin can still see it.
    """
    now = now or utcnow()
    record = (
        await session.execute(
            select(CheckIn).where(CheckIn.task_id == task.id, CheckIn.user_id == caller.id)
        )
    ).scalar_one_or_none()
    if record is None:
        raise Conflict("not_checked_in", "你还没有签到本任务")
    if record.checked_out_at is not None:
        raise Conflict("not_checked_in", "你已签退过本任务")
    photos = await require_own_photos(session, caller=caller, photo_ids=data.photo_ids)
    ended = max(min(now, task.ends_at), record.checked_in_at)
    minutes = int((ended - record.checked_in_at).total_seconds() // 60)
    # Conditional, so two check-outs at once close the check-in once; the ledger's
    # unique (source, source_id) backs this up.
    if not await updated_one(
        session,
        update(CheckIn)
        .where(col(CheckIn.id) == record.id, col(CheckIn.checked_out_at).is_(None))
        .values(
            checked_out_at=now, check_out_lat=data.lat, check_out_lng=data.lng, minutes=minutes
        ),
    ):
        raise Conflict("not_checked_in", "你已签退过本任务")
    await session.refresh(record)
    assert record.id is not None
    await volunteer_hours.credit(
        session,
        user_id=caller.id,
        org_id=task.org_id,
        activity=task.title,
        started_at=record.checked_in_at,
        ended_at=ended,
        minutes=minutes,
        source=HourSource.check_in,
        source_id=record.id,
    )
    await attach_photos(session, media=photos, record_type=CHECK_IN_RECORD, record_id=record.id)
    return record


async def list_check_ins(
    session: AsyncSession, *, caller: Caller, task: Task, offset: int, limit: int
) -> tuple[list[CheckInPublic], int]:
    org = await session.get(Org, task.org_id)
    assert org is not None
    if not caller.reaches(org):
        raise Forbidden("forbidden", "只有任务所属组织的管理员可以查看签到名单")
    condition = col(CheckIn.task_id) == task.id
    total = (
        await session.execute(select(func.count()).select_from(CheckIn).where(condition))
    ).scalar_one()
    rows = await session.execute(
        select(CheckIn)
        .where(condition)
        .order_by(col(CheckIn.checked_in_at), col(CheckIn.id))
        .offset(offset)
        .limit(limit)
    )
    pairs = [(task, r) for r in rows.scalars()]
    return await check_ins_public(session, pairs, viewer_id=caller.id), total
