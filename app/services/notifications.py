"""Notifications: every one is an in-app message; it is also a WeChat subscribe
message where its kind has a template and the person has granted that template.

A transactional outbox. `notify` runs inside the caller's transaction and writes
the messages and, for people who can receive one, a `wechat_sends` row; only after
that transaction commits are the sends handed to the job queue (an `after_commit`
hook of the session), so a rolled-back request sends nothing. A hand-over lost to
a crash in between is picked up by the sweeper (`due_sends`), which also brings
back sends whose retry time has come and claims whose worker died.

Delivery (`deliver`) is idempotent, so a job run twice sends once:
1. claim the send (pending → sending, with a lease) and take one of the person's
   grants for its template, in one committed transaction; no grant left: the send
   ends as `no_grant` and WeChat is never called;
2. call WeChat outside any transaction;
3. record the outcome, fenced on the attempt number so a worker whose lease lapsed
   cannot overwrite the one that took over. 43101 (the person allows no more) ends
   it and empties that grant; other refusals end it and give the grant back;
   transient failures give the grant back and retry with exponential backoff.

The session finds its outbox (templates, hand-over) in `session.info`, put there by
app.core.jobs.Jobs for every session of its sessionmaker; a session without one
(a command-line script) writes in-app messages only.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import and_, event, func, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session
from sqlmodel import col, select

from app.core.config import Settings
from app.core.db import sqlite_write_transaction, updated_one, utcnow
from app.core.errors import NotFound, ServiceUnavailable
from app.core.scope import path_ids
from app.core.timeutil import local
from app.core.wechat import WeChatGateway
from app.models.notification import (
    Message,
    MessagePublic,
    NotificationKind,
    SendStatus,
    SubscribeGrant,
    Subscriptions,
    TemplateGrant,
    WeChatSend,
)
from app.models.org import Org, OrgLevel
from app.models.user import ADMIN_ROLES, RoleGrant, User

logger = logging.getLogger("app.notifications")

OUTBOX_KEY = "chuangwen.outbox"
_PENDING_KEY = "chuangwen.pending_sends"

# A worker holds a claimed send this long; WeChat answers within WECHAT_TIMEOUT_S.
LEASE = timedelta(minutes=5)
# New sends are handed over at commit; the sweeper takes them only after this, as a
# fallback, so it does not race the hand-over.
SWEEP_GRACE = timedelta(minutes=1)
BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_CAP = timedelta(hours=1)
# Rows per INSERT: far below both databases' limit on bound parameters.
CHUNK = 500
# WeChat's "the user allows no more messages of this template".
NO_QUOTA_ERRCODE = 43101
# Recorded as last_errcode when WeChat was busy or unreachable.
TRANSIENT_ERRCODE = -1


class Outbox(Protocol):
    def template_for(self, kind: NotificationKind) -> str | None: ...

    def enqueue_sends(self, send_ids: list[int]) -> None: ...


def check_templates(settings: Settings) -> None:
    """Start-up check: every configured kind is one we send."""
    unknown = sorted(set(settings.wechat_templates) - set(NotificationKind))
    if unknown:
        raise ValueError(f"WECHAT_TEMPLATES names unknown notification kinds: {unknown}")


# --- writing notifications ----------------------------------------------------------


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


def dialect_insert(session: AsyncSession, table: Any) -> Any:
    """INSERT with ON CONFLICT, in the dialect of the session's database."""
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


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
        event.listen(session.sync_session, "after_rollback", _after_rollback)
    pending.extend(send_ids)


def _after_commit(sync_session: Session) -> None:
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


def _after_rollback(sync_session: Session) -> None:
    sync_session.info[_PENDING_KEY] = []


# --- who gets what ---------------------------------------------------------------------


class OrgAdmins:
    """The admins holding a role exactly at each org of some paths, and those orgs'
    levels: enough to answer "who answers for this org" without a query per record."""

    def __init__(self, levels: dict[int, OrgLevel], admins: dict[int, set[int]]):
        self.levels = levels
        self.admins = admins

    @classmethod
    async def load(cls, session: AsyncSession, paths: Iterable[str]) -> OrgAdmins:
        ids = {org_id for path in paths for org_id in path_ids(path)}
        if not ids:
            return cls({}, {})
        levels = {
            org_id: OrgLevel(level)
            for org_id, level in (
                await session.execute(select(Org.id, Org.level).where(col(Org.id).in_(ids)))
            ).all()
        }
        admins: dict[int, set[int]] = {}
        rows = await session.execute(
            select(RoleGrant.org_id, RoleGrant.user_id).where(
                col(RoleGrant.org_id).in_(ids), col(RoleGrant.role).in_(ADMIN_ROLES)
            )
        )
        for org_id, user_id in rows.all():
            admins.setdefault(org_id, set()).add(user_id)
        return cls(levels, admins)

    def responsible(self, path: str) -> set[int]:
        """The admins of the org itself, or of its nearest ancestor that has any (a unit
        has no admin role of its own; a community may have no secretary yet)."""
        for org_id in reversed(path_ids(path)):
            if self.admins.get(org_id):
                return set(self.admins[org_id])
        return set()

    def at_level(self, path: str, level: OrgLevel) -> set[int]:
        for org_id in path_ids(path):
            if self.levels.get(org_id) == level:
                return set(self.admins.get(org_id, ()))
        return set()


async def _org_path(session: AsyncSession, org_id: int) -> str:
    path = (await session.execute(select(Org.path).where(Org.id == org_id))).scalar_one()
    return str(path)


async def responsible_admins(session: AsyncSession, org_id: int) -> set[int]:
    path = await _org_path(session, org_id)
    return (await OrgAdmins.load(session, [path])).responsible(path)


def quoted(text: str, limit: int = 30) -> str:
    text = " ".join(text.split())
    return f"“{text[: limit - 1]}…”" if len(text) > limit else f"“{text}”"


# --- delivery -------------------------------------------------------------------------


class Delivery(StrEnum):
    sent = "sent"
    no_grant = "no_grant"
    failed = "failed"
    retry = "retry"
    skipped = "skipped"  # someone else holds it, or it is done already


# The default keyword layout of our templates; WECHAT_TEMPLATE_KEYS overrides it.
DEFAULT_TEMPLATE_KEYS = {
    "subject": "thing1",
    "status": "phrase2",
    "time": "time3",
    "note": "thing4",
}
# WeChat's limits by keyword kind (characters).
_KEYWORD_LIMITS = {
    "thing": 20,
    "phrase": 5,
    "name": 10,
    "character_string": 32,
    "number": 32,
    "letter": 32,
    "symbol": 5,
}


def fit_keyword(key: str, value: str) -> str:
    """A value WeChat accepts for keyword `key` (thing1, phrase2...): one line, within
    its kind's length, a phrase in Chinese characters only; never empty."""
    value = " ".join(str(value).split())
    kind = key.rstrip("0123456789")
    if kind == "phrase":
        value = "".join(ch for ch in value if "\u4e00" <= ch <= "\u9fff")
        return value[:5] or "通知"
    limit = _KEYWORD_LIMITS.get(kind)
    if limit is not None and len(value) > limit:
        value = value[: limit - 1] + "…"
    return value or "无"


def template_data(fields: Mapping[str, Any], keys: Mapping[str, str] | None) -> dict[str, str]:
    layout = keys or DEFAULT_TEMPLATE_KEYS
    return {key: fit_keyword(key, str(fields.get(name, ""))) for name, key in layout.items()}


def backoff(attempt: int) -> timedelta:
    """Wait before attempt `attempt + 1`: 1, 2, 4... minutes, at most an hour."""
    return min(BACKOFF_BASE * 2 ** (attempt - 1), BACKOFF_CAP)


@asynccontextmanager
async def write_transaction(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    # Jobs write: on SQLite take the write lock at BEGIN (see app.core.db).
    with sqlite_write_transaction():
        async with sessionmaker() as session, session.begin():
            yield session


def _claimable(now: datetime) -> Any:
    return or_(
        col(WeChatSend.status) == SendStatus.pending,
        and_(col(WeChatSend.status) == SendStatus.sending, col(WeChatSend.lease_until) < now),
    )


def _grant_of(send: WeChatSend) -> Any:
    return and_(
        col(SubscribeGrant.user_id) == send.user_id,
        col(SubscribeGrant.template_id) == send.template_id,
    )


async def _adjust_grant(session: AsyncSession, send: WeChatSend, *, give_back: bool) -> None:
    balance = col(SubscribeGrant.balance)
    await session.execute(
        update(SubscribeGrant)
        .where(_grant_of(send))
        .values(balance=balance + 1 if give_back else 0, updated_at=utcnow())
    )


async def deliver(
    *,
    sessionmaker: async_sessionmaker[AsyncSession],
    wechat: WeChatGateway,
    settings: Settings,
    send_id: int,
    now: datetime,
) -> Delivery:
    async with write_transaction(sessionmaker) as session:
        if not await updated_one(
            session,
            update(WeChatSend)
            .where(col(WeChatSend.id) == send_id, _claimable(now))
            .values(
                status=SendStatus.sending,
                lease_until=now + LEASE,
                attempts=col(WeChatSend.attempts) + 1,
            ),
        ):
            return Delivery.skipped
        send = (
            await session.execute(select(WeChatSend).where(col(WeChatSend.id) == send_id))
        ).scalar_one()
        openid = (
            await session.execute(select(User.openid).where(col(User.id) == send.user_id))
        ).scalar_one_or_none()
        if not send.grant_taken:
            took = await updated_one(
                session,
                update(SubscribeGrant)
                .where(_grant_of(send), col(SubscribeGrant.balance) > 0)
                .values(balance=col(SubscribeGrant.balance) - 1, updated_at=now),
            )
            if not took:
                send.status, send.lease_until = SendStatus.no_grant, None
                return Delivery.no_grant
            send.grant_taken = True
        if not openid:
            # Unbound from WeChat since: nobody to send to.
            await _adjust_grant(session, send, give_back=True)
            send.status, send.lease_until, send.grant_taken = SendStatus.failed, None, False
            return Delivery.failed
        attempt = send.attempts
        data = template_data(send.fields, settings.wechat_template_keys.get(send.template_id))
        page = (
            f"{settings.wechat_message_page}?id={send.message_id}"
            if settings.wechat_message_page
            else None
        )
        template_id = send.template_id

    errcode: int
    try:
        errcode = await wechat.send_subscribe_message(
            openid=openid, template_id=template_id, data=data, page=page
        )
    except ServiceUnavailable:
        errcode = TRANSIENT_ERRCODE

    async with write_transaction(sessionmaker) as session:
        return await _record(session, send, attempt, errcode, now, settings)


async def _record(
    session: AsyncSession,
    send: WeChatSend,
    attempt: int,
    errcode: int,
    now: datetime,
    settings: Settings,
) -> Delivery:
    retry = errcode == TRANSIENT_ERRCODE and attempt < settings.wechat_send_max_attempts
    values: dict[str, Any] = {"lease_until": None, "last_errcode": errcode or None}
    if errcode == 0:
        outcome, values["status"], values["sent_at"] = Delivery.sent, SendStatus.sent, now
    elif retry:
        outcome, values["status"] = Delivery.retry, SendStatus.pending
        values["next_attempt_at"] = now + backoff(attempt)
        values["grant_taken"] = False
    else:
        outcome, values["status"] = Delivery.failed, SendStatus.failed
        values["grant_taken"] = errcode == NO_QUOTA_ERRCODE
    # Fenced on the attempt: a worker whose lease lapsed and was taken over records nothing.
    if not await updated_one(
        session,
        update(WeChatSend)
        .where(
            col(WeChatSend.id) == send.id,
            col(WeChatSend.status) == SendStatus.sending,
            col(WeChatSend.attempts) == attempt,
        )
        .values(**values),
    ):
        return Delivery.skipped
    if errcode == NO_QUOTA_ERRCODE:
        # WeChat knows better than our count: this person allows no more for now.
        await _adjust_grant(session, send, give_back=False)
    elif errcode != 0:
        await _adjust_grant(session, send, give_back=True)
    if outcome == Delivery.failed:
        logger.warning("subscribe message %s failed: errcode=%s", send.id, errcode)
    return outcome


async def due_sends(session: AsyncSession, *, now: datetime, limit: int = 500) -> list[int]:
    """Sends to hand (again) to the queue: pending ones whose time has come (a retry,
    or a hand-over lost at commit) and claims whose lease lapsed (a worker died)."""
    rows = await session.execute(
        select(WeChatSend.id)
        .where(
            or_(
                and_(
                    col(WeChatSend.status) == SendStatus.pending,
                    col(WeChatSend.next_attempt_at) <= now,
                ),
                and_(
                    col(WeChatSend.status) == SendStatus.sending,
                    col(WeChatSend.lease_until) < now,
                ),
            )
        )
        .order_by(col(WeChatSend.id))
        .limit(limit)
    )
    return [int(i) for i in rows.scalars()]


# --- grants -------------------------------------------------------------------------------


def _kinds_by_template(settings: Settings) -> dict[str, list[NotificationKind]]:
    out: dict[str, list[NotificationKind]] = {}
    for kind, template in settings.wechat_templates.items():
        out.setdefault(template, []).append(NotificationKind(kind))
    return {t: sorted(kinds) for t, kinds in sorted(out.items())}


async def subscriptions(
    session: AsyncSession, *, user_id: int, settings: Settings
) -> Subscriptions:
    templates = _kinds_by_template(settings)
    balances = dict(
        (
            await session.execute(
                select(SubscribeGrant.template_id, SubscribeGrant.balance).where(
                    col(SubscribeGrant.user_id) == user_id,
                    col(SubscribeGrant.template_id).in_(list(templates)),
                )
            )
        ).all()
    )
    return Subscriptions(
        templates=[
            TemplateGrant(template_id=t, kinds=kinds, balance=balances.get(t, 0))
            for t, kinds in templates.items()
        ]
    )


async def record_choices(
    session: AsyncSession, *, user_id: int, results: Mapping[str, str], settings: Settings
) -> Subscriptions:
    """What the person chose in wx.requestSubscribeMessage: each "accept" of a template
    we send allows one more message of it. Other templates and choices count nothing."""
    known = set(settings.wechat_templates.values())
    now = utcnow()
    for template in sorted(t for t, choice in results.items() if choice == "accept"):
        if template not in known:
            continue
        await session.execute(
            dialect_insert(session, SubscribeGrant)
            .values(user_id=user_id, template_id=template, balance=1, updated_at=now)
            .on_conflict_do_update(
                index_elements=["user_id", "template_id"],
                set_={"balance": col(SubscribeGrant.balance) + 1, "updated_at": now},
            )
        )
    return await subscriptions(session, user_id=user_id, settings=settings)


# --- in-app messages ------------------------------------------------------------------------


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
    total = (
        await session.execute(select(func.count()).select_from(Message).where(*conditions))
    ).scalar_one()
    rows = await session.execute(
        select(Message)
        .where(*conditions)
        .order_by(col(Message.read_at).is_not(None), col(Message.id).desc())
        .offset(offset)
        .limit(limit)
    )
    return list(rows.scalars()), int(total)


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
