"""No lost writes, in small: 20 phones against a real uvicorn server, with retries,
dropped connections, cut-off requests and one kill -9 mid-run, then an audit of the
database. The full run (200 phones) is `python -m tests.support.no_lost_writes`;
docs/RELIABILITY.md has its figures.

Both databases: SQLite in WAL mode keeps every committed transaction through a
killed process (only a power cut can cost the last ones at synchronous=NORMAL),
so the kill is as meaningful there as on PostgreSQL.
"""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import httpx
import pytest

from app.core.db import create_engine, create_sessionmaker
from app.main import create_app
from tests.conftest import POSTGRES_ADMIN_URL, _postgres_available
from tests.support.no_lost_writes import (
    RunConfig,
    audit,
    environment,
    run_and_audit,
    snapshot,
)


@pytest.mark.parametrize("database", ["sqlite", "postgresql", "pgbouncer"])
async def test_twenty_phones_through_drops_retries_and_a_kill_lose_and_duplicate_nothing(
    database, request
):
    """`pgbouncer`: the server's connections go through a real PgBouncer in transaction
    mode (DATABASE_POOLER=pgbouncer), the session's."""
    if database != "sqlite" and (reason := _postgres_available()):
        pytest.skip(reason)
    port = request.getfixturevalue("pgbouncer").port if database == "pgbouncer" else None
    cfg = RunConfig(
        phones=20, database=database, postgres_admin_url=POSTGRES_ADMIN_URL, pooler_port=port
    )
    async with environment(cfg) as env:
        load, report = await run_and_audit(env)
        stats = report.stats

        # The faults happened...
        assert stats.kills == 1
        assert stats.dropped > 0 and stats.truncated > 0 and stats.replays > 0
        assert stats.transport_errors > 0  # phones met the dead server and retried
        assert stats.acknowledged > 100 and report.audited == len(load.writes)
        # ...and nothing was lost, duplicated or half-written.
        assert report.violations == [], str(report)
        assert stats.unresolved == 0

        # The audit is not blind: tamper with what it reads and it says so.
        snap = await snapshot(env.engine, env.settings)
        report_in = next(w for w in load.writes if w.kind == "report_in" and w.acked)
        photo = next(w for w in load.writes if w.kind == "upload" and w.acked)
        credit = next(h for h in snap.hours if h.source == "check_in")
        original = next(m for m in snap.media if m.id in photo.ids)
        # The same upload stored twice, as a second row with an id of its own.
        twin = SimpleNamespace(**{**vars(original), "id": 10**9})
        tampered = dataclasses.replace(
            snap,
            report_ins=[r for r in snap.report_ins if r.id not in report_in.ids],
            media=[*snap.media, twin],
            hours=[h for h in snap.hours if h is not credit],
        )
        caught = audit(
            load.writes,
            tampered,
            storage_dir=env.storage_dir,
            seeded_check_ins=env.seed.seeded_check_ins,
        )
        assert any(report_in.key in line for line in caught.lost)
        assert any(photo.key in line for line in caught.duplicated)
        assert any(
            f"check-in {credit.source_id}: 0 ledger credits" in x for x in caught.half_written
        )


async def test_a_request_that_finds_every_pooled_connection_busy_is_503_not_500(db, world):
    """Under overload (200 phones retrying at once after a restart) requests wait for a
    pooled connection; past the pool timeout the phone hears "try later", problem+json,
    never a 500."""
    app = create_app(db.state.settings)
    await app.state.engine.dispose()
    app.state.engine = create_engine(db.state.settings, pool_timeout=0.2)
    app.state.sessionmaker = create_sessionmaker(app.state.engine)
    pool = app.state.engine.pool
    held = [await app.state.engine.connect() for _ in range(pool.size() + pool._max_overflow)]
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            resp = await c.get("/api/v1/me", headers=world.headers("member"))
    finally:
        for conn in held:
            await conn.close()
        await app.state.engine.dispose()
    assert resp.status_code == 503, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.json()["code"] == "service_unavailable"
