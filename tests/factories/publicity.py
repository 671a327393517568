"""Factories for publicity: columns and placements straight in the DB."""

from __future__ import annotations

from datetime import date

from fastapi import FastAPI

from app.models.article import Article
from app.models.org import Org
from app.models.publicity import (
    ArticleColumn,
    Placement,
    PlacementAction,
    PlacementEvent,
    PlacementLevel,
    PlacementStatus,
)
from app.models.user import User


async def make_column(
    app: FastAPI, *, org: Org, by: User, name: str = "文明实践在身边"
) -> ArticleColumn:
    async with app.state.sessionmaker() as session, session.begin():
        column = ArticleColumn(org_id=org.id, name=name, created_by_id=by.id)
        session.add(column)
        await session.flush()
        return column


async def insert_placement(
    app: FastAPI,
    *,
    article: Article,
    by: User,
    level: PlacementLevel = PlacementLevel.city,
    outlet: str = "文明市日报",
    published_on: date | None = None,
    verified_by: User | None = None,
    status: PlacementStatus | None = None,
) -> Placement:
    """A placement of `article`, pending, or verified (or `status`) by `verified_by`."""
    if status is None:
        status = PlacementStatus.verified if verified_by else PlacementStatus.pending
    async with app.state.sessionmaker() as session, session.begin():
        placement = Placement(
            article_id=article.id,
            org_id=article.org_id,
            outlet=outlet,
            level=level,
            published_on=published_on or date.today(),
            status=status,
            recorded_by_id=by.id,
            verified_by_id=verified_by.id if verified_by else None,
        )
        session.add(placement)
        await session.flush()
        session.add(
            PlacementEvent(
                placement_id=placement.id,
                action=PlacementAction.create,
                to_status=PlacementStatus.pending,
                actor_id=by.id,
            )
        )
        return placement
