"""The in-app inbox: a person's own messages, read and unread."""

from __future__ import annotations

from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.core.db import paged_scalars, utcnow
from app.core.errors import NotFound
from app.models.notification import Message, MessagePublic, NotificationKind


def to_public(message: Message) -> MessagePublic:
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


async def unread_count(session: AsyncSession, *, user_id: int) -> int:
    count = await session.execute(
        select(func.count())
        .select_from(Message)
        .where(col(Message.user_id) == user_id, col(Message.read_at).is_(None))
    )
    return int(count.scalar_one())


async def list_messages(
    session: AsyncSession, *, user_id: int, unread_only: bool, offset: int, limit: int
) -> tuple[list[Message], int]:
    """The person's own messages, unread first, newest first within each."""
    conditions = [col(Message.user_id) == user_id]
    if unread_only:
        conditions.append(col(Message.read_at).is_(None))
    return await paged_scalars(
        session,
        select(Message)
        .where(*conditions)
        .order_by(col(Message.read_at).is_not(None), col(Message.id).desc()),
        offset=offset,
        limit=limit,
    )


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
