from typing import Annotated

from fastapi import APIRouter, Query

from app.core.errors import PROBLEM_RESPONSES
from app.core.timeutil import current_year
from app.edge.route import AppRoute
from app.models.org import Org
from app.models.pairing import (
    Liaison,
    LiaisonCreate,
    LiaisonEnd,
    LiaisonKind,
    LiaisonPublic,
    Pairing,
    PairingCreate,
    PairingEnd,
    PairingEventPublic,
    PairingPublic,
    PairingStats,
    PairingStatus,
)
from app.models.user import MAX_ID, PEOPLE_ROLES
from app.routers.deps import (
    AdminCaller,
    InReach,
    OrgInReach,
    Page,
    PageDep,
    PeopleCaller,
    PeopleStatsReader,
    ReadingSessionDep,
    SessionDep,
    Visible,
    org_filter,
    page_of,
)
from app.services import liaisons as liaison_service
from app.services import pairings as service

# /pairings (结对共建) and /liaisons (包联).
router = APIRouter(tags=["pairings"], route_class=AppRoute, responses=PROBLEM_RESPONSES)


@router.post("/pairings", status_code=201, response_model=PairingPublic)
async def create_pairing(
    data: PairingCreate, session: SessionDep, caller: AdminCaller
) -> PairingPublic:
    """单位与社区结对（区管理员，或同时管理二者的街道管理员）。同一单位与同一社区同时只有
    一个进行中的结对：409 `already_paired`。"""
    pairing = await service.create_pairing(session, caller=caller, data=data)
    (public,) = await service.to_public(session, [pairing])
    return public


@router.get("/pairings", response_model=Page[PairingPublic])
async def list_pairings(
    session: SessionDep,
    caller: PeopleCaller,
    paging: PageDep,
    unit_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    community_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    status: PairingStatus | None = None,
) -> Page[PairingPublic]:
    """管理范围内社区或单位的结对；单位管理员：本单位的结对。"""
    items, total = await service.list_pairings(
        session,
        caller=caller,
        unit_id=unit_id,
        community_id=community_id,
        status=status,
        offset=paging.offset,
        limit=paging.page_size,
    )
    return page_of(await service.to_public(session, items), total, paging)


@router.post("/pairings/{pairing_id}/end", response_model=PairingPublic)
async def end_pairing(
    pairing: Visible[Pairing], data: PairingEnd, session: SessionDep, caller: AdminCaller
) -> PairingPublic:
    """结束结对（保留记录与历史）。已结束的再结束：409 `invalid_pairing_state`。"""
    pairing = await service.end_pairing(session, caller=caller, pairing=pairing, data=data)
    (public,) = await service.to_public(session, [pairing])
    return public


@router.get("/pairings/{pairing_id}/history", response_model=list[PairingEventPublic])
async def pairing_history(
    pairing: Visible[Pairing], session: SessionDep
) -> list[PairingEventPublic]:
    """结对的变更记录（建立、结束），由早到晚，含操作人。"""
    return await service.history(session, pairing)


@router.post("/liaisons", status_code=201, response_model=LiaisonPublic)
async def create_liaison(
    data: LiaisonCreate, session: SessionDep, caller: AdminCaller
) -> LiaisonPublic:
    """安排领导（`user_id`）或单位（`unit_id`，二选一）包联街道或社区（区管理员）。
    两者都填或都不填：422 `invalid_liaison_party`；单位不在范围内：422 `invalid_unit`。
    单位包联由其党员（单位在其子树内的人员）巡查，计入该单位。"""
    liaison = await liaison_service.create_liaison(session, caller=caller, data=data)
    (public,) = await liaison_service.to_public(session, [liaison])
    return public


@router.post("/liaisons/{liaison_id}/end", response_model=LiaisonPublic)
async def end_liaison(
    liaison: InReach[Liaison], data: LiaisonEnd, session: SessionDep, caller: AdminCaller
) -> LiaisonPublic:
    """结束包联（区管理员；保留记录）。已在该日或更早结束：409 `liaison_ended`。"""
    liaison = await liaison_service.end_liaison(session, caller=caller, liaison=liaison, data=data)
    (public,) = await liaison_service.to_public(session, [liaison])
    return public


@router.get("/liaisons", response_model=Page[LiaisonPublic])
async def list_liaisons(
    session: SessionDep,
    caller: AdminCaller,
    paging: PageDep,
    org: Annotated[Org | None, org_filter(AdminCaller)],
    kind: LiaisonKind | None = None,
    unit_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> Page[LiaisonPublic]:
    """管理范围内（或 `org_id` 子树内）街道、社区的包联安排；`kind`：领导或单位包联，
    `unit_id`：某单位的包联。"""
    items, total = await liaison_service.list_liaisons(
        session,
        caller=caller,
        org=org,
        offset=paging.offset,
        limit=paging.page_size,
        kind=kind,
        unit_id=unit_id,
    )
    return page_of(await liaison_service.to_public(session, items), total, paging)


@router.get("/stats/pairings", response_model=PairingStats)
async def pairing_stats(
    session: ReadingSessionDep,
    org: Annotated[Org, OrgInReach(PeopleStatsReader, PEOPLE_ROLES)],
    year: Annotated[int | None, Query(ge=2000, le=2100, description="默认北京时间的今年")] = None,
) -> PairingStats:
    """组织（单位：本单位的；社区及以上：其社区的）每个结对：单位党员人数，本月、当年向结对
    社区报到的人数，当年在该社区的志愿时长、认领的微心愿，共同组织的任务数。"""
    return await service.pairing_figures(session, org=org, year=year or current_year())
