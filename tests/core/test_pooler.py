"""Behind PgBouncer in transaction mode, the app's settings for it keep every
statement correct, and asyncpg's defaults do not (the naive control)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import literal, select
from sqlalchemy.exc import DBAPIError

from app.core.config import Settings
from app.core.db import Statement, create_engine, create_sessionmaker, read_only
from tests.conftest import POSTGRES_ADMIN_URL

SUM = Statement(select(literal(1, literal_execute=False) + 1))


async def _thirty_clients_on_a_pool_of_eight(settings: Settings) -> list[BaseException | None]:
    """Thirty sessions, each twenty transactions of a compiled statement, a reading
    session's autocommit statements and a Statement run on the raw connection."""
    engine = create_engine(settings)
    sessions = create_sessionmaker(engine)

    async def client(i: int) -> None:
        for _ in range(10):
            async with sessions() as session, session.begin():
                assert (await session.execute(select(literal(i) + 1))).scalar() == i + 1
                assert (await SUM.first(session, {})) == (2,)
        async with sessions() as session:
            await read_only(session)
            for _ in range(10):
                assert (await session.execute(select(literal(i) * 2))).scalar() == i * 2

    try:
        return await asyncio.gather(*(client(i) for i in range(30)), return_exceptions=True)
    finally:
        await engine.dispose()


async def test_through_pgbouncer_the_pooler_setting_keeps_statements_right_and_defaults_fail(
    pgbouncer,
):
    url = pgbouncer.url(POSTGRES_ADMIN_URL)
    pooled = Settings(_env_file=None, database_url=url, database_pooler="pgbouncer")
    assert [r for r in await _thirty_clients_on_a_pool_of_eight(pooled) if r] == []

    # asyncpg's defaults (named, cached statements), minus the startup parameters
    # PgBouncer would refuse outright: statements prepared on one server connection
    # are executed on another.
    naive = Settings(_env_file=None, database_url=url)
    errors = [r for r in await _thirty_clients_on_a_pool_of_eight(naive) if r]
    assert errors and all(isinstance(e, DBAPIError) for e in errors)
    assert any("prepared statement" in str(e) for e in errors)


@pytest.fixture(autouse=True)
def _naive_without_startup_parameters(monkeypatch):
    """The naive run keeps asyncpg's defaults but sends no `jit`: that alone would be
    refused at connect, before any statement could go wrong."""
    import app.core.db as db

    real = db.postgres_connect_args
    monkeypatch.setattr(
        db,
        "postgres_connect_args",
        lambda s: real(s) if s.database_pooler == "pgbouncer" else {},
    )
