from typing import Annotated

from fastapi import APIRouter, Request

from app.core.errors import PROBLEM_RESPONSES
from app.edge.route import AppRoute
from app.models.org import Org
from app.models.report import (
    NearbyItem,
    Report,
    ReportAccept,
    ReportCreate,
    ReportPublic,
    ReportReject,
    ReportStatus,
)
from app.routers.deps import (
    CurrentCaller,
    Page,
    PageDep,
    SessionDep,
    SettingsDep,
    Visible,
    WeChatDep,
    org_filter,
    page_of,
)
from app.services import content_check
from app.services import reports as service

# /reports: residents' reports (随手拍).
router = APIRouter(tags=["reports"], route_class=AppRoute, responses=PROBLEM_RESPONSES)

ReportsOrg = Annotated[Org | None, org_filter(CurrentCaller, service.get_reports_org)]


@router.post("/reports", status_code=201, response_model=ReportPublic)
async def create_report(
    request: Request,
    data: ReportCreate,
    session: SessionDep,
    caller: CurrentCaller,
    settings: SettingsDep,
    wechat: WeChatDep,
) -> ReportPublic:
    """随手拍：登录即可反映问题，须附至少一张本人上传的照片和位置（须在本区内，否则 422
    `outside_district`）。内容经微信内容安全检测（`risky` 为 422 `content_rejected`）。
    每人每分钟最多 `REPORT_RATE_PER_MINUTE` 条（429 `rate_limited`）。"""
    await request.app.state.ratelimiter.hit_per_minute(
        f"report:{caller.id}", settings.report_rate_per_minute
    )
    report = await service.create_report(
        session,
        caller=caller,
        data=data,
        checker=content_check.text_checker(settings, wechat),
    )
    (public,) = await service.reports_public(session, [report], caller=caller)
    return public


@router.get("/reports", response_model=Page[ReportPublic])
async def list_reports(
    session: SessionDep,
    caller: CurrentCaller,
    paging: PageDep,
    org: ReportsOrg,
    status: ReportStatus | None = None,
) -> Page[ReportPublic]:
    """随手拍受理列表：管理范围内的随手拍（管理员和督导员）。"""
    reports, total = await service.list_reports(
        session,
        caller=caller,
        org=org,
        status=status,
        mine=False,
        offset=paging.offset,
        limit=paging.page_size,
    )
    return page_of(await service.reports_public(session, reports, caller=caller), total, paging)


@router.get("/reports/mine", response_model=Page[ReportPublic])
async def my_reports(
    session: SessionDep,
    caller: CurrentCaller,
    paging: PageDep,
    status: ReportStatus | None = None,
) -> Page[ReportPublic]:
    """我反映的随手拍及其处理进度（受理后附所转问题的状态）。"""
    reports, total = await service.list_reports(
        session,
        caller=caller,
        org=None,
        status=status,
        mine=True,
        offset=paging.offset,
        limit=paging.page_size,
    )
    return page_of(await service.reports_public(session, reports, caller=caller), total, paging)


@router.get("/reports/{report_id}", response_model=ReportPublic)
async def get_report(
    report: Visible[Report], session: SessionDep, caller: CurrentCaller
) -> ReportPublic:
    (public,) = await service.reports_public(session, [report], caller=caller)
    return public


@router.get("/reports/{report_id}/nearby", response_model=list[NearbyItem])
async def nearby(
    report: Visible[Report], session: SessionDep, caller: CurrentCaller
) -> list[NearbyItem]:
    """可能重复的线索：50 米内、近 7 天的随手拍和未销号的问题，按距离排序。"""
    return await service.nearby(session, caller=caller, report=report)


@router.post("/reports/{report_id}/accept", response_model=ReportPublic)
async def accept_report(
    report: Visible[Report], data: ReportAccept, session: SessionDep, caller: CurrentCaller
) -> ReportPublic:
    """受理：转为督办问题（责任单位、整改期限二选一），通知反映人。两人同时受理只生成一个问题。"""
    report = await service.accept_report(session, caller=caller, report=report, data=data)
    (public,) = await service.reports_public(session, [report], caller=caller)
    return public


@router.post("/reports/{report_id}/reject", response_model=ReportPublic)
async def reject_report(
    report: Visible[Report], data: ReportReject, session: SessionDep, caller: CurrentCaller
) -> ReportPublic:
    """不予受理，须写明原因，通知反映人。"""
    report = await service.reject_report(session, caller=caller, report=report, data=data)
    (public,) = await service.reports_public(session, [report], caller=caller)
    return public
