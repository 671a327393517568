"""The scheduled scans: the mechanism. Each domain declares its own (problems due soon
and overdue in services/problems.py, the monthly report-in reminder in
services/report_ins.py, the yearly wish-quota reminder in services/wishes.py) as a
module-level `SCANS` of `Scan`s; `every_scan` finds them and app/jobs.py schedules each
daily at REMINDER_HOUR (Shanghai), or on its own `cron` where hours matter (urgent
articles in services/articles.py, every quarter hour with `quarter_hourly` periods).
A new domain's scan is one more `Scan` beside it.

Each scan takes `now` (the scheduler's clock, or a test's) and runs in one
transaction that first claims its period in `job_runs` (INSERT ... ON CONFLICT DO
NOTHING on the unique job + period): a second scheduler or worker running the same
scan at the same time waits for the first to commit, finds the row and does
nothing; a scan that fails rolls its claim back with its messages, so the next
run does it. Every message also carries a dedupe key, so even a scan of another
period never tells anyone the same thing twice.

A monthly or yearly scan runs every day and does its work on the first day on or
after its date (`due`), so a day the scheduler was down is made up the next day.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from app.core.config import Settings
from app.core.db import dialect_insert, write_transaction
from app.core.timeutil import local
from app.models.notification import JobRun
from app.services.workdays import CalendarYearUnknown, add_working_days


class ScanResult(BaseModel):
    job: str
    period: str
    ran: bool
    notified: int = 0


@dataclass(frozen=True)
class Scan:
    """One domain's daily scan: its name (also the task's, `chuangwen.<job>`), the
    period a run on `now` belongs to (done once per period), whether it is due yet
    in that period, and the work, which answers how many people it notified."""

    job: str
    period: Callable[[datetime, Settings], str]
    work: Callable[[AsyncSession, Settings, datetime], Awaitable[int]]
    due: Callable[[datetime, Settings], bool] = lambda now, settings: True
    # A cron line (Shanghai) for a scan that cannot wait a day; None: daily at
    # REMINDER_HOUR. Its `period` must then be as fine as the schedule.
    cron: str | None = None


def daily(now: datetime, settings: Settings) -> str:
    return local(now).date().isoformat()


QUARTER_HOURLY = "*/15 * * * *"


def quarter_hourly(now: datetime, settings: Settings) -> str:
    """The quarter hour of `now` (Shanghai), for scans run on QUARTER_HOURLY."""
    t = local(now)
    return f"{t:%Y-%m-%dT%H}:{t.minute // 15 * 15:02d}"


def every_scan() -> list[Scan]:
    """The `SCANS` of every module of app/services, the domains' declarations."""
    import app.services

    found: dict[str, Scan] = {}
    for info in pkgutil.iter_modules(app.services.__path__):
        module = importlib.import_module(f"app.services.{info.name}")
        for scan in getattr(module, "SCANS", ()):
            if scan.job in found:
                raise ValueError(f"two scans are named {scan.job}")
            found[scan.job] = scan
    return sorted(found.values(), key=lambda scan: scan.job)


async def run(
    scan: Scan, *, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, now: datetime
) -> ScanResult:
    """Run `scan` for the period of `now`, once however many run it at once."""
    period = scan.period(now, settings)
    if not scan.due(now, settings):
        return ScanResult(job=scan.job, period=period, ran=False)
    async with write_transaction(sessionmaker) as session:
        run_id = await _claim_period(session, scan.job, period, now)
        if run_id is None:
            return ScanResult(job=scan.job, period=period, ran=False)
        notified = await scan.work(session, settings, now)
        await _finish(session, run_id, notified)
    return ScanResult(job=scan.job, period=period, ran=True, notified=notified)


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


def due_by(today: date, working_days: int) -> date:
    """The last deadline that counts as "due soon" today."""
    if working_days < 1:
        return today
    try:
        return add_working_days(today, working_days)
    except CalendarYearUnknown:
        # No holiday schedule yet for next year: plain days are the safe side.
        return today + timedelta(days=working_days)
