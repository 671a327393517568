from typing import Annotated

from fastapi import APIRouter

from app.core.errors import PROBLEM_RESPONSES
from app.edge.route import AppRoute
from app.models.common import Month
from app.models.household_visit import HouseholdStats, HouseholdVisitCreate, HouseholdVisitPublic
from app.models.org import Org
from app.routers.deps import CurrentCaller, OrgInReach, ReadingSessionDep, SessionDep, StatsReader
from app.services import household_visits as service

# /household-visits: household surveys (入户调查) and their figures.
router = APIRouter(tags=["assessment"], route_class=AppRoute, responses=PROBLEM_RESPONSES)


@router.post("/household-visits", status_code=201, response_model=HouseholdVisitPublic)
async def record_household_visit(
    data: HouseholdVisitCreate, session: SessionDep, caller: CurrentCaller
) -> HouseholdVisitPublic:
    """入户调查：管理员或督导员（管理范围覆盖该社区）记录一户的知晓情况和满意程度。
    同一户每月只记一次（409 `household_already_visited`）；须是社区（422 `invalid_community`）。"""
    visit = await service.record_visit(session, caller=caller, data=data)
    return service.visit_public(visit)


@router.get("/stats/household-visits", response_model=HouseholdStats)
async def household_stats(
    session: ReadingSessionDep,
    caller: StatsReader,
    org: Annotated[Org, OrgInReach(StatsReader)],
    month: Month | None = None,
) -> HouseholdStats:
    """入户调查统计（默认本月，北京时间）：该组织及各下级组织的入户户数、社区覆盖率、
    知晓率、满意率（4、5 分的占比）和平均满意程度。"""
    return await service.household_stats(session, org=org, month=month)
