"""The dashboard as a web page: POST /dashboard/view-links and GET /dashboard/view.

The browser tests serve the app over real HTTP and drive Debian's Chromium
(/usr/bin/chromium, installed by `make test` where it can be) through Playwright:
the page must render its charts without a console error under the app's security
headers, and every number it shows, in text, table and chart, must be the API's.
Without the browser those tests are skipped with the reason; the rest run anyway.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import tomllib
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest
from sqlalchemy import delete, select, update

from app.core import security
from app.core.config import Settings
from app.core.db import utcnow
from app.core.timeutil import local, month_bounds, month_key
from app.main import create_app
from app.models.article import ArticleStatus
from app.models.audit import AuditEntry
from app.models.dashboard import DashboardMetrics
from app.models.org import Org, OrgLevel
from app.models.problem import ProblemStatus
from app.models.user import RoleGrant
from app.models.volunteer_hours import HourStatus
from app.models.wish import WishStatus
from app.routers.dashboard_view import APP_DIR, PAGE_CSP, static_assets
from app.services import dashboard_view as view
from tests.factories.articles import info_officer, insert_article
from tests.factories.orgs import make_org
from tests.factories.problems import insert_problem
from tests.factories.tasks import make_check_in, make_report_in, make_task
from tests.factories.users import make_user
from tests.factories.volunteer_hours import insert_entry
from tests.factories.wishes import insert_wish
from tests.factories.world import World
from tests.support.servers import AppServer

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
HAVE_CHROMIUM = CHROMIUM.exists()
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
BROWSER_HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


# --- the scene ---------------------------------------------------------------------------


async def build_scene(world: World) -> str:
    """A little of everything in street S1 this month (children C1, C2 and unit U1);
    returns the month. Counted by hand for S1: 8 members (the world's 6 there, 丁, 乙),
    7 party members, 2 of them reported (28.57%), 3 check-ins (2 in C1), 135 approved
    minutes, wishes 2 open, 1 claimed, 1 confirmed, problems 2 open (1 overdue) and
    1 closed."""
    app = world.app
    month = month_key(utcnow())
    c1, c2 = world["C1"], world["C2"]
    member, c_admin = world.user("member"), world.user("community_admin")
    ding = await make_user(app, "群众丁", community=c1)
    yi = await make_user(app, "党员乙", community=c2, unit=world["U1"], party=True)

    await make_report_in(app, member)
    await make_report_in(app, yi)
    start, _ = month_bounds(month)
    t1, t2 = await make_task(app, c1), await make_task(app, c2)
    for task, person in ((t1, member), (t1, ding), (t2, yi)):
        await make_check_in(app, task, person, at=start + timedelta(minutes=1))
    for person, org, minutes, status in (
        (member, c1, 90, HourStatus.approved),
        (yi, c2, 45, HourStatus.approved),
        (ding, c1, 60, HourStatus.pending),
    ):
        await insert_entry(
            app, user=person, org=org, minutes=minutes, status=status, started_at=start
        )
    await insert_wish(app, community=c1, poster=c_admin)
    await insert_wish(app, community=c1, poster=c_admin)
    await insert_wish(app, community=c1, poster=c_admin, status=WishStatus.claimed, claimant=member)
    await insert_wish(
        app, community=c2, poster=c_admin, status=WishStatus.confirmed, claimant=yi, admin=c_admin
    )
    today = local(utcnow()).date()
    inspector = world.user("inspector")
    await insert_problem(app, org=c1, reporter=inspector, deadline=today - timedelta(days=2))
    await insert_problem(app, org=c2, reporter=inspector, deadline=today + timedelta(days=5))
    await insert_problem(app, org=c1, reporter=inspector, status=ProblemStatus.closed)
    author = await info_officer(world, org="S1")
    await insert_article(app, org=c1, author=author, status=ArticleStatus.published)
    await insert_article(app, org=c2, author=author, status=ArticleStatus.in_review)
    return month


# --- serving the app and driving the browser ----------------------------------------------


@pytest.fixture(scope="module")
def served(settings: Settings) -> Iterator[str]:
    """A second app on the test database, on a real port."""
    with AppServer(create_app(settings)) as server:
        yield server.url.rstrip("/")


@pytest.fixture(scope="module")
def browser(chromium: Any) -> Any:
    return chromium


class Tab:
    """A page in a fresh browser context, with what its console and scripts reported."""

    def __init__(self, page: Any):
        self.page = page
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda e: self.errors.append(str(e)))

    def _console(self, message: Any) -> None:
        # A CSP violation is reported here too, as an error.
        if message.type in ("error", "warning"):
            self.errors.append(message.text)

    async def follow(self, selector: str) -> None:
        """Click a link and wait for the page it opens to draw."""
        async with self.page.expect_navigation():
            await self.page.click(selector)
        await self.rendered()

    async def rendered(self) -> None:
        """Every chart container holds a drawn SVG."""
        await self.page.wait_for_function(
            """() => [...document.querySelectorAll('[data-chart]')].every(
                   el => el.dataset.rendered === 'true' && el.querySelector('svg text'))""",
            timeout=15_000,
        )
        assert self.errors == []

    async def figures(self) -> list[tuple[str, str, str]]:
        return await self.page.eval_on_selector_all(
            ".figure [data-metric]",
            "els => els.map(e => [e.dataset.metric, e.dataset.value, e.textContent])",
        )

    async def table(self) -> list[dict[str, Any]]:
        return await self.page.eval_on_selector_all(
            "#children tbody tr",
            """rows => rows.map(r => ({
                org_id: Number(r.dataset.orgId),
                rank: Number(r.querySelector('.rank').textContent),
                org_name: r.querySelector('.name').textContent,
                cells: [...r.querySelectorAll('[data-metric]')].map(
                    c => [c.dataset.metric, c.dataset.value, c.textContent]),
            }))""",
        )

    async def charts(self) -> dict[str, Any]:
        """What each chart draws, read back from ECharts itself."""
        return await self.page.evaluate(
            """() => Object.fromEntries([...document.querySelectorAll('[data-chart]')].map(el => {
                const o = echarts.getInstanceByDom(el).getOption();
                return [el.dataset.chart, {
                    data: o.series[0].data,
                    categories: [...(o.xAxis || []), ...(o.yAxis || [])]
                        .map(axis => axis.data).find(d => d) || null,
                    svg_text: [...el.querySelectorAll('svg text')].map(t => t.textContent),
                }];
            }))"""
        )


@pytest.fixture
async def tab(browser: Any) -> AsyncIterator[Tab]:
    context = await browser.new_context(locale="zh-CN", viewport={"width": 1440, "height": 1000})
    yield Tab(await context.new_page())
    await context.close()


async def api(served: str, world: World, who: str, path: str, **params: Any) -> Any:
    async with httpx.AsyncClient(base_url=served) as c:
        resp = await c.get(f"/api/v1{path}", params=params, headers=world.headers(who))
    assert resp.status_code == 200, resp.text
    return resp.json()


async def make_link(client: Any, world: World, who: str, org: str, **body: Any) -> dict[str, Any]:
    resp = await client.post(
        "/dashboard/view-links", json={"org_id": world[org].id, **body}, headers=world.headers(who)
    )
    assert resp.status_code == 201, resp.text
    return resp.json()


# --- reading numbers off the page ------------------------------------------------------------


def shows(kind: str, text: str, value: float | None) -> bool:
    """Whether `text` is how the page writes `value` (to its display precision)."""
    if value is None:
        return text == "—"
    if kind == "rate":
        return text.endswith("%") and abs(float(text[:-1]) - value * 100) <= 0.05
    number = float(text.replace(",", ""))
    if kind == "minutes":
        return abs(number * 60 - value) <= 3  # hours to one decimal
    return number == value


def assert_shown(figures: list[Any], api_body: dict[str, Any]) -> None:
    for key, raw, text in figures:
        expected = api_body[key]
        assert raw == ("" if expected is None else str(expected)), key
        assert shows(view.METRICS[key].kind, text, expected), (key, text, expected)


def assert_page_equals_api(
    figures: list[Any], charts: dict[str, Any], dashboard: dict[str, Any]
) -> None:
    keys = [key for key, _, _ in figures]
    # Every metric of the API is on the page, once.
    assert sorted(keys) == sorted(DashboardMetrics.model_fields)
    assert_shown(figures, dashboard)
    wishes = charts["wishes"]
    assert [(x["name"], x["value"]) for x in wishes["data"]] == [
        (view.METRICS[k].label, dashboard[k]) for k in view.WISH_STATES
    ]
    problems = charts["problems"]
    assert problems["categories"] == [view.METRICS[k].label for k in view.PROBLEM_BARS]
    assert problems["data"] == [dashboard[k] for k in view.PROBLEM_BARS]
    reported = dashboard["party_members_reported"]
    assert [x["value"] for x in charts["report"]["data"]] == [
        reported,
        dashboard["party_members"] - reported,
    ]


# --- the browser tests --------------------------------------------------------------------


async def test_a_street_secretary_sees_on_the_page_the_numbers_the_api_gives(world, served, tab):
    month = await build_scene(world)
    async with httpx.AsyncClient(base_url=served) as c:
        resp = await c.post(
            "/api/v1/dashboard/view-links",
            json={"org_id": world["S1"].id, "month": month},
            headers=world.headers("street_admin"),
        )
    assert resp.status_code == 201, resp.text
    link = resp.json()
    dashboard = await api(served, world, "street_admin", "/dashboard", org_id=world["S1"].id)
    children = await api(
        served, world, "street_admin", "/dashboard/children", org_id=world["S1"].id
    )
    # The hand counts, so that the comparison below is not of two empty pages.
    assert (dashboard["members"], dashboard["party_members"]) == (8, 7)
    assert (dashboard["report_in_rate"], dashboard["check_ins"]) == (0.2857, 3)
    assert dashboard["approved_volunteer_minutes"] == 135
    assert (dashboard["wishes_open"], dashboard["problems_overdue"]) == (2, 1)

    response = await tab.page.goto(link["url"])
    assert response.status == 200
    headers = await response.all_headers()
    assert headers["cache-control"] == "no-store"
    assert headers["referrer-policy"] == "no-referrer"
    policies = await response.header_values("content-security-policy")
    assert view_policy_in(policies)
    await tab.rendered()

    assert await tab.page.text_content("#org-name") == "东关街道"
    assert await tab.page.text_content("#month") == month
    charts = await tab.charts()
    assert_page_equals_api(await tab.figures(), charts, dashboard)

    # The children, in the API's order, with the API's numbers.
    rows = await tab.table()
    items = children["items"]
    assert [r["org_id"] for r in rows] == [i["org_id"] for i in items]
    assert {i["org_name"] for i in items} == {"东关社区", "仓门社区", "东关小学"}
    for row, item in zip(rows, items, strict=True):
        assert (row["rank"], row["org_name"]) == (item["rank"], item["org_name"])
        assert [key for key, _, _ in row["cells"]] == view.TABLE_COLUMNS
        assert_shown(row["cells"], item)
    ranking = charts["ranking"]
    assert ranking["categories"] == [i["org_name"] for i in items]
    assert ranking["data"] == [i["report_in_rate"] for i in items]
    # Drawn as text in the SVG, each child named.
    assert {i["org_name"] for i in items} <= set(ranking["svg_text"])


def view_policy_in(policies: list[str]) -> bool:
    return PAGE_CSP in policies and "'unsafe-inline'" not in PAGE_CSP


async def test_the_secretary_ranks_by_another_column_opens_a_child_and_goes_back_a_month(
    client, world, served, tab
):
    month = await build_scene(world)
    link = await make_link(client, world, "street_admin", "S1")
    # The link was made in another app (the test client's); it opens here all the same.
    await tab.page.goto(served + link["path"])
    await tab.rendered()

    await tab.follow("#children th a:text-is('本月签到')")
    children = await api(
        served,
        world,
        "street_admin",
        "/dashboard/children",
        org_id=world["S1"].id,
        sort="check_ins",
    )
    rows = await tab.table()
    assert [r["org_id"] for r in rows] == [i["org_id"] for i in children["items"]]
    assert (await tab.charts())["ranking"]["data"] == [i["check_ins"] for i in children["items"]]
    assert await tab.page.text_content("th.sorted a") == "本月签到 ↓"

    await tab.follow("#children a:text-is('东关社区')")
    assert await tab.page.text_content("#org-name") == "东关社区"
    # A community has no children: no ranking, no table.
    assert await tab.page.query_selector("#children") is None
    assert await tab.page.query_selector("#chart-ranking") is None
    c1 = await api(served, world, "street_admin", "/dashboard", org_id=world["C1"].id)
    assert_page_equals_api(await tab.figures(), await tab.charts(), c1)
    assert c1["check_ins"] == 2

    await tab.follow(".months a:text-is('‹ 上月')")
    before = month_key(month_bounds(month)[0] - timedelta(days=1))
    assert await tab.page.text_content("#month") == before
    old = await api(
        served, world, "street_admin", "/dashboard", org_id=world["C1"].id, month=before
    )
    assert_page_equals_api(await tab.figures(), await tab.charts(), old)
    assert old["check_ins"] == 0

    # Back up to the street through the breadcrumb.
    await tab.follow(".crumbs a:text-is('东关街道')")
    assert await tab.page.text_content("#org-name") == "东关街道"


async def test_an_expired_link_shows_the_secretary_a_page_saying_so(client, world, served, tab):
    admin = world.user("street_admin")
    token, _ = security.issue_view_token(
        world.app.state.settings,
        admin=admin,
        org_id=world["S1"].id,
        now=utcnow() - timedelta(seconds=security.VIEW_LINK_TTL_S + 1),
    )
    response = await tab.page.goto(f"{served}/api/v1/dashboard/view?token={token}")
    assert response.status == 401
    assert await tab.page.text_content("h1") == "链接已过期"
    assert await tab.page.text_content("#error-code") == "view_link_expired"


# --- over HTTP, without a browser ------------------------------------------------------------


def page_url(link: dict[str, Any], **params: Any) -> str:
    """The link's path (under the test client's /api/v1 base) with params changed."""
    query = {k: v[0] for k, v in parse_qs(urlsplit(link["url"]).query).items()}
    query.update({k: str(v) for k, v in params.items()})
    return "/dashboard/view?" + "&".join(f"{k}={v}" for k, v in query.items())


async def test_a_link_is_a_short_lived_url_of_the_page(client, world):
    link = await make_link(client, world, "street_admin", "S1", month="2025-03")
    assert link["expires_in"] == security.VIEW_LINK_TTL_S
    assert link["url"].startswith("http://test/api/v1/dashboard/view?token=")
    assert link["url"].endswith(link["path"]) and "month=2025-03" in link["path"]
    resp = await client.get(page_url(link), headers=BROWSER_HTML)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/html")
    assert "2025-03" in resp.text and "东关街道" in resp.text
    # Whoever holds a link sees the page: its making is on the record.
    async with world.app.state.sessionmaker() as session:
        entries = (await session.execute(select(AuditEntry))).scalars().all()
    assert [(e.action, e.actor_id, e.org_id) for e in entries] == [
        ("dashboard_view_link.create", world.user("street_admin").id, world["S1"].id)
    ]


async def test_the_numbers_are_in_the_html_before_any_script_runs(client, world):
    await build_scene(world)
    link = await make_link(client, world, "street_admin", "S1")
    html = (await client.get(page_url(link), headers=BROWSER_HTML)).text
    assert 'data-metric="members" data-value="8">8</span>' in html
    assert 'data-metric="report_in_rate" data-value="0.2857">28.6%</span>' in html
    assert 'data-metric="approved_volunteer_minutes" data-value="135">2.3</span>' in html
    # No inline code: the only scripts are files and the JSON data block.
    scripts = re.findall(r"<script([^>]*)>", html)
    assert all("src=" in s or 'type="application/json"' in s for s in scripts), scripts
    assert "style=" not in html


async def test_an_expired_or_tampered_link_is_401_with_a_reason(client, world):
    settings = world.app.state.settings
    admin = world.user("street_admin")
    expired, _ = security.issue_view_token(
        settings,
        admin=admin,
        org_id=world["S1"].id,
        now=utcnow() - timedelta(seconds=security.VIEW_LINK_TTL_S + 1),
    )
    resp = await client.get("/dashboard/view", params={"token": expired})
    assert resp.status_code == 401
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.json()["code"] == "view_link_expired"
    page = await client.get("/dashboard/view", params={"token": expired}, headers=BROWSER_HTML)
    assert page.status_code == 401 and page.headers["content-type"].startswith("text/html")
    assert "链接已过期" in page.text and page.headers["cache-control"] == "no-store"

    good, _ = security.issue_view_token(settings, admin=admin, org_id=world["S1"].id)
    head, payload, signature = good.split(".")
    forged_org = security.issue_view_token(
        settings.model_copy(update={"jwt_secret": "someone-else's-secret" * 2}),
        admin=admin,
        org_id=world["D"].id,
    )[0]
    access_token = world.headers("street_admin")["Authorization"].removeprefix("Bearer ")
    for bad in (
        f"{head}.{payload}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}",
        forged_org,
        access_token,  # an access token opens no page
        "not-a-token",
    ):
        resp = await client.get("/dashboard/view", params={"token": bad})
        assert resp.status_code == 401, bad
        assert resp.json()["code"] == "not_authenticated"
    assert (await client.get("/dashboard/view")).json()["code"] == "not_authenticated"

    # ... and a link is no access token.
    resp = await client.get(
        "/dashboard",
        params={"org_id": world["S1"].id},
        headers={"Authorization": f"Bearer {good}"},
    )
    assert resp.status_code == 401


async def test_a_revoked_role_closes_the_page_at_the_next_load(client, world):
    link = await make_link(client, world, "street_admin", "S1")
    assert (await client.get(page_url(link))).status_code == 200
    async with world.app.state.sessionmaker() as session, session.begin():
        await session.execute(
            delete(RoleGrant).where(RoleGrant.user_id == world.user("street_admin").id)
        )
    resp = await client.get(page_url(link))
    assert resp.status_code == 403 and resp.json()["code"] == "forbidden"


async def test_a_link_opens_its_org_and_below_but_nothing_above_or_beside(client, world):
    link = await make_link(client, world, "district_admin", "S1")
    assert (await client.get(page_url(link, org_id=world["C1"].id))).status_code == 200
    # The district admin reaches D and C3, but this link was made for S1.
    for org in ("D", "C3", "UD"):
        resp = await client.get(page_url(link, org_id=world[org].id))
        assert resp.status_code == 404, org
    resp = await client.get(page_url(link, org_id=world["D"].id), headers=BROWSER_HTML)
    assert resp.status_code == 404 and "记录不存在" in resp.text


async def test_an_org_name_is_text_on_the_page_never_markup(client, world):
    street = await make_org(
        world.app, "</script><script>alert(1)</script>", OrgLevel.street, world["D"]
    )
    await make_org(world.app, '<img src=x onerror="alert(1)">社区', OrgLevel.community, street)
    link = await make_link(client, world, "district_admin", "D")
    html = (await client.get(page_url(link), headers=BROWSER_HTML)).text
    assert "</script><script>alert(1)" not in html
    # The street's own page names its child, in the breadcrumbs and the table.
    html = (await client.get(page_url(link, org_id=street.id), headers=BROWSER_HTML)).text
    assert "<img src=x" not in html and "&lt;img src=x" in html
    assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in html
    data = re.search(r'<script type="application/json" id="dashboard-data">(.*?)</script>', html)
    assert data is not None
    # In the JSON block the names are data again, whole.
    assert json.loads(data.group(1))["ranking"]["orgs"] == ['<img src=x onerror="alert(1)">社区']


@pytest.mark.parametrize("bad", ["\x0b", "\x01", "\x1f"], ids=repr)
async def test_control_characters_stored_in_org_names_never_reach_the_page(client, world, bad):
    # Straight into the database, as names written before the input rule were.
    async with world.app.state.sessionmaker() as session, session.begin():
        await session.execute(
            update(Org).where(Org.id == world["C1"].id).values(name=f"东关{bad}社区")
        )
    link = await make_link(client, world, "street_admin", "S1")
    resp = await client.get(page_url(link), headers=BROWSER_HTML)
    assert resp.status_code == 200
    assert bad not in resp.text
    assert "东关\ufffd社区" in resp.text
    page = await client.get(page_url(link, org_id=world["C1"].id), headers=BROWSER_HTML)
    assert page.status_code == 200 and bad not in page.text


async def test_the_page_files_are_cached_for_good_under_their_digest(client, world):
    link = await make_link(client, world, "community_admin", "C1")
    html = (await client.get(page_url(link), headers=BROWSER_HTML)).text
    paths = re.findall(r'(?:src|href)="(assets/[0-9a-f]{16}/[\w.]+)"', html)
    assert sorted(p.rsplit("/", 1)[1] for p in paths) == [
        "dashboard_view.css",
        "dashboard_view.js",
        "echarts.min.js",
    ]
    for path in paths:
        resp = await client.get(urljoin("/dashboard/view", path))
        assert resp.status_code == 200, path
        assert resp.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert resp.headers["content-type"].split(";")[0] in ("text/javascript", "text/css")
    stale = await client.get("/dashboard/assets/0123456789abcdef/echarts.min.js")
    assert stale.status_code == 200 and stale.headers["cache-control"] == "no-cache"
    assert (await client.get("/dashboard/assets/0123456789abcdef/app.py")).status_code == 404


def test_the_committed_echarts_is_the_version_its_package_json_pins():
    vendor = ROOT / "app" / "static" / "vendor" / "echarts"
    pinned = json.loads((vendor / "package.json").read_text())["dependencies"]["echarts"]
    lock = json.loads((vendor / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/echarts"]["version"] == pinned
    assert f'version="{pinned}"' in (vendor / "echarts.min.js").read_text()
    assert "Apache License" in (vendor / "LICENSE").read_text()
    assert "Apache ECharts" in (vendor / "NOTICE").read_text()


def test_every_metric_has_exactly_one_place_on_the_page():
    placed = view.HEADLINE + [k for _, _, keys in view.PANELS for k in keys]
    assert sorted(placed) == sorted(DashboardMetrics.model_fields)
    # The composite score is a column of the children's table only.
    assert set(view.METRICS) == set(DashboardMetrics.model_fields) | {"score"}


def test_the_page_templates_and_files_ship_in_the_wheel():
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["app"]
    needed = [a.path for a in static_assets().values()]
    needed += list((APP_DIR / "templates").glob("*.html"))
    needed += [APP_DIR / "static/vendor/echarts" / n for n in ("LICENSE", "LICENSE-d3", "NOTICE")]
    for path in needed:
        relative = path.relative_to(APP_DIR).as_posix()
        assert any(fnmatch.fnmatch(relative, p) for p in patterns), relative
