"""What residents' reports tell whom: the inbox's admins hear of a new report, the
reporter hears what became of it. Called by app/services/reports.py, in its transaction."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.models.notification import NotificationKind
from app.models.report import Report
from app.services.notifications.outbox import Content, notify, quoted
from app.services.notifications.recipients import responsible_admins


def _content(
    report: Report, kind: NotificationKind, title: str, body: str, status: str, note: str
) -> Content:
    return Content(
        kind=kind,
        title=title,
        body=body,
        subject=report.description,
        status=status,
        note=note,
        at=report.updated_at,
        target_type="report",
        target_id=report.id,
    )


async def report_received(session: AsyncSession, *, report: Report) -> None:
    """To the admins answering for the community it was reported to."""
    await notify(
        session,
        user_ids=await responsible_admins(session, report.org_id),
        exclude=[report.reporter_id],
        content=_content(
            report,
            NotificationKind.report_received,
            "新的随手拍",
            f"居民反映{quoted(report.description)}，请受理或说明不予受理的原因",
            "待受理",
            "随手拍",
        ),
    )


async def report_accepted(session: AsyncSession, *, report: Report) -> None:
    """To the reporter: their report is now a problem being dealt with."""
    await notify(
        session,
        user_ids=[report.reporter_id],
        content=_content(
            report,
            NotificationKind.report_accepted,
            "随手拍已受理",
            f"你反映的{quoted(report.description)}已受理，已转交责任单位整改",
            "已受理",
            "感谢你的反映",
        ),
    )


async def report_rejected(session: AsyncSession, *, report: Report) -> None:
    """To the reporter, with the reason."""
    reason = report.reject_reason or ""
    await notify(
        session,
        user_ids=[report.reporter_id],
        content=_content(
            report,
            NotificationKind.report_rejected,
            "随手拍未受理",
            f"你反映的{quoted(report.description)}未受理：{reason}",
            "未受理",
            reason,
        ),
    )
