"""Baseline 3 for the load run: typical reads as a minimal FastAPI app, raw asyncpg SELECTs.

The same paths and answers' shape as two reads of the real app, each one SELECT on an
asyncpg pool, no authentication, scope or ORM: what such a read costs at the least
with FastAPI on PostgreSQL (benchmarks/checkin_load.py runs it beside the real app).

- `GET /api/v1/tasks/{task_id}`: the task's row by id, answered in TaskPublic's shape
  (status from the clock, the place as a location, `my_check_in` null).
- `GET /api/v1/wishes?status=open`: the first page of 20 open wishes, newest first,
  and how many there are (one SELECT with a window count), in Page[WishPublic]'s shape
  (the beneficiary's name shortened to its first character, no phone).

    BENCH_DATABASE_URL=postgresql://... uvicorn --factory \
        benchmarks.baseline_raw_select:create_app --port 8104
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import asyncpg
from fastapi import FastAPI, HTTPException, Request

TASK = """
SELECT id, org_id, title, description, category, starts_at, ends_at, lat, lng, radius_m,
       capacity, checked_in_count, created_at
FROM tasks WHERE id = $1
"""
WISHES = """
SELECT id, title, description, community_id, status, beneficiary_name, deadline,
       created_by_id, claimed_by_id, claimed_at, fulfilled_at, fulfil_note, confirmed_at,
       created_at, updated_at, count(*) OVER () AS total
FROM wishes WHERE status = $1
ORDER BY created_at DESC, id DESC LIMIT 20
"""


def create_app() -> FastAPI:
    dsn = os.environ["BENCH_DATABASE_URL"]
    # As large as the real app's pool (DATABASE_POOL_SIZE, 20 by default).
    pool_size = int(os.environ.get("BENCH_POOL_SIZE", "20"))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with asyncpg.create_pool(dsn, min_size=pool_size, max_size=pool_size) as pool:
            app.state.pool = pool
            yield

    app = FastAPI(lifespan=lifespan)

    @app.get("/api/v1/tasks/{task_id}")
    async def get_task(task_id: int, request: Request) -> dict[str, Any]:
        row = await request.app.state.pool.fetchrow(TASK, task_id)
        if row is None:
            raise HTTPException(404)
        now = datetime.now(UTC)
        status = (
            "upcoming" if now < row["starts_at"] else "ended" if now > row["ends_at"] else "active"
        )
        location = (
            {"lat": row["lat"], "lng": row["lng"], "radius_m": row["radius_m"]}
            if row["lat"] is not None
            else None
        )
        answer = {k: v for k, v in row.items() if k not in ("lat", "lng", "radius_m")}
        return answer | {"status": status, "location": location, "my_check_in": None}

    @app.get("/api/v1/wishes")
    async def list_wishes(request: Request, status: str = "open") -> dict[str, Any]:
        rows = await request.app.state.pool.fetch(WISHES, status)
        items = [
            {k: v for k, v in r.items() if k != "total"}
            | {
                "beneficiary_name": r["beneficiary_name"][:1] + "*",
                "beneficiary_phone": None,
                "beneficiary_details_visible": False,
                "overdue": False,
                "photo_ids": [],
            }
            for r in rows
        ]
        total = rows[0]["total"] if rows else 0
        return {"items": items, "total": total, "page": 1, "page_size": 20}

    return app
