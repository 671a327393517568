"""Factories for articles: an information officer in the world, articles straight in the DB."""

from __future__ import annotations

from datetime import datetime

from fastapi import FastAPI

from app.core.db import utcnow
from app.models.article import (
    Article,
    ArticleAction,
    ArticleEvent,
    ArticleImportance,
    ArticleStatus,
)
from app.models.org import Org
from app.models.user import Role, User
from tests.factories.users import make_user
from tests.factories.world import World


async def info_officer(
    world: World, key: str = "info_officer", org: str = "C1", *, openid: str | None = "auto"
) -> User:
    """An information officer of `org` living there, added to the world's cast as `key`."""
    if key not in world.people:
        world.people[key] = await make_user(
            world.app,
            "信息员",
            community=world[org] if org.startswith("C") else None,
            openid=openid,
            roles=[(Role.info_officer, world[org])],
        )
    return world.people[key]


async def insert_article(
    app: FastAPI,
    *,
    org: Org,
    author: User,
    status: ArticleStatus = ArticleStatus.draft,
    review_org: Org | None = None,
    first_submitted_at: datetime | None = None,
    published_at: datetime | None = None,
    title: str = "东关社区开展背街小巷清洁行动",
    importance: ArticleImportance = ArticleImportance.major,
    urgent: bool = False,
    review_level_at: datetime | None = None,
) -> Article:
    """An article in `status`; one in review waits at `review_org` (default: its own org)."""
    submitted = status != ArticleStatus.draft
    now = utcnow()
    async with app.state.sessionmaker() as session, session.begin():
        article = Article(
            title=title,
            body="周六上午，社区党员志愿者二十余人清理了背街小巷的卫生死角。",
            org_id=org.id,
            author_id=author.id,
            status=status,
            review_org_id=(review_org or org).id if status == ArticleStatus.in_review else None,
            review_level_at=(
                (review_level_at or first_submitted_at or now)
                if status == ArticleStatus.in_review
                else None
            ),
            importance=importance,
            urgent=urgent,
            first_submitted_at=(first_submitted_at or now) if submitted else None,
            submitted_at=(first_submitted_at or now) if submitted else None,
            published_at=(published_at or now) if status == ArticleStatus.published else None,
        )
        session.add(article)
        await session.flush()
        session.add(
            ArticleEvent(
                article_id=article.id,
                action=ArticleAction.create,
                to_status=ArticleStatus.draft,
                actor_id=author.id,
            )
        )
        return article
