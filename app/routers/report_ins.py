from typing import Annotated

from fastapi import APIRouter, Query, Response

from app.core.errors import PROBLEM_RESPONSES
from app.core.timeutil import current_year
from app.edge.route import AppRoute
from app.models.common import Month
from app.models.org import Org
from app.models.report_in import (
    ReportInCreate,
    ReportInFigures,
    ReportInPublic,
    ReportInYearFigures,
)
from app.models.user import PEOPLE_ROLES
from app.routers.deps import (
    CurrentCaller,
    OrgInReach,
    Page,
    PageDep,
    PeopleCaller,
    PeopleStatsReader,
    ReadingSessionDep,
    SessionDep,
    org_filter,
    org_of_people,
    page_of,
)
from app.services import report_ins as report_service

# /report-ins: a member's monthly report to the home community, and the admins' list.
router = APIRouter(tags=["tasks"], route_class=AppRoute, responses=PROBLEM_RESPONSES)


@router.post(
    "/report-ins",
    status_code=201,
    response_model=ReportInPublic,
    responses={200: {"model": ReportInPublic, "description": "本月已报到：返回原记录"}},
)
async def report_in(
    data: ReportInCreate, session: SessionDep, caller: CurrentCaller, response: Response
) -> ReportInPublic:
    """到所属社区报到，每个自然月（北京时间）一次：首次 201，之后 200 返回同一记录。"""
    record, created = await report_service.report_in(session, caller=caller, data=data)
    if not created:
        response.status_code = 200
    (public,) = await report_service.reports_public(session, [record], viewer_id=caller.id)
    return public


@router.get("/report-ins", response_model=Page[ReportInPublic])
async def list_report_ins(
    session: SessionDep,
    caller: PeopleCaller,
    paging: PageDep,
    org: Annotated[Org | None, org_filter(PeopleCaller, find=org_of_people)],
    month: Annotated[
        Month | None,
        Query(description="YYYY-MM，默认本月（北京时间）"),
    ] = None,
) -> Page[ReportInPublic]:
    records, total = await report_service.list_report_ins(
        session,
        caller=caller,
        month=month,
        org=org,
        offset=paging.offset,
        limit=paging.page_size,
    )
    items = await report_service.reports_public(session, records, viewer_id=caller.id)
    return page_of(items, total, paging)


@router.get("/stats/report-ins", response_model=ReportInFigures)
async def report_in_figures(
    session: ReadingSessionDep,
    caller: PeopleStatsReader,
    org: Annotated[Org, OrgInReach(PeopleStatsReader, PEOPLE_ROLES)],
    month: Annotated[Month | None, Query(description="YYYY-MM，默认本月（北京时间）")] = None,
) -> ReportInFigures:
    """单位（本单位党员，无论住在哪个社区）、社区或以上组织的党员本月报到率，以及尚未
    报到的党员名单（手机号打码）。"""
    return await report_service.report_in_figures(session, caller=caller, org=org, month=month)


@router.get("/stats/report-ins/year", response_model=ReportInYearFigures)
async def report_in_year_figures(
    session: ReadingSessionDep,
    caller: PeopleStatsReader,
    org: Annotated[Org, OrgInReach(PeopleStatsReader, PEOPLE_ROLES)],
    year: Annotated[int | None, Query(ge=2000, le=2100, description="默认今年（北京时间）")] = None,
) -> ReportInYearFigures:
    """单位（本单位党员）、社区或以上组织的党员当年逐月报到情况：各月报到人数和报到率、
    全年报到率，以及有月份未报到的党员及其缺报月份（手机号打码；今年只算到本月）。"""
    return await report_service.report_in_year_figures(
        session, caller=caller, org=org, year=year or current_year()
    )
