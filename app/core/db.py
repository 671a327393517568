"""Async engine and sessions for SQLite (aiosqlite) and PostgreSQL (asyncpg).

One transaction per request: `app.edge.transaction` opens the session, commits
before the response leaves, and rolls back on any error.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import re
from collections import namedtuple
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any, TypeVar, cast

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    CursorResult,
    DateTime,
    Executable,
    Float,
    Integer,
    MetaData,
    Numeric,
    Select,
    String,
    Table,
    Update,
    bindparam,
    event,
    func,
    literal_column,
)
from sqlalchemy import select as sa_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection, Dialect, Engine, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, MissingGreenlet
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import ORMExecuteState, Session, class_mapper
from sqlalchemy.orm.attributes import instance_state
from sqlalchemy.pool import QueuePool
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import BindParameter, ClauseList, Grouping
from sqlalchemy.sql.schema import ColumnDefault
from sqlalchemy.sql.visitors import replacement_traverse
from sqlalchemy.types import TypeDecorator
from sqlalchemy.util.concurrency import greenlet_spawn, in_greenlet
from sqlmodel import SQLModel

from app.core.config import Settings

M = TypeVar("M", bound=SQLModel)

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
            # Pooled: a new SQLite connection parses the whole schema (~100 KB: 67
            # tables, 151 indexes, 32 triggers) on its first statement, ~6-9 ms of CPU
            # with aiosqlite's thread, about half of a small request's. An idle pooled
            # connection holds no lock (WAL; the pool rolls back what it is given back).
            # (An in-memory database is one connection, SQLAlchemy's StaticPool.)
            **(
                {}
                if make_url(url).database in (None, "", ":memory:")
                else {
                    "pool_size": settings.database_pool_size,
                    "max_overflow": settings.database_max_overflow,
                }
            ),
            **kwargs,
        )
        _configure_sqlite(engine, settings)
        return engine
    kwargs.setdefault("connect_args", postgres_connect_args(settings))
    engine = create_async_engine(
        url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        **kwargs,
    )
    _check_on_checkout(engine)
    return engine


def postgres_connect_args(settings: Settings) -> dict[str, Any]:
    """asyncpg's connection arguments, straight to PostgreSQL or through a pooler."""
    if settings.database_pooler == "pgbouncer":
        # PgBouncer 1.18 in transaction mode hands each transaction the server
        # connection that is free, and keeps no prepared statement across them.
        # With both caches off asyncpg prepares every statement unnamed and parses it
        # again with its Bind (one Parse/Bind/Execute/Sync), which is correct even
        # outside a transaction (a reading request's autocommit); Statements run on
        # the same asyncpg connection and so the same way.
        # SQLAlchemy's name function stays its default (no name: unnamed).
        # PgBouncer refuses startup parameters it does not track (jit, ...): the
        # role or the database carries them (README "Scaling out").
        return {"statement_cache_size": 0, "prepared_statement_cache_size": 0}
    # No JIT and no parallel workers: our statements run for milliseconds. A
    # dashboard whose estimate crossed jit_above_cost spent over a second compiling,
    # and starting two workers cost a street's dashboard 7 ms to read 0.4 ms of rows
    # (docs/PERFORMANCE.md).
    # asyncpg keeps a prepared statement (and so PostgreSQL its plan) only for SQL up
    # to 15 KiB by default; the dashboard's figures are one statement of ~17 KiB that
    # was parsed and planned again on every call (9 ms for a community instead of 1).
    return {
        "server_settings": {"jit": "off", "max_parallel_workers_per_gather": "0"},
        "max_cacheable_statement_size": 64 * 1024,
    }


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
            if not in_greenlet():
                # A checkout without a greenlet (HeldConnection.checked_out) cannot
                # connect afresh: the pool takes the record back, invalidated, and
                # the greenlet that retries connects.
                raise MissingGreenlet("a connection seen closed, outside a greenlet")
            # The pool discards it and checks out another one.
            raise DisconnectionError()

    @event.listens_for(engine.sync_engine, "do_connect")
    def _on_connect(*_args: Any) -> None:
        if not in_greenlet():
            # Refused before asyncpg's connect is even called (SQLAlchemy would make
            # the coroutine, then drop it unawaited): the retry in a greenlet connects.
            raise MissingGreenlet("connecting, outside a greenlet")


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


async def paged(
    session: AsyncSession, statement: Select[*tuple[Any, ...]], *, offset: int, limit: int
) -> tuple[list[Any], int]:
    """A page of `statement`'s rows (ordered, without offset or limit) and how many
    rows it has in all: the one way a list pages.

    The page is read first; its total is counted only when the page cannot tell it:
    a page shorter than `limit` (an empty first page included) ends the list, so the
    total is `offset` plus its rows. A full page, or one past the end, is followed by
    a count of the same statement. Most lists a person opens fit on their first page:
    one statement, not two (each ORM statement is ~0.2-0.4 ms of CPU,
    docs/PERFORMANCE.md "Every GET route"). The rows are the statement's, as
    `Result.all()` gives them; `scalars` below for a statement of one entity."""
    rows = list((await session.execute(statement.offset(offset).limit(limit))).all())
    if len(rows) < limit and (rows or offset == 0):
        return rows, offset + len(rows)
    counted = sa_select(func.count()).select_from(statement.order_by(None).subquery())
    return rows, int((await session.execute(counted)).scalar_one())


async def paged_scalars(
    session: AsyncSession, statement: Select[*tuple[Any, ...]], *, offset: int, limit: int
) -> tuple[list[Any], int]:
    """`paged` for a statement of one entity or column: its values, not rows."""
    rows, total = await paged(session, statement, offset=offset, limit=limit)
    return [row[0] for row in rows], total


def dialect_insert(session: AsyncSession, table: Any) -> Any:
    """INSERT with ON CONFLICT, in the dialect of the session's database."""
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def table_of(model: type[SQLModel]) -> Table:
    """The Core table of a model, for statements on hot paths: a Core UPDATE or SELECT
    costs a third to a half of the CPU of the same one through the ORM."""
    table: Table = model.__table__  # type: ignore[attr-defined]
    return table


class AppSession(Session):
    """The app's sessions; a reading session refuses to write (`read_only`)."""

    def get_bind(self, mapper: Any = None, **kw: Any) -> Any:
        # A request's session on PostgreSQL runs the ORM on the connection the request
        # holds (`hold_connection`), checked out here, in the ORM's greenlet, when the
        # ORM is the first to need it.
        held: HeldConnection | None = self.info.get(_HELD)
        if held is not None and kw.get("bind") is None:
            connection = held.for_orm()
            if connection is not None:
                return connection
        return super().get_bind(mapper, **kw)


class AppAsyncSession(AsyncSession):
    """The app's async sessions. One that holds its request's connection
    (`hold_connection`) commits, rolls back and closes at the driver, and through the
    ORM's own transaction only when the ORM was used: a request whose statements are
    all `Statement`s never builds one (docs/DESIGN.md "One transaction per request")."""

    async def commit(self) -> None:
        held: HeldConnection | None = self.sync_session.info.get(_HELD)
        if held is None:
            return await super().commit()
        sync = self.sync_session
        if sync._transaction is not None or not sync._is_clean():
            # Flushes what is pending, fires after_commit (the outbox's hand-over);
            # commits the driver's transaction, which is the ORM's too.
            await super().commit()
        await held.end(commit=True)

    async def rollback(self) -> None:
        held: HeldConnection | None = self.sync_session.info.get(_HELD)
        if held is None:
            return await super().rollback()
        try:
            if self.sync_session._transaction is not None:
                await super().rollback()
        finally:
            await held.end(commit=False)

    async def close(self) -> None:
        held: HeldConnection | None = self.sync_session.info.get(_HELD)
        if held is None:
            return await super().close()
        if self.sync_session._transaction is None and not held.in_transaction():
            # Committed or rolled back already (every request's last step): nothing
            # is left to end, no I/O, so nothing a cancellation could cut short.
            self.sync_session.close()
            await held.release()  # no I/O here: nothing to wait for
            return
        # As AsyncSession's own `async with` does: the rollback runs to its end even if
        # the request is cancelled meanwhile, so no connection goes back mid-transaction.
        await asyncio.shield(asyncio.ensure_future(self._close_held(held)))

    async def _close_held(self, held: HeldConnection) -> None:
        try:
            if self.sync_session._transaction is not None:
                await super().close()
            else:
                self.sync_session.close()
        finally:
            await held.end(commit=False)


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(
        engine,
        class_=AppAsyncSession,
        expire_on_commit=False,
        autoflush=False,
        sync_session_class=AppSession,
    )


# --- a request's connection, held at the driver (PostgreSQL) --------------------------

_HELD = "chuangwen.held_connection"


def hold_connection(session: AsyncSession, *, reading: bool) -> None:
    """The request's session on PostgreSQL: its one connection is held for it
    (`HeldConnection`), checked out by whichever asks first, a `Statement` or the ORM;
    `reading`: its statements run without BEGIN and COMMIT (`read_only`)."""
    bind = session.bind
    assert isinstance(bind, AsyncEngine), "a request's session is bound to the app's engine"
    session.info[_HELD] = HeldConnection(bind.sync_engine, reading=reading)
    if reading:
        session.info[_READ_ONLY] = True


class HeldConnection:
    """A request's one connection, its transaction begun and ended on the driver.

    Through the ORM a request paid, besides its statements, for a session transaction
    (its snapshot, the Connection, the pool's checkout), its commit through the
    greenlet and its close: about a tenth of a check-in's CPU (docs/PERFORMANCE.md,
    round 9). Held here, the connection is checked out once, without a greenlet while
    the pool has one idle, BEGIN goes with the first statement (as SQLAlchemy's asyncpg
    adapter does it) and COMMIT or ROLLBACK is sent on the adapter's asyncpg
    transaction. When the ORM is used, the session is bound to this same connection
    (`AppSession.get_bind`) and its transaction is the driver's: the session commits
    it, with its flush and its after_commit hooks (`AppAsyncSession.commit`); a
    savepoint is the ORM's, on this connection, as before.

    A commit or rollback ends the held connection's turn too: it goes back to the
    pool (an upload's early commit keeps no connection while it decodes), and the
    next statement checks one out again."""

    __slots__ = ("connection", "driver", "engine", "reading")

    def __init__(self, engine: Engine, *, reading: bool) -> None:
        self.engine = engine
        self.reading = reading
        self.connection: Connection | None = None
        self.driver: Any = None  # SQLAlchemy's asyncpg adapter of `connection`

    def _open(self) -> Connection:
        connection = self.engine.connect()
        driver: Any = connection.connection.dbapi_connection
        # A reading request's statements, the ORM's too, run without BEGIN: the
        # adapter's own switch (what `isolation_level="AUTOCOMMIT"` sets, without the
        # engine's bookkeeping of it), set either way on every checkout and put back
        # when the connection is given back.
        driver.autocommit = self.reading
        self.connection = connection
        self.driver = driver
        return connection

    async def checked_out(self) -> Any:
        """The driver's connection, checked out if it is not yet."""
        if self.driver is None:
            pool = self.engine.pool
            if isinstance(pool, QueuePool) and pool.checkedin() > 0:
                # An idle connection is handed out without I/O: no greenlet needed.
                # If it must be replaced (seen closed), the pool gives the record
                # back and the greenlet below connects afresh.
                with suppress(MissingGreenlet):
                    self._open()
            if self.driver is None:
                await greenlet_spawn(self._open)
        return self.driver

    def for_orm(self) -> Connection | None:
        """The connection for the ORM, checked out now if the ORM asks first (in its
        greenlet); None outside one before any checkout (a caller asking the bind for
        its dialect only)."""
        if self.connection is None and in_greenlet():
            self._open()
        return self.connection

    def in_transaction(self) -> bool:
        return self.driver is not None and self.driver._transaction is not None

    async def end(self, *, commit: bool) -> None:
        """COMMIT (or ROLLBACK) what the driver's transaction holds, and give the
        connection back. Errors are raised as SQLAlchemy raises them."""
        driver = self.driver
        try:
            if driver is not None and (transaction := driver._transaction) is not None:
                sql = "COMMIT" if commit else "ROLLBACK"
                try:
                    await driver._call_and_discard(
                        transaction.commit if commit else transaction.rollback
                    )
                except Exception as error:
                    raise await _sqlalchemy_error(
                        self.engine.dialect, driver, error, sql, {}, self.invalidate
                    ) from error
        finally:
            await self.release()

    async def release(self) -> None:
        """Give the connection back to the pool: without I/O, so without a greenlet,
        when nothing is left to roll back and the pool has room for it (a pool without
        room closes it)."""
        connection = self.connection
        if connection is None:
            return
        pool = self.engine.pool
        if (
            not self.in_transaction()
            and not connection.in_transaction()
            and isinstance(pool, QueuePool)
            and pool.checkedin() < pool.size()
        ):
            self._release()
        else:
            await greenlet_spawn(self._release)

    def _release(self) -> None:
        connection, driver = self.connection, self.driver
        self.connection = self.driver = None
        if connection is None:
            return
        try:
            if driver is not None and self.reading:
                driver.autocommit = False
        finally:
            connection.close()

    async def invalidate(self) -> None:
        """The connection was seen closed: the pool drops it (and those older)."""
        if self.connection is not None:
            await greenlet_spawn(self.connection.invalidate)


# --- requests that only read ---------------------------------------------------------

_READ_ONLY = "chuangwen.read_only"


class WriteInReadingSession(RuntimeError):
    """A request that only reads (GET) tried to write: a bug, loud on purpose."""


async def read_only(session: AsyncSession) -> None:
    """PostgreSQL: the session's statements run outside a transaction (autocommit), for
    a request that only reads.

    Under READ COMMITTED, PostgreSQL's level, every statement sees the data as of its
    own start whether or not it runs in a transaction, and a plain read takes no lock
    that a transaction would hold: BEGIN and COMMIT, two round trips of a typical
    read's four or five, change nothing for it. Anything that would write is refused
    (WriteInReadingSession), so that no write ever runs without its transaction."""
    await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    session.info[_READ_ONLY] = True


def _refuse_write(session: Session | AsyncSession, what: str) -> None:
    if session.info.get(_READ_ONLY):
        raise WriteInReadingSession(f"{what} in a request that only reads")


@event.listens_for(AppSession, "do_orm_execute")
def _reads_only(state: ORMExecuteState) -> None:
    if not state.is_select or state.statement._for_update_arg is not None:  # type: ignore[attr-defined]
        _refuse_write(state.session, "a write or a lock")


@event.listens_for(AppSession, "before_flush")
def _flushes_nothing(session: Session, _context: Any, _instances: Any) -> None:
    if session.new or session.dirty or session.deleted:
        _refuse_write(session, "a flush")


# --- statements built once, compiled once per dialect ----------------------------------


class Statement:
    """A Core statement built once, compiled once per database, run on a session.

    The hot steps every request takes (who is calling, the Idempotency-Key's record)
    and the hot statements of a domain run through this. Through
    `AsyncSession.execute` a statement costs 0.1-0.3 ms of CPU besides the database
    (the greenlet hand-over, the compiled-cache key, the DBAPI adapter, the result's
    metadata); here, on PostgreSQL, it is run on the asyncpg connection of the
    session's own transaction, with the SQL and the parameter and result conversions
    SQLAlchemy compiled for it: the same SQL, the same values, the same transaction,
    and errors raised as SQLAlchemy raises them (IntegrityError, DBAPIError; a
    connection seen closed is invalidated). On SQLite it is the session's execute.

    Rows come back as named tuples (`row.name`, `row[0]`), never ORM objects. The
    SQL is fixed: its constants (a rule's states, an `IN` list of them) are written into
    it; a list given at run time is written with `ids_in` (an array on PostgreSQL),
    never as an expanding parameter.
    """

    def __init__(
        self,
        statement: Executable,
        *,
        column_keys: list[str] | None = None,
        generic_plan: bool = False,
    ) -> None:
        """`generic_plan`: on PostgreSQL, run with the plan made once for any values
        (`plan_cache_mode`, for this statement only) instead of planning it for each
        call's values: for a large statement whose plan does not depend on them (the
        dashboard's figures: planning its 27 parts cost more than running them)."""
        self.statement = statement
        self.column_keys = column_keys
        self.generic_plan = generic_plan
        self._pg: _PgStatement | None = None

    async def rows(
        self, session: AsyncSession, params: Mapping[str, Any], *, named: bool = True
    ) -> list[Any]:
        dialect = dialect_of(session)
        if dialect.name != "postgresql":
            return list((await session.execute(self.statement, params)).all())
        pg = self._pg or self._compile(dialect)
        return await pg.rows(session, params, named=named)

    async def tuples(self, session: AsyncSession, params: Mapping[str, Any]) -> Sequence[Any]:
        """The rows as sequences (`row[0]`, slices), without a named tuple made for each:
        for statements that bring back many rows to add up (a ranking's figures)."""
        return await self.rows(session, params, named=False)

    async def first(self, session: AsyncSession, params: Mapping[str, Any]) -> Any | None:
        rows = await self.rows(session, params)
        return rows[0] if rows else None

    async def execute(self, session: AsyncSession, params: Mapping[str, Any]) -> int:
        """Run a statement without RETURNING; the number of rows it changed."""
        dialect = dialect_of(session)
        if dialect.name != "postgresql":
            result = await session.execute(self.statement, params)
            return int(cast("CursorResult[Any]", result).rowcount)
        pg = self._pg or self._compile(dialect)
        return await pg.execute(session, params)

    def _compile(self, dialect: Dialect) -> _PgStatement:
        self._pg = _PgStatement.of(self.statement, dialect, self.column_keys)
        self._pg.generic_plan = self.generic_plan
        return self._pg


@dataclass(frozen=True)
class PageStatements:
    """A list's two Statements: `page`, whose rows each carry the number of all the
    list's rows (`count(*) OVER () AS total`), and `count`, that number alone."""

    page: Statement
    count: Statement

    async def read(
        self, session: AsyncSession, params: Mapping[str, Any], *, offset: int
    ) -> tuple[list[Any], int]:
        """The page's rows and the list's total in one round trip; two for a page past
        the end, where no row carries the total."""
        rows, figures = await self.read_figures(session, params, offset=offset)
        if rows:
            return rows, rows[0].total
        return rows, figures[0] if figures is not None else 0

    async def read_figures(
        self, session: AsyncSession, params: Mapping[str, Any], *, offset: int
    ) -> tuple[list[Any], Any | None]:
        """`read`, with the row carrying the list's figures rather than its total alone,
        for a page whose rows carry more of them (the inbox's unread count, selected by
        `count` too): the page's first row, or for a page past the end the count's row;
        None for an empty list's first page, whose figures are all nought."""
        rows = await self.page.rows(session, params)
        if rows or offset == 0:
            return rows, rows[0] if rows else None
        return rows, await self.count.first(session, params)


_GENERIC = "SET LOCAL plan_cache_mode = force_generic_plan"


async def _generic_plan_fetch(raw: Any, sql: str, args: list[Any]) -> list[Any]:
    """`sql` run with its generic plan: the prepared statement's plan made once per
    connection for any values. `SET LOCAL` holds until the transaction ends, so the
    setting never outlives the statement, on a pooled connection (PgBouncer's
    transaction mode) either: inside the session's transaction it is set back right
    after (an error aborts the transaction, which drops it); a reading session without
    a transaction gets one of its own, BEGIN and the setting in one round trip."""
    if raw.is_in_transaction():
        await raw.execute(_GENERIC)
        records = await raw.fetch(sql, *args)
        await raw.execute("SET LOCAL plan_cache_mode = DEFAULT")
        return cast("list[Any]", records)
    await raw.execute(f"BEGIN READ ONLY; {_GENERIC}")
    try:
        records = await raw.fetch(sql, *args)
    except BaseException:
        await raw.execute("ROLLBACK")
        raise
    await raw.execute("COMMIT")
    return cast("list[Any]", records)


def _constants_inline(dialect: Dialect) -> Any:
    """The statement's constants (a rule's states: `status == 'active'`,
    `status.in_(UNRESOLVED)`) written into its SQL, as SQLAlchemy writes literals, not
    sent as parameters: the planner then sees them in a plan made once for any values
    (a partial index's predicate, a state's frequency), and an `IN` list of them,
    which SQLAlchemy would expand when run, stays one SQL. Only strings, integers and
    booleans; any other constant stays a parameter. A list whose values come at run
    time stays expanding and is refused."""

    def rendered(element: BindParameter[Any], value: Any) -> Any:
        if isinstance(value, (str, int)):  # bool is an int; StrEnum a str
            process = element.type.literal_processor(dialect)
            if process is not None:
                return literal_column(process(value), type_=element.type)
        return BindParameter(None, value, type_=element.type)

    def replace(element: Any) -> Any:
        # A constant is an anonymous parameter with its value; a named one is given
        # when the statement runs (its value, if any, a default).
        if not isinstance(element, BindParameter) or not element.unique:
            return None
        if element.value is None or callable(element.value):
            return None
        if element.expanding:
            return Grouping(ClauseList(*(rendered(element, v) for v in element.value)))
        return rendered(element, element.value)

    return replace


def ids_in(column: Any, name: str, dialect: Dialect) -> ColumnElement[bool]:
    """`column` among the ids of parameter `name` (given by `ids_value`), for a
    `Statement`: one array parameter on PostgreSQL (`= ANY($n)`: the SQL stays the same
    whatever the number of ids, and the planner still sees them), a JSON array read by
    `json_each` on SQLite. The ids are named, never a subquery: each (org, ...) index
    is then read in one range per id."""
    if dialect.name == "postgresql":
        return column == func.any(bindparam(name, type_=ARRAY(BigInteger)))
    listed: Any = sa_select(literal_column("value")).select_from(
        func.json_each(bindparam(name, type_=String))
    )
    return column.in_(listed.scalar_subquery())


def ids_value(ids: Iterable[int], dialect: Dialect) -> Any:
    """The value of an `ids_in` parameter."""
    ordered = sorted(set(ids))
    return ordered if dialect.name == "postgresql" else json.dumps(ordered)


def _oid(type_: Any) -> int | None:
    """The PostgreSQL type a numeric column comes back as, which is what SQLAlchemy's
    asyncpg conversions of numbers ask for (float8, numeric); None for the others,
    whose conversions do not look at it."""
    if isinstance(type_, Float):
        return 701
    if isinstance(type_, Numeric):
        return 1700
    if isinstance(type_, Integer):
        return 23
    return None


def dialect_of(session: AsyncSession) -> Dialect:
    """The dialect of the database the session's engine talks to."""
    bind = session.bind
    assert bind is not None, "the app's sessions are bound to its engine"
    return bind.dialect


_DRIVER = "chuangwen.driver_connection"
_ROWCOUNT = re.compile(r"(?:SELECT|UPDATE|DELETE|INSERT \d+) (\d+)")
# A statement that writes or locks (SELECT ... FOR UPDATE), refused by a reading session.
_WRITES = re.compile(r"\b(?:INSERT|UPDATE|DELETE)\b")
# What only a transaction holds besides writes: row locks of any strength, advisory
# locks, sequences. A statement with none of it, and no write, is a plain read.
_HOLDS = re.compile(
    r"\bFOR\s+(?:NO\s+KEY\s+)?(?:UPDATE|SHARE)\b|\bFOR\s+KEY\s+SHARE\b"
    r"|\b(?:pg_advisory\w*|nextval|setval)\s*\(",
    re.IGNORECASE,
)


@dataclass
class _PgStatement:
    """A statement compiled for asyncpg: `$n` SQL, where each `$n` comes from, and how
    values go in and come out, as SQLAlchemy's execution would do it."""

    sql: str
    dialect: Dialect
    # A plain read (`_plain_read`): it may run before the request's BEGIN.
    plain_read: bool
    names: tuple[str, ...]
    fixed: Mapping[str, Any]
    defaults: Mapping[str, ColumnDefault]
    binds: Mapping[str, Any]
    row: Any  # a namedtuple class
    writes: bool
    # (index, conversion) of the result columns SQLAlchemy converts (a datetime's
    # zone, JSON); the others come from asyncpg as they are.
    converted: tuple[tuple[int, Any], ...]
    generic_plan: bool = False

    @classmethod
    def of(
        cls, statement: Executable, dialect: Dialect, column_keys: list[str] | None
    ) -> _PgStatement:
        inlined: Any = replacement_traverse(cast(Any, statement), {}, _constants_inline(dialect))
        compiled = cast(SQLCompiler, inlined.compile(dialect=dialect, column_keys=column_keys))
        if "POSTCOMPILE" in compiled.string:
            raise TypeError("a Statement takes no expanding parameters")
        defaults: dict[str, ColumnDefault] = {}
        prefetched = [(c, c.default) for c in compiled.insert_prefetch]
        prefetched += [(c, c.onupdate) for c in compiled.update_prefetch]
        for column, default in prefetched:
            if not isinstance(default, ColumnDefault):
                raise TypeError(f"{column}: a default a Statement cannot compute")
            defaults[column.key] = default
        columns = compiled._result_columns or []
        return cls(
            sql=compiled.string,
            dialect=dialect,
            writes=bool(_WRITES.search(compiled.string)),
            plain_read=_plain_read(compiled.string),
            names=tuple(compiled.positiontup or ()),
            fixed={k: v for k, v in compiled.params.items() if v is not None},
            defaults=defaults,
            binds={k: p for k, p in compiled._bind_processors.items() if p is not None},
            row=namedtuple("Row", [c.keyname for c in columns], rename=True),
            converted=tuple(
                (i, process)
                for i, c in enumerate(columns)
                if (process := c.type._cached_result_processor(dialect, _oid(c.type))) is not None
            ),
        )

    def args(self, params: Mapping[str, Any]) -> list[Any]:
        """The positional arguments for asyncpg; a name no one supplies is a KeyError."""
        out = []
        for name in self.names:
            if name in params:
                value = params[name]
            elif name in self.fixed:
                value = self.fixed[name]
            else:
                default = self.defaults[name]
                value = default.arg(None) if default.is_callable else default.arg
            process = self.binds.get(name)
            out.append(process(value) if process is not None and value is not None else value)
        return out

    async def rows(
        self, session: AsyncSession, params: Mapping[str, Any], *, named: bool = True
    ) -> list[Any]:
        if self.writes:
            _refuse_write(session, "a write or a lock")
        connection = await _in_transaction(session, begin=not self.plain_read)
        try:
            if self.generic_plan:
                records = await _generic_plan_fetch(
                    connection._connection, self.sql, self.args(params)
                )
            else:
                records = await connection._connection.fetch(self.sql, *self.args(params))
        except Exception as error:
            raise await self._translated(session, connection, error, params) from error
        make = self.row._make
        if not self.converted:
            return [make(r) for r in records] if named else records
        out = []
        for record in records:
            values = list(record)
            for i, process in self.converted:
                if values[i] is not None:
                    values[i] = process(values[i])
            out.append(make(values) if named else values)
        return out

    async def execute(self, session: AsyncSession, params: Mapping[str, Any]) -> int:
        if self.writes:
            _refuse_write(session, "a write or a lock")
        connection = await _in_transaction(session, begin=not self.plain_read)
        try:
            status = await connection._connection.execute(self.sql, *self.args(params))
        except Exception as error:
            raise await self._translated(session, connection, error, params) from error
        counted = _ROWCOUNT.match(status or "")
        return int(counted.group(1)) if counted else -1

    async def _translated(
        self, session: AsyncSession, connection: Any, error: Exception, params: Mapping[str, Any]
    ) -> Exception:
        held: HeldConnection | None = session.info.get(_HELD)

        async def invalidate() -> None:
            if held is not None:
                await held.invalidate()
            else:
                await (await session.connection()).invalidate()

        return await _sqlalchemy_error(
            self.dialect, connection, error, self.sql, params, invalidate
        )


async def _sqlalchemy_error(
    dialect: Dialect,
    connection: Any,
    error: Exception,
    sql: str,
    params: Mapping[str, Any],
    invalidate: Callable[[], Awaitable[None]],
) -> Exception:
    """The error as SQLAlchemy would raise it from the same statement on the asyncpg
    adapter `connection`, its parameters hidden as the engine hides them
    (`hide_parameters`): a log of it says they were there, never what they were. A
    connection seen closed is invalidated."""
    dbapi = dialect.loaded_dbapi
    try:
        connection._handle_exception(error)  # raises the DBAPI adapter's error
    except dbapi.Error as adapted:
        invalidated = dialect.is_disconnect(adapted, connection, None)
        if invalidated:
            await invalidate()
        return DBAPIError.instance(
            sql,
            dict(params),
            adapted,
            dbapi.Error,
            hide_parameters=True,
            connection_invalidated=invalidated,
            dialect=dialect,
        )
    except Exception as other:
        return other
    return error


def _plain_read(sql: str) -> bool:
    """A SELECT (or WITH) that neither writes nor holds anything only a transaction
    keeps (`_HOLDS`)."""
    words = sql.split(None, 1)
    return (
        bool(words)
        and words[0].upper() in ("SELECT", "WITH")
        and not _WRITES.search(sql)
        and not _HOLDS.search(sql)
    )


async def _in_transaction(session: AsyncSession, *, begin: bool = True) -> Any:
    """The DBAPI adapter of the session's connection, inside the session's transaction
    (SQLAlchemy's asyncpg adapter begins it lazily, with its first statement; a
    Statement begins it the same way when it is the first).

    A request's plain read that comes before anything else (`begin` false: the
    caller and the stored answer of a creating POST, a record's loader) runs ahead
    of BEGIN. Under READ COMMITTED it sees what it would see inside the transaction
    (each statement takes its own snapshot, and nothing of this transaction exists
    yet), and it takes no lock: BEGIN then goes with the first write, and a request
    that writes nothing (a replayed answer, a 404, a refusal before the write) sends
    neither BEGIN nor ROLLBACK, one round trip instead of three. Once begun, every
    statement runs inside, so a read sees the request's own writes."""
    held: HeldConnection | None = session.info.get(_HELD)
    if held is not None:
        connection = held.driver or await held.checked_out()
        if begin and connection._transaction is None and not connection.autocommit:
            await connection._start_transaction()
        return connection
    transaction = session.sync_session.get_transaction()
    kept = session.info.get(_DRIVER)
    if transaction is not None and kept is not None and kept[0] is transaction:
        connection = kept[1]
    else:
        raw = await (await session.connection()).get_raw_connection()
        connection = raw.dbapi_connection
        session.info[_DRIVER] = (session.sync_session.get_transaction(), connection)
    if connection._transaction is None and not connection.autocommit:
        await connection._start_transaction()
    return connection


def as_loaded(session: AsyncSession, model: type[M], values: Mapping[str, Any]) -> M:
    """The ORM object of a row a Statement read (every column of `model`'s table), in
    the session as if the session had loaded it: changes to it are flushed, and the
    object the session already holds for that row, if any, wins, as with a query."""
    sync = session.sync_session
    mapper = _mapper_of(model)
    key = (mapper._identity_class, _primary_key(model, values), None)
    held = sync.identity_map.get(key)
    if held is not None:
        return cast(M, held)
    # As the ORM builds what it loads: no __init__ (no defaults, no events), the
    # row's values as the object's committed state, what it did not read (its
    # relationships) expired, and the object put straight into the identity map.
    # `make_transient_to_detached` and `Session.add` did the same through the
    # session's attach events and cascades (none apply to a fresh row): 0.3 ms of a
    # check-in's CPU for its two objects (docs/PERFORMANCE.md, round 8).
    instance = mapper.class_manager.new_instance()
    state = instance_state(instance)
    state.dict.update(values)
    state.key = key
    state._commit_all(state.dict)
    state._expire_attributes(state.dict, state.unloaded)
    state.session_id = sync.hash_key
    sync.identity_map.add(state)
    return cast(M, instance)


@cache
def _mapper_of(model: type[SQLModel]) -> Any:
    return class_mapper(model)


def _primary_key(model: type[SQLModel], values: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(values[key] for key in _primary_key_names(model))


@cache
def _primary_key_names(model: type[SQLModel]) -> tuple[str, ...]:
    return tuple(c.key for c in table_of(model).primary_key.columns)


# --- rows read ahead ------------------------------------------------------------------
# A route whose path names one record may have it read in the same round trip as the
# caller (app.edge.access `reads_with_caller`); the row waits here, in the request's
# session, until the route's loader asks for it.

_READ_AHEAD = "chuangwen.read_ahead"


def keep_read_ahead(
    session: AsyncSession, model: type[Any], record_id: int, values: Mapping[str, Any], **extra: Any
) -> None:
    """Keep a row of `model` (every column of its table, by key) and what was read
    with it (`extra`: the org path of its org) for this request's loader."""
    session.info.setdefault(_READ_AHEAD, {})[(model, record_id)] = (values, extra)


def read_ahead(
    session: AsyncSession, model: type[Any], record_id: int
) -> tuple[Mapping[str, Any], dict[str, Any]] | None:
    """The row of `model` read ahead for this request, if any; given out once."""
    kept: dict[Any, Any] | None = session.info.get(_READ_AHEAD)
    return kept.pop((model, record_id), None) if kept else None
