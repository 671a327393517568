"""Rows for articles and their statistics.

Articles are written by an information officer of C1 (added to the world by the
builders). A draft is its author's alone; an article in review is seen by the admins
whose reach covers C1 (C1, S1, the district); a published one by everyone of the
district (publicity), which the list check shows.
"""

from __future__ import annotations

from typing import Any

from app.models.article import ArticleStatus
from tests.contract.matrix_rows.common import UNIT_ADMINS, Req, Row, statuses
from tests.factories.articles import info_officer, insert_article
from tests.factories.world import World

DRAFT_TITLE = "矩阵里的草稿"
IN_REVIEW_TITLE = "矩阵里审核中的稿件"
PUBLISHED_TITLE = "矩阵里已发布的稿件"


def _article_in(status: ArticleStatus, suffix: str = "", json: Any = None) -> Any:
    async def build(world: World, caller: str) -> Req:
        author = await info_officer(world)
        article = await insert_article(world.app, org=world["C1"], author=author, status=status)
        return Req(path=f"/api/v1/articles/{article.id}{suffix}", json=json)

    return build


async def _create(world: World, caller: str) -> Req:
    return Req(
        path="/api/v1/articles",
        json={
            "title": "东关社区文明实践",
            "body": "社区开展文明实践活动。",
            "org_id": world["C1"].id,
        },
    )


async def _list(world: World, caller: str) -> Req:
    author = await info_officer(world)
    for status, title in (
        (ArticleStatus.draft, DRAFT_TITLE),
        (ArticleStatus.in_review, IN_REVIEW_TITLE),
        (ArticleStatus.published, PUBLISHED_TITLE),
    ):
        await insert_article(world.app, org=world["C1"], author=author, status=status, title=title)
    return Req(path="/api/v1/articles", params={"page_size": 100})


def _list_check(world: World, caller: str, body: Any) -> None:
    titles = {a["title"] for a in body["items"]}
    # Published is for everyone living in the district; the units' secretaries of the
    # world live nowhere.
    assert (PUBLISHED_TITLE in titles) == (caller not in UNIT_ADMINS), caller
    assert DRAFT_TITLE not in titles, caller
    assert (IN_REVIEW_TITLE in titles) == (caller == "right"), caller


async def _stats(world: World, caller: str) -> Req:
    return Req(path="/api/v1/stats/articles", params={"org_id": world["S1"].id})


def _stats_check(world: World, caller: str, body: Any) -> None:
    assert body["total"]["org_id"] == world["S1"].id
    assert {r["org_id"] for r in body["children"]} == {
        world["C1"].id,
        world["C2"].id,
        world["U1"].id,
    }


ROWS: dict[tuple[str, str], Row] = {
    ("POST", "/api/v1/articles"): Row(
        "community_admin",
        statuses(401, 403, 404, 404, 201, unit_admin=404, other_unit_admin=404),
        _create,
    ),
    ("GET", "/api/v1/articles"): Row(
        "community_admin", statuses(401, 200, 200, 200, 200), _list, _list_check
    ),
    ("GET", "/api/v1/articles/{article_id}"): Row(
        "street_admin", statuses(401, 404, 404, 404, 200), _article_in(ArticleStatus.in_review)
    ),
    ("PATCH", "/api/v1/articles/{article_id}"): Row(
        "info_officer",
        statuses(401, 404, 404, 404, 200),
        _article_in(ArticleStatus.draft, json={"title": "改过的标题"}),
    ),
    ("POST", "/api/v1/articles/{article_id}/submit"): Row(
        "info_officer",
        statuses(401, 404, 404, 404, 200),
        _article_in(ArticleStatus.draft, "/submit"),
    ),
    ("POST", "/api/v1/articles/{article_id}/review"): Row(
        "community_admin",
        statuses(401, 404, 404, 404, 200),
        _article_in(ArticleStatus.in_review, "/review", {"approve": True}),
    ),
    ("GET", "/api/v1/stats/articles"): Row(
        "street_admin", statuses(401, 403, 404, 404, 200), _stats, _stats_check
    ),
}
