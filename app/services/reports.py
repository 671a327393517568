"""Residents' reports (随手拍): anyone logged in reports what they saw; the community's
admins (or those above) take it into a problem or turn it down with a reason.

Who does what:
- anyone logged in reports, with at least one photo of their own and their position,
  to a community (their home one unless they name another); the position must lie in
  that community's district (`outside_district`), and the text passes WeChat's
  content check as wishes do (risky: 422; not vouched for: the admins see a note);
- admins and inspectors whose reach covers the community see the report, and the
  reporter sees their own (with its state and, once accepted, its problem's state);
- an admin whose reach covers the community accepts it into a problem (at an org
  their reach covers, with a deadline by date or working days), or rejects it with a
  reason. Both are lifecycle moves from `submitted`, a conditional UPDATE: of two
  admins accepting at once exactly one wins and exactly one problem exists (the
  loser's problem is rolled back with its request; `reports.problem_id` is unique).

The district's extent: orgs carry no boundary, so a district is taken to reach
DISTRICT_MARGIN_M beyond the box around its points (点位 cover its streets, squares
and markets). A district with no points yet has no known extent and takes any
position; points come with the district's first supervision work.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.core.db import paged_scalars, utcnow
from app.core.errors import Forbidden, NotFound, Unprocessable
from app.core.scope import Caller, in_reach, is_within, path_ids, path_within
from app.core.wechat import WeChatGateway
from app.models.media import Media, MediaAttachment
from app.models.org import Org, OrgLevel
from app.models.problem import (
    UNRESOLVED,
    Location,
    LocationInput,
    Point,
    Problem,
    ProblemCreate,
    ProblemStatus,
)
from app.models.report import (
    NearbyItem,
    NearbyKind,
    Report,
    ReportAccept,
    ReportAction,
    ReportCreate,
    ReportEvent,
    ReportPublic,
    ReportReject,
    ReportStatus,
)
from app.models.user import ADMIN_ROLES
from app.services import content_check, lifecycle, photo_reuse, problems, reports_messages
from app.services.lifecycle import Lifecycle, Transition
from app.services.photos import (
    attach_photos,
    photo_ids_by_record,
    register_record_type,
    require_own_photos,
)
from app.services.tasks import haversine_m
from app.services.users import user_names

REPORT_RECORD = "report"
DISTRICT_MARGIN_M = 2000
NEARBY_M = 50
NEARBY_DAYS = 7
METRES_PER_DEGREE = 111_320  # of latitude; of longitude times cos(latitude)

STATUS_NAMES = {
    ReportStatus.submitted: "待受理",
    ReportStatus.accepted: "已受理",
    ReportStatus.rejected: "未受理",
}

LIFECYCLE = Lifecycle(
    name="report",
    model=Report,
    history=ReportEvent,
    org_key="org_id",
    code="invalid_report_state",
    called="该随手拍",
    names=STATUS_NAMES,
    transitions=(
        Transition(ReportAction.accept, {ReportStatus.submitted}, ReportStatus.accepted, "受理"),
        Transition(ReportAction.reject, {ReportStatus.submitted}, ReportStatus.rejected, "受理"),
    ),
)


# --- who sees a report -----------------------------------------------------------------


def _visible(caller: Caller) -> ColumnElement[bool]:
    return or_(
        in_reach(col(Report.org_id), caller.paths(problems.SUPERVISION_ROLES)),
        col(Report.reporter_id) == caller.id,
    )


async def get_visible_report(session: AsyncSession, caller: Caller, report_id: int) -> Report:
    found = (
        await session.execute(select(Report).where(Report.id == report_id, _visible(caller)))
    ).scalar_one_or_none()
    if found is None:
        raise NotFound()
    return found


async def _can_see(session: AsyncSession, caller: Caller, record_id: int) -> bool:
    found = await session.execute(select(Report.id).where(Report.id == record_id, _visible(caller)))
    return found.first() is not None


register_record_type(REPORT_RECORD, _can_see)


async def get_reports_org(session: AsyncSession, caller: Caller, org_id: int) -> Org:
    """The `?org_id=` of GET /reports: an org whose reports the caller's roles see."""
    return await problems.get_supervised_org(session, caller, org_id)


# --- reporting ---------------------------------------------------------------------------


def _box(lat: float, lng: float, metres: float) -> tuple[float, float, float, float]:
    """(min lat, max lat, min lng, max lng) of a square `metres` around a position."""
    dlat = metres / METRES_PER_DEGREE
    dlng = metres / (METRES_PER_DEGREE * max(0.01, math.cos(math.radians(lat))))
    return lat - dlat, lat + dlat, lng - dlng, lng + dlng


async def _inside_district(
    session: AsyncSession, district_path: str, lat: float, lng: float
) -> bool:
    row = (
        await session.execute(
            select(
                func.min(Point.lat), func.max(Point.lat), func.min(Point.lng), func.max(Point.lng)
            )
            .join(Org, col(Org.id) == col(Point.org_id))
            .where(path_within(col(Org.path), district_path))
        )
    ).one()
    if row[0] is None:
        return True
    margin_lat = DISTRICT_MARGIN_M / METRES_PER_DEGREE
    margin_lng = DISTRICT_MARGIN_M / (METRES_PER_DEGREE * max(0.01, math.cos(math.radians(lat))))
    return (
        row[0] - margin_lat <= lat <= row[1] + margin_lat
        and row[2] - margin_lng <= lng <= row[3] + margin_lng
    )


async def create_report(
    session: AsyncSession,
    *,
    caller: Caller,
    data: ReportCreate,
    checker: WeChatGateway | None,
    now: datetime | None = None,
) -> Report:
    now = now or utcnow()
    community_id = data.community_id or (caller.home[0] if caller.home else None)
    if community_id is None:
        raise Unprocessable("community_required", "请选择发现问题所在的社区")
    community = await session.get(Org, community_id)
    if community is None or community.level != OrgLevel.community:
        raise Unprocessable("invalid_community", "所选社区不存在")
    district_path = f"/{path_ids(community.path)[0]}/"
    if caller.home is not None and not caller.home[1].startswith(district_path):
        # A resident reports in their own district; its offices are the ones they know.
        raise Unprocessable("outside_district", "只能反映本区内的问题")
    if not await _inside_district(session, district_path, data.lat, data.lng):
        raise Unprocessable("outside_district", "所在位置不在本区范围内")
    photos = await require_own_photos(session, caller=caller, photo_ids=data.photo_ids)
    verdict = await content_check.check_text(
        checker,
        author=caller.user,
        title="随手拍",
        content=data.description,
        refusal="反映内容未通过微信内容安全检测，请修改后再提交",
    )
    check_note = {
        content_check.TextVerdict.passed: None,
        content_check.TextVerdict.review: "微信内容安全检测建议人工复核",
    }.get(verdict, "未经微信内容安全检测，请人工复核")
    assert community.id is not None
    report = Report(
        reporter_id=caller.id,
        org_id=community.id,
        category=data.category,
        description=data.description,
        lat=data.lat,
        lng=data.lng,
        status=ReportStatus.submitted,
        check_note=check_note,
        created_at=now,
        updated_at=now,
    )
    session.add(report)
    await session.flush()
    assert report.id is not None
    session.add(
        ReportEvent(
            report_id=report.id,
            action=ReportAction.create,
            to_status=ReportStatus.submitted,
            actor_id=caller.id,
            at=now,
        )
    )
    await attach_photos(session, media=photos, record_type=REPORT_RECORD, record_id=report.id)
    await photo_reuse.fingerprint(
        session,
        media=photos,
        record_type=REPORT_RECORD,
        record_id=report.id,
        district_id=path_ids(community.path)[0],
    )
    await session.flush()
    await reports_messages.report_received(session, report=report)
    return report


# --- accepting and rejecting -----------------------------------------------------------------


async def _require_admin(session: AsyncSession, caller: Caller, report: Report) -> None:
    org = await session.get(Org, report.org_id)
    assert org is not None
    if not caller.reaches(org, ADMIN_ROLES):
        raise Forbidden("forbidden", "只有该社区及上级的管理员可以受理随手拍")


async def accept_report(
    session: AsyncSession,
    *,
    caller: Caller,
    report: Report,
    data: ReportAccept,
    now: datetime | None = None,
) -> Report:
    now = now or utcnow()
    await _require_admin(session, caller, report)
    LIFECYCLE.require(report, ReportAction.accept)
    assert report.id is not None
    photos = list(
        (
            await session.execute(
                select(Media)
                .join(MediaAttachment, col(MediaAttachment.media_id) == col(Media.id))
                .where(
                    MediaAttachment.record_type == REPORT_RECORD,
                    MediaAttachment.record_id == report.id,
                )
                .order_by(col(MediaAttachment.id))
            )
        ).scalars()
    )
    problem = await problems.create_problem(
        session,
        caller=caller,
        now=now,
        photos=photos,
        data=ProblemCreate(
            org_id=data.org_id,
            category=report.category,
            description=report.description,
            location=LocationInput(lat=report.lat, lng=report.lng),
            photo_ids=[m.id for m in photos if m.id is not None],
            deadline=data.deadline,
            deadline_working_days=data.deadline_working_days,
        ),
    )
    await lifecycle.move(
        session,
        LIFECYCLE,
        report,
        caller=caller,
        action=ReportAction.accept,
        now=now,
        values={"problem_id": problem.id, "handled_by_id": caller.id, "handled_at": now},
        audit_detail={"to": ReportStatus.accepted, "problem_id": problem.id},
        notify=lambda: reports_messages.report_accepted(session, report=report),
    )
    return report


async def reject_report(
    session: AsyncSession,
    *,
    caller: Caller,
    report: Report,
    data: ReportReject,
    now: datetime | None = None,
) -> Report:
    now = now or utcnow()
    await _require_admin(session, caller, report)
    LIFECYCLE.require(report, ReportAction.reject)
    await lifecycle.move(
        session,
        LIFECYCLE,
        report,
        caller=caller,
        action=ReportAction.reject,
        note=data.reason,
        now=now,
        values={"reject_reason": data.reason, "handled_by_id": caller.id, "handled_at": now},
        notify=lambda: reports_messages.report_rejected(session, report=report),
    )
    return report


# --- reading ---------------------------------------------------------------------------------


async def list_reports(
    session: AsyncSession,
    *,
    caller: Caller,
    org: Org | None,
    status: ReportStatus | None,
    mine: bool,
    offset: int,
    limit: int,
) -> tuple[list[Report], int]:
    if mine:
        conditions = [col(Report.reporter_id) == caller.id]
    else:
        if not caller.paths(problems.SUPERVISION_ROLES):
            raise Forbidden("forbidden", "只有管理员和督导员可以查看随手拍受理列表")
        conditions = [in_reach(col(Report.org_id), caller.paths(problems.SUPERVISION_ROLES))]
    if org is not None:
        conditions.append(in_reach(col(Report.org_id), [org.path]))
    if status is not None:
        conditions.append(col(Report.status) == status)
    return await paged_scalars(
        session,
        select(Report).where(*conditions).order_by(col(Report.id).desc()),
        offset=offset,
        limit=limit,
    )


async def reports_public(
    session: AsyncSession, reports: Sequence[Report], *, caller: Caller
) -> list[ReportPublic]:
    ids = [r.id for r in reports if r.id is not None]
    photos = await photo_ids_by_record(session, REPORT_RECORD, ids, viewer_id=caller.id)
    problem_ids = [r.problem_id for r in reports if r.problem_id is not None]
    states: dict[int, ProblemStatus] = (
        dict(
            (
                await session.execute(
                    select(Problem.id, Problem.status).where(col(Problem.id).in_(problem_ids))
                )
            ).all()
        )
        if problem_ids
        else {}
    )
    supervised = caller.paths(problems.SUPERVISION_ROLES)
    org_paths: dict[int, str] = (
        dict(
            (
                await session.execute(
                    select(Org.id, Org.path).where(col(Org.id).in_({r.org_id for r in reports}))
                )
            ).all()
        )
        if reports
        else {}
    )
    names = await user_names(session, (r.reporter_id for r in reports))
    reuses = await photo_reuse.reuses_of(session, REPORT_RECORD, ids)
    out = []
    for r in reports:
        assert r.id is not None
        # The reporter's name and the check's note are for the admins handling it.
        handler = any(is_within(org_paths[r.org_id], p) for p in supervised)
        out.append(
            ReportPublic(
                id=r.id,
                org_id=r.org_id,
                category=r.category,
                description=r.description,
                location=Location(lat=r.lat, lng=r.lng),
                status=r.status,
                photo_ids=photos.get(r.id, []),
                problem_id=r.problem_id,
                problem_status=states.get(r.problem_id) if r.problem_id else None,
                reject_reason=r.reject_reason,
                reporter_name=names.get(r.reporter_id) if handler else None,
                check_note=r.check_note if handler else None,
                possible_reuse=reuses.get(r.id, []) if handler else [],
                handled_at=r.handled_at,
                created_at=r.created_at,
            )
        )
    return out


async def nearby(
    session: AsyncSession, *, caller: Caller, report: Report, now: datetime | None = None
) -> list[NearbyItem]:
    """Reports and unresolved problems within NEARBY_M of the report, filed in the
    NEARBY_DAYS before now, that the caller sees: possible duplicates. A box on the
    (lat, lng) indexes narrows the rows, the exact distance decides."""
    now = now or utcnow()
    supervised = caller.paths(problems.SUPERVISION_ROLES)
    if not supervised:
        raise Forbidden("forbidden", "只有管理员和督导员可以查看附近的重复线索")
    since = now - timedelta(days=NEARBY_DAYS)
    lat0, lat1, lng0, lng1 = _box(report.lat, report.lng, NEARBY_M)
    near_reports = (
        await session.execute(
            select(Report).where(
                col(Report.lat).between(lat0, lat1),
                col(Report.lng).between(lng0, lng1),
                col(Report.created_at) >= since,
                col(Report.id) != report.id,
                in_reach(col(Report.org_id), supervised),
            )
        )
    ).scalars()
    near_problems = (
        await session.execute(
            select(Problem).where(
                col(Problem.lat).between(lat0, lat1),
                col(Problem.lng).between(lng0, lng1),
                col(Problem.created_at) >= since,
                col(Problem.status).in_(UNRESOLVED),
                in_reach(col(Problem.org_id), supervised),
            )
        )
    ).scalars()
    items: list[NearbyItem] = []
    for r in near_reports:
        assert r.id is not None
        items.append(
            NearbyItem(
                kind=NearbyKind.report,
                id=r.id,
                category=r.category,
                description=r.description,
                status=r.status,
                location=Location(lat=r.lat, lng=r.lng),
                distance_m=round(haversine_m(report.lat, report.lng, r.lat, r.lng), 1),
                created_at=r.created_at,
            )
        )
    for p in near_problems:
        assert p.id is not None and p.lat is not None and p.lng is not None
        items.append(
            NearbyItem(
                kind=NearbyKind.problem,
                id=p.id,
                category=p.category,
                description=p.description,
                status=p.status,
                location=Location(lat=p.lat, lng=p.lng),
                distance_m=round(haversine_m(report.lat, report.lng, p.lat, p.lng), 1),
                created_at=p.created_at,
            )
        )
    return sorted(
        (i for i in items if i.distance_m <= NEARBY_M), key=lambda i: (i.distance_m, i.kind)
    )
