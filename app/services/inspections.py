"""Inspection rounds (督导巡查): checklists per point kind, and visits to points.

Who does what:
- the district's admins keep one checklist per point kind (测评细则); each PUT adds a
  version, so a visit keeps the items it was judged on;
- a visit to a point is recorded by an inspector or admin whose reach covers the
  point's org, or by a leader in liaison (包联) with an org above it, standing within
  the point's radius; it judges every item of the point kind's current checklist,
  and a failed item may open a problem in the same request (one transaction: the
  visit, its results and its problems are written together or not at all);
- a point carries the result of its latest visit (`meets_standard`,
  `last_inspected_at`), set by a conditional UPDATE that only a later visit passes,
  so two visits recorded at once leave the later one's result whatever order they
  commit in.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from statistics import median

import anyio
from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, Side
from sqlalchemy import ColumnElement, and_, case, false, func, or_, update
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col, select

from app.core import xlsx
from app.core.db import paged_scalars, utcnow
from app.core.errors import Conflict, Forbidden, NotFound, Unprocessable
from app.core.scope import Caller, in_reach, is_within, path_ids, path_within
from app.core.timeutil import day_start, local, parse_week, week_of
from app.models.inspection import (
    Checklist,
    ChecklistPut,
    Inspection,
    InspectionCreate,
    InspectionPublic,
    InspectionResult,
    InspectionTeam,
    InspectionTeamMember,
    ResultPublic,
)
from app.models.org import Org
from app.models.pairing import Liaison, LiaisonKind
from app.models.problem import (
    InspectionCounts,
    InspectionStats,
    InspectionStatsRow,
    LiaisonVisits,
    Location,
    LocationInput,
    Point,
    PointKind,
    Problem,
    ProblemCreate,
)
from app.models.report import Report, ReportStatus
from app.models.user import Role, User
from app.services import audit, photo_reuse, problems
from app.services.photos import (
    attach_photos,
    photo_ids_by_record,
    register_record_type,
    require_own_photos,
)
from app.services.tasks import haversine_m
from app.services.users import user_names

INSPECTION_RECORD = "inspection"


# --- liaisons (包联: app/services/liaisons.py) ---------------------------------------------


async def liaison_org_paths(session: AsyncSession, user_id: int, on_date: date) -> list[str]:
    """The paths of the orgs `user_id` is in liaison with (包联) on `on_date`
    (app/services/liaisons.py): as the leader assigned, or as a member of a unit
    assigned (their unit inside the liaison unit's subtree)."""
    home_unit = (
        await session.execute(
            sa_select(col(Org.path))
            .join(User, col(User.unit_id) == col(Org.id))
            .where(col(User.id) == user_id)
        )
    ).scalar_one_or_none()
    # The units the person is a member of: their unit and the units above it.
    units = _ancestor_paths(home_unit) if home_unit else []
    unit = aliased(Org)
    as_member = (
        sa_select(col(Liaison.id))
        .join(unit, col(unit.id) == col(Liaison.unit_id))
        .where(col(unit.path).in_(units))
    )
    rows = await session.execute(
        select(Org.path)
        .join(Liaison, col(Liaison.org_id) == col(Org.id))
        .where(
            or_(col(Liaison.user_id) == user_id, col(Liaison.id).in_(as_member)),
            _liaison_on(on_date),
        )
    )
    return list(rows.scalars())


def _ancestor_paths(path: str) -> list[str]:
    """`/1/5/9/` → `/1/`, `/1/5/`, `/1/5/9/`: the subtrees holding `path`."""
    ids = path_ids(path)
    return ["/" + "/".join(str(i) for i in ids[: n + 1]) + "/" for n in range(len(ids))]


def _liaison_on(on_date: date) -> ColumnElement[bool]:
    return and_(
        col(Liaison.starts_on) <= on_date,
        or_(col(Liaison.ends_on).is_(None), col(Liaison.ends_on) >= on_date),
    )


# --- checklists --------------------------------------------------------------------------


def _district_of(caller: Caller) -> int | None:
    """The caller's district: that of their roles, else of their home community."""
    for grant in caller.grants:
        return path_ids(grant.org_path)[0]
    if caller.home is not None:
        return path_ids(caller.home[1])[0]
    return None


async def put_checklist(
    session: AsyncSession,
    *,
    caller: Caller,
    kind: PointKind,
    data: ChecklistPut,
    now: datetime | None = None,
) -> Checklist:
    districts = caller.paths([Role.district_admin])
    if not districts:
        raise Forbidden("forbidden", "只有区管理员可以修改检查标准")
    if len(set(data.items)) != len(data.items):
        raise Unprocessable("duplicate_checklist_item", "检查项不能重复")
    district_id = path_ids(districts[0])[0]
    current = await current_checklist(session, district_id, kind)
    version = 1 if current is None else current.version + 1
    checklist = Checklist(
        district_id=district_id,
        kind=kind,
        version=version,
        items=list(data.items),
        created_by_id=caller.id,
        created_at=now or utcnow(),
    )
    try:
        async with session.begin_nested():
            session.add(checklist)
            await session.flush()
    except IntegrityError:
        # Another admin saved a version at the same moment: theirs stands, ours would
        # silently replace what they just wrote.
        raise Conflict("checklist_changed", "检查标准刚被他人修改，请刷新后再改") from None
    await audit.record(
        session,
        caller=caller,
        action="checklist.put",
        target_type="checklist",
        target_id=checklist.id,
        org_id=district_id,
        kind=kind.value,
        version=version,
    )
    return checklist


async def current_checklist(
    session: AsyncSession, district_id: int, kind: PointKind
) -> Checklist | None:
    row = await session.execute(
        select(Checklist)
        .where(Checklist.district_id == district_id, Checklist.kind == kind)
        .order_by(col(Checklist.version).desc())
        .limit(1)
    )
    return row.scalar_one_or_none()


async def get_checklist(session: AsyncSession, *, caller: Caller, kind: PointKind) -> Checklist:
    district_id = _district_of(caller)
    checklist = None if district_id is None else await current_checklist(session, district_id, kind)
    if checklist is None:
        raise NotFound("该类点位尚未设置检查标准", code="checklist_not_found")
    return checklist


# --- who sees and records visits ------------------------------------------------------


async def _inspecting_paths(session: AsyncSession, caller: Caller, today: date) -> list[str]:
    return [
        *caller.paths(problems.SUPERVISION_ROLES),
        *await liaison_org_paths(session, caller.id, today),
    ]


def supervises(caller: Caller) -> bool:
    return bool(caller.paths(problems.SUPERVISION_ROLES))


def _visible(caller: Caller) -> ColumnElement[bool]:
    # Everyone sees the visits they recorded (a liaison's among them).
    return or_(
        in_reach(col(Inspection.org_id), caller.paths(problems.SUPERVISION_ROLES)),
        col(Inspection.inspector_id) == caller.id,
    )


async def get_visible_inspection(
    session: AsyncSession, caller: Caller, inspection_id: int
) -> Inspection:
    found = (
        await session.execute(
            select(Inspection).where(Inspection.id == inspection_id, _visible(caller))
        )
    ).scalar_one_or_none()
    if found is None:
        raise NotFound()
    return found


async def _can_see(session: AsyncSession, caller: Caller, record_id: int) -> bool:
    found = await session.execute(
        select(Inspection.id).where(Inspection.id == record_id, _visible(caller))
    )
    return found.first() is not None


register_record_type(INSPECTION_RECORD, _can_see)


# --- recording a visit ---------------------------------------------------------------------


async def record_visit(
    session: AsyncSession, *, caller: Caller, data: InspectionCreate, now: datetime | None = None
) -> Inspection:
    now = now or utcnow()
    paths = await _inspecting_paths(session, caller, local(now).date())
    if not paths:
        raise Forbidden("forbidden", "只有督导员、包联领导和管理员可以记录巡查")
    row = (
        await session.execute(
            select(Point, Org.path)
            .join(Org, col(Org.id) == col(Point.org_id))
            .where(Point.id == data.point_id, in_reach(col(Point.org_id), paths))
        )
    ).first()
    if row is None:
        raise Unprocessable("invalid_point", "所选点位不存在或不在你的巡查范围内")
    point: Point = row[0]
    checklist = await current_checklist(session, path_ids(row[1])[0], point.kind)
    if checklist is None:
        raise Unprocessable("checklist_not_found", "该类点位尚未设置检查标准，请联系区管理员")

    judged = [r.item for r in data.results]
    if len(set(judged)) != len(judged):
        raise Unprocessable("duplicate_checklist_item", "同一检查项只能填写一次")
    unknown = [item for item in judged if item not in checklist.items]
    if unknown:
        raise Unprocessable("unknown_checklist_item", f"检查项“{unknown[0]}”不在检查标准中")
    missing = [item for item in checklist.items if item not in judged]
    if missing:
        raise Unprocessable("incomplete_results", f"请填写检查项“{missing[0]}”的结果")
    failed = {r.item for r in data.results if not r.passed}
    opened_for = [p.item for p in data.problems]
    if len(set(opened_for)) != len(opened_for) or not set(opened_for) <= failed:
        raise Unprocessable(
            "invalid_problem_item", "只能为未通过的检查项提交问题，每项至少一个、至多一个"
        )

    assert point.id is not None
    distance = haversine_m(point.lat, point.lng, data.lat, data.lng)
    if distance > point.radius_m:
        raise Unprocessable(
            "outside_geofence", f"当前位置距点位约 {round(distance)} 米，须在 {point.radius_m} 米内"
        )
    if data.team_id is not None:
        await _require_own_team(session, caller, data.team_id, row[1])
    photos = await require_own_photos(session, caller=caller, photo_ids=data.photo_ids)

    assert checklist.id is not None
    inspection = Inspection(
        point_id=point.id,
        org_id=point.org_id,
        checklist_id=checklist.id,
        inspector_id=caller.id,
        team_id=data.team_id,
        lat=data.lat,
        lng=data.lng,
        distance_m=round(distance, 1),
        meets_standard=not failed,
        failed_count=len(failed),
        note=data.note,
        visited_at=now,
    )
    session.add(inspection)
    await session.flush()
    assert inspection.id is not None
    results = {
        r.item: InspectionResult(
            inspection_id=inspection.id, item=r.item, passed=r.passed, note=r.note
        )
        for r in data.results
    }
    await attach_photos(
        session, media=photos, record_type=INSPECTION_RECORD, record_id=inspection.id
    )
    await photo_reuse.fingerprint(
        session,
        media=photos,
        record_type=INSPECTION_RECORD,
        record_id=inspection.id,
        district_id=path_ids(row[1])[0],
    )
    for wanted in data.problems:
        problem = await problems.create_problem(
            session,
            caller=caller,
            now=now,
            data=ProblemCreate(
                org_id=point.org_id,
                point_id=point.id,
                category=wanted.category,
                description=wanted.description,
                location=LocationInput(lat=data.lat, lng=data.lng),
                photo_ids=wanted.photo_ids or data.photo_ids,
                deadline=wanted.deadline,
                deadline_working_days=wanted.deadline_working_days,
            ),
        )
        results[wanted.item].problem_id = problem.id
    session.add_all(results.values())
    await _keep_latest(session, point.id, inspection)
    await audit.record(
        session,
        caller=caller,
        action="inspection.create",
        target_type="inspection",
        target_id=inspection.id,
        org_id=point.org_id,
        meets_standard=inspection.meets_standard,
    )
    await session.flush()
    return inspection


async def _require_own_team(
    session: AsyncSession, caller: Caller, team_id: int, point_path: str
) -> None:
    """A visit is made for a team the inspector is a member of, whose office (district
    or street) holds the point; anything else, a team out of reach included, is 422."""
    found = await session.execute(
        select(InspectionTeam.id)
        .join(Org, col(Org.id) == col(InspectionTeam.org_id))
        .join(InspectionTeamMember, col(InspectionTeamMember.team_id) == col(InspectionTeam.id))
        .where(
            col(InspectionTeam.id) == team_id,
            col(InspectionTeamMember.user_id) == caller.id,
        )
        .add_columns(col(Org.path))
    )
    row = found.first()
    if row is None or not is_within(point_path, row[1]):
        raise Unprocessable("invalid_team", "只能代表自己所在、且负责该点位的督导组巡查")


async def _keep_latest(session: AsyncSession, point_id: int, visit: Inspection) -> None:
    """The point takes this visit's result unless a later visit (by time, then id) is
    already on it: one conditional UPDATE, so concurrent visits cannot leave an
    earlier result over a later one."""
    later_known = or_(
        col(Point.last_inspected_at) > visit.visited_at,
        and_(
            col(Point.last_inspected_at) == visit.visited_at,
            col(Point.last_inspection_id) > visit.id,
        ),
    )
    await session.execute(
        update(Point)
        .where(col(Point.id) == point_id, or_(col(Point.last_inspected_at).is_(None), ~later_known))
        .values(
            meets_standard=visit.meets_standard,
            last_inspected_at=visit.visited_at,
            last_inspection_id=visit.id,
        )
        .execution_options(synchronize_session=False)
    )


# --- reading ---------------------------------------------------------------------------------


def period_bounds(since: date | None, until: date | None) -> list[ColumnElement[bool]]:
    """`from` and `to` are Shanghai dates, both included."""
    conditions = []
    if since is not None:
        conditions.append(col(Inspection.visited_at) >= day_start(since))
    if until is not None:
        conditions.append(col(Inspection.visited_at) < day_start(until + timedelta(days=1)))
    return conditions


async def list_inspections(
    session: AsyncSession,
    *,
    caller: Caller,
    org: Org | None,
    point_id: int | None,
    since: date | None,
    until: date | None,
    offset: int,
    limit: int,
    team_id: int | None = None,
) -> tuple[list[Inspection], int]:
    conditions = [_visible(caller), *period_bounds(since, until)]
    if team_id is not None:
        conditions.append(col(Inspection.team_id) == team_id)
    if org is not None:
        conditions.append(in_reach(col(Inspection.org_id), [org.path]))
    if point_id is not None:
        conditions.append(col(Inspection.point_id) == point_id)
    return await paged_scalars(
        session,
        select(Inspection)
        .where(*conditions)
        .order_by(col(Inspection.visited_at).desc(), col(Inspection.id).desc()),
        offset=offset,
        limit=limit,
    )


async def get_inspected_org(session: AsyncSession, caller: Caller, org_id: int) -> Org:
    """The `?org_id=` of GET /inspections: an org whose visits the caller sees."""
    return await problems.get_supervised_org(session, caller, org_id)


async def inspections_public(
    session: AsyncSession,
    visits: Sequence[Inspection],
    *,
    viewer_id: int | None,
    supervisor: bool = True,
) -> list[InspectionPublic]:
    """`supervisor`: the viewer supervises (admins, inspectors, API keys) and is shown
    possible photo reuse; a liaison seeing only their own visits is not."""
    ids = [v.id for v in visits if v.id is not None]
    if not ids:
        return []
    points = {
        p.id: p
        for p in (
            await session.execute(
                select(Point).where(col(Point.id).in_({v.point_id for v in visits}))
            )
        ).scalars()
    }
    versions: dict[int, int] = dict(
        (
            await session.execute(
                select(Checklist.id, Checklist.version).where(
                    col(Checklist.id).in_({v.checklist_id for v in visits})
                )
            )
        ).all()
    )
    result_rows = (
        await session.execute(
            select(InspectionResult)
            .where(col(InspectionResult.inspection_id).in_(ids))
            .order_by(col(InspectionResult.id))
        )
    ).scalars()
    results: dict[int, list[InspectionResult]] = {}
    for r in result_rows:
        results.setdefault(r.inspection_id, []).append(r)
    names = await user_names(session, (v.inspector_id for v in visits))
    team_ids = {v.team_id for v in visits if v.team_id is not None}
    teams: dict[int, str] = (
        dict(
            (
                await session.execute(
                    select(InspectionTeam.id, InspectionTeam.name).where(
                        col(InspectionTeam.id).in_(team_ids)
                    )
                )
            ).all()
        )
        if team_ids
        else {}
    )
    photos = await photo_ids_by_record(session, INSPECTION_RECORD, ids, viewer_id=viewer_id)
    reuses = await photo_reuse.reuses_of(session, INSPECTION_RECORD, ids)
    out = []
    for v in visits:
        assert v.id is not None
        point = points[v.point_id]
        mine = results.get(v.id, [])
        out.append(
            InspectionPublic(
                id=v.id,
                point_id=v.point_id,
                point_name=point.name,
                point_kind=point.kind,
                org_id=v.org_id,
                checklist_id=v.checklist_id,
                checklist_version=versions[v.checklist_id],
                inspector_id=v.inspector_id,
                inspector_name=names.get(v.inspector_id, ""),
                team_id=v.team_id,
                team_name=teams.get(v.team_id) if v.team_id is not None else None,
                location=Location(lat=v.lat, lng=v.lng),
                distance_m=v.distance_m,
                meets_standard=v.meets_standard,
                failed_count=v.failed_count,
                note=v.note,
                visited_at=v.visited_at,
                photo_ids=photos.get(v.id, []),
                results=[
                    ResultPublic(item=r.item, passed=r.passed, note=r.note, problem_id=r.problem_id)
                    for r in mine
                ],
                problem_ids=[r.problem_id for r in mine if r.problem_id is not None],
                possible_reuse=reuses.get(v.id, []) if supervisor else [],
            )
        )
    return out


# --- weekly figures ---------------------------------------------------------------------------


async def liaisons_within(
    session: AsyncSession, path: str, on_date: date
) -> list[tuple[int | None, int | None, int]]:
    """(user id, unit id, org id) of the liaisons (包联) on `on_date` with orgs inside
    `path`: a leader's, or a unit's."""
    rows = await session.execute(
        select(Liaison.user_id, Liaison.unit_id, Liaison.org_id)
        .join(Org, col(Org.id) == col(Liaison.org_id))
        .where(path_within(col(Org.path), path), _liaison_on(on_date))
        .order_by(col(Liaison.id))
    )
    return [(user_id, unit_id, org_id) for user_id, unit_id, org_id in rows.all()]


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _median_hours(hours: list[float]) -> float | None:
    return round(median(hours), 2) if hours else None


async def weekly_stats(
    session: AsyncSession,
    *,
    org: Org,
    week: str | None,
    quota: int,
    now: datetime | None = None,
) -> InspectionStats:
    """Per child org (and the org's own points), the visits of the ISO week: points
    inspected, visits, visits meeting the standard, items failed, problems opened on
    a visit; residents' reports accepted and the median hours to accept them; and
    each liaison's visits against the weekly quota. One grouped query per
    figure, each visit in the bucket of the child whose subtree holds its point's org,
    as the weekly bulletin buckets problems (app/services/bulletins.py)."""
    now = now or utcnow()
    week = week or week_of(now)
    monday = parse_week(week)
    start, end = day_start(monday), day_start(monday + timedelta(days=7))
    bucket, held_by = aliased(Org), aliased(Org)
    in_bucket = or_(
        and_(col(bucket.parent_id) == org.id, col(held_by.path).startswith(col(bucket.path))),
        and_(col(bucket.id) == org.id, col(held_by.id) == org.id),
    )
    in_week = and_(col(Inspection.visited_at) >= start, col(Inspection.visited_at) < end)
    visits = {
        r[0]: r[1:]
        for r in await session.execute(
            sa_select(
                col(bucket.id),
                func.count(func.distinct(col(Inspection.point_id))),
                func.count(),
                func.count(case((col(Inspection.meets_standard), 1))),
                func.coalesce(func.sum(col(Inspection.failed_count)), 0),
            )
            .select_from(Inspection)
            .join(held_by, col(held_by.id) == col(Inspection.org_id))
            .join(bucket, in_bucket)
            .where(in_week)
            .group_by(col(bucket.id))
        )
    }
    opened = dict(
        (
            await session.execute(
                sa_select(col(bucket.id), func.count())
                .select_from(InspectionResult)
                .join(Inspection, col(Inspection.id) == col(InspectionResult.inspection_id))
                .join(held_by, col(held_by.id) == col(Inspection.org_id))
                .join(bucket, in_bucket)
                .where(in_week, col(InspectionResult.problem_id).is_not(None))
                .group_by(col(bucket.id))
            )
        ).all()
    )
    # Residents' reports accepted in the week (the figure is final once the week is
    # over), in the bucket of their responsible org; hours from report to acceptance,
    # the rule of the dashboard's report_hours_to_accept.
    waits: dict[int, list[float]] = {}
    for bucket_id, created_at, handled_at in await session.execute(
        sa_select(col(bucket.id), col(Report.created_at), col(Report.handled_at))
        .select_from(Report)
        .join(held_by, col(held_by.id) == col(Report.org_id))
        .join(bucket, in_bucket)
        .where(
            col(Report.status) == ReportStatus.accepted,
            col(Report.handled_at) >= start,
            col(Report.handled_at) < end,
        )
    ):
        assert bucket_id is not None and handled_at is not None
        waits.setdefault(bucket_id, []).append((handled_at - created_at).total_seconds() / 3600)
    children = list(
        (
            await session.execute(
                select(Org).where(Org.parent_id == org.id).order_by(col(Org.level), col(Org.id))
            )
        ).scalars()
    )
    buckets = ([org] if org.level in problems.RESPONSIBLE_LEVELS else []) + children
    rows = []
    for b in buckets:
        assert b.id is not None
        points, n, passed, failed = visits.get(b.id, (0, 0, 0, 0))
        rows.append(
            InspectionStatsRow(
                org_id=b.id,
                org_name=f"{b.name}（本级）" if b.id == org.id else b.name,
                points_inspected=points,
                visits=n,
                visits_meeting_standard=passed,
                pass_rate=_rate(passed, n),
                items_failed=int(failed),
                problems_opened=opened.get(b.id, 0),
                reports_accepted=len(waits.get(b.id, [])),
                report_hours_to_accept=_median_hours(waits.get(b.id, [])),
            )
        )
    total_visits = sum(r.visits for r in rows)
    total_passed = sum(r.visits_meeting_standard for r in rows)
    totals = InspectionCounts(
        points_inspected=sum(r.points_inspected for r in rows),
        visits=total_visits,
        visits_meeting_standard=total_passed,
        pass_rate=_rate(total_passed, total_visits),
        items_failed=sum(r.items_failed for r in rows),
        problems_opened=sum(r.problems_opened for r in rows),
        reports_accepted=sum(r.reports_accepted for r in rows),
        report_hours_to_accept=_median_hours([h for hours in waits.values() for h in hours]),
    )
    assert org.id is not None
    return InspectionStats(
        org_id=org.id,
        org_name=org.name,
        week=week,
        starts_on=monday,
        ends_on=monday + timedelta(days=6),
        rows=rows,
        totals=totals,
        liaison_visits=await _liaison_visits(session, org, start, end, quota, monday),
    )


async def _liaison_visits(
    session: AsyncSession, org: Org, start: datetime, end: datetime, quota: int, monday: date
) -> list[LiaisonVisits]:
    """Each liaison's visits of the week inside its org: a leader's own; a unit's, those
    of its members (people whose unit lies in its subtree, app/services/liaisons.py)."""
    liaisons = await liaisons_within(session, org.path, monday + timedelta(days=6))
    if not liaisons:
        return []
    orgs = {
        o.id: o
        for o in (
            await session.execute(
                select(Org).where(
                    col(Org.id).in_(
                        {o for _, _, o in liaisons} | {u for _, u, _ in liaisons if u is not None}
                    )
                )
            )
        ).scalars()
    }
    names = await user_names(session, (u for u, _, _ in liaisons if u is not None))
    # The week's visits inside these liaisons' orgs, with who made them, where, and the
    # inspector's unit: one read, however many liaisons; each assignment then counts
    # its own.
    held_by, home_unit = aliased(Org), aliased(Org)
    visited = (
        await session.execute(
            sa_select(col(Inspection.inspector_id), col(held_by.path), col(home_unit.path))
            .join(held_by, col(held_by.id) == col(Inspection.org_id))
            .join(User, col(User.id) == col(Inspection.inspector_id))
            .outerjoin(home_unit, col(home_unit.id) == col(User.unit_id))
            .where(
                path_within(col(held_by.path), org.path),
                or_(
                    col(Inspection.inspector_id).in_({u for u, _, _ in liaisons if u}),
                    col(User.unit_id).is_not(None)
                    if any(u is not None for _, u, _ in liaisons)
                    else false(),
                ),
                col(Inspection.visited_at) >= start,
                col(Inspection.visited_at) < end,
            )
        )
    ).all()
    out = []
    for user_id, unit_id, org_id in liaisons:
        liaison_org = orgs[org_id]
        if user_id is not None:
            n = sum(
                1
                for who, path, _ in visited
                if who == user_id and is_within(path, liaison_org.path)
            )
        else:
            assert unit_id is not None
            unit_path = orgs[unit_id].path
            n = sum(
                1
                for _, path, unit in visited
                if unit is not None
                and is_within(unit, unit_path)
                and is_within(path, liaison_org.path)
            )
        out.append(
            LiaisonVisits(
                kind=LiaisonKind.leader if user_id is not None else LiaisonKind.unit,
                user_id=user_id,
                user_name=names.get(user_id, "") if user_id is not None else None,
                unit_id=unit_id,
                unit_name=orgs[unit_id].name if unit_id is not None else None,
                org_id=org_id,
                org_name=liaison_org.name,
                visits=n,
                quota=quota,
                behind=n < quota,
            )
        )
    return sorted(out, key=lambda v: (not v.behind, v.visits, v.user_id or 0, v.unit_id or 0))


# --- the visit's record (纪实表) -------------------------------------------------------------

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _visit_sheet(visit: InspectionPublic, org_name: str, problems_text: dict[int, str]) -> bytes:
    """One visit as the office's one-page record: who, where, when, each item judged,
    the problems opened, and lines to sign. Blocking: run it in a worker thread."""
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "巡查纪实表"
    thin = Side(style="thin")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    wrap = Alignment(wrap_text=True, vertical="center")
    when = local(visit.visited_at).strftime("%Y年%m月%d日 %H:%M")
    ws.append(xlsx.row(ws, ["督导巡查纪实表"]))
    ws.merge_cells("A1:D1")
    ws["A1"].font = Font(bold=True, size=16)
    ws["A1"].alignment = Alignment(horizontal="center", vertical="center")
    ws.row_dimensions[1].height = 30
    for label, value, label2, value2 in (
        ("点位", visit.point_name, "所属单位", org_name),
        ("巡查时间", when, "巡查人", visit.inspector_name),
        ("督导组", visit.team_name or "（个人巡查）", "", ""),
        (
            "巡查位置",
            f"{visit.location.lat:.6f}, {visit.location.lng:.6f}",
            "距点位",
            f"{round(visit.distance_m)} 米",
        ),
        (
            "检查标准",
            f"第 {visit.checklist_version} 版",
            "结论",
            "达标" if visit.meets_standard else f"不达标（{visit.failed_count} 项未通过）",
        ),
    ):
        ws.append(xlsx.row(ws, [label, value, label2, value2]))
    ws.append(xlsx.row(ws, ["序号", "检查项", "结果", "说明及所提问题"]))
    header_row = ws.max_row
    for i, r in enumerate(visit.results, start=1):
        remark = r.note or ""
        if r.problem_id is not None:
            remark = f"{remark}\n已提交问题 #{r.problem_id}：{problems_text.get(r.problem_id, '')}"
        ws.append(xlsx.row(ws, [i, r.item, "通过" if r.passed else "未通过", remark.strip()]))
    ws.append(xlsx.row(ws, ["备注", visit.note or ""]))
    ws.merge_cells(f"B{ws.max_row}:D{ws.max_row}")
    ws.append(xlsx.row(ws, ["巡查人签字", "", "责任单位签字", ""]))
    for row in ws.iter_rows(min_row=2, max_row=ws.max_row):
        for cell in row:
            cell.border = border
            cell.alignment = wrap
    for cell in ws[header_row]:
        cell.font = Font(bold=True)
    for column, width in zip("ABCD", (14, 36, 14, 40), strict=True):
        ws.column_dimensions[column].width = width
    ws.page_setup.orientation = "portrait"
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


async def visit_record_xlsx(
    session: AsyncSession, *, inspection: Inspection, viewer_id: int | None
) -> bytes:
    (public,) = await inspections_public(session, [inspection], viewer_id=viewer_id)
    org = await session.get(Org, inspection.org_id)
    assert org is not None
    texts: dict[int, str] = dict(
        (
            await session.execute(
                select(Problem.id, Problem.description).where(
                    col(Problem.id).in_(public.problem_ids)
                )
            )
        ).all()
    )
    return await anyio.to_thread.run_sync(_visit_sheet, public, org.name, texts)
