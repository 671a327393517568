"""The request transaction and Idempotency-Key, wrapped around every route.

FastAPI runs the exit code of `yield` dependencies after the response may already
be on its way; a phone that saw 201 must be able to rely on the row existing, so
the commit happens here, before the response is returned, and any error rolls
everything back. Idempotency records are written in that same transaction.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from fastapi import Request, Response
from fastapi.routing import APIRoute
from python_multipart.multipart import parse_options_header
from sqlalchemy import bindparam, delete, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select
from starlette.types import Receive, Scope, Send

from app.core import admission
from app.core.config import Settings
from app.core.db import sqlite_write_transaction, table_of, utcnow
from app.core.errors import AppError, Conflict, Unprocessable
from app.core.scope import CALLER_QUERY, caller_from_rows, token_params
from app.core.security import PiiCipher, TokenClaims, bearer_token, claims_of_token
from app.models.idempotency import IdempotencyRecord
from app.services import audit

IDEMPOTENCY_HEADER = "idempotency-key"
MAX_KEY_LENGTH = 200
REPLAY_HEADER = "Idempotent-Replayed"


_UNREAD = object()


def token_claims(request: Request, settings: Settings) -> TokenClaims | None:
    """The claims of the request's bearer token (None: no token or an invalid one),
    verified once per request however many parts ask. Which person they make the
    request act as is for the database to say: app.core.scope.acts_as."""
    claims = getattr(request.state, "token_claims", _UNREAD)
    if claims is _UNREAD:
        token = bearer_token(request.headers.get("authorization"))
        claims = claims_of_token(settings, token) if token else None
        request.state.token_claims = claims
    assert claims is None or isinstance(claims, TokenClaims)
    return claims


def principal_of(request: Request, settings: Settings) -> str | None:
    if bearer_token(request.headers.get("authorization")):
        claims = token_claims(request, settings)
        return f"user:{claims.user_id}" if claims else None
    api_key = request.headers.get("x-api-key")
    if api_key:
        return "key:" + hashlib.sha256(api_key.encode()).hexdigest()[:40]
    return None


def request_hash_of(request: Request, body: bytes) -> str:
    # A retried multipart upload carries a fresh random boundary; the same parts
    # under another boundary are the same request.
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    if content_type.startswith(b"multipart/") and (boundary := options.get(b"boundary")):
        body = body.replace(b"--" + boundary, b"--\0boundary")
    h = hashlib.sha256()
    h.update(request.method.encode())
    h.update(b"\0" + request.url.path.encode() + b"\0" + request.url.query.encode() + b"\0")
    h.update(body)
    # Keyed, like the phones' lookup hash: a body can be little more than a name and
    # a phone number, which a bare SHA-256 gives back to anyone who tries them all.
    return _cipher(request).lookup_hash(h.hexdigest())


@dataclass(frozen=True)
class StoredAnswer:
    request_hash: str
    status_code: int
    response_body: str


def _cipher(request: Request) -> PiiCipher:
    cipher: PiiCipher = request.app.state.cipher
    return cipher


def sealed_answer(request: Request, body: bytes) -> str:
    """The answer as kept for replays, for every path that keeps one: encrypted with
    the personal-data key, since answers carry phones, names and live access tokens
    (bind-phone's) for as long as a retry may come. A route blanks besides what must
    not rest in the database even encrypted (an API key's secret, of which only a hash
    is kept) via `request.state.idempotency_redact`."""
    redact: dict[str, str] | None = getattr(request.state, "idempotency_redact", None)
    text = body.decode()
    if redact:
        data = json.loads(body)
        data.update({k: v for k, v in redact.items() if k in data})
        text = json.dumps(data, ensure_ascii=False)
    return _cipher(request).encrypt(text)


# Every creating POST runs these: Core statements on the table, built once.
RECORDS = table_of(IdempotencyRecord)
_STORED_QUERY = select(
    RECORDS.c.request_hash, RECORDS.c.status_code, RECORDS.c.response_body
).where(RECORDS.c.principal == bindparam("principal"), RECORDS.c.key == bindparam("key"))
INSERT_RECORD = insert(RECORDS)


# A person's key is looked up in the same round trip as the person and their roles,
# which every such route reads next (app.routers.deps.get_caller takes them from
# request.state): the stored answer joined on, or NULLs.
_CALLER_AND_STORED = CALLER_QUERY.outerjoin(
    RECORDS,
    (RECORDS.c.principal == bindparam("principal")) & (RECORDS.c.key == bindparam("key")),
).add_columns(RECORDS.c.request_hash, RECORDS.c.status_code, RECORDS.c.response_body)


async def _stored(session: AsyncSession, principal: str, key: str) -> StoredAnswer | None:
    # Plain values, not an ORM object: the session is rolled back right after.
    row = (await session.execute(_STORED_QUERY, {"principal": principal, "key": key})).first()
    return StoredAnswer(*row) if row else None


async def _stored_and_caller(
    request: Request, session: AsyncSession, settings: Settings, principal: str, key: str
) -> StoredAnswer | None:
    """The answer stored under this key, if any; for a person, their Caller too."""
    claims = token_claims(request, settings) if principal.startswith("user:") else None
    if claims is None:
        return await _stored(session, principal, key)
    params = {**token_params(claims), "principal": principal, "key": key}
    rows = (await session.execute(_CALLER_AND_STORED, params)).all()
    if not rows:
        # The token acts as nobody (any more: ended, or its person removed): it
        # gets nothing replayed, and a route that wants a person answers 401.
        return None
    request.state.caller = caller_from_rows(rows)
    first = rows[0]
    if first.request_hash is None:
        return None
    return StoredAnswer(first.request_hash, first.status_code, first.response_body)


def _may_replay(request: Request, principal: str) -> bool:
    """A person's stored answers go back only to a token that acts as them now."""
    return not principal.startswith("user:") or getattr(request.state, "caller", None) is not None


def replay(request: Request, record: StoredAnswer, request_hash: str) -> Response:
    content = _cipher(request).decrypt(record.response_body)
    if content is None:
        # Sealed under a PII_KEY since replaced, or kept in the clear before answers
        # were sealed: the request was carried out, but what it answered cannot be
        # told. Running it again could create a second record, so it is refused.
        raise Conflict(
            "idempotency_record_unreadable",
            "该请求已处理过，但无法重现当时的应答；请刷新查看结果，"
            "新的操作请换一个 Idempotency-Key",
        )
    if record.request_hash != request_hash:
        raise Unprocessable(
            "idempotency_key_reused",
            "该 Idempotency-Key 已用于另一个不同的请求",
        )
    return Response(
        content=content,
        status_code=record.status_code,
        media_type="application/json",
        headers={REPLAY_HEADER: "true"},
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


# A route's direct path: its answer to the request, or None to leave the request to the
# route's general path (the transaction below, the dependencies, the endpoint).
DirectPath = Callable[[Request], Awaitable[Response | None]]
_DIRECT_PATH = "__direct_path__"
E = TypeVar("E", bound=Callable[..., Any])


def tried_first(direct: DirectPath) -> Callable[[E], E]:
    """Marks an endpoint whose requests `direct` tries to answer before the general
    path runs. `direct` must answer only what the general path would answer the same
    way, and leave everything else (every refusal included) to it."""

    def mark(endpoint: E) -> E:
        setattr(endpoint, _DIRECT_PATH, direct)
        return endpoint

    return mark


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
    try:
        async with asyncio.timeout(TURN_TIMEOUT_S):
            await turns.acquire()
    except TimeoutError:
        raise PoolTimeoutError("no turn at the connection pool") from None
    try:
        yield
    finally:
        turns.release()


class AppRoute(APIRoute):
    def body_limit(self, settings: Settings) -> int:
        """The most bytes this route's request bodies may have."""
        return admission.largest_body(settings)

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
        original = super().get_route_handler()
        idempotent_method = "POST" in (self.methods or set())
        direct: DirectPath | None = getattr(self.endpoint, _DIRECT_PATH, None)

        async def handler(request: Request) -> Response:
            # The whole body first, before any turn or connection is taken
            # (app/core/admission.py); the route then parses the bytes kept here.
            await request.body()
            if direct is not None and (answer := await direct(request)) is not None:
                return answer
            settings: Settings = request.app.state.settings
            audit.client_ip.set(request.client.host if request.client else None)
            writes = request.method not in {"GET", "HEAD", "OPTIONS"}
            key = request.headers.get(IDEMPOTENCY_HEADER) if idempotent_method else None
            principal = principal_of(request, settings) if key else None
            if key is not None and not (0 < len(key) <= MAX_KEY_LENGTH):
                raise Unprocessable("validation_error", "Idempotency-Key 长度应为 1-200 个字符")

            sqlite_writer = writes and settings.is_sqlite
            turn: AbstractAsyncContextManager[Any] = (
                connection_turn(request)
                if not settings.is_sqlite
                else _sqlite_turn(request)
                if sqlite_writer
                else nullcontext()
            )
            async with turn:
                with sqlite_write_transaction() if sqlite_writer else nullcontext():
                    async with request.app.state.sessionmaker() as session:
                        request.state.session = session
                        if principal is None or key is None:
                            return await _run(original, request, session)
                        return await _run_idempotent(
                            original, request, session, settings, principal, key
                        )

        return handler


async def _run(
    original: Callable[[Request], Awaitable[Response]], request: Request, session: AsyncSession
) -> Response:
    try:
        response = await original(request)
    except BaseException:
        await session.rollback()
        raise
    if response.status_code >= 400:
        await session.rollback()
    else:
        await session.commit()
    return response


async def _run_idempotent(
    original: Callable[[Request], Awaitable[Response]],
    request: Request,
    session: AsyncSession,
    settings: Settings,
    principal: str,
    key: str,
) -> Response:
    request_hash = request_hash_of(request, await request.body())
    if (record := await _stored_and_caller(request, session, settings, principal, key)) is not None:
        await session.rollback()
        return replay(request, record, request_hash)

    try:
        response = await original(request)
        if response.status_code < 400:
            if hasattr(response, "body"):
                # A plain INSERT: no ORM flush, no id to read back.
                await session.execute(
                    INSERT_RECORD,
                    {
                        "principal": principal,
                        "key": key,
                        "request_hash": request_hash,
                        "status_code": response.status_code,
                        "response_body": sealed_answer(request, bytes(response.body)),
                        "created_at": utcnow(),
                    },
                )
            await session.commit()
            return response
    except (IntegrityError, AppError):
        # A twin of this request committed first (its record collided with ours, or
        # its effect made ours fail): answer what the first one answered.
        await session.rollback()
        if _may_replay(request, principal) and (record := await _stored(session, principal, key)):
            await session.rollback()
            return replay(request, record, request_hash)
        raise
    except BaseException:
        await session.rollback()
        raise
    await session.rollback()
    if (
        response.status_code >= 400
        and _may_replay(request, principal)
        and (record := await _stored(session, principal, key))
    ):
        await session.rollback()
        return replay(request, record, request_hash)
    return response


async def purge_idempotency_records(session: AsyncSession, settings: Settings) -> int:
    cutoff = utcnow() - timedelta(hours=settings.idempotency_ttl_h)
    result = await session.execute(
        delete(IdempotencyRecord).where(col(IdempotencyRecord.created_at) < cutoff)
    )
    return int(getattr(result, "rowcount", 0) or 0)
