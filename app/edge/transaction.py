"""One transaction per request, committed before the response.

FastAPI runs the exit code of `yield` dependencies after the response may already
be on its way; a phone that saw 201 must be able to rely on the row existing, so
the commit happens here, before the response is returned, and any error or 4xx/5xx
answer rolls everything back. Services only `flush()` when they need ids.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, nullcontext

from fastapi import Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.db import hold_connection, sqlite_write_transaction
from app.edge import admission, request_state

Endpoint = Callable[[Request], Awaitable[Response]]


@asynccontextmanager
async def opened(
    request: Request, settings: Settings, *, reads_in_transaction: bool = False
) -> AsyncIterator[AsyncSession]:
    """The request's session, handed to its dependencies (`get_session`).

    On PostgreSQL the session holds the request's one connection at the driver
    (app.core.db.hold_connection): BEGIN with its first statement, COMMIT or ROLLBACK
    on the asyncpg connection, through the ORM's own session transaction only when a
    route used the ORM; a read runs without BEGIN and COMMIT unless its route reads in
    a transaction (app.edge.route.StreamingRoute). On SQLite a write begins IMMEDIATE
    (app.core.db.sqlite_write_transaction)."""
    writes = admission.writes(request)
    if settings.is_sqlite:
        with sqlite_write_transaction() if writes else nullcontext():
            async with request.app.state.sessionmaker() as session:
                request_state.hand_over_session(request, session)
                yield session
        return
    session = request.app.state.sessionmaker()
    hold_connection(session, reading=not writes and not reads_in_transaction)
    try:
        request_state.hand_over_session(request, session)
        yield session
    finally:
        await session.close()


async def answered(endpoint: Endpoint, request: Request, session: AsyncSession) -> Response:
    """The endpoint's answer, its work committed if it succeeded, else rolled back."""
    try:
        response = await endpoint(request)
        if response.status_code >= 400:
            await session.rollback()
        else:
            await session.commit()
    except BaseException:
        await session.rollback()
        raise
    return response


async def get_session(request: Request) -> AsyncSession:
    """The session dependency (app.routers.deps.SessionDep). `async def` on purpose:
    FastAPI runs sync dependencies in the thread pool, a hop per request for nothing."""
    return request_state.session(request)
