"""Publicity performance: columns (专栏), placements (上稿), the district's weights and
the quarterly ranking (通报)."""

import asyncio
import re
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from app.core.db import utcnow
from app.core.timeutil import local
from app.models.article import ArticleImportance, ArticleStatus
from app.models.publicity import Placement, PlacementLevel
from tests.factories.articles import info_officer, insert_article
from tests.factories.console import console_headers
from tests.factories.publicity import insert_placement, make_column
from tests.routers.test_exports import body, read

HTML = {"Accept": "text/html"}

# Everything written here leaves the dashboards' kept sums exact (tests/support/counts.py).
pytestmark = pytest.mark.usefixtures("counts_stay_exact")


async def placements_stored(world) -> int:
    async with world.app.state.sessionmaker() as session:
        return (await session.execute(select(func.count()).select_from(Placement))).scalar_one()


async def test_a_street_column_takes_its_communities_articles_and_is_listed_and_counted(
    client, world
):
    officer = await info_officer(world)
    made = await client.post(
        "/article-columns",
        json={"org_id": world["S1"].id, "name": "东关新风"},
        headers=world.headers("street_admin"),
    )
    assert made.status_code == 201, made.text
    column = made.json()
    twin = await client.post(
        "/article-columns",
        json={"org_id": world["S1"].id, "name": "东关新风"},
        headers=world.headers("street_admin"),
    )
    assert (twin.status_code, twin.json()["code"]) == (409, "column_exists")

    # A C1 article may run in its street's column; not in the other street's.
    other = await make_column(world.app, org=world["S2"], by=world.user("other_street_admin"))
    body = {"title": "专栏稿件", "body": "正文", "org_id": world["C1"].id}
    refused = await client.post(
        "/articles", json={**body, "column_id": other.id}, headers=world.headers("info_officer")
    )
    assert (refused.status_code, refused.json()["code"]) == (422, "invalid_column")
    article = (
        await client.post(
            "/articles",
            json={**body, "column_id": column["id"]},
            headers=world.headers("info_officer"),
        )
    ).json()
    assert article["column_id"] == column["id"]
    await insert_article(world.app, org=world["C1"], author=officer)  # in no column

    listed = await client.get(
        "/articles", params={"column_id": column["id"]}, headers=world.headers("info_officer")
    )
    assert [a["id"] for a in listed.json()["items"]] == [article["id"]]
    choices = await client.get(
        "/article-columns", params={"org_id": world["C1"].id}, headers=world.headers("member")
    )
    assert [c["name"] for c in choices.json()["items"]] == ["东关新风"]

    submitted = await client.post(
        f"/articles/{article['id']}/submit", headers=world.headers("info_officer")
    )
    assert submitted.status_code == 200
    year = local(utcnow()).year
    stats = await client.get(
        "/stats/columns",
        params={"org_id": world["S1"].id, "year": year},
        headers=world.headers("street_admin"),
    )
    assert [(c["name"], c["submitted"], c["published"]) for c in stats.json()["columns"]] == [
        ("东关新风", 1, 0)
    ]
    # A column with articles stays: its figures would go with it.
    gone = await client.delete(
        f"/article-columns/{column['id']}", headers=world.headers("street_admin")
    )
    assert (gone.status_code, gone.json()["code"]) == (409, "column_not_empty")


async def test_bad_placements_are_refused_with_codes_and_nothing_is_stored(client, world):
    officer = await info_officer(world)
    draft = await insert_article(world.app, org=world["C1"], author=officer)
    published = await insert_article(
        world.app, org=world["C1"], author=officer, status=ArticleStatus.published
    )
    good = {"outlet": "文明市日报", "level": "city", "published_on": "2026-12-01"}
    cases = [
        (draft.id, good, 409, "article_not_published"),
        (published.id, {**good, "level": "county"}, 422, "validation_error"),
        (published.id, {**good, "url": "javascript:alert(1)"}, 422, "validation_error"),
        (
            published.id,
            {**good, "published_on": (local(utcnow()).date() + timedelta(days=2)).isoformat()},
            422,
            "published_on_in_future",
        ),
    ]
    for article_id, payload, status, code in cases:
        resp = await client.post(
            f"/articles/{article_id}/placements",
            json=payload,
            headers=world.headers("info_officer"),
        )
        assert (resp.status_code, resp.json().get("code")) == (status, code), (payload, resp.text)
    assert await placements_stored(world) == 0

    first = await client.post(
        f"/articles/{published.id}/placements", json=good, headers=world.headers("info_officer")
    )
    assert first.status_code == 201, first.text
    again = await client.post(
        f"/articles/{published.id}/placements", json=good, headers=world.headers("community_admin")
    )
    assert (again.status_code, again.json()["code"]) == (409, "placement_exists")
    assert await placements_stored(world) == 1


async def test_the_office_verifies_a_placement_once_and_the_history_says_who(client, world):
    officer = await info_officer(world)
    article = await insert_article(
        world.app, org=world["C1"], author=officer, status=ArticleStatus.published
    )
    placement = await insert_placement(world.app, article=article, by=world.user("street_admin"))
    path = f"/placements/{placement.id}/verify"

    # The community is not the office; the street admin recorded it, so not them either.
    for who, code in (
        ("community_admin", "forbidden"),
        ("street_admin", "cannot_verify_own_placement"),
    ):
        resp = await client.post(path, json={"approve": True}, headers=world.headers(who))
        assert (resp.status_code, resp.json()["code"]) == (403, code)
    no_note = await client.post(
        path, json={"approve": False}, headers=world.headers("district_admin")
    )
    assert (no_note.status_code, no_note.json()["code"]) == (422, "note_required")

    queue = await client.get(
        "/placements", params={"to_verify": True}, headers=world.headers("district_admin")
    )
    assert [p["id"] for p in queue.json()["items"]] == [placement.id]
    # The same queue on the console's to-do list: the district office's, not the street
    # admin's who recorded it, nor the community's (no office).
    for who, count in (("district_admin", "1"), ("street_admin", "0"), ("community_admin", None)):
        headers = {**await console_headers(world.app, world.user(who)), **HTML}
        home = (await client.get("http://test/console/", headers=headers)).text
        found = re.search(r'data-todo="placements".*?data-count>(\d+)<', home, re.S)
        assert (found and found.group(1)) == count, who
    exports = (await client.get("http://test/console/exports", headers=headers)).text
    assert 'data-ledger="publicity"' in exports and 'name="quarter"' in exports
    done = await client.post(path, json={"approve": True}, headers=world.headers("district_admin"))
    assert done.json()["status"] == "verified"
    twice = await client.post(path, json={"approve": True}, headers=world.headers("district_admin"))
    assert (twice.status_code, twice.json()["code"]) == (409, "invalid_placement_state")
    detail = await client.get(f"/placements/{placement.id}", headers=world.headers("info_officer"))
    assert [(e["action"], e["actor_name"]) for e in detail.json()["history"]] == [
        ("create", "街道管理员"),
        ("verify", "区管理员"),
    ]


async def test_the_quarterly_ranking_weighs_verified_placements_by_the_districts_weights(
    client, world
):
    officer = await info_officer(world)
    today = local(utcnow()).date()
    quarter = (today.month - 1) // 3 + 1
    last_quarter_day = date(today.year, 3 * quarter - 2, 1) - timedelta(days=1)
    district_admin = world.user("district_admin")

    async def placed(org, level, *, verified=True, on=today):
        article = await insert_article(
            world.app, org=world[org], author=officer, status=ArticleStatus.published
        )
        await insert_placement(
            world.app,
            article=article,
            by=officer,
            level=level,
            outlet=f"{level}-{on}",
            published_on=on,
            verified_by=district_admin if verified else None,
        )

    await placed("C1", PlacementLevel.central)
    await placed("C1", PlacementLevel.city)
    await placed("C2", PlacementLevel.provincial)
    await placed("C2", PlacementLevel.central, verified=False)  # not yet counted
    await placed("U1", PlacementLevel.central, on=last_quarter_day)  # another quarter

    weights = await client.put(
        "/publicity/weights",
        json={"weights": {"central": 3, "provincial": 4}},
        headers=world.headers("district_admin"),
    )
    assert weights.json()["weights"] == {
        "central": 3.0,
        "provincial": 4.0,
        "city": 2.0,
        "district": 1.0,
    }
    stats = await client.get(
        "/stats/publicity",
        params={"org_id": world["S1"].id, "year": today.year, "quarter": quarter},
        headers=world.headers("street_admin"),
    )
    rows = [
        (r["org_id"], r["score"], r["rank"], r["published"], r["placements"]["central"])
        for r in stats.json()["children"]
    ]
    # C1 3 + 2 = 5, C2 4; U1's placement ran last quarter: 0.
    assert rows == [
        (world["C1"].id, 5.0, 1, 2, 1),
        (world["C2"].id, 4.0, 2, 2, 0),
        (world["U1"].id, 0.0, 3, 1, 0),
    ]
    assert stats.json()["total"]["score"] == 9.0
    # Where an office looks first: this quarter's figures on its dashboard.
    board = await client.get(
        "/dashboard", params={"org_id": world["S1"].id}, headers=world.headers("street_admin")
    )
    figures = board.json()
    assert (
        figures["articles_published_quarter"],
        figures["placements_quarter"],
        figures["placements_pending"],
    ) == (5, 3, 1)

    # The bulletin (通报) as the office files it: the same rows, in rank order, 合计 last.
    ws = read(
        await client.get(
            "/exports/publicity.xlsx",
            params={"org_id": world["S1"].id, "year": today.year, "quarter": quarter},
            headers=world.headers("street_admin"),
        )
    )
    assert [row[1:] for row in body(ws)] == [
        (
            r["rank"],
            r["org_name"],
            r["submitted"],
            r["published"],
            *(r["placements"][lv] for lv in ("central", "provincial", "city", "district")),
            r["score"],
        )
        for r in stats.json()["children"]
    ]
    assert list(ws.iter_rows(values_only=True))[-1][:2] == ("合计", None)


async def test_two_people_recording_one_placement_at_once_store_it_once(client, world):
    officer = await info_officer(world)
    article = await insert_article(
        world.app, org=world["C1"], author=officer, status=ArticleStatus.published
    )
    body = {"outlet": "文明市日报", "level": "city", "published_on": "2026-12-01"}
    answers = await asyncio.gather(
        *(
            client.post(f"/articles/{article.id}/placements", json=body, headers=world.headers(who))
            for who in ("info_officer", "community_admin")
        )
    )
    # The unique (article, level, outlet, date) settles it in the database.
    assert sorted(r.status_code for r in answers) == [201, 409]
    assert await placements_stored(world) == 1


async def test_the_console_queue_puts_urgent_then_weightier_articles_first(client, world):
    officer = await info_officer(world)
    ids = {}
    for title, importance, urgent in (
        ("一般稿件", ArticleImportance.routine, False),
        ("重大稿件", ArticleImportance.major, False),
        ("紧急稿件", ArticleImportance.routine, True),
    ):
        article = await insert_article(
            world.app,
            org=world["C1"],
            author=officer,
            status=ArticleStatus.in_review,
            title=title,
            importance=importance,
            urgent=urgent,
        )
        ids[title] = article.id
    headers = {**await console_headers(world.app, world.user("community_admin")), **HTML}
    page = (await client.get("http://test/console/reviews/articles", headers=headers)).text
    listed = [int(i) for i in re.findall(r'data-item="(\d+)"', page)]
    assert listed == [ids["紧急稿件"], ids["重大稿件"], ids["一般稿件"]]
    assert "【紧急】紧急稿件" in page
