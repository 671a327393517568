"""Async engine and sessions for SQLite (aiosqlite) and PostgreSQL (asyncpg).

One transaction per request: `app.core.routing.AppRoute` opens the session, commits
before the response leaves, and rolls back on any error.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, DateTime, MetaData, Update, event
from sqlalchemy.engine import Dialect
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


def create_engine(settings: Settings, **kwargs: Any) -> AsyncEngine:
    url = settings.async_database_url
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
    return create_async_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10, **kwargs)


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


async def updated_one(session: AsyncSession, statement: Update) -> bool:
    """Run a conditional UPDATE and say whether it changed exactly one row.

    This is how races are settled: the WHERE carries the state the caller read, and
    a loser sees False instead of overwriting the winner.
    """
    result = await session.execute(statement.execution_options(synchronize_session=False))
    return cast("CursorResult[Any]", result).rowcount == 1


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
