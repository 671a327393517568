"""Statements compiled once (app.core.db.Statement) read and write what the session's
execute would, in the session's own transaction, and fail as SQLAlchemy fails; rows
they read become ORM objects as if the session had loaded them (`as_loaded`)."""

from __future__ import annotations

import pytest
from sqlalchemy import Integer, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from app.core.db import (
    Statement,
    WriteInReadingSession,
    as_loaded,
    dialect_of,
    ids_in,
    ids_value,
    read_only,
    table_of,
)
from app.models.org import Org
from app.models.task import Task
from tests.factories.tasks import make_task
from tests.factories.world import build_world

TASKS = table_of(Task)
ORGS = table_of(Org)
ONE_TASK = Statement(select(TASKS).where(TASKS.c.id == bindparam("task_id", type_=Integer)))


async def test_a_statement_reads_the_values_the_sessions_execute_reads(db):
    world = await build_world(db)
    task = await make_task(db, world["C1"], location=(30.0, 120.0, 300))
    async with db.state.sessionmaker() as session:
        (row,) = await ONE_TASK.rows(session, {"task_id": task.id})
        expected = (await session.execute(ONE_TASK.statement, {"task_id": task.id})).one()
    assert tuple(row) == tuple(expected)
    assert [type(v) for v in row] == [type(v) for v in expected]
    assert row.starts_at.tzinfo is not None and row.lat == 30.0


async def test_what_a_statement_writes_is_the_sessions_to_commit_or_roll_back(db):
    world = await build_world(db)
    rename = Statement(
        update(ORGS)
        .where(ORGS.c.id == bindparam("org", type_=Integer))
        .values(name=bindparam("new_name"))
    )
    async with db.state.sessionmaker() as session:
        assert await rename.execute(session, {"org": world["C1"].id, "new_name": "改名"}) == 1
        await session.rollback()
    async with db.state.sessionmaker() as session:
        assert (await session.get(Org, world["C1"].id)).name == world["C1"].name  # type: ignore[union-attr]
        await rename.execute(session, {"org": world["C1"].id, "new_name": "改名"})
        await session.commit()
    async with db.state.sessionmaker() as session:
        assert (await session.get(Org, world["C1"].id)).name == "改名"  # type: ignore[union-attr]


async def test_a_constraint_a_statement_breaks_is_sqlalchemys_integrity_error(db):
    world = await build_world(db)
    keys = [c.key for c in ORGS.c]
    twin = Statement(insert(ORGS), column_keys=keys)
    async with db.state.sessionmaker() as session:
        c1 = (await session.execute(select(ORGS).where(ORGS.c.id == world["C1"].id))).one()
        with pytest.raises(IntegrityError):
            await twin.execute(session, c1._asdict())
        await session.rollback()
        # The session goes on after its rollback, as after any failed statement.
        assert (await ONE_TASK.rows(session, {"task_id": 1})) == []


def test_a_statement_with_an_in_list_of_values_is_refused_on_postgresql():
    from sqlalchemy.dialects.postgresql.asyncpg import dialect

    statement = Statement(
        select(TASKS.c.id).where(TASKS.c.id.in_(bindparam("ids", expanding=True)))
    )
    with pytest.raises(TypeError):
        statement._compile(dialect())


async def test_a_row_taken_as_loaded_is_the_sessions_object_and_its_changes_are_flushed(db):
    world = await build_world(db)
    task = await make_task(db, world["C1"])
    async with db.state.sessionmaker() as session:
        row = await ONE_TASK.first(session, {"task_id": task.id})
        loaded = as_loaded(session, Task, row._asdict())
        assert loaded in session and await session.get(Task, task.id) is loaded
        # Taken again, the object the session holds is the one given back.
        assert as_loaded(session, Task, row._asdict()) is loaded
        # Loaded, not changed: nothing to write until it is.
        assert not session.dirty and not session.is_modified(loaded)
        loaded.title = "新标题"
        assert session.is_modified(loaded)
        await session.commit()
    async with db.state.sessionmaker() as session:
        assert (await session.get(Task, task.id)).title == "新标题"  # type: ignore[union-attr]


async def test_a_reading_session_reads_without_a_transaction_and_refuses_every_write(db):
    if db.state.settings.is_sqlite:
        pytest.skip("reads run without a transaction on PostgreSQL only")
    world = await build_world(db)
    task = await make_task(db, world["C1"])
    c1 = world["C1"].id
    rename = Statement(update(ORGS).where(ORGS.c.id == c1).values(name="改名"))
    async with db.state.sessionmaker() as session:
        await read_only(session)
        assert (await ONE_TASK.first(session, {"task_id": task.id})) is not None
        org = await session.get(Org, c1)
        assert org is not None
        raw = await (await session.connection()).get_raw_connection()
        assert not raw.driver_connection.is_in_transaction()
        with pytest.raises(WriteInReadingSession):
            await rename.execute(session, {})
        with pytest.raises(WriteInReadingSession):
            await session.execute(update(ORGS).where(ORGS.c.id == c1).values(name="改名"))
        with pytest.raises(WriteInReadingSession):
            await session.execute(select(Org).where(Org.id == c1).with_for_update())
        org.name = "改名"
        with pytest.raises(WriteInReadingSession):
            await session.flush()


async def test_ids_given_at_run_time_and_a_constant_in_list_read_what_the_session_reads(db):
    world = await build_world(db)
    tasks = [await make_task(db, world[o]) for o in ("C1", "C2", "S1")]
    async with db.state.sessionmaker() as session:
        dialect = dialect_of(session)
        statement = Statement(
            select(TASKS.c.id)
            .where(
                ids_in(TASKS.c.org_id, "orgs", dialect),
                TASKS.c.id.in_([t.id for t in tasks[1:]] + [-1]),  # fixed in the SQL
            )
            .order_by(TASKS.c.id)
        )
        orgs = [world["C1"].id, world["C2"].id, world["S1"].id]
        got = await statement.rows(session, {"orgs": ids_value(orgs, dialect)})
        assert [r.id for r in got] == [t.id for t in tasks[1:]]
        none = await statement.rows(session, {"orgs": ids_value([], dialect)})
        assert none == []


async def test_a_generic_plan_is_set_for_its_statement_only(db):
    """The setting is SET LOCAL: in a reading session (no transaction) the statement
    gets a transaction of its own; inside a transaction it is set back at once. Either
    way the next statement on the connection plans as before."""
    if db.state.settings.is_sqlite:
        pytest.skip("plan_cache_mode is PostgreSQL's")
    world = await build_world(db)
    task = await make_task(db, world["C1"])
    mode = Statement(select(func.current_setting("plan_cache_mode")))
    generic = Statement(
        select(TASKS.c.id, func.current_setting("plan_cache_mode").label("mode")).where(
            TASKS.c.id == bindparam("task_id", type_=Integer)
        ),
        generic_plan=True,
    )
    for reading in (True, False):
        async with db.state.sessionmaker() as session:
            if reading:
                await read_only(session)
            for _ in range(7):  # past the five custom plans PostgreSQL tries first
                (row,) = await generic.rows(session, {"task_id": task.id})
                assert row.id == task.id and row.mode == "force_generic_plan"
                assert (await mode.first(session, {}))[0] == "auto"
            raw = await (await session.connection()).get_raw_connection()
            assert raw.driver_connection.is_in_transaction() is not reading
            await session.rollback()
