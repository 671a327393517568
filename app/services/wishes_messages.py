"""What the wishes tell whom: the texts and recipients of their notifications.

Each function is one event: it decides who hears it and what they read, and hands
that to the shared outbox (app/services/notifications.py), in the caller's
transaction. The wish services call them through the lifecycle's `notify`.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import utcnow
from app.models.notification import NotificationKind
from app.models.user import User
from app.models.wish import Wish
from app.services.notifications import Content, notify, quoted, responsible_admins


async def wish_claimed(session: AsyncSession, *, wish: Wish, claimant: User) -> None:
    """To the community's admins, and to the person who posted the wish."""
    assert wish.id is not None
    admins = await responsible_admins(session, wish.community_id)
    await notify(
        session,
        user_ids=[*admins, wish.created_by_id],
        exclude=[claimant.id],
        content=Content(
            kind=NotificationKind.wish_claimed,
            title="心愿已被认领",
            body=f"{claimant.name}认领了心愿{quoted(wish.title)}",
            subject=wish.title,
            status="已认领",
            note=f"认领人：{claimant.name}",
            at=wish.claimed_at or utcnow(),
            target_type="wish",
            target_id=wish.id,
        ),
    )


async def wish_fulfilled(session: AsyncSession, *, wish: Wish, claimant: User) -> None:
    """To the community's admins, who confirm it."""
    assert wish.id is not None
    await notify(
        session,
        user_ids=await responsible_admins(session, wish.community_id),
        exclude=[claimant.id],
        content=Content(
            kind=NotificationKind.wish_fulfilled,
            title="心愿待确认",
            body=f"{claimant.name}已完成心愿{quoted(wish.title)}，请核实后确认",
            subject=wish.title,
            status="待确认",
            note="请核实后确认完成",
            at=wish.fulfilled_at or utcnow(),
            target_type="wish",
            target_id=wish.id,
        ),
    )


async def wish_confirmed(session: AsyncSession, *, wish: Wish, credit_minutes: int) -> None:
    """To the claimant."""
    assert wish.id is not None
    credit = f"，计入志愿服务时长{credit_minutes}分钟" if credit_minutes else ""
    await notify(
        session,
        user_ids=[wish.claimed_by_id],
        content=Content(
            kind=NotificationKind.wish_confirmed,
            title="心愿已确认完成",
            body=f"你认领的心愿{quoted(wish.title)}已确认完成{credit}，感谢你的付出",
            subject=wish.title,
            status="已确认",
            note="感谢你的付出",
            at=wish.confirmed_at or utcnow(),
            target_type="wish",
            target_id=wish.id,
        ),
    )
