from datetime import date
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Response

from app.core.errors import PROBLEM_RESPONSES
from app.edge.route import AppRoute
from app.models.common import IsoDate, IsoWeek
from app.models.inspection import (
    Checklist,
    ChecklistPublic,
    ChecklistPut,
    Inspection,
    InspectionCreate,
    InspectionPublic,
    InspectionTeam,
    TeamCreate,
    TeamMemberAdd,
    TeamPublic,
)
from app.models.org import Org
from app.models.problem import InspectionStats, PointKind
from app.models.user import MAX_ID
from app.routers.deps import (
    CurrentCaller,
    IdPath,
    OrgInReach,
    Page,
    PageDep,
    ProblemsReader,
    ReadingSessionDep,
    SessionDep,
    SettingsDep,
    StatsReader,
    Visible,
    org_filter,
    page_of,
)
from app.services import inspection_teams as team_service
from app.services import inspections as service

# /checklists and /inspections (督导巡查).
router = APIRouter(tags=["inspections"], route_class=AppRoute, responses=PROBLEM_RESPONSES)

StatsOrg = Annotated[Org, OrgInReach(StatsReader)]
WeekQuery = Annotated[
    IsoWeek | None, Query(description="ISO 周（北京时间），如 2026-W47；默认本周")
]
InspectedOrg = Annotated[Org | None, org_filter(ProblemsReader, service.get_inspected_org)]


def _checklist_public(checklist: Checklist) -> ChecklistPublic:
    return ChecklistPublic.model_validate(checklist, from_attributes=True)


@router.put("/checklists/{kind}", response_model=ChecklistPublic)
async def put_checklist(
    kind: PointKind, data: ChecklistPut, session: SessionDep, caller: CurrentCaller
) -> ChecklistPublic:
    """区管理员设置某类点位的检查标准。每次修改生成新版本，已有巡查记录保留其所依据的版本。"""
    checklist = await service.put_checklist(session, caller=caller, kind=kind, data=data)
    return _checklist_public(checklist)


@router.get("/checklists/{kind}", response_model=ChecklistPublic)
async def get_checklist(
    kind: PointKind, session: SessionDep, caller: CurrentCaller
) -> ChecklistPublic:
    """本区该类点位现行的检查标准；尚未设置为 404 `checklist_not_found`。"""
    return _checklist_public(await service.get_checklist(session, caller=caller, kind=kind))


@router.post("/inspections", status_code=201, response_model=InspectionPublic)
async def record_visit(
    data: InspectionCreate, session: SessionDep, caller: CurrentCaller
) -> InspectionPublic:
    """记录一次巡查（督导员、包联领导或点位所属组织的管理员）。

    须在点位的定位范围内（422 `outside_geofence`），逐项填写该类点位现行检查标准的结果
    （不在标准中的项 422 `unknown_checklist_item`，漏填 422 `incomplete_results`）；
    未通过的检查项可在 `problems` 中当场提交问题，与巡查记录同一事务保存。
    `team_id`：代表的督导组，须是其成员且该组负责点位（否则 422 `invalid_team`）。"""
    visit = await service.record_visit(session, caller=caller, data=data)
    (public,) = await service.inspections_public(
        session, [visit], viewer_id=caller.id, supervisor=service.supervises(caller)
    )
    return public


@router.get("/inspections", response_model=Page[InspectionPublic])
async def list_inspections(
    session: SessionDep,
    caller: ProblemsReader,
    paging: PageDep,
    org: InspectedOrg,
    point_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    team_id: Annotated[int | None, Query(ge=1, le=MAX_ID, description="某督导组的巡查")] = None,
    since: Annotated[
        IsoDate | None, Query(alias="from", description="起始日期（北京时间，含）")
    ] = (None),
    until: Annotated[IsoDate | None, Query(alias="to", description="截止日期（北京时间，含）")] = (
        None
    ),
) -> Page[InspectionPublic]:
    """管理范围内的巡查记录（管理员和督导员），以及本人记录的巡查，按时间倒序。"""
    visits, total = await service.list_inspections(
        session,
        caller=caller,
        org=org,
        point_id=point_id,
        team_id=team_id,
        since=date.fromisoformat(since) if since else None,
        until=date.fromisoformat(until) if until else None,
        offset=paging.offset,
        limit=paging.page_size,
    )
    items = await service.inspections_public(
        session, visits, viewer_id=caller.id, supervisor=service.supervises(caller)
    )
    return page_of(items, total, paging)


@router.get(
    "/inspections/{inspection_id}.xlsx",
    response_class=Response,
    responses={200: {"content": {service.XLSX_MEDIA_TYPE: {}}, "description": "巡查纪实表"}},
)
async def visit_record_xlsx(
    inspection: Visible[Inspection], session: SessionDep, caller: ProblemsReader
) -> Response:
    """一次巡查的纪实表（Excel，一页）：点位、时间、巡查人、逐项结果、当场提交的问题、签字栏。"""
    content = await service.visit_record_xlsx(session, inspection=inspection, viewer_id=caller.id)
    name = f"inspection-{inspection.id}.xlsx"
    utf8 = quote(f"巡查纪实表-{inspection.id}.xlsx")
    return Response(
        content,
        media_type=service.XLSX_MEDIA_TYPE,
        headers={
            "Content-Disposition": f"attachment; filename=\"{name}\"; filename*=UTF-8''{utf8}"
        },
    )


@router.get("/stats/inspections", response_model=InspectionStats)
async def inspection_stats(
    session: ReadingSessionDep,
    org: StatsOrg,
    settings: SettingsDep,
    week: WeekQuery = None,
) -> InspectionStats:
    """督导巡查周统计：各下级组织本周巡查的点位数、巡查次数、达标率、未通过项和当场提交的问题；
    包联领导本周巡查次数与 `LIAISON_VISITS_PER_WEEK` 对照，未完成者在前。"""
    return await service.weekly_stats(
        session, org=org, week=week, quota=settings.liaison_visits_per_week
    )


@router.get("/inspections/{inspection_id}", response_model=InspectionPublic)
async def get_inspection(
    inspection: Visible[Inspection], session: SessionDep, caller: ProblemsReader
) -> InspectionPublic:
    (public,) = await service.inspections_public(
        session, [inspection], viewer_id=caller.id, supervisor=service.supervises(caller)
    )
    return public


# --- supervision teams (督导组) ---------------------------------------------------------------

TeamsOrg = Annotated[Org | None, org_filter(CurrentCaller, service.get_inspected_org)]


@router.post("/inspection-teams", status_code=201, response_model=TeamPublic)
async def create_team(data: TeamCreate, session: SessionDep, caller: CurrentCaller) -> TeamPublic:
    """区或街道的管理员组建督导组（成员须在管理范围内，组长须为成员）。"""
    team = await team_service.create_team(session, caller=caller, data=data)
    (public,) = await team_service.teams_public(session, [team])
    return public


@router.get("/inspection-teams", response_model=Page[TeamPublic])
async def list_teams(
    session: SessionDep, caller: CurrentCaller, paging: PageDep, org: TeamsOrg
) -> Page[TeamPublic]:
    """管理范围内的督导组，以及本人所在的督导组。"""
    teams, total = await team_service.list_teams(
        session, caller=caller, org=org, offset=paging.offset, limit=paging.page_size
    )
    return page_of(await team_service.teams_public(session, teams), total, paging)


@router.get("/inspection-teams/{team_id}", response_model=TeamPublic)
async def get_team(team: Visible[InspectionTeam], session: SessionDep) -> TeamPublic:
    (public,) = await team_service.teams_public(session, [team])
    return public


@router.post("/inspection-teams/{team_id}/members", response_model=TeamPublic)
async def add_team_member(
    team: Visible[InspectionTeam], data: TeamMemberAdd, session: SessionDep, caller: CurrentCaller
) -> TeamPublic:
    """增加成员（组建该督导组的区、街道及上级管理员）；已是成员为 409 `already_member`。"""
    team = await team_service.add_member(session, caller=caller, team=team, user_id=data.user_id)
    (public,) = await team_service.teams_public(session, [team])
    return public


@router.delete("/inspection-teams/{team_id}/members/{user_id}", response_model=TeamPublic)
async def remove_team_member(
    team: Visible[InspectionTeam], user_id: IdPath, session: SessionDep, caller: CurrentCaller
) -> TeamPublic:
    """移出成员；移出组长则该组暂无组长。"""
    team = await team_service.remove_member(session, caller=caller, team=team, user_id=user_id)
    (public,) = await team_service.teams_public(session, [team])
    return public
