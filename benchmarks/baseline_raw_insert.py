"""Baseline 2 for the check-in load run: a minimal FastAPI endpoint, one raw INSERT.

Same path and body as the real check-in, a pydantic body model, an asyncpg pool and
one `INSERT ... RETURNING` into `bench_check_ins`, a table shaped like `check_ins`
(same columns, checks, indexes and foreign keys; created by checkin_load.py). No
authentication, no scope, no idempotency, no ORM: what a check-in costs at the least
with FastAPI on PostgreSQL. The member is named by the `X-Bench-User` header the
load script sends with every request (the real app ignores it).

    BENCH_DATABASE_URL=postgresql://... uvicorn --factory \
        benchmarks.baseline_raw_insert:create_app --port 8103
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

import asyncpg
from fastapi import FastAPI, Header, Request
from pydantic import BaseModel, ConfigDict, Field

INSERT = """
INSERT INTO bench_check_ins (task_id, user_id, checked_in_at, check_in_lat, check_in_lng,
                             created_at{org_column})
VALUES ($1, $2, $3, $4, $5, $3{org_value})
RETURNING id, checked_in_at
"""


class Attendance(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lat: float = Field(ge=-90, le=90)
    lng: float = Field(ge=-180, le=180)
    photo_ids: list[int] | None = None


def create_app() -> FastAPI:
    dsn = os.environ["BENCH_DATABASE_URL"]
    # As large as the real app's pool (DATABASE_POOL_SIZE, 20 by default).
    pool_size = int(os.environ.get("BENCH_POOL_SIZE", "20"))
    # check_ins carries a copy of its task's org (all load-run tasks share one), where
    # the schema has that column.
    task_org = int(os.environ.get("BENCH_TASK_ORG", "0"))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with asyncpg.create_pool(dsn, min_size=pool_size, max_size=pool_size) as pool:
            has_org = await pool.fetchval(
                "SELECT count(*) FROM information_schema.columns"
                " WHERE table_name = 'bench_check_ins' AND column_name = 'org_id'"
            )
            app.state.insert = INSERT.format(
                org_column=", org_id" if has_org else "",
                org_value=f", {task_org}" if has_org else "",
            )
            app.state.pool = pool
            yield

    app = FastAPI(lifespan=lifespan)

    @app.post("/api/v1/tasks/{task_id}/check-ins", status_code=201)
    async def check_in(
        task_id: int,
        data: Attendance,
        request: Request,
        x_bench_user: Annotated[int, Header()],
    ) -> dict[str, Any]:
        now = datetime.now(UTC)
        row = await request.app.state.pool.fetchrow(
            request.app.state.insert, task_id, x_bench_user, now, data.lat, data.lng
        )
        return {
            "id": row["id"],
            "task_id": task_id,
            "user_id": x_bench_user,
            "user_name": "",
            "checked_in_at": row["checked_in_at"],
            "checked_out_at": None,
            "minutes": None,
            "check_in_distance_m": None,
            "check_out_distance_m": None,
            "photo_ids": [],
        }

    return app
