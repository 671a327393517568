"""Reads that may be a few seconds old, from a streaming replica (DATABASE_REPLICA_URL).

Dashboards, rankings, statistics and ledger exports read many rows and decide nothing:
they read from the replica when one is configured, answers, and is no further behind
the primary than REPLICA_MAX_LAG_S. Everything else (a person's own writes and what
they read back, who is calling, anything that decides a write) reads the primary.

The replica's state is checked at most once a second, by the request that needs it
(no background task): its lag as PostgreSQL reports it on a standby, within a short
timeout. A replica that does not answer in time, refuses, or lags too far sends reads
to the primary until a later check finds it well again. /readyz shows the state and
/metrics the lag (`chuangwen_replica_lag_seconds`, `chuangwen_replica_in_use`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Gauge
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.core.config import Settings
from app.core.db import create_engine, create_sessionmaker, postgres_connect_args, read_only

logger = logging.getLogger("app.replica")

# How long the replica's state is trusted before it is checked again, and how long a
# check may take before the replica counts as not answering.
CHECK_INTERVAL_S = 1.0
CHECK_TIMEOUT_S = 1.0

# Seconds since the last transaction the standby replayed, or 0 when it has replayed
# everything it received (an idle primary sends nothing: no lag, however long ago).
_LAG = text(
    "SELECT CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0"
    " ELSE EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) END,"
    " pg_is_in_recovery()"
)


@dataclass
class ReplicaState:
    # in_use: reads go to it; lagging: it answers but is too far behind;
    # unavailable: it did not answer the last check; none: no replica configured.
    state: str
    lag_s: float | None = None

    def as_json(self, max_lag_s: float) -> dict[str, Any]:
        lag = None if self.lag_s is None else round(self.lag_s, 3)
        return {"state": self.state, "lag_s": lag, "max_lag_s": max_lag_s}


class Replica:
    """The replica's engine and its last known state; `None` engine: no replica."""

    def __init__(self, settings: Settings, registry: CollectorRegistry | None = None):
        self.max_lag_s = settings.replica_max_lag_s
        self.engine: AsyncEngine | None = None
        self.sessionmaker: async_sessionmaker[AsyncSession] | None = None
        self.current = ReplicaState("none")
        self._checked = -float("inf")
        self._lock = asyncio.Lock()
        if settings.database_replica_url and not settings.is_sqlite:
            replica_settings = settings.model_copy(
                update={"database_url": settings.database_replica_url}
            )
            self.engine = create_engine(
                replica_settings,
                pool_timeout=CHECK_TIMEOUT_S,
                # A replica that does not answer is given up on in a second, not
                # asyncpg's minute.
                connect_args={**postgres_connect_args(settings), "timeout": CHECK_TIMEOUT_S},
            )
            self.sessionmaker = create_sessionmaker(self.engine)
            self.current = ReplicaState("unavailable")
        self._lag_gauge = self._in_use_gauge = None
        if registry is not None:
            self._lag_gauge = Gauge(
                "chuangwen_replica_lag_seconds",
                "How far the read replica is behind the primary (last check; -1: no answer)",
                registry=registry,
            )
            self._in_use_gauge = Gauge(
                "chuangwen_replica_in_use",
                "1 when dashboards, statistics and exports read from the replica",
                registry=registry,
            )

    async def state(self) -> ReplicaState:
        """The replica's state, checked again when the last check is over a second old."""
        if self.engine is None:
            return self.current
        if time.monotonic() - self._checked < CHECK_INTERVAL_S:
            return self.current
        async with self._lock:
            if time.monotonic() - self._checked >= CHECK_INTERVAL_S:
                self.current = await self._check()
                self._checked = time.monotonic()
                self._publish()
        return self.current

    async def _check(self) -> ReplicaState:
        assert self.engine is not None
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_S), self.engine.connect() as conn:
                lag, in_recovery = (await conn.execute(_LAG)).one()
        except Exception as exc:  # down, refusing, too slow: the primary serves
            if self.current.state != "unavailable":
                logger.warning("read replica unavailable: %s", type(exc).__name__)
            # A connection that hung may be half-used: start afresh next time.
            await self.engine.dispose()
            return ReplicaState("unavailable")
        if not in_recovery:
            # Promoted (a failover) or misconfigured: not a replica of anything.
            return ReplicaState("unavailable")
        lag_s = float(lag or 0)
        return ReplicaState("in_use" if lag_s <= self.max_lag_s else "lagging", lag_s)

    def _publish(self) -> None:
        if self._lag_gauge is not None and self._in_use_gauge is not None:
            lag = self.current.lag_s
            self._lag_gauge.set(-1 if lag is None else lag)
            self._in_use_gauge.set(1 if self.current.state == "in_use" else 0)

    @asynccontextmanager
    async def session(self, *, in_transaction: bool = False) -> AsyncIterator[AsyncSession | None]:
        """A reading session on the replica, or None when reads go to the primary;
        `in_transaction` for reads through a server-side cursor (the ledgers)."""
        if self.sessionmaker is None or (await self.state()).state != "in_use":
            yield None
            return
        async with self.sessionmaker() as session:
            try:
                # Its connection now: a replica gone since the last check (refused,
                # silent) is found here, before the endpoint depends on it.
                async with asyncio.timeout(CHECK_TIMEOUT_S):
                    if in_transaction:
                        await session.connection()
                    else:
                        await read_only(session)
            except Exception as exc:
                logger.warning("read replica unavailable: %s", type(exc).__name__)
                self.current, self._checked = ReplicaState("unavailable"), time.monotonic()
                self._publish()
                yield None
                return
            yield session

    async def dispose(self) -> None:
        if self.engine is not None:
            await self.engine.dispose()
