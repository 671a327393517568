"""Console sessions opened straight in the database, as a confirmed ticket opens them."""

from __future__ import annotations

from fastapi import FastAPI

from app.models.user import User
from app.routers.console import CSRF_HEADER, SESSION_COOKIE
from app.services import console_login


async def console_session(app: FastAPI, user: User) -> str:
    assert user.id is not None
    async with app.state.sessionmaker() as session, session.begin():
        return await console_login.open_session(
            session, user_id=user.id, token_version=user.token_version
        )


async def console_headers(app: FastAPI, user: User, *, csrf: bool = True) -> dict[str, str]:
    """Headers of a browser logged in to the console as `user`: its cookie and, for
    forms, the session's CSRF token."""
    raw = await console_session(app, user)
    headers = {"Cookie": f"{SESSION_COOKIE}={raw}"}
    if csrf:
        headers[CSRF_HEADER] = console_login.csrf_token(app.state.settings, raw)
    return headers
