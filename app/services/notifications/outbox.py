"""The outbox: `notify` and what a notification says (`Content`).

Every notification is an in-app message; it is also a WeChat subscribe message
where its kind has a template and the person has granted that template. `notify`
runs inside the caller's transaction and writes the messages and, for people who
can receive one, a `wechat_sends` row; only after that transaction commits are the
sends handed to the job queue (an `after_commit` hook of the session), so a
rolled-back request sends nothing. A hand-over lost to a crash in between is
picked up by the sweep (delivery.due_sends).

The session finds its outbox (templates, hand-over) in `session.info`, put there by
app.jobs.Jobs for every session of its sessionmaker; a session without one
(a command-line script) writes in-app messages only.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction
from sqlmodel import col, select

from app.core.config import Settings
from app.core.db import dialect_insert, utcnow
from app.core.timeutil import local
from app.models.notification import (
    Message,
    NotificationKind,
    SendStatus,
    SubscribeGrant,
    WeChatSend,
)
from app.models.user import User

logger = logging.getLogger("app.notifications")

OUTBOX_KEY = "chuangwen.outbox"
_PENDING_KEY = "chuangwen.pending_sends"

# New sends are handed over at commit; the sweeper takes them only after this, as a
# fallback, so it does not race the hand-over.
SWEEP_GRACE = timedelta(minutes=1)
# Rows per INSERT: far below both databases' limit on bound parameters.
CHUNK = 500


class Outbox(Protocol):
    def template_for(self, kind: NotificationKind) -> str | None: ...

    def enqueue_sends(self, send_ids: list[int]) -> None: ...


def check_templates(settings: Settings) -> None:
    """Start-up check: every configured kind is one we send."""
    unknown = sorted(set(settings.wechat_templates) - set(NotificationKind))
    if unknown:
        raise ValueError(f"WECHAT_TEMPLATES names unknown notification kinds: {unknown}")


@dataclass(frozen=True)
class Content:
    """One notification's text: title and body in the app; subject, status, time and
    note for the WeChat template (fitted to its keyword rules when sent)."""

    kind: NotificationKind
    title: str
    body: str
    subject: str
    status: str
    note: str
    at: datetime
    target_type: str | None = None
    target_id: int | None = None


def quoted(text: str, limit: int = 30) -> str:
    text = " ".join(text.split())
    return f"“{text[: limit - 1]}…”" if len(text) > limit else f"“{text}”"


def _chunks(items: list[int]) -> Iterable[list[int]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def _time_text(at: datetime) -> str:
    t = local(at)
    return f"{t.year}年{t.month}月{t.day}日 {t:%H:%M}"


async def notify(
    session: AsyncSession,
    *,
    user_ids: Iterable[int | None],
    content: Content,
    dedupe_key: str | None = None,
    exclude: Iterable[int | None] = (),
) -> int:
    """Notify people in the session's transaction; answers how many messages are new.

    With `dedupe_key`, a person already notified under that key is not notified again
    (a scan run twice); transitions, settled once by their conditional UPDATE, need none.
    """
    recipients = sorted({u for u in user_ids if u is not None} - set(exclude))
    outbox: Outbox | None = session.info.get(OUTBOX_KEY)
    template = outbox.template_for(content.kind) if outbox else None
    created = 0
    for chunk in _chunks(recipients):
        now = utcnow()
        inserted = (
            await session.execute(
                dialect_insert(session, Message)
                .values(
                    [
                        {
                            "user_id": user_id,
                            "kind": content.kind.value,
                            "title": content.title[:50],
                            "body": content.body[:500],
                            "target_type": content.target_type,
                            "target_id": content.target_id,
                            "dedupe_key": dedupe_key,
                            "created_at": now,
                        }
                        for user_id in chunk
                    ]
                )
                .on_conflict_do_nothing(index_elements=["user_id", "dedupe_key"])
                .returning(col(Message.id), col(Message.user_id))
            )
        ).all()
        created += len(inserted)
        if template is not None and inserted:
            await _add_sends(session, template, content, {u: m for m, u in inserted}, now)
    return created


async def _add_sends(
    session: AsyncSession,
    template: str,
    content: Content,
    message_of: dict[int, int],
    now: datetime,
) -> None:
    # Only people who can receive one get a send: bound to WeChat, with a grant left.
    # Delivery checks the grant again; this only spares jobs that could not send.
    able = (
        await session.execute(
            select(User.id)
            .join(SubscribeGrant, col(SubscribeGrant.user_id) == col(User.id))
            .where(
                col(User.id).in_(list(message_of)),
                col(User.openid).is_not(None),
                col(SubscribeGrant.template_id) == template,
                col(SubscribeGrant.balance) > 0,
            )
        )
    ).scalars()
    fields = {
        "subject": content.subject,
        "status": content.status,
        "time": _time_text(content.at),
        "note": content.note,
    }
    rows = [
        {
            "message_id": message_of[user_id],
            "user_id": user_id,
            "template_id": template,
            "fields": fields,
            "status": SendStatus.pending.value,
            "attempts": 0,
            "grant_taken": False,
            "next_attempt_at": now + SWEEP_GRACE,
            "created_at": now,
        }
        for user_id in sorted(able)
    ]
    if not rows:
        return
    ids = (
        (
            await session.execute(
                dialect_insert(session, WeChatSend).values(rows).returning(WeChatSend.id)
            )
        )
        .scalars()
        .all()
    )
    _hand_over_after_commit(session, list(ids))


def _hand_over_after_commit(session: AsyncSession, send_ids: list[int]) -> None:
    pending: list[int] | None = session.info.get(_PENDING_KEY)
    if pending is None:
        pending = session.info[_PENDING_KEY] = []
        event.listen(session.sync_session, "after_commit", _after_commit)
        # Not "after_rollback": SQLAlchemy fires that for a savepoint rolled back too (a
        # points grant refused as already given, say), which would drop the sends of
        # the transaction around it, still to commit. (after_commit fires for a
        # released savepoint: _after_commit looks past those.)
        event.listen(session.sync_session, "after_soft_rollback", _after_rollback)
    pending.extend(send_ids)


def _after_commit(sync_session: Session) -> None:
    if sync_session.get_nested_transaction() is not None:
        # SQLAlchemy fires after_commit when a savepoint is released too (a grant,
        # an hour entry written once): the rows are not committed yet, and a job
        # handed them now would find nothing and skip them, leaving them to the sweep.
        return
    ids: list[int] = sync_session.info.get(_PENDING_KEY) or []
    if not ids:
        return
    sync_session.info[_PENDING_KEY] = []
    outbox: Outbox | None = sync_session.info.get(OUTBOX_KEY)
    if outbox is None:
        return
    try:
        outbox.enqueue_sends(ids)
    except Exception:
        # The data is committed; the sweeper hands these over in a minute.
        logger.exception("could not hand %d sends to the job queue", len(ids))


def _after_rollback(sync_session: Session, previous: SessionTransaction) -> None:
    if previous.nested:
        # A savepoint: the transaction goes on. Sends written inside it are gone with
        # it; their ids, handed over after the commit, find no row and are skipped.
        return
    sync_session.info[_PENDING_KEY] = []
