"""What report-ins tell whom: the texts and recipients of their notifications.

Each function is one event; it decides who hears it and what they read and hands
that to the shared outbox (app/services/notifications/outbox.py), in the caller's
transaction.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.core.timeutil import local, month_key
from app.models.notification import NotificationKind
from app.models.report_in import (
    ReportIn,
)
from app.models.user import User
from app.services.notifications.outbox import Content, notify
from app.services.notifications.recipients import party_members_owing


async def report_in_reminder(session: AsyncSession, *, now: datetime) -> int:
    """The monthly reminder, to party members with a home community (where they
    report) who have not reported in `now`'s Shanghai month; once a month each.
    Answers how many messages are new."""
    t, month = local(now), month_key(now)
    return await notify(
        session,
        user_ids=await party_members_owing(
            session,
            on_roster=col(User.community_id).is_not(None),
            done=select(ReportIn.user_id).where(ReportIn.month == month),
        ),
        dedupe_key=f"report_in:{month}",
        content=Content(
            kind=NotificationKind.report_in_reminder,
            title="本月报到提醒",
            body=f"你{t.year}年{t.month}月还没有到社区报到，请在月底前完成报到",
            subject="到社区报到",
            status="待报到",
            note=f"请于{t.month}月底前报到",
            at=now,
            target_type="report_in",
        ),
    )
