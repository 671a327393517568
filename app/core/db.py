"""Async engine and sessions for SQLite (aiosqlite) and PostgreSQL (asyncpg).

One transaction per request: `app.edge.transaction` opens the session, commits
before the response leaves, and rolls back on any error.
"""

from __future__ import annotations

import contextvars
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, DateTime, MetaData, Table, Update, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeDecorator
from sqlmodel import SQLModel

from app.core.config import Settings

# Stable constraint names, so migrations can name what they alter or drop.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata.naming_convention = NAMING_CONVENTION
metadata: MetaData = SQLModel.metadata


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetimes on both databases.

    SQLite has no zone-aware type and hands back naive values; storing UTC and
    re-attaching it on the way out keeps every datetime in Python aware.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a timezone-aware column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


# Write requests on SQLite start with BEGIN IMMEDIATE: a deferred transaction that
# reads and then writes cannot wait for the lock (SQLITE_BUSY at once), while an
# immediate one queues on busy_timeout like a PostgreSQL writer would.
_sqlite_write_tx: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "sqlite_write_tx", default=False
)


@contextmanager
def sqlite_write_transaction() -> Iterator[None]:
    token = _sqlite_write_tx.set(True)
    try:
        yield
    finally:
        _sqlite_write_tx.reset(token)


@asynccontextmanager
async def write_transaction(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """A transaction of its own that writes (jobs, scans): on SQLite it takes the
    write lock at BEGIN."""
    with sqlite_write_transaction():
        async with sessionmaker() as session, session.begin():
            yield session


def create_engine(settings: Settings, **kwargs: Any) -> AsyncEngine:
    url = settings.async_database_url
    # Statement parameters are personal data (openids, names): keep them out of SQL
    # logging and out of the text of errors, which the 500 handler logs.
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        engine = create_async_engine(
            url,
            connect_args={"timeout": settings.sqlite_busy_timeout_s},
            # A pool of file connections buys nothing and keeps locks around.
            poolclass=NullPool,
            **kwargs,
        )
        _configure_sqlite(engine, settings)
        return engine
    # No JIT and no parallel workers: our statements run for milliseconds. A
    # dashboard whose estimate crossed jit_above_cost spent over a second compiling,
    # and starting two workers cost a street's dashboard 7 ms to read 0.4 ms of rows
    # (docs/PERFORMANCE.md).
    kwargs.setdefault(
        "connect_args",
        {"server_settings": {"jit": "off", "max_parallel_workers_per_gather": "0"}},
    )
    engine = create_async_engine(
        url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        **kwargs,
    )
    _check_on_checkout(engine)
    return engine


def _check_on_checkout(engine: AsyncEngine) -> None:
    """Hand out no pooled connection that the server has closed (a restart, a
    failover, an idle timeout).

    Instead of `pool_pre_ping`, which on asyncpg costs three round trips per checkout
    (BEGIN, a ping, ROLLBACK: a third of a check-in's), ask asyncpg whether it has
    seen the socket close, which it notices by itself on an idle connection. A
    connection that dies unseen fails its request, and SQLAlchemy then drops every
    connection pooled before it (pool invalidation on disconnect).
    """

    @event.listens_for(engine.sync_engine, "checkout")
    def _on_checkout(_dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        driver_connection = record.driver_connection
        if driver_connection is not None and driver_connection.is_closed():
            # The pool discards it and checks out another one.
            raise DisconnectionError()


def _configure_sqlite(engine: AsyncEngine, settings: Settings) -> None:
    busy_ms = int(settings.sqlite_busy_timeout_s * 1000)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the driver; we emit BEGIN ourselves.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if _sqlite_write_tx.get() else "BEGIN")


async def updated_one(
    session: AsyncSession, statement: Update, params: dict[str, Any] | None = None
) -> bool:
    """Run a conditional UPDATE and say whether it changed exactly one row.

    This is how races are settled: the WHERE carries the state the caller read, and
    a loser sees False instead of overwriting the winner.
    """
    result = await session.execute(
        statement, params, execution_options={"synchronize_session": False}
    )
    return cast("CursorResult[Any]", result).rowcount == 1


def dialect_insert(session: AsyncSession, table: Any) -> Any:
    """INSERT with ON CONFLICT, in the dialect of the session's database."""
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def table_of(model: type[SQLModel]) -> Table:
    """The Core table of a model, for statements on hot paths: a Core UPDATE or SELECT
    costs a third to a half of the CPU of the same one through the ORM."""
    table: Table = model.__table__  # type: ignore[attr-defined]
    return table


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
