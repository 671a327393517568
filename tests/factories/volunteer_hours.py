"""Volunteer-hours ledger entries straight in the database."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi import FastAPI

from app.core.db import utcnow
from app.models.org import Org
from app.models.user import User
from app.models.volunteer_hours import HourSource, HourStatus, VolunteerHour


async def insert_entry(
    app: FastAPI,
    *,
    user: User,
    org: Org,
    started_at: datetime | None = None,
    minutes: int = 90,
    status: HourStatus = HourStatus.pending,
    source: HourSource = HourSource.manual,
    source_id: int | None = None,
    activity: str = "清理背街小巷",
) -> VolunteerHour:
    start = started_at or utcnow() - timedelta(days=1)
    async with app.state.sessionmaker() as session, session.begin():
        entry = VolunteerHour(
            user_id=user.id,
            org_id=org.id,
            activity=activity,
            started_at=start,
            ended_at=start + timedelta(minutes=minutes),
            minutes=minutes,
            source=source,
            source_id=source_id,
            status=status,
        )
        session.add(entry)
        return entry
