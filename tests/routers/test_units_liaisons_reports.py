"""Issues 18 and 21, what finished them: a unit in liaison (包联) whose members' visits
count for it, visits made for a supervision team, a unit's report-ins by year, the
active pairings and the reports' time to accept on /dashboard, and the 随手拍 ledger."""

import io
import re
from datetime import timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import update

from app.core.db import utcnow
from app.core.timeutil import local, month_key
from app.models.report import Report
from tests.factories.inspections import make_checklist
from tests.factories.pairings import make_pairing
from tests.factories.problems import make_point
from tests.factories.tasks import make_report_in
from tests.routers.test_inspections import post_visit
from tests.routers.test_reports import due, post_report

pytestmark = pytest.mark.usefixtures("counts_stay_exact")


@pytest.fixture
async def point(world):
    await make_checklist(world.app, world["D"], world.user("district_admin"))
    return await make_point(world.app, world["C1"])


def _cells(sheet):
    return [c for row in sheet.iter_rows(values_only=True) for c in row if c]


def week_ago():
    return (local(utcnow()).date() - timedelta(days=7)).isoformat()


async def liaise(client, world, **party):
    return await client.post(
        "/liaisons",
        json={**party, "org_id": world["S1"].id, "starts_on": week_ago()},
        headers=world.headers("district_admin"),
    )


# --- a unit in liaison -----------------------------------------------------------------------


async def test_a_unit_in_liaison_has_its_members_visits_counted_for_it(client, world, point):
    refused = await post_visit(client, world, who="member", point=point)
    assert refused.status_code in (403, 404)  # the member's unit is in no liaison yet
    resp = await liaise(client, world, unit_id=world["U1"].id)
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert (body["kind"], body["unit_name"], body["user_id"]) == ("unit", "东关小学", None)

    # The member works at U1: they go for it.
    visit = await post_visit(client, world, who="member", point=point)
    assert visit.status_code == 201, visit.text
    stats = (
        await client.get(
            "/stats/inspections",
            params={"org_id": world["S1"].id},
            headers=world.headers("street_admin"),
        )
    ).json()
    (row,) = stats["liaison_visits"]
    assert (row["kind"], row["unit_id"], row["visits"]) == ("unit", world["U1"].id, 1)
    bulletin = await client.get(
        "/bulletins/weekly.xlsx",
        params={"org_id": world["S1"].id},
        headers=world.headers("street_admin"),
    )
    assert bulletin.status_code == 200, bulletin.text
    cells = [c for r in load_workbook(io.BytesIO(bulletin.content)).worksheets for c in _cells(r)]
    assert "东关小学（单位）" in cells

    listed = await client.get(
        "/liaisons", params={"kind": "unit"}, headers=world.headers("district_admin")
    )
    assert [x["unit_id"] for x in listed.json()["items"]] == [world["U1"].id]
    leaders = await client.get(
        "/liaisons", params={"kind": "leader"}, headers=world.headers("district_admin")
    )
    assert leaders.json()["total"] == 0


@pytest.mark.parametrize(
    ("party", "code"),
    [
        ({}, "invalid_liaison_party"),
        ({"user_id": 1, "unit_id": 1}, "invalid_liaison_party"),
        ({"unit_id": "C1"}, "invalid_unit"),  # a community is not a unit
        ({"unit_id": 999_999}, "invalid_unit"),
    ],
)
async def test_a_liaison_names_exactly_one_leader_or_unit(client, world, party, code):
    party = {k: world[v].id if isinstance(v, str) else v for k, v in party.items()}
    resp = await liaise(client, world, **party)
    assert resp.status_code == 422 and resp.json()["code"] == code, resp.text
    listed = await client.get("/liaisons", headers=world.headers("district_admin"))
    assert listed.json()["total"] == 0


# --- visits for a team ----------------------------------------------------------------------


async def test_a_visit_names_the_team_its_inspector_belongs_to(client, world, point):
    inspector = world.user("inspector")
    team = await client.post(
        "/inspection-teams",
        json={"name": "第一督导组", "org_id": world["S1"].id, "member_ids": [inspector.id]},
        headers=world.headers("street_admin"),
    )
    assert team.status_code == 201, team.text
    team_id = team.json()["id"]
    visit = await post_visit(client, world, point=point, team_id=team_id)
    assert visit.status_code == 201, visit.text
    assert (visit.json()["team_id"], visit.json()["team_name"]) == (team_id, "第一督导组")
    listed = await client.get(
        "/inspections", params={"team_id": team_id}, headers=world.headers("street_admin")
    )
    assert [v["id"] for v in listed.json()["items"]] == [visit.json()["id"]]

    record = await client.get(
        f"/inspections/{visit.json()['id']}.xlsx", headers=world.headers("street_admin")
    )
    sheet = load_workbook(io.BytesIO(record.content)).active
    assert "第一督导组" in [c.value for row in sheet.iter_rows() for c in row]
    ledger = await client.get(
        "/exports/inspections.xlsx",
        params={"org_id": world["S1"].id},
        headers=world.headers("street_admin"),
    )
    sheet = load_workbook(io.BytesIO(ledger.content)).active
    assert "第一督导组" in [c.value for row in sheet.iter_rows() for c in row]

    # Someone not in the team cannot visit for it; nothing is written.
    other = await post_visit(client, world, who="street_admin", point=point, team_id=team_id)
    assert other.status_code == 422 and other.json()["code"] == "invalid_team"
    missing = await post_visit(client, world, point=point, team_id=999_999)
    assert missing.status_code == 422 and missing.json()["code"] == "invalid_team"
    assert listed.json()["total"] == 1


# --- a unit's report-ins by year --------------------------------------------------------------


async def test_a_units_year_lists_each_month_and_who_missed_which(client, world):
    await make_report_in(world.app, world.user("member"))
    resp = await client.get(
        "/stats/report-ins/year",
        params={"org_id": world["U1"].id},
        headers=world.headers("unit_admin"),
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    now = local(utcnow())
    months = [m["month"] for m in body["months"]]
    assert months[-1] == month_key(utcnow()) and len(months) == now.month
    assert body["members"] == 1 and body["months"][-1] == {
        "month": month_key(utcnow()),
        "reported": 1,
        "rate": 1.0,
    }
    assert body["rate"] == round(1 / now.month, 4)
    if now.month > 1:
        (owing,) = body["not_reported"]
        assert owing["months_reported"] == 1 and "*" in owing["phone_masked"]
        assert len(owing["months_missed"]) == now.month - 1

    ledger = await client.get(
        "/exports/report-ins.xlsx",
        params={"org_id": world["U1"].id, "year": now.year},
        headers=world.headers("unit_admin"),
    )
    assert ledger.status_code == 200, ledger.text
    rows = list(load_workbook(io.BytesIO(ledger.content)).active.iter_rows(values_only=True))
    header = next(r for r in rows if r[0] == "序号")
    assert header[-1] == "报到月数" and f"{now.month}月" in header
    (line,) = [r for r in rows if r[1] == "党员甲"]
    assert line[-1] == 1 and line[header.index(f"{now.month}月")] == "✓"
    place = await client.get(
        "/exports/report-ins.xlsx",
        params={"org_id": world["C1"].id, "year": now.year},
        headers=world.headers("community_admin"),
    )
    assert place.status_code == 422 and place.json()["code"] == "invalid_filter"


# --- dashboard figures ----------------------------------------------------------------------


async def test_the_dashboard_counts_active_pairings_and_their_report_ins(client, world):
    await make_pairing(
        world.app, unit=world["U1"], community=world["C1"], by=world.user("street_admin")
    )
    await make_report_in(world.app, world.user("member"))
    for who, org in (("community_admin", "C1"), ("street_admin", "S1"), ("unit_admin", "U1")):
        body = (
            await client.get(
                "/dashboard", params={"org_id": world[org].id}, headers=world.headers(who)
            )
        ).json()
        assert (body["pairings_active"], body["pairing_report_ins"]) == (1, 1), (org, body)
    district = (
        await client.get(
            "/dashboard", params={"org_id": world["D"].id}, headers=world.headers("district_admin")
        )
    ).json()
    assert district["pairings_active"] == 1  # the unit and the community: counted once
    other = (
        await client.get(
            "/dashboard", params={"org_id": world["C2"].id}, headers=world.headers("street_admin")
        )
    ).json()
    assert other["pairings_active"] == 0


async def test_the_dashboard_tells_how_long_reports_waited_to_be_accepted(client, world):
    first = (await post_report(client, world)).json()
    second = (await post_report(client, world)).json()
    rejected = (await post_report(client, world)).json()
    for report, verb, body in (
        (first, "accept", {"org_id": world["C1"].id, "deadline": due()}),
        (second, "accept", {"org_id": world["C1"].id, "deadline": due()}),
        (rejected, "reject", {"reason": "不在本社区"}),
    ):
        resp = await client.post(
            f"/reports/{report['id']}/{verb}", json=body, headers=world.headers("community_admin")
        )
        assert resp.status_code == 200, resp.text
    # Reported 2 and 4 hours before they were accepted, 6 before the rejection.
    async with world.app.state.sessionmaker() as session, session.begin():
        for report, hours in ((first, 2), (second, 4), (rejected, 6)):
            row = await session.get(Report, report["id"])
            await session.execute(
                update(Report)
                .where(Report.id == report["id"])
                .values(created_at=row.handled_at - timedelta(hours=hours))
            )
    body = (
        await client.get(
            "/dashboard",
            params={"org_id": world["C1"].id},
            headers=world.headers("community_admin"),
        )
    ).json()
    assert body["report_hours_to_accept"] == 3.0
    assert body["report_hours_to_accept_avg"] == 3.0
    assert body["report_hours_to_handle"] == 4.0
    empty = (
        await client.get(
            "/dashboard", params={"org_id": world["C2"].id}, headers=world.headers("street_admin")
        )
    ).json()
    assert empty["report_hours_to_accept"] is None


async def test_the_weekly_figures_and_bulletin_tell_how_long_reports_waited_this_week(
    client, world
):
    reports = [(await post_report(client, world)).json() for _ in range(4)]
    for report, verb, body in (
        (reports[0], "accept", {"org_id": world["C1"].id, "deadline": due()}),
        (reports[1], "accept", {"org_id": world["C1"].id, "deadline": due()}),
        (reports[2], "accept", {"org_id": world["C1"].id, "deadline": due()}),
        (reports[3], "reject", {"reason": "不在本社区"}),
    ):
        resp = await client.post(
            f"/reports/{report['id']}/{verb}", json=body, headers=world.headers("community_admin")
        )
        assert resp.status_code == 200, resp.text
    # Waited 2 and 5 hours, accepted this week; the third accepted eight days ago
    # (another week); the rejection is no acceptance.
    async with world.app.state.sessionmaker() as session, session.begin():
        for report, hours, days_ago in (
            (reports[0], 2, 0),
            (reports[1], 5, 0),
            (reports[2], 1, 8),
            (reports[3], 9, 0),
        ):
            row = await session.get(Report, report["id"])
            handled = row.handled_at - timedelta(days=days_ago)
            await session.execute(
                update(Report)
                .where(Report.id == report["id"])
                .values(handled_at=handled, created_at=handled - timedelta(hours=hours))
            )
    street = {"org_id": world["S1"].id}
    headers = world.headers("street_admin")
    body = (await client.get("/stats/inspections", params=street, headers=headers)).json()
    rows = {r["org_id"]: r for r in body["rows"]}
    c1, c2 = rows[world["C1"].id], rows[world["C2"].id]
    assert (c1["reports_accepted"], c1["report_hours_to_accept"]) == (2, 3.5)
    assert (c2["reports_accepted"], c2["report_hours_to_accept"]) == (0, None)
    totals = body["totals"]
    assert (totals["reports_accepted"], totals["report_hours_to_accept"]) == (2, 3.5)
    bulletin = (await client.get("/bulletins/weekly", params=street, headers=headers)).json()
    assert bulletin["inspections"]["totals"] == totals
    sheet = await client.get("/bulletins/weekly.xlsx", params=street, headers=headers)
    inspected = load_workbook(io.BytesIO(sheet.content))["督导巡查"]
    lines = [[c.value for c in row] for row in inspected.iter_rows(min_row=2)]
    assert lines[0][-2:] == ["受理随手拍", "受理用时中位数（小时）"]
    assert lines[-1][0] == "合计" and lines[-1][-2:] == [2, 3.5]


# --- the 随手拍 ledger ------------------------------------------------------------------------


async def test_the_reports_ledger_lists_status_times_and_the_accepted_problem(client, world):
    accepted = (await post_report(client, world)).json()
    waiting = (await post_report(client, world, description="路灯坏了")).json()
    resp = await client.post(
        f"/reports/{accepted['id']}/accept",
        json={"org_id": world["C1"].id, "deadline": due()},
        headers=world.headers("community_admin"),
    )
    problem_id = resp.json()["problem_id"]
    ledger = await client.get(
        "/exports/reports.xlsx",
        params={"org_id": world["S1"].id},
        headers=world.headers("street_admin"),
    )
    assert ledger.status_code == 200, ledger.text
    rows = list(load_workbook(io.BytesIO(ledger.content)).active.iter_rows(values_only=True))
    header = next(r for r in rows if r[0] == "序号")
    assert header[1:6] == ("上报时间", "社区", "类别", "描述", "上报人手机")
    by_text = {r[4]: dict(zip(header, r, strict=True)) for r in rows if r[0] in (1, 2)}
    done, open_ = by_text["小区门口垃圾没人清"], by_text["路灯坏了"]
    assert (done["状态"], done["受理问题编号"], done["问题状态"]) == (
        "已受理",
        problem_id,
        "待整改",
    )
    assert done["处理用时（小时）"] is not None and done["处理人"] == "社区书记"
    assert (open_["状态"], open_["处理时间"], open_["受理问题编号"]) == ("待受理", None, None)
    # No whole phone anywhere: eleven digits in a row.
    assert not any(re.search(r"\d{11}", str(c)) for r in rows for c in r if c)
    assert "*" in done["上报人手机"]
    assert waiting["id"] != accepted["id"]

    only_waiting = await client.get(
        "/exports/reports.xlsx",
        params={"org_id": world["S1"].id, "status": "submitted"},
        headers=world.headers("street_admin"),
    )
    rows = list(load_workbook(io.BytesIO(only_waiting.content)).active.iter_rows(values_only=True))
    assert [r[4] for r in rows if r[0] == 1] == ["路灯坏了"]
    neighbour = await client.get(
        "/exports/reports.xlsx",
        params={"org_id": world["C1"].id},
        headers=world.headers("other_community_admin"),
    )
    assert neighbour.status_code == 404
