"""Inspection rounds: checklists per point kind, visits judged on them, the point's latest result."""

import asyncio
from datetime import timedelta
from io import BytesIO

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from app.core.db import utcnow
from app.core.timeutil import local
from app.models.inspection import Inspection, InspectionResult
from app.models.problem import Point, Problem
from tests.factories.inspections import MARKET_ITEMS, make_checklist
from tests.factories.media import make_media
from tests.factories.problems import make_point

pytestmark = pytest.mark.usefixtures("counts_stay_exact")

# make_point puts points here; 0.001° of latitude is about 111 m.
AT = {"lat": 23.1291, "lng": 113.2644}


async def visit_body(world, who="inspector", point=None, passed=(True, True, True), **overrides):
    photo = await make_media(world.app, world.user(who))
    body = {
        "point_id": point.id,
        **AT,
        "results": [
            {"item": item, "passed": ok} for item, ok in zip(MARKET_ITEMS, passed, strict=True)
        ],
        "photo_ids": [photo.id],
    }
    body.update(overrides)
    return body


async def post_visit(client, world, who="inspector", **kw):
    body = await visit_body(world, who, **kw)
    return await client.post("/inspections", json=body, headers=world.headers(who))


@pytest.fixture
async def point(world):
    await make_checklist(world.app, world["D"], world.user("district_admin"))
    return await make_point(world.app, world["C1"])


async def count(world, model):
    async with world.app.state.sessionmaker() as session:
        return (await session.execute(select(func.count()).select_from(model))).scalar_one()


# --- checklists ---------------------------------------------------------------------------


async def test_the_district_sets_a_checklist_and_each_change_is_a_new_version(client, world):
    admin = world.headers("district_admin")
    first = await client.put("/checklists/market", json={"items": ["地面干净"]}, headers=admin)
    assert first.status_code == 200, first.text
    assert first.json()["version"] == 1
    second = await client.put(
        "/checklists/market", json={"items": ["地面干净", "摊位整齐"]}, headers=admin
    )
    assert second.json()["version"] == 2
    read = await client.get("/checklists/market", headers=world.headers("inspector"))
    assert read.status_code == 200
    assert read.json()["items"] == ["地面干净", "摊位整齐"]


async def test_only_district_admins_set_checklists_and_an_unset_kind_is_404(client, world):
    refused = await client.put(
        "/checklists/market", json={"items": ["地面干净"]}, headers=world.headers("street_admin")
    )
    assert refused.status_code == 403
    missing = await client.get("/checklists/square", headers=world.headers("inspector"))
    assert missing.status_code == 404
    assert missing.json()["code"] == "checklist_not_found"
    duplicate = await client.put(
        "/checklists/market", json={"items": ["a", "a"]}, headers=world.headers("district_admin")
    )
    assert duplicate.json()["code"] == "duplicate_checklist_item"


# --- visits ----------------------------------------------------------------------------------


async def test_a_passing_visit_marks_the_point_as_meeting_the_standard(client, world, point):
    resp = await post_visit(client, world, point=point)
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["meets_standard"] is True and body["failed_count"] == 0
    assert body["checklist_version"] == 1 and body["problem_ids"] == []
    assert [r["item"] for r in body["results"]] == MARKET_ITEMS
    shown = await client.get(f"/points/{point.id}", headers=world.headers("street_admin"))
    assert shown.json()["meets_standard"] is True
    assert shown.json()["last_inspected_at"] is not None


async def test_a_failed_item_opens_a_problem_at_the_point_in_the_same_visit(client, world, point):
    due = (local(utcnow()).date() + timedelta(days=5)).isoformat()
    resp = await post_visit(
        client,
        world,
        point=point,
        passed=(True, False, True),
        problems=[
            {
                "item": MARKET_ITEMS[1],
                "category": "street_vending",
                "description": "摊位占道经营",
                "deadline": due,
            }
        ],
    )
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["meets_standard"] is False and body["failed_count"] == 1
    (problem_id,) = body["problem_ids"]
    assert body["results"][1]["problem_id"] == problem_id
    problem = await client.get(f"/problems/{problem_id}", headers=world.headers("inspector"))
    assert problem.json()["point_id"] == point.id
    assert problem.json()["org_id"] == world["C1"].id
    assert problem.json()["photo_ids"] == body["photo_ids"]
    point_now = await client.get(f"/points/{point.id}", headers=world.headers("inspector"))
    assert point_now.json()["meets_standard"] is False


async def test_a_visit_farther_than_the_points_radius_is_outside_geofence(client, world, point):
    resp = await post_visit(client, world, point=point, lat=AT["lat"] + 0.003)
    assert resp.status_code == 422
    assert resp.json()["code"] == "outside_geofence"
    assert await count(world, Inspection) == 0


@pytest.mark.parametrize(
    ("results", "code"),
    [
        ([*MARKET_ITEMS, "不在标准里的项"], "unknown_checklist_item"),
        (MARKET_ITEMS[:2], "incomplete_results"),
        ([*MARKET_ITEMS, MARKET_ITEMS[0]], "duplicate_checklist_item"),
    ],
)
async def test_results_must_judge_exactly_the_checklists_items(client, world, point, results, code):
    resp = await post_visit(
        client, world, point=point, results=[{"item": i, "passed": True} for i in results]
    )
    assert resp.status_code == 422
    assert resp.json()["code"] == code


async def test_a_problem_for_a_passed_item_or_a_bad_deadline_writes_nothing(client, world, point):
    passed_item = await post_visit(
        client,
        world,
        point=point,
        problems=[
            {
                "item": MARKET_ITEMS[0],
                "category": "sanitation",
                "description": "x",
                "deadline_working_days": 2,
            }
        ],
    )
    assert passed_item.json()["code"] == "invalid_problem_item"
    past = (local(utcnow()).date() - timedelta(days=1)).isoformat()
    bad_deadline = await post_visit(
        client,
        world,
        point=point,
        passed=(False, True, True),
        problems=[
            {
                "item": MARKET_ITEMS[0],
                "category": "sanitation",
                "description": "x",
                "deadline": past,
            }
        ],
    )
    assert bad_deadline.status_code == 422
    assert bad_deadline.json()["code"] == "invalid_deadline"
    assert await count(world, Inspection) == 0
    assert await count(world, InspectionResult) == 0
    assert await count(world, Problem) == 0


async def test_a_point_out_of_reach_or_a_kind_without_checklist_is_refused(client, world, point):
    other = await make_point(world.app, world["C3"])
    out_of_reach = await post_visit(client, world, point=other)
    assert out_of_reach.status_code == 422
    assert out_of_reach.json()["code"] == "invalid_point"
    square = await make_point(world.app, world["C1"], kind="square")
    no_list = await post_visit(client, world, point=square)
    assert no_list.json()["code"] == "checklist_not_found"
    member = await post_visit(client, world, "member", point=point)
    assert member.status_code == 403


async def test_a_visit_keeps_the_checklist_version_it_was_judged_on(client, world, point):
    first = await post_visit(client, world, point=point)
    await client.put(
        "/checklists/market", json={"items": ["只有一项"]}, headers=world.headers("district_admin")
    )
    again = await client.get(
        f"/inspections/{first.json()['id']}", headers=world.headers("inspector")
    )
    assert again.json()["checklist_version"] == 1
    assert [r["item"] for r in again.json()["results"]] == MARKET_ITEMS


async def test_visits_at_once_leave_the_latest_result_on_the_point(client, world, point):
    answers = await asyncio.gather(
        *(
            post_visit(client, world, point=point, passed=(ok, True, True))
            for ok in (True, False, True, False)
        )
    )
    assert all(a.status_code == 201 for a in answers), [a.text for a in answers]
    async with world.app.state.sessionmaker() as session:
        latest = (
            await session.execute(
                select(Inspection)
                .where(Inspection.point_id == point.id)
                .order_by(Inspection.visited_at.desc(), Inspection.id.desc())
                .limit(1)
            )
        ).scalar_one()
        kept = await session.get(Point, point.id)
    assert kept.last_inspection_id == latest.id
    assert kept.meets_standard == latest.meets_standard


async def test_lists_are_scoped_and_filtered_by_org_and_dates(client, world, point):
    await post_visit(client, world, point=point)
    today = local(utcnow()).date()
    mine = await client.get(
        "/inspections",
        params={"org_id": world["S1"].id, "from": today.isoformat(), "to": today.isoformat()},
        headers=world.headers("street_admin"),
    )
    assert mine.json()["total"] == 1
    before = await client.get(
        "/inspections",
        params={"to": (today - timedelta(days=1)).isoformat()},
        headers=world.headers("street_admin"),
    )
    assert before.json()["total"] == 0
    neighbour = await client.get("/inspections", headers=world.headers("other_street_admin"))
    assert neighbour.json()["total"] == 0
    hidden = await client.get(
        "/inspections",
        params={"org_id": world["S1"].id},
        headers=world.headers("other_street_admin"),
    )
    assert hidden.status_code == 404


# --- figures, ledgers and the visit's record -------------------------------------------------


async def test_weekly_figures_count_each_childs_visits_failures_and_problems(client, world, point):
    await post_visit(client, world, point=point)
    await post_visit(
        client,
        world,
        point=point,
        passed=(False, False, True),
        problems=[
            {
                "item": MARKET_ITEMS[0],
                "category": "sanitation",
                "description": "地面积水",
                "deadline_working_days": 2,
            }
        ],
    )
    other = await make_point(world.app, world["C2"], name="仓门市场")
    await post_visit(client, world, point=other)
    resp = await client.get(
        "/stats/inspections",
        params={"org_id": world["S1"].id},
        headers=world.headers("street_admin"),
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    rows = {r["org_id"]: r for r in body["rows"]}
    c1 = rows[world["C1"].id]
    assert (c1["points_inspected"], c1["visits"], c1["visits_meeting_standard"]) == (1, 2, 1)
    assert (c1["items_failed"], c1["problems_opened"], c1["pass_rate"]) == (2, 1, 0.5)
    assert rows[world["C2"].id]["visits"] == 1
    assert body["totals"]["visits"] == 3 and body["totals"]["points_inspected"] == 2
    assert body["liaison_visits"] == []  # no liaisons in this world
    bulletin = await client.get(
        "/bulletins/weekly",
        params={"org_id": world["S1"].id},
        headers=world.headers("street_admin"),
    )
    assert bulletin.json()["inspections"]["totals"] == body["totals"]
    sheet = await client.get(
        "/bulletins/weekly.xlsx",
        params={"org_id": world["S1"].id},
        headers=world.headers("street_admin"),
    )
    assert sheet.status_code == 200
    inspected = load_workbook(BytesIO(sheet.content))["督导巡查"]
    lines = [[c.value for c in row] for row in inspected.iter_rows(min_row=2)]
    assert lines[0][:6] == ["单位", "巡查点位", "巡查次数", "达标率", "未通过项", "当场提交问题"]
    assert lines[-1] == ["合计", 2, 3, "67%", 2, 1, 0, "—"]
    dashboard = await client.get(
        "/dashboard", params={"org_id": world["S1"].id}, headers=world.headers("street_admin")
    )
    figures = dashboard.json()
    assert (figures["inspections"], figures["points_inspected"]) == (3, 2)
    assert figures["points_meeting_standard"] == 1  # C1's market failed its latest visit


async def test_the_ledger_and_the_visits_record_are_spreadsheets(client, world, point):
    visit = (
        await post_visit(
            client,
            world,
            point=point,
            passed=(True, False, True),
            problems=[
                {
                    "item": MARKET_ITEMS[1],
                    "category": "street_vending",
                    "description": "摊位占道",
                    "deadline_working_days": 2,
                }
            ],
        )
    ).json()
    record = await client.get(
        f"/inspections/{visit['id']}.xlsx", headers=world.headers("inspector")
    )
    assert record.status_code == 200, record.text
    sheet = load_workbook(BytesIO(record.content)).active
    cells = [c for row in sheet.iter_rows(values_only=True) for c in row if c]
    assert "督导巡查纪实表" in cells and "东关农贸市场" in cells and "未通过" in cells
    assert any("摊位占道" in str(c) for c in cells)
    ledger = await client.get(
        "/exports/inspections.xlsx",
        params={"org_id": world["C1"].id, "month": local(utcnow()).strftime("%Y-%m")},
        headers=world.headers("community_admin"),
    )
    assert ledger.status_code == 200, ledger.text
    rows = list(load_workbook(BytesIO(ledger.content)).active.iter_rows(values_only=True))
    assert rows[2][:3] == ("序号", "巡查时间", "点位")
    assert rows[3][2] == "东关农贸市场" and rows[3][7] == "否"


async def test_a_visit_whose_photo_matches_an_earlier_visits_is_marked(client, world, point):
    # make_media's photos share one pHash: as if the same picture were uploaded again.
    first = (await post_visit(client, world, point=point)).json()
    second = (await post_visit(client, world, point=point)).json()
    assert first["possible_reuse"] == []
    assert second["possible_reuse"] == [
        {"record_type": "inspection", "record_id": first["id"], "distance": 0}
    ]


# --- supervision teams --------------------------------------------------------------------


async def test_a_street_forms_a_team_and_changes_its_members(client, world):
    admin = world.headers("street_admin")
    inspector, member = world.user("inspector"), world.user("member")
    resp = await client.post(
        "/inspection-teams",
        json={
            "name": "第一督导组",
            "org_id": world["S1"].id,
            "leader_user_id": inspector.id,
            "member_ids": [inspector.id],
        },
        headers=admin,
    )
    assert resp.status_code == 201, resp.text
    team = resp.json()
    assert [m["name"] for m in team["members"]] == ["督导员"]
    added = await client.post(
        f"/inspection-teams/{team['id']}/members", json={"user_id": member.id}, headers=admin
    )
    assert [m["user_id"] for m in added.json()["members"]] == [inspector.id, member.id]
    twice = await client.post(
        f"/inspection-teams/{team['id']}/members", json={"user_id": member.id}, headers=admin
    )
    assert twice.status_code == 409 and twice.json()["code"] == "already_member"
    # A member sees their own team; the neighbour street does not.
    mine = await client.get("/inspection-teams", headers=world.headers("member"))
    assert [t["id"] for t in mine.json()["items"]] == [team["id"]]
    hidden = await client.get(
        f"/inspection-teams/{team['id']}", headers=world.headers("other_street_admin")
    )
    assert hidden.status_code == 404
    removed = await client.delete(
        f"/inspection-teams/{team['id']}/members/{inspector.id}", headers=admin
    )
    assert removed.json()["leader_user_id"] is None
    assert [m["user_id"] for m in removed.json()["members"]] == [member.id]


async def test_a_team_takes_only_people_in_reach_and_a_leader_among_them(client, world):
    admin = world.headers("street_admin")
    body = {"name": "第二督导组", "org_id": world["S1"].id}
    outsider = await client.post(
        "/inspection-teams",
        json={**body, "member_ids": [world.user("other_street_admin").id]},
        headers=admin,
    )
    assert outsider.json()["code"] == "invalid_member"
    leader = await client.post(
        "/inspection-teams",
        json={
            **body,
            "member_ids": [world.user("member").id],
            "leader_user_id": world.user("inspector").id,
        },
        headers=admin,
    )
    assert leader.json()["code"] == "invalid_leader"
    community = await client.post(
        "/inspection-teams",
        json={**body, "org_id": world["C1"].id, "member_ids": [world.user("member").id]},
        headers=world.headers("community_admin"),
    )
    assert community.json()["code"] == "invalid_org"


async def test_two_admins_saving_a_checklist_at_once_keep_one_version_each_or_409(client, world):
    admin = world.headers("district_admin")
    answers = await asyncio.gather(
        *(
            client.put("/checklists/market", json={"items": [f"第{i}版的项"]}, headers=admin)
            for i in range(3)
        )
    )
    codes = sorted(a.status_code for a in answers)
    assert codes[0] == 200 and set(codes) <= {200, 409}, [a.text for a in answers]
    versions = sorted(a.json()["version"] for a in answers if a.status_code == 200)
    assert versions == list(range(1, len(versions) + 1))


async def test_a_leader_in_liaison_with_a_street_records_visits_and_the_week_counts_them(
    client, world, point
):
    leader = world.user("member")  # on the district's roster, no role of their own
    refused = await post_visit(client, world, who="member", point=point)
    assert refused.status_code in (403, 404), refused.text  # not yet a liaison
    liaison = await client.post(
        "/liaisons",
        json={
            "user_id": leader.id,
            "org_id": world["S1"].id,
            "starts_on": (local(utcnow()).date() - timedelta(days=7)).isoformat(),
        },
        headers=world.headers("district_admin"),
    )
    assert liaison.status_code == 201, liaison.text
    visit = await post_visit(client, world, who="member", point=point)
    assert visit.status_code == 201, visit.text
    body = (
        await client.get(
            "/stats/inspections",
            params={"org_id": world["S1"].id},
            headers=world.headers("street_admin"),
        )
    ).json()
    (row,) = body["liaison_visits"]
    assert (row["user_id"], row["org_id"], row["visits"]) == (leader.id, world["S1"].id, 1)
    assert row["behind"] is (row["quota"] > 1)
