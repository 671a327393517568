"""What the wishes tell whom: the texts and recipients of their notifications.

Each function is one event: it decides who hears it and what they read, and hands
that to the shared outbox (app/services/notifications/outbox.py), in the caller's
transaction. The wish services call them through the lifecycle's `notify`; the
yearly quota reminder is called by its scan.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.core.db import utcnow
from app.core.timeutil import local
from app.models.notification import NotificationKind
from app.models.user import User
from app.models.wish import Wish
from app.services.notifications.outbox import Content, notify, quoted
from app.services.notifications.recipients import party_members_owing, responsible_admins
from app.services.wish_quota import kept_claimers


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


async def wish_unconfirmed(session: AsyncSession, *, wish: Wish, reason: str) -> None:
    """To the claimant: the confirmation withdrawn, and why."""
    assert wish.id is not None
    await notify(
        session,
        user_ids=[wish.claimed_by_id],
        content=Content(
            kind=NotificationKind.wish_unconfirmed,
            title="心愿确认已撤回",
            body=f"你认领的心愿{quoted(wish.title)}的完成确认已撤回：{reason}",
            subject=wish.title,
            status="待确认",
            note=reason,
            at=wish.updated_at or utcnow(),
            target_type="wish",
            target_id=wish.id,
        ),
    )


async def wish_quota_reminder(session: AsyncSession, *, now: datetime) -> int:
    """The yearly reminder, to party members (with a home community or unit) who have
    not kept a wish claim in `now`'s Shanghai year, counted as GET /stats/wish-quota
    counts them; once a year each. Answers how many messages are new."""
    t = local(now)
    return await notify(
        session,
        user_ids=await party_members_owing(
            session,
            on_roster=or_(col(User.community_id).is_not(None), col(User.unit_id).is_not(None)),
            done=kept_claimers(t.year),
        ),
        dedupe_key=f"wish_quota:{t.year}",
        content=Content(
            kind=NotificationKind.wish_quota_reminder,
            title="微心愿认领提醒",
            body=f"{t.year}年你还没有认领微心愿，每名党员每年至少认领一个，快去看看吧",
            subject="认领微心愿",
            status="待认领",
            note=f"{t.year}年底前至少认领一个",
            at=now,
            target_type="wish",
        ),
    )
