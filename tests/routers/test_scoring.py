"""The composite score (综合评分): the district's weights, the monthly score table of
an office's children and its column on the dashboard's ranking, and the monthly
comments (月点评) of the offices above."""

import io

from openpyxl import load_workbook

from tests.factories.inspections import make_checklist
from tests.factories.problems import make_point
from tests.routers.test_dashboard_view import BROWSER_HTML, make_link, page_url
from tests.routers.test_household_visits import visit
from tests.routers.test_inspections import post_visit


async def test_the_district_ranks_its_streets_by_the_weighted_score(client, world):
    district = world.headers("district_admin")
    for body in (
        visit(world["C1"], "1栋101", satisfaction=5),
        visit(world["C1"], "1栋102", satisfaction=2),
        visit(world["C3"], "9栋901", aware=False, satisfaction=5),
    ):
        assert (
            await client.post("/household-visits", json=body, headers=district)
        ).status_code == 201
    for weights, code in (
        ({"report_in_rate": 1, "charm": 2}, "unknown_metric"),
        ({"report_in_rate": 0}, "weights_all_zero"),
        ({"report_in_rate": -1}, "invalid_weight"),
    ):
        resp = await client.put("/scoring", json={"weights": weights}, headers=district)
        assert (resp.status_code, resp.json()["code"]) == (422, code)
    resp = await client.put("/scoring", json={"weights": {"report_in_rate": 9}}, headers=district)
    first = resp.json()["version"]
    # Indicators: none anywhere, so their weight is spread over the present components.
    weights = {
        "household_awareness_rate": 3,
        "household_satisfaction_rate": 1,
        "indicator_completion_rate": 5,
    }
    resp = await client.put("/scoring", json={"weights": weights}, headers=district)
    assert resp.status_code == 200, resp.text
    current = await client.get(
        "/scoring", params={"org_id": world["C1"].id}, headers=world.headers("community_admin")
    )
    assert current.json()["weights"] == weights and current.json()["version"] > first

    resp = await client.get("/stats/scores", params={"org_id": world["D"].id}, headers=district)
    assert resp.status_code == 200, resp.text
    table = resp.json()
    rows = {r["org_id"]: r for r in table["items"]}
    s1, s2, ud = rows[world["S1"].id], rows[world["S2"].id], rows[world["UD"].id]
    # S1: aware 2/2, satisfied 1/2 -> (3*1 + 1*0.5) / 4; S2: (3*0 + 1*1) / 4.
    assert (s1["score"], s1["rank"], s2["score"], s2["rank"]) == (87.5, 1, 25.0, 2)
    assert s1["components"] == {
        "household_awareness_rate": 1.0,
        "household_satisfaction_rate": 0.5,
        "indicator_completion_rate": None,
    }
    # Nothing to score for the unit, and nothing last month: explicit nulls.
    assert (ud["score"], ud["rank"], s1["last_month_score"], s1["change"]) == (None,) * 4
    # A month before any weights were set is scored with the earliest version.
    old = await client.get(
        "/stats/scores", params={"org_id": world["D"].id, "month": "2020-01"}, headers=district
    )
    assert (old.json()["version"], old.json()["weights"]) == (first, {"report_in_rate": 9.0})

    ranking = await client.get(
        "/dashboard/children",
        params={"org_id": world["D"].id, "sort": "score", "order": "asc"},
        headers=district,
    )
    items = ranking.json()["items"]
    assert [(i["org_id"], i["score"]) for i in items[:2]] == [
        (world["S2"].id, 25.0),
        (world["S1"].id, 87.5),
    ]
    # The office's monthly ranking table, with the month's comment beside the street.
    review = {"org_id": world["S1"].id, "month": table["month"], "comment": "知晓率领先"}
    assert (await client.post("/reviews", json=review, headers=district)).status_code == 201
    ledger = await client.get(
        "/exports/scores.xlsx", params={"org_id": world["D"].id}, headers=district
    )
    assert ledger.status_code == 200, ledger.text
    sheet = load_workbook(io.BytesIO(ledger.content)).active
    rows = list(sheet.iter_rows(min_row=4, values_only=True))
    assert rows[0][1:] == (1, "东关街道", 100, 50, None, 87.5, None, "知晓率领先")
    assert rows[1][1:4] == (2, "西湖街道", 0)
    # The district's page has the score as a column of its children's table.
    link = await make_link(client, world, "district_admin", "D")
    html = (await client.get(page_url(link, sort="score"), headers=BROWSER_HTML)).text
    assert 'data-metric="score" data-value="87.5">87.5</td>' in html


async def test_only_an_office_above_comments_and_the_org_reads_its_comments(client, world):
    body = {"org_id": world["C1"].id, "month": "2026-11", "comment": "报到率领先，整改偏慢"}
    own = await client.post("/reviews", json=body, headers=world.headers("community_admin"))
    assert (own.status_code, own.json()["code"]) == (403, "not_above")
    street = {**world.headers("street_admin"), "Idempotency-Key": "review-c1-2026-11"}
    first = await client.post("/reviews", json=body, headers=street)
    again = await client.post("/reviews", json=body, headers=street)
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    assert first.json()["author_name"] == "街道管理员"

    mine = await client.get(
        "/reviews", params={"org_id": world["C1"].id}, headers=world.headers("community_admin")
    )
    assert [r["comment"] for r in mine.json()["items"]] == ["报到率领先，整改偏慢"]
    below = await client.get(
        "/reviews",
        params={"org_id": world["S1"].id, "subtree": True, "month": "2026-11"},
        headers=world.headers("district_admin"),
    )
    assert below.json()["total"] == 1
    neighbour = await client.get(
        "/reviews",
        params={"org_id": world["C1"].id},
        headers=world.headers("other_community_admin"),
    )
    assert neighbour.status_code == 404


async def test_the_pass_rate_of_points_counts_each_points_latest_visit_of_the_month(client, world):
    """点位达标率: of all the org's points, those whose latest visit this month met the
    standard; a point nobody visited this month counts as not met."""
    await make_checklist(world.app, world["D"], world.user("district_admin"))
    recovered, relapsed, _unvisited = [
        await make_point(world.app, world["C1"], name=name)
        for name in ("甲市场", "乙市场", "丙市场")
    ]
    kept = await make_point(world.app, world["C2"], name="丁市场")
    for point, results in (
        (recovered, (False, True, True)),
        (recovered, (True, True, True)),
        (relapsed, (True, True, True)),
        (relapsed, (True, False, True)),
        (kept, (True, True, True)),
    ):
        resp = await post_visit(client, world, point=point, passed=results)
        assert resp.status_code == 201, resp.text
    district, street = world.headers("district_admin"), world.headers("street_admin")
    weights = {"points_pass_rate": 1}
    assert (await client.put("/scoring", json={"weights": weights}, headers=district)).is_success

    board = (
        await client.get("/dashboard", params={"org_id": world["S1"].id}, headers=street)
    ).json()
    assert (board["points"], board["points_passed"], board["points_pass_rate"]) == (4, 2, 0.5)
    assert board["points_meeting_standard"] == 2  # now, whatever the month
    table = (
        await client.get("/stats/scores", params={"org_id": world["S1"].id}, headers=street)
    ).json()
    rows = {r["org_id"]: r for r in table["items"]}
    c1, c2 = rows[world["C1"].id], rows[world["C2"].id]
    assert (c2["components"], c2["score"], c2["rank"]) == ({"points_pass_rate": 1.0}, 100.0, 1)
    assert (c1["components"], c1["score"], c1["rank"]) == ({"points_pass_rate": 0.3333}, 33.33, 2)
    # The points were set up this month: last month had none, so no score (null, not 0).
    assert c1["last_month_score"] is None
    ledger = await client.get(
        "/exports/scores.xlsx", params={"org_id": world["S1"].id}, headers=street
    )
    sheet = load_workbook(io.BytesIO(ledger.content)).active
    lines = list(sheet.iter_rows(min_row=3, values_only=True))
    assert "点位达标率（%）" in lines[0]
    assert lines[1][1:5] == (1, "仓门社区", 100, 100)
    assert lines[2][1:5] == (2, "东关社区", 33.33, 33.33)
