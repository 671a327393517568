"""The console's inspection screens (issue 21) without a browser: the calendar of
visits by date range, a point's history, and the residents' reports inbox with its
nearby duplicates, accepting into a problem and rejecting with a reason, through the
services the API uses (who reaches which screen is the authorization matrix's)."""

from __future__ import annotations

from datetime import datetime, timedelta
from io import BytesIO

from openpyxl import load_workbook
from sqlalchemy import select

from app.core.db import utcnow
from app.core.timeutil import local
from app.edge.access import caller_for_person
from app.models.audit import AuditEntry
from app.models.inspection import Inspection, InspectionCreate, ResultInput
from app.models.problem import Point, Problem
from app.models.report import Report, ReportStatus
from app.services import inspections
from tests.factories.console import console_headers
from tests.factories.inspections import MARKET_ITEMS, make_checklist, make_team
from tests.factories.media import make_media
from tests.factories.problems import make_point
from tests.factories.reports import insert_report
from tests.factories.world import World

HTML = {"Accept": "text/html"}


async def visit(
    world: World,
    point: Point,
    *,
    failed: int = 0,
    at: datetime | None = None,
    team_id: int | None = None,
) -> int:
    results = [
        ResultInput(item=item, passed=i >= failed, note="地面有积水" if i < failed else None)
        for i, item in enumerate(MARKET_ITEMS)
    ]
    photo = await make_media(world.app, world.user("inspector"))
    async with world.app.state.sessionmaker() as session, session.begin():
        caller = await caller_for_person(session, world.user("inspector"))
        recorded = await inspections.record_visit(
            session,
            caller=caller,
            data=InspectionCreate(
                point_id=point.id,
                lat=point.lat,
                lng=point.lng,
                results=results,
                photo_ids=[photo.id],
                team_id=team_id,
            ),
            now=at,
        )
        assert recorded.id is not None
        return recorded.id


async def test_the_calendar_shows_the_periods_visits_by_day_and_links_each_point(client, world):
    await make_checklist(world.app, world["D"], world.user("district_admin"))
    point = await make_point(world.app, world["C1"], name="东关农贸市场")
    today = await visit(world, point, failed=1)
    earlier_at = utcnow() - timedelta(days=10)
    earlier = await visit(world, point, at=earlier_at)
    headers = {**await console_headers(world.app, world.user("community_admin")), **HTML}

    page = (await client.get("http://test/console/inspections", headers=headers)).text
    assert f'data-visit="{today}"' in page and f'data-visit="{earlier}"' not in page
    assert f'data-day="{local(utcnow()).date()}"' in page and "1 项未通过" in page
    assert f"/console/points/{point.id}" in page

    day = local(earlier_at).date().isoformat()
    resp = await client.get(
        "http://test/console/inspections", params={"from": day, "to": day}, headers=headers
    )
    assert f'data-visit="{earlier}"' in resp.text and f'data-visit="{today}"' not in resp.text
    resp = await client.get(
        "http://test/console/inspections", params={"from": "2026-02-30"}, headers=headers
    )
    assert resp.status_code == 422 and 'data-code="validation_error"' in resp.text


async def test_a_points_history_shows_the_latest_visits_results_first(client, world):
    await make_checklist(world.app, world["D"], world.user("district_admin"))
    point = await make_point(world.app, world["C1"])
    older = await visit(world, point, at=utcnow() - timedelta(days=3))
    latest = await visit(world, point, failed=1)
    headers = {**await console_headers(world.app, world.user("street_admin")), **HTML}
    page = (await client.get(f"http://test/console/points/{point.id}", headers=headers)).text
    assert f'data-latest="{latest}"' in page and "未达标" in page and "地面有积水" in page
    assert page.index(f'data-visit="{latest}"') < page.index(f'data-visit="{older}"')
    async with world.app.state.sessionmaker() as s:
        assert len((await s.execute(select(Inspection))).all()) == 2


async def test_a_visit_for_a_team_names_it_on_the_calendar_the_history_and_the_sheet(client, world):
    await make_checklist(world.app, world["D"], world.user("district_admin"))
    point = await make_point(world.app, world["C1"])
    team = await make_team(
        world.app, world["S1"], [world.user("inspector")], creator=world.user("street_admin")
    )
    for_team = await visit(world, point, team_id=team.id)
    alone = await visit(world, point, at=utcnow() - timedelta(hours=1))
    headers = {**await console_headers(world.app, world.user("street_admin")), **HTML}
    for url in ("http://test/console/inspections", f"http://test/console/points/{point.id}"):
        page = (await client.get(url, headers=headers)).text
        row = page.split(f'data-visit="{for_team}"', 1)[1].split("</tr>", 1)[0]
        assert f'data-team="{team.id}">{team.name}<' in row, url
        assert f"/console/inspections/{for_team}.xlsx" in row
        row = page.split(f'data-visit="{alone}"', 1)[1].split("</tr>", 1)[0]
        assert 'data-team="">个人巡查<' in row, url
    sheet = await client.get(f"http://test/console/inspections/{for_team}.xlsx", headers=headers)
    assert sheet.status_code == 200
    cells = [
        c.value for row in load_workbook(BytesIO(sheet.content)).active.iter_rows() for c in row
    ]
    assert "督导组" in cells and team.name in cells


async def test_the_inbox_lists_a_reports_nearby_duplicates_beside_it(client, world):
    first = await insert_report(
        world.app, community=world["C1"], reporter=world.user("member"), description="楼下垃圾堆"
    )
    # Twenty metres north, a day later: the same heap, likely.
    second = await insert_report(
        world.app,
        community=world["C1"],
        reporter=world.user("member"),
        description="垃圾又堆起来了",
        lat=23.1291 + 20 / 111_320,
    )
    far = await insert_report(
        world.app,
        community=world["C1"],
        reporter=world.user("member"),
        description="远处的问题",
        lat=23.14,
    )
    headers = {**await console_headers(world.app, world.user("community_admin")), **HTML}
    home = (await client.get("http://test/console/", headers=headers)).text
    assert home.split('data-todo="reports"', 1)[1].split("data-count>", 1)[1].startswith("3<")
    page = (await client.get("http://test/console/reports", headers=headers)).text
    card = page.split(f'data-report="{first.id}"', 1)[1].split("</article>", 1)[0]
    assert f'data-near="report-{second.id}"' in card and f"report-{far.id}" not in card
    assert "20.0 米" in card
    far_card = page.split(f'data-report="{far.id}"', 1)[1].split("</article>", 1)[0]
    assert "data-near=" not in far_card


async def test_accepting_a_report_makes_its_problem_and_rejecting_needs_a_reason(client, world):
    accepted = await insert_report(world.app, community=world["C1"], reporter=world.user("member"))
    rejected = await insert_report(
        world.app, community=world["C1"], reporter=world.user("member"), lat=23.2
    )
    admin = world.user("community_admin")
    headers = {**await console_headers(world.app, admin), **HTML}
    deadline = (local(utcnow()).date() + timedelta(days=7)).isoformat()
    resp = await client.post(
        f"http://test/console/reports/{accepted.id}/accept",
        headers=headers,
        data={"org_id": str(world["C1"].id), "deadline": deadline},
    )
    assert resp.status_code == 303 and resp.headers["location"].endswith("?done=accepted")
    # Twice is the lifecycle's refusal, not a second problem.
    resp = await client.post(
        f"http://test/console/reports/{accepted.id}/accept",
        headers=headers,
        data={"org_id": str(world["C1"].id), "deadline": deadline},
    )
    assert resp.status_code == 409

    resp = await client.post(
        f"http://test/console/reports/{rejected.id}/reject", headers=headers, data={"reason": ""}
    )
    assert resp.status_code == 422
    resp = await client.post(
        f"http://test/console/reports/{rejected.id}/reject",
        headers=headers,
        data={"reason": "不属于市容问题"},
    )
    assert resp.status_code == 303

    async with world.app.state.sessionmaker() as s:
        done = await s.get(Report, accepted.id)
        assert done.status == ReportStatus.accepted
        problem = await s.get(Problem, done.problem_id)
        assert local(problem.deadline_at).date().isoformat() >= deadline
        no = await s.get(Report, rejected.id)
        assert no.status == ReportStatus.rejected and no.reject_reason == "不属于市容问题"
        actions = set(
            (
                await s.execute(select(AuditEntry.action).where(AuditEntry.actor_id == admin.id))
            ).scalars()
        )
    assert {"report.accept", "report.reject"} <= actions

    page = (
        await client.get(
            "http://test/console/reports", params={"status": "accepted"}, headers=headers
        )
    ).text
    assert f'data-report="{accepted.id}"' in page and f"问题 #{done.problem_id}" in page
