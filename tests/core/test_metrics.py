"""The HTTP metrics are prometheus-fastapi-instrumentator's default set, as its
middleware recorded them with our settings (app.core.metrics.MetricsMiddleware records
them without the library's per-request objects)."""

from __future__ import annotations

import httpx
from fastapi import FastAPI, Request, Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_fastapi_instrumentator import Instrumentator

from app.core.metrics import HttpMetrics, MetricsMiddleware


def _families(registry: CollectorRegistry) -> dict[str, tuple[str, str, list]]:
    return {
        f.name: (
            f.type,
            f.documentation,
            sorted((s.name, tuple(sorted(s.labels.items()))) for s in f.samples),
        )
        for f in text_string_to_metric_families(generate_latest(registry).decode())
    }


def _app(instrumented_by_library: bool) -> tuple[FastAPI, CollectorRegistry]:
    registry = CollectorRegistry()
    app = FastAPI()

    @app.get("/things/{thing_id}")
    async def thing(thing_id: int) -> dict[str, int]:
        return {"id": thing_id}

    @app.post("/things")
    async def create(request: Request) -> Response:
        return Response(status_code=201, content=await request.body())

    @app.get("/metrics")
    async def metrics() -> dict[str, str]:
        return {}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    @app.get("/empty")
    async def empty() -> Response:
        return Response(status_code=204)

    if instrumented_by_library:
        Instrumentator(
            should_group_status_codes=False, excluded_handlers=["/metrics"], registry=registry
        ).instrument(app)
    else:
        app.add_middleware(MetricsMiddleware, metrics=HttpMetrics(registry))
    return app, registry


async def _traffic(app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        await c.get("/things/1")
        await c.get("/things/2")
        await c.get("/things/x")  # 422
        await c.post("/things", content=b"12345")
        await c.delete("/things/1")  # 405
        await c.get("/nowhere")  # 404, untemplated
        await c.get("/nowhere/metrics")  # untemplated, excluded by its path
        await c.get("/metrics")
        await c.get("/empty")
        await c.get("/boom")
        await c.request("PURGE", "/things/3")


async def test_the_same_metrics_as_the_librarys_middleware():
    ours, our_registry = _app(instrumented_by_library=False)
    theirs, their_registry = _app(instrumented_by_library=True)
    await _traffic(ours)
    await _traffic(theirs)

    def values(registry: CollectorRegistry) -> dict:
        # Counts and sizes exactly; latencies by how many were observed.
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(generate_latest(registry).decode())
            for s in f.samples
            if not (s.name.endswith("_sum") and "duration" in s.name)
            and not (s.name.endswith("_bucket") and "duration" in s.name)
            and not s.name.endswith("_created")
        }

    assert _families(our_registry) == _families(their_registry)
    counted = values(our_registry)
    assert counted == values(their_registry)
    total = "http_requests_total"
    assert (
        counted[(total, (("handler", "/things/{thing_id}"), ("method", "GET"), ("status", "200")))]
        == 2
    )
    assert counted[(total, (("handler", "none"), ("method", "GET"), ("status", "404")))] == 1
    assert counted[(total, (("handler", "/boom"), ("method", "GET"), ("status", "500")))] == 1
    assert not any(dict(labels).get("handler") == "/metrics" for _, labels in counted)
