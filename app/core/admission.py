"""Admission: a request takes nothing others share until its whole body is in.

A body arrives at the client's pace: a phone on a bad network, or a client that
declares 100 bytes and sends 7. Whatever a request holds while it waits (the
SQLite write turn, a turn at the PostgreSQL pool, a session) others wait for:
one stalled body stopped every write on SQLite, twenty took every pooled
connection on PostgreSQL. So `app.core.routing.AppRoute` reads the body first,
through `gate`, and only then takes a turn; the route parses what was read
(Starlette keeps it: `request.body()`, `.json()` and `.form()` all read the kept
bytes).

The gate stops a body that stalls, BODY_READ_TIMEOUT_S without a byte, with 408
(uvicorn has no such deadline of its own), and one past its size cap with 413
as soon as it passes it. The deadline is between chunks, not for the whole body:
a slow upload that keeps moving is let in.
"""

from __future__ import annotations

import asyncio

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
