"""Liveness and readiness, at the root outside /api/v1 for load balancers and k8s."""

import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from app.core.errors import PROBLEM_JSON

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
    if all(v == "ok" for v in checks.values()):
        return JSONResponse({"status": "ok", "checks": checks})
    return JSONResponse(
        {
            "type": "about:blank",
            "title": "服务暂时不可用",
            "status": 503,
            "detail": "依赖的服务暂时无法访问",
            "code": "not_ready",
            "checks": checks,
        },
        status_code=503,
        media_type=PROBLEM_JSON,
    )
