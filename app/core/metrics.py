"""Prometheus metrics: HTTP counts and latency by route template (instrumented by
prometheus-fastapi-instrumentator); the business gauges beside them are the
domains' (app.services.gauges).

Each app has its own registry, so several apps in one process (tests) do not
collide. With several uvicorn workers, set PROMETHEUS_MULTIPROC_DIR as
prometheus_client documents, or scrape each worker.
"""

from __future__ import annotations

from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from prometheus_fastapi_instrumentator import Instrumentator
from prometheus_fastapi_instrumentator.middleware import PrometheusInstrumentatorMiddleware
from starlette.requests import Request

from app.core.route_templates import route_name


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
    return registry
