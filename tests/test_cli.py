"""`python -m app.cli bootstrap` and `seed-demo`, run as an operator would."""

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from app.core.timeutil import month_key
from app.models.org import Org
from app.models.user import RoleGrant, User
from tests.conftest import ROOT
from tests.factories.users import auth
from tests.support.counts import assert_counts_are_exact


def cli(settings, *args):
    env = {**os.environ, "DATABASE_URL": settings.database_url, "APP_ENV": "test"}
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


async def count(app, model):
    async with app.state.sessionmaker() as s:
        return (await s.execute(select(func.count()).select_from(model))).scalar_one()


async def test_bootstrap_creates_a_district_and_its_admin_and_twice_changes_nothing(client, db):
    args = (
        "bootstrap",
        "--district-name",
        "新城区",
        "--admin-name",
        "管理员",
        "--admin-openid",
        "o-boot",
    )
    first = cli(db.state.settings, *args)
    second = cli(db.state.settings, *args)
    assert first == second
    assert set(first) == {"district_id", "user_id"}
    assert (await count(db, Org), await count(db, User), await count(db, RoleGrant)) == (1, 1, 1)

    # The bootstrapped admin logs in through WeChat and runs the district.
    token = (await client.post("/auth/wechat-login", json={"code": "o-boot#1"})).json()[
        "access_token"
    ]
    me = (await client.get("/me", headers={"Authorization": f"Bearer {token}"})).json()
    assert me["roles"] == [
        {"id": me["roles"][0]["id"], "role": "district_admin", "org_id": first["district_id"]}
    ]


async def test_seed_demo_fills_an_empty_database_once(db):
    result = cli(db.state.settings, "seed-demo")
    assert result["seeded"] is True
    orgs = await count(db, Org)
    assert orgs == result["orgs"]
    again = cli(db.state.settings, "seed-demo")
    assert again["seeded"] is False
    assert await count(db, Org) == orgs


async def test_the_demo_district_has_activity_its_dashboards_show(db, client):
    """seed-demo writes its tasks, check-ins, report-ins, hours, wishes and articles
    through the services: the dashboards show them, and every kept count is exact."""
    result = cli(db.state.settings, "seed-demo")
    assert result["seeded"] is True
    async with db.state.sessionmaker() as s:
        admin = (
            await s.execute(select(User).where(User.openid == "demo-district-admin"))
        ).scalar_one()
    headers = auth(db, admin)
    now = datetime.now(UTC)
    # The cleanup was two days ago: maybe last month.
    months = sorted({month_key(now), month_key(now - timedelta(days=2, hours=3))})
    boards = []
    for month in months:
        resp = await client.get(
            "/dashboard",
            params={"org_id": result["district_id"], "month": month},
            headers=headers,
        )
        assert resp.status_code == 200, resp.text
        boards.append(resp.json())
    this_month = boards[-1] if month_key(now) == months[-1] else boards[0]
    assert sum(b["check_ins"] for b in boards) == result["check_ins"] == 14
    # The cleanup's two hours each, and the rated service order's 40 minutes.
    assert sum(b["approved_volunteer_minutes"] for b in boards) == 8 * 120 + 40
    assert (this_month["volunteers"], this_month["teams"]) == (4, 1)
    assert (this_month["service_orders_submitted"], this_month["service_orders_rated"]) == (1, 1)
    assert this_month["report_ins"] == result["report_ins"] > 0
    assert this_month["members"] == result["people"]
    assert (
        this_month["wishes_open"],
        this_month["wishes_claimed"],
        this_month["wishes_pending_review"],
    ) == (2, 1, 1)
    # Three articles: one urgent in review, two published and placed (one verified).
    assert (
        this_month["articles_submitted"],
        this_month["articles_published"],
        this_month["placements_quarter"],
        this_month["placements_pending"],
    ) == (3, 2, 1, 1)
    tasks = await client.get("/tasks", headers=headers)
    # The three above and the pairing's joint task.
    assert tasks.json()["total"] == result["tasks"] == 4
    assert (result["pairings"], result["liaisons"]) == (3, 2)
    # 东关小学's secretary follows the school's members and its pairing.
    async with db.state.sessionmaker() as s:
        secretary = (
            await s.execute(select(User).where(User.openid == "demo-unit-admin"))
        ).scalar_one()
        school = secretary.unit_id
    mine = auth(db, secretary)
    figures = await client.get("/stats/report-ins", params={"org_id": school}, headers=mine)
    assert figures.status_code == 200
    assert figures.json()["members"] >= 3
    paired = await client.get("/pairings", headers=mine)
    assert [p["community_name"] for p in paired.json()["items"]] == ["东关社区"]
    await assert_counts_are_exact(db)
