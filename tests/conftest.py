"""Every database test runs twice: on SQLite and on PostgreSQL, each built by the
real Alembic migrations in a database of its own that is dropped afterwards.

The app commits per request in sessions of its own, and race tests need real
concurrent connections, so tests do not share one rolled-back transaction;
instead every table is emptied after each test.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import httpx
import pytest
from alembic.config import Config
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from alembic import command
from app.core.config import Settings
from app.core.db import metadata
from app.devtools.wechat_stub import StubState, create_stub_app
from app.main import create_app
from app.models.points import SQLITE_NO_DELETE
from tests.factories.world import World
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, HAVE_CHROMIUM, NO_CHROMIUM
from tests.support.counts import assert_counts_are_exact
from tests.support.pgbouncer import HAVE_PGBOUNCER, NO_PGBOUNCER, PgBouncer
from tests.support.replica import HAVE_POSTGRES_BINARIES, NO_POSTGRES_BINARIES, PrimaryAndReplica
from tests.support.servers import BackgroundServer
from tests.support.world_snapshot import (
    WorldSnapshot,
    copy_pages_back,
    put_world_in_empty_database,
    snapshot_world,
    sqlite_path,
    take_pages,
)

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
WECHAT_APPID = "wx-test-appid"
WECHAT_SECRET = "wx-test-secret"


def run_migrations(database_url: str, revision: str = "head", direction: str = "upgrade") -> None:
    """`alembic upgrade` (or `downgrade`) as an operator runs it; in a thread, since
    env.py owns a loop."""
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.attributes["database_url"] = database_url
    cfg.attributes["configure_logger"] = False
    with ThreadPoolExecutor(1) as pool:
        pool.submit(getattr(command, direction), cfg, revision).result()


async def downgrade_and_back(app: FastAPI, revision: str) -> None:
    """Down to `revision` and up to head again on the app's database, as an operator
    would: first revoking what the older schema cannot hold (the unit_admin role, whose
    migration refuses to go down while anyone holds it)."""
    async with app.state.engine.begin() as conn:
        await conn.execute(text("DELETE FROM role_grants WHERE role = 'unit_admin'"))
    url = app.state.settings.database_url
    await asyncio.to_thread(run_migrations, url, revision, "downgrade")
    await asyncio.to_thread(run_migrations, url)


async def _admin_execute(sql: str | None) -> None:
    """Run `sql` on the maintenance database (None: only check that it answers)."""
    url = make_url(POSTGRES_ADMIN_URL)
    conn = await asyncpg.connect(
        host=url.host,
        port=url.port or 5432,
        user=url.username,
        database=url.database,
        password=url.password,
        timeout=3,
    )
    try:
        if sql:
            await conn.execute(sql)
    finally:
        await conn.close()


def _admin(sql: str | None) -> None:
    # Own loop in a thread: these run from sync fixtures while pytest-asyncio's loop exists.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _admin_execute(sql)).result()


def _postgres_available() -> str | None:
    """None when PostgreSQL answers, else why the PostgreSQL half is skipped."""
    try:
        _admin(None)
    except Exception as exc:
        url = make_url(POSTGRES_ADMIN_URL)
        return f"PostgreSQL not reachable at {url.host}:{url.port}: {type(exc).__name__}"
    return None


# Databases reached through PgBouncer (the `pgbouncer` parameter of database_url): the
# app's settings for them say so (DATABASE_POOLER=pgbouncer).
POOLED_URLS: set[str] = set()
DATABASES = ["sqlite", "postgresql"]


@pytest.hookimpl(tryfirst=True)
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests marked `pooled` run a third time, on PostgreSQL through a real PgBouncer in
    transaction mode: the authorization matrix, the races, no-lost-writes. Not the
    whole suite: what breaks behind a pooler breaks in the database layer all requests
    share, which these cover, and a third run of everything would cost minutes."""
    if "database_url" in metafunc.fixturenames and metafunc.definition.get_closest_marker("pooled"):
        metafunc.definition.add_marker(
            pytest.mark.parametrize(
                "database_url", [*DATABASES, "pgbouncer"], indirect=True, scope="session"
            )
        )


@pytest.fixture(scope="session")
def pgbouncer() -> Iterator[PgBouncer]:
    """One PgBouncer for the session, in front of the test server, for every database."""
    if not HAVE_PGBOUNCER:
        pytest.skip(NO_PGBOUNCER)
    if reason := _postgres_available():
        pytest.skip(reason)
    with PgBouncer(POSTGRES_ADMIN_URL) as bouncer:
        yield bouncer


@pytest.fixture(scope="session")
def primary_and_replica() -> Iterator[PrimaryAndReplica]:
    """A throwaway primary (initdb) and its streaming replica (pg_basebackup), on free
    ports, for the session: ~5 s to build, so built once."""
    if not HAVE_POSTGRES_BINARIES:
        pytest.skip(NO_POSTGRES_BINARIES)
    with PrimaryAndReplica() as clusters:
        run_migrations(clusters.primary.url())
        yield clusters


@pytest.fixture(scope="session")
def wechat_stub() -> Iterator[tuple[StubState, str]]:
    state = StubState(appid=WECHAT_APPID, secret=WECHAT_SECRET)
    with BackgroundServer(create_stub_app(state)) as server:
        yield state, server.url


@pytest.fixture(scope="session", params=DATABASES)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "pgbouncer":
        bouncer: PgBouncer = request.getfixturevalue("pgbouncer")
        # Built directly (migrations are run on the primary, README "Scaling out"),
        # used through the pooler.
        with _postgres_database() as direct:
            url = bouncer.url(direct)
            POOLED_URLS.add(url)
            yield url
        return
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("db") / "test.db"
        url = f"sqlite:///{path}"
        run_migrations(url)
        yield url
        return
    with _postgres_database() as url:
        yield url


@contextmanager
def _postgres_database() -> Iterator[str]:
    reason = _postgres_available()
    if reason:
        pytest.skip(reason)
    name = f"chuangwen_test_{uuid.uuid4().hex[:10]}"
    _admin(f'CREATE DATABASE "{name}"')
    # A test database need not outlive a crash of the server: commits return without
    # waiting for the WAL to reach the disk (each test commits dozens of times).
    _admin(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    url = make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        run_migrations(url)
        yield url
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_settings(database_url: str, tmp: Path, wechat_base: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "app_env": "test",
        "database_url": database_url,
        "storage_local_dir": str(tmp / "media"),
        "wechat_appid": WECHAT_APPID,
        "wechat_secret": WECHAT_SECRET,
        "wechat_api_base": wechat_base,
        "redis_url": None,
        # The shared test app sees hundreds of logins and uploads a minute; the
        # limits themselves are tested on apps of their own (tests/edge/test_http.py).
        "login_rate_per_minute": 100_000,
        "upload_rate_per_minute": 100_000,
        "report_rate_per_minute": 100_000,
        "database_pooler": "pgbouncer" if database_url in POOLED_URLS else "none",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture(scope="session")
def settings(
    database_url: str, tmp_path_factory: pytest.TempPathFactory, wechat_stub: tuple[StubState, str]
) -> Settings:
    return make_settings(database_url, tmp_path_factory.mktemp("app"), wechat_stub[1])


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    yield application
    await application.state.engine.dispose()


async def empty_all_tables(application: FastAPI) -> None:
    """Delete the rows of the tables a test wrote to, as if the database were new.

    Only the non-empty tables are touched, with DELETE: a test writes to a handful
    of ~40 tables, and TRUNCATE of them all costs PostgreSQL new files for every
    table (~100-450 ms a test, a third of the suite's time), DELETE of a few rows
    about a millisecond."""
    async with application.state.engine.begin() as conn:
        await empty_tables(conn)


# The tables holding a row, in one statement.
WRITTEN_PROBE = " UNION ALL ".join(
    f"SELECT '{t.name}' FROM (SELECT 1 FROM {t.name} LIMIT 1) AS s{i}"
    for i, t in enumerate(metadata.sorted_tables)
)


async def written_tables(conn: AsyncConnection) -> set[str]:
    return set((await conn.execute(text(WRITTEN_PROBE))).scalars())


async def empty_tables(conn: AsyncConnection) -> None:
    """empty_all_tables in a transaction of the caller's (on PostgreSQL its triggers
    stay off until it ends)."""
    tables = [t.name for t in reversed(metadata.sorted_tables)]
    written = await written_tables(conn)
    if conn.dialect.name == "postgresql":
        # Triggers off for this transaction (the tests' role is a superuser): no
        # foreign key order, no append-only guard, no counting on the way out.
        await conn.execute(text("SET LOCAL session_replication_role = replica"))
        for table in tables:
            if table in written:
                await conn.execute(text(f"DELETE FROM {table}"))
        # Ids start at 1 again, as TRUNCATE ... RESTART IDENTITY did.
        await conn.execute(
            text(
                "SELECT setval(seq.oid, 1, false) FROM pg_class seq"
                " JOIN pg_depend d ON d.objid = seq.oid AND d.deptype IN ('a', 'i')"
                " JOIN pg_class t ON t.oid = d.refobjid"
                " WHERE seq.relkind = 'S' AND t.relname = ANY(:tables)"
            ),
            {"tables": sorted(written)},
        )
    else:
        # orgs reference themselves; checking keys at commit lets one DELETE empty it.
        await conn.execute(text("PRAGMA defer_foreign_keys=ON"))
        # The counts last, fact_counts after people_counts: deleting the rows
        # they count moves their sums there.
        last = ("people_counts", "fact_counts")
        # The points ledger refuses deletes (app/models/points.py): lifted for this.
        await conn.execute(text("DROP TRIGGER points_entries_no_delete"))
        for table in sorted(tables, key=lambda t: last.index(t) + 1 if t in last else 0):
            if table in written or table in last:
                await conn.execute(text(f"DELETE FROM {table}"))
        await conn.execute(text(SQLITE_NO_DELETE))


@pytest.fixture(scope="session")
async def empty_pages(app: FastAPI) -> AsyncIterator[sqlite3.Connection | None]:
    """SQLite: the emptied database file, kept in memory to be copied back after each
    test (tests/support/world_snapshot.py): ~5 ms of CPU where emptying the tables
    costs ~20-25 (a connection's parse of the schema, the points trigger dropped and
    made again, the DELETEs and the count triggers they fire). None on PostgreSQL.
    Taken while a test starts, before its function-scoped fixtures."""
    if sqlite_path(app) is None:
        yield None
        return
    await empty_all_tables(app)
    pages = take_pages(app)
    yield pages
    pages.close()


@pytest.fixture
async def db(
    app: FastAPI, wechat_stub: tuple[StubState, str], empty_pages: sqlite3.Connection | None
) -> AsyncIterator[FastAPI]:
    """The app with an empty database, emptied again after the test (on SQLite, the
    empty file copied back: schema, rows and AUTOINCREMENT counters as new)."""
    wechat_stub[0].reset()
    forget_wechat_token(app)
    yield app
    if empty_pages is not None:
        copy_pages_back(app, empty_pages)
    else:
        await empty_all_tables(app)
    forget_wechat_token(app)


def forget_wechat_token(app: FastAPI) -> None:
    """The stub forgets its token at every test, so the app must too, or the next
    test's first WeChat call would be a retry after 40001."""
    client = app.state.wechat.client
    client.session.delete(client.access_token_key)


@pytest.fixture
async def client(db: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=db)
    async with httpx.AsyncClient(transport=transport, base_url="http://test/api/v1") as c:
        yield c


@pytest.fixture
async def world(db: FastAPI, world_snapshot: WorldSnapshot) -> World:
    """The shared scene (tests/factories/world.py) in the empty database: put back from
    a snapshot taken once per database rather than built (tests/support/world_snapshot.py),
    its orgs and people the test's own copies. Refused if a fixture wrote rows before
    it (they would be erased): such a fixture asks for `world` itself."""
    return await put_world_in_empty_database(db, world_snapshot)


@pytest.fixture(scope="session")
async def world_snapshot(app: FastAPI) -> AsyncIterator[WorldSnapshot]:
    """The world, built once per database (tests/support/world_snapshot.py). Taken
    while a test starts, before its function-scoped fixtures (pytest sets up the wider
    scopes first), so on the database the `db` fixture left empty."""
    snapshot = await snapshot_world(app)
    yield snapshot
    snapshot.close()


@pytest.fixture
async def restored_world(world: World) -> World:
    """The `world` fixture, under the name the authorization matrices give it."""
    return world


@pytest.fixture
async def counts_stay_exact(db: FastAPI) -> AsyncIterator[None]:
    """After the test: every sum the database keeps for the dashboards equals its
    rebuild from the rows it counts (tests/support/counts.py), whatever the test wrote."""
    yield
    await assert_counts_are_exact(db)


@pytest.fixture(scope="session")
async def chromium() -> AsyncIterator[object]:
    """One Chromium for every browser test of the run (tests/support/browser.py)."""
    if not HAVE_CHROMIUM:
        pytest.skip(NO_CHROMIUM)
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


@pytest.fixture
def stub(wechat_stub: tuple[StubState, str]) -> StubState:
    return wechat_stub[0]
