"""`python -m app.cli bootstrap` and `seed-demo`, run as an operator would."""

import json
import os
import subprocess
import sys

from sqlalchemy import func, select

from app.models.org import Org
from app.models.user import RoleGrant, User
from tests.conftest import ROOT


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
