"""GET /articles for a mixed world: every kind of caller, every filter and page, answered
as a plain reading of the rules says (who sees what, in the module docstring of
app/services/articles.py), each item as the article reads alone."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import cycle

import pytest
from sqlalchemy import select

from app.models.article import Article, ArticleImportance, ArticleStatus
from app.models.media import MediaAttachment, MediaCheckStatus
from app.models.org import Org, OrgLevel
from app.models.user import ADMIN_ROLES, Role, RoleGrant
from tests.factories.articles import info_officer, insert_article
from tests.factories.media import make_media
from tests.factories.orgs import make_org
from tests.factories.publicity import make_column
from tests.factories.users import auth, make_user
from tests.support.pages import alone, check_pages, check_refused, newest_first

pytestmark = pytest.mark.usefixtures("counts_stay_exact")

REVIEW_LEVELS = {"C1": "S1", "C2": "C2", "C3": "D", "U1": "S1", "S1": "S1", "D": "D"}


@dataclass
class Viewer:
    """What the rules read of a caller: who, their grants (role, org path, org id), the
    district of their home."""

    id: int
    grants: list[tuple[Role, str, int]]
    district: str | None

    def admin_paths(self) -> list[str]:
        return [path for role, path, _ in self.grants if role in ADMIN_ROLES]

    def sees(self, article: Article, path: str) -> bool:
        return (
            article.author_id == self.id
            or (
                article.status != ArticleStatus.draft
                and any(path.startswith(p) for p in self.admin_paths())
            )
            or (
                article.status == ArticleStatus.published
                and self.district is not None
                and path.startswith(self.district)
            )
        )

    def may_filter_by(self, path: str) -> bool:
        places = [p for _, p, _ in self.grants] + ([self.district] if self.district else [])
        return any(path.startswith(p) for p in places)

    def awaits(self, article: Article) -> bool:
        levels = {org_id for role, _, org_id in self.grants if role in ADMIN_ROLES}
        return article.review_org_id in levels and article.author_id != self.id


async def mixed_world(client, world):
    """Articles of every state at every level of the district and in another district,
    by several authors, graded, urgent or not, in columns or not, some with photos."""
    outer_district = await make_org(world.app, "外区", OrgLevel.district)
    outer_street = await make_org(world.app, "外区街道", OrgLevel.street, outer_district)
    world.orgs["OD"] = outer_district
    world.orgs["OC"] = await make_org(world.app, "外区社区", OrgLevel.community, outer_street)
    await info_officer(world)
    await info_officer(world, "c3_officer", "C3")
    await info_officer(world, "s1_officer", "S1")
    world.people["outer_officer"] = await make_user(
        world.app, "外区信息员", community=world["OC"], roles=[(Role.info_officer, world["OC"])]
    )
    world.people["outsider"] = await make_user(world.app, "外区居民", community=world["OC"])
    world.people["unit_worker"] = await make_user(world.app, "单位职工", unit=world["U1"])
    columns = {
        "D": await make_column(world.app, org=world["D"], by=world.user("district_admin")),
        "C1": await make_column(world.app, org=world["C1"], by=world.user("community_admin")),
    }
    authors = cycle(["info_officer", "community_admin", "district_admin", "s1_officer"])
    importances = cycle(list(ArticleImportance))
    urgent = cycle([True, False, False])
    articles = []
    for org in ("C1", "C2", "C3", "U1", "S1", "D", "OC"):
        for status in ArticleStatus:
            author = "outer_officer" if org == "OC" else next(authors)
            column = columns.get(org) or (columns["D"] if org in ("C3", "S1") else None)
            articles.append(
                await insert_article(
                    world.app,
                    org=world[org],
                    author=world.user(author),
                    status=status,
                    review_org=world[REVIEW_LEVELS.get(org, org)],
                    importance=next(importances),
                    urgent=next(urgent),
                    title=f"{org} {status.value}",
                )
            )
            if column is not None and status != ArticleStatus.draft:
                await _set(world, articles[-1].id, column_id=column.id)
    # Photos: one WeChat passed and one pending (shown to its uploader alone) on two
    # articles, and one someone else uploaded, still pending.
    for article in (articles[3], articles[10]):
        author = next(u for u in world.people.values() if u.id == article.author_id)
        passed = await make_media(world.app, author)
        pending = await make_media(world.app, author, check_status=MediaCheckStatus.pending)
        await _attach(world, article.id, [pending.id, passed.id])
    stranger = await make_media(
        world.app, world.user("member"), check_status=MediaCheckStatus.pending
    )
    await _attach(world, articles[3].id, [stranger.id])
    created = await client.post(
        "/api-keys",
        json={"name": "外宣", "org_id": world["S1"].id, "scopes": ["read:articles"]},
        headers=world.headers("street_admin"),
    )
    assert created.status_code == 201, created.text
    return columns, {"X-API-Key": created.json()["key"]}


async def _set(world, article_id, **values):
    async with world.app.state.sessionmaker() as session, session.begin():
        article = await session.get(Article, article_id)
        for name, value in values.items():
            setattr(article, name, value)


async def _attach(world, article_id, media_ids):
    async with world.app.state.sessionmaker() as session, session.begin():
        for media_id in media_ids:
            session.add(
                MediaAttachment(media_id=media_id, record_type="article", record_id=article_id)
            )


async def viewers(world) -> dict[str, Viewer]:
    async with world.app.state.sessionmaker() as session:
        orgs = {o.id: o for o in (await session.execute(select(Org))).scalars()}
        grants = (await session.execute(select(RoleGrant))).scalars().all()
    out = {}
    for key, user in world.people.items():
        home = user.community_id or user.unit_id
        out[key] = Viewer(
            id=user.id,
            grants=[
                (g.role, orgs[g.org_id].path, g.org_id) for g in grants if g.user_id == user.id
            ],
            district="/" + orgs[home].path.split("/")[1] + "/" if home else None,
        )
    # The key acts as an admin of its org, and is no one (it has no home).
    out["api_key"] = Viewer(
        id=0, grants=[(Role.street_admin, world["S1"].path, world["S1"].id)], district=None
    )
    return out


async def test_every_caller_lists_what_the_rules_show_them_filter_by_filter_page_by_page(
    client, world
):
    columns, key_headers = await mixed_world(client, world)
    listed, paths = await newest_first(world, Article)
    filters = [
        {},
        *({"status": s.value} for s in ArticleStatus),
        *({"org_id": world[o].id} for o in ("D", "S1", "S2", "C1", "C3", "U1", "OD", "OC")),
        {"awaiting_my_review": True},
        {"awaiting_my_review": False},
        *({"column_id": c.id} for c in columns.values()),
        {"column_id": 999_999},
        *({"importance": i.value} for i in ArticleImportance),
        {"urgent": True},
        {"urgent": False},
        {"status": "in_review", "org_id": world["S1"].id, "awaiting_my_review": True},
        {"status": "published", "importance": "major", "column_id": columns["D"].id},
        {"urgent": True, "org_id": world["C1"].id, "status": "returned"},
    ]
    checked = 0
    for who, viewer in (await viewers(world)).items():
        headers = key_headers if who == "api_key" else auth(world.app, world.user(who))
        seen = [a for a in listed if viewer.sees(a, paths[a.org_id])]
        read = await alone(client, "/articles/{}", [a.id for a in seen], headers)
        for params in filters:
            if "org_id" in params:
                org_path = paths[params["org_id"]]
                if not viewer.may_filter_by(org_path):
                    resp = await client.get("/articles", params=params, headers=headers)
                    assert resp.status_code == 404, (who, params)
                    continue
            expected = [read[a.id] for a in seen if _passes(a, params, viewer, paths)]
            checked += await check_pages(client, "/articles", params, headers, expected, who)
    assert checked > 500  # the world shows something to almost everyone


def _passes(article: Article, params: dict, viewer: Viewer, paths: dict[int, str]) -> bool:
    for name, value in params.items():
        if name == "org_id" and not paths[article.org_id].startswith(paths[value]):
            return False
        if name == "awaiting_my_review" and value and not viewer.awaits(article):
            return False
        if (
            name in ("status", "importance", "column_id", "urgent")
            and getattr(article, name) != value
        ):
            return False
    return True


async def test_the_list_refuses_what_it_refused(client, world):
    headers = world.headers("member")
    invalid = [
        {"status": "deleted"},
        {"importance": "vital"},
        {"column_id": 0},
        {"org_id": 0},
        {"urgent": "maybe"},
        {"page": 0},
        {"page_size": 101},
    ]
    await check_refused(client, "/articles", invalid, headers)
