"""The service menu (服务清单) and its orders: 群众点单、社区审单、中心派单、志愿者接单、群众评单.

An order moves submitted → accepted → dispatched → taken → completed → rated, or
ends rejected or cancelled, on the one lifecycle (app/services/lifecycle.py): every
step a conditional UPDATE on the state it was read in, a history row, an audit row
and a notification (service_orders_messages.py). Of any number of the dispatched
team's members pressing "take" at once exactly one wins: the UPDATE also requires
the team it was dispatched to, so a re-dispatch in between refuses the take.

Who sees an order: the orderer, the admins whose reach covers its community, the
taker, and the members of the team it was dispatched to (to take it). The address
and the orderer's phone are whole only for the orderer, the taker and the admins;
the team's other members see them masked. Nothing is readable outside that.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar

from app.core.config import Settings
from app.core.db import paged_scalars, utcnow
from app.core.errors import Conflict, Forbidden, NotFound, Unprocessable
from app.core.scope import Caller, in_reach, is_within, path_ids
from app.core.security import PiiCipher
from app.core.text import text_or_none
from app.core.timeutil import day_start, local
from app.models.org import Org, OrgLevel
from app.models.points import SourceKind
from app.models.service_order import (
    MAX_ORDER_MINUTES,
    TAKER_STATES,
    OrderAction,
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
    ServiceOrderEvent,
)
from app.models.team import MemberStatus, Team, TeamMember
from app.models.user import ADMIN_ROLES, User
from app.models.volunteer_hours import HourSource
from app.services import audit, lifecycle, points, service_orders_messages, volunteer_hours
from app.services import teams as team_service
from app.services.lifecycle import Lifecycle, Transition
from app.services.notifications import scans
from app.services.photos import (
    attach_photos,
    photo_ids_by_record,
    register_record_type,
    require_own_photos,
)
from app.services.wishes import mask_name
from app.services.workdays import CalendarYearUnknown, add_working_days

RECORD_TYPE = "service_order"
# Not accepted within this many working days of submission: overdue.
ACCEPT_WITHIN_WORKING_DAYS = 2

STATUS_NAMES = {
    OrderStatus.submitted: "待受理",
    OrderStatus.accepted: "已受理",
    OrderStatus.dispatched: "已派单",
    OrderStatus.taken: "已接单",
    OrderStatus.completed: "已完成",
    OrderStatus.rated: "已评价",
    OrderStatus.rejected: "已驳回",
    OrderStatus.cancelled: "已取消",
}
BEFORE_TAKEN = (OrderStatus.submitted, OrderStatus.accepted, OrderStatus.dispatched)

LIFECYCLE = Lifecycle(
    name="service_order",
    model=ServiceOrder,
    history=ServiceOrderEvent,
    org_key="community_id",
    code="invalid_order_state",
    called="服务订单",
    names=STATUS_NAMES,
    # The take's guard (the team it was dispatched to) failed while the state stayed.
    stale=("order_redispatched", "订单已改派给其他队伍"),
    transitions=(
        Transition(OrderAction.accept, {OrderStatus.submitted}, OrderStatus.accepted, "受理"),
        Transition(OrderAction.reject, {OrderStatus.submitted}, OrderStatus.rejected, "受理"),
        # Dispatched again to another team while nobody has taken it.
        Transition(
            OrderAction.dispatch,
            {OrderStatus.accepted, OrderStatus.dispatched},
            OrderStatus.dispatched,
            "派单",
        ),
        Transition(
            OrderAction.take,
            {OrderStatus.dispatched},
            OrderStatus.taken,
            "接单",
            audited=False,
            refusals=dict.fromkeys(
                TAKER_STATES, ("order_already_taken", "该订单已被其他志愿者接单")
            ),
        ),
        Transition(OrderAction.complete, {OrderStatus.taken}, OrderStatus.completed, "完成"),
        Transition(
            OrderAction.rate,
            {OrderStatus.completed},
            OrderStatus.rated,
            "评价",
            audited=False,
            refusals={OrderStatus.rated: ("order_already_rated", "该订单已评价过")},
        ),
        Transition(OrderAction.cancel, BEFORE_TAKEN, OrderStatus.cancelled, "取消"),
    ),
)


# --- who sees what ------------------------------------------------------------------


def _my_teams(caller: Caller) -> SelectOfScalar[int]:
    return select(TeamMember.team_id).where(
        TeamMember.user_id == caller.id, TeamMember.status == MemberStatus.approved
    )


def visible_orders(caller: Caller) -> ColumnElement[bool]:
    return or_(
        col(ServiceOrder.orderer_id) == caller.id,
        col(ServiceOrder.taken_by_id) == caller.id,
        in_reach(col(ServiceOrder.community_id), caller.paths(ADMIN_ROLES)),
        col(ServiceOrder.team_id).in_(_my_teams(caller)),
    )


async def get_visible_order(session: AsyncSession, caller: Caller, order_id: int) -> ServiceOrder:
    order = (
        await session.execute(
            select(ServiceOrder).where(ServiceOrder.id == order_id, visible_orders(caller))
        )
    ).scalar_one_or_none()
    if order is None:
        raise NotFound()
    return order


async def _can_see_order(session: AsyncSession, caller: Caller, order_id: int) -> bool:
    found = await session.execute(
        select(ServiceOrder.id).where(ServiceOrder.id == order_id, visible_orders(caller))
    )
    return found.first() is not None


register_record_type(RECORD_TYPE, _can_see_order)


async def _admin_reaches(session: AsyncSession, caller: Caller, order: ServiceOrder) -> bool:
    community = await session.get(Org, order.community_id)
    return community is not None and caller.reaches(community)


async def _require_admin(session: AsyncSession, caller: Caller, order: ServiceOrder) -> None:
    if not await _admin_reaches(session, caller, order):
        raise Forbidden("forbidden", "只有该社区及上级的管理员可以进行此操作")


# --- overdue ----------------------------------------------------------------------------


def accept_by(submitted: datetime) -> date:
    """The last day (Shanghai) an order submitted at `submitted` may still be accepted."""
    day = local(submitted).date()
    try:
        return add_working_days(day, ACCEPT_WITHIN_WORKING_DAYS)
    except CalendarYearUnknown:
        # No holiday schedule for that year yet: plain days are the strict side.
        return day + timedelta(days=ACCEPT_WITHIN_WORKING_DAYS)


def is_overdue(order: ServiceOrder, now: datetime) -> bool:
    if order.status == OrderStatus.submitted:
        return local(now).date() > accept_by(order.created_at)
    if order.status in (OrderStatus.accepted, OrderStatus.dispatched, OrderStatus.taken):
        return order.wanted_at is not None and now > order.wanted_at
    return False


def overdue_condition(now: datetime) -> ColumnElement[bool]:
    """`is_overdue` in SQL, for counting (the dashboard's service_orders_overdue)."""
    return overdue_at(now, accept_overdue_before(now))


def accept_overdue_before(now: datetime) -> datetime:
    """Orders still submitted are overdue for acceptance when submitted before this.
    `accept_by` never goes back as the submission day goes forward, so they are those
    submitted before the first day whose `accept_by` is not yet past: found by
    stepping back from today (a few days, more over a long holiday)."""
    today = local(now).date()
    first_in_time = today
    while accept_by(day_start(first_in_time - timedelta(days=1))) >= today:
        first_in_time -= timedelta(days=1)
    return day_start(first_in_time)


def overdue_at(now: Any, accept_before: Any) -> ColumnElement[bool]:
    """`overdue_condition` with `accept_overdue_before(now)` given: values, or the bound
    parameters of a statement compiled once (the dashboard's)."""
    return or_(
        and_(
            col(ServiceOrder.status) == OrderStatus.submitted,
            col(ServiceOrder.created_at) < accept_before,
        ),
        and_(
            col(ServiceOrder.status).in_(
                [OrderStatus.accepted, OrderStatus.dispatched, OrderStatus.taken]
            ),
            col(ServiceOrder.wanted_at).is_not(None),
            col(ServiceOrder.wanted_at) < now,
        ),
    )


# --- public shapes --------------------------------------------------------------------------


def mask_address(address: str) -> str:
    keep = min(6, max(len(address) // 3, 1))
    return address[:keep] + "****"


def _sees_whole(caller: Caller, order: ServiceOrder, community_path: str) -> bool:
    """The orderer, the taker and the community's admins; not the team's other members."""
    return caller.sees_personal_data and (
        caller.id in (order.orderer_id, order.taken_by_id)
        or any(is_within(community_path, p) for p in caller.paths(ADMIN_ROLES))
    )


async def to_public(
    session: AsyncSession, *, caller: Caller, cipher: PiiCipher, orders: Sequence[ServiceOrder]
) -> list[OrderPublic]:
    if not orders:
        return []  # an empty page reads nothing
    ids = [o.id for o in orders]
    photos = await photo_ids_by_record(session, RECORD_TYPE, ids, viewer_id=caller.id)
    paths: dict[int, str] = dict(
        (
            await session.execute(
                select(Org.id, Org.path).where(col(Org.id).in_({o.community_id for o in orders}))
            )
        ).all()
    )
    now = utcnow()
    out = []
    for o in orders:
        assert o.id is not None
        whole = _sees_whole(caller, o, paths.get(o.community_id, ""))
        if whole:
            address = cipher.decrypt(o.address_cipher) if o.address_cipher else None
            phone = cipher.decrypt(o.phone_cipher) if o.phone_cipher else None
        else:
            address, phone = o.address_masked, o.phone_masked
        out.append(
            OrderPublic(
                **o.model_dump(
                    exclude={"address_cipher", "address_masked", "phone_cipher", "status"}
                ),
                status=OrderStatus(o.status),
                address=address,
                phone=phone,
                details_visible=whole,
                overdue=is_overdue(o, now),
                photo_ids=photos.get(o.id, []),
            )
        )
    return out


async def to_public_one(
    session: AsyncSession, *, caller: Caller, cipher: PiiCipher, order: ServiceOrder
) -> OrderPublic:
    (public,) = await to_public(session, caller=caller, cipher=cipher, orders=[order])
    return public


async def history(
    session: AsyncSession, *, caller: Caller, order: ServiceOrder
) -> list[OrderEventPublic]:
    """Every step of the order, oldest first, with who took it. Whoever sees the order
    sees its history; who sees its address masked sees the names masked too (the
    orderer's and the taker's are a resident's and a volunteer's)."""
    community = await session.get(Org, order.community_id)
    whole = _sees_whole(caller, order, community.path if community else "")
    rows = await session.execute(
        select(ServiceOrderEvent, User.name)
        .join(User, col(User.id) == col(ServiceOrderEvent.actor_id))
        .where(ServiceOrderEvent.service_order_id == order.id)
        .order_by(col(ServiceOrderEvent.id))
    )
    out = []
    for event, name in rows.all():
        assert event.id is not None
        out.append(
            OrderEventPublic(
                id=event.id,
                action=OrderAction(event.action),
                from_status=OrderStatus(event.from_status) if event.from_status else None,
                to_status=OrderStatus(event.to_status),
                actor_id=event.actor_id,
                actor_name=name if whole or event.actor_id == caller.id else mask_name(name),
                team_id=event.team_id,
                note=event.note,
                at=event.at,
            )
        )
    return out


# --- the menu ---------------------------------------------------------------------------


async def _team_for(session: AsyncSession, caller: Caller, team_id: int, within: Org) -> Team:
    """A team the caller may hand work of `within` to: one of an org in their reach, or
    of an org above `within` (a street's or district's team serving its communities)."""
    team = await session.get(Team, team_id)
    org = await session.get(Org, team.org_id) if team is not None else None
    if (
        team is None
        or org is None
        or not (caller.reaches(org) or (org.id in path_ids(within.path)))
    ):
        raise Unprocessable("invalid_team", "队伍不存在或不在管理范围内")
    return team


async def create_item(
    session: AsyncSession, *, caller: Caller, org: Org, data: ServiceItemCreate
) -> ServiceItem:
    if data.team_id is not None:
        await _team_for(session, caller, data.team_id, org)
    title = data.title.strip()
    if not title:
        raise Unprocessable("validation_error", "标题不能为空")
    assert org.id is not None
    item = ServiceItem(
        org_id=org.id,
        title=title,
        description=data.description.strip(),
        service_type=data.service_type.strip(),
        team_id=data.team_id,
        created_by_id=caller.id,
    )
    session.add(item)
    await session.flush()
    return item


async def get_item_in_reach(session: AsyncSession, caller: Caller, item_id: int) -> ServiceItem:
    """An item of an org in the admin's reach (404 otherwise, as missing)."""
    item = await session.get(ServiceItem, item_id)
    org = await session.get(Org, item.org_id) if item is not None else None
    if item is None or org is None or not caller.reaches(org):
        raise NotFound()
    return item


async def withdraw_item(session: AsyncSession, *, caller: Caller, item: ServiceItem) -> ServiceItem:
    """Off the menu for good: no longer listed nor orderable (409 `item_withdrawn`);
    orders already placed for it go on. The row stays, as the orders point at it."""
    moved = await session.execute(
        update(ServiceItem)
        .where(col(ServiceItem.id) == item.id, col(ServiceItem.active).is_(True))
        .values(active=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("item_withdrawn", "该服务项目已下架")
    await session.refresh(item)
    await audit.record(
        session,
        caller=caller,
        action="service_item.withdraw",
        target_type="service_item",
        target_id=item.id,
        org_id=item.org_id,
    )
    return item


async def get_community(session: AsyncSession, caller: Caller, org_id: int) -> Org:
    """`?community_id=` of the menu: any community. The menu is what a community's
    residents may order, public as a shop window; it holds nobody's data."""
    org = await session.get(Org, org_id)
    if org is None or org.level != OrgLevel.community:
        raise NotFound()
    return org


async def menu(session: AsyncSession, *, community: Org) -> list[ServiceItem]:
    """What can be ordered in `community`: the items of it and of every org above it."""
    rows = await session.execute(
        select(ServiceItem)
        .where(
            col(ServiceItem.org_id).in_(path_ids(community.path)),
            col(ServiceItem.active).is_(True),
        )
        .order_by(col(ServiceItem.id))
    )
    return list(rows.scalars())


async def items_in_reach(
    session: AsyncSession, *, caller: Caller, limit: int, offset: int = 0
) -> tuple[list[ServiceItem], int]:
    """The menu items of the orgs in the admin's reach (those `get_item_in_reach`
    finds), on the menu first, then newest first: the admin's list to withdraw from."""
    condition = in_reach(col(ServiceItem.org_id), caller.paths(ADMIN_ROLES))
    return await paged_scalars(
        session,
        select(ServiceItem)
        .where(condition)
        .order_by(col(ServiceItem.active).desc(), col(ServiceItem.id).desc()),
        offset=offset,
        limit=limit,
    )


def item_public(item: ServiceItem) -> ServiceItemPublic:
    return ServiceItemPublic.model_validate(item, from_attributes=True)


# --- reading ----------------------------------------------------------------------------


async def list_orders(
    session: AsyncSession,
    *,
    caller: Caller,
    org: Org | None,
    status: OrderStatus | None,
    offset: int,
    limit: int,
) -> tuple[list[ServiceOrder], int]:
    conditions = [visible_orders(caller)]
    if org is not None:
        conditions.append(in_reach(col(ServiceOrder.community_id), [org.path]))
    if status is not None:
        conditions.append(col(ServiceOrder.status) == status)
    return await paged_scalars(
        session,
        select(ServiceOrder).where(*conditions).order_by(col(ServiceOrder.id).desc()),
        offset=offset,
        limit=limit,
    )


# --- transitions ----------------------------------------------------------------------------


async def create_order(
    session: AsyncSession, *, caller: Caller, cipher: PiiCipher, data: OrderCreate
) -> ServiceOrder:
    """Anyone logged in orders for a community of their district (where they live, or
    volunteer), or one in their admin reach; someone on no roster and with no role,
    anywhere. Its admins accept or reject it."""
    community = await session.get(Org, data.community_id)
    if community is None or community.level != OrgLevel.community:
        raise Unprocessable("invalid_community", "所选社区不存在")
    if not caller.reaches(community):
        district = await team_service.caller_district(session, caller)
        homeless = district is None and not caller.grants
        if not homeless and not (district and is_within(community.path, district)):
            raise Unprocessable("invalid_community", "只能为本区的社区点单")
    if data.item_id is not None:
        item = await session.get(ServiceItem, data.item_id)
        if item is None or item.org_id not in path_ids(community.path):
            raise Unprocessable("invalid_item", "该社区没有这项服务")
        if not item.active:
            raise Conflict("item_withdrawn", "该服务项目已下架")
    title, description = text_or_none(data.title), text_or_none(data.description)
    if not (title and description):
        raise Unprocessable("validation_error", "标题和内容不能为空")
    now = utcnow()
    if data.wanted_at is not None and data.wanted_at <= now:
        raise Unprocessable("invalid_wanted_at", "希望完成时间须晚于现在")
    address = text_or_none(data.address)
    assert community.id is not None
    order = ServiceOrder(
        item_id=data.item_id,
        title=title,
        description=description,
        community_id=community.id,
        address_cipher=cipher.encrypt(address) if address else None,
        address_masked=mask_address(address) if address else None,
        # The orderer's own phone, as WeChat vouched for it: the taker calls it.
        phone_cipher=caller.user.phone_cipher,
        phone_masked=caller.user.phone_masked,
        wanted_at=data.wanted_at,
        status=OrderStatus.submitted,
        orderer_id=caller.id,
        created_at=now,
        updated_at=now,
    )
    session.add(order)
    await session.flush()
    assert order.id is not None
    session.add(
        ServiceOrderEvent(
            service_order_id=order.id,
            action=OrderAction.submit,
            to_status=OrderStatus.submitted,
            actor_id=caller.id,
            at=now,
        )
    )
    await session.flush()
    await service_orders_messages.order_submitted(session, order=order)
    return order


async def accept(session: AsyncSession, *, caller: Caller, order: ServiceOrder) -> ServiceOrder:
    await _require_admin(session, caller, order)
    LIFECYCLE.require(order, OrderAction.accept)
    now = utcnow()
    await lifecycle.move(
        session,
        LIFECYCLE,
        order,
        caller=caller,
        action=OrderAction.accept,
        now=now,
        values={"accepted_at": now},
        notify=lambda: service_orders_messages.order_reviewed(session, order=order, reason=None),
    )
    return order


async def reject(
    session: AsyncSession, *, caller: Caller, order: ServiceOrder, data: OrderReject
) -> ServiceOrder:
    await _require_admin(session, caller, order)
    LIFECYCLE.require(order, OrderAction.reject)
    reason = text_or_none(data.reason)
    if reason is None:
        raise Unprocessable("reason_required", "驳回时请填写原因")
    await lifecycle.move(
        session,
        LIFECYCLE,
        order,
        caller=caller,
        action=OrderAction.reject,
        note=reason,
        notify=lambda: service_orders_messages.order_reviewed(session, order=order, reason=reason),
    )
    return order


async def dispatch(
    session: AsyncSession, *, caller: Caller, order: ServiceOrder, data: OrderDispatch
) -> ServiceOrder:
    """To a team; again to another while nobody has taken it."""
    await _require_admin(session, caller, order)
    LIFECYCLE.require(order, OrderAction.dispatch)
    community = await session.get(Org, order.community_id)
    assert community is not None
    team = await _team_for(session, caller, data.team_id, community)
    now = utcnow()
    await lifecycle.move(
        session,
        LIFECYCLE,
        order,
        caller=caller,
        action=OrderAction.dispatch,
        now=now,
        values={"team_id": team.id, "dispatched_at": now},
        history={"team_id": team.id},
        audit_detail={"team_id": team.id},
        notify=lambda: service_orders_messages.order_dispatched(session, order=order, team=team),
    )
    return order


async def take(session: AsyncSession, *, caller: Caller, order: ServiceOrder) -> ServiceOrder:
    """Exactly one of the dispatched team's members wins: the move is
    `UPDATE ... WHERE status = 'dispatched' AND team_id = <the team read>`, and every
    later one matches nothing and hears 409 `order_already_taken`."""
    LIFECYCLE.require(order, OrderAction.take)
    member = (
        await session.execute(
            select(TeamMember.id).where(
                TeamMember.team_id == order.team_id,
                TeamMember.user_id == caller.id,
                TeamMember.status == MemberStatus.approved,
            )
        )
    ).first()
    if member is None:
        raise Forbidden("not_team_member", "只有派单队伍的队员可以接单")
    now = utcnow()
    await lifecycle.move(
        session,
        LIFECYCLE,
        order,
        caller=caller,
        action=OrderAction.take,
        now=now,
        guard=[col(ServiceOrder.team_id) == order.team_id],
        values={"taken_by_id": caller.id, "taken_at": now},
        notify=lambda: service_orders_messages.order_taken(session, order=order, taker=caller.user),
    )
    return order


async def complete(
    session: AsyncSession, *, caller: Caller, order: ServiceOrder, data: OrderComplete
) -> ServiceOrder:
    """The taker reports it done with photos; the minutes are credited to them once
    (volunteer_hours.credit keeps one entry per order)."""
    if order.taken_by_id != caller.id:
        raise Forbidden("forbidden", "只有接单人可以提交完成")
    LIFECYCLE.require(order, OrderAction.complete)
    if not data.photo_ids:
        raise Unprocessable("photo_required", "请至少上传一张服务照片")
    if data.minutes > MAX_ORDER_MINUTES:
        raise Unprocessable("too_long", "服务时长不能超过 24 小时")
    media = await require_own_photos(session, caller=caller, photo_ids=data.photo_ids)
    now = utcnow()
    note = text_or_none(data.note)
    await lifecycle.move(
        session,
        LIFECYCLE,
        order,
        caller=caller,
        action=OrderAction.complete,
        now=now,
        note=note,
        guard=[col(ServiceOrder.taken_by_id) == caller.id],
        values={"completed_at": now, "minutes": data.minutes, "complete_note": note},
        notify=lambda: service_orders_messages.order_completed(session, order=order),
    )
    assert order.id is not None
    await attach_photos(session, media=media, record_type=RECORD_TYPE, record_id=order.id)
    await volunteer_hours.credit(
        session,
        user_id=caller.id,
        org_id=order.community_id,
        activity=f"服务订单：{order.title}",
        started_at=now - timedelta(minutes=data.minutes),
        ended_at=now,
        minutes=data.minutes,
        source=HourSource.service_order,
        source_id=order.id,
    )
    return order


async def rate(
    session: AsyncSession, *, caller: Caller, order: ServiceOrder, data: OrderRate
) -> ServiceOrder:
    """The orderer rates once (a second rating is 409 `order_already_rated`); the taker
    then earns the district's `per_completed_order` points (once per order: the
    ledger's unique source key)."""
    if order.orderer_id != caller.id:
        raise Forbidden("forbidden", "只有点单人可以评价")
    LIFECYCLE.require(order, OrderAction.rate)
    now = utcnow()
    await lifecycle.move(
        session,
        LIFECYCLE,
        order,
        caller=caller,
        action=OrderAction.rate,
        now=now,
        note=text_or_none(data.comment),
        values={"stars": data.stars, "rating_comment": text_or_none(data.comment), "rated_at": now},
    )
    assert order.id is not None and order.taken_by_id is not None  # rated implies taken
    await points.grant_for(
        session,
        source_kind=SourceKind.service_order,
        source_id=order.id,
        user_id=order.taken_by_id,
        org_id=order.community_id,
    )
    return order


async def cancel(session: AsyncSession, *, caller: Caller, order: ServiceOrder) -> ServiceOrder:
    """The orderer, before anyone has taken it."""
    if order.orderer_id != caller.id:
        raise Forbidden("forbidden", "只有点单人可以取消")
    LIFECYCLE.require(order, OrderAction.cancel)
    await lifecycle.move(session, LIFECYCLE, order, caller=caller, action=OrderAction.cancel)
    return order


# --- the daily overdue scan (app/services/notifications/scans.py) ---------------------------


async def _chase_overdue(session: AsyncSession, settings: Settings, now: datetime) -> int:
    # Candidates in SQL (at least two plain days waiting, or past their wanted time);
    # the working-day rule in Python on those few.
    waiting = (OrderStatus.accepted, OrderStatus.dispatched, OrderStatus.taken)
    rows = await session.execute(
        select(ServiceOrder).where(
            or_(
                and_(
                    col(ServiceOrder.status) == OrderStatus.submitted,
                    col(ServiceOrder.created_at) < now - timedelta(days=ACCEPT_WITHIN_WORKING_DAYS),
                ),
                and_(
                    col(ServiceOrder.status).in_(waiting),
                    col(ServiceOrder.wanted_at) < now,
                ),
            )
        )
    )
    overdue = [o for o in rows.scalars() if is_overdue(o, now)]
    notified = 0
    for order in overdue:
        notified += await service_orders_messages.order_overdue(session, order=order, now=now)
    return notified


SCANS = (scans.Scan(job="service_order_scan", period=scans.daily, work=_chase_overdue),)
