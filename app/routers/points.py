"""/points, /me/points and /shop (积分超市): the ledger, earning rules, awards, the shop."""

from typing import Annotated

from fastapi import APIRouter, Query

from app.core.db import utcnow
from app.core.errors import PROBLEM_RESPONSES
from app.core.timeutil import month_key
from app.edge.route import AppRoute
from app.models.common import Month
from app.models.org import Org
from app.models.points import (
    AccountPublic,
    AwardCreate,
    EntryPublic,
    MyPoints,
    PointsStats,
    Redemption,
    RedemptionCollect,
    RedemptionCreate,
    RedemptionPublic,
    RedemptionStatus,
    RulesPublic,
    RulesPut,
    ShopItemCreate,
    ShopItemPublic,
)
from app.models.user import MAX_ID, PEOPLE_ROLES
from app.routers.deps import (
    AdminCaller,
    CurrentCaller,
    OrgInReach,
    Page,
    PageDep,
    PeopleCaller,
    PeopleStatsReader,
    ReadingSessionDep,
    SessionDep,
    SettingsDep,
    Visible,
    org_filter,
    page_of,
)
from app.services import points as service
from app.services import points_figures, shop

router = APIRouter(tags=["points"], route_class=AppRoute, responses=PROBLEM_RESPONSES)


@router.put("/points/rules", response_model=RulesPublic)
async def put_points_rules(
    data: RulesPut, session: SessionDep, caller: CurrentCaller
) -> RulesPublic:
    """区管理员设置本区的积分规则：每小时志愿服务、每个确认的微心愿、每个已评价的服务订单、
    每次到社区报到各得多少积分。此后发生的来源按新规则计，已发放的不变。"""
    return service.rules_public(await service.put_rules(session, caller=caller, data=data))


@router.get("/points/rules", response_model=RulesPublic)
async def get_points_rules(
    session: SessionDep, org: Annotated[Org, OrgInReach(AdminCaller)]
) -> RulesPublic:
    """管理范围内某组织所在区的积分规则（区管理员及其下各级管理员可看）；从未设置时各项为 0。"""
    return await service.rules_for(session, org)


@router.post("/points/awards", status_code=201, response_model=EntryPublic)
async def award_points(
    data: AwardCreate, session: SessionDep, caller: CurrentCaller, settings: SettingsDep
) -> EntryPublic:
    """社区管理员给本社区居民奖励积分，须填写原因，单次不超过 `POINTS_AWARD_CAP`
    （422 `award_over_cap`）；记入操作日志。"""
    entry = await service.award(session, caller=caller, data=data, cap=settings.points_award_cap)
    assert entry.id is not None
    return EntryPublic(
        id=entry.id,
        points=entry.amount,
        kind=entry.kind,
        text=service.explain(entry),
        org_id=entry.org_id,
        created_at=entry.created_at,
    )


@router.get("/me/points", response_model=MyPoints)
async def my_points(session: SessionDep, caller: CurrentCaller) -> MyPoints:
    """本人的积分余额和最近的积分明细（中文说明，如「2026-11 志愿服务 3 小时」）。"""
    return await service.my_points(session, caller=caller)


@router.get("/points/accounts", response_model=Page[AccountPublic])
async def points_accounts(
    session: SessionDep,
    caller: PeopleCaller,
    org: Annotated[Org, OrgInReach(PeopleCaller, PEOPLE_ROLES)],
    paging: PageDep,
) -> Page[AccountPublic]:
    """组织（含下级）居民的积分账户，余额从高到低；单位书记看本单位党员的。"""
    items, total = await service.accounts(
        session, caller=caller, org=org, offset=paging.offset, limit=paging.page_size
    )
    return page_of(items, total, paging)


@router.get("/stats/points", response_model=PointsStats)
async def points_stats(
    session: ReadingSessionDep,
    caller: PeopleStatsReader,
    org: Annotated[Org, OrgInReach(PeopleStatsReader, PEOPLE_ROLES)],
    month: Annotated[Month | None, Query(description="YYYY-MM，默认本月（北京时间）")] = None,
) -> PointsStats:
    """组织及各直属下级的积分发放、兑换、结余（同工作台口径），子树内每个社区当月积分最多的居民
    （管理员看到姓名，统计接口密钥看到打码的姓名）。"""
    return await points_figures.stats(
        session, caller=caller, org=org, month=month or month_key(utcnow())
    )


# --- the shop -----------------------------------------------------------------------------


@router.post("/shop/items", status_code=201, response_model=ShopItemPublic, tags=["shop"])
async def create_shop_item(
    data: ShopItemCreate, session: SessionDep, caller: CurrentCaller
) -> ShopItemPublic:
    """社区积分超市上架物品（管理范围内的社区）：库存、所需积分、捐赠单位、照片。"""
    item = await shop.create_item(session, caller=caller, data=data)
    (public,) = await shop.items_public(session, [item], viewer_id=caller.id)
    return public


@router.get("/shop/items", response_model=list[ShopItemPublic], tags=["shop"])
async def list_shop_items(
    session: SessionDep,
    caller: CurrentCaller,
    community_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="默认本人所属社区")
    ] = None,
) -> list[ShopItemPublic]:
    """某社区积分超市的物品（本社区居民，或管理范围内的管理员）。"""
    wanted = community_id or caller.user.community_id
    if wanted is None:
        return []
    community = await shop.shop_in_view(session, caller, wanted)
    items = await shop.list_items(session, community=community)
    return await shop.items_public(session, items, viewer_id=caller.id)


@router.post("/shop/redemptions", status_code=201, response_model=RedemptionPublic, tags=["shop"])
async def redeem(
    data: RedemptionCreate, session: SessionDep, caller: CurrentCaller, settings: SettingsDep
) -> RedemptionPublic:
    """兑换：同一事务内扣减库存并冻结积分，返回取货码；库存不足 409 `out_of_stock`，
    积分不足 409 `insufficient_points`。`SHOP_RESERVATION_DAYS` 天内未取自动取消。"""
    redemption = await shop.redeem(
        session, caller=caller, data=data, reservation_days=settings.shop_reservation_days
    )
    (public,) = await shop.redemptions_public(session, [redemption], viewer_id=caller.id)
    return public


@router.get("/shop/redemptions", response_model=Page[RedemptionPublic], tags=["shop"])
async def list_redemptions(
    session: SessionDep,
    caller: CurrentCaller,
    paging: PageDep,
    community: Annotated[Org | None, org_filter(CurrentCaller, param="community_id")] = None,
    status: RedemptionStatus | None = None,
) -> Page[RedemptionPublic]:
    """本人的兑换，以及（管理员）管理范围内社区的兑换；取货码只给本人看。"""
    items, total = await shop.list_redemptions(
        session,
        caller=caller,
        community=community,
        status=status,
        offset=paging.offset,
        limit=paging.page_size,
    )
    return page_of(
        await shop.redemptions_public(session, items, viewer_id=caller.id), total, paging
    )


@router.post(
    "/shop/redemptions/{redemption_id}/collect", response_model=RedemptionPublic, tags=["shop"]
)
async def collect_redemption(
    redemption: Visible[Redemption],
    data: RedemptionCollect,
    session: SessionDep,
    caller: CurrentCaller,
) -> RedemptionPublic:
    """社区管理员凭取货码核销（取货码不符 422 `wrong_pickup_code`，
    已核销、取消或过期 409 `redemption_not_reserved`）。"""
    redemption = await shop.collect(
        session, caller=caller, redemption=redemption, pickup_code=data.pickup_code
    )
    (public,) = await shop.redemptions_public(session, [redemption], viewer_id=caller.id)
    return public


@router.post(
    "/shop/redemptions/{redemption_id}/cancel", response_model=RedemptionPublic, tags=["shop"]
)
async def cancel_redemption(
    redemption: Visible[Redemption], session: SessionDep, caller: CurrentCaller
) -> RedemptionPublic:
    """本人或社区管理员取消未取的兑换：积分和库存退回。"""
    redemption = await shop.cancel(session, caller=caller, redemption=redemption)
    (public,) = await shop.redemptions_public(session, [redemption], viewer_id=caller.id)
    return public
