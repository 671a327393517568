"""The ledgers (台账): GET /exports/{dataset}.xlsx, read back with openpyxl and compared
with what the matching list endpoint shows an admin for the same org and period."""

import io
import os
import tempfile
import zipfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from openpyxl import load_workbook
from sqlalchemy import update

from app.core.db import utcnow
from app.core.timeutil import local, month_key
from app.models.org import Org
from app.models.problem import Point, Problem, ProblemStatus
from app.models.report_in import (
    ReportIn,
)
from app.models.user import User
from app.models.volunteer_hours import HourSource, HourStatus, VolunteerHour
from app.models.wish import Wish, WishStatus
from app.services.exports import TEMP_PREFIX
from tests.factories.problems import insert_problem, make_point
from tests.factories.tasks import make_report_in
from tests.factories.users import make_user
from tests.factories.volunteer_hours import insert_entry
from tests.factories.wishes import insert_wish
from tests.support.export_memory import count_data_rows, measure_members_export, seed_members

# Everything written here leaves the dashboards' kept sums exact (tests/support/counts.py).
pytestmark = pytest.mark.usefixtures("counts_stay_exact")

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Half past midnight on 1 November in Shanghai, still 31 October in UTC.
AT = datetime(2026, 10, 31, 16, 30, tzinfo=UTC)
AT_IN_SHANGHAI = datetime(2026, 11, 1, 0, 30)


async def export(client, world, dataset, who="street_admin", org="S1", **params):
    return await client.get(
        f"/exports/{dataset}.xlsx",
        params={"org_id": world[org].id, **params},
        headers=world.headers(who),
    )


def read(resp):
    assert resp.status_code == 200, resp.text[:300]
    assert resp.headers["content-type"] == XLSX
    return load_workbook(io.BytesIO(resp.content)).active


def body(ws):
    """The data rows under the header, up to the totals lines (序号 is a number)."""
    rows = []
    for row in ws.iter_rows(min_row=4, values_only=True):
        if not isinstance(row[0], int):
            break
        rows.append(row)
    assert [r[0] for r in rows] == list(range(1, len(rows) + 1))
    return rows


def text_of(resp) -> str:
    """Every part of the .xlsx as text: what anyone opening the file could find."""
    with zipfile.ZipFile(io.BytesIO(resp.content)) as archive:
        return "".join(archive.read(n).decode("utf-8", "replace") for n in archive.namelist())


def assert_ledger_layout(ws, title: str, headers: list[str], count: int, unit: str = "条"):
    assert ws["A1"].value == title
    last = ws.cell(row=3, column=len(headers)).column_letter
    assert f"A1:{last}1" in {str(r) for r in ws.merged_cells.ranges}
    assert ws["A2"].value.startswith("导出时间：")
    assert ws["A2"].value.endswith(f"共 {count} {unit}")
    assert [c.value for c in ws[3]] == headers
    assert ws.freeze_panes == "A4"
    assert ws.column_dimensions["A"].width == 7
    assert all(ws.column_dimensions[c.column_letter].width >= 7 for c in ws[3])


async def listed(client, world, path, who="street_admin", **params):
    items, page = [], 1
    while True:
        resp = await client.get(
            path, params={**params, "page": page, "page_size": 100}, headers=world.headers(who)
        )
        assert resp.status_code == 200, resp.text[:300]
        items += resp.json()["items"]
        if len(items) >= resp.json()["total"]:
            return items
        page += 1


# --- members -------------------------------------------------------------------------------


@pytest.fixture
async def roster(world):
    app = world.app
    await make_user(app, "张三", community=world["C1"], phone="13800138000", openid=None)
    await make_user(app, "李四", community=world["C2"], unit=world["U1"], phone="13900139000")
    # Lives in the next street but works at a unit of this one: on this street's roster.
    await make_user(app, "赵六", community=world["C3"], unit=world["U1"], phone="13700137000")
    await make_user(app, "王五", community=world["C3"], phone="13600136000")
    return world


async def test_the_street_roster_lists_whom_the_roster_list_shows(client, roster):
    world = roster
    resp = await export(client, world, "members")
    ws = read(resp)
    users = await listed(client, world, "/users")
    rows = body(ws)
    assert_ledger_layout(
        ws,
        f"东关街道 人员花名册（截至{_today_cn()}）",
        ["序号", "姓名", "手机号", "所属社区", "单位", "是否党员", "微信已绑定"],
        len(users),
        "人",
    )
    assert sorted(r[1] for r in rows) == sorted(u["name"] for u in users)
    assert sorted(r[2] for r in rows) == sorted(u["phone_masked"] for u in users)
    by_name = {r[1]: r for r in rows}
    assert by_name["张三"][2:] == ("138****8000", "东关社区", None, "否", "否")
    assert by_name["赵六"][2:] == ("137****7000", "西湖社区", "东关小学", "否", "是")
    assert by_name["党员甲"][5] == "是"
    assert "王五" not in by_name  # the next street's


async def test_the_roster_never_carries_a_whole_phone(client, roster):
    resp = await export(client, roster, "members")
    text = text_of(resp)
    for phone in ("13800138000", "13900139000", "13700137000"):
        assert phone not in text
    assert "138****8000" in text


async def test_a_community_roster_matches_the_community_admins_list(client, roster):
    world = roster
    ws = read(await export(client, world, "members", who="community_admin", org="C1"))
    users = await listed(client, world, "/users", who="community_admin")
    assert sorted(r[1] for r in body(ws)) == sorted(u["name"] for u in users)
    assert "李四" not in {r[1] for r in body(ws)}


def _today_cn() -> str:
    d = local(utcnow()).date()
    return f"{d.year}年{d.month}月{d.day}日"


# --- report-ins ----------------------------------------------------------------------------


async def _report_in(world, user, at: datetime, month: str):
    async with world.app.state.sessionmaker() as session, session.begin():
        session.add(
            ReportIn(user_id=user.id, community_id=user.community_id, month=month, reported_at=at)
        )


async def test_report_ins_of_a_month_match_the_list_in_shanghai_time(client, world):
    app = world.app
    lisi = await make_user(app, "李四", community=world["C2"])
    wangwu = await make_user(app, "王五", community=world["C3"])
    await _report_in(world, world.user("member"), AT, "2026-11")
    await _report_in(world, lisi, AT + timedelta(days=3), "2026-11")
    await _report_in(world, wangwu, AT, "2026-11")  # next street
    await _report_in(world, world.user("community_admin"), AT - timedelta(days=3), "2026-10")

    ws = read(await export(client, world, "report-ins", month="2026-11"))
    items = await listed(client, world, "/report-ins", month="2026-11", org_id=world["S1"].id)
    assert_ledger_layout(
        ws,
        "东关街道 2026年11月 党员报到台账",
        ["序号", "姓名", "社区", "月份", "报到时间"],
        2,
        "人",
    )
    rows = body(ws)
    assert [r[1] for r in rows] == [i["user_name"] for i in items] == ["党员甲", "李四"]
    assert rows[0][2:] == ("东关社区", "2026-11", AT_IN_SHANGHAI)
    assert rows[1][2] == "仓门社区"
    assert ws["E4"].number_format == "yyyy-mm-dd hh:mm"


async def test_report_ins_default_to_this_shanghai_month(client, world):
    await _report_in(world, world.user("member"), utcnow(), month_key(utcnow()))
    ws = read(await export(client, world, "report-ins", who="community_admin", org="C1"))
    assert [r[1] for r in body(ws)] == ["党员甲"]


# --- volunteer hours -----------------------------------------------------------------------


@pytest.fixture
async def hours(world):
    app, member = world.app, world.user("member")
    lisi = await make_user(app, "李四", community=world["C2"])
    wangwu = await make_user(app, "王五", community=world["C3"])
    await insert_entry(
        app,
        user=member,
        org=world["C1"],
        started_at=AT,
        minutes=90,
        status=HourStatus.approved,
        source=HourSource.check_in,
        source_id=1,
        activity="背街小巷清洁",
    )
    await insert_entry(
        app,
        user=lisi,
        org=world["C2"],
        started_at=AT + timedelta(days=2),
        minutes=60,
        activity="文明交通劝导",
    )
    await insert_entry(
        app,
        user=member,
        org=world["S1"],
        started_at=AT + timedelta(days=5),
        minutes=30,
        status=HourStatus.rejected,
        activity="重复登记",
    )
    await insert_entry(app, user=wangwu, org=world["C3"], started_at=AT, activity="西湖巡河")
    # Starts on 31 December 2025 at 23:30 in Shanghai: not 2026.
    await insert_entry(
        app,
        user=member,
        org=world["C1"],
        started_at=datetime(2025, 12, 31, 15, 30, tzinfo=UTC),
        activity="跨年值守",
    )
    return world


HOURS_HEADERS = ["序号", "姓名", "组织", "服务内容", "开始", "结束", "时长(分钟)", "来源", "状态"]


async def test_volunteer_hours_of_a_year_match_the_list_with_totals(client, hours):
    world = hours
    ws = read(await export(client, world, "volunteer-hours", year=2026))
    items = await listed(client, world, "/volunteer-hours", year=2026)
    assert_ledger_layout(ws, "东关街道 2026年 志愿服务时长台账", HOURS_HEADERS, 3)
    rows = body(ws)
    assert sorted(r[3] for r in rows) == sorted(i["activity"] for i in items)
    assert rows[0] == (
        1,
        "党员甲",
        "东关社区",
        "背街小巷清洁",
        AT_IN_SHANGHAI,
        AT_IN_SHANGHAI + timedelta(minutes=90),
        90,
        "任务签到",
        "已通过",
    )
    assert [r[8] for r in rows] == ["已通过", "待审核", "已驳回"]
    assert rows[2][2] == "东关街道"
    totals = list(ws.iter_rows(min_row=4 + len(rows), values_only=True))
    assert totals[0][0] == "合计" and totals[0][6] == 180
    assert totals[1][0] == "其中已通过" and totals[1][6] == 90
    assert "西湖巡河" not in text_of(await export(client, world, "volunteer-hours", year=2026))


async def test_volunteer_hours_filtered_by_status(client, hours):
    world = hours
    ws = read(await export(client, world, "volunteer-hours", year=2026, status="pending"))
    assert ws["A1"].value == "东关街道 2026年 志愿服务时长台账（待审核）"
    assert [r[3] for r in body(ws)] == ["文明交通劝导"]


async def test_an_unknown_status_or_a_filter_that_does_not_apply_is_422(client, hours):
    world = hours
    resp = await export(client, world, "volunteer-hours", status="closed")
    assert (resp.status_code, resp.json()["code"]) == (422, "invalid_status")
    resp = await export(client, world, "volunteer-hours", month="2026-11")
    assert (resp.status_code, resp.json()["code"]) == (422, "invalid_filter")
    resp = await export(client, world, "members", status="approved")
    assert (resp.status_code, resp.json()["code"]) == (422, "invalid_filter")
    resp = await export(client, world, "report-ins", month="2026-13")
    assert (resp.status_code, resp.json()["code"]) == (422, "validation_error")


# --- wishes --------------------------------------------------------------------------------


async def test_wishes_match_the_list_with_the_beneficiary_masked(client, world):
    app, admin = world.app, world.user("community_admin")
    posted = await client.post(
        "/wishes",
        json={
            "title": "给奶奶买一台收音机",
            "description": "独居老人想听戏",
            "community_id": world["C1"].id,
            "beneficiary_name": "欧阳娜娜",
            "beneficiary_phone": "13512345678",
        },
        headers=world.headers("community_admin"),
    )
    assert posted.status_code == 201
    claimed = await insert_wish(
        app,
        community=world["C1"],
        poster=admin,
        status=WishStatus.claimed,
        claimant=world.user("member"),
        title="给孩子买一个书包",
    )
    await insert_wish(app, community=world["C2"], poster=admin, title="修一把轮椅")
    await insert_wish(
        app, community=world["C3"], poster=world.user("other_street_admin"), title="西湖的心愿"
    )
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(update(Wish).where(Wish.id == claimed.id).values(claimed_at=AT))
        # Past its deadline and still unclaimed: overdue.
        await session.execute(
            update(Wish).where(Wish.id == posted.json()["id"]).values(deadline=date(2026, 1, 10))
        )

    resp = await export(client, world, "wishes")
    ws = read(resp)
    items = [
        w
        for c in ("C1", "C2")
        for w in await listed(client, world, "/wishes", community_id=world[c].id)
    ]
    assert_ledger_layout(
        ws,
        "东关街道 历年 微心愿台账",
        ["序号", "标题", "社区", "受助人", "状态", "认领人", "认领时间", "截止日期", "是否逾期"],
        3,
    )
    rows = body(ws)
    assert sorted(r[1] for r in rows) == sorted(w["title"] for w in items)
    by_title = {r[1]: r for r in rows}
    assert by_title["给奶奶买一台收音机"][2:] == (
        "东关社区",
        "欧阳**",
        "待认领",
        None,
        None,
        datetime(2026, 1, 10),
        "是",
    )
    assert by_title["给孩子买一个书包"][3:7] == ("王**", "已认领", "党员甲", AT_IN_SHANGHAI)
    overdue = {w["title"]: w["overdue"] for w in items}
    assert {t: r[8] == "是" for t, r in by_title.items()} == overdue
    text = text_of(resp)
    assert "西湖的心愿" not in text
    for secret in ("欧阳娜娜", "王小明", "13512345678", "135****5678"):
        assert secret not in text


async def test_wishes_filtered_by_year_and_status(client, world):
    admin = world.user("community_admin")
    await insert_wish(world.app, community=world["C1"], poster=admin, title="今年的心愿")
    await insert_wish(
        world.app,
        community=world["C1"],
        poster=admin,
        title="待审核的心愿",
        status=WishStatus.pending_review,
    )
    ws = read(await export(client, world, "wishes", status="open"))
    assert ws["A1"].value == "东关街道 历年 微心愿台账（待认领）"
    assert [r[1] for r in body(ws)] == ["今年的心愿"]
    this_year = local(utcnow()).year
    ws = read(await export(client, world, "wishes", year=this_year))
    assert ws["A1"].value == f"东关街道 {this_year}年 微心愿台账"
    assert len(body(ws)) == 2
    assert body(read(await export(client, world, "wishes", year=2000))) == []


# --- problems ------------------------------------------------------------------------------


async def test_problems_match_the_list_with_overdue_and_shanghai_times(client, world):
    app, inspector = world.app, world.user("inspector")
    point = await make_point(app, world["C1"], name="东关农贸市场")
    late = await insert_problem(
        app,
        org=world["C1"],
        reporter=inspector,
        deadline=date(2026, 1, 5),
        description="市场门口垃圾堆积",
    )
    await insert_problem(
        app,
        org=world["C2"],
        reporter=inspector,
        status=ProblemStatus.closed,
        description="楼道小广告",
    )
    await insert_problem(
        app, org=world["C3"], reporter=world.user("district_admin"), description="西湖边乱停车"
    )
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(
            update(Problem).where(Problem.id == late.id).values(point_id=point.id, created_at=AT)
        )

    resp = await export(client, world, "problems")
    ws = read(resp)
    items = await listed(client, world, "/problems", org_id=world["S1"].id)
    assert_ledger_layout(
        ws,
        "东关街道 历年 问题督办台账",
        [
            "序号",
            "点位",
            "责任单位",
            "类别",
            "描述",
            "状态",
            "发现时间",
            "整改期限",
            "是否逾期",
            "整改时间",
            "销号时间",
        ],
        2,
    )
    rows = body(ws)
    assert sorted(r[4] for r in rows) == sorted(p["description"] for p in items)
    by_text = {r[4]: r for r in rows}
    assert by_text["市场门口垃圾堆积"][1:] == (
        "东关农贸市场",
        "东关社区",
        "环境卫生",
        "市场门口垃圾堆积",
        "待整改",
        AT_IN_SHANGHAI,
        datetime(2026, 1, 5),
        "是",
        None,
        None,
    )
    closed = by_text["楼道小广告"]
    assert (closed[2], closed[5], closed[8]) == ("仓门社区", "已销号", "否")
    assert isinstance(closed[10], datetime)
    assert {p["description"]: p["overdue"] for p in items} == {
        t: r[8] == "是" for t, r in by_text.items()
    }
    assert "西湖边乱停车" not in text_of(resp)


# --- who may export ------------------------------------------------------------------------


async def test_a_member_gets_403(client, world):
    resp = await export(client, world, "members", who="member", org="C1")
    assert (resp.status_code, resp.json()["code"]) == (403, "forbidden")


async def test_an_org_outside_reach_is_404_like_a_missing_one(client, world):
    for org in ("S1", "C2", "C3"):
        resp = await export(client, world, "members", who="community_admin", org=org)
        assert resp.status_code == 404, org
    resp = await client.get(
        "/exports/members.xlsx",
        params={"org_id": 999_999},
        headers=world.headers("district_admin"),
    )
    assert resp.status_code == 404


async def test_anonymous_is_401(client, world):
    resp = await client.get("/exports/members.xlsx", params={"org_id": world["C1"].id})
    assert resp.status_code == 401


async def test_an_api_key_is_401_even_with_read_stats(client, world):
    created = await client.post(
        "/api-keys",
        json={"name": "大屏", "org_id": world["S1"].id, "scopes": ["read:stats", "read:wishes"]},
        headers=world.headers("street_admin"),
    )
    assert created.status_code == 201
    resp = await client.get(
        "/exports/wishes.xlsx",
        params={"org_id": world["S1"].id},
        headers={"X-API-Key": created.json()["key"]},
    )
    assert resp.status_code == 401


async def test_an_unknown_dataset_is_422_and_a_missing_org_is_422(client, world):
    resp = await client.get(
        "/exports/tasks.xlsx",
        params={"org_id": world["C1"].id},
        headers=world.headers("street_admin"),
    )
    assert (resp.status_code, resp.json()["code"]) == (422, "validation_error")
    resp = await client.get("/exports/members.xlsx", headers=world.headers("street_admin"))
    assert resp.status_code == 422


# --- the file ------------------------------------------------------------------------------


async def test_the_file_is_named_in_chinese_with_an_ascii_fallback(client, world):
    resp = await export(client, world, "report-ins", month="2026-11")
    disposition = resp.headers["content-disposition"]
    assert f'filename="report-ins-{world["S1"].id}-2026-11.xlsx"' in disposition
    assert f"filename*=UTF-8''{quote('东关街道-党员报到台账-2026-11.xlsx')}" in disposition


def _leftovers() -> set[Path]:
    # This process's files only: other test workers export at the same time.
    return set(Path(tempfile.gettempdir()).glob(f"{TEMP_PREFIX}{os.getpid()}-*"))


async def test_the_temporary_file_is_removed_after_sending(client, world):
    before = _leftovers()
    resp = await export(client, world, "members")
    assert resp.status_code == 200
    failed = await export(client, world, "members", status="open")
    assert failed.status_code == 422
    assert _leftovers() <= before


async def test_four_times_the_rows_take_no_more_memory_the_ledger_streams(client, world):
    """Streaming shows as a peak that does not grow with the rows: a workbook built in
    memory grows by ~3 MiB a thousand rows here. The 20,000- and 100,000-row runs are
    benchmarks (benchmarks/export_memory.py, docs/PERFORMANCE.md)."""
    headers, c1 = world.headers("community_admin"), world["C1"]
    people_of_c1 = 5  # the world's admins, member and inspector live in C1
    await seed_members(world.app, c1, 1_000)
    small, _ = await measure_members_export(client, headers, c1.id)
    await seed_members(world.app, c1, 3_000)
    large, content = await measure_members_export(client, headers, c1.id)
    assert (small.rows, large.rows) == (1_000 + people_of_c1, 4_000 + people_of_c1)
    assert count_data_rows(content) == large.rows
    assert large.peak_bytes - small.peak_bytes < 3 * 2**20, f"{small} / {large}"


# --- any stored text ------------------------------------------------------------------------

FORMULA_TITLE = '=HYPERLINK("http://x","y")'
FORMULA_ACTIVITY = "=cmd|' /C calc'!A0"


def cells(ws):
    return [c for row in ws.iter_rows() for c in row if c.value is not None]


async def test_formula_like_text_comes_out_of_the_ledgers_as_text(client, world):
    posted = await client.post(
        "/wishes",
        json={
            "title": FORMULA_TITLE,
            "description": "x",
            "community_id": world["C1"].id,
            "beneficiary_name": "王小明",
        },
        headers=world.headers("community_admin"),
    )
    assert posted.status_code == 201
    start = utcnow() - timedelta(hours=3)
    for activity in (FORMULA_ACTIVITY, "+1+1", "-1+1", "@SUM(1)", "#N/A"):
        logged = await client.post(
            "/volunteer-hours",
            json={
                "org_id": world["C1"].id,
                "activity": activity,
                "started_at": start.isoformat(),
                "ended_at": (start + timedelta(minutes=10)).isoformat(),
            },
            headers=world.headers("member"),
        )
        assert logged.status_code == 201, logged.text
        start -= timedelta(hours=1)

    wishes = await export(client, world, "wishes")
    hours = await export(client, world, "volunteer-hours", year=local(start).year)
    written = {c.value: c for resp in (wishes, hours) for c in cells(read(resp))}
    for text in (FORMULA_TITLE, FORMULA_ACTIVITY, "+1+1", "-1+1", "@SUM(1)", "#N/A"):
        # As stored, a string cell, and kept text when someone edits it in Excel.
        assert written[text].data_type == "s", text
        assert written[text].quotePrefix == (text[0] != "#"), text
    for resp in (wishes, hours):
        assert "<f>" not in text_of(resp)


@pytest.mark.parametrize("bad", ["\x0b", "\x01", "\x1f"], ids=repr)
async def test_control_characters_stored_before_the_rule_do_not_break_any_ledger(
    client, world, bad
):
    app, member = world.app, world.user("member")
    wish = await insert_wish(app, community=world["C1"], poster=world.user("community_admin"))
    entry = await insert_entry(app, user=member, org=world["C1"])
    point = await make_point(app, world["C1"])
    problem = await insert_problem(app, org=world["C1"], reporter=world.user("inspector"))
    await make_report_in(app, member)
    # Straight into the database, as rows written before the input rule were.
    async with app.state.sessionmaker() as session, session.begin():
        for stmt in (
            update(Org).where(Org.id == world["C1"].id).values(name=f"东关{bad}社区"),
            update(User).where(User.id == member.id).values(name=f"党员{bad}甲"),
            update(Wish).where(Wish.id == wish.id).values(title=f"书{bad}包"),
            update(VolunteerHour).where(VolunteerHour.id == entry.id).values(activity=f"清{bad}扫"),
            update(Point).where(Point.id == point.id).values(name=f"市{bad}场"),
            update(Problem)
            .where(Problem.id == problem.id)
            .values(description=f"垃{bad}圾", point_id=point.id),
        ):
            await session.execute(stmt)

    shown = set()
    for dataset in ("members", "report-ins", "volunteer-hours", "wishes", "problems"):
        resp = await export(client, world, dataset, who="district_admin", org="D")
        shown |= {c.value for c in cells(read(resp)) if isinstance(c.value, str)}
    assert {
        "东关\ufffd社区",
        "党员\ufffd甲",
        "书\ufffd包",
        "清\ufffd扫",
        "市\ufffd场",
        "垃\ufffd圾",
    } <= shown


# --- units: the members' report-in ledger and pairings (结对共建台账) ------------------------


async def test_a_units_report_in_ledger_lists_every_party_member_those_owing_first(client, world):
    far = await make_user(
        world.app, "外住党员", community=world["C3"], unit=world["U1"], party=True
    )
    await make_user(
        world.app, "群众", community=world["C3"], unit=world["U1"]
    )  # not a party member
    await make_report_in(world.app, world.user("member"))
    ws = read(await export(client, world, "report-ins", who="unit_admin", org="U1"))
    month = month_key(utcnow())
    year, mon = month.split("-")
    headers = ["序号", "姓名", "手机号", "所属社区", "报到社区", "报到时间"]
    assert_ledger_layout(ws, f"东关小学 {year}年{int(mon)}月 党员到社区报到台账", headers, 2, "人")
    rows = body(ws)
    assert [(r[1], r[3], r[4]) for r in rows] == [
        ("外住党员", "西湖社区", "未报到"),
        (world.user("member").name, "东关社区", "东关社区"),
    ]
    assert all("*" in r[2] for r in rows)
    # Only their unit's ledgers: a place's is as missing, and so is another org.
    for dataset in ("volunteer-hours", "wishes", "problems"):
        resp = await export(client, world, dataset, who="unit_admin", org="U1")
        assert resp.status_code == 404, dataset
    resp = await export(client, world, "report-ins", who="unit_admin", org="C1")
    assert resp.status_code == 404
    assert far.id


async def test_the_pairings_ledger_carries_commitments_and_the_years_figures(client, world):
    resp = await client.post(
        "/pairings",
        json={
            "unit_id": world["U1"].id,
            "community_id": world["C1"].id,
            "starts_on": "2026-01-15",
            "commitments": ["每月一次志愿服务", "认领微心愿"],
        },
        headers=world.headers("street_admin"),
    )
    assert resp.status_code == 201
    await make_report_in(world.app, world.user("member"))
    await insert_entry(
        world.app,
        user=world.user("member"),
        org=world["C1"],
        minutes=90,
        status=HourStatus.approved,
        started_at=utcnow() - timedelta(hours=3),
    )
    year = local(utcnow()).year
    for who, org in (("street_admin", "S1"), ("unit_admin", "U1")):
        ws = read(await export(client, world, "pairings", who=who, org=org))
        (row,) = body(ws)
        assert row[1:3] == ("东关小学", "东关社区")
        assert row[5] == "进行中"
        assert row[6] == "每月一次志愿服务；认领微心愿"
        assert row[7:] == (1, 1, 1.5, 0, 0)
        assert ws["A1"].value.endswith(f"{year}年 结对共建台账")
