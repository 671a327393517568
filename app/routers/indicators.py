from typing import Annotated

from fastapi import APIRouter

from app.core.errors import PROBLEM_RESPONSES
from app.edge.route import AppRoute
from app.models.indicator import (
    EvidenceCreate,
    Indicator,
    IndicatorCreate,
    IndicatorPublic,
    IndicatorReview,
    IndicatorStats,
    IndicatorStatus,
)
from app.models.org import Org
from app.routers.deps import (
    CurrentCaller,
    OrgInReach,
    Page,
    PageDep,
    ReadingSessionDep,
    SessionDep,
    StatsReader,
    Visible,
    org_filter,
    page_of,
)
from app.services import indicators as service

# /indicators: the online materials checklist (网上资料申报).
router = APIRouter(tags=["assessment"], route_class=AppRoute, responses=PROBLEM_RESPONSES)


async def _one(session: SessionDep, caller: CurrentCaller, indicator: Indicator) -> IndicatorPublic:
    (public,) = await service.indicators_public(session, [indicator], caller=caller)
    return public


@router.post("/indicators", status_code=201, response_model=IndicatorPublic)
async def create_indicator(
    data: IndicatorCreate, session: SessionDep, caller: CurrentCaller
) -> IndicatorPublic:
    """新增申报指标（管理员）：指标编号在该组织内不重复（409 `indicator_exists`），
    责任人须在管理范围内（422 `invalid_owner`）。"""
    indicator = await service.create_indicator(session, caller=caller, data=data)
    return await _one(session, caller, indicator)


@router.get("/indicators", response_model=Page[IndicatorPublic])
async def list_indicators(
    session: SessionDep,
    caller: CurrentCaller,
    paging: PageDep,
    org: Annotated[Org | None, org_filter(CurrentCaller)],
    status: IndicatorStatus | None = None,
    overdue: bool | None = None,
) -> Page[IndicatorPublic]:
    """指标清单：管理范围内各组织的指标，以及本人负责的指标，按截止日期排序。"""
    items, total = await service.list_indicators(
        session,
        caller=caller,
        org=org,
        status=status,
        overdue=overdue,
        offset=paging.offset,
        limit=paging.page_size,
    )
    return page_of(await service.indicators_public(session, items, caller=caller), total, paging)


@router.get("/indicators/{indicator_id}", response_model=IndicatorPublic)
async def get_indicator(
    indicator: Visible[Indicator], session: SessionDep, caller: CurrentCaller
) -> IndicatorPublic:
    return await _one(session, caller, indicator)


@router.post("/indicators/{indicator_id}/evidence", response_model=IndicatorPublic)
async def submit_evidence(
    indicator: Visible[Indicator], data: EvidenceCreate, session: SessionDep, caller: CurrentCaller
) -> IndicatorPublic:
    """提交证明材料（责任人或该组织的管理员）：说明、照片（photo_ids）、文档（media_ids，
    先经 POST /documents 上传）→ `submitted`；待提交或已退回时才可提交。"""
    indicator = await service.submit_evidence(
        session, caller=caller, indicator=indicator, data=data
    )
    return await _one(session, caller, indicator)


@router.post("/indicators/{indicator_id}/review", response_model=IndicatorPublic)
async def review_indicator(
    indicator: Visible[Indicator], data: IndicatorReview, session: SessionDep, caller: CurrentCaller
) -> IndicatorPublic:
    """审核（该组织及上级的管理员，责任人本人除外）：通过 → `accepted`；退回须写原因
    → `returned`，通知责任人。"""
    indicator = await service.review(session, caller=caller, indicator=indicator, data=data)
    return await _one(session, caller, indicator)


@router.get("/stats/indicators", response_model=IndicatorStats)
async def indicator_stats(
    session: ReadingSessionDep,
    caller: StatsReader,
    org: Annotated[Org, OrgInReach(StatsReader)],
) -> IndicatorStats:
    """申报完成情况：该组织及各下级组织的指标数、各状态数、逾期数和完成率（已通过 / 全部）。"""
    return await service.indicator_stats(session, org=org)
