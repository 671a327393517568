from typing import Annotated

from fastapi import APIRouter, Query, Response

from app.core.errors import PROBLEM_RESPONSES
from app.core.timeutil import current_year
from app.edge.route import AppRoute
from app.models.article import Article
from app.models.org import Org
from app.models.publicity import (
    ArticleColumn,
    ColumnCreate,
    ColumnPublic,
    ColumnStats,
    ColumnUpdate,
    Placement,
    PlacementCreate,
    PlacementDetail,
    PlacementPublic,
    PlacementStatus,
    PlacementVerify,
    PublicityStats,
    PublicityWeights,
    PublicityWeightsPublic,
)
from app.models.user import MAX_ID
from app.routers.deps import (
    AdminCaller,
    CurrentCaller,
    InReach,
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
from app.services import publicity as service

# Publicity performance: /article-columns, placements, /publicity/weights,
# /stats/publicity and /stats/columns.
router = APIRouter(tags=["publicity"], route_class=AppRoute, responses=PROBLEM_RESPONSES)

Year = Annotated[int | None, Query(ge=2000, le=2100, description="默认为北京时间的今年")]
Quarter = Annotated[int | None, Query(ge=1, le=4, description="不填为全年")]
DistrictId = Annotated[
    int | None, Query(ge=1, le=MAX_ID, description="区；不填为本人任区级管理员的区")
]


# --- columns (专栏) ---------------------------------------------------------------------


@router.post("/article-columns", status_code=201, response_model=ColumnPublic)
async def create_column(
    data: ColumnCreate, session: SessionDep, caller: CurrentCaller
) -> ColumnPublic:
    """开设专栏：该组织（或上级）的管理员；同一组织内不重名（409 `column_exists`）。"""
    column = await service.create_column(session, caller=caller, data=data)
    return (await service.columns_public(session, [column]))[0]


@router.get("/article-columns", response_model=Page[ColumnPublic])
async def list_columns(
    session: SessionDep,
    caller: CurrentCaller,
    paging: PageDep,
    org: Annotated[
        Org | None,
        org_filter(
            CurrentCaller,
            service.get_org_of_columns,
            description="该组织的稿件可以加入的专栏（本组织及上级组织开设的）",
        ),
    ],
) -> Page[ColumnPublic]:
    """本区的专栏（写稿时从中选择）。"""
    columns, total = await service.list_columns(
        session, caller=caller, org=org, offset=paging.offset, limit=paging.page_size
    )
    return page_of(await service.columns_public(session, columns), total, paging)


@router.get("/article-columns/{column_id}", response_model=ColumnPublic)
async def get_column(column: Visible[ArticleColumn], session: SessionDep) -> ColumnPublic:
    return (await service.columns_public(session, [column]))[0]


@router.patch("/article-columns/{column_id}", response_model=ColumnPublic)
async def update_column(
    column: InReach[ArticleColumn], data: ColumnUpdate, session: SessionDep, caller: CurrentCaller
) -> ColumnPublic:
    """修改专栏名称、简介：开设组织（或上级）的管理员。"""
    column = await service.update_column(session, caller=caller, column=column, data=data)
    return (await service.columns_public(session, [column]))[0]


@router.delete("/article-columns/{column_id}", status_code=204, response_class=Response)
async def delete_column(
    column: InReach[ArticleColumn], session: SessionDep, caller: CurrentCaller
) -> Response:
    """删除没有稿件的专栏；已有稿件为 409 `column_not_empty`。"""
    await service.delete_column(session, caller=caller, column=column)
    return Response(status_code=204)


@router.get("/stats/columns", response_model=ColumnStats)
async def column_stats(
    session: ReadingSessionDep,
    org: Annotated[Org, OrgInReach(StatsReader)],
    year: Year = None,
    quarter: Quarter = None,
) -> ColumnStats:
    """各专栏（本组织、上级及下级开设的）在期间内本组织范围的投稿、用稿、已认定上稿数。"""
    return await service.column_stats(
        session, org=org, year=year or current_year(), quarter=quarter
    )


# --- placements (上稿) ------------------------------------------------------------------


@router.post("/articles/{article_id}/placements", status_code=201, response_model=PlacementPublic)
async def record_placement(
    article: InReach[Article], data: PlacementCreate, session: SessionDep, caller: CurrentCaller
) -> PlacementPublic:
    """登记上稿（稿件被外部媒体采用）：稿件作者或管理员；只有已发布的稿件可以登记
    （409 `article_not_published`）；同一稿件同一媒体同一天同一级别只登记一次
    （409 `placement_exists`）。登记后待宣传部门认定。"""
    placement = await service.record_placement(session, caller=caller, article=article, data=data)
    return (await service.placements_public(session, [placement]))[0]


@router.get("/articles/{article_id}/placements", response_model=Page[PlacementPublic])
async def list_article_placements(
    article: Visible[Article], session: SessionDep, caller: CurrentCaller, paging: PageDep
) -> Page[PlacementPublic]:
    """稿件的上稿记录（作者、登记人和管理范围内的管理员可见）。"""
    placements, total = await service.list_placements(
        session,
        caller=caller,
        article=article,
        org=None,
        status=None,
        to_verify=False,
        offset=paging.offset,
        limit=paging.page_size,
    )
    return page_of(await service.placements_public(session, placements), total, paging)


@router.get("/placements", response_model=Page[PlacementPublic])
async def list_placements(
    session: SessionDep,
    caller: CurrentCaller,
    paging: PageDep,
    org: Annotated[Org | None, org_filter(CurrentCaller)],
    status: PlacementStatus | None = None,
    to_verify: Annotated[
        bool, Query(description="只看本人可以认定的待认定上稿（区、街道管理员）")
    ] = False,
) -> Page[PlacementPublic]:
    """上稿记录：本人登记的、本人稿件的，以及管理范围内的。"""
    placements, total = await service.list_placements(
        session,
        caller=caller,
        article=None,
        org=org,
        status=status,
        to_verify=to_verify,
        offset=paging.offset,
        limit=paging.page_size,
    )
    return page_of(await service.placements_public(session, placements), total, paging)


@router.get("/placements/{placement_id}", response_model=PlacementDetail)
async def get_placement(placement: Visible[Placement], session: SessionDep) -> PlacementDetail:
    """上稿记录及其每一步（登记、认定或不予认定）。"""
    return await service.placement_detail(session, placement)


@router.post("/placements/{placement_id}/verify", response_model=PlacementPublic)
async def verify_placement(
    placement: Visible[Placement], data: PlacementVerify, session: SessionDep, caller: CurrentCaller
) -> PlacementPublic:
    """宣传部门认定上稿：稿件所属组织的上级区、街道管理员，不能认定自己登记的；
    不予认定须说明原因。只有已认定的上稿计入统计。"""
    placement = await service.verify_placement(
        session, caller=caller, placement=placement, data=data
    )
    return (await service.placements_public(session, [placement]))[0]


# --- weights and the ranking ----------------------------------------------------------------


@router.get("/publicity/weights", response_model=PublicityWeightsPublic)
async def get_weights(
    session: SessionDep, org: Annotated[Org, OrgInReach(AdminCaller)]
) -> PublicityWeightsPublic:
    """该组织所在区的各级上稿分值。"""
    district_id = service.district_of(org)
    return PublicityWeightsPublic(
        district_id=district_id, weights=await service.weights_of(session, district_id)
    )


@router.put("/publicity/weights", response_model=PublicityWeightsPublic)
async def set_weights(
    data: PublicityWeights, session: SessionDep, caller: CurrentCaller, org_id: DistrictId = None
) -> PublicityWeightsPublic:
    """区级管理员设定各级上稿的分值（未给出的级别不变）。"""
    district = await service.district_for_weights(session, caller, org_id)
    return await service.set_weights(session, caller=caller, district=district, data=data)


@router.get("/stats/publicity", response_model=PublicityStats)
async def publicity_stats(
    session: ReadingSessionDep,
    org: Annotated[Org, OrgInReach(StatsReader)],
    year: Year = None,
    quarter: Quarter = None,
) -> PublicityStats:
    """宣传工作季度通报：各直属下级组织（含其全部下级）的投稿、用稿、各级已认定上稿、
    得分和名次，以及本级合计。"""
    return await service.publicity_stats(
        session, org=org, year=year or current_year(), quarter=quarter
    )
