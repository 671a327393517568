"""Automatic credits to the volunteer-hours ledger (check-out, confirmed wishes).

Hand-logged entries, reviews and totals live in app/services/volunteer_hours.py.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from app.core.db import utcnow
from app.models.hours import HourSource, HourStatus, VolunteerHour


async def credit(
    session: AsyncSession,
    *,
    user_id: int,
    org_id: int,
    activity: str,
    started_at: datetime,
    ended_at: datetime,
    minutes: int,
    source: HourSource,
    source_id: int,
) -> VolunteerHour | None:
    """An approved entry for `source`/`source_id`, written at most once.

    Returns None (and writes nothing) for zero minutes. A second call for the same
    source record returns the entry the first one wrote.
    """
    if minutes <= 0 or ended_at <= started_at:
        return None
    entry = VolunteerHour(
        user_id=user_id,
        org_id=org_id,
        activity=activity[:200],
        started_at=started_at,
        ended_at=ended_at,
        minutes=minutes,
        source=source,
        source_id=source_id,
        status=HourStatus.approved,
        reviewed_at=utcnow(),
    )
    try:
        async with session.begin_nested():
            session.add(entry)
            await session.flush()
    except IntegrityError:
        existing = await session.execute(
            select(VolunteerHour).where(
                VolunteerHour.source == source, VolunteerHour.source_id == source_id
            )
        )
        return existing.scalar_one()
    return entry
