"""What report-ins tell whom: the texts and recipients of their notifications.

Each function is one event; it decides who hears it and what they read and hands
that to the shared outbox (app/services/notifications/outbox.py), in the caller's
transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.core.timeutil import local, month_key
from app.models.notification import NotificationKind
from app.models.report_in import ReportIn
from app.models.user import Role, RoleGrant, User
from app.services.notifications.outbox import Content, notify
from app.services.notifications.recipients import party_members_owing


async def report_in_reminder(session: AsyncSession, *, now: datetime) -> int:
    """The monthly reminder, to party members with a home community (where they
    report) who have not reported in `now`'s Shanghai month; once a month each.
    Answers how many messages are new."""
    t, month = local(now), month_key(now)
    done = select(ReportIn.user_id).where(ReportIn.month == month)
    members = await notify(
        session,
        user_ids=await party_members_owing(
            session,
            on_roster=col(User.community_id).is_not(None),
            done=done,
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
    return members + await _unit_secretaries(session, now=now, done=done)


async def _unit_secretaries(session: AsyncSession, *, now: datetime, done: Select[Any]) -> int:
    """The same day, to each unit's party secretary: how many of the unit's party
    members (wherever they live) still owe this month's report-in. Units with none
    owing hear nothing; once a month each (per unit)."""
    t, month = local(now), month_key(now)
    owing = (
        select(col(User.unit_id), func.count())
        .where(
            col(User.is_party_member).is_(True),
            col(User.unit_id).in_(
                select(RoleGrant.org_id).where(col(RoleGrant.role) == Role.unit_admin)
            ),
            col(User.id).not_in(done),
        )
        .group_by(col(User.unit_id))
    )
    counts: dict[int, int] = {
        unit_id: n for unit_id, n in (await session.execute(owing)).all() if unit_id is not None
    }
    if not counts:
        return 0
    secretaries: dict[int, set[int]] = {}
    grants = await session.execute(
        select(RoleGrant.org_id, RoleGrant.user_id).where(
            col(RoleGrant.role) == Role.unit_admin, col(RoleGrant.org_id).in_(counts)
        )
    )
    for unit_id, user_id in grants.all():
        secretaries.setdefault(unit_id, set()).add(user_id)
    created = 0
    for unit_id, n in sorted(counts.items()):
        created += await notify(
            session,
            user_ids=secretaries.get(unit_id, ()),
            dedupe_key=f"report_in_unit:{month}:{unit_id}",
            content=Content(
                kind=NotificationKind.report_in_unit_reminder,
                title="本单位党员报到提醒",
                body=f"本单位还有 {n} 名党员{t.year}年{t.month}月没有到社区报到",
                subject="党员到社区报到",
                status=f"{n} 人未报到",
                note=f"请提醒他们于{t.month}月底前报到",
                at=now,
                target_type="org",
                target_id=unit_id,
            ),
        )
    return created
