"""Delivery: handing a `wechat_sends` row to WeChat, once.

`deliver` is idempotent, so a job run twice sends once:
1. claim the send (pending → sending, with a lease) and take one of the person's
   grants for its template, in one committed transaction; no grant left: the send
   ends as `no_grant` and WeChat is never called;
2. call WeChat outside any transaction;
3. record the outcome, fenced on the attempt number so a worker whose lease lapsed
   cannot overwrite the one that took over. 43101 (the person allows no more) ends
   it and empties that grant; other refusals end it and give the grant back;
   transient failures give the grant back and retry with exponential backoff.

The sweep (`due_sends`) brings back sends whose hand-over at commit was lost,
whose retry time has come, and claims whose worker died.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, or_, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select

from app.core.config import Settings
from app.core.db import updated_one, utcnow, write_transaction
from app.core.errors import ServiceUnavailable
from app.core.wechat import WeChatGateway
from app.models.notification import SendStatus, SubscribeGrant, WeChatSend
from app.models.user import User

logger = logging.getLogger("app.notifications")

# A worker holds a claimed send this long; WeChat answers within WECHAT_TIMEOUT_S.
LEASE = timedelta(minutes=5)
BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_CAP = timedelta(hours=1)
# WeChat's "the user allows no more messages of this template".
NO_QUOTA_ERRCODE = 43101
# Recorded as last_errcode when WeChat was busy or unreachable.
TRANSIENT_ERRCODE = -1


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
