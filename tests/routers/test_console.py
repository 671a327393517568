"""The console's screens without a browser: what a browser is shown when something
is refused, and the screens' filters (the browser flows are test_console_pages.py;
who reaches which screen is the authorization matrix's)."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import openpyxl
from sqlalchemy import select

from app.models.audit import AuditEntry
from app.models.task import Task
from tests.contract.matrix_rows.media import _jpeg
from tests.factories.console import console_headers
from tests.factories.problems import insert_problem
from tests.factories.tasks import make_check_in
from tests.factories.users import make_user

HTML = {"Accept": "text/html"}


async def test_a_record_out_of_reach_is_a_not_found_page_with_no_menu(client, world):
    headers = {**await console_headers(world.app, world.user("other_community_admin")), **HTML}
    resp = await client.get(
        f"http://test/console/roster/{world.user('member').id}", headers=headers
    )
    assert resp.status_code == 404 and 'data-code="not_found"' in resp.text
    assert "text/html" in resp.headers["content-type"]
    resp = await client.post(
        f"http://test/console/roster/{world.user('member').id}/roles",
        headers=headers,
        data={"role": "info_officer", "org_id": str(world["C1"].id)},
    )
    assert resp.status_code == 404 and "<nav>" not in resp.text


async def test_the_menu_groups_every_screen_and_holds_only_what_the_person_may_open(client, world):
    def menu_of(text: str) -> tuple[list[str], list[str]]:
        menu = text.split("<nav>", 1)[1].split("</nav>", 1)[0]
        groups = [part.split("</h2>", 1)[0] for part in menu.split("<h2>")[1:]]
        links = [line.split(">")[-1] for line in menu.split("</a>")[:-1]]
        return groups, links

    district = {**await console_headers(world.app, world.user("district_admin")), **HTML}
    groups, links = menu_of((await client.get("http://test/console/", headers=district)).text)
    assert groups == ["工作台", "审核", "组织与人员", "督查", "志愿服务", "宣传", "测评", "系统"]
    # Every screen of the menu, once (28 at the time of writing: a column holds them).
    assert len(links) == len(set(links)) and {"评分权重", "操作日志", "入户调查"} <= set(links)
    community = {**await console_headers(world.app, world.user("community_admin")), **HTML}
    _, links = menu_of((await client.get("http://test/console/", headers=community)).text)
    assert "评分权重" not in links and "操作日志" not in links and "花名册" in links


async def test_a_bad_form_is_a_page_saying_so(client, world):
    headers = {**await console_headers(world.app, world.user("community_admin")), **HTML}
    resp = await client.post(
        f"http://test/console/roster/{world.user('member').id}/roles",
        headers=headers,
        data={"role": "king", "org_id": "x"},
    )
    assert resp.status_code == 422 and 'data-code="validation_error"' in resp.text


async def test_the_roster_filters_by_org_and_by_not_bound(client, world):
    headers = {**await console_headers(world.app, world.user("street_admin")), **HTML}
    unbound = await make_user(world.app, "未绑定者", community=world["C2"], openid=None)
    resp = await client.get(
        "http://test/console/roster",
        params={"org_id": str(world["C2"].id), "unbound": "true"},
        headers=headers,
    )
    assert resp.status_code == 200
    assert f'data-person="{unbound.id}"' in resp.text
    assert f'data-person="{world.user("member").id}"' not in resp.text
    # An org outside reach is missing, as on the API.
    resp = await client.get(
        "http://test/console/roster", params={"org_id": str(world["C3"].id)}, headers=headers
    )
    assert resp.status_code == 404


async def test_a_secretary_rectifies_with_several_photos_and_sees_their_thumbnails_on_the_board(
    client, world
):
    problem = await insert_problem(world.app, org=world["C1"], reporter=world.user("inspector"))
    headers = {**await console_headers(world.app, world.user("community_admin")), **HTML}
    # As POST /problems/{id}/rectify: at most nine photos; ten are refused whole.
    too_many = [("photos", (f"{i}.jpg", _jpeg(), "image/jpeg")) for i in range(10)]
    resp = await client.post(
        f"http://test/console/problems/{problem.id}/rectify",
        headers=headers,
        data={"note": "已清理完毕"},
        files=too_many,
    )
    assert resp.status_code == 422
    resp = await client.post(
        f"http://test/console/problems/{problem.id}/rectify",
        headers=headers,
        data={"note": "已清理完毕"},
        files=too_many[:3],
    )
    assert resp.status_code == 303, resp.text
    board = await client.get("http://test/console/problems", headers=headers)
    card = board.text.split(f'data-problem="{problem.id}"', 1)[1].split("</article>", 1)[0]
    assert card.count('class="after"') == 3
    thumb = card.split('class="after"', 1)[0].rsplit('src="', 1)[1].split('"', 1)[0]
    assert thumb.startswith("/console/media/")
    image = await client.get(f"http://test{thumb}", headers=headers)
    assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
    # The neighbour's secretary does not see it, as on GET /media/{id}/thumbnail.
    other = await console_headers(world.app, world.user("other_community_admin"))
    assert (await client.get(f"http://test{thumb}", headers=other)).status_code == 404


async def test_a_ledger_downloads_from_the_console_as_from_the_api_and_is_audited(client, world):
    headers = await console_headers(world.app, world.user("street_admin"))
    resp = await client.get(
        "http://test/console/exports/members.xlsx",
        params={"org_id": world["S1"].id, "year": ""},
        headers=headers,
    )
    assert resp.status_code == 200, resp.text
    sheet = openpyxl.load_workbook(io.BytesIO(resp.content)).active
    names = {cell for row in sheet.iter_rows(values_only=True) for cell in row}
    assert "党员甲" in names and "外街道管理员" not in names
    async with world.app.state.sessionmaker() as s:
        actions = (await s.execute(select(AuditEntry.action, AuditEntry.actor_id))).all()
    assert ("export.members", world.user("street_admin").id) in actions
    bad = await client.get(
        "http://test/console/exports/report-ins.xlsx",
        params={"org_id": world["S1"].id, "month": "2026-13"},
        headers=headers,
    )
    assert bad.status_code == 422


async def test_the_dashboard_screen_is_a_console_page_with_the_menu_and_shares_a_fresh_link(
    client, world
):
    headers = {**await console_headers(world.app, world.user("street_admin")), **HTML}
    resp = await client.get("http://test/console/dashboard", headers=headers)
    assert resp.status_code == 200
    # The menu bar as on every screen, the dashboard page's figures within it.
    assert 'class="bar"' in resp.text and 'aria-current="page">数据看板' in resp.text
    assert "东关街道" in resp.text and 'id="dashboard-data"' in resp.text
    # Drilling down to a community of the street stays on the console's screen.
    c1 = f"?org_id={world['C1'].id}&"
    assert c1 in resp.text
    down = await client.get(
        "http://test/console/dashboard", params={"org_id": world["C1"].id}, headers=headers
    )
    assert down.status_code == 200 and "东关社区" in down.text
    # Outside reach: missing, as on the API.
    other = await client.get(
        "http://test/console/dashboard", params={"org_id": world["S2"].id}, headers=headers
    )
    assert other.status_code == 404
    # The share link: a fresh dashboard page link, working on its own, in any browser.
    resp = await client.get("http://test/console/dashboard/share", headers=headers)
    assert resp.status_code == 303
    link = resp.headers["location"]
    assert link.startswith("/api/v1/dashboard/view?token=")
    page = await client.get(f"http://test{link}", headers=HTML)
    assert page.status_code == 200 and "东关街道" in page.text


async def test_the_district_reads_console_actions_in_the_audit_log_others_see_no_such_menu(
    client, world
):
    street = {**await console_headers(world.app, world.user("street_admin")), **HTML}
    resp = await client.post(
        f"http://test/console/roster/{world.user('member').id}/roles",
        headers=street,
        data={"role": "info_officer", "org_id": str(world["C1"].id)},
    )
    assert resp.status_code == 303
    home = await client.get("http://test/console/", headers=street)
    assert "操作日志" not in home.text

    district = {**await console_headers(world.app, world.user("district_admin")), **HTML}
    log = await client.get(
        "http://test/console/audit", params={"action": "role.grant"}, headers=district
    )
    assert log.status_code == 200 and "操作日志" in log.text
    assert log.text.count("data-entry=") == 1 and "街道管理员" in log.text


async def test_a_secretary_publishes_a_task_in_beijing_time_and_reads_its_check_ins(client, world):
    headers = {**await console_headers(world.app, world.user("community_admin")), **HTML}
    resp = await client.post(
        "http://test/console/tasks",
        headers=headers,
        data={
            "title": "文明劝导",
            "org_id": str(world["C1"].id),
            "category": "persuasion",
            "starts_at": "2030-01-05T09:00",
            "ends_at": "2030-01-05T11:30",
            "lat": "34.26",
            "lng": "108.94",
            "radius_m": "",
            "capacity": "20",
        },
    )
    assert resp.status_code == 303, resp.text
    async with world.app.state.sessionmaker() as s:
        task = (await s.execute(select(Task))).scalar_one()
    assert task.starts_at == datetime(2030, 1, 5, 1, 0, tzinfo=UTC)  # 09:00 in Beijing
    assert task.radius_m == 200 and task.capacity == 20
    await make_check_in(world.app, task, world.user("member"), at=task.starts_at)
    page = await client.get(resp.headers["location"], headers=headers)
    assert page.status_code == 200 and "党员甲" in page.text and "已发布" in page.text


async def test_a_value_the_api_refuses_is_a_422_page_not_an_error(client, world):
    headers = {**await console_headers(world.app, world.user("community_admin")), **HTML}
    resp = await client.post(
        "http://test/console/roster",
        headers=headers,
        data={"name": "短号", "phone": "123", "community_id": str(world["C1"].id)},
    )
    assert resp.status_code == 422 and 'data-code="validation_error"' in resp.text
    resp = await client.post(
        "http://test/console/roster",
        headers={k: v for k, v in headers.items() if k != "Accept"},
        data={"name": "短号", "phone": "123", "community_id": str(world["C1"].id)},
    )
    assert resp.status_code == 422 and resp.json()["code"] == "validation_error"


async def test_a_street_office_makes_a_key_sees_it_once_and_revokes_it(client, world):
    headers = {**await console_headers(world.app, world.user("street_admin")), **HTML}
    resp = await client.post(
        "http://test/console/api-keys",
        headers=headers,
        data={"name": "大屏", "org_id": str(world["S1"].id), "scopes": ["read:tasks"]},
    )
    assert resp.status_code == 200 and "no-store" in resp.headers["cache-control"]
    key = resp.text.split("<code data-key>", 1)[1].split("<", 1)[0]
    assert (await client.get("/tasks", headers={"X-API-Key": key})).status_code == 200
    listing = await client.get("http://test/console/api-keys", headers=headers)
    assert key not in listing.text
    key_id = listing.text.split('data-key-id="', 1)[1].split('"', 1)[0]
    resp = await client.post(f"http://test/console/api-keys/{key_id}/revoke", headers=headers)
    assert resp.status_code == 303
    assert (await client.get("/tasks", headers={"X-API-Key": key})).status_code == 401
    async with world.app.state.sessionmaker() as s:
        actions = {a for (a,) in (await s.execute(select(AuditEntry.action))).all()}
    assert {"api_key.create", "api_key.revoke"} <= actions
