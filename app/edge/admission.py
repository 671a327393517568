"""Admission: a request takes nothing others share until its whole body is in,
and then waits its turn for the database.

A body arrives at the client's pace: a phone on a bad network, or a client that
declares 100 bytes and sends 7. Whatever a request holds while it waits (the
SQLite write turn, a turn at the PostgreSQL pool, a session) others wait for:
one stalled body stopped every write on SQLite, twenty took every pooled
connection on PostgreSQL. So `app.edge.route.AppRoute` reads the body first,
through `gate`, and only then takes a turn; the route parses what was read
(Starlette keeps it: `request.body()`, `.json()` and `.form()` all read the kept
bytes).

The gate stops a body that stalls, BODY_READ_TIMEOUT_S without a byte, with 408
(uvicorn has no such deadline of its own), and one past its size cap with 413
as soon as it passes it. The deadline is between chunks, not for the whole body:
a slow upload that keeps moving is let in.

The turn (`turn`) comes after: on PostgreSQL a first-come-first-served turn at the
connection pool (`connection_turn`), on SQLite the one writer's turn for a request
that writes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from typing import Any, TypeVar

from fastapi import Request
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import Message, Receive, Scope

from app.core.config import Settings
from app.core.errors import AppError

# Room for the multipart envelope (boundaries, part headers) around a file at its cap.
MULTIPART_ALLOWANCE = 64 * 1024


class RequestTimeout(AppError):
    status = 408
    title = "请求超时"

    def headers(self) -> dict[str, str]:
        # The rest of the body may still come; the connection cannot be reused.
        return {"Connection": "close"}


def largest_body(settings: Settings) -> int:
    """The cap of a route that names none: the largest file any route takes, with
    its multipart envelope. Nothing larger is held in memory."""
    return max(settings.media_max_bytes, settings.roster_import_max_bytes) + MULTIPART_ALLOWANCE


def gate(receive: Receive, scope: Scope, *, limit: int, idle_timeout_s: float) -> Receive:
    """`receive` for a body that must arrive in time and within `limit` bytes."""
    declared = Headers(scope=scope).get("content-length", "")
    received = 0
    complete = False

    async def gated() -> Message:
        nonlocal received, complete
        if complete:
            # Past the body only the disconnect is left to hear, whenever it comes.
            return await receive()
        # Refused up front when the client says so, else as soon as the count passes.
        if declared.isdigit() and int(declared) > limit:
            raise HTTPException(413)
        try:
            async with asyncio.timeout(idle_timeout_s):
                message = await receive()
        except TimeoutError:
            raise RequestTimeout(
                "request_timeout", "请求内容迟迟没有传完，请检查网络后重试"
            ) from None
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise HTTPException(413)
            complete = not message.get("more_body", False)
        else:
            complete = True
        return message

    return gated


def turn(request: Request, settings: Settings) -> AbstractAsyncContextManager[Any]:
    """The wait for the database that this request takes once its body is in."""
    if not settings.is_sqlite:
        return connection_turn(request)
    if writes(request):
        return _sqlite_turn(request)
    return nullcontext()


_WRITES_ON_READ = "__writes_on_read__"
E = TypeVar("E", bound=Callable[..., Any])


def writes_on_read(endpoint: E) -> E:
    """Marks a GET that also writes (the console login's poll makes the session; the
    console's pages move its idle clock): it waits and commits as a write does."""
    setattr(endpoint, _WRITES_ON_READ, True)
    return endpoint


def writes(request: Request) -> bool:
    """Whether the request may write: every method but the safe ones, and a GET whose
    endpoint is marked `writes_on_read` (Starlette puts the endpoint in the scope)."""
    return request.method not in {"GET", "HEAD", "OPTIONS"} or getattr(
        request.scope.get("endpoint"), _WRITES_ON_READ, False
    )


def _sqlite_turn(request: Request) -> asyncio.Lock:
    """SQLite has one writer at a time. Queued on an asyncio lock, this process's
    write requests take turns in order instead of polling in SQLite's busy handler
    (whose growing sleeps stretch a burst of 50 writers to seconds); other
    processes on the same file still wait on busy_timeout."""
    lock: asyncio.Lock | None = getattr(request.app.state, "sqlite_write_lock", None)
    if lock is None:
        lock = request.app.state.sqlite_write_lock = asyncio.Lock()
    return lock


# As long as SQLAlchemy's pool would have let a request wait for a connection.
TURN_TIMEOUT_S = 30.0


@asynccontextmanager
async def connection_turn(request: Request) -> AsyncIterator[None]:
    """PostgreSQL: a request waits here for its turn at the connection pool, first come
    first served, before its session takes a connection.

    The pool's own wait is not fair: a connection handed back goes to whichever
    request asks next, ahead of those already waiting, and a request that lost the
    race queues again at the back (sqlalchemy#7679, asyncpg#1247). Under 64
    concurrent check-ins on a pool of 20, half waited under 40 ms and one in a
    hundred over half a second. asyncio.Semaphore hands a released turn to the
    longest waiter, and with as many turns as the pool has connections the pool
    itself never makes anyone wait. No turn within TURN_TIMEOUT_S: 503, as a pool
    timeout answers.
    """
    turns: asyncio.Semaphore | None = getattr(request.app.state, "connection_turns", None)
    if turns is None:
        settings: Settings = request.app.state.settings
        size = settings.database_pool_size + settings.database_max_overflow
        turns = request.app.state.connection_turns = asyncio.Semaphore(size)
    if turns.locked():
        try:
            async with asyncio.timeout(TURN_TIMEOUT_S):
                await turns.acquire()
        except TimeoutError:
            raise PoolTimeoutError("no turn at the connection pool") from None
    else:
        # A free turn with no one waiting for it (`locked` is false only then): taken
        # at once, without arming a deadline that could never fire.
        await turns.acquire()
    try:
        yield
    finally:
        turns.release()
