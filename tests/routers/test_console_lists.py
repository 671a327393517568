"""The console's lists: one pager for every list screen (app.services.console.Paging),
the roster narrowed by street, the to-do of articles waiting at a level nobody
reviews, and the inspector's console (who reaches which route is the matrix's:
tests/contract/test_console_inspector.py)."""

from __future__ import annotations

from datetime import timedelta

from app.core.db import utcnow
from app.core.http import _csp
from app.core.timeutil import local
from app.models.article import ArticleStatus
from app.models.points import ShopItem
from app.models.problem import ProblemStatus
from app.models.service_order import ServiceItem
from app.routers.console import page_headers
from app.services.console import Paging
from tests.factories.articles import info_officer, insert_article
from tests.factories.console import console_headers
from tests.factories.points import insert_redemption
from tests.factories.problems import insert_problem
from tests.factories.users import add_user

HTML = {"Accept": "text/html"}


def test_a_page_links_to_its_neighbours_keeping_the_filters_and_dropping_the_notice():
    first = Paging(1, 50, query=(("name", "王"), ("unbound", "true"))).of(120)
    assert (first.pages, first.start, first.end, first.offset) == (3, 1, 50, 0)
    assert first.prev_href is None
    assert first.next_href == "?name=%E7%8E%8B&unbound=true&page=2"
    last = Paging(3, 50).of(120)
    assert (last.start, last.end, last.next_href, last.prev_href) == (101, 120, None, "?page=2")
    # A board's column pages on its own parameter.
    column = Paging(1, 20, param="closed_page", query=(("org_id", "7"),)).of(21)
    assert column.next_href == "?org_id=7&closed_page=2"
    # Past the end (a list shrank): nothing shown, the way back to the last page.
    gone = Paging(9, 50).of(60)
    assert (gone.start, gone.end, gone.prev_href, gone.next_href) == (60, 60, "?page=2", None)
    assert Paging(1, 50).of(0).start == 0


async def test_a_district_admin_picks_a_street_then_pages_through_its_people(client, world):
    async with world.app.state.sessionmaker() as session, session.begin():
        for i in range(50):
            await add_user(session, world.app, f"居民{i:02d}", community=world["C2"])
    headers = {**await console_headers(world.app, world.user("district_admin")), **HTML}
    s1, s2 = world["S1"], world["S2"]
    resp = await client.get(
        "http://test/console/roster", params={"street_id": s1.id}, headers=headers
    )
    assert resp.status_code == 200
    # The community picker holds the street's communities and units alone.
    picker = resp.text.split('name="org_id"', 1)[1].split("</select>", 1)[0]
    assert "东关社区" in picker and "仓门社区" in picker and "西湖社区" not in picker
    # S1's six people of the world and the fifty: two pages, the filter kept.
    assert resp.text.count("data-person=") == 50
    assert 'data-paging="1-50/56"' in resp.text
    next_page = resp.text.split('rel="next" data-next', 1)[0].rsplit('href="', 1)[1]
    next_page = next_page.split('"', 1)[0].replace("&amp;", "&")
    assert f"street_id={s1.id}" in next_page and "page=2" in next_page
    resp = await client.get(f"http://test/console/roster{next_page}", headers=headers)
    assert resp.text.count("data-person=") == 6 and 'rel="prev"' in resp.text
    # The other street: its one person (S2's admin, at home in C3).
    resp = await client.get(
        "http://test/console/roster", params={"street_id": s2.id}, headers=headers
    )
    assert resp.text.count("data-person=") == 1
    # A community left picked from another street is dropped, not mixed in.
    resp = await client.get(
        "http://test/console/roster",
        params={"street_id": s2.id, "org_id": world["C1"].id},
        headers=headers,
    )
    assert resp.text.count("data-person=") == 1
    # Not a street: unusable; a street out of reach: missing.
    resp = await client.get(
        "http://test/console/roster", params={"street_id": world["C1"].id}, headers=headers
    )
    assert resp.status_code == 422
    secretary = {**await console_headers(world.app, world.user("community_admin")), **HTML}
    resp = await client.get(
        "http://test/console/roster", params={"street_id": s1.id}, headers=secretary
    )
    assert resp.status_code == 404


async def test_an_article_waiting_where_nobody_reviews_is_on_the_next_level_ups_to_do(
    client, world
):
    # C3 has no secretary: its article waits at C3, which S2's admin reviews for it.
    author = await info_officer(world, "c3_officer", "C3")
    article = await insert_article(
        world.app, org=world["C3"], author=author, status=ArticleStatus.in_review
    )
    street = {**await console_headers(world.app, world.user("other_street_admin")), **HTML}
    home = await client.get("http://test/console/", headers=street)
    for key in ("articles", "articles_unstaffed"):
        count = home.text.split(f'data-todo="{key}"', 1)[1].split("data-count>", 1)[1]
        assert count.split("<", 1)[0] == "1", key
    screen = await client.get("http://test/console/reviews/articles", headers=street)
    assert f'data-item="{article.id}" data-unstaffed' in screen.text
    assert "【下级无审核人】" in screen.text
    # The district is not asked: S2 is staffed, and acts first.
    district = {**await console_headers(world.app, world.user("district_admin")), **HTML}
    home = await client.get("http://test/console/", headers=district)
    assert 'data-todo="articles_unstaffed"' not in home.text
    # The review service agrees: S2's approval moves it on to the district.
    resp = await client.post(
        f"http://test/console/reviews/articles/{article.id}",
        data={"decision": "approve"},
        headers=street,
    )
    assert resp.status_code == 303
    screen = await client.get("http://test/console/reviews/articles", headers=district)
    assert f'data-item="{article.id}"' in screen.text


async def test_an_article_by_its_levels_only_admin_is_on_the_level_aboves_list(client, world):
    # C1's secretary wrote it and is C1's one admin: nobody at C1 may review it.
    secretary = world.user("community_admin")
    article = await insert_article(
        world.app, org=world["C1"], author=secretary, status=ArticleStatus.in_review
    )
    # Another author's article at C1 is the secretary's own, not the street's.
    other = await insert_article(
        world.app,
        org=world["C1"],
        author=await info_officer(world),
        status=ArticleStatus.in_review,
        title="另一篇",
    )
    street = {**await console_headers(world.app, world.user("street_admin")), **HTML}
    screen = await client.get("http://test/console/reviews/articles", headers=street)
    assert f'data-item="{article.id}" data-unstaffed' in screen.text
    assert f'data-item="{other.id}"' not in screen.text
    home = await client.get("http://test/console/", headers=street)
    count = home.text.split('data-todo="articles_unstaffed"', 1)[1].split("data-count>", 1)[1]
    assert count.split("<", 1)[0] == "1"
    mine = {**await console_headers(world.app, secretary), **HTML}
    screen = await client.get("http://test/console/reviews/articles", headers=mine)
    assert (
        f'data-item="{other.id}"' in screen.text and f'data-item="{article.id}"' not in screen.text
    )
    # The review service agrees: the street acts for C1 on it.
    resp = await client.post(
        f"http://test/console/reviews/articles/{article.id}",
        data={"decision": "approve"},
        headers=street,
    )
    assert resp.status_code == 303


async def test_an_inspector_works_on_the_problems_of_their_street_and_sees_nothing_else(
    client, world
):
    inspector = world.user("inspector")
    ours = await insert_problem(
        world.app,
        org=world["C1"],
        reporter=world.user("street_admin"),
        rectifier=world.user("community_admin"),
        status=ProblemStatus.rectified,
        description="东关社区的问题",
    )
    await insert_problem(
        world.app, org=world["C3"], reporter=world.user("other_street_admin"), description="西湖的"
    )
    headers = {**await console_headers(world.app, inspector), **HTML}
    home = await client.get("http://test/console/", headers=headers)
    assert home.status_code == 200
    count = home.text.split('data-todo="problems_to_verify"', 1)[1].split("data-count>", 1)[1]
    assert count.split("<", 1)[0] == "1"
    # The menu: their to-do, the problems board and the inspections, nothing else.
    menu = home.text.split("<nav>", 1)[1].split("</nav>", 1)[0]
    assert [line.split(">")[-1] for line in menu.split("</a>")[:-1]] == [
        "待办",
        "问题督办",
        "巡查记录",
    ]
    board = await client.get("http://test/console/problems", headers=headers)
    assert "东关社区的问题" in board.text and "西湖的" not in board.text
    resp = await client.post(
        f"http://test/console/problems/{ours.id}/verify",
        data={"decision": "approve"},
        headers=headers,
    )
    assert resp.status_code == 303
    roster = await client.get("http://test/console/roster", headers=headers)
    assert roster.status_code == 403 and "不能打开工作台的这一页" in roster.text


def test_the_map_s_tile_host_is_admitted_by_both_policies_and_only_when_configured(settings):
    tiles = "https://t{s}.tianditu.gov.cn/vec_w/wmts?TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk=k"
    mapped = settings.model_copy(update={"console_map_tiles_url": tiles})
    # The console page's own policy and the app-wide one, which the browser enforces too.
    for policy in (page_headers(mapped)["Content-Security-Policy"], _csp(mapped).header_value):
        images = next(d for d in policy.split(";") if d.strip().startswith("img-src"))
        assert "https://*.tianditu.gov.cn" in images.split()
    for policy in (page_headers(settings)["Content-Security-Policy"], _csp(settings).header_value):
        assert "tianditu" not in policy


async def test_the_board_pages_its_open_column_by_deadline_the_overdue_first(client, world):
    today = local(utcnow()).date()
    c1, inspector = world["C1"], world.user("inspector")
    late = await insert_problem(
        world.app, org=c1, reporter=inspector, deadline=today - timedelta(days=2)
    )
    for _ in range(50):
        await insert_problem(world.app, org=c1, reporter=inspector, deadline=today + timedelta(10))
    headers = {**await console_headers(world.app, world.user("community_admin")), **HTML}
    board = await client.get("http://test/console/problems", headers=headers)
    column = board.text.split('data-column="open"', 1)[1].split("</section>", 1)[0]
    # The oldest record, but the most pressing: first on the first page.
    assert column.split("data-problem=", 2)[1].startswith(f'"{late.id}"')
    assert 'data-paging="1-50/51"' in column
    assert "open_page=2" in column
    second = await client.get(
        "http://test/console/problems", params={"open_page": 2}, headers=headers
    )
    column = second.text.split('data-column="open"', 1)[1].split("</section>", 1)[0]
    assert column.count("data-problem=") == 1 and f'"{late.id}"' not in column


async def test_the_shops_stock_pages_on_its_own_keeping_the_community(client, world):
    c1 = world["C1"]
    async with world.app.state.sessionmaker() as session, session.begin():
        session.add_all(
            ShopItem(community_id=c1.id, name=f"物品{i:02d}", points=10, stock=1) for i in range(51)
        )
    await insert_redemption(world.app, world.user("member"), c1)
    headers = {**await console_headers(world.app, world.user("community_admin")), **HTML}
    shop = await client.get(
        "http://test/console/shop", params={"community_id": c1.id}, headers=headers
    )
    stock = shop.text.split('data-section="stock"', 1)[1].split("</section>", 1)[0]
    # The fifty-one and the redeemed one: two pages; the other lists have one each.
    assert stock.count("<tr data-item=") == 50 and 'data-paging="1-50/52"' in stock
    assert f"community_id={c1.id}&amp;items_page=2" in stock
    waiting = shop.text.split('data-section="waiting"', 1)[1].split("</section>", 1)[0]
    assert 'data-paging="1-1/1"' in waiting and "data-next" not in waiting
    second = await client.get(
        "http://test/console/shop",
        params={"community_id": c1.id, "items_page": 2},
        headers=headers,
    )
    stock = second.text.split('data-section="stock"', 1)[1].split("</section>", 1)[0]
    assert stock.count("<tr data-item=") == 2 and "data-redemption=" in second.text
    # The award's picker narrowed by a name typed: C1's one 居民 (the member).
    found = await client.get(
        "http://test/console/shop",
        params={"community_id": c1.id, "resident": world.user("member").name},
        headers=headers,
    )
    picker = found.text.split('name="user_id"', 1)[1].split("</select>", 1)[0]
    assert picker.count("<option") == 1 and 'data-residents="1/1"' in found.text


async def test_the_service_menu_pages_past_fifty_items(client, world):
    async with world.app.state.sessionmaker() as session, session.begin():
        session.add_all(
            ServiceItem(
                org_id=world["C1"].id,
                title=f"服务{i:02d}",
                description="",
                service_type="助老",
                created_by_id=world.user("community_admin").id,
            )
            for i in range(51)
        )
    headers = {**await console_headers(world.app, world.user("community_admin")), **HTML}
    first = await client.get("http://test/console/service-items", headers=headers)
    assert first.text.count("<tr data-item=") == 50 and 'data-paging="1-50/51"' in first.text
    second = await client.get(
        "http://test/console/service-items", params={"page": 2}, headers=headers
    )
    assert second.text.count("<tr data-item=") == 1
