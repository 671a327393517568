"""What publicity tells whom: the texts and recipients of the articles' notifications.

Each function is one event; it hands who hears it and what they read to the shared
outbox (app/services/notifications/outbox.py), in the caller's transaction. The article
services call them through the lifecycle's `notify`.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import utcnow
from app.models.article import Article, ArticleStatus
from app.models.notification import NotificationKind
from app.services.notifications.outbox import Content, notify, quoted


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
