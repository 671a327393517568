"""What supervision tells whom: the texts and recipients of the problems' notifications.

Each function is one event; it decides who hears it and what they read and hands
that to the shared outbox (app/services/notifications/outbox.py), in the caller's
transaction. Filing and verifying are called by app/services/problems.py; due soon
and overdue by the daily problem scan, which picks the problems.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.models.notification import NotificationKind
from app.models.org import OrgLevel
from app.models.problem import Problem
from app.services.notifications.outbox import Content, notify, quoted
from app.services.notifications.recipients import OrgAdmins, responsible_admins


def _content(
    problem: Problem,
    kind: NotificationKind,
    title: str,
    body: str,
    status: str,
    note: str,
    at: datetime | None = None,
) -> Content:
    return Content(
        kind=kind,
        title=title,
        body=body,
        subject=problem.description,
        status=status,
        note=note,
        at=at or problem.updated_at,
        target_type="problem",
        target_id=problem.id,
    )


def _deadline_text(problem: Problem) -> str:
    return f"{problem.deadline.month}月{problem.deadline.day}日"


async def problem_filed(session: AsyncSession, *, problem: Problem, filer_id: int) -> None:
    """To the admins answering for the responsible org."""
    deadline = _deadline_text(problem)
    await notify(
        session,
        user_ids=await responsible_admins(session, problem.org_id),
        exclude=[filer_id],
        content=_content(
            problem,
            NotificationKind.problem_assigned,
            "新的督办问题",
            f"有新的督办问题{quoted(problem.description)}，请于{deadline}前整改",
            "待整改",
            f"整改期限{deadline}",
        ),
    )


async def problem_verified(
    session: AsyncSession, *, problem: Problem, closed: bool, note: str | None, verifier_id: int
) -> None:
    """To the admins answering for the responsible org: closed, or back to rectify."""
    body = (
        f"督办问题{quoted(problem.description)}复核通过，已销号"
        if closed
        else f"督办问题{quoted(problem.description)}复核未通过，请重新整改：{note or ''}"
    )
    await notify(
        session,
        user_ids=await responsible_admins(session, problem.org_id),
        exclude=[verifier_id],
        content=_content(
            problem,
            NotificationKind.problem_verified,
            "督办问题已复核",
            body,
            "已销号" if closed else "退回整改",
            "复核通过" if closed else note or "请重新整改",
        ),
    )


# --- the daily scan's: once per problem (dedupe keys), whichever day's scan finds it ---


def _scan_content(
    problem: Problem, kind: NotificationKind, title: str, body: str, status: str, now: datetime
) -> Content:
    return _content(problem, kind, title, body, status, f"整改期限{_deadline_text(problem)}", now)


async def problem_due_soon(
    session: AsyncSession, *, problem: Problem, path: str, admins: OrgAdmins, now: datetime
) -> int:
    """To the admins answering for the responsible org (at `path`); answers how many
    messages are new."""
    return await notify(
        session,
        user_ids=admins.responsible(path),
        dedupe_key=f"problem:{problem.id}:due_soon",
        content=_scan_content(
            problem,
            NotificationKind.problem_due_soon,
            "督办问题即将到期",
            f"督办问题{quoted(problem.description)}即将到期，请尽快整改",
            "即将到期",
            now,
        ),
    )


async def problem_overdue(
    session: AsyncSession,
    *,
    problem: Problem,
    path: str,
    admins: OrgAdmins,
    to_district: bool,
    now: datetime,
) -> int:
    """To the admins answering for the responsible org (at `path`); escalated to the
    street's admins, and to the district's too when `to_district`. Answers how many
    messages are new."""
    responsible = admins.responsible(path)
    notified = await notify(
        session,
        user_ids=responsible,
        dedupe_key=f"problem:{problem.id}:overdue",
        content=_scan_content(
            problem,
            NotificationKind.problem_overdue,
            "督办问题已逾期",
            f"督办问题{quoted(problem.description)}已超过整改期限，已升级督办",
            "已逾期",
            now,
        ),
    )
    levels = [(OrgLevel.street, "街道")]
    if to_district:
        levels.append((OrgLevel.district, "区"))
    for level, name in levels:
        notified += await notify(
            session,
            user_ids=admins.at_level(path, level),
            exclude=responsible,
            dedupe_key=f"problem:{problem.id}:escalated:{level.value}",
            content=_scan_content(
                problem,
                NotificationKind.problem_escalated,
                "督办问题逾期升级",
                f"督办问题{quoted(problem.description)}逾期未整改，已升级至{name}督办",
                "升级督办",
                now,
            ),
        )
    return notified
