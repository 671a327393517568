"""What the edge's steps hand to a route's dependencies, each under one name.

A FastAPI dependency receives the Request, never the route class that runs the
steps, so these values travel on `request.state`; they are written and read only
through the functions here, so each channel has one name and one type:

- the session the transaction step opened (`session`), which the session
  dependency returns;
- the bearer token's claims (`token_claims`), verified once per request however
  many parts ask;
- the caller (`caller` / `keep_caller`): the idempotency step reads a person in
  the same round trip as the stored answer and hands the row over here, and the
  caller dependencies (app/routers/deps.py) keep what they read, so a request
  reads its caller once.
"""

from __future__ import annotations

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.scope import Caller
from app.core.security import TokenClaims, bearer_token, claims_of_token

_UNREAD = object()


def session(request: Request) -> AsyncSession:
    """The request's session: opened, committed and closed by app.edge.transaction."""
    opened: AsyncSession = request.state.session
    return opened


def hand_over_session(request: Request, opened: AsyncSession) -> None:
    request.state.session = opened


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


def caller(request: Request) -> Caller | None:
    """The caller already read for this request, if any."""
    kept: Caller | None = getattr(request.state, "caller", None)
    return kept


def keep_caller(request: Request, read: Caller) -> None:
    request.state.caller = read
