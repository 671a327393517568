"""Check-ins carry their task's org (check_ins.org_id), which dashboards count by.

The copy is kept equal to the task's org by a composite foreign key to
tasks (id, org_id) that cascades on update, so it cannot drift: a wrong one is
refused, and a task whose org is corrected takes its check-ins along. Orgs
themselves never move (PATCH /orgs refuses parent_id: tests/routers/test_orgs.py), so no
other copy of the tree lives on fact rows.
"""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from alembic.config import Config
from sqlalchemy import update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from alembic import command
from app.core.timeutil import month_key
from app.models.task import CheckIn, Task
from tests.conftest import POSTGRES_ADMIN_URL, ROOT, _admin, _postgres_available, run_migrations
from tests.factories.tasks import PLACE, make_check_in, make_task

# Everything written here leaves the dashboards' kept sums exact (tests/support/counts.py).
pytestmark = pytest.mark.usefixtures("counts_stay_exact")

BEFORE, AFTER = "b2d1f9e3a002", "c3e2a0f4b003"


async def stored_org(world, check_in_id: int) -> int:
    async with world.app.state.sessionmaker() as session:
        row = await session.get(CheckIn, check_in_id)
        assert row is not None
        return row.org_id


async def test_a_check_in_over_http_carries_the_org_of_its_task(client, world):
    task = await make_task(world.app, world["S1"])
    resp = await client.post(
        f"/tasks/{task.id}/check-ins",
        json={"lat": PLACE[0], "lng": PLACE[1]},
        headers=world.headers("member"),
    )
    assert resp.status_code == 201, resp.text
    assert await stored_org(world, resp.json()["id"]) == world["S1"].id


async def test_a_check_in_inserted_without_its_org_gets_the_task_s(world):
    task = await make_task(world.app, world["C2"])
    record = await make_check_in(world.app, task, world.user("member"))
    assert record.org_id == world["C2"].id
    assert await stored_org(world, record.id) == world["C2"].id


async def test_the_database_refuses_a_check_in_under_another_org(world):
    task = await make_task(world.app, world["C1"])
    with pytest.raises(IntegrityError):
        async with world.app.state.sessionmaker() as session, session.begin():
            session.add(
                CheckIn(
                    task_id=task.id,
                    org_id=world["C2"].id,
                    user_id=world.user("member").id,
                    checked_in_at=datetime.now(UTC),
                    check_in_lat=PLACE[0],
                    check_in_lng=PLACE[1],
                )
            )


async def test_check_ins_follow_their_task_when_its_org_is_corrected(client, world):
    task = await make_task(world.app, world["C1"])
    record = await make_check_in(world.app, task, world.user("member"), minutes_ago=5)
    month = month_key(record.checked_in_at)
    params = {"month": month}
    h = world.headers("district_admin")

    def check_ins(org):
        return client.get("/dashboard", params={**params, "org_id": world[org].id}, headers=h)

    assert [(await check_ins(k)).json()["check_ins"] for k in ("C1", "C2")] == [1, 0]
    async with world.app.state.sessionmaker() as session, session.begin():
        await session.execute(update(Task).where(Task.id == task.id).values(org_id=world["C2"].id))
    assert await stored_org(world, record.id) == world["C2"].id
    assert [(await check_ins(k)).json()["check_ins"] for k in ("C1", "C2")] == [0, 1]


# --- the migration ----------------------------------------------------------------------

SEED = [
    "INSERT INTO orgs (id, name, level, parent_id, path, created_at, updated_at) VALUES "
    "(1, '区', 'district', NULL, '/1/', {t}, {t}), (2, '街道', 'street', 1, '/1/2/', {t}, {t}),"
    " (3, '社区', 'community', 2, '/1/2/3/', {t}, {t})",
    "INSERT INTO users (id, name, community_id, is_party_member, created_at, updated_at)"
    " VALUES (7, '党员', 3, true, {t}, {t})",
    "INSERT INTO tasks (id, org_id, title, description, category, starts_at, ends_at,"
    " checked_in_count, created_at, updated_at) VALUES"
    " (11, 2, '街道任务', '', 'other', {t}, {t2}, 1, {t}, {t}),"
    " (12, 3, '社区任务', '', 'other', {t}, {t2}, 1, {t}, {t})",
    "INSERT INTO check_ins (id, task_id, user_id, checked_in_at, check_in_lat, check_in_lng,"
    " created_at) VALUES (41, 11, 7, {t}, 34.2, 108.9, {t}), (45, 12, 7, {t}, 34.2, 108.9, {t})",
]


def _seed_statements(dialect: str) -> list[str]:
    if dialect == "sqlite":
        t, t2 = "'2026-10-01 02:00:00.000000'", "'2026-10-01 04:00:00.000000'"
    else:
        t, t2 = "'2026-10-01 02:00:00+00'", "'2026-10-01 04:00:00+00'"
    return [s.format(t=t, t2=t2) for s in SEED]


def downgrade_to(url: str, revision: str) -> None:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.attributes["database_url"] = url
    cfg.attributes["configure_logger"] = False
    with ThreadPoolExecutor(1) as pool:
        pool.submit(command.downgrade, cfg, revision).result()


def _sqlite_rows(path: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(path) as db:
        return db.execute(sql).fetchall()


async def _pg(url: str, statements: list[str], query: str | None = None) -> list[tuple]:
    parsed = make_url(url)
    conn = await asyncpg.connect(
        host=parsed.host, port=parsed.port or 5432, user=parsed.username, database=parsed.database
    )
    try:
        for s in statements:
            await conn.execute(s)
        return [tuple(r) for r in await conn.fetch(query)] if query else []
    finally:
        await conn.close()


def _pg_rows(url: str, statements: list[str], query: str | None = None) -> list[tuple]:
    # Own loop: the test itself is synchronous (alembic's env.py runs its own loop).
    return asyncio.run(_pg(url, statements, query))


COLUMNS = {
    "sqlite": "SELECT name FROM pragma_table_info('check_ins')",
    "postgresql": "SELECT column_name FROM information_schema.columns WHERE table_name = 'check_ins'",
}
BACKFILLED = "SELECT id, task_id, org_id FROM check_ins ORDER BY id"


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_the_migration_backfills_existing_check_ins_and_keeps_their_ids(dialect, tmp_path):
    if dialect == "sqlite":
        path = tmp_path / "upgrade.db"
        url = f"sqlite:///{path}"
        run_migrations(url, BEFORE)
        with sqlite3.connect(path) as db:
            for s in _seed_statements(dialect):
                db.execute(s)
        run_migrations(url, AFTER)
        assert _sqlite_rows(path, BACKFILLED) == [(41, 11, 2), (45, 12, 3)]
        downgrade_to(url, BEFORE)
        assert "org_id" not in {r[0] for r in _sqlite_rows(path, COLUMNS[dialect])}
        assert _sqlite_rows(path, "SELECT id, task_id FROM check_ins ORDER BY id") == [
            (41, 11),
            (45, 12),
        ]
        return
    reason = _postgres_available()
    if reason:
        pytest.skip(reason)
    name = f"chuangwen_test_{uuid.uuid4().hex[:10]}"
    _admin(f'CREATE DATABASE "{name}"')
    url = make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        run_migrations(url, BEFORE)
        _pg_rows(url, _seed_statements(dialect))
        run_migrations(url, AFTER)
        assert _pg_rows(url, [], BACKFILLED) == [(41, 11, 2), (45, 12, 3)]
        downgrade_to(url, BEFORE)
        assert "org_id" not in {r[0] for r in _pg_rows(url, [], COLUMNS[dialect])}
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_the_index_serves_a_month_of_one_org(world):
    """On PostgreSQL the planner reads one org's month from the new index."""
    engine = world.app.state.engine
    if engine.dialect.name != "postgresql":
        pytest.skip("a PostgreSQL plan")
    now = datetime.now(UTC)
    async with world.app.state.sessionmaker() as session:
        conn = await session.connection()
        await conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        plan = await conn.exec_driver_sql(
            "EXPLAIN SELECT count(*) FROM check_ins"
            " WHERE org_id = $1 AND checked_in_at >= $2 AND checked_in_at < $3",
            (world["C1"].id, now - timedelta(days=30), now),
        )
        assert "ix_check_ins_org_checked_in" in " ".join(r[0] for r in plan)
