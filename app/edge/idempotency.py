"""Idempotency-Key: a creating POST sent again under the same key gets the first
answer back instead of running twice.

The answer is stored in `idempotency_records` in the request's own transaction
(app.edge.transaction), so a stored key always means the work was committed and
vice versa. The principal is the person the bearer token names (so a refreshed
token still replays) or a hash of the API key; the request hash covers method,
path, query and body. Only successful answers are stored, sealed with the
personal-data key. An endpoint whose answer carries what must not rest in the
database even sealed declares it with `replays_without`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import Any, TypeVar

import anyio.to_thread
from fastapi import Request, Response
from python_multipart.multipart import parse_options_header
from sqlalchemy import String, bindparam, delete, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel, col, select
from starlette.datastructures import FormData, UploadFile

from app.core.config import Settings
from app.core.db import Statement, table_of, utcnow
from app.core.errors import AppError, Conflict, Unprocessable
from app.core.scope import Caller, token_params
from app.core.security import PiiCipher, bearer_token
from app.edge import request_state, transaction
from app.edge.access import (
    Along,
    along_params,
    caller_from_rows,
    caller_query,
    keep_along,
    record_named,
)
from app.models.idempotency import IdempotencyRecord

IDEMPOTENCY_HEADER = "idempotency-key"
MAX_KEY_LENGTH = 200
REPLAY_HEADER = "Idempotent-Replayed"

E = TypeVar("E", bound=Callable[..., Any])
_REDACTED = "__idempotency_redacted__"


def replays_without(**fields: str) -> Callable[[E], E]:
    """Marks an endpoint whose stored answer has these top-level fields replaced by
    the given texts: what must not rest in the database even sealed (an API key's
    secret, of which only a hash is kept). Place it below the route decorator."""

    def mark(endpoint: E) -> E:
        setattr(endpoint, _REDACTED, dict(fields))
        return endpoint

    return mark


def redactions_of(endpoint: Callable[..., Any]) -> Mapping[str, str]:
    redacted: Mapping[str, str] = getattr(endpoint, _REDACTED, {})
    return redacted


def key_of(request: Request) -> str | None:
    """The request's Idempotency-Key, refused (422) unless 1-200 characters."""
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is not None and not (0 < len(key) <= MAX_KEY_LENGTH):
        raise Unprocessable("validation_error", "Idempotency-Key 长度应为 1-200 个字符")
    return key


def principal_of(request: Request, settings: Settings) -> str | None:
    if bearer_token(request.headers.get("authorization")):
        claims = request_state.token_claims(request, settings)
        return f"user:{claims.user_id}" if claims else None
    api_key = request.headers.get("x-api-key")
    if api_key:
        return "key:" + hashlib.sha256(api_key.encode()).hexdigest()[:40]
    return None


def form_digest(form: FormData) -> bytes:
    """The parts of a form an upload route parsed as it streamed (app/edge/route.py
    UploadRoute), as the request hash takes them: blocking (reads the spooled
    files), run in a worker thread."""
    h = hashlib.sha256()
    for name, value in form.multi_items():
        h.update(name.encode() + b"\0")
        if isinstance(value, UploadFile):
            h.update(f"{value.filename}\0{value.content_type}\0".encode())
            value.file.seek(0)
            while chunk := value.file.read(1024 * 1024):
                h.update(chunk)
            value.file.seek(0)
        else:
            h.update(value.encode())
        h.update(b"\0")
    return h.digest()


def request_hash_of(request: Request, body: bytes, *, boundary_free: bool = False) -> str:
    content_type = request.headers.get("content-type", "")
    # A retried multipart upload carries a fresh random boundary; the same parts
    # under another boundary are the same request. (A header without "multipart/" in
    # it cannot parse to a multipart type: not parsed at all.)
    if not boundary_free and "multipart/" in content_type.lower():
        parsed, options = parse_options_header(content_type)
        if parsed.startswith(b"multipart/") and (boundary := options.get(b"boundary")):
            body = body.replace(b"--" + boundary, b"--\0boundary")
    path, query = path_and_query(request)
    h = hashlib.sha256()
    h.update(request.method.encode())
    h.update(b"\0" + path.encode() + b"\0" + query.encode() + b"\0")
    h.update(body)
    # Keyed, like the phones' lookup hash: a body can be little more than a name and
    # a phone number, which a bare SHA-256 gives back to anyone who tries them all.
    return _cipher(request).lookup_hash(h.hexdigest())


# What urlsplit would change in a URL Starlette builds from the scope: tabs and line
# breaks (dropped), a "#" in the query (a fragment); a Host header that is not a plain
# name and port (Starlette then takes the server's address, which may be a path).
_ODD_PATH = re.compile(r"[\t\r\n]")
_ODD_QUERY = re.compile(r"[\t\r\n#]")
_PLAIN_HOST = re.compile(r"[A-Za-z0-9.-]+(?::([0-9]{1,5}))?")


def path_and_query(request: Request) -> tuple[str, str]:
    """`request.url.path` and `request.url.query`, which the request hash has always
    covered, without building the URL (Starlette builds it from the scope, then parses
    it again with urlsplit: a tenth of the idempotency step). The scope's path with
    "?", "#" and "\\" escaped as Starlette escapes them, and the query string as sent;
    anything urlsplit would change goes the long way, so the hash stays the same
    (tests/edge/test_idempotency.py)."""
    scope = request.scope
    path: str = scope["path"]
    query = scope.get("query_string", b"").decode()
    host = _PLAIN_HOST.fullmatch(request.headers.get("host", ""))
    if (
        host is not None
        and int(host.group(1) or 0) <= 65535
        and path.startswith("/")
        and not _ODD_PATH.search(path)
        and not _ODD_QUERY.search(query)
    ):
        return path.replace("?", "%3F").replace("#", "%23").replace("\\", "%5C"), query
    url = request.url
    return url.path, url.query


@dataclass(frozen=True)
class StoredAnswer:
    request_hash: str
    status_code: int
    response_body: str


def _cipher(request: Request) -> PiiCipher:
    cipher: PiiCipher = request.app.state.cipher
    return cipher


def sealed_answer(request: Request, body: bytes, redacted: Mapping[str, str] | None = None) -> str:
    """The answer as kept for replays: encrypted with
    the personal-data key, since answers carry phones, names and live access tokens
    (bind-phone's) for as long as a retry may come; the endpoint's `redacted` fields
    (`replays_without`) blanked first."""
    text = body.decode()
    if redacted:
        data = json.loads(body)
        data.update({k: v for k, v in redacted.items() if k in data})
        text = json.dumps(data, ensure_ascii=False)
    return _cipher(request).encrypt(text)


# Every creating POST runs these: statements compiled once (app.core.db.Statement).
RECORDS = table_of(IdempotencyRecord)
_THIS_KEY = (RECORDS.c.principal == bindparam("principal", type_=String)) & (
    RECORDS.c.key == bindparam("key", type_=String)
)
_STORED = Statement(
    select(RECORDS.c.request_hash, RECORDS.c.status_code, RECORDS.c.response_body).where(_THIS_KEY)
)
# A plain INSERT: no ORM flush, no id to read back.
INSERT_RECORD = insert(RECORDS)
_INSERT_RECORD = Statement(
    INSERT_RECORD,
    column_keys=["principal", "key", "request_hash", "status_code", "response_body", "created_at"],
)


# A person's key is looked up in the same round trip as the person and their roles
# (and the record the route reads with them, app.edge.access `reads_with_caller`),
# which every such route reads next (handed to app.routers.deps.get_caller through
# request_state.keep_caller): the stored answer joined on, or NULLs.
@cache
def _caller_and_stored(model: type[SQLModel] | None) -> Statement:
    return Statement(
        caller_query(model)
        .outerjoin(RECORDS, _THIS_KEY)
        .add_columns(RECORDS.c.request_hash, RECORDS.c.status_code, RECORDS.c.response_body)
    )


async def _stored(session: AsyncSession, principal: str, key: str) -> StoredAnswer | None:
    # Plain values, not an ORM object: the session is rolled back right after.
    row = await _STORED.first(session, {"principal": principal, "key": key})
    return StoredAnswer(*row) if row else None


async def _stored_and_caller(
    request: Request, session: AsyncSession, settings: Settings, principal: str, key: str
) -> tuple[StoredAnswer | None, Caller | None]:
    """The answer stored under this key, if any; for a person, their Caller too,
    kept for the caller dependencies."""
    claims = (
        request_state.token_claims(request, settings) if principal.startswith("user:") else None
    )
    if claims is None:
        return await _stored(session, principal, key), None
    along: Along | None = record_named(request)
    params = {**token_params(claims), **along_params(along), "principal": principal, "key": key}
    rows = await _caller_and_stored(along[0] if along else None).rows(session, params)
    if not rows:
        # The token acts as nobody (any more: ended, or its person removed): it
        # gets nothing replayed, and a route that wants a person answers 401.
        return None, None
    caller = caller_from_rows(session, rows)
    request_state.keep_caller(request, caller)
    first = rows[0]
    if first.request_hash is None:
        keep_along(session, along, first)
        return None, caller
    return StoredAnswer(first.request_hash, first.status_code, first.response_body), caller


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


async def answered(
    endpoint: transaction.Endpoint,
    request: Request,
    session: AsyncSession,
    settings: Settings,
    *,
    principal: str,
    key: str,
    redacted: Mapping[str, str],
) -> Response:
    """The answer stored under `key`, or the endpoint's, stored in its transaction."""
    form = getattr(request.state, "streamed_form", None)
    if form is not None:
        request_hash = request_hash_of(
            request, await anyio.to_thread.run_sync(form_digest, form), boundary_free=True
        )
    else:
        request_hash = request_hash_of(request, await request.body())
    record, caller = await _stored_and_caller(request, session, settings, principal, key)
    if record is not None:
        await session.rollback()
        return replay(request, record, request_hash)
    # A person's stored answers go back only to a token that acts as them now.
    may_replay = not principal.startswith("user:") or caller is not None

    async def storing(request: Request) -> Response:
        response = await endpoint(request)
        if response.status_code < 400 and hasattr(response, "body"):
            await _INSERT_RECORD.execute(
                session,
                {
                    "principal": principal,
                    "key": key,
                    "request_hash": request_hash,
                    "status_code": response.status_code,
                    "response_body": sealed_answer(request, bytes(response.body), redacted),
                    "created_at": utcnow(),
                },
            )
        return response

    try:
        response = await transaction.answered(storing, request, session)
    except (IntegrityError, AppError):
        # A twin of this request committed first (its record collided with ours, or
        # its effect made ours fail): answer what the first one answered.
        if may_replay and (record := await _stored(session, principal, key)):
            await session.rollback()
            return replay(request, record, request_hash)
        raise
    if (
        response.status_code >= 400
        and may_replay
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
