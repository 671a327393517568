"""The in-app inbox: a person's own messages, read and unread."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Integer, ScalarSelect, bindparam, func, update
from sqlalchemy import select as sa_select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.core.db import PageStatements, Statement, table_of, utcnow
from app.core.errors import NotFound
from app.models.notification import Message, MessagePublic, NotificationKind


def to_public(message: Any) -> MessagePublic:
    """A message as every route shows it: a Message, or a row of its columns."""
    assert message.id is not None
    return MessagePublic(
        id=message.id,
        kind=NotificationKind(message.kind),
        title=message.title,
        body=message.body,
        target_type=message.target_type,
        target_id=message.target_id,
        created_at=message.created_at,
        read_at=message.read_at,
        read=message.read_at is not None,
    )


_MESSAGES = table_of(Message)
_OWNER = bindparam("user_id", type_=Integer)


def _counted(name: str, *, unread_only: bool) -> ScalarSelect[int]:
    """How many messages the person has (unread ones only, or all): a count read from
    the index on (user_id, read_at)."""
    messages = _MESSAGES.alias(name)
    conditions = [messages.c.user_id == _OWNER]
    if unread_only:
        conditions.append(messages.c.read_at.is_(None))
    return sa_select(func.count()).where(*conditions).scalar_subquery()


def _inbox_statements(unread_only: bool) -> PageStatements:
    """GET /me/messages' statements, built once for each filter: the page, unread first
    and newest first within each, every row carrying the list's total and the person's
    whole unread count (whatever the filter and the page); `count` selects both for a
    page past the end. The total is counted apart, not `count(*) OVER ()`: the window
    would sort all the person's messages whole rather than keep the page's (PostgreSQL,
    500 messages: 0.9 ms instead of 2.3; 3,000: 1.5 instead of 2.5)."""
    unread = _counted("unread_ones", unread_only=True)
    total = unread if unread_only else _counted("listed", unread_only=False)
    figures = (total.label("total"), unread.label("unread"))
    listed = [_MESSAGES.c.user_id == _OWNER]
    if unread_only:
        listed.append(_MESSAGES.c.read_at.is_(None))
    page = (
        sa_select(_MESSAGES, *figures)
        .where(*listed)
        .order_by(_MESSAGES.c.read_at.is_not(None), _MESSAGES.c.id.desc())
        .offset(bindparam("offset", type_=Integer))
        .limit(bindparam("limit", type_=Integer))
    )
    return PageStatements(page=Statement(page), count=Statement(sa_select(*figures)))


_INBOX = {unread_only: _inbox_statements(unread_only) for unread_only in (False, True)}


async def list_messages(
    session: AsyncSession, *, user_id: int, unread_only: bool, offset: int, limit: int
) -> tuple[list[MessagePublic], int, int]:
    """A page of the person's own messages (unread first, newest first within each),
    how many the list holds and how many of all theirs are unread: one statement, two
    for a page past the end."""
    params = {"user_id": user_id, "offset": offset, "limit": limit}
    rows, figures = await _INBOX[unread_only].read_figures(session, params, offset=offset)
    if figures is None:
        return [], 0, 0
    return [to_public(row) for row in rows], figures.total, figures.unread


async def mark_read(session: AsyncSession, *, user_id: int, message_id: int) -> Message:
    """Marks one's own message read (again: no change). Anyone else's is 404."""
    await session.execute(
        update(Message)
        .where(
            col(Message.id) == message_id,
            col(Message.user_id) == user_id,
            col(Message.read_at).is_(None),
        )
        .values(read_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    message = (
        await session.execute(
            select(Message).where(col(Message.id) == message_id, col(Message.user_id) == user_id)
        )
    ).scalar_one_or_none()
    if message is None:
        raise NotFound()
    return message


async def mark_all_read(session: AsyncSession, *, user_id: int) -> int:
    result = await session.execute(
        update(Message)
        .where(col(Message.user_id) == user_id, col(Message.read_at).is_(None))
        .values(read_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
