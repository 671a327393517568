"""The route class every router names: the edge's steps around each endpoint.

Admission (app.edge.admission) reads the body and takes the database turn; the
transaction (app.edge.transaction) opens the session and commits before the
response; a creating POST with an Idempotency-Key runs through app.edge.idempotency
inside that transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute, _effective_route_context_var
from starlette.formparsers import MultiPartParser
from starlette.types import Receive, Scope, Send

from app.core.config import Settings
from app.core.http import client_ip
from app.edge import admission, idempotency, transaction
from app.edge.handler import compiled_handler

# Starlette keeps a file part in memory up to MultiPartParser.spool_max_size (1 MiB),
# then writes every further chunk of the body from a worker thread: some 60 thread
# hops for a phone photo, which on a busy machine cost more than decoding it
# (docs/PERFORMANCE.md "Photo uploads"). A photo stays in memory, as whole bodies
# always did (up to MEDIA_MAX_BYTES); a video goes to disk past this size.
UPLOAD_SPOOL_BYTES = 16 * 1024 * 1024
MultiPartParser.spool_max_size = UPLOAD_SPOOL_BYTES


class AppRoute(APIRoute):
    # A read on PostgreSQL runs without BEGIN and COMMIT (app.core.db.read_only)
    # unless its route needs a transaction to read in (StreamingRoute).
    reads_in_transaction = False

    def body_limit(self, settings: Settings) -> int:
        """The most bytes this route's request bodies may have."""
        return admission.largest_body(settings)

    async def take_body(self, request: Request) -> None:
        """Read the whole body and keep it on the request (Starlette keeps it for
        `request.body()`, `.json()` and `.form()`)."""
        await request.body()

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        settings: Settings = scope["app"].state.settings
        gated = admission.gate(
            receive,
            scope,
            limit=self.body_limit(settings),
            idle_timeout_s=settings.body_read_timeout_s,
        )
        await super().handle(scope, gated, send)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        # FastAPI builds a handler for the route and one for each router including it
        # (the effective context, with the router's prefix and dependencies).
        context = _effective_route_context_var.get()
        route = context if context is not None and context.original_route is self else self
        endpoint = compiled_handler(route, super().get_route_handler())
        idempotent_method = "POST" in (self.methods or set())
        redacted = idempotency.redactions_of(self.endpoint)

        async def handler(request: Request) -> Response:
            # The whole body first, before any turn or connection is taken
            # (app/edge/admission.py); the route then parses what is kept here.
            await self.take_body(request)
            settings: Settings = request.app.state.settings
            # Services record "from where" in audit rows without knowing of HTTP.
            client_ip.set(request.client.host if request.client else None)
            key = idempotency.key_of(request) if idempotent_method else None
            principal = idempotency.principal_of(request, settings) if key else None
            async with (
                admission.turn(request, settings),
                transaction.opened(
                    request, settings, reads_in_transaction=self.reads_in_transaction
                ) as session,
            ):
                if principal is None or key is None:
                    return await transaction.answered(endpoint, request, session)
                return await idempotency.answered(
                    endpoint,
                    request,
                    session,
                    settings,
                    principal=principal,
                    key=key,
                    redacted=redacted,
                )

        return handler


class StreamingRoute(AppRoute):
    """Routes that read through a server-side cursor (the ledgers' export), which
    PostgreSQL keeps only inside a transaction: their reads take one."""

    reads_in_transaction = True


class UploadRoute(AppRoute):
    """Uploads (photos and short videos): capped at the largest upload, read from the
    settings per request (a route-level `max_body_size` is fixed when the module is
    imported). Starlette puts no cap on file parts; this one is counted on the
    receive channel while the body streams in (app/edge/admission.py), so an
    oversized upload is refused as soon as it passes the cap, never read whole.

    The body is parsed as it streams rather than kept as bytes: Starlette spools a
    file part to a temporary file past 1 MiB (writing from a worker thread), so a
    100 MiB video is never held in memory, and no multi-megabyte chunk is parsed on
    the event loop in one go."""

    def body_limit(self, settings: Settings) -> int:
        return (
            max(settings.media_max_bytes, settings.media_video_max_bytes)
            + admission.MULTIPART_ALLOWANCE
        )

    async def take_body(self, request: Request) -> None:
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            await request.body()
            return
        request.state.streamed_form = await request.form(max_files=1, max_fields=16)
