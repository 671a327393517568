"""Prometheus metrics: HTTP counts and latency by route template (the metrics of
prometheus-fastapi-instrumentator's default set) and a few business gauges read at
scrape time.

Each app has its own registry, so several apps in one process (tests) do not
collide. With several uvicorn workers, set PROMETHEUS_MULTIPROC_DIR as
prometheus_client documents, or scrape each worker.
"""

from __future__ import annotations

import re
import time
from http import HTTPStatus
from timeit import default_timer
from typing import Any

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Summary
from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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


# The HTTP metrics, as prometheus-fastapi-instrumentator's default set (names, help
# texts, labels, buckets) with the settings we gave it: statuses not grouped, paths no
# route answers counted as "none", /metrics not counted. tests/core/test_metrics.py
# checks them against the library's own.
_LOWR_BUCKETS = (0.1, 0.5, 1, float("inf"))
_HIGHR_BUCKETS = (
    *(0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5, 5),
    *(7.5, 10, 30, 60, float("inf")),
)
EXCLUDED_HANDLERS = (re.compile("/metrics"),)


class HttpMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.total = Counter(
            "http_requests_total",
            "Total number of requests by method, status and handler.",
            ("method", "status", "handler"),
            registry=registry,
        )
        self.in_size = Summary(
            "http_request_size_bytes",
            "Content length of incoming requests by handler. "
            "Only value of header is respected. Otherwise ignored. "
            "No percentile calculated. ",
            ("handler",),
            registry=registry,
        )
        self.out_size = Summary(
            "http_response_size_bytes",
            "Content length of outgoing responses by handler. "
            "Only value of header is respected. Otherwise ignored. "
            "No percentile calculated. ",
            ("handler",),
            registry=registry,
        )
        self.latency_highr = Histogram(
            "http_request_duration_highr_seconds",
            "Latency with many buckets but no API specific labels. "
            "Made for more accurate percentile calculations. ",
            buckets=_HIGHR_BUCKETS,
            registry=registry,
        )
        self.latency_lowr = Histogram(
            "http_request_duration_seconds",
            "Latency with only few buckets by handler. "
            "Made to be only used if aggregation by handler is important. ",
            ("method", "handler"),
            buckets=_LOWR_BUCKETS,
            registry=registry,
        )
        # Each label set's children, found once: `labels()` validates and looks them
        # up under a lock on every call.
        self._by_handler: dict[str, tuple[Any, Any]] = {}
        self._by_method: dict[tuple[str, str], tuple[Any, dict[str, Any]]] = {}

    def observe(
        self, method: str, handler: str, status: str, size_in: int, size_out: int, seconds: float
    ) -> None:
        sizes = self._by_handler.get(handler)
        if sizes is None:
            sizes = (self.in_size.labels(handler), self.out_size.labels(handler))
            self._by_handler[handler] = sizes
        of_method = self._by_method.get((method, handler))
        if of_method is None:
            of_method = (self.latency_lowr.labels(method, handler), {})
            self._by_method[(method, handler)] = of_method
        latency, totals = of_method
        total = totals.get(status)
        if total is None:
            total = totals[status] = self.total.labels(method, status, handler)
        # In the library's order: count, sizes, latencies.
        total.inc()
        sizes[0].observe(size_in)
        sizes[1].observe(size_out)
        self.latency_highr.observe(seconds)
        latency.observe(seconds)


def _content_length(headers: Any, *, any_case: bool) -> int:
    """The first Content-Length among raw headers, as the library reads it through
    Starlette's Headers (the request's names as sent, the response's in any case; an
    absent one is 0, one that is not a number raises, as there)."""
    for name, value in headers:
        if (name.lower() if any_case else name) == b"content-length":
            return int(value.decode("latin-1"))
    return 0


class MetricsMiddleware:
    """Counts and times every HTTP request by method, route template and status, as
    prometheus-fastapi-instrumentator's middleware did, without its per-request
    Request, Response and Info objects and label look-ups (~4 % of a check-in's
    CPU, docs/PERFORMANCE.md round 9); the template is found in one regex match
    (app.core.route_templates)."""

    def __init__(self, app: ASGIApp, *, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics
        self._excluded: dict[str, bool] = {}

    def _is_excluded(self, handler: str) -> bool:
        excluded = self._excluded.get(handler)
        if excluded is None:
            excluded = any(p.search(handler) for p in EXCLUDED_HANDLERS)
            if len(self._excluded) < 4096:
                self._excluded[handler] = excluded
        return excluded

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = default_timer()
        name = route_name(scope, include_root_path=False)
        if name is not None:
            excluded = self._is_excluded(name)
        else:
            # A path no route answers is counted as "none"; the path itself is only
            # matched against the excluded ones.
            excluded = any(p.search(Request(scope).url.path) for p in EXCLUDED_HANDLERS)
        status: Any = 500
        headers: Any = []

        async def send_noting_status(message: Message) -> None:
            nonlocal status, headers
            if message["type"] == "http.response.start":
                headers = message["headers"]
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            if not excluded:
                seconds = max(default_timer() - started, 0.0)
                self.metrics.observe(
                    scope["method"],
                    name if name is not None else "none",
                    str(status.value) if isinstance(status, HTTPStatus) else str(status),
                    _content_length(scope["headers"], any_case=False),
                    _content_length(headers, any_case=True),
                    seconds,
                )


def install_metrics(app: FastAPI) -> CollectorRegistry:
    registry = CollectorRegistry()
    app.add_middleware(MetricsMiddleware, metrics=HttpMetrics(registry))
    app.state.metrics_registry = registry
    app.state.business_gauges = BusinessGauges(registry)
    return registry
