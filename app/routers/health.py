"""Liveness and readiness, at the root outside /api/v1 for load balancers and k8s."""

import hmac
import logging

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from app.core.errors import PROBLEM_JSON, Unauthorized
from app.core.security import bearer_token

logger = logging.getLogger("app.health")
router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "A dependency does not answer"}})
async def readyz(request: Request) -> JSONResponse:
    """The database and the storage answer."""
    checks: dict[str, str] = {}
    try:
        async with request.app.state.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        logger.warning("readyz: database check failed: %s", type(exc).__name__)
        checks["database"] = "unavailable"
    try:
        await request.app.state.storage.check()
        checks["storage"] = "ok"
    except Exception as exc:
        logger.warning("readyz: storage check failed: %s", type(exc).__name__)
        checks["storage"] = "unavailable"
    # The read replica never makes the node unready: without it the primary serves
    # its reads. Its state and lag are shown for the operator (app/core/replica.py).
    replica = request.app.state.replica
    replica_state = (await replica.state()).as_json(replica.max_lag_s)
    if all(v == "ok" for v in checks.values()):
        return JSONResponse({"status": "ok", "checks": checks, "replica": replica_state})
    return JSONResponse(
        {
            "type": "about:blank",
            "title": "服务暂时不可用",
            "status": 503,
            "detail": "依赖的服务暂时无法访问",
            "code": "not_ready",
            "checks": checks,
            "replica": replica_state,
        },
        status_code=503,
        media_type=PROBLEM_JSON,
    )


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format"}
    },
)
async def metrics(request: Request) -> Response:
    """Request counts and latency by route template and status, and business gauges."""
    expected = request.app.state.settings.metrics_token
    if expected:
        given = bearer_token(request.headers.get("authorization")) or ""
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise Unauthorized("not_authenticated", "需要监控令牌")
    async with request.app.state.sessionmaker() as session:
        await request.app.state.business_gauges.refresh(session)
    await request.app.state.replica.state()  # its lag, checked if a second old
    body = generate_latest(request.app.state.metrics_registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
