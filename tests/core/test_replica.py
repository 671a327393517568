"""Dashboards, rankings, statistics and exports read from a real streaming replica
(pg_basebackup of a throwaway primary) while it is close enough behind; a person's
own records come from the primary; too far behind, or not answering, the primary
serves and nothing fails."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from openpyxl import load_workbook

from app.main import create_app
from tests.conftest import make_settings
from tests.factories.users import make_user
from tests.factories.world import World, build_world

# Builds two clusters with PostgreSQL's binaries (~5 s, once a session): skipped with
# the reason where they are missing; `-m "not replica"` leaves it out.
pytestmark = pytest.mark.replica


@pytest.fixture(scope="module")
async def replicated(primary_and_replica, tmp_path_factory, wechat_stub) -> AsyncIterator[tuple]:
    clusters = primary_and_replica
    settings = make_settings(
        clusters.primary.url(),
        tmp_path_factory.mktemp("replica-app"),
        wechat_stub[1],
        database_replica_url=clusters.replica.url(),
        replica_max_lag_s=3600,
    )
    app = create_app(settings)
    world = await build_world(app)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield clusters, app, world, client
    await app.state.engine.dispose()
    await app.state.replica.dispose()


async def _replica_sql(clusters, sql: str):
    conn = await asyncpg.connect(clusters.replica.url())
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


async def _caught_up(clusters, position: str = "replay") -> None:
    """Until the replica has replayed (or, with replay paused, received) everything the
    primary has written so far."""
    primary = await asyncpg.connect(clusters.primary.url())
    try:
        # The insert position, not the write position: this primary commits
        # asynchronously, so a commit may still sit in its WAL buffers.
        target = await primary.fetchval("SELECT pg_current_wal_insert_lsn()::text")
    finally:
        await primary.close()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        done = await _replica_sql(
            clusters, f"SELECT pg_last_wal_{position}_lsn() >= '{target}'::pg_lsn"
        )
        if done:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the replica did not {position} the primary's WAL")


async def _members(client: httpx.AsyncClient, world: World) -> int:
    resp = await client.get(
        "/api/v1/dashboard",
        params={"org_id": world["D"].id},
        headers=world.headers("district_admin"),
    )
    assert resp.status_code == 200, resp.text
    return int(resp.json()["members"])


async def _replica_state(client: httpx.AsyncClient) -> dict:
    ready = await client.get("/readyz")
    assert ready.status_code == 200, ready.text
    return dict(ready.json()["replica"])


def _recheck(app) -> None:
    """The next request checks the replica again instead of waiting out the second."""
    app.state.replica._checked = -float("inf")


async def test_dashboards_read_the_replica_within_its_lag_and_the_primary_beyond_or_without_it(
    replicated,
):
    clusters, app, world, client = replicated
    await _caught_up(clusters)
    _recheck(app)
    before = await _members(client, world)
    assert (await _replica_state(client))["state"] == "in_use"

    # Replay held on the replica: a new member is on the primary only. The dashboard,
    # within REPLICA_MAX_LAG_S, shows the replica's figure, which proves where it read;
    # the admin's own read of the new person comes from the primary.
    await _replica_sql(clusters, "SELECT pg_wal_replay_pause()")
    try:
        newcomer = await make_user(app, "新党员", community=world["C1"], party=True)
        # Received but not replayed: only then does the standby report a lag (until its
        # WAL arrives, received = replayed reads as no lag at all, and it did arrive
        # late, the primary committing asynchronously: seen twice in a day of runs).
        await _caught_up(clusters, "receive")
        _recheck(app)
        assert await _members(client, world) == before
        # A ledger reads through a server-side cursor, in a transaction, on the replica.
        ledger = await client.get(
            "/api/v1/exports/members.xlsx",
            params={"org_id": world["C1"].id},
            headers=world.headers("district_admin"),
        )
        assert ledger.status_code == 200, ledger.text
        sheet = load_workbook(io.BytesIO(ledger.content), read_only=True).active
        names = {c for row in sheet.iter_rows(values_only=True) for c in row}
        assert "党员甲" in names and "新党员" not in names  # as the replica has it
        own = await client.get(
            f"/api/v1/users/{newcomer.id}", headers=world.headers("district_admin")
        )
        assert own.status_code == 200, own.text

        # Held longer than REPLICA_MAX_LAG_S: the primary serves, visibly.
        app.state.replica.max_lag_s = 0.001
        _recheck(app)
        assert await _members(client, world) == before + 1
        state = await _replica_state(client)
        assert state["state"] == "lagging" and state["lag_s"] > 0.001
        metrics = (await client.get("/metrics")).text
        assert "chuangwen_replica_in_use 0.0" in metrics
        assert "chuangwen_replica_lag_seconds" in metrics
    finally:
        app.state.replica.max_lag_s = 3600
        await _replica_sql(clusters, "SELECT pg_wal_replay_resume()")

    await _caught_up(clusters)
    _recheck(app)
    assert await _members(client, world) == before + 1
    assert (await _replica_state(client))["state"] == "in_use"
    assert "chuangwen_replica_in_use 1.0" in (await client.get("/metrics")).text

    # The replica stops answering (every process stopped, its sockets open): reads go
    # to the primary within the check's second, and no request fails.
    clusters.replica.freeze()
    try:
        started = time.monotonic()
        for _ in range(2):
            _recheck(app)
            assert await _members(client, world) == before + 1
        assert time.monotonic() - started < 10
        assert (await _replica_state(client))["state"] == "unavailable"
        stats = await client.get(
            "/api/v1/stats/report-ins",
            params={"org_id": world["D"].id},
            headers=world.headers("district_admin"),
        )
        assert stats.status_code == 200, stats.text
    finally:
        clusters.replica.thaw()

    # Back: the next check finds it well again.
    await _caught_up(clusters)
    _recheck(app)
    assert await _members(client, world) == before + 1
    assert (await _replica_state(client))["state"] == "in_use"
