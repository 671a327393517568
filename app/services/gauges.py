"""Business gauges on /metrics: what the domains hold, counted at scrape time into
the app's registry (app.core.metrics). A domain with a figure operations watch adds
its gauge here, not in app/core."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Gauge
from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.core.db import utcnow
from app.models.problem import Problem, ProblemStatus
from app.models.user import User
from app.models.volunteer_hours import HourStatus, VolunteerHour
from app.models.wish import Wish

# Scrapes come every 15-60 s; the counts may be a few seconds old.
GAUGE_TTL_S = 10.0


class BusinessGauges:
    def __init__(self, registry: CollectorRegistry):
        self.people = Gauge(
            "chuangwen_roster_people",
            "People on the roster (with a home community)",
            registry=registry,
        )
        self.wishes = Gauge(
            "chuangwen_wishes", "Micro-wishes by status", ["status"], registry=registry
        )
        self.problems = Gauge(
            "chuangwen_problems", "Problems by status", ["status"], registry=registry
        )
        self.problems_overdue = Gauge(
            "chuangwen_problems_overdue",
            "Problems open or unverified past their deadline",
            registry=registry,
        )
        self.hours_pending = Gauge(
            "chuangwen_volunteer_hour_entries_pending",
            "Hand-logged entries awaiting review",
            registry=registry,
        )
        self._refreshed = 0.0

    async def refresh(self, session: AsyncSession) -> None:
        if time.monotonic() - self._refreshed < GAUGE_TTL_S:
            return
        people = await session.execute(
            select(func.count()).select_from(User).where(col(User.community_id).is_not(None))
        )
        self.people.set(people.scalar_one())
        for status, n in (
            await session.execute(select(Wish.status, func.count()).group_by(col(Wish.status)))
        ).all():
            self.wishes.labels(status=str(status)).set(n)
        for status, n in (
            await session.execute(
                select(Problem.status, func.count()).group_by(col(Problem.status))
            )
        ).all():
            self.problems.labels(status=str(status)).set(n)
        overdue = await session.execute(
            select(func.count())
            .select_from(Problem)
            .where(
                col(Problem.status).in_([ProblemStatus.open, ProblemStatus.rectified]),
                col(Problem.deadline_at) <= utcnow(),
            )
        )
        self.problems_overdue.set(overdue.scalar_one())
        pending = await session.execute(
            select(func.count())
            .select_from(VolunteerHour)
            .where(VolunteerHour.status == HourStatus.pending)
        )
        self.hours_pending.set(pending.scalar_one())
        self._refreshed = time.monotonic()
