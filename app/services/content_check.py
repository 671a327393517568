"""WeChat content security (内容安全) for what people write and upload for others to see.

Texts: `msg_sec_check` v2 runs before a text becomes visible to someone other than
its writer. `risky` refuses the request (422 `content_rejected`, nothing stored);
`review` ("a person should look") and "WeChat would not check this writer" are
reported to the caller, which routes the text past a person first (articles flag it
for their reviewers, an admin's wish waits for review instead of opening). WeChat
down is 503: nothing is published unchecked.

Photos: an upload is handed to `media_check_async` v2 with a short-lived URL of the
stored image, and shown to nobody but its uploader until WeChat's verdict arrives
as a `wxa_media_check` push (app/routers/wechat_callback.py) and says `pass`. A
submission WeChat did not take (down, busy, the uploader unknown to it) leaves the
photo `pending` with no trace id; `resubmit_pending_media_checks`, run by a job,
tries again, and also resubmits photos whose verdict never came.

Checks need WeChat configured and CONTENT_CHECK_ENABLED; image checks also need the
push endpoint (WECHAT_CALLBACK_TOKEN, or no verdict can arrive) and S3 storage
(WeChat fetches the image by URL; a local folder has none to give). Without them
(dev) every check is a no-op and photos are `pass` at once.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, func, or_, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select

from app.core.config import Settings
from app.core.db import sqlite_write_transaction, updated_one
from app.core.errors import ServiceUnavailable, Unprocessable
from app.core.storage import Storage
from app.core.wechat import SCENE_FORUM, WeChatGateway
from app.models.media import Media, MediaCheckStatus
from app.models.user import User

logger = logging.getLogger("app.content_check")

# --- texts ----------------------------------------------------------------------------

DEFAULT_REFUSAL = "内容未通过微信内容安全检测，请修改后再提交"


class TextVerdict(StrEnum):
    passed = "pass"  # checked and clean, or checks are off
    review = "review"  # WeChat suggests a person looks before others see it
    unchecked = "unchecked"  # WeChat would not check this writer (no or unknown openid)


def text_checker(settings: Settings, wechat: WeChatGateway) -> WeChatGateway | None:
    """The gateway when text checks are on; None in dev without WeChat."""
    configured = bool(settings.wechat_appid and settings.wechat_secret)
    return wechat if configured and settings.content_check_enabled else None


async def check_text(
    checker: WeChatGateway | None,
    *,
    author: User,
    title: str,
    content: str,
    scene: int = SCENE_FORUM,
    refusal: str = DEFAULT_REFUSAL,
) -> TextVerdict:
    """WeChat's view of a text `author` wrote; `risky` raises 422 `content_rejected`
    with `refusal` as the message the writer sees."""
    if checker is None:
        return TextVerdict.passed
    if not author.openid:
        # msg_sec_check judges a text as written by a WeChat user; without one it
        # cannot run, and a person has to look instead.
        return TextVerdict.unchecked
    suggest = await checker.msg_sec_check(
        openid=author.openid, title=title, content=content, scene=scene
    )
    if suggest is None:
        return TextVerdict.unchecked
    if suggest == "risky":
        raise Unprocessable("content_rejected", refusal)
    return TextVerdict.review if suggest == "review" else TextVerdict.passed


# --- images ---------------------------------------------------------------------------

# WeChat fetches the image some time after the submission; the URL must outlive that.
CHECK_URL_TTL_S = 3600
# media_check_async takes files up to 10 MB; a larger stored image (a 10 MiB upload
# re-encoded) is judged by its thumbnail, which is what lists show anyway.
WECHAT_MEDIA_MAX_BYTES = 10_000_000
# A submission WeChat did not take is tried again after this long.
RETRY_AFTER = timedelta(minutes=5)
# WeChat pushes a verdict within 30 minutes; one that has not come by now was lost
# (our endpoint down, a push that arrived before the upload committed): ask again.
VERDICT_TIMEOUT = timedelta(hours=1)
# Photos still pending after this long are left hidden and no longer retried.
GIVE_UP_AFTER = timedelta(days=3)

VERDICTS = {
    "pass": MediaCheckStatus.passed,
    "risky": MediaCheckStatus.risky,
    "review": MediaCheckStatus.review,
}


def media_checker(settings: Settings, wechat: WeChatGateway) -> WeChatGateway | None:
    """The gateway when image checks are on (see the module docstring); else None."""
    if settings.wechat_callback_token and settings.storage_backend == "s3":
        return text_checker(settings, wechat)
    return None


async def submit_media_check(
    checker: WeChatGateway,
    storage: Storage,
    *,
    storage_key: str,
    thumbnail_key: str,
    size: int,
    openid: str | None,
) -> str | None:
    """WeChat's trace id for a new check of the stored image, or None when it could not
    be submitted now (logged without URL or openid; a later run tries again)."""
    if not openid:
        return None
    # WeChat checks images only: a video is checked by its poster.
    is_image = not storage_key.endswith(".mp4")
    key = storage_key if is_image and size <= WECHAT_MEDIA_MAX_BYTES else thumbnail_key
    url = await storage.locate(key, ttl_s=CHECK_URL_TTL_S)
    if not isinstance(url, str):
        # A local file: media_checker never hands out a checker for local storage.
        return None
    try:
        return await checker.media_check_async(openid=openid, media_url=url)
    except ServiceUnavailable:
        logger.warning("image check not submitted; it stays pending for a later try")
        return None


async def start_media_check(
    checker: WeChatGateway | None,
    storage: Storage,
    *,
    media: Media,
    openid: str | None,
    now: datetime,
) -> None:
    """Set the check state of a new upload (before it is inserted): `pass` at once with
    checks off, else `pending` and submitted to WeChat if it takes it now."""
    if checker is None:
        media.check_status = MediaCheckStatus.passed
        return
    media.check_status = MediaCheckStatus.pending
    media.check_requested_at = now
    media.check_trace_id = await submit_media_check(
        checker,
        storage,
        storage_key=media.storage_key,
        thumbnail_key=media.thumbnail_key,
        size=media.size,
        openid=openid,
    )


async def resubmit_pending_media_checks(
    *,
    sessionmaker: async_sessionmaker[AsyncSession],
    wechat: WeChatGateway,
    storage: Storage,
    settings: Settings,
    now: datetime,
    limit: int = 100,
) -> int:
    """Submit again the pending photos that are due: never taken by WeChat and last
    tried RETRY_AFTER ago, or taken and still without a verdict VERDICT_TIMEOUT
    later. At most `limit` a run, the longest waiting first; photos older than
    GIVE_UP_AFTER are left hidden. Answers how many WeChat took.

    The due rows are read, WeChat is asked outside any transaction, then each outcome
    is written in a short transaction of its own, conditional on the row still
    pending with the trace id read: two runs at once record one trace id per photo,
    and no lock is held while WeChat answers.
    """
    checker = media_checker(settings, wechat)
    if checker is None:
        return 0
    trace = col(Media.check_trace_id)
    requested = col(Media.check_requested_at)
    due = or_(
        and_(trace.is_(None), or_(requested.is_(None), requested <= now - RETRY_AFTER)),
        and_(trace.is_not(None), requested <= now - VERDICT_TIMEOUT),
    )
    async with sessionmaker() as session:
        rows = (
            await session.execute(
                select(Media, User.openid)
                .join(User, col(User.id) == col(Media.uploader_id))
                .where(
                    col(Media.check_status) == MediaCheckStatus.pending,
                    col(Media.created_at) > now - GIVE_UP_AFTER,
                    due,
                )
                .order_by(func.coalesce(requested, col(Media.created_at)), col(Media.id))
                .limit(limit)
            )
        ).all()
    submitted = 0
    for media, openid in rows:
        new_trace = await submit_media_check(
            checker,
            storage,
            storage_key=media.storage_key,
            thumbnail_key=media.thumbnail_key,
            size=media.size,
            openid=openid,
        )
        old_trace = media.check_trace_id
        same_trace = trace.is_(None) if old_trace is None else trace == old_trace
        with sqlite_write_transaction():
            async with sessionmaker() as session, session.begin():
                # A failed retry keeps the old trace id: its verdict may still come.
                changed = await updated_one(
                    session,
                    update(Media)
                    .where(
                        col(Media.id) == media.id,
                        col(Media.check_status) == MediaCheckStatus.pending,
                        same_trace,
                    )
                    .values(check_requested_at=now, check_trace_id=new_trace or old_trace),
                )
        if changed and new_trace:
            submitted += 1
    return submitted


async def record_media_verdict(
    session: AsyncSession, *, trace_id: str, suggest: str | None, now: datetime
) -> bool:
    """Apply WeChat's verdict to the pending photo it names. Only a pending photo
    changes, so a repeated push changes nothing; a trace id we do not know (a photo
    resubmitted since, or not ours) changes nothing either. A push without a verdict
    (WeChat could not check, e.g. could not fetch the image) forgets the trace id,
    so the photo is submitted again."""
    status = VERDICTS.get(suggest or "")
    values: dict[str, Any] = (
        {"check_status": status, "checked_at": now}
        if status is not None
        else {"check_trace_id": None}
    )
    return await updated_one(
        session,
        update(Media)
        .where(
            col(Media.check_trace_id) == trace_id,
            col(Media.check_status) == MediaCheckStatus.pending,
        )
        .values(**values),
    )


async def handle_push(session: AsyncSession, *, message: dict[str, Any], now: datetime) -> None:
    """One verified message pushed by WeChat. Only image verdicts concern us; any other
    event the mini-program is set to push is acknowledged and ignored."""
    if message.get("Event") != "wxa_media_check":
        logger.info("wechat push ignored: event=%s", str(message.get("Event"))[:40])
        return
    trace_id = message.get("trace_id")
    result = message.get("result")
    suggest = result.get("suggest") if isinstance(result, dict) else None
    if not isinstance(trace_id, str) or not trace_id:
        logger.warning("wechat image verdict without a trace id ignored")
        return
    changed = await record_media_verdict(
        session, trace_id=trace_id, suggest=suggest if isinstance(suggest, str) else None, now=now
    )
    logger.info(
        "wechat image verdict: suggest=%s errcode=%s applied=%s",
        str(suggest)[:10],
        str(message.get("errcode"))[:10],
        changed,
    )
