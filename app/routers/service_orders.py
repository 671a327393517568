from typing import Annotated

from fastapi import APIRouter

from app.core.errors import PROBLEM_RESPONSES
from app.core.scope import org_in_reach
from app.edge.route import AppRoute
from app.models.org import Org
from app.models.service_order import (
    OrderComplete,
    OrderCreate,
    OrderDispatch,
    OrderEventPublic,
    OrderPublic,
    OrderRate,
    OrderReject,
    OrderStatus,
    ServiceItem,
    ServiceItemCreate,
    ServiceItemPublic,
    ServiceOrder,
)
from app.routers.deps import (
    AdminCaller,
    CipherDep,
    CurrentCaller,
    InReach,
    Page,
    PageDep,
    SessionDep,
    Visible,
    org_filter,
    page_of,
)
from app.services import service_orders as service

# /service-items (the menu) and /service-orders (点单、审单、派单、接单、评单).
router = APIRouter(tags=["service-orders"], route_class=AppRoute, responses=PROBLEM_RESPONSES)

MenuCommunity = Annotated[
    Org | None,
    org_filter(CurrentCaller, service.get_community, param="community_id", description="该社区"),
]
OrdersOrg = Annotated[Org | None, org_filter(CurrentCaller)]


@router.post("/service-items", status_code=201, response_model=ServiceItemPublic)
async def create_item(
    data: ServiceItemCreate, session: SessionDep, caller: AdminCaller
) -> ServiceItemPublic:
    """管理员为管理范围内的组织发布服务项目；其下各社区的居民都可点单。"""
    org = await org_in_reach(session, caller, data.org_id)
    item = await service.create_item(session, caller=caller, org=org, data=data)
    return service.item_public(item)


@router.post("/service-items/{item_id}/withdraw", response_model=ServiceItemPublic)
async def withdraw_item(
    item: InReach[ServiceItem], session: SessionDep, caller: AdminCaller
) -> ServiceItemPublic:
    """下架服务项目：不再列入服务清单，也不能再点（409 `item_withdrawn`）；已点的订单照常办理。"""
    item = await service.withdraw_item(session, caller=caller, item=item)
    return service.item_public(item)


@router.get("/service-items", response_model=list[ServiceItemPublic])
async def list_items(
    session: SessionDep, caller: CurrentCaller, community: MenuCommunity
) -> list[ServiceItemPublic]:
    """某社区可点的服务（该社区及其上级组织发布的）。不传 community_id 时为本人所在社区。"""
    if community is None:
        community_id = caller.user.community_id
        if community_id is None:
            return []
        community = await service.get_community(session, caller, community_id)
    return [service.item_public(i) for i in await service.menu(session, community=community)]


@router.post("/service-orders", status_code=201, response_model=OrderPublic)
async def create_order(
    data: OrderCreate, session: SessionDep, caller: CurrentCaller, cipher: CipherDep
) -> OrderPublic:
    """居民点单，待社区受理（2 个工作日内未受理即逾期）。地址和点单人电话只给接单人和社区管理员。"""
    order = await service.create_order(session, caller=caller, cipher=cipher, data=data)
    return await service.to_public_one(session, caller=caller, cipher=cipher, order=order)


@router.get("/service-orders", response_model=Page[OrderPublic])
async def list_orders(
    session: SessionDep,
    caller: CurrentCaller,
    cipher: CipherDep,
    paging: PageDep,
    org: OrdersOrg,
    status: OrderStatus | None = None,
) -> Page[OrderPublic]:
    """本人点的、本人接的、派给本人所在队伍的订单，以及管理范围内的订单。"""
    orders, total = await service.list_orders(
        session,
        caller=caller,
        org=org,
        status=status,
        offset=paging.offset,
        limit=paging.page_size,
    )
    items = await service.to_public(session, caller=caller, cipher=cipher, orders=orders)
    return page_of(items, total, paging)


@router.get("/service-orders/{order_id}", response_model=OrderPublic)
async def get_order(
    order: Visible[ServiceOrder], session: SessionDep, caller: CurrentCaller, cipher: CipherDep
) -> OrderPublic:
    return await service.to_public_one(session, caller=caller, cipher=cipher, order=order)


@router.get("/service-orders/{order_id}/history", response_model=list[OrderEventPublic])
async def get_order_history(
    order: Visible[ServiceOrder], session: SessionDep, caller: CurrentCaller
) -> list[OrderEventPublic]:
    """订单的处理记录（谁在何时做了什么），由早到晚；看到打码地址的人看到打码的姓名。"""
    return await service.history(session, caller=caller, order=order)


@router.post("/service-orders/{order_id}/accept", response_model=OrderPublic)
async def accept_order(
    order: Visible[ServiceOrder], session: SessionDep, caller: CurrentCaller, cipher: CipherDep
) -> OrderPublic:
    """社区（及上级）管理员受理订单（审单）。"""
    order = await service.accept(session, caller=caller, order=order)
    return await service.to_public_one(session, caller=caller, cipher=cipher, order=order)


@router.post("/service-orders/{order_id}/reject", response_model=OrderPublic)
async def reject_order(
    order: Visible[ServiceOrder],
    data: OrderReject,
    session: SessionDep,
    caller: CurrentCaller,
    cipher: CipherDep,
) -> OrderPublic:
    """不予受理，须填写原因。"""
    order = await service.reject(session, caller=caller, order=order, data=data)
    return await service.to_public_one(session, caller=caller, cipher=cipher, order=order)


@router.post("/service-orders/{order_id}/dispatch", response_model=OrderPublic)
async def dispatch_order(
    order: Visible[ServiceOrder],
    data: OrderDispatch,
    session: SessionDep,
    caller: CurrentCaller,
    cipher: CipherDep,
) -> OrderPublic:
    """派单给一支队伍（管理范围内的，或该社区上级组织的）；未接单前可改派。"""
    order = await service.dispatch(session, caller=caller, order=order, data=data)
    return await service.to_public_one(session, caller=caller, cipher=cipher, order=order)


@router.post("/service-orders/{order_id}/take", response_model=OrderPublic)
async def take_order(
    order: Visible[ServiceOrder], session: SessionDep, caller: CurrentCaller, cipher: CipherDep
) -> OrderPublic:
    """派单队伍的队员接单；多人同时接单只有一人成功，其余 409 `order_already_taken`。"""
    order = await service.take(session, caller=caller, order=order)
    return await service.to_public_one(session, caller=caller, cipher=cipher, order=order)


@router.post("/service-orders/{order_id}/complete", response_model=OrderPublic)
async def complete_order(
    order: Visible[ServiceOrder],
    data: OrderComplete,
    session: SessionDep,
    caller: CurrentCaller,
    cipher: CipherDep,
) -> OrderPublic:
    """接单人提交完成：至少一张照片，时长不超过 24 小时，记入本人志愿时长（只记一次）。"""
    order = await service.complete(session, caller=caller, order=order, data=data)
    return await service.to_public_one(session, caller=caller, cipher=cipher, order=order)


@router.post("/service-orders/{order_id}/rate", response_model=OrderPublic)
async def rate_order(
    order: Visible[ServiceOrder],
    data: OrderRate,
    session: SessionDep,
    caller: CurrentCaller,
    cipher: CipherDep,
) -> OrderPublic:
    """点单人评价（1–5 星），只能一次：再次评价为 409 `order_already_rated`。"""
    order = await service.rate(session, caller=caller, order=order, data=data)
    return await service.to_public_one(session, caller=caller, cipher=cipher, order=order)


@router.post("/service-orders/{order_id}/cancel", response_model=OrderPublic)
async def cancel_order(
    order: Visible[ServiceOrder], session: SessionDep, caller: CurrentCaller, cipher: CipherDep
) -> OrderPublic:
    """点单人在接单前取消。"""
    order = await service.cancel(session, caller=caller, order=order)
    return await service.to_public_one(session, caller=caller, cipher=cipher, order=order)
