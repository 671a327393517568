"""The weekly bulletin (周通报): numbers per child org, as JSON and as a ledger sheet."""

import io
from datetime import date

import pytest
from openpyxl import load_workbook
from sqlalchemy import update

from app.models.org import Org
from app.services.bulletins import weekly_bulletin
from tests.factories.problems import file_problem, rectify, shanghai, verify

WEEK = "2026-W45"  # Monday 2 November to Sunday 8 November 2026


@pytest.fixture
async def week45(db, world):
    """Problems around week 45, filed, rectified and verified at chosen moments."""
    inspector, secretary = world.user("inspector"), world.user("community_admin")
    neighbour, street = world.user("other_community_admin"), world.user("street_admin")
    c1, c2 = world["C1"], world["C2"]

    # C1, filed the week before and left alone: overdue at the week's end.
    await file_problem(db, inspector, c1, now=shanghai(2026, 10, 28, 9), deadline=date(2026, 11, 4))
    # C1, found, rectified and closed within the week.
    b = await file_problem(
        db, inspector, c1, now=shanghai(2026, 11, 3, 9), deadline=date(2026, 11, 20)
    )
    await rectify(db, secretary, b, now=shanghai(2026, 11, 5, 9))
    await verify(db, inspector, b, now=shanghai(2026, 11, 6, 9))
    # C1, long overdue, sent back once, rectified again and closed in the week.
    h = await file_problem(
        db, inspector, c1, now=shanghai(2026, 10, 20, 9), deadline=date(2026, 10, 25)
    )
    await rectify(db, secretary, h, now=shanghai(2026, 10, 30, 9))
    await verify(db, inspector, h, now=shanghai(2026, 11, 2, 9), approve=False, note="未清理干净")
    await rectify(db, secretary, h, now=shanghai(2026, 11, 4, 9))
    await verify(db, street, h, now=shanghai(2026, 11, 5, 9))
    # C1, overdue at the week's end though closed the week after.
    g = await file_problem(
        db, inspector, c1, now=shanghai(2026, 10, 20, 9), deadline=date(2026, 10, 25)
    )
    await rectify(db, secretary, g, now=shanghai(2026, 11, 9, 9))
    await verify(db, inspector, g, now=shanghai(2026, 11, 10, 9))
    # C2, found in the week, rectified twice in it (counted once), never verified.
    c = await file_problem(
        db, inspector, c2, now=shanghai(2026, 11, 4, 9), deadline=date(2026, 11, 6)
    )
    await rectify(db, neighbour, c, now=shanghai(2026, 11, 5, 9))
    await verify(db, inspector, c, now=shanghai(2026, 11, 6, 9), approve=False, note="仍有杂物")
    await rectify(db, neighbour, c, now=shanghai(2026, 11, 7, 9))
    # The street's own problem, found on Monday morning (Sunday night UTC).
    await file_problem(
        db, inspector, world["S1"], now=shanghai(2026, 11, 2, 0, 30), deadline=date(2026, 11, 30)
    )
    # Street S2: not S1's business.
    await file_problem(
        db,
        world.user("district_admin"),
        world["C3"],
        now=shanghai(2026, 11, 3, 9),
        deadline=date(2026, 11, 30),
    )
    # C1, found the week after; and one found at the very end of the week before.
    await file_problem(
        db, inspector, c1, now=shanghai(2026, 11, 10, 9), deadline=date(2026, 11, 30)
    )
    await file_problem(
        db, inspector, c1, now=shanghai(2026, 11, 1, 23, 59, 59), deadline=date(2026, 11, 30)
    )
    return world


def counts(row):
    return (row["found"], row["rectified"], row["closed"], row["overdue"])


async def test_the_street_bulletin_counts_each_child_from_the_data(client, week45):
    world = week45
    resp = await client.get(
        "/bulletins/weekly",
        params={"org_id": world["S1"].id, "week": WEEK},
        headers=world.headers("street_admin"),
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["week"] == WEEK
    assert (body["starts_on"], body["ends_on"]) == ("2026-11-02", "2026-11-08")
    rows = {r["org_id"]: r for r in body["rows"]}
    assert [r["org_id"] for r in body["rows"]] == [
        world["S1"].id,
        world["C1"].id,
        world["C2"].id,
        world["U1"].id,
    ]
    assert rows[world["S1"].id]["org_name"] == "东关街道（本级）"
    assert counts(rows[world["S1"].id]) == (1, 0, 0, 0)
    assert counts(rows[world["C1"].id]) == (1, 2, 2, 2)
    assert counts(rows[world["C2"].id]) == (1, 1, 0, 1)
    assert counts(rows[world["U1"].id]) == (0, 0, 0, 0)
    assert counts(body["totals"]) == (3, 3, 2, 3)


async def test_the_district_bulletin_has_a_row_per_street_and_unit(client, week45):
    world = week45
    resp = await client.get(
        "/bulletins/weekly",
        params={"org_id": world["D"].id, "week": WEEK},
        headers=world.headers("district_admin"),
    )
    body = resp.json()
    assert [r["org_id"] for r in body["rows"]] == [world["S1"].id, world["S2"].id, world["UD"].id]
    assert [counts(r) for r in body["rows"]] == [(3, 3, 2, 3), (1, 0, 0, 0), (0, 0, 0, 0)]
    assert counts(body["totals"]) == (4, 3, 2, 3)


async def test_the_ledger_sheet_reads_like_an_office_ledger(client, week45):
    world = week45
    resp = await client.get(
        "/bulletins/weekly.xlsx",
        params={"org_id": world["S1"].id, "week": WEEK},
        headers=world.headers("street_admin"),
    )
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    disposition = resp.headers["content-disposition"]
    assert disposition.startswith("attachment;") and 'filename="' in disposition
    assert ".xlsx" in disposition and "filename*=UTF-8''" in disposition

    ws = load_workbook(io.BytesIO(resp.content)).active
    assert ws["A1"].value == "东关街道问题督办周通报（2026年第45周）"
    assert ws["A2"].value == "统计时间：2026年11月2日（周一）至2026年11月8日（周日）"
    merged = {str(r) for r in ws.merged_cells.ranges}
    assert {"A1:E1", "A2:E2"} <= merged
    assert [c.value for c in ws[3]] == ["单位", "发现问题", "已整改", "已销号", "逾期未整改"]
    table = [[c.value for c in row] for row in ws.iter_rows(min_row=4)]
    assert table == [
        ["东关街道（本级）", 1, 0, 0, 0],
        ["东关社区", 1, 2, 2, 2],
        ["仓门社区", 1, 1, 0, 1],
        ["东关小学", 0, 0, 0, 0],
        ["合计", 3, 3, 2, 3],
    ]
    assert ws.freeze_panes == "A4"
    assert ws.column_dimensions["A"].width >= 20


async def test_overdue_of_the_current_week_is_as_of_now(db, world):
    await file_problem(
        db,
        world.user("inspector"),
        world["C1"],
        now=shanghai(2026, 11, 2, 9),
        deadline=date(2026, 11, 3),
    )

    async def overdue_at(now):
        async with db.state.sessionmaker() as session:
            bulletin = await weekly_bulletin(
                session, org=world["S1"], week=WEEK, liaison_quota=1, now=now
            )
        return bulletin.totals.overdue

    assert await overdue_at(shanghai(2026, 11, 3, 23, 59, 59)) == 0
    assert await overdue_at(shanghai(2026, 11, 4)) == 1


@pytest.mark.parametrize(
    ("who", "org", "status"),
    [
        ("member", "C1", 403),
        ("inspector", "S1", 403),
        ("other_community_admin", "S1", 404),
        ("other_street_admin", "S1", 404),
        ("community_admin", "S1", 404),
        ("community_admin", "C1", 200),
    ],
)
async def test_only_admins_over_the_org_get_its_bulletin(client, world, who, org, status):
    for path in ("/bulletins/weekly", "/bulletins/weekly.xlsx"):
        resp = await client.get(
            path, params={"org_id": world[org].id, "week": WEEK}, headers=world.headers(who)
        )
        assert resp.status_code == status, (path, resp.text)


@pytest.mark.parametrize(
    "week", ["2026-W60", "2025-W53", "2026-45", "0001-W01", "9999-W52", "2026-W47\n", "garbage"]
)
async def test_a_week_that_does_not_exist_or_is_out_of_range_is_422_not_500(client, world, week):
    for path in ("/bulletins/weekly", "/bulletins/weekly.xlsx"):
        resp = await client.get(
            path,
            params={"org_id": world["S1"].id, "week": week},
            headers=world.headers("street_admin"),
        )
        assert resp.status_code == 422, (path, resp.text)
        assert resp.json()["code"] == "validation_error"
        assert resp.json()["errors"][0]["loc"] == ["query", "week"]


async def test_without_a_week_the_current_one_is_given(client, world):
    resp = await client.get(
        "/bulletins/weekly",
        params={"org_id": world["C1"].id},
        headers=world.headers("community_admin"),
    )
    assert resp.status_code == 200
    starts_on = date.fromisoformat(resp.json()["starts_on"])
    assert starts_on.weekday() == 0
    assert resp.json()["week"] == f"{starts_on.isocalendar()[0]}-W{starts_on.isocalendar()[1]:02d}"


@pytest.mark.parametrize("bad", ["\x0b", "\x01", "\x1f"], ids=repr)
async def test_stored_control_characters_and_formulas_in_org_names_come_out_as_text(
    client, world, bad
):
    # Straight into the database, as names written before the input rule were.
    async with world.app.state.sessionmaker() as session, session.begin():
        await session.execute(
            update(Org).where(Org.id == world["S1"].id).values(name='=HYPERLINK("http://x","y")')
        )
        await session.execute(
            update(Org).where(Org.id == world["C1"].id).values(name=f"东关{bad}社区")
        )
    resp = await client.get(
        "/bulletins/weekly.xlsx",
        params={"org_id": world["S1"].id, "week": WEEK},
        headers=world.headers("street_admin"),
    )
    assert resp.status_code == 200, resp.text
    ws = load_workbook(io.BytesIO(resp.content)).active
    assert ws["A1"].data_type == "s" and ws["A1"].quotePrefix
    assert ws["A1"].value.startswith('=HYPERLINK("http://x","y")问题督办周通报')
    assert ws["A4"].data_type == "s" and ws["A4"].quotePrefix
    assert ws["A5"].value == "东关\ufffd社区"
