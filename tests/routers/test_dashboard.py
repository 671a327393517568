"""Dashboards and rankings: GET /dashboard and GET /dashboard/children.

The scene below is counted by hand (see the comments); the dashboards must match
those counts AND what the detail endpoints list for the same org and month.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import get_args

import pytest
from sqlalchemy import event, update

from app.core.db import utcnow
from app.core.timeutil import local, month_bounds, month_key
from app.models.article import ArticleStatus
from app.models.dashboard import DashboardMetrics, DashboardSort
from app.models.org import OrgLevel
from app.models.problem import Problem, ProblemStatus
from app.models.report_in import (
    ReportIn,
)
from app.models.user import User
from app.models.volunteer_hours import HourStatus
from app.models.wish import Wish, WishStatus
from tests.factories.articles import info_officer, insert_article
from tests.factories.orgs import make_org
from tests.factories.problems import insert_problem, shanghai
from tests.factories.tasks import make_check_in, make_task
from tests.factories.users import make_user
from tests.factories.volunteer_hours import insert_entry
from tests.factories.wishes import insert_wish
from tests.factories.world import World

# Everything written here leaves the dashboards' kept sums exact (tests/support/counts.py).
pytestmark = pytest.mark.usefixtures("counts_stay_exact")

ADDITIVE = [
    "report_ins",
    "check_ins",
    "approved_volunteer_minutes",
    *(f"wishes_{s.value}" for s in WishStatus),
    "wishes_overdue",
    "problems_open",
    "problems_rectified",
    "problems_closed",
    "problems_overdue",
    "problems_escalated_street",
    "problems_escalated_district",
    "problems_found",
    "problems_found_closed",
    "articles_submitted",
    "articles_published",
]
ADMIN_OF = {
    "D": "district_admin",
    "S1": "street_admin",
    "S2": "other_street_admin",
    "C1": "community_admin",
    "C2": "other_community_admin",
}
COMMUNITIES_IN = {"D": ["C1", "C2", "C3"], "S1": ["C1", "C2"], "S2": ["C3"], "C1": ["C1"]}
COMMUNITIES_IN["C2"] = ["C2"]


async def report_in(world: World, user: User, at: datetime) -> None:
    async with world.app.state.sessionmaker() as session, session.begin():
        session.add(
            ReportIn(
                user_id=user.id,
                community_id=user.community_id,
                month=month_key(at),
                reported_at=at,
            )
        )


async def set_wish_deadline(world: World, wish: Wish, deadline: date) -> None:
    async with world.app.state.sessionmaker() as session, session.begin():
        await session.execute(update(Wish).where(Wish.id == wish.id).values(deadline=deadline))


async def set_problem_created(world: World, problem: Problem, at: datetime) -> None:
    async with world.app.state.sessionmaker() as session, session.begin():
        await session.execute(update(Problem).where(Problem.id == problem.id).values(created_at=at))


async def build_scene(world: World) -> str:
    """The hand-counted scene of this month; returns the month ("YYYY-MM").

    People (world: C1 has 5 party members, C2 and C3 one each) plus:
    群众丁 C1 not a party member; 乙 C2 + unit U1, party; 丙 C3 + unit U1, party;
    an unbound WeChat account and an info officer of S1 with no home (on no roster).
    """
    app = world.app
    month = month_key(utcnow())
    start, _ = month_bounds(month)
    before = start - timedelta(hours=1)  # last month

    def at(hours: int) -> datetime:
        return start + timedelta(hours=hours)

    ding = await make_user(app, "群众丁", community=world["C1"])
    yi = await make_user(app, "党员乙", community=world["C2"], unit=world["U1"], party=True)
    bing = await make_user(app, "党员丙", community=world["C3"], unit=world["U1"], party=True)
    await make_user(app, "未绑定", phone=None)
    world.people.update(ding=ding, yi=yi, bing=bing)
    member, c_admin = world.user("member"), world.user("community_admin")

    # Report-ins this month: C1 3 (2 party), C2 1 (乙), C3 1; street_admin last month.
    for person in (member, c_admin, ding, yi, world.user("other_street_admin")):
        await report_in(world, person, at(1))
    await report_in(world, world.user("street_admin"), before)

    # Check-ins this month: C1 2, C2 1, S1's own task 1, C3 1, UD 1; one at C1 last month.
    t1, t2, t3, t4, t5 = [await make_task(app, world[k]) for k in ("C1", "C2", "S1", "C3", "UD")]
    for task, person in ((t1, member), (t1, ding), (t2, yi), (t3, world.user("street_admin"))):
        await make_check_in(app, task, person, at=at(2))
    await make_check_in(app, t4, bing, at=at(2))
    await make_check_in(app, t5, yi, at=at(2))
    await make_check_in(app, t1, c_admin, at=before)

    # Approved minutes this month: C1 60, C2 30, U1 45, S1 itself 15, C3 20.
    for person, org, minutes, status in (
        (member, "C1", 60, HourStatus.approved),
        (member, "C1", 100, HourStatus.pending),
        (ding, "C1", 50, HourStatus.rejected),
        (yi, "C2", 30, HourStatus.approved),
        (bing, "U1", 45, HourStatus.approved),
        (world.user("street_admin"), "S1", 15, HourStatus.approved),
        (world.user("other_street_admin"), "C3", 20, HourStatus.approved),
    ):
        await insert_entry(
            app, user=person, org=world[org], minutes=minutes, status=status, started_at=at(3)
        )

    # Wishes now: C1 open (overdue), open, claimed by member, pending review;
    # C2 confirmed (乙), cancelled; C3 claimed by 丙 (overdue), rejected.
    today = local(utcnow()).date()
    yesterday, tomorrow = today - timedelta(days=1), today + timedelta(days=1)
    c1, c2, c3 = world["C1"], world["C2"], world["C3"]
    overdue = await insert_wish(app, community=c1, poster=c_admin)
    await set_wish_deadline(world, overdue, yesterday)
    await insert_wish(app, community=c1, poster=c_admin)
    held = await insert_wish(
        app, community=c1, poster=c_admin, status=WishStatus.claimed, claimant=member
    )
    await set_wish_deadline(world, held, tomorrow)
    await insert_wish(app, community=c1, poster=member, status=WishStatus.pending_review)
    await insert_wish(
        app, community=c2, poster=c_admin, status=WishStatus.confirmed, claimant=yi, admin=c_admin
    )
    await insert_wish(app, community=c2, poster=c_admin, status=WishStatus.cancelled)
    late = await insert_wish(
        app, community=c3, poster=c_admin, status=WishStatus.claimed, claimant=bing
    )
    await set_wish_deadline(world, late, yesterday)
    await insert_wish(app, community=c3, poster=c_admin, status=WishStatus.rejected)

    # Problems now: C1 open overdue (street), open long overdue (district), rectified,
    # closed, closed but found last month; C2 open; S1 itself open overdue; C3 closed.
    inspector = world.user("inspector")
    for org, status, deadline in (
        ("C1", ProblemStatus.open, today - timedelta(days=1)),
        ("C1", ProblemStatus.open, today - timedelta(days=10)),
        ("C1", ProblemStatus.rectified, today + timedelta(days=7)),
        ("C1", ProblemStatus.closed, None),
        ("C2", ProblemStatus.open, today + timedelta(days=3)),
        ("S1", ProblemStatus.open, today - timedelta(days=1)),
        ("C3", ProblemStatus.closed, None),
    ):
        await insert_problem(
            app, org=world[org], reporter=inspector, status=status, deadline=deadline
        )
    old = await insert_problem(app, org=c1, reporter=inspector, status=ProblemStatus.closed)
    await set_problem_created(world, old, before)

    # Articles this month: C1 submitted 2, published 1 (and a draft); C2 1/0; C3 1/1.
    author = await info_officer(world, org="S1")
    for org, status in (
        ("C1", ArticleStatus.published),
        ("C1", ArticleStatus.in_review),
        ("C1", ArticleStatus.draft),
        ("C2", ArticleStatus.in_review),
        ("C3", ArticleStatus.published),
    ):
        await insert_article(
            app,
            org=world[org],
            author=author,
            status=status,
            first_submitted_at=at(4),
            published_at=at(5),
        )
    return month


async def dashboard(client, world, org, month=None, who="district_admin", **params):
    params = {"org_id": world[org].id, **({"month": month} if month else {}), **params}
    resp = await client.get("/dashboard", params=params, headers=world.headers(who))
    assert resp.status_code == 200, resp.text
    return resp.json()


async def children(client, world, org, month=None, who="district_admin", **params):
    params = {"org_id": world[org].id, **({"month": month} if month else {}), **params}
    resp = await client.get("/dashboard/children", params=params, headers=world.headers(who))
    assert resp.status_code == 200, resp.text
    return resp.json()


# --- the hand counts -------------------------------------------------------------------


async def test_street_dashboard_matches_the_hand_counts(client, world):
    month = await build_scene(world)
    body = await dashboard(client, world, "S1", month)
    assert body["org_id"] == world["S1"].id and body["month"] == month
    expected = {
        # C1 6 + C2 2 + 丙 through U1; 乙 once although C2 and U1 are both inside.
        "members": 9,
        "party_members": 8,
        "party_members_reported": 3,
        "report_in_rate": 0.375,
        "report_ins": 4,
        "check_ins": 4,
        "approved_volunteer_minutes": 150,
        "wishes_pending_review": 1,
        "wishes_open": 2,
        "wishes_claimed": 1,
        "wishes_fulfilled": 0,
        "wishes_confirmed": 1,
        "wishes_rejected": 0,
        "wishes_cancelled": 1,
        "wishes_overdue": 1,
        "wish_quota_claimed": 3,
        "wish_quota_owing": 5,
        "problems_open": 4,
        "problems_rectified": 1,
        "problems_closed": 2,
        "problems_overdue": 3,
        "problems_escalated_street": 2,
        "problems_escalated_district": 1,
        "problems_found": 6,
        "problems_found_closed": 1,
        "rectification_rate": 0.1667,
        "articles_submitted": 3,
        "articles_published": 1,
    }
    assert {k: body[k] for k in expected} == expected


async def test_district_and_community_dashboards_match_the_hand_counts(client, world):
    month = await build_scene(world)
    d = await dashboard(client, world, "D", month)
    assert (d["members"], d["party_members"], d["party_members_reported"]) == (10, 9, 4)
    assert d["report_in_rate"] == 0.4444
    assert (d["report_ins"], d["check_ins"], d["approved_volunteer_minutes"]) == (5, 6, 170)
    assert (d["wishes_claimed"], d["wishes_rejected"], d["wishes_overdue"]) == (2, 1, 2)
    assert (d["problems_closed"], d["problems_found"], d["problems_found_closed"]) == (3, 7, 2)
    assert (d["articles_submitted"], d["articles_published"]) == (4, 2)

    c1 = await dashboard(client, world, "C1", month)
    assert (c1["members"], c1["party_members"], c1["report_in_rate"]) == (6, 5, 0.4)
    assert (c1["report_ins"], c1["check_ins"], c1["approved_volunteer_minutes"]) == (3, 2, 60)
    assert (c1["problems_found"], c1["problems_found_closed"], c1["rectification_rate"]) == (
        4,
        1,
        0.25,
    )
    assert (c1["wish_quota_claimed"], c1["wish_quota_owing"]) == (1, 4)


# --- agreement with the detail endpoints ------------------------------------------------


async def _total(client, world, who, path, **params):
    resp = await client.get(path, params={"page_size": 1, **params}, headers=world.headers(who))
    assert resp.status_code == 200, resp.text
    return resp.json()["total"]


async def _items(client, world, who, path, **params):
    resp = await client.get(path, params={"page_size": 100, **params}, headers=world.headers(who))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["total"] <= 100
    return body["items"]


def _in_month(stamp: str, month: str) -> bool:
    return month_key(datetime.fromisoformat(stamp)) == month


@pytest.mark.parametrize("org", ["D", "S1", "S2", "C1", "C2"])
async def test_every_number_equals_what_the_detail_endpoints_list(client, world, org):
    month = await build_scene(world)
    year, quarter = int(month[:4]), (int(month[5:]) - 1) // 3 + 1
    body = await dashboard(client, world, org, month)
    org_id = world[org].id
    boss = "district_admin"
    # The roster as the org's own admin sees it is exactly the org's subtree.
    admin = ADMIN_OF[org]
    assert body["members"] == await _total(client, world, admin, "/users")
    party = await _items(client, world, admin, "/users", is_party_member="true")
    assert body["party_members"] == len(party)

    report_ins = await _items(client, world, boss, "/report-ins", month=month, org_id=org_id)
    assert body["report_ins"] == len(report_ins)
    everywhere = await _items(client, world, boss, "/report-ins", month=month)
    reported = {r["user_id"] for r in everywhere} & {u["id"] for u in party}
    assert body["party_members_reported"] == len(reported)
    assert body["report_in_rate"] == round(len(reported) / len(party), 4)

    check_ins = 0
    for task in await _items(client, world, boss, "/tasks", org_id=org_id):
        listed = await _items(client, world, boss, f"/tasks/{task['id']}/check-ins")
        check_ins += sum(_in_month(c["checked_in_at"], month) for c in listed)
    assert body["check_ins"] == check_ins

    hours = await client.get(
        "/volunteer-hours/totals",
        params={"org_id": org_id, "year": year, "group_by": "org"},
        headers=world.headers(boss),
    )
    assert body["approved_volunteer_minutes"] == hours.json()["total_minutes"]

    wishes = []
    for community in COMMUNITIES_IN[org]:
        wishes += await _items(client, world, boss, "/wishes", community_id=world[community].id)
    for status in WishStatus:
        assert body[f"wishes_{status.value}"] == sum(w["status"] == status for w in wishes)
    assert body["wishes_overdue"] == sum(w["overdue"] for w in wishes)

    quota = await client.get(
        "/stats/wish-quota", params={"org_id": org_id, "year": year}, headers=world.headers(boss)
    )
    quota_body = quota.json()
    assert body["party_members"] == quota_body["party_members"]
    assert body["wish_quota_claimed"] == quota_body["claimed"]
    assert body["wish_quota_owing"] == quota_body["owing"]

    problems = await _items(client, world, boss, "/problems", org_id=org_id)
    for status in ProblemStatus:
        assert body[f"problems_{status.value}"] == await _total(
            client, world, boss, "/problems", org_id=org_id, status=status.value
        )
    assert body["problems_overdue"] == await _total(
        client, world, boss, "/problems", org_id=org_id, overdue="true"
    )
    for level in ("street", "district"):
        assert body[f"problems_escalated_{level}"] == await _total(
            client, world, boss, "/problems", org_id=org_id, escalated_to=level
        )
    found = [p for p in problems if _in_month(p["created_at"], month)]
    assert body["problems_found"] == len(found)
    assert body["problems_found_closed"] == sum(p["status"] == "closed" for p in found)

    stats = await client.get(
        "/stats/articles",
        params={"org_id": org_id, "year": year, "quarter": quarter},
        headers=world.headers(boss),
    )
    total = stats.json()["total"]
    assert (body["articles_submitted"], body["articles_published"]) == (
        total["submitted"],
        total["published"],
    )


# --- the ranking ------------------------------------------------------------------------


def _metrics(item: dict) -> dict:
    return {k: item[k] for k in DashboardMetrics.model_fields}


async def test_each_child_has_exactly_its_own_dashboard(client, world):
    month = await build_scene(world)
    for parent in ("D", "S1", "S2"):
        ranking = await children(client, world, parent, month)
        assert ranking["org_id"] == world[parent].id
        for item in ranking["items"]:
            own = await client.get(
                "/dashboard",
                params={"org_id": item["org_id"], "month": month},
                headers=world.headers("district_admin"),
            )
            assert _metrics(item) == _metrics(own.json()), item["org_name"]


async def test_children_sum_to_the_parent_for_records_held_below_it(client, world):
    month = await build_scene(world)
    district = await dashboard(client, world, "D", month)
    items = (await children(client, world, "D", month))["items"]
    assert {i["org_id"] for i in items} == {world[k].id for k in ("S1", "S2", "UD")}
    for metric in ADDITIVE:
        assert sum(i[metric] for i in items) == district[metric], metric
    # 丙 lives in C3 (S2) and works at U1 (S1): one person, counted in both streets.
    assert sum(i["members"] for i in items) == district["members"] + 1

    # S1 holds one task (1 check-in), 15 minutes and one overdue problem itself.
    street = await dashboard(client, world, "S1", month)
    below = (await children(client, world, "S1", month))["items"]
    assert street["check_ins"] - sum(i["check_ins"] for i in below) == 1
    assert (
        street["approved_volunteer_minutes"] - sum(i["approved_volunteer_minutes"] for i in below)
        == 15
    )
    assert street["problems_overdue"] - sum(i["problems_overdue"] for i in below) == 1
    assert street["report_ins"] == sum(i["report_ins"] for i in below)


async def test_ranking_ranks_units_among_units_sorts_ties_by_name_and_shares_the_rank(
    client, world
):
    month = await build_scene(world)
    # One more of U1's party members, on no community's roster, who did not report.
    await make_user(world.app, "党员戊", unit=world["U1"], party=True)
    # A second unit of S1 with one party member of two reported: U1's rate, a tie.
    u2 = await make_org(world.app, "仓门中学", OrgLevel.unit, world["S1"])
    reporter = await make_user(world.app, "党员己", community=world["C3"], unit=u2, party=True)
    await make_user(world.app, "党员庚", unit=u2, party=True)
    start, _ = month_bounds(month)
    await report_in(world, reporter, start + timedelta(hours=2))
    c1, c2, u1 = (world[k].id for k in ("C1", "C2", "U1"))
    # Report-in rates: C1 2/5, C2 1/2; U1 2/4 (the member and 乙 reported; 丙, 戊 not),
    # U2 1/2.
    ranking = await children(client, world, "S1", month)
    assert (ranking["sort"], ranking["order"]) == ("report_in_rate", "desc")
    # Units are ranked among units, after the communities, never among them; "东关小学"
    # sorts before "仓门中学" (东 U+4E1C < 仓 U+4ED3).
    order = [(i["org_id"], i["rank"], i["report_in_rate"]) for i in ranking["items"]]
    assert order == [(c2, 1, 0.5), (c1, 2, 0.4), (u1, 1, 0.5), (u2.id, 1, 0.5)]

    ascending = await children(client, world, "S1", month, order="asc")
    assert [(i["org_id"], i["rank"]) for i in ascending["items"]] == [
        (c1, 1),
        (c2, 2),
        (u1, 1),
        (u2.id, 1),
    ]

    by_minutes = await children(client, world, "S1", month, sort="approved_volunteer_minutes")
    assert [(i["org_id"], i["approved_volunteer_minutes"]) for i in by_minutes["items"]] == [
        (c1, 60),
        (c2, 30),
        (u1, 45),
        (u2.id, 0),
    ]


async def test_orgs_without_a_rate_rank_last_in_either_order(client, world):
    month = await build_scene(world)
    s1, s2, ud = (world[k].id for k in ("S1", "S2", "UD"))
    # Rates: S1 3/8, S2 1/2; UD has no party members at all (and is ranked among units).
    for order, expected in (("desc", [s2, s1]), ("asc", [s1, s2])):
        items = (await children(client, world, "D", month, order=order))["items"]
        assert [i["org_id"] for i in items] == [*expected, ud], order
        assert items[-1]["report_in_rate"] is None and items[-1]["rank"] == 1


async def test_a_community_has_no_children_to_rank(client, world):
    await build_scene(world)
    ranking = await children(client, world, "C1", who="community_admin")
    assert ranking["items"] == []


async def test_every_sort_key_is_a_numeric_metric(client, world):
    numeric = set(DashboardMetrics.model_fields)
    # And the composite score (tests/routers/test_scoring.py).
    assert {s.value for s in DashboardSort} == numeric | {"score"}
    resp = await client.get(
        "/dashboard/children",
        params={"org_id": world["D"].id, "sort": "org_name"},
        headers=world.headers("district_admin"),
    )
    assert resp.status_code == 422


async def test_the_number_of_queries_does_not_grow_with_the_children(client, world):
    await build_scene(world)
    engine = world.app.state.engine.sync_engine
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        counts = {}
        for org in ("S2", "S1", "D"):  # one child, three children, three children
            for _ in range(2):  # the first call of a key may warm caches; count the second
                statements.clear()
                await children(client, world, org)
            counts[org] = len(statements)
        for _ in range(2):
            statements.clear()
            await dashboard(client, world, "D")
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert counts["S2"] == counts["S1"] == counts["D"]
    # On PostgreSQL, statements compiled once run on the driver, past the hook.
    if world.app.state.engine.dialect.name == "sqlite":  # every statement passes the hook
        # A ranking reads the composite score's weights too (its children come with
        # the subtree).
        assert len(statements) == counts["D"] - 1
        # BEGIN, the caller, the org; then the subtree, every count and sum in one
        # statement, the leaders' visits in two, the surveys open in the month.
        assert len(statements) <= 8, statements


# --- months, emptiness ------------------------------------------------------------------


async def test_month_boundaries_are_shanghai_months(client, world):
    app = world.app
    member = world.user("member")
    task = await make_task(app, world["C1"])
    await make_check_in(app, task, member, at=shanghai(2026, 10, 31, 23, 30))
    late = await make_task(app, world["C1"])
    await make_check_in(app, late, world.user("community_admin"), at=shanghai(2026, 11, 1, 0, 0))
    await insert_entry(
        app,
        user=member,
        org=world["C1"],
        status=HourStatus.approved,
        started_at=shanghai(2026, 10, 31, 23, 59),
        minutes=30,
    )
    await insert_entry(
        app,
        user=member,
        org=world["C1"],
        status=HourStatus.approved,
        started_at=shanghai(2026, 11, 1, 0, 10),
        minutes=20,
    )
    author = await info_officer(world, org="S1")
    await insert_article(
        app,
        org=world["C1"],
        author=author,
        status=ArticleStatus.published,
        first_submitted_at=shanghai(2026, 10, 31, 22, 0),
        published_at=shanghai(2026, 11, 1, 0, 5),
    )
    await report_in(world, member, shanghai(2026, 10, 31, 23, 45))
    problem = await insert_problem(app, org=world["C1"], reporter=world.user("inspector"))
    await set_problem_created(world, problem, shanghai(2026, 11, 1, 0, 1))

    october = await dashboard(client, world, "C1", "2026-10")
    november = await dashboard(client, world, "C1", "2026-11")
    assert (october["check_ins"], november["check_ins"]) == (1, 1)
    assert (october["approved_volunteer_minutes"], november["approved_volunteer_minutes"]) == (
        30,
        20,
    )
    assert (october["articles_submitted"], october["articles_published"]) == (1, 0)
    assert (november["articles_submitted"], november["articles_published"]) == (0, 1)
    assert (october["report_ins"], october["party_members_reported"]) == (1, 1)
    assert (november["report_ins"], november["party_members_reported"]) == (0, 0)
    assert (october["problems_found"], november["problems_found"]) == (0, 1)


async def test_an_empty_org_gives_zeros_and_null_rates(client, world):
    empty = await make_org(world.app, "新建社区", OrgLevel.community, world["S2"])
    resp = await client.get(
        "/dashboard",
        params={"org_id": empty.id, "month": "2026-02"},
        headers=world.headers("other_street_admin"),
    )
    assert resp.status_code == 200
    body = resp.json()
    # Rates, medians and averages of nothing are null; every count is zero.
    nullable = {
        k for k, f in DashboardMetrics.model_fields.items() if type(None) in get_args(f.annotation)
    }
    assert {"report_in_rate", "rectification_rate", "volunteers_per_1000"} <= nullable
    # Except coverage: the community is one community to visit, and none was visited.
    assert body["household_coverage"] == 0.0
    assert all(body[k] is None for k in nullable - {"household_coverage"})
    assert all(body[k] == 0 for k in DashboardMetrics.model_fields if k not in nullable)


async def test_the_month_defaults_to_this_shanghai_month(client, world):
    body = await dashboard(client, world, "D")
    assert body["month"] == month_key(utcnow())


@pytest.mark.parametrize("month", ["2026-13", "2026-1", "202611", "0000-01", "2026-00"])
async def test_a_malformed_month_is_422(client, world, month):
    for path in ("/dashboard", "/dashboard/children"):
        resp = await client.get(
            path,
            params={"org_id": world["D"].id, "month": month},
            headers=world.headers("district_admin"),
        )
        assert resp.status_code == 422, (path, month)
        assert resp.json()["code"] == "validation_error"


# --- who may look -----------------------------------------------------------------------


async def test_a_member_is_403_and_an_org_outside_reach_404(client, world):
    for path in ("/dashboard", "/dashboard/children"):
        member = await client.get(
            path, params={"org_id": world["C1"].id}, headers=world.headers("member")
        )
        assert member.status_code == 403
        for who, org in (("other_community_admin", "C1"), ("community_admin", "S1")):
            outside = await client.get(
                path, params={"org_id": world[org].id}, headers=world.headers(who)
            )
            assert outside.status_code == 404, (path, who, org)
        missing = await client.get(
            path, params={"org_id": 2**31 - 1}, headers=world.headers("district_admin")
        )
        assert missing.status_code == 404


async def test_a_stats_key_reads_the_numbers_of_its_subtree_only(client, world):
    month = await build_scene(world)
    created = await client.post(
        "/api-keys",
        json={"name": "大屏", "org_id": world["S1"].id, "scopes": ["read:stats"]},
        headers=world.headers("street_admin"),
    )
    assert created.status_code == 201, created.text
    key = {"X-API-Key": created.json()["key"]}
    own = await client.get(
        "/dashboard", params={"org_id": world["S1"].id, "month": month}, headers=key
    )
    assert own.status_code == 200
    assert own.json() == await dashboard(client, world, "S1", month) | {
        "as_of": own.json()["as_of"]
    }
    ranking = await client.get(
        "/dashboard/children", params={"org_id": world["S1"].id, "month": month}, headers=key
    )
    assert ranking.status_code == 200
    assert len(ranking.json()["items"]) == 3
    for org in ("D", "S2", "C3"):
        outside = await client.get("/dashboard", params={"org_id": world[org].id}, headers=key)
        assert outside.status_code == 404, org

    other = await client.post(
        "/api-keys",
        json={"name": "热线", "org_id": world["S1"].id, "scopes": ["read:tasks"]},
        headers=world.headers("street_admin"),
    )
    unscoped = await client.get(
        "/dashboard",
        params={"org_id": world["S1"].id},
        headers={"X-API-Key": other.json()["key"]},
    )
    assert unscoped.status_code == 403
    assert unscoped.json()["code"] == "insufficient_scope"


def test_the_figures_statement_is_small_enough_to_stay_prepared_on_postgresql():
    """asyncpg keeps a prepared statement, and so PostgreSQL its generic plan, only
    for SQL up to `max_cacheable_statement_size`: past it, the figures were parsed and
    planned again on every call (9 ms for a community instead of 1.6)."""
    from sqlalchemy.dialects.postgresql.asyncpg import dialect

    from app.core.db import postgres_connect_args
    from app.services import dashboard as service
    from tests.conftest import make_settings

    settings = make_settings("postgresql://u@h/d", Path("/tmp"), "http://127.0.0.1:9/")
    limit = postgres_connect_args(settings)["max_cacheable_statement_size"]
    for grouped in (False, True):
        statement, *_ = service._statement(dialect(), grouped, service.FIGURE_PARTS)
        assert len(statement._compile(dialect()).sql) < limit / 2  # room for new figures
