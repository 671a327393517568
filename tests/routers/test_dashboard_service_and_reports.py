"""The dashboard's figures for service orders, residents' reports and leaders' visits
that the volunteer and inspection issues list: orders overdue now (the list's own
`overdue` flag), reports rejected, visits made in liaison (包联), each a sortable column
of the ranking."""

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import update
from sqlmodel import col

from app.core.db import utcnow
from app.core.timeutil import local
from app.models.inspection import Inspection
from app.models.pairing import Liaison
from app.models.report import ReportStatus
from app.models.service_order import OrderStatus
from tests.factories.inspections import make_checklist
from tests.factories.problems import make_point
from tests.factories.reports import insert_report
from tests.factories.service_orders import insert_order
from tests.factories.teams import insert_team
from tests.factories.users import make_user
from tests.routers.test_inspections import post_visit

pytestmark = pytest.mark.usefixtures("counts_stay_exact")


async def figures(client, world, org: str) -> dict:
    resp = await client.get(
        "/dashboard", params={"org_id": world[org].id}, headers=world.headers("district_admin")
    )
    assert resp.status_code == 200, resp.text
    return resp.json()


async def ranking(client, world, sort: str, order: str = "desc") -> list[tuple[str, int, int]]:
    resp = await client.get(
        "/dashboard/children",
        params={"org_id": world["D"].id, "sort": sort, "order": order},
        headers=world.headers("district_admin"),
    )
    assert resp.status_code == 200, resp.text
    # The streets (units are ranked among units, after them).
    items = [i for i in resp.json()["items"] if i["org_level"] == "street"]
    return [(i["org_name"], i[sort], i["rank"]) for i in items]


async def test_overdue_orders_and_rejected_reports_are_counted_and_ranked(client, world):
    app, now = world.app, utcnow()
    orderer = world.user("member")
    taker = await make_user(app, "志愿者甲", community=world["C1"])
    team = await insert_team(app, org=world["C1"], leader=taker)
    taken = {"status": OrderStatus.taken, "team": team, "taker": taker}
    # C1: left unaccepted for ten days, and taken but past the time wanted: overdue.
    await insert_order(
        app, community=world["C1"], orderer=orderer, created_at=now - timedelta(days=10)
    )
    await insert_order(
        app, community=world["C1"], orderer=orderer, wanted_at=now - timedelta(hours=1), **taken
    )
    # In time: just submitted, wanted tomorrow, completed late (done is done).
    await insert_order(app, community=world["C1"], orderer=orderer)
    await insert_order(
        app, community=world["C1"], orderer=orderer, wanted_at=now + timedelta(days=1), **taken
    )
    await insert_order(
        app,
        community=world["C1"],
        orderer=orderer,
        status=OrderStatus.completed,
        team=team,
        taker=taker,
        wanted_at=now - timedelta(days=2),
    )
    await insert_order(
        app, community=world["C3"], orderer=orderer, created_at=now - timedelta(days=10)
    )
    for community, status in (
        (world["C1"], ReportStatus.accepted),
        (world["C1"], ReportStatus.rejected),
        (world["C1"], ReportStatus.submitted),
        (world["C3"], ReportStatus.rejected),
    ):
        await insert_report(app, community=community, reporter=orderer, status=status)

    district = await figures(client, world, "D")
    assert (district["service_orders_overdue"], district["reports_rejected"]) == (3, 2)
    assert (district["reports_received"], district["reports_accepted"]) == (4, 1)
    # The dashboard counts what the list flags.
    listed = await client.get(
        "/service-orders",
        params={"community_id": world["C1"].id, "page_size": 100},
        headers=world.headers("community_admin"),
    )
    assert listed.status_code == 200, listed.text
    flagged = sum(o["overdue"] for o in listed.json()["items"])
    assert flagged == (await figures(client, world, "C1"))["service_orders_overdue"] == 2

    assert await ranking(client, world, "service_orders_overdue") == [
        ("东关街道", 2, 1),
        ("西湖街道", 1, 2),
    ]
    # Equal values share the rank, listed by name.
    assert [r[1:] for r in await ranking(client, world, "reports_rejected", "asc")] == [
        (1, 1),
        (1, 1),
    ]


async def test_visits_made_in_liaison_are_counted_once_for_the_points_org(client, world):
    await make_checklist(world.app, world["D"], world.user("district_admin"))
    point = await make_point(world.app, world["C1"])
    since = (local(utcnow()).date() - timedelta(days=7)).isoformat()
    member = world.user("member")  # lives in C1, works at U1
    for party in ({"user_id": member.id}, {"unit_id": world["U1"].id}):
        resp = await client.post(
            "/liaisons",
            json={**party, "org_id": world["S1"].id, "starts_on": since},
            headers=world.headers("district_admin"),
        )
        assert resp.status_code == 201, resp.text
    # The member answers both liaisons: one visit. The inspector is in none.
    for who in ("member", "inspector"):
        visit = await post_visit(client, world, who=who, point=point)
        assert visit.status_code == 201, visit.text

    district = await figures(client, world, "D")
    assert (district["inspections"], district["liaison_visits"]) == (2, 1)
    assert (await figures(client, world, "C2"))["liaison_visits"] == 0
    assert await ranking(client, world, "liaison_visits") == [
        ("东关街道", 1, 1),
        ("西湖街道", 0, 2),
    ]


async def test_a_visit_counts_in_liaison_on_the_shanghai_day_the_liaison_runs(client, world):
    """The liaison's days are Shanghai days: a visit at 23:30 on its last day counts,
    one at 00:30 the next day does not; a unit's liaison counts its members' visits
    from its first day, not the hour before."""
    app = world.app
    await make_checklist(app, world["D"], world.user("district_admin"))
    point = await make_point(app, world["C1"])
    async with app.state.sessionmaker() as session:
        admin_id = world.user("district_admin").id
        session.add_all(
            [
                Liaison(
                    user_id=world.user("inspector").id,
                    org_id=world["S1"].id,
                    starts_on=date(2026, 11, 1),
                    ends_on=date(2026, 11, 10),
                    created_by_id=admin_id,
                ),
                Liaison(
                    unit_id=world["U1"].id,
                    org_id=world["C1"].id,
                    starts_on=date(2026, 11, 20),
                    created_by_id=admin_id,
                ),
            ]
        )
        await session.commit()
    visits = [  # who, when (UTC), made in liaison
        ("inspector", datetime(2026, 11, 10, 15, 30, tzinfo=UTC), True),  # 23:30 on the 10th
        ("inspector", datetime(2026, 11, 10, 16, 30, tzinfo=UTC), False),  # 00:30 on the 11th
        ("member", datetime(2026, 11, 19, 17, 0, tzinfo=UTC), True),  # 01:00 on the 20th
        ("member", datetime(2026, 11, 19, 15, 0, tzinfo=UTC), False),  # 23:00 on the 19th
    ]
    for who, at, _ in visits:
        visit = await post_visit(client, world, who=who, point=point)
        assert visit.status_code == 201, visit.text
        async with app.state.sessionmaker() as session:
            await session.execute(
                update(Inspection)
                .where(col(Inspection.id) == visit.json()["id"])
                .values(visited_at=at)
            )
            await session.commit()

    async def in_month(org: str) -> tuple[int, int]:
        resp = await client.get(
            "/dashboard",
            params={"org_id": world[org].id, "month": "2026-11"},
            headers=world.headers("district_admin"),
        )
        assert resp.status_code == 200, resp.text
        return resp.json()["inspections"], resp.json()["liaison_visits"]

    expected = sum(made for _, _, made in visits)
    assert await in_month("D") == await in_month("C1") == (4, expected)
    assert await in_month("C2") == (0, 0)
    ranked = await client.get(
        "/dashboard/children",
        params={"org_id": world["S1"].id, "month": "2026-11", "sort": "liaison_visits"},
        headers=world.headers("district_admin"),
    )
    assert ranked.status_code == 200, ranked.text
    assert {i["org_name"]: i["liaison_visits"] for i in ranked.json()["items"]} == {
        "东关社区": expected,
        "仓门社区": 0,
        "东关小学": 0,
    }
