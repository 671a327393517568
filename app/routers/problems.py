from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Response

from app.core.errors import PROBLEM_RESPONSES
from app.edge.route import AppRoute
from app.models.common import IsoWeek
from app.models.org import Org
from app.models.problem import (
    EscalationLevel,
    Point,
    PointCreate,
    PointKind,
    PointPublic,
    Problem,
    ProblemCreate,
    ProblemDetail,
    ProblemPublic,
    ProblemRectify,
    ProblemStatus,
    ProblemVerify,
    WeeklyBulletin,
)
from app.routers.deps import (
    CurrentCaller,
    OrgInReach,
    Page,
    PageDep,
    ProblemsReader,
    SessionDep,
    SettingsDep,
    StatsReader,
    Visible,
    org_filter,
    page_of,
)
from app.services import bulletins as bulletin_service
from app.services import problems as service

# /points, /problems and the weekly bulletin.
router = APIRouter(tags=["supervision"], route_class=AppRoute, responses=PROBLEM_RESPONSES)

# `?org_id=` of both lists: an org whose points and problems the caller sees.
# The org a weekly bulletin covers: one the caller's admin roles reach, else 404.
BulletinOrg = Annotated[Org, OrgInReach(StatsReader)]
SupervisedOrg = Annotated[Org | None, org_filter(ProblemsReader, service.get_supervised_org)]
WeekQuery = Annotated[
    IsoWeek | None,
    Query(description="ISO 周（北京时间），如 2026-W47；默认本周"),
]


@router.post("/points", status_code=201, response_model=PointPublic)
async def create_point(
    data: PointCreate, session: SessionDep, caller: CurrentCaller
) -> PointPublic:
    """设置点位（社区、街道或单位的管理员及其上级）；包抓责任人须在管理范围内。"""
    point = await service.create_point(session, caller=caller, data=data)
    (public,) = await service.points_public(session, [point])
    return public


@router.get("/points", response_model=Page[PointPublic])
async def list_points(
    session: SessionDep,
    caller: ProblemsReader,
    paging: PageDep,
    org: SupervisedOrg,
    kind: PointKind | None = None,
) -> Page[PointPublic]:
    """管理范围内的点位（管理员和督导员）。"""
    points, total = await service.list_points(
        session,
        caller=caller,
        org=org,
        kind=kind,
        offset=paging.offset,
        limit=paging.page_size,
    )
    return page_of(await service.points_public(session, points), total, paging)


@router.get("/points/{point_id:int}", response_model=PointPublic)
async def get_point(point: Visible[Point], session: SessionDep) -> PointPublic:
    (public,) = await service.points_public(session, [point])
    return public


@router.post("/problems", status_code=201, response_model=ProblemPublic)
async def create_problem(
    data: ProblemCreate, session: SessionDep, caller: CurrentCaller, settings: SettingsDep
) -> ProblemPublic:
    """督导员或管理员提交问题（督办单），状态为待整改。

    整改期限二选一：`deadline`（日期，含当天，北京时间）或 `deadline_working_days`
    （自提交次日起第 N 个工作日，按国务院节假日安排含调休；节假日安排尚未公布的年份为
    422 `calendar_year_unknown`）。
    """
    problem = await service.create_problem(session, caller=caller, data=data)
    return await service.problem_public(
        session,
        problem,
        district_after_days=settings.problem_district_escalation_days,
        viewer_id=caller.id,
    )


@router.get("/problems", response_model=Page[ProblemPublic])
async def list_problems(
    session: SessionDep,
    caller: ProblemsReader,
    settings: SettingsDep,
    paging: PageDep,
    org: SupervisedOrg,
    status: ProblemStatus | None = None,
    overdue: Annotated[bool | None, Query(description="待整改或已整改未复核，且已过期限")] = None,
    escalated_to: Annotated[
        EscalationLevel | None,
        Query(description="当前升级到的层级：street 逾期未满设定天数，district 逾期更久"),
    ] = None,
) -> Page[ProblemPublic]:
    """管理范围内的问题（管理员和督导员），每条带 `overdue` 和 `escalation_level`。"""
    items, total = await service.list_problems(
        session,
        caller=caller,
        status=status,
        overdue=overdue,
        escalated_to=escalated_to,
        org=org,
        district_after_days=settings.problem_district_escalation_days,
        offset=paging.offset,
        limit=paging.page_size,
    )
    return page_of(items, total, paging)


@router.get("/problems/{problem_id}", response_model=ProblemDetail)
async def get_problem(
    problem: Visible[Problem], session: SessionDep, caller: ProblemsReader, settings: SettingsDep
) -> ProblemDetail:
    """问题详情：整改前后照片分列，附每一步的处理记录。"""
    return await service.problem_detail(
        session,
        problem=problem,
        district_after_days=settings.problem_district_escalation_days,
        viewer_id=caller.id,
    )


@router.post("/problems/{problem_id}/rectify", response_model=ProblemPublic)
async def rectify_problem(
    problem: Visible[Problem],
    data: ProblemRectify,
    session: SessionDep,
    caller: CurrentCaller,
    settings: SettingsDep,
) -> ProblemPublic:
    """责任单位的管理员提交整改：至少一张整改后照片和整改说明。"""
    problem = await service.rectify_problem(session, caller=caller, problem=problem, data=data)
    return await service.problem_public(
        session,
        problem,
        district_after_days=settings.problem_district_escalation_days,
        viewer_id=caller.id,
    )


@router.post("/problems/{problem_id}/verify", response_model=ProblemPublic)
async def verify_problem(
    problem: Visible[Problem],
    data: ProblemVerify,
    session: SessionDep,
    caller: CurrentCaller,
    settings: SettingsDep,
) -> ProblemPublic:
    """复核：督导员或责任单位的上级管理员通过则销号，不通过须写明原因并退回重新整改。"""
    problem = await service.verify_problem(session, caller=caller, problem=problem, data=data)
    return await service.problem_public(
        session,
        problem,
        district_after_days=settings.problem_district_escalation_days,
        viewer_id=caller.id,
    )


@router.get("/bulletins/weekly", response_model=WeeklyBulletin)
async def weekly_bulletin(
    session: SessionDep,
    org: BulletinOrg,
    settings: SettingsDep,
    week: WeekQuery = None,
) -> WeeklyBulletin:
    """周通报：各下级组织本周发现、整改、销号的问题数和周末逾期未销号的问题数，
    以及本周督导巡查情况（`inspections`）。"""
    return await bulletin_service.weekly_bulletin(
        session, org=org, week=week, liaison_quota=settings.liaison_visits_per_week
    )


@router.get(
    "/bulletins/weekly.xlsx",
    response_class=Response,
    responses={200: {"content": {bulletin_service.XLSX_MEDIA_TYPE: {}}, "description": "周通报表"}},
)
async def weekly_bulletin_xlsx(
    session: SessionDep,
    org: BulletinOrg,
    settings: SettingsDep,
    week: WeekQuery = None,
) -> Response:
    """周通报的 Excel 台账（问题督办表，下接督导巡查表）。"""
    bulletin = await bulletin_service.weekly_bulletin(
        session, org=org, week=week, liaison_quota=settings.liaison_visits_per_week
    )
    content = await bulletin_service.bulletin_xlsx(bulletin)
    ascii_name = f"bulletin-{bulletin.org_id}-{bulletin.week}.xlsx"
    utf8_name = quote(bulletin_service.xlsx_filename(bulletin))
    return Response(
        content,
        media_type=bulletin_service.XLSX_MEDIA_TYPE,
        headers={
            "Content-Disposition": (
                f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{utf8_name}"
            )
        },
    )
