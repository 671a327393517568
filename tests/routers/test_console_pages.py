"""The PC console in a browser: Debian's Chromium through Playwright, the app served
over real HTTP (tests/support/browser.py). Few tests, one shared browser: each walks
a whole flow, the way a secretary would, under the console's strict CSP (a violation
is a console error, and every test ends with none)."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from PIL import Image
from sqlalchemy import select

from app.core.config import Settings
from app.core.db import utcnow
from app.core.timeutil import local
from app.main import create_app
from app.models.article import Article, ArticleStatus
from app.models.audit import AuditEntry
from app.models.media import Media
from app.models.problem import ProblemStatus
from app.models.report import Report, ReportStatus
from app.models.task import Task
from app.models.wish import Wish, WishStatus
from tests.contract.matrix_rows.media import _jpeg
from tests.factories.articles import info_officer, insert_article
from tests.factories.problems import insert_problem
from tests.factories.reports import insert_report
from tests.factories.users import add_user
from tests.factories.wishes import insert_wish
from tests.factories.world import World
from tests.support.browser import Tab
from tests.support.servers import AppServer


@pytest.fixture(scope="module")
def served(settings: Settings) -> Iterator[str]:
    """A second app on the test database, on a real port."""
    with AppServer(create_app(settings)) as server:
        yield server.url.rstrip("/")


@pytest.fixture
async def tab(chromium: Any) -> AsyncIterator[Tab]:
    context = await chromium.new_context(locale="zh-CN", viewport={"width": 1366, "height": 768})
    yield Tab(await context.new_page())
    await context.close()


async def log_in(tab: Tab, served: str, world: World, who: str) -> None:
    """The QR round trip: the page shows a code, the admin's mini-program confirms its
    ticket with their bearer token, the page's poll gets the session and moves on."""
    page = tab.page
    await page.goto(f"{served}/console/login")
    ticket = await page.get_attribute("#login", "data-ticket")
    assert ticket and await page.locator("img.code").count() == 1
    async with httpx.AsyncClient(base_url=served) as phone:
        resp = await phone.post(
            f"/api/v1/auth/console-login/{ticket}/confirm", headers=world.headers(who)
        )
    assert resp.status_code == 204, resp.text
    await page.wait_for_url(f"{served}/console/", timeout=10_000)


async def test_a_secretary_logs_in_with_the_phone_and_reviews_the_wishes_on_the_list(
    served, world, tab
):
    c1, admin = world["C1"], world.user("community_admin")
    first = await insert_wish(
        world.app, community=c1, poster=admin, status=WishStatus.pending_review, title="修好楼道灯"
    )
    second = await insert_wish(
        world.app, community=c1, poster=admin, status=WishStatus.pending_review, title="买一台轮椅"
    )
    article = await insert_article(
        world.app, org=c1, author=await info_officer(world), status=ArticleStatus.in_review
    )
    # A neighbour's wish is not on this secretary's list.
    await insert_wish(
        world.app,
        community=world["C2"],
        poster=world.user("other_community_admin"),
        status=WishStatus.pending_review,
        title="邻社区的心愿",
    )

    await log_in(tab, served, world, "community_admin")
    page = tab.page
    assert await page.text_content("[data-me]") == "社区书记"
    assert await page.text_content('[data-todo="wishes"] [data-count]') == "2"

    async with page.expect_navigation():
        await page.click('[data-todo="wishes"] a')
    rows = page.locator("tr[data-item]")
    assert await rows.count() == 2
    assert "邻社区的心愿" not in await page.content()

    async with page.expect_navigation():
        await page.click(f'tr[data-item="{first.id}"] button[value="approve"]')
    assert await page.text_content('[role="status"]') == "已通过。"
    # Returning needs a reason; the field is keyboard-reachable and Enter sends it.
    reason = page.locator(f'tr[data-item="{second.id}"] input[name="reason"]')
    await reason.fill("请补充受助人情况")
    async with page.expect_navigation():
        await reason.press("Enter")
    assert await page.text_content('[role="status"]') == "已退回。"
    assert await page.locator("tr[data-item]").count() == 0

    # An article waiting at the community's level goes back to its author with a comment.
    async with page.expect_navigation():
        await page.click('nav a:text("稿件审核")')
    comment = page.locator(f'tr[data-item="{article.id}"] input[name="reason"]')
    await comment.fill("请补充活动照片")
    async with page.expect_navigation():
        await comment.press("Enter")
    assert await page.text_content('[role="status"]') == "已退回。"
    assert tab.errors == []

    async with world.app.state.sessionmaker() as s:
        states = dict((await s.execute(select(Wish.id, Wish.status))).all())
        returned = await s.get(Article, article.id)
        actions = set((await s.execute(select(AuditEntry.action, AuditEntry.actor_id))).all())
    assert states[first.id] == WishStatus.open and states[second.id] == WishStatus.rejected
    assert returned is not None and returned.status == ArticleStatus.returned
    # Audited as through the API, by the same services.
    assert {("console_login.confirm", admin.id), ("article.return", admin.id)} <= actions


async def test_a_page_left_past_its_two_minutes_says_the_code_expired(served, world, tab):
    page = tab.page
    await page.clock.install()
    await page.goto(f"{served}/console/login")
    await page.clock.run_for(121_000)
    await page.wait_for_selector("text=二维码已过期", timeout=10_000)
    assert tab.errors == []


async def test_a_secretary_imports_a_roster_with_a_bad_row_and_finds_who_is_not_bound(
    served, world, tab, tmp_path
):
    c1 = world["C1"]
    roster = tmp_path / "花名册.csv"
    roster.write_text(
        f"姓名,手机号,社区,是否党员\n新党员,13855550001,{c1.id},是\n错号码,12345,{c1.id},否\n",
        encoding="utf-8",
    )
    await log_in(tab, served, world, "community_admin")
    page = tab.page
    async with page.expect_navigation():
        await page.click('nav a:text("花名册")')
    await page.set_input_files("form[data-import] input[type=file]", str(roster))
    async with page.expect_navigation():
        await page.click("form[data-import] button")
    assert await page.text_content("[data-created]") == "1"
    # The API's row-by-row report: the header is row 1, the bad phone row 3.
    assert await page.locator("[data-import-errors] tr[data-row]").count() == 1
    assert await page.get_attribute("[data-import-errors] tr[data-row]", "data-row") == "3"

    async with page.expect_navigation():
        await page.click('a:text("返回花名册")')
    await page.check("input[name=unbound]")
    await page.fill("input[name=name]", "新党员")
    async with page.expect_navigation():
        await page.click(".filters button")
    rows = page.locator("tr[data-person]")
    assert await rows.count() == 1
    assert await page.text_content("tr[data-person] [data-bound]") == "未绑定"
    assert tab.errors == []


async def test_a_street_office_sees_overdue_problems_in_red_and_verifies_a_rectified_one(
    served, world, tab
):
    inspector, c1 = world.user("inspector"), world["C1"]
    today = local(utcnow()).date()
    late = await insert_problem(
        world.app, org=c1, reporter=inspector, deadline=today - timedelta(days=2)
    )
    done = await insert_problem(
        world.app, org=c1, reporter=inspector, status=ProblemStatus.rectified
    )
    await log_in(tab, served, world, "street_admin")
    page = tab.page
    assert await page.text_content('[data-todo="problems_overdue"] [data-count]') == "1"
    async with page.expect_navigation():
        await page.click('nav a:text("问题督办")')
    card = page.locator(f'[data-column="open"] [data-problem="{late.id}"]')
    assert await card.get_attribute("class") == "card overdue"
    assert "已逾期" in await card.text_content()
    async with page.expect_navigation():
        await page.click(f'[data-problem="{done.id}"] button[value="approve"]')
    assert await page.text_content('[role="status"]') == "已复核销号。"
    assert await page.locator(f'[data-column="closed"] [data-problem="{done.id}"]').count() == 1
    assert tab.errors == []


async def test_a_secretary_accepts_a_residents_report_seeing_its_duplicate_beside_it(
    served, world, tab
):
    c1, member = world["C1"], world.user("member")
    report = await insert_report(world.app, community=c1, reporter=member, description="楼下垃圾堆")
    twin = await insert_report(
        world.app,
        community=c1,
        reporter=member,
        description="垃圾又堆起来了",
        lat=23.1291 + 20 / 111_320,
    )
    # The factory's photos have no files behind them: the page shows their thumbnails.
    async with world.app.state.sessionmaker() as s:
        keys = (await s.execute(select(Media.thumbnail_key))).scalars().all()
    for key in keys:
        await world.app.state.storage.put(key, _jpeg(), "image/jpeg")
    await log_in(tab, served, world, "community_admin")
    page = tab.page
    async with page.expect_navigation():
        await page.click('nav a:text("随手拍受理")')
    card = page.locator(f'[data-report="{report.id}"]')
    assert await card.locator(f'[data-near="report-{twin.id}"]').count() == 1
    deadline = (local(utcnow()).date() + timedelta(days=5)).isoformat()
    await card.locator('input[name="deadline"]').fill(deadline)
    async with page.expect_navigation():
        await card.locator('button:text("受理，转为问题")').click()
    assert await page.text_content('[role="status"]') == "已受理，转为督办问题。"
    assert await page.locator(f'[data-report="{report.id}"]').count() == 0
    assert tab.errors == []
    async with world.app.state.sessionmaker() as s:
        accepted = await s.get(Report, report.id)
    assert accepted is not None and accepted.status == ReportStatus.accepted


async def test_an_inspector_logs_in_with_the_phone_and_verifies_on_their_own_small_console(
    served, world, tab
):
    done = await insert_problem(
        world.app,
        org=world["C1"],
        reporter=world.user("street_admin"),
        rectifier=world.user("community_admin"),
        status=ProblemStatus.rectified,
    )
    await log_in(tab, served, world, "inspector")
    page = tab.page
    assert await page.text_content('[data-todo="problems_to_verify"] [data-count]') == "1"
    assert await page.locator("nav a").all_text_contents() == ["待办", "问题督办", "巡查记录"]
    async with page.expect_navigation():
        await page.click('nav a:text("问题督办")')
    assert await page.locator("form[data-rectify]").count() == 0
    async with page.expect_navigation():
        await page.click(f'[data-problem="{done.id}"] button[value="approve"]')
    assert await page.text_content('[role="status"]') == "已复核销号。"
    async with page.expect_navigation():
        await page.click('nav a:text("巡查记录")')
    assert await page.locator("h1").text_content() is not None
    assert tab.errors == []


async def test_a_secretary_rectifies_with_three_photos_then_reads_the_dashboard_in_the_menu(
    served, world, tab, tmp_path
):
    problem = await insert_problem(world.app, org=world["C1"], reporter=world.user("inspector"))
    photos = []
    for i in range(3):
        photos.append(tmp_path / f"after{i}.jpg")
        photos[-1].write_bytes(_jpeg())
    await log_in(tab, served, world, "community_admin")
    page = tab.page
    async with page.expect_navigation():
        await page.click('nav a:text("问题督办")')
    form = page.locator(f'[data-problem="{problem.id}"] form[data-rectify]')
    await form.locator('input[name="note"]').fill("已清理完毕")
    await form.locator('input[type="file"]').set_input_files([str(p) for p in photos])
    async with page.expect_navigation():
        await form.locator("button").click()
    assert await page.text_content('[role="status"]') == "已提交整改。"
    card = page.locator(f'[data-column="rectified"] [data-problem="{problem.id}"]')
    assert await card.locator("img.after").count() == 3

    async with page.expect_navigation():
        await page.click('nav a:text("数据看板")')
    # The menu bar stays; the dashboard page's charts are drawn under the console's CSP.
    assert await page.locator('nav a[aria-current="page"]').text_content() == "数据看板"
    await page.wait_for_selector("[data-chart] svg", timeout=10_000)
    assert await page.locator("#org-name").text_content() == "东关社区"
    assert tab.errors == []


async def test_a_district_admin_narrows_the_roster_to_a_street_and_turns_its_pages(
    served, world, tab
):
    async with world.app.state.sessionmaker() as session, session.begin():
        for i in range(50):
            await add_user(session, world.app, f"居民{i:02d}", community=world["C2"])
    await log_in(tab, served, world, "district_admin")
    page = tab.page
    async with page.expect_navigation():
        await page.click('nav a:text("花名册")')
    # Picking the street applies it at once; the community picker is then the street's.
    async with page.expect_navigation():
        await page.select_option('select[name="street_id"]', str(world["S1"].id))
    options = await page.locator('select[name="org_id"] option').all_text_contents()
    assert any("仓门社区" in o for o in options) and not any("西湖社区" in o for o in options)
    assert await page.locator("tr[data-person]").count() == 50
    async with page.expect_navigation():
        await page.click("a[data-next]")
    assert await page.locator("tr[data-person]").count() == 6
    assert await page.locator('select[name="street_id"]').input_value() == str(world["S1"].id)
    assert tab.errors == []


TILES = "https://t{s}.tiles.test/{z}/{x}/{y}.png"


def _tile() -> bytes:
    image = io.BytesIO()
    Image.new("RGB", (256, 256), (230, 236, 240)).save(image, "PNG")
    return image.getvalue()


async def test_a_task_takes_its_place_from_my_location_where_no_map_is_configured(
    served, world, tab
):
    page = tab.page
    await page.context.grant_permissions(["geolocation"])
    await page.context.set_geolocation({"latitude": 23.129112, "longitude": 113.264385})
    await log_in(tab, served, world, "community_admin")
    async with page.expect_navigation():
        await page.click('nav a:text("任务")')
    # No tiles configured: no map and no map library, the fields and the button.
    assert await page.locator("[data-map]").count() == 0
    assert await page.evaluate("typeof window.L") == "undefined"
    await page.click("button[data-locate]")
    # Polled from here: wait_for_function evaluates a string in the page, which the
    # console's CSP (no 'unsafe-eval') refuses whenever the first look finds it empty.
    for _ in range(100):
        if await page.input_value("[data-lat]"):
            break
        await asyncio.sleep(0.05)
    assert await page.input_value("[data-lat]") == "23.129112"
    assert await page.input_value("[data-lng]") == "113.264385"
    assert tab.errors == []


async def test_a_task_s_place_is_picked_on_the_map_from_the_configured_tiles(settings, world, tab):
    mapped = settings.model_copy(update={"console_map_tiles_url": TILES})
    page = tab.page
    tile = _tile()
    # The tiles' host, answered here: the console's CSP admits it, and only it.
    await page.route(
        "https://*.tiles.test/**",
        lambda route: route.fulfill(status=200, content_type="image/png", body=tile),
    )
    with AppServer(create_app(mapped)) as server:
        served = server.url.rstrip("/")
        await log_in(tab, served, world, "community_admin")
        async with page.expect_navigation():
            await page.click('nav a:text("任务")')
        assert await page.locator("[data-map]").is_visible()
        await page.wait_for_selector(".leaflet-tile-loaded", timeout=10_000)
        await page.fill("[data-radius]", "150")
        await page.click("[data-map]", position={"x": 320, "y": 160})
        lat, lng = await page.input_value("[data-lat]"), await page.input_value("[data-lng]")
        assert lat and lng
        # The place and its check-in circle are drawn.
        assert await page.locator("[data-map] path.leaflet-interactive").count() == 2
        form = page.locator("form[data-create-task]")
        await form.locator('input[name="title"]').fill("地图上选的任务")
        await form.locator('input[name="starts_at"]').fill("2030-01-05T09:00")
        await form.locator('input[name="ends_at"]').fill("2030-01-05T11:00")
        async with page.expect_navigation():
            await form.locator('button[type="submit"]').click()
        assert tab.errors == []
    async with world.app.state.sessionmaker() as s:
        task = (await s.execute(select(Task).where(Task.title == "地图上选的任务"))).scalar_one()
    assert task.radius_m == 150
    assert (round(task.lat, 6), round(task.lng, 6)) == (float(lat), float(lng))
