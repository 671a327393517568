"""The scheduled scans: problems due soon, overdue and escalated; the monthly
report-in reminder; the yearly wish-quota reminder. Who hears what is the domains'
(problems_messages, report_ins_messages, wishes_messages); a scan says when.

Each scan takes `now` (the scheduler's clock, or a test's) and runs in one
transaction that first claims its period in `job_runs` (INSERT ... ON CONFLICT DO
NOTHING on the unique job + period): a second scheduler or worker running the same
scan at the same time waits for the first to commit, finds the row and does
nothing; a scan that fails rolls its claim back with its messages, so the next
run does it. Every message also carries a dedupe key, so even a scan of another
period never tells anyone the same thing twice.

The monthly and yearly reminders run every day and do their work on the first
day on or after their configured date, so a day the scheduler was down is made
up the next day.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select

from app.core.config import Settings
from app.core.db import dialect_insert, write_transaction
from app.core.timeutil import local, month_key
from app.models.notification import JobRun
from app.models.org import Org
from app.models.problem import UNRESOLVED, EscalationLevel, Problem
from app.services import problems_messages, report_ins_messages, wishes_messages
from app.services.notifications.recipients import OrgAdmins
from app.services.problems import escalation_condition, overdue_condition
from app.services.workdays import CalendarYearUnknown, add_working_days


class ScanResult(BaseModel):
    job: str
    period: str
    ran: bool
    notified: int = 0


async def _claim_period(session: AsyncSession, job: str, period: str, now: datetime) -> int | None:
    """The id of our `job_runs` row, or None when this period's run is someone else's."""
    claimed = await session.execute(
        dialect_insert(session, JobRun)
        .values(job=job, period=period, started_at=now, notified=0)
        .on_conflict_do_nothing(index_elements=["job", "period"])
        .returning(JobRun.id)
    )
    run_id: int | None = claimed.scalar_one_or_none()
    return run_id


async def _finish(session: AsyncSession, run_id: int, notified: int) -> None:
    await session.execute(update(JobRun).where(col(JobRun.id) == run_id).values(notified=notified))


async def _once_per_period(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    job: str,
    period: str,
    now: datetime,
    work: Callable[[AsyncSession], Awaitable[int]],
) -> ScanResult:
    """Run `work` (which answers how many it notified) once per (job, period),
    however many run it, in the transaction that claims the period."""
    async with write_transaction(sessionmaker) as session:
        run_id = await _claim_period(session, job, period, now)
        if run_id is None:
            return ScanResult(job=job, period=period, ran=False)
        notified = await work(session)
        await _finish(session, run_id, notified)
    return ScanResult(job=job, period=period, ran=True, notified=notified)


# --- supervision: due soon, overdue, escalated ---------------------------------------


def due_by(today: date, working_days: int) -> date:
    """The last deadline that counts as "due soon" today."""
    if working_days < 1:
        return today
    try:
        return add_working_days(today, working_days)
    except CalendarYearUnknown:
        # No holiday schedule yet for next year: plain days are the safe side.
        return today + timedelta(days=working_days)


async def problem_scan(
    *, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, now: datetime
) -> ScanResult:
    """Daily. Problems due within PROBLEM_DUE_SOON_WORKING_DAYS: the admins answering
    for the responsible org. Overdue: those admins, and the street's admins
    (escalated to the street); overdue past PROBLEM_DISTRICT_ESCALATION_DAYS: the
    district's admins too. Overdue and escalation are the same SQL conditions the
    problem lists use, so the scan and the lists always agree."""
    today = local(now).date()

    async def chase(session: AsyncSession) -> int:
        deadline_soon = due_by(today, settings.problem_due_soon_working_days)
        due_soon = (
            await session.execute(
                select(Problem, Org.path)
                .join(Org, col(Org.id) == col(Problem.org_id))
                .where(
                    col(Problem.status).in_(UNRESOLVED),
                    col(Problem.deadline_at) > now,
                    col(Problem.deadline) <= deadline_soon,
                )
                .order_by(col(Problem.id))
            )
        ).all()
        overdue = (
            await session.execute(
                select(Problem, Org.path)
                .join(Org, col(Org.id) == col(Problem.org_id))
                .where(overdue_condition(now))
                .order_by(col(Problem.id))
            )
        ).all()
        to_district = set(
            (
                await session.execute(
                    select(Problem.id).where(
                        escalation_condition(
                            EscalationLevel.district, now, settings.problem_district_escalation_days
                        )
                    )
                )
            ).scalars()
        )
        admins = await OrgAdmins.load(session, [path for _, path in (*due_soon, *overdue)])
        notified = 0
        for problem, path in due_soon:
            notified += await problems_messages.problem_due_soon(
                session, problem=problem, path=path, admins=admins, now=now
            )
        for problem, path in overdue:
            notified += await problems_messages.problem_overdue(
                session,
                problem=problem,
                path=path,
                admins=admins,
                to_district=problem.id in to_district,
                now=now,
            )
        return notified

    return await _once_per_period(
        sessionmaker, job="problem_scan", period=today.isoformat(), now=now, work=chase
    )


# --- the monthly report-in and the yearly wish quota -------------------------------------


async def report_in_reminders(
    *, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, now: datetime
) -> ScanResult:
    """From REPORT_IN_REMINDER_DAY on, once a month (report_ins_messages says to whom)."""
    job, month = "report_in_reminders", month_key(now)
    if local(now).day < settings.report_in_reminder_day:
        return ScanResult(job=job, period=month, ran=False)
    return await _once_per_period(
        sessionmaker,
        job=job,
        period=month,
        now=now,
        work=lambda session: report_ins_messages.report_in_reminder(session, now=now),
    )


async def wish_quota_reminders(
    *, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, now: datetime
) -> ScanResult:
    """From the configured date in Q4 on, once a year (wishes_messages says to whom)."""
    t = local(now)
    job, year = "wish_quota_reminders", str(t.year)
    start = (settings.wish_quota_reminder_month, settings.wish_quota_reminder_day)
    if (t.month, t.day) < start:
        return ScanResult(job=job, period=year, ran=False)
    return await _once_per_period(
        sessionmaker,
        job=job,
        period=year,
        now=now,
        work=lambda session: wishes_messages.wish_quota_reminder(session, now=now),
    )
