"""What volunteer registrations tell whom (the shared outbox does the sending)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import utcnow
from app.models.notification import NotificationKind
from app.models.volunteer import Volunteer, VolunteerStatus
from app.services.notifications.outbox import Content, notify
from app.services.notifications.recipients import responsible_admins


async def volunteer_registered(session: AsyncSession, *, volunteer: Volunteer) -> None:
    """To the community's admins, who review it."""
    await notify(
        session,
        user_ids=await responsible_admins(session, volunteer.community_id),
        exclude=[volunteer.user_id],
        content=Content(
            kind=NotificationKind.volunteer_registered,
            title="新的志愿者登记",
            body="有居民登记成为志愿者，请审核",
            subject="志愿者登记",
            status="待审核",
            note="请在工作台审核",
            at=volunteer.created_at or utcnow(),
            target_type="volunteer",
            target_id=volunteer.id,
        ),
    )


async def volunteer_reviewed(
    session: AsyncSession, *, volunteer: Volunteer, reason: str | None
) -> None:
    """To the person."""
    approved = volunteer.status == VolunteerStatus.approved
    await notify(
        session,
        user_ids=[volunteer.user_id],
        content=Content(
            kind=NotificationKind.volunteer_reviewed,
            title="志愿者登记已通过" if approved else "志愿者登记未通过",
            body="欢迎加入志愿服务" if approved else f"未通过原因：{reason}",
            subject="志愿者登记",
            status="已通过" if approved else "已驳回",
            note="欢迎加入志愿服务" if approved else (reason or ""),
            at=volunteer.reviewed_at or utcnow(),
            target_type="volunteer",
            target_id=volunteer.id,
        ),
    )
