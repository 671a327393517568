"""The PC console's login: one-use tickets shown as a mini-program code, and the
browser sessions they open (app/services/console_login.py).

Neither table keeps a secret: a ticket, the browser's claim on it and a session id
are stored as SHA-256 hashes (each is 190+ random bits, so a fast hash is enough and
a lookup is one equality on the primary key). A session names the person and the
token version it was opened under, as an access token does, so the token rule
(app.core.scope.acts_as) decides whom it acts as: "log out everywhere" ends it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, Integer, String
from sqlmodel import Field, SQLModel

from app.core.db import UTCDateTime
from app.models.common import created_at_field


class ConsoleLoginTicket(SQLModel, table=True):
    __tablename__ = "console_login_tickets"

    ticket_hash: str = Field(sa_column=Column(String(64), primary_key=True))
    # The browser that asked for the ticket holds a secret of its own (a cookie):
    # only it may collect the session, not whoever photographs the code on its screen.
    browser_hash: str = Field(sa_column=Column(String(64), nullable=False))
    created_at: datetime = created_at_field()
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    # Set by the admin's confirmation in the mini-program: who, under which token version.
    user_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=True),
    )
    token_version: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    confirmed_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    # Set when the browser collected its session: a ticket opens one session only.
    used_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


class ConsoleSession(SQLModel, table=True):
    __tablename__ = "console_sessions"

    id_hash: str = Field(sa_column=Column(String(64), primary_key=True))
    user_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    token_version: int = Field(sa_column=Column(Integer, nullable=False))
    created_at: datetime = created_at_field()
    # Idle time counts from here; refreshed at most once a minute (CONSOLE_TOUCH_S).
    last_seen_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    ended_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


class ConsoleTicketOut(SQLModel):
    ticket: str = Field(description="一次性登录凭证（即小程序码的 scene），2 分钟内有效")
    expires_in: int
    expires_at: datetime
    code_image: str = Field(description="小程序码图片（data: URI），供电脑页面显示")


class ConsoleTicketState(SQLModel):
    status: str = Field(
        description="pending：等待在小程序中确认；confirmed：已登录（响应设置会话 Cookie）"
    )
