"""Prometheus metrics: HTTP counts and latency by route template (instrumented by
prometheus-fastapi-instrumentator) and a few business gauges read at scrape time.

Each app has its own registry, so several apps in one process (tests) do not
collide. With several uvicorn workers, set PROMETHEUS_MULTIPROC_DIR as
prometheus_client documents, or scrape each worker.
"""

from __future__ import annotations

import time

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Gauge
from prometheus_fastapi_instrumentator import Instrumentator
from prometheus_fastapi_instrumentator.middleware import PrometheusInstrumentatorMiddleware
from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select
from starlette.requests import Request

from app.core.db import utcnow
from app.core.route_templates import route_name
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


class _MetricsMiddleware(PrometheusInstrumentatorMiddleware):
    """The instrumentator's middleware, finding the route template in one regex match
    (app.core.route_templates) instead of walking every route before each request."""

    def _get_handler(self, request: Request) -> tuple[str, bool]:
        name = route_name(request.scope, include_root_path=self.should_include_root_path)
        return name or request.url.path, name is not None


def install_metrics(app: FastAPI) -> CollectorRegistry:
    registry = CollectorRegistry()
    Instrumentator(
        should_group_status_codes=False,
        excluded_handlers=["/metrics"],
        registry=registry,
    ).instrument(app)
    # The same middleware with the same settings, but the cheaper template lookup.
    for middleware in app.user_middleware:
        if middleware.cls is PrometheusInstrumentatorMiddleware:
            middleware.cls = _MetricsMiddleware  # type: ignore[assignment]
    app.state.metrics_registry = registry
    app.state.business_gauges = BusinessGauges(registry)
    return registry
