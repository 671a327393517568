"""The shared world (tests/factories/world.py), built once per database and put back
in a few statements: what the `world` fixture hands every test.

`build_world` runs ~50 statements through the ORM (eight orgs, their paths, nine
people, their roles): 40-55 ms of CPU a test on SQLite, more on PostgreSQL, and
emptying the tables afterwards another 5-25; ~2,000 tests and the authorization
matrix's cases start from it. Here the world is built once per database and put back
wherever a test would have built it:

- SQLite: the whole database file as it stood after the build, kept in memory and
  copied back page for page with SQLite's backup API (~3 ms of CPU): whatever a case
  wrote, the schema, the rows and the AUTOINCREMENT counters are those of the build.
- PostgreSQL: the tables emptied as the `db` fixture empties them, and the build's
  rows, read back as the driver holds them (no type processing, so they go back as
  they were), inserted again with triggers off; the sequences set where the build left
  them (~13 ms of CPU).

A snapshot is checked once, when taken: after its first restore every table must
hold exactly the rows the build left, or it is refused. Each restore hands out a World
of its own whose orgs and people are fresh copies of the build's (detached, as the
build leaves them), so a test may change them as it could a world it built.

Putting the world back replaces whatever the database holds (on SQLite the whole
file), so the `world` fixture first checks that nothing was written before it:
a fixture that writes rows must ask for `world` first, or they would vanish.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import FastAPI
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from app.core.db import metadata
from tests.factories.world import World, build_world

_Row = TypeVar("_Row")


@dataclass
class WorldSnapshot:
    world: World
    rows: dict[str, list[dict[str, Any]]]  # table -> its rows, in key order
    sequences: dict[str, int]  # PostgreSQL: sequence -> its last value after the build
    pages: sqlite3.Connection | None  # SQLite: an in-memory copy of the database file

    def close(self) -> None:
        if self.pages is not None:
            self.pages.close()


async def _table_rows(conn: AsyncConnection) -> dict[str, list[dict[str, Any]]]:
    rows = {}
    for table in metadata.sorted_tables:
        keys = ", ".join(c.name for c in table.primary_key.columns) or "1"
        found = (await conn.execute(text(f"SELECT * FROM {table.name} ORDER BY {keys}"))).all()
        if found:
            rows[table.name] = [dict(r._mapping) for r in found]
    return rows


def sqlite_path(app: FastAPI) -> str | None:
    url = make_url(app.state.settings.database_url)
    return url.database if url.get_backend_name() == "sqlite" else None


async def snapshot_world(app: FastAPI) -> WorldSnapshot:
    """Build the world in the emptied database and keep it; the database is left
    empty again. Refused unless a restore gives back exactly the rows built."""
    from tests.conftest import empty_all_tables

    await empty_all_tables(app)
    world = await build_world(app)
    async with app.state.engine.connect() as conn:
        rows = await _table_rows(conn)
        sequences: dict[str, int] = {}
        if conn.dialect.name == "postgresql":
            found = await conn.execute(
                text(
                    "SELECT sequencename, last_value FROM pg_sequences"
                    " WHERE schemaname = current_schema() AND last_value IS NOT NULL"
                )
            )
            sequences = {name: value for name, value in found}
    pages = take_pages(app) if sqlite_path(app) else None
    snapshot = WorldSnapshot(world, rows, sequences, pages)
    await empty_all_tables(app)
    await reset_to_world(app, snapshot)
    async with app.state.engine.connect() as conn:
        restored = await _table_rows(conn)
    assert restored == rows, "restoring the world gives other rows than building it"
    await empty_all_tables(app)
    return snapshot


async def reset_to_world(
    app: FastAPI, snapshot: WorldSnapshot, *, known_empty: bool = False
) -> World:
    """Whatever the database holds, afterwards it holds the world and nothing else;
    a World of its own to hand out, its people and orgs copies of the build's.
    `known_empty`: the caller has just seen no table hold a row (nothing to delete)."""
    if snapshot.pages is not None:
        copy_pages_back(app, snapshot.pages, must_be_empty=known_empty)
    else:
        from tests.conftest import empty_tables

        async with app.state.engine.begin() as conn:
            # Triggers (keys, counts) are off until the commit: the counts are
            # copied like the rest.
            if known_empty:
                await conn.execute(text("SET LOCAL session_replication_role = replica"))
            else:
                await empty_tables(conn)
            await _insert_rows(conn, snapshot)
    return World(
        app,
        {key: _copy(org) for key, org in snapshot.world.orgs.items()},
        {key: _copy(person) for key, person in snapshot.world.people.items()},
    )


async def put_world_in_empty_database(app: FastAPI, snapshot: WorldSnapshot) -> World:
    """reset_to_world for the `world` fixture: refused unless the database is empty,
    since a fixture's rows written before it would silently vanish."""
    if snapshot.pages is None:
        from tests.conftest import written_tables

        async with app.state.engine.connect() as conn:
            _refuse_rows(await written_tables(conn))
    # SQLite: checked on the connection that copies the pages (a new connection parses
    # the whole schema, ~6 ms of CPU).
    return await reset_to_world(app, snapshot, known_empty=True)


def _refuse_rows(written: set[str]) -> None:
    assert not written, (
        f"rows in {sorted(written)} before the world was put back, which would erase"
        " them: the fixture that writes them must depend on `world`"
    )


def take_pages(app: FastAPI) -> sqlite3.Connection:
    """SQLite: the database file as it stands, copied into memory."""
    path = sqlite_path(app)
    assert path is not None
    pages = sqlite3.connect(":memory:")
    with closing(sqlite3.connect(path)) as source:
        source.backup(pages)
    return pages


def copy_pages_back(
    app: FastAPI, pages: sqlite3.Connection, *, must_be_empty: bool = False
) -> None:
    """SQLite: the database file made the copy again, page for page. `must_be_empty`:
    refused first if any table holds a row."""
    path = sqlite_path(app)
    assert path is not None
    # The app's pooled connections are idle between requests (WAL, rolled back when
    # given back): they hold no lock, so the copy is not kept waiting, and they see
    # the copied pages at their next statement (SQLite's change counter).
    with closing(sqlite3.connect(path)) as target:
        if must_be_empty:
            from tests.conftest import WRITTEN_PROBE

            _refuse_rows({name for (name,) in target.execute(WRITTEN_PROBE)})
        pages.backup(target)


def _copy(obj: _Row) -> _Row:
    """A detached instance with the same loaded attributes, as a session's load makes
    it (no constructor, no history): what the build handed out, not shared."""
    state = inspect(obj)
    copy = state.mapper.class_manager.new_instance()
    for prop in state.mapper.column_attrs:
        if prop.key in state.dict:
            set_committed_value(copy, prop.key, state.dict[prop.key])
    make_transient_to_detached(copy)
    return copy


async def _insert_rows(conn: AsyncConnection, snapshot: WorldSnapshot) -> None:
    for table in metadata.sorted_tables:
        found = snapshot.rows.get(table.name)
        if not found:
            continue
        columns = list(found[0])
        await conn.execute(
            text(
                f"INSERT INTO {table.name} ({', '.join(columns)})"
                f" VALUES ({', '.join(f':{c}' for c in columns)})"
            ),
            found,
        )
    for sequence, value in snapshot.sequences.items():
        await conn.execute(text("SELECT setval(:s, :v)"), {"s": sequence, "v": value})
