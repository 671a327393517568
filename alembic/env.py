"""Migrations run against DATABASE_URL through the same async drivers as the app."""

import asyncio
from logging.config import fileConfig
from typing import Any, Literal

from sqlalchemy import pool
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlmodel.sql.sqltypes import AutoString

from alembic import context
from app import models  # noqa: F401  (registers every table on the metadata)
from app.core.config import Settings, to_async_url
from app.core.db import UTCDateTime, metadata

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = metadata


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    """Write our column types as the plain SQLAlchemy types they compile to."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if type_ == "type" and isinstance(obj, AutoString):
        return f"sa.String(length={obj.length})" if obj.length else "sa.String()"
    return False


def database_url() -> str:
    # Tests hand a URL over through the config; everyone else uses the settings.
    url = config.attributes.get("database_url") or Settings().database_url
    return to_async_url(url)


def _ensure_sqlite_folder(url: str) -> None:
    from pathlib import Path

    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)


def run_migrations_offline() -> None:
    context.configure(
        url=database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=True,
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds tables instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations(connectable: AsyncEngine | None = None) -> None:
    if connectable is None:
        url = database_url()
        _ensure_sqlite_folder(url)
        connectable = create_async_engine(url, poolclass=pool.NullPool)
    async with connectable.connect() as connection:
        await connection.run_sync(do_run_migrations)
    # Its connections belong to this loop, which ends here.
    await connectable.dispose()


def run_migrations_online() -> None:
    # A caller may hand over a Connection, an Engine or an AsyncEngine (pytest-alembic
    # hands over the engine its tests run on).
    connectable = config.attributes.get("connection")
    if connectable is None or isinstance(connectable, AsyncEngine):
        asyncio.run(run_async_migrations(connectable))
    elif isinstance(connectable, Engine):
        with connectable.begin() as connection:
            do_run_migrations(connection)
    else:
        do_run_migrations(connectable)


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
