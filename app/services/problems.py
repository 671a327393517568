"""Supervision (督办): inspection points, problems, rectification and verification.

Who does what:
- points (点位) are created by an admin over the point's org; admins and inspectors
  whose reach covers that org see them;
- a problem is filed by an inspector or admin whose reach covers the responsible
  org, a community, street or unit (the district is the office that inspects and
  verifies, so it is never the one held responsible, and it has nobody above it);
- it is rectified (整改) by an admin of the responsible org, i.e. one whose reach
  covers it, with after-photos and a note;
- it is verified (复核) by an inspector whose reach covers the org, or by an admin
  strictly above it (a community secretary does not sign off their own community's
  work); nobody verifies a rectification they submitted themselves. Verification
  closes it (销号) or sends it back to `open` with a reason.

Every transition is one conditional UPDATE on the state it was checked against and
is written to problem_events with who and when. Overdue and escalation are
computed from the clock in SQL, never stored, so no job has to flip flags.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import BindParameter, ColumnElement, Integer, String, and_, bindparam, func
from sqlalchemy import select as sa_select
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.core.config import Settings
from app.core.db import (
    Statement,
    dialect_of,
    ids_in,
    ids_value,
    paged_scalars,
    table_of,
    utcnow,
)
from app.core.errors import Forbidden, NotFound, Unprocessable
from app.core.scope import (
    Caller,
    in_reach,
    is_within,
    org_in_reach,
    path_between,
    path_upper_bound,
)
from app.core.text import text_or_none
from app.core.timeutil import day_start, local
from app.models.media import Media
from app.models.org import Org, OrgLevel
from app.models.problem import (
    UNRESOLVED,
    EscalationLevel,
    Location,
    Point,
    PointCreate,
    PointKind,
    PointPublic,
    Problem,
    ProblemAction,
    ProblemCreate,
    ProblemDetail,
    ProblemEvent,
    ProblemEventPublic,
    ProblemPublic,
    ProblemRectify,
    ProblemStatus,
    ProblemVerify,
)
from app.models.user import ADMIN_ROLES, Role, User
from app.services import lifecycle, problems_messages
from app.services.lifecycle import Lifecycle, Transition
from app.services.notifications import scans
from app.services.notifications.recipients import OrgAdmins
from app.services.orgs import get_visible_org
from app.services.photos import (
    PhotoPage,
    attach_photos,
    photo_ids_by_record,
    register_record_type,
    require_own_photos,
    visible_photos,
)
from app.services.users import user_names, users_in_reach
from app.services.workdays import add_working_days

PROBLEM_RECORD = "problem"  # before-photos, attached to the problem
EVENT_RECORD = "problem_event"  # after-photos, attached to the rectify event

SUPERVISION_ROLES = ADMIN_ROLES | {Role.inspector}
# Orgs that can be held responsible for a problem, and so can own points.
RESPONSIBLE_LEVELS = frozenset({OrgLevel.community, OrgLevel.street, OrgLevel.unit})
MAX_DEADLINE_DAYS = 366

STATUS_NAMES = {
    ProblemStatus.open: "待整改",
    ProblemStatus.rectified: "已整改待复核",
    ProblemStatus.closed: "已销号",
}


def _supervision_paths(caller: Caller) -> list[str]:
    return caller.paths(SUPERVISION_ROLES)


def _require_supervisor(caller: Caller) -> None:
    if not _supervision_paths(caller):
        raise Forbidden("forbidden", "只有管理员和督导员可以查看督办信息")


async def get_supervised_org(session: AsyncSession, caller: Caller, org_id: int) -> Org:
    """An org whose points and problems the caller sees (the `?org_id=` of their lists);
    one who sees none is refused before any org is looked up."""
    _require_supervisor(caller)
    return await org_in_reach(session, caller, org_id, SUPERVISION_ROLES)


async def _responsible_org(
    session: AsyncSession, caller: Caller, org_id: int, roles: Iterable[Role], doing: str
) -> Org:
    # As POST /orgs: an org the caller cannot see is 404, one seen but not theirs 403.
    org = await get_visible_org(session, caller, org_id)
    if not caller.reaches(org, roles):
        raise Forbidden("forbidden", f"只能为自己管理范围内的组织{doing}")
    if org.level not in RESPONSIBLE_LEVELS:
        raise Unprocessable("invalid_org", "责任单位只能是社区、街道或单位")
    return org


# --- points ---------------------------------------------------------------------------


async def create_point(session: AsyncSession, *, caller: Caller, data: PointCreate) -> Point:
    org = await _responsible_org(session, caller, data.org_id, ADMIN_ROLES, "设置点位")
    if data.responsible_user_id is not None:
        found = await session.execute(
            select(User.id).where(User.id == data.responsible_user_id, users_in_reach(caller))
        )
        if found.first() is None:
            raise Unprocessable("invalid_responsible_user", "包抓责任人须是你管理范围内的人员")
    assert org.id is not None
    point = Point(
        name=data.name,
        kind=data.kind,
        org_id=org.id,
        lat=data.location.lat,
        lng=data.location.lng,
        responsible_user_id=data.responsible_user_id,
        radius_m=data.radius_m,
        created_by_id=caller.id,
    )
    session.add(point)
    await session.flush()
    return point


def _visible_points(caller: Caller) -> ColumnElement[bool]:
    return in_reach(col(Point.org_id), _supervision_paths(caller))


async def get_visible_point(session: AsyncSession, caller: Caller, point_id: int) -> Point:
    point = (
        await session.execute(select(Point).where(Point.id == point_id, _visible_points(caller)))
    ).scalar_one_or_none()
    if point is None:
        raise NotFound()
    return point


async def list_points(
    session: AsyncSession,
    *,
    caller: Caller,
    org: Org | None,
    kind: PointKind | None,
    offset: int,
    limit: int,
) -> tuple[list[Point], int]:
    _require_supervisor(caller)
    conditions = [_visible_points(caller)]
    if org is not None:
        conditions.append(in_reach(col(Point.org_id), [org.path]))
    if kind is not None:
        conditions.append(col(Point.kind) == kind)
    return await paged_scalars(
        session,
        select(Point).where(*conditions).order_by(col(Point.id).desc()),
        offset=offset,
        limit=limit,
    )


async def points_public(session: AsyncSession, points: Sequence[Point]) -> list[PointPublic]:
    names = await user_names(session, (p.responsible_user_id for p in points))
    out = []
    for p in points:
        assert p.id is not None
        out.append(
            PointPublic(
                id=p.id,
                name=p.name,
                kind=p.kind,
                org_id=p.org_id,
                location=Location(lat=p.lat, lng=p.lng),
                radius_m=p.radius_m,
                meets_standard=p.meets_standard,
                last_inspected_at=p.last_inspected_at,
                responsible_user_id=p.responsible_user_id,
                responsible_user_name=names.get(p.responsible_user_id)
                if p.responsible_user_id is not None
                else None,
                created_at=p.created_at,
            )
        )
    return out


# --- who sees a problem ------------------------------------------------------------------


def _visible_problems(caller: Caller) -> ColumnElement[bool]:
    return in_reach(col(Problem.org_id), _supervision_paths(caller))


async def get_visible_problem(session: AsyncSession, caller: Caller, problem_id: int) -> Problem:
    problem = (
        await session.execute(
            select(Problem).where(Problem.id == problem_id, _visible_problems(caller))
        )
    ).scalar_one_or_none()
    if problem is None:
        raise NotFound()
    return problem


async def _can_see_problem(session: AsyncSession, caller: Caller, record_id: int) -> bool:
    found = await session.execute(
        select(Problem.id).where(Problem.id == record_id, _visible_problems(caller))
    )
    return found.first() is not None


async def _can_see_problem_event(session: AsyncSession, caller: Caller, record_id: int) -> bool:
    found = await session.execute(
        select(ProblemEvent.id)
        .join(Problem, col(Problem.id) == col(ProblemEvent.problem_id))
        .where(ProblemEvent.id == record_id, _visible_problems(caller))
    )
    return found.first() is not None


register_record_type(PROBLEM_RECORD, _can_see_problem)
register_record_type(EVENT_RECORD, _can_see_problem_event)


# --- overdue and escalation -------------------------------------------------------------


def overdue_condition(now: Any) -> ColumnElement[bool]:
    return and_(col(Problem.status).in_(UNRESOLVED), col(Problem.deadline_at) <= now)


def escalation_condition(
    level: EscalationLevel, now: datetime, district_after_days: int
) -> ColumnElement[bool]:
    """Escalated to the street as soon as it is overdue, to the district after
    `district_after_days` more days; a problem is at exactly one level."""
    return escalation_at(level, now, now - timedelta(days=district_after_days))


def escalation_at(level: EscalationLevel, now: Any, district_from: Any) -> ColumnElement[bool]:
    """`escalation_condition` with the district's start given: values, or the bound
    parameters of a statement compiled once (the dashboard's)."""
    if level == EscalationLevel.district:
        return and_(col(Problem.status).in_(UNRESOLVED), col(Problem.deadline_at) <= district_from)
    if level == EscalationLevel.street:
        return and_(overdue_condition(now), col(Problem.deadline_at) > district_from)
    return ~overdue_condition(now)


def is_overdue(problem: Problem, now: datetime) -> bool:
    return problem.status in UNRESOLVED and now >= problem.deadline_at


def escalation_of(problem: Problem, now: datetime, district_after_days: int) -> EscalationLevel:
    if not is_overdue(problem, now):
        return EscalationLevel.none
    if problem.deadline_at <= now - timedelta(days=district_after_days):
        return EscalationLevel.district
    return EscalationLevel.street


# --- public shapes ---------------------------------------------------------------------


async def _latest_rectify_events(session: AsyncSession, problem_ids: list[int]) -> dict[int, int]:
    if not problem_ids:
        return {}
    rows = await session.execute(
        select(ProblemEvent.problem_id, func.max(ProblemEvent.id))
        .where(
            col(ProblemEvent.problem_id).in_(problem_ids),
            ProblemEvent.action == ProblemAction.rectify,
        )
        .group_by(col(ProblemEvent.problem_id))
    )
    return {problem_id: event_id for problem_id, event_id in rows.all() if event_id is not None}


def _public(
    p: Problem | Any,
    *,
    photo_ids: list[int],
    after_photo_ids: list[int],
    now: datetime,
    district_after_days: int,
) -> ProblemPublic:
    """A problem (a Problem, or a row of its columns) as it is shown: its before-photos,
    its latest rectification's after-photos, overdue and escalation at `now`."""
    assert p.id is not None
    return ProblemPublic(
        id=p.id,
        org_id=p.org_id,
        point_id=p.point_id,
        category=p.category,
        description=p.description,
        location=Location(lat=p.lat, lng=p.lng)
        if p.lat is not None and p.lng is not None
        else None,
        deadline=p.deadline,
        deadline_at=p.deadline_at,
        status=p.status,
        overdue=is_overdue(p, now),
        escalation_level=escalation_of(p, now, district_after_days),
        reported_by_id=p.reported_by_id,
        photo_ids=photo_ids,
        after_photo_ids=after_photo_ids,
        rectified_at=p.rectified_at,
        rectify_note=p.rectify_note,
        rectified_by_id=p.rectified_by_id,
        closed_at=p.closed_at,
        created_at=p.created_at,
        updated_at=p.updated_at,
    )


async def problem_public(
    session: AsyncSession,
    problem: Problem,
    *,
    district_after_days: int,
    viewer_id: int | None,
    now: datetime | None = None,
) -> ProblemPublic:
    """A problem as it is shown (`_public`): the answer of a route that read, made or
    moved it, with the photos the viewer may see."""
    assert problem.id is not None
    before = await photo_ids_by_record(session, PROBLEM_RECORD, [problem.id], viewer_id=viewer_id)
    latest = await _latest_rectify_events(session, [problem.id])
    after = await photo_ids_by_record(session, EVENT_RECORD, latest.values(), viewer_id=viewer_id)
    return _public(
        problem,
        photo_ids=before.get(problem.id, []),
        after_photo_ids=after.get(latest[problem.id], []) if problem.id in latest else [],
        now=now or utcnow(),
        district_after_days=district_after_days,
    )


async def problem_detail(
    session: AsyncSession,
    *,
    problem: Problem,
    district_after_days: int,
    viewer_id: int | None,
    now: datetime | None = None,
) -> ProblemDetail:
    public = await problem_public(
        session, problem, district_after_days=district_after_days, viewer_id=viewer_id, now=now
    )
    rows = await session.execute(
        select(ProblemEvent, User.name)
        .join(User, col(User.id) == col(ProblemEvent.actor_id))
        .where(ProblemEvent.problem_id == problem.id)
        .order_by(col(ProblemEvent.id))
    )
    pairs = list(rows.all())
    event_photos = await photo_ids_by_record(
        session, EVENT_RECORD, (e.id for e, _ in pairs), viewer_id=viewer_id
    )
    history = []
    for event, actor_name in pairs:
        assert event.id is not None
        photos = public.photo_ids if event.action == ProblemAction.create else []
        history.append(
            ProblemEventPublic(
                id=event.id,
                action=event.action,
                from_status=event.from_status,
                to_status=event.to_status,
                actor_id=event.actor_id,
                actor_name=actor_name,
                note=event.note,
                photo_ids=event_photos.get(event.id, photos),
                at=event.at,
            )
        )
    return ProblemDetail(**public.model_dump(), history=history)


# --- reading -------------------------------------------------------------------------------


_PROBLEMS = table_of(Problem)
_EVENTS = table_of(ProblemEvent)


@dataclass(frozen=True)
class _Filters:
    """Which of the list's filters a request gives: `status` and `org` are parameters,
    `overdue` and `escalated_to` are conditions written into the SQL (the clock's
    moments are parameters)."""

    status: bool = False
    org: bool = False
    overdue: bool | None = None
    escalated_to: EscalationLevel | None = None
    by_deadline: bool = False


def _conditions(filters: _Filters) -> list[ColumnElement[bool]]:
    now: BindParameter[datetime] = bindparam("now")
    district_from: BindParameter[datetime] = bindparam("district_from")
    conditions: list[ColumnElement[bool]] = []
    if filters.org:
        # `in_reach` with the path as a parameter: one statement for every org.
        subtree = path_between(
            col(Org.path), bindparam("org_from", type_=String), bindparam("org_to", type_=String)
        )
        conditions.append(col(Problem.org_id).in_(select(Org.id).where(subtree)))
    if filters.status:
        conditions.append(col(Problem.status) == bindparam("status", type_=String))
    if filters.overdue is not None:
        overdue = overdue_condition(now)
        conditions.append(overdue if filters.overdue else ~overdue)
    if filters.escalated_to is not None:
        conditions.append(escalation_at(filters.escalated_to, now, district_from))
    return conditions


def _by_deadline(columns: Any) -> list[ColumnElement[Any]]:
    return [columns.deadline_at, columns.id]


@lru_cache(maxsize=256)
def _list_statements(reach: tuple[str, ...], filters: _Filters) -> PhotoPage:
    """The list's statements for callers of one reach (their supervising subtrees)
    asking one set of filters, built and compiled once: the caller, the filters'
    values, the clock and the page are parameters. Each problem comes with its latest
    rectification, whose after-photos it shows. Bounded: a reach not listed lately is
    built again when it comes back."""
    latest_rectify = (
        sa_select(func.max(_EVENTS.c.id))
        .where(
            _EVENTS.c.problem_id == _PROBLEMS.c.id,
            _EVENTS.c.action == ProblemAction.rectify,
        )
        .scalar_subquery()
    )
    records = sa_select(_PROBLEMS, latest_rectify.label("rectify_id")).where(
        in_reach(col(Problem.org_id), list(reach)), *_conditions(filters)
    )
    return PhotoPage.of(
        records,
        record_type=PROBLEM_RECORD,
        viewer=bindparam("me", type_=Integer),
        order=_by_deadline if filters.by_deadline else None,
        counted_apart=True,
    )


@lru_cache(maxsize=4)
def _after_photos(dialect: Dialect) -> Statement:
    """The after-photos `me` may see of the rectifications named (`event_ids`), in the
    order they were attached. The dialect is the engine's: `ids_in` is written for it."""
    photos = visible_photos(EVENT_RECORD, bindparam("me", type_=Integer))
    return Statement(
        sa_select(photos.c.record_id, photos.c.media_id)
        .where(ids_in(photos.c.record_id, "event_ids", dialect))
        .order_by(photos.c.id)
    )


async def _after_photo_ids(
    session: AsyncSession, event_ids: list[int], viewer_id: int
) -> dict[int, list[int]]:
    out: dict[int, list[int]] = defaultdict(list)
    if not event_ids:
        return out
    dialect = dialect_of(session)
    params = {"me": viewer_id, "event_ids": ids_value(event_ids, dialect)}
    for row in await _after_photos(dialect).rows(session, params):
        out[row.record_id].append(row.media_id)
    return out


async def list_problems(
    session: AsyncSession,
    *,
    caller: Caller,
    status: ProblemStatus | None,
    overdue: bool | None,
    escalated_to: EscalationLevel | None,
    org: Org | None,
    district_after_days: int,
    offset: int,
    limit: int,
    now: datetime | None = None,
    by_deadline: bool = False,
) -> tuple[list[ProblemPublic], int]:
    """A page of the problems the caller sees, the newest first, and how many there
    are; `by_deadline`: the nearest deadline first (the console's board pages its
    unresolved columns so, the most pressing on its first page). One statement (two
    for a page past the end), one more for the after-photos of a page with
    rectifications; rows rather than Problem objects, shown as `problem_public`
    shows one."""
    _require_supervisor(caller)
    now = now or utcnow()
    filters = _Filters(
        status=status is not None,
        org=org is not None,
        overdue=overdue,
        escalated_to=escalated_to,
        by_deadline=by_deadline,
    )
    listing = _list_statements(tuple(_supervision_paths(caller)), filters)
    params: dict[str, Any] = {"me": caller.id, "offset": offset, "limit": limit}
    if status is not None:
        params["status"] = status.value
    if org is not None:
        params["org_from"], params["org_to"] = org.path, path_upper_bound(org.path)
    if overdue is not None or escalated_to is not None:
        params["now"] = now
        params["district_from"] = now - timedelta(days=district_after_days)
    listed, total = await listing.read(session, params)
    rectified = [p.rectify_id for p, _ in listed if p.rectify_id is not None]
    after = await _after_photo_ids(session, rectified, caller.id)
    return [
        _public(
            p,
            photo_ids=photo_ids,
            after_photo_ids=after.get(p.rectify_id, []) if p.rectify_id is not None else [],
            now=now,
            district_after_days=district_after_days,
        )
        for p, photo_ids in listed
    ], total


# --- filing ------------------------------------------------------------------------------


async def _check_point(session: AsyncSession, caller: Caller, point_id: int, org: Org) -> Point:
    row = (
        await session.execute(
            select(Point, Org.path)
            .join(Org, col(Org.id) == col(Point.org_id))
            .where(Point.id == point_id, _visible_points(caller))
        )
    ).first()
    if row is None or not is_within(row[1], org.path):
        raise Unprocessable("invalid_point", "所选点位不存在或不属于该责任单位")
    point: Point = row[0]
    return point


async def create_problem(
    session: AsyncSession,
    *,
    caller: Caller,
    data: ProblemCreate,
    now: datetime | None = None,
    photos: Sequence[Media] | None = None,
) -> Problem:
    """File a problem. `photos`: the before-photos when another domain has vetted them
    already (a resident's report taken into a problem carries the resident's photos);
    otherwise `data.photo_ids` must be the caller's own uploads."""
    now = now or utcnow()
    org = await _responsible_org(session, caller, data.org_id, SUPERVISION_ROLES, "提交问题")
    point = await _check_point(session, caller, data.point_id, org) if data.point_id else None
    today = local(now).date()
    if data.deadline is not None:
        if data.deadline < today:
            raise Unprocessable("invalid_deadline", "整改期限不能早于今天")
        if data.deadline > today + timedelta(days=MAX_DEADLINE_DAYS):
            raise Unprocessable("invalid_deadline", "整改期限不能超过一年")
        due = data.deadline
    else:
        assert data.deadline_working_days is not None
        due = add_working_days(today, data.deadline_working_days)
    if photos is None:
        photos = await require_own_photos(session, caller=caller, photo_ids=data.photo_ids)
    location = data.location or (Location(lat=point.lat, lng=point.lng) if point else None)
    assert org.id is not None
    problem = Problem(
        org_id=org.id,
        point_id=point.id if point else None,
        category=data.category,
        description=data.description,
        lat=location.lat if location else None,
        lng=location.lng if location else None,
        deadline=due,
        deadline_at=day_start(due + timedelta(days=1)),
        status=ProblemStatus.open,
        reported_by_id=caller.id,
        created_at=now,
        updated_at=now,
    )
    session.add(problem)
    await session.flush()
    assert problem.id is not None
    session.add(
        ProblemEvent(
            problem_id=problem.id,
            action=ProblemAction.create,
            to_status=ProblemStatus.open,
            actor_id=caller.id,
            at=now,
        )
    )
    await attach_photos(session, media=photos, record_type=PROBLEM_RECORD, record_id=problem.id)
    await session.flush()
    await problems_messages.problem_filed(session, problem=problem, filer_id=caller.id)
    return problem


# --- transitions -----------------------------------------------------------------------

LIFECYCLE = Lifecycle(
    name="problem",
    model=Problem,
    history=ProblemEvent,
    org_key="org_id",
    code="invalid_problem_state",
    called="该问题",
    names=STATUS_NAMES,
    transitions=(
        Transition(
            ProblemAction.rectify, {ProblemStatus.open}, ProblemStatus.rectified, "提交整改"
        ),
        Transition(ProblemAction.close, {ProblemStatus.rectified}, ProblemStatus.closed, "复核"),
        Transition(ProblemAction.reopen, {ProblemStatus.rectified}, ProblemStatus.open, "复核"),
    ),
)


async def _org_of(session: AsyncSession, problem: Problem) -> Org:
    org = await session.get(Org, problem.org_id)
    assert org is not None
    return org


async def rectify_problem(
    session: AsyncSession,
    *,
    caller: Caller,
    problem: Problem,
    data: ProblemRectify,
    now: datetime | None = None,
) -> Problem:
    now = now or utcnow()
    if not caller.reaches(await _org_of(session, problem), ADMIN_ROLES):
        raise Forbidden("forbidden", "只有责任单位（及其上级）的管理员可以提交整改")
    LIFECYCLE.require(problem, ProblemAction.rectify)
    photos = await require_own_photos(session, caller=caller, photo_ids=data.photo_ids)
    event = await lifecycle.move(
        session,
        LIFECYCLE,
        problem,
        caller=caller,
        action=ProblemAction.rectify,
        note=data.note,
        now=now,
        values={"rectified_at": now, "rectify_note": data.note, "rectified_by_id": caller.id},
    )
    assert event.id is not None
    await attach_photos(session, media=photos, record_type=EVENT_RECORD, record_id=event.id)
    return problem


def may_verify(caller: Caller, org: Org) -> bool:
    """Inspectors whose reach covers the org, admins strictly above it."""
    if caller.reaches(org, [Role.inspector]):
        return True
    return any(is_within(org.path, p) and p != org.path for p in caller.paths(ADMIN_ROLES))


async def verify_problem(
    session: AsyncSession,
    *,
    caller: Caller,
    problem: Problem,
    data: ProblemVerify,
    now: datetime | None = None,
) -> Problem:
    now = now or utcnow()
    if not may_verify(caller, await _org_of(session, problem)):
        raise Forbidden("forbidden", "只有督导员或责任单位的上级管理员可以复核")
    action = ProblemAction.close if data.approve else ProblemAction.reopen
    LIFECYCLE.require(problem, action)
    if problem.rectified_by_id == caller.id:
        raise Forbidden("forbidden", "不能复核自己提交的整改")
    note = text_or_none(data.note)
    if not data.approve and note is None:
        raise Unprocessable("note_required", "退回重新整改时请填写原因")
    closing = {"closed_at": now}
    reopening = {"rectified_at": None, "rectify_note": None, "rectified_by_id": None}
    await lifecycle.move(
        session,
        LIFECYCLE,
        problem,
        caller=caller,
        action=action,
        note=note,
        now=now,
        values=closing if data.approve else reopening,
        notify=lambda: problems_messages.problem_verified(
            session, problem=problem, closed=data.approve, note=note, verifier_id=caller.id
        ),
    )
    return problem


# --- the daily scan: due soon, overdue, escalated (app/services/notifications/scans.py) ---


async def _chase_due_and_overdue(session: AsyncSession, settings: Settings, now: datetime) -> int:
    """Daily. Problems due within PROBLEM_DUE_SOON_WORKING_DAYS: the admins answering
    for the responsible org. Overdue: those admins, and the street's admins
    (escalated to the street); overdue past PROBLEM_DISTRICT_ESCALATION_DAYS: the
    district's admins too. Overdue and escalation are the same SQL conditions the
    problem lists use, so the scan and the lists always agree."""
    today = local(now).date()
    deadline_soon = scans.due_by(today, settings.problem_due_soon_working_days)
    due_soon = (
        await session.execute(
            select(Problem, Org.path)
            .join(Org, col(Org.id) == col(Problem.org_id))
            .where(
                col(Problem.status).in_(UNRESOLVED),
                col(Problem.deadline_at) > now,
                col(Problem.deadline) <= deadline_soon,
            )
            .order_by(col(Problem.id))
        )
    ).all()
    overdue = (
        await session.execute(
            select(Problem, Org.path)
            .join(Org, col(Org.id) == col(Problem.org_id))
            .where(overdue_condition(now))
            .order_by(col(Problem.id))
        )
    ).all()
    to_district = set(
        (
            await session.execute(
                select(Problem.id).where(
                    escalation_condition(
                        EscalationLevel.district, now, settings.problem_district_escalation_days
                    )
                )
            )
        ).scalars()
    )
    admins = await OrgAdmins.load(session, [path for _, path in (*due_soon, *overdue)])
    notified = 0
    for problem, path in due_soon:
        notified += await problems_messages.problem_due_soon(
            session, problem=problem, path=path, admins=admins, now=now
        )
    for problem, path in overdue:
        notified += await problems_messages.problem_overdue(
            session,
            problem=problem,
            path=path,
            admins=admins,
            to_district=problem.id in to_district,
            now=now,
        )
    return notified


SCANS = (scans.Scan(job="problem_scan", period=scans.daily, work=_chase_due_and_overdue),)
