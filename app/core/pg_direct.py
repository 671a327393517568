"""SQLAlchemy statements run on asyncpg's own connection, past SQLAlchemy's execution.

For the one request whose throughput is a goal, the check-in
(app/services/check_in_direct.py). Through an AsyncSession a statement costs 0.2-0.5
ms of CPU (the greenlet hand-over, the compiled-cache lookup, the DBAPI adapter,
result processing); asyncpg alone takes ~0.05 ms. The statements are still built
with SQLAlchemy, from the same tables and where possible the very constructs the
general path executes, and compiled once here: the SQL is SQLAlchemy's, not a copy.

What SQLAlchemy's execution would add is added here: literal values bound in the
statement and the columns' Python-side defaults (`updated_at`'s onupdate). Values are
passed to asyncpg as they are: the datetimes the app makes are aware, which asyncpg
sends as timestamptz like UTCDateTime does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, cast

import asyncpg
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.schema import ColumnDefault

_DIALECT = asyncpg_dialect()


@dataclass(frozen=True)
class DirectStatement:
    """A statement compiled for asyncpg: `$n` SQL and where each `$n` comes from."""

    sql: str
    names: tuple[str, ...]
    fixed: Mapping[str, Any]
    defaults: Mapping[str, ColumnDefault]

    @classmethod
    def of(cls, statement: ClauseElement, column_keys: list[str] | None = None) -> DirectStatement:
        compiled = cast(SQLCompiler, statement.compile(dialect=_DIALECT, column_keys=column_keys))
        names = tuple(compiled.positiontup or ())
        defaults: dict[str, ColumnDefault] = {}
        prefetched = [(c, c.default) for c in compiled.insert_prefetch]
        prefetched += [(c, c.onupdate) for c in compiled.update_prefetch]
        for column, default in prefetched:
            if not isinstance(default, ColumnDefault):
                raise TypeError(f"{column}: a default this module cannot compute")
            defaults[column.key] = default
        fixed = {k: v for k, v in compiled.params.items() if v is not None}
        return cls(sql=compiled.string, names=names, fixed=fixed, defaults=defaults)

    def args(self, params: Mapping[str, Any]) -> list[Any]:
        """The positional arguments for asyncpg; a name no one supplies is a KeyError."""
        out = []
        for name in self.names:
            if name in params:
                out.append(params[name])
            elif name in self.fixed:
                out.append(self.fixed[name])
            else:
                default = self.defaults[name]
                out.append(default.arg(None) if default.is_callable else default.arg)
        return out

    async def fetchrow(
        self, connection: asyncpg.Connection, params: Mapping[str, Any]
    ) -> asyncpg.Record | None:
        return await connection.fetchrow(self.sql, *self.args(params))

    async def execute(self, connection: asyncpg.Connection, params: Mapping[str, Any]) -> None:
        await connection.execute(self.sql, *self.args(params))


@asynccontextmanager
async def driver_connection(engine: AsyncEngine) -> AsyncIterator[asyncpg.Connection]:
    """A connection of the app's own pool as asyncpg's object (no second pool).

    The user runs its own transaction on it, which SQLAlchemy does not know about: a
    connection given back inside one (a request cancelled mid-way whose rollback
    did not get through) is thrown away, never pooled, so that no later request
    commits its leftovers.
    """
    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        driver: asyncpg.Connection = raw.driver_connection
        try:
            yield driver
        finally:
            if driver.is_closed() or driver.is_in_transaction():
                await connection.invalidate()
