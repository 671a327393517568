"""What volunteer hours tell whom: the texts and recipients of their notifications.

Each function is one event; it hands who hears it and what they read to the shared
outbox (app/services/notifications/outbox.py), in the caller's transaction.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import utcnow
from app.models.notification import NotificationKind
from app.models.volunteer_hours import HourStatus, VolunteerHour
from app.services.notifications.outbox import Content, notify, quoted


async def hours_reviewed(session: AsyncSession, *, entry: VolunteerHour) -> None:
    """To the entry's owner, approved or rejected."""
    assert entry.id is not None
    approved = entry.status == HourStatus.approved
    reason = entry.review_reason or ""
    await notify(
        session,
        user_ids=[entry.user_id],
        content=Content(
            kind=NotificationKind.hours_approved if approved else NotificationKind.hours_rejected,
            title="志愿时长已通过" if approved else "志愿时长未通过",
            body=(
                f"你登记的{quoted(entry.activity)}{entry.minutes}分钟已审核通过"
                if approved
                else f"你登记的{quoted(entry.activity)}未通过审核：{reason}"
            ),
            subject=entry.activity,
            status="已通过" if approved else "未通过",
            note=f"{entry.minutes}分钟" if approved else reason or "请联系管理员",
            at=entry.reviewed_at or utcnow(),
            target_type="volunteer_hour",
            target_id=entry.id,
        ),
    )


async def hours_revoked(session: AsyncSession, *, entry: VolunteerHour) -> None:
    """To the entry's owner: an approved entry taken back, with the reason."""
    assert entry.id is not None
    reason = entry.review_reason or ""
    await notify(
        session,
        user_ids=[entry.user_id],
        content=Content(
            kind=NotificationKind.hours_revoked,
            title="志愿时长已撤销",
            body=f"你的{quoted(entry.activity)}{entry.minutes}分钟已被撤销：{reason}",
            subject=entry.activity,
            status="已撤销",
            note=reason or "请联系管理员",
            at=entry.reviewed_at or utcnow(),
            target_type="volunteer_hour",
            target_id=entry.id,
        ),
    )
