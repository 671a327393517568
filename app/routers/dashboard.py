from typing import Annotated

from fastapi import APIRouter, Query

from app.core.errors import PROBLEM_RESPONSES
from app.edge.route import AppRoute
from app.models.common import Month
from app.models.dashboard import Dashboard, DashboardRanking, DashboardSort, SortOrder
from app.models.org import Org
from app.models.user import PEOPLE_ROLES
from app.routers.deps import (
    OrgInReach,
    PeopleStatsReader,
    ReadingSessionDep,
    SettingsDep,
)
from app.services import dashboard as service

# /dashboard and /dashboard/children.
router = APIRouter(tags=["dashboard"], route_class=AppRoute, responses=PROBLEM_RESPONSES)

# The org (with all below it) a stats reader asks about: for a unit's secretary,
# their unit (its figures are its members').
StatsOrg = Annotated[Org, OrgInReach(PeopleStatsReader, PEOPLE_ROLES)]
# Years as GET /stats/wish-quota takes them, so every month maps to valid bounds.
MonthQuery = Annotated[
    Month | None,
    Query(description="YYYY-MM，默认本月（北京时间）"),
]


@router.get("/dashboard", response_model=Dashboard)
async def dashboard(
    session: ReadingSessionDep,
    settings: SettingsDep,
    org: StatsOrg,
    month: MonthQuery = None,
) -> Dashboard:
    """组织（含全部下级）的工作台：花名册、报到、签到、志愿时长（按月），心愿、问题（此刻状态），稿件（按月）。"""
    return await service.dashboard(
        session,
        org=org,
        month=month,
        district_after_days=settings.problem_district_escalation_days,
    )


@router.get("/dashboard/children", response_model=DashboardRanking)
async def dashboard_children(
    session: ReadingSessionDep,
    settings: SettingsDep,
    org: StatsOrg,
    month: MonthQuery = None,
    sort: Annotated[
        DashboardSort, Query(description="按哪项指标排名")
    ] = DashboardSort.report_in_rate,
    order: Annotated[
        SortOrder, Query(description="desc 从高到低（默认），asc 从低到高；无值者总在最后")
    ] = SortOrder.desc,
) -> DashboardRanking:
    """各直属下级组织（含其全部下级）的同一组指标，按 sort 排名。"""
    return await service.ranking(
        session,
        org=org,
        month=month,
        sort=sort,
        order=order,
        district_after_days=settings.problem_district_escalation_days,
    )
