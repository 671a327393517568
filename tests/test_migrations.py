"""The Alembic migrations: one head, up and down cleanly, and the models match the DDL."""

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from alembic import command
from app.core.config import to_async_url
from app.core.db import metadata
from tests.conftest import POSTGRES_ADMIN_URL, ROOT, _admin, _postgres_available


def alembic_config(url: str) -> Config:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.attributes["database_url"] = url
    cfg.attributes["configure_logger"] = False
    return cfg


def in_thread(fn, *args):
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn, *args).result()


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    if reason := _postgres_available():
        pytest.skip(reason)
    name = f"chuangwen_mig_{uuid.uuid4().hex[:10]}"
    _admin(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_there_is_exactly_one_head():
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1


def _diff(url: str) -> list:
    async def run():
        engine = create_async_engine(to_async_url(url))
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda c: compare_metadata(
                    MigrationContext.configure(c, opts={"compare_type": True}), metadata
                )
            )
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        await engine.dispose()
        return diff, tables

    return in_thread(asyncio.run, run())


def test_upgrade_creates_what_the_models_declare_and_downgrade_removes_it(empty_database):
    cfg = alembic_config(empty_database)
    in_thread(command.upgrade, cfg, "head")
    diff, tables = _diff(empty_database)
    assert diff == []
    assert {t.name for t in metadata.sorted_tables} <= tables

    in_thread(command.downgrade, cfg, "base")
    _, tables = _diff(empty_database)
    assert tables <= {"alembic_version"}

    in_thread(command.upgrade, cfg, "head")
    diff, _ = _diff(empty_database)
    assert diff == []
