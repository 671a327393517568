"""What service orders tell whom: one function per step, handed to the shared outbox in
the caller's transaction (called through the lifecycle's `notify`, and by the scan)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import utcnow
from app.core.timeutil import local
from app.models.notification import NotificationKind
from app.models.service_order import OrderStatus, ServiceOrder
from app.models.team import Team
from app.models.user import User
from app.services.notifications.outbox import Content, notify, quoted
from app.services.notifications.recipients import responsible_admins
from app.services.teams import approved_member_ids


def _content(
    order: ServiceOrder, kind: NotificationKind, title: str, body: str, status: str, note: str
) -> Content:
    return Content(
        kind=kind,
        title=title,
        body=body,
        subject=order.title,
        status=status,
        note=note,
        at=order.updated_at or utcnow(),
        target_type="service_order",
        target_id=order.id,
    )


async def order_submitted(session: AsyncSession, *, order: ServiceOrder) -> None:
    """To the community's admins, who accept (审单) it."""
    await notify(
        session,
        user_ids=await responsible_admins(session, order.community_id),
        exclude=[order.orderer_id],
        content=_content(
            order,
            NotificationKind.service_order_submitted,
            "新的服务订单",
            f"居民点单{quoted(order.title)}，请受理",
            "待受理",
            "请在 2 个工作日内受理",
        ),
    )


async def order_reviewed(session: AsyncSession, *, order: ServiceOrder, reason: str | None) -> None:
    """To the orderer: accepted, or rejected with the reason."""
    accepted = order.status == OrderStatus.accepted
    await notify(
        session,
        user_ids=[order.orderer_id],
        content=_content(
            order,
            NotificationKind.service_order_accepted
            if accepted
            else NotificationKind.service_order_rejected,
            "服务订单已受理" if accepted else "服务订单未受理",
            f"你的订单{quoted(order.title)}"
            + ("已受理，正在安排志愿服务队" if accepted else f"未受理：{reason}"),
            "已受理" if accepted else "已驳回",
            "正在安排" if accepted else (reason or ""),
        ),
    )


async def order_dispatched(session: AsyncSession, *, order: ServiceOrder, team: Team) -> None:
    """To the team's members, who may take it."""
    assert team.id is not None
    await notify(
        session,
        user_ids=await approved_member_ids(session, team.id),
        content=_content(
            order,
            NotificationKind.service_order_dispatched,
            "有新的派单",
            f"订单{quoted(order.title)}已派给{team.name}，快去接单吧",
            "待接单",
            team.name,
        ),
    )


async def order_taken(session: AsyncSession, *, order: ServiceOrder, taker: User) -> None:
    """To the orderer and the community's admins."""
    await notify(
        session,
        user_ids=[order.orderer_id, *await responsible_admins(session, order.community_id)],
        exclude=[taker.id],
        content=_content(
            order,
            NotificationKind.service_order_taken,
            "服务订单已接单",
            f"志愿者{taker.name}接下了订单{quoted(order.title)}",
            "已接单",
            f"接单人：{taker.name}",
        ),
    )


async def order_completed(session: AsyncSession, *, order: ServiceOrder) -> None:
    """To the orderer, who rates it, and the community's admins."""
    await notify(
        session,
        user_ids=[order.orderer_id, *await responsible_admins(session, order.community_id)],
        exclude=[order.taken_by_id],
        content=_content(
            order,
            NotificationKind.service_order_completed,
            "服务已完成",
            f"订单{quoted(order.title)}已完成，请评价",
            "已完成",
            "请为本次服务评价",
        ),
    )


async def order_overdue(session: AsyncSession, *, order: ServiceOrder, now: datetime) -> int:
    """To the community's admins, once per order and day."""
    return await notify(
        session,
        user_ids=await responsible_admins(session, order.community_id),
        dedupe_key=f"service_order_overdue:{order.id}:{local(now).date().isoformat()}",
        content=_content(
            order,
            NotificationKind.service_order_overdue,
            "服务订单已逾期",
            f"订单{quoted(order.title)}已逾期，请尽快处理",
            "已逾期",
            "请尽快处理",
        ),
    )
