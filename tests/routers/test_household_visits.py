"""Household visits (入户调查): recording a household once a month, and the office's
coverage, awareness and satisfaction per child org."""

import io

from openpyxl import load_workbook

from app.models.org import OrgLevel
from tests.factories.orgs import make_org


def visit(community, label, aware=True, satisfaction=5):
    return {
        "community_id": community.id,
        "household_label": label,
        "aware": aware,
        "satisfaction": satisfaction,
    }


async def test_the_street_reads_coverage_awareness_and_satisfaction_per_community(client, world):
    inspector = world.headers("inspector")
    for body in (
        visit(world["C1"], "1栋101"),
        visit(world["C1"], "1栋102", aware=False, satisfaction=3),
        visit(world["C2"], "5栋301", satisfaction=4),
    ):
        resp = await client.post("/household-visits", json=body, headers=inspector)
        assert resp.status_code == 201, resp.text
    again = await client.post(
        "/household-visits", json=visit(world["C1"], "1栋101"), headers=inspector
    )
    assert (again.status_code, again.json()["code"]) == (409, "household_already_visited")
    await make_org(world.app, "新建社区", OrgLevel.community, world["S1"])
    resp = await client.get(
        "/stats/household-visits",
        params={"org_id": world["S1"].id},
        headers=world.headers("street_admin"),
    )
    assert resp.status_code == 200, resp.text
    stats = resp.json()
    total = stats["total"]
    assert (total["visits"], total["communities"], total["communities_visited"]) == (3, 3, 2)
    assert (total["coverage"], total["awareness_rate"], total["satisfaction_rate"]) == (
        0.6667,
        0.6667,
        0.6667,
    )
    c1 = next(c for c in stats["children"] if c["org_id"] == world["C1"].id)
    assert (c1["visits"], c1["awareness_rate"], c1["satisfaction_rate"]) == (2, 0.5, 0.5)
    assert c1["average_satisfaction"] == 4.0
    # The same figures on the dashboard, and per community on its ranking.
    ranking = await client.get(
        "/dashboard/children",
        params={"org_id": world["S1"].id, "sort": "household_satisfaction_rate"},
        headers=world.headers("street_admin"),
    )
    first = ranking.json()["items"][0]
    assert (first["org_id"], first["household_visits"]) == (world["C2"].id, 1)
    assert (first["household_satisfaction_rate"], first["household_coverage"]) == (1.0, 1.0)
    board = await client.get(
        "/dashboard", params={"org_id": world["S1"].id}, headers=world.headers("street_admin")
    )
    assert (board.json()["household_communities_visited"], board.json()["household_coverage"]) == (
        total["communities_visited"],
        total["coverage"],
    )
    # The office's ledger of the month.
    ledger = await client.get(
        "/exports/household-visits.xlsx",
        params={"org_id": world["S1"].id},
        headers=world.headers("street_admin"),
    )
    assert ledger.status_code == 200, ledger.text
    rows = list(
        load_workbook(io.BytesIO(ledger.content)).active.iter_rows(min_row=4, values_only=True)
    )
    assert [r[2:6] for r in rows] == [
        ("东关社区", "1栋101", "是", 5),
        ("东关社区", "1栋102", "否", 3),
        ("仓门社区", "5栋301", "是", 4),
    ]


async def test_a_visit_is_to_a_community_in_reach_with_a_sane_score(client, world):
    admin = world.headers("street_admin")
    street = await client.post("/household-visits", json=visit(world["S1"], "x"), headers=admin)
    assert (street.status_code, street.json()["code"]) == (422, "invalid_community")
    other = await client.post("/household-visits", json=visit(world["C3"], "x"), headers=admin)
    assert other.status_code == 404
    score = await client.post(
        "/household-visits", json=visit(world["C1"], "x", satisfaction=6), headers=admin
    )
    assert score.status_code == 422
