"""Rows for publicity: columns (专栏), placements (上稿), weights and the rankings.

A column is opened at C1; everyone of the district sees it (writers choose from
them), the units' secretaries living nowhere do not. A placement is of a published
article of C1 by its information officer: its recorder, the author and the admins over
C1 see it; the office (street or district admins over C1) verifies it.
"""

from __future__ import annotations

from typing import Any

from app.models.article import ArticleStatus
from tests.contract.matrix_rows.common import UNIT_ADMINS, Req, Row, fixed, statuses
from tests.factories.articles import info_officer, insert_article
from tests.factories.publicity import insert_placement, make_column
from tests.factories.world import World

COLUMN = "矩阵里的专栏"
OUTLET = "矩阵日报"


async def _published(world: World) -> Any:
    author = await info_officer(world)
    article = await insert_article(
        world.app, org=world["C1"], author=author, status=ArticleStatus.published
    )
    return author, article


def _column(method_json: Any = None) -> Any:
    async def build(world: World, caller: str) -> Req:
        column = await make_column(world.app, org=world["C1"], by=world.user("community_admin"))
        return Req(path=f"/api/v1/article-columns/{column.id}", json=method_json)

    return build


async def _create_column(world: World, caller: str) -> Req:
    return Req(path="/api/v1/article-columns", json={"org_id": world["C1"].id, "name": COLUMN})


async def _list_columns(world: World, caller: str) -> Req:
    await make_column(world.app, org=world["C1"], by=world.user("community_admin"), name=COLUMN)
    return Req(path="/api/v1/article-columns", params={"page_size": 100})


def _list_columns_check(world: World, caller: str, body: Any) -> None:
    names = {c["name"] for c in body["items"]}
    assert (COLUMN in names) == (caller not in UNIT_ADMINS), caller


async def _record(world: World, caller: str) -> Req:
    _, article = await _published(world)
    return Req(
        path=f"/api/v1/articles/{article.id}/placements",
        json={"outlet": OUTLET, "level": "city", "published_on": "2026-12-01"},
    )


def _placement(suffix: str = "", json: Any = None) -> Any:
    async def build(world: World, caller: str) -> Req:
        author, article = await _published(world)
        placement = await insert_placement(world.app, article=article, by=author, outlet=OUTLET)
        return Req(path=f"/api/v1/placements/{placement.id}{suffix}", json=json)

    return build


async def _article_placements(world: World, caller: str) -> Req:
    author, article = await _published(world)
    await insert_placement(world.app, article=article, by=author, outlet=OUTLET)
    return Req(path=f"/api/v1/articles/{article.id}/placements")


async def _placements(world: World, caller: str) -> Req:
    author, article = await _published(world)
    await insert_placement(world.app, article=article, by=author, outlet=OUTLET)
    return Req(path="/api/v1/placements", params={"page_size": 100})


def _placements_check(world: World, caller: str, body: Any) -> None:
    outlets = {p["outlet"] for p in body["items"]}
    assert (OUTLET in outlets) == (caller == "right"), caller


def _stats(name: str, prefix: str = "stats") -> Any:
    async def build(world: World, caller: str) -> Req:
        return Req(path=f"/api/v1/{prefix}/{name}", params={"org_id": world["S1"].id})

    return build


async def _console_queue(world: World, caller: str) -> Req:
    author, article = await _published(world)
    await insert_placement(world.app, article=article, by=author, outlet=OUTLET)
    return Req(path="/console/reviews/placements")


def _queued_only_for_the_right_office(world: World, caller: str, page: object) -> None:
    assert isinstance(page, str)
    assert ("data-item=" in page) == (caller == "right"), caller


async def _console_verify(world: World, caller: str) -> Req:
    author, article = await _published(world)
    placement = await insert_placement(world.app, article=article, by=author, outlet=OUTLET)
    return Req(path=f"/console/reviews/placements/{placement.id}", data={"decision": "approve"})


async def _console_ranking(world: World, caller: str) -> Req:
    return Req(path="/console/publicity", params={"org_id": world["S1"].id})


def _stats_check(world: World, caller: str, body: Any) -> None:
    assert {r["org_id"] for r in body["children"]} == {
        world["C1"].id,
        world["C2"].id,
        world["U1"].id,
    }


ROWS: dict[tuple[str, str], Row] = {
    ("POST", "/api/v1/article-columns"): Row(
        "community_admin",
        statuses(401, 403, 404, 404, 201, unit_admin=404, other_unit_admin=404),
        _create_column,
    ),
    ("GET", "/api/v1/article-columns"): Row(
        "community_admin", statuses(401, 200, 200, 200, 200), _list_columns, _list_columns_check
    ),
    ("GET", "/api/v1/article-columns/{column_id}"): Row(
        "community_admin",
        statuses(401, 200, 200, 200, 200, unit_admin=404, other_unit_admin=404),
        _column(),
    ),
    ("PATCH", "/api/v1/article-columns/{column_id}"): Row(
        "community_admin",
        statuses(401, 403, 403, 403, 200, unit_admin=404, other_unit_admin=404),
        _column({"name": "改过的专栏"}),
    ),
    ("DELETE", "/api/v1/article-columns/{column_id}"): Row(
        "community_admin",
        statuses(401, 403, 403, 403, 204, unit_admin=404, other_unit_admin=404),
        _column(),
    ),
    ("GET", "/api/v1/stats/columns"): Row(
        "street_admin",
        statuses(401, 403, 404, 404, 200),
        _stats("columns"),
    ),
    ("POST", "/api/v1/articles/{article_id}/placements"): Row(
        "community_admin",
        statuses(401, 403, 403, 403, 201, unit_admin=404, other_unit_admin=404),
        _record,
    ),
    ("GET", "/api/v1/articles/{article_id}/placements"): Row(
        "community_admin",
        statuses(401, 200, 200, 200, 200, unit_admin=404, other_unit_admin=404),
        _article_placements,
        _placements_check,
    ),
    ("GET", "/api/v1/placements"): Row(
        "community_admin", statuses(401, 200, 200, 200, 200), _placements, _placements_check
    ),
    ("GET", "/api/v1/placements/{placement_id}"): Row(
        "community_admin", statuses(401, 404, 404, 404, 200), _placement()
    ),
    ("POST", "/api/v1/placements/{placement_id}/verify"): Row(
        "street_admin", statuses(401, 404, 404, 404, 200), _placement("/verify", {"approve": True})
    ),
    ("GET", "/api/v1/publicity/weights"): Row(
        "street_admin", statuses(401, 403, 404, 404, 200), _stats("weights", "publicity")
    ),
    ("PUT", "/api/v1/publicity/weights"): Row(
        "district_admin",
        statuses(401, 403, 403, 403, 200),
        fixed("/api/v1/publicity/weights", json={"weights": {"central": 12}}),
    ),
    # The console's screens: the office's queue, its decision, the quarterly ranking.
    ("GET", "/console/reviews/placements"): Row(
        "street_admin",
        statuses(401, 403, 403, 200, 200),
        _console_queue,
        _queued_only_for_the_right_office,
        console=True,
    ),
    ("POST", "/console/reviews/placements/{placement_id}"): Row(
        "street_admin", statuses(401, 403, 403, 404, 303), _console_verify, console=True
    ),
    ("GET", "/console/publicity"): Row(
        "street_admin", statuses(401, 403, 404, 404, 200), _console_ranking, console=True
    ),
    ("GET", "/api/v1/stats/publicity"): Row(
        "street_admin", statuses(401, 403, 404, 404, 200), _stats("publicity"), _stats_check
    ),
}
