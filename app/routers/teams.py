from typing import Annotated

from fastapi import APIRouter

from app.core.errors import PROBLEM_RESPONSES
from app.edge.route import AppRoute
from app.models.org import Org
from app.models.team import MemberReview, Team, TeamCreate, TeamDetail, TeamMemberPublic, TeamPublic
from app.routers.deps import (
    AdminCaller,
    CurrentCaller,
    IdPath,
    Page,
    PageDep,
    SessionDep,
    Visible,
    org_filter,
    page_of,
)
from app.services import teams as service

# /teams: volunteer service teams (志愿服务队).
router = APIRouter(tags=["teams"], route_class=AppRoute, responses=PROBLEM_RESPONSES)

TeamsOrg = Annotated[Org | None, org_filter(CurrentCaller, service.get_org_of_teams)]


@router.post("/teams", status_code=201, response_model=TeamPublic)
async def create_volunteer_team(
    data: TeamCreate, session: SessionDep, caller: AdminCaller
) -> TeamPublic:
    """管理员为管理范围内的组织建立志愿服务队（品牌、队长、服务类型）。队长自动入队。"""
    team = await service.create_team(session, caller=caller, data=data)
    (public,) = await service.to_public(session, [team])
    return public


@router.get("/teams", response_model=Page[TeamPublic])
async def list_volunteer_teams(
    session: SessionDep, caller: CurrentCaller, paging: PageDep, org: TeamsOrg
) -> Page[TeamPublic]:
    """管理范围内的队伍，本人所在的队伍，以及本区（居住或志愿登记的社区所在区）的队伍。"""
    teams, total = await service.list_teams(
        session, caller=caller, org=org, offset=paging.offset, limit=paging.page_size
    )
    return page_of(await service.to_public(session, teams), total, paging)


@router.get("/teams/{team_id}", response_model=TeamDetail)
async def get_volunteer_team(
    team: Visible[Team], session: SessionDep, caller: CurrentCaller
) -> TeamDetail:
    """队伍、队员及其服务记录（完成的订单数和记入的志愿时长）。"""
    return await service.detail(session, caller=caller, team=team)


@router.post("/teams/{team_id}/join", status_code=201, response_model=TeamMemberPublic)
async def join_volunteer_team(
    team: Visible[Team], session: SessionDep, caller: CurrentCaller
) -> TeamMemberPublic:
    """审核通过的志愿者申请入队，由队长批准；非志愿者为 403 `not_volunteer`。"""
    return await service.join(session, caller=caller, team=team)


@router.post("/teams/{team_id}/members/{user_id}/review", response_model=TeamMemberPublic)
async def review_team_member(
    team: Visible[Team],
    user_id: IdPath,
    data: MemberReview,
    session: SessionDep,
    caller: CurrentCaller,
) -> TeamMemberPublic:
    """队长（或该组织的管理员）批准或拒绝入队申请。"""
    return await service.review_member(
        session, caller=caller, team=team, user_id=user_id, data=data
    )
