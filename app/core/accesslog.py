"""The access log: one line per request naming the route *template*, never the URL.

uvicorn's own access log prints the request line as sent, query string included,
and our query strings can carry what must stay out of logs: people's names
(`/users?name=`), the short-lived dashboard link token (`/dashboard/view?token=`),
WeChat's push parameters. So uvicorn runs with `--no-access-log` and this
middleware logs `client method /api/v1/wishes/{wish_id} status duration`, the same
route templates /metrics counts by.
"""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.route_templates import route_name

logger = logging.getLogger("chuangwen.access")


def route_template(scope: Scope) -> str:
    """The template of the route that answered, or a fixed word when none did (a
    404 for an unknown path must not log the path: it is whatever a client typed).

    Resolved as the metrics instrumentator resolves it, prefixes of included
    routers and mounts and all (FastAPI's `scope["route"]` lacks the prefix)."""
    return route_name(scope, include_root_path=True) or "<unmatched>"


class AccessLogMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not logger.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client sees when the app fails before answering

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            client = scope.get("client")
            logger.info(
                "%s %s %s %d %.1fms",
                client[0] if client else "-",
                scope["method"],
                route_template(scope),
                status,
                (time.perf_counter() - started) * 1000,
            )
