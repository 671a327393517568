"""What the indicators tell whom: the owner hears that their materials were returned;
an overdue item, its owner and the admins answering for its org. Called by
app/services/indicators.py, in its transaction."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.models.indicator import Indicator
from app.models.notification import NotificationKind
from app.services.notifications.outbox import Content, notify, quoted


def _content(
    indicator: Indicator,
    kind: NotificationKind,
    title: str,
    body: str,
    status: str,
    note: str,
    at: datetime,
) -> Content:
    return Content(
        kind=kind,
        title=title,
        body=body,
        subject=f"{indicator.code} {indicator.title}",
        status=status,
        note=note,
        at=at,
        target_type="indicator",
        target_id=indicator.id,
    )


async def indicator_returned(session: AsyncSession, *, indicator: Indicator) -> None:
    """To the owner, with the reviewer's comment."""
    comment = indicator.review_comment or ""
    await notify(
        session,
        user_ids=[indicator.owner_id],
        content=_content(
            indicator,
            NotificationKind.indicator_returned,
            "申报材料被退回",
            f"指标{quoted(indicator.title)}的材料被退回：{comment}",
            "已退回",
            comment,
            indicator.updated_at,
        ),
    )


async def indicator_overdue(
    session: AsyncSession, *, indicator: Indicator, admins: Iterable[int], now: datetime
) -> int:
    """To the owner and the admins answering for the org; answers how many are new."""
    return await notify(
        session,
        user_ids=[indicator.owner_id, *admins],
        dedupe_key=f"indicator:{indicator.id}:overdue",
        content=_content(
            indicator,
            NotificationKind.indicator_overdue,
            "申报指标已逾期",
            f"指标{quoted(indicator.title)}已过截止日期{indicator.due_on.isoformat()}，"
            "请尽快提交材料",
            "已逾期",
            "网上资料申报",
            now,
        ),
    )
