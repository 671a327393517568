"""What publicity tells whom: the texts and recipients of the articles' notifications.

Each function is one event; it hands who hears it and what they read to the shared
outbox (app/services/notifications/outbox.py), in the caller's transaction. The article
services call them through the lifecycle's `notify`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import utcnow
from app.models.article import Article, ArticleStatus
from app.models.notification import NotificationKind
from app.services.notifications.outbox import Content, notify, quoted
from app.services.notifications.recipients import OrgAdmins


async def article_reviewed(session: AsyncSession, *, article: Article, comment: str | None) -> None:
    """To the author when the article is published or returned (a step up the review
    ladder tells them nothing they must act on)."""
    assert article.id is not None
    if article.status == ArticleStatus.published:
        kind, title, status = NotificationKind.article_published, "稿件已发布", "已发布"
        body = f"你的稿件{quoted(article.title)}已审核发布"
        note = "感谢投稿"
        at = article.published_at or utcnow()
    elif article.status == ArticleStatus.returned:
        kind, title, status = NotificationKind.article_returned, "稿件被退回", "已退回"
        body = f"你的稿件{quoted(article.title)}被退回，修改意见：{comment or ''}"
        note = comment or "请修改后重新提交"
        at = utcnow()
    else:
        return
    await notify(
        session,
        user_ids=[article.author_id],
        content=Content(
            kind=kind,
            title=title,
            body=body,
            subject=article.title,
            status=status,
            note=note,
            at=at,
            target_type="article",
            target_id=article.id,
        ),
    )


# --- the urgent scan's: once per article, submission and level (dedupe keys) ---------


async def urgent_review_overdue(
    session: AsyncSession,
    *,
    article: Article,
    level_id: int,
    above_id: int | None,
    admins: OrgAdmins,
    hours: float,
    now: datetime,
) -> int:
    """An urgent article has waited `hours` at `level_id`: its admins are reminded,
    and the admins of `above_id` (the next staffed org up its path, None at the top)
    are told it is late below them. Answers how many messages are new.

    The key names the submission (a resubmitted article climbs again) and the level,
    so each level is chased once however many quarter hours the scan finds it late."""
    assert article.id is not None and article.submitted_at is not None
    key = f"article:{article.id}:{int(article.submitted_at.timestamp())}:urgent:{level_id}"
    waited = f"{hours:g}小时"

    def content(kind: NotificationKind, title: str, body: str, note: str) -> Content:
        return Content(
            kind=kind,
            title=title,
            body=body,
            subject=article.title,
            status="待审核",
            note=note,
            at=now,
            target_type="article",
            target_id=article.id,
        )

    notified = await notify(
        session,
        user_ids=admins.admins.get(level_id, ()),
        exclude=[article.author_id],
        dedupe_key=f"{key}:remind",
        content=content(
            NotificationKind.article_review_overdue,
            "紧急稿件待审核",
            f"紧急稿件{quoted(article.title)}已等待审核超过{waited}，请立即审核",
            f"已超过{waited}",
        ),
    )
    if above_id is not None:
        notified += await notify(
            session,
            user_ids=admins.admins.get(above_id, ()),
            exclude=[article.author_id],
            dedupe_key=f"{key}:escalated",
            content=content(
                NotificationKind.article_review_escalated,
                "紧急稿件下级审核超时",
                f"紧急稿件{quoted(article.title)}在下级等待审核超过{waited}，请督促或关注",
                f"下级超过{waited}未审核",
            ),
        )
    return notified
