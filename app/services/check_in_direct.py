"""The check-in's direct path: a plain check-in on PostgreSQL in four round trips on
asyncpg, past SQLAlchemy's execution and FastAPI's dependencies.

Why: the check-in is the request a whole community sends at once when an event
starts, and the one with a throughput goal (issue 6: half of a bare FastAPI endpoint
doing one asyncpg INSERT). Through the general path it costs ~3.3 ms of CPU, of
which SQLAlchemy's async execution of six round trips is over half
(docs/PERFORMANCE.md); here the same statements cost ~0.3 ms.

What it answers: only a check-in that succeeds, and a replay of an answer stored
under the request's Idempotency-Key. Everything else is declined, its transaction
rolled back, and the route's general path (app.edge.route.AppRoute, the
dependencies, services.tasks.check_in) handles the request from the start, refusals
included: no valid bearer token, a body FastAPI would refuse, photos attached, a
task missing or outside the caller's home tree, outside its time or place, already
checked in, full, a twin with the same key committing first, a database error. So
the direct path says yes only where the general path says yes, by the same rules
(`home_refusal`, `attendance_refusal`) on the same rows, and every error reads the
same because the general path writes it.

The rows it reads are those the general path reads: the person and their home
community's path (their roles do not matter: a check-in is for the home tree
only), the task, the stored answer. The writes are the general path's own
statements (the row and the seat, the idempotency record), compiled for asyncpg.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

import asyncpg
from fastapi import Request, Response
from pydantic import Field, TypeAdapter, ValidationError
from sqlalchemy import Integer, String, bindparam
from sqlalchemy import select as sa_select

from app.core.config import Settings
from app.core.db import table_of, utcnow
from app.core.pg_direct import DirectStatement, driver_connection
from app.core.scope import acts_as, path_ids, token_params
from app.edge.admission import connection_turn
from app.edge.idempotency import (
    IDEMPOTENCY_HEADER,
    INSERT_RECORD,
    MAX_KEY_LENGTH,
    RECORDS,
    REPLAY_HEADER,
    StoredAnswer,
    principal_of,
    replay,
    request_hash_of,
    sealed_answer,
)
from app.edge.request_state import token_claims
from app.models.org import Org
from app.models.task import AttendanceInput, Task
from app.models.user import MAX_ID, User
from app.services.tasks import (
    ROW_AND_SEAT,
    NewCheckIn,
    attendance_refusal,
    home_refusal,
    new_check_in_public,
)

logger = logging.getLogger(__name__)

_USERS = table_of(User)
_HOME = table_of(Org).alias("home")
_TASKS = table_of(Task)

# One round trip: the person the token acts as (by the one token rule), their home
# community's path, the task and the answer stored under the key (NULLs where there
# is none; no key, no stored answer).
_READ = DirectStatement.of(
    sa_select(
        _USERS.c.id.label("user_id"),
        _USERS.c.name.label("user_name"),
        _HOME.c.path.label("home_path"),
        _TASKS.c.id.label("task_id"),
        _TASKS.c.org_id,
        _TASKS.c.starts_at,
        _TASKS.c.ends_at,
        _TASKS.c.lat,
        _TASKS.c.lng,
        _TASKS.c.radius_m,
        RECORDS.c.request_hash,
        RECORDS.c.status_code,
        RECORDS.c.response_body,
    )
    .select_from(_USERS)
    .outerjoin(_HOME, _HOME.c.id == _USERS.c.community_id)
    .outerjoin(_TASKS, _TASKS.c.id == bindparam("task_id", type_=Integer))
    .outerjoin(
        RECORDS,
        (RECORDS.c.principal == bindparam("principal", type_=String))
        & (RECORDS.c.key == bindparam("key", type_=String)),
    )
    .where(acts_as(_USERS.c.id))
)
_ROW_AND_SEAT = DirectStatement.of(ROW_AND_SEAT)
_RECORD = DirectStatement.of(
    INSERT_RECORD,
    column_keys=["principal", "key", "request_hash", "status_code", "response_body", "created_at"],
)


_TASK_ID = TypeAdapter(Annotated[int, Field(ge=1, le=MAX_ID)])


@dataclass(frozen=True)
class _TaskRead:
    """The task's columns that attending it is checked against (TaskWhenWhere)."""

    id: int
    org_id: int
    starts_at: datetime
    ends_at: datetime
    lat: float | None
    lng: float | None
    radius_m: int | None


class _Declined(Exception):
    """Roll back and leave the request to the general path."""


async def check_in(request: Request) -> Response | None:
    """The answer to POST /tasks/{task_id}/check-ins, or None for the general path."""
    settings: Settings = request.app.state.settings
    if settings.is_sqlite or not settings.check_in_direct:
        return None
    outcomes = request.app.state.direct_check_ins
    try:
        answer = await _attempt(request, settings)
    except _Declined:
        answer = None
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
        # The general path tries again on another connection and, if the database
        # is really gone, answers 503 as every route does.
        logger.warning("direct check-in failed: %s", type(exc).__name__)
        outcomes.labels("failed").inc()
        return None
    if answer is None:
        outcomes.labels("declined").inc()
    else:
        outcomes.labels("replayed" if REPLAY_HEADER in answer.headers else "answered").inc()
    return answer


async def _attempt(request: Request, settings: Settings) -> Response | None:
    # What FastAPI would accept, checked as FastAPI checks it (the path parameter and
    # the parsed JSON validated by pydantic in Python mode), or no further: a request
    # it would refuse must reach it.
    headers = request.headers
    claims = token_claims(request, settings)
    media_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if claims is None or media_type != "application/json":
        return None
    key = headers.get(IDEMPOTENCY_HEADER)
    if key is not None and not 0 < len(key) <= MAX_KEY_LENGTH:
        return None
    body = await request.body()
    try:
        task_id = _TASK_ID.validate_python(request.path_params["task_id"])
        data = AttendanceInput.model_validate(json.loads(body))
    except (ValidationError, ValueError, RecursionError):
        # Not JSON (a ValueError), nested deeper than the parser goes, or not an
        # attendance: the general path says which, as for every route.
        return None
    if data.photo_ids:
        return None
    principal = principal_of(request, settings) if key is not None else None

    engine = request.app.state.engine
    async with (
        connection_turn(request),
        driver_connection(engine) as connection,
        connection.transaction(),
    ):
        read = await _READ.fetchrow(
            connection,
            {**token_params(claims), "task_id": task_id, "principal": principal, "key": key},
        )
        if read is None:
            return None  # the token acts as nobody (any more): the general path's 401
        user_id = read["user_id"]
        if read["request_hash"] is not None:
            stored = StoredAnswer(read["request_hash"], read["status_code"], read["response_body"])
            return replay(request, stored, request_hash_of(request, body))
        if read["task_id"] is None or read["home_path"] is None:
            return None
        now = utcnow()  # after any wait for a connection, as the general path takes it
        task = _TaskRead(
            id=read["task_id"],
            org_id=read["org_id"],
            starts_at=read["starts_at"],
            ends_at=read["ends_at"],
            lat=read["lat"],
            lng=read["lng"],
            radius_m=read["radius_m"],
        )
        if home_refusal(task, path_ids(read["home_path"])) or attendance_refusal(task, data, now):
            return None
        seat = await _ROW_AND_SEAT.fetchrow(
            connection,
            {
                "new_task_id": task.id,
                "new_org_id": task.org_id,
                "new_user_id": user_id,
                "new_checked_in_at": now,
                "new_lat": data.lat,
                "new_lng": data.lng,
                "new_created_at": now,
            },
        )
        assert seat is not None
        new_id, seated = seat
        if new_id is None or not seated:
            raise _Declined  # already checked in, or full: the general path says which
        record = NewCheckIn(
            id=new_id,
            task_id=task.id,
            user_id=user_id,
            checked_in_at=now,
            check_in_lat=data.lat,
            check_in_lng=data.lng,
        )
        public = new_check_in_public(task, record, user_name=read["user_name"], photo_ids=None)
        content = public.model_dump_json()
        if key is not None:
            try:
                await _RECORD.execute(
                    connection,
                    {
                        "principal": principal,
                        "key": key,
                        "request_hash": request_hash_of(request, body),
                        "status_code": 201,
                        "response_body": sealed_answer(request, content.encode()),
                        "created_at": now,
                    },
                )
            except asyncpg.UniqueViolationError:
                # A twin with this key committed first: the general path replays it.
                raise _Declined from None
    return Response(content=content, status_code=201, media_type="application/json")
