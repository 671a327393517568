"""Turns at the PostgreSQL pool (app.edge.admission.connection_turn): a burst larger
than the pool is served in turn, and a request that gets no turn in time answers 503."""

import asyncio

import httpx
import pytest

from app.edge import admission
from app.main import create_app
from tests.factories.tasks import PLACE, make_task
from tests.factories.users import auth, make_user
from tests.factories.world import build_world

HERE = {"lat": PLACE[0], "lng": PLACE[1]}


async def test_a_burst_larger_than_the_pool_is_served_in_turn(db, tmp_path):
    """Requests wait for a connection at app.edge.admission.connection_turn, one turn per
    pooled connection, so every request of a burst gets one."""
    settings = db.state.settings
    if settings.is_sqlite:
        pytest.skip("SQLite pools no connections")
    app = create_app(
        settings.model_copy(
            update={
                "storage_local_dir": str(tmp_path),
                "database_pool_size": 2,
                "database_max_overflow": 0,
            }
        )
    )
    try:
        world = await build_world(app)
        task = await make_task(app, world["C1"])
        members = [await make_user(app, f"成员{i}", community=world["C1"]) for i in range(12)]
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test/api/v1"
        ) as c:
            answers = await asyncio.gather(
                *(
                    c.post(f"/tasks/{task.id}/check-ins", json=HERE, headers=auth(app, m))
                    for m in members
                ),
                *(c.get(f"/tasks/{task.id}", headers=auth(app, m)) for m in members),
            )
        assert [a.status_code for a in answers] == [201] * 12 + [200] * 12
        assert app.state.connection_turns._value == 2  # every turn given back
        assert app.state.engine.pool.checkedout() == 0
    finally:
        await app.state.engine.dispose()


async def test_a_request_that_gets_no_turn_at_the_pool_in_time_answers_503(
    db, tmp_path, monkeypatch
):
    settings = db.state.settings
    if settings.is_sqlite:
        pytest.skip("SQLite pools no connections")
    monkeypatch.setattr(admission, "TURN_TIMEOUT_S", 0.2)
    app = create_app(
        settings.model_copy(update={"storage_local_dir": str(tmp_path), "database_pool_size": 1})
    )
    try:
        world = await build_world(app)
        task = await make_task(app, world["C1"])
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test/api/v1"
        ) as c:
            h = world.headers("member")
            assert (await c.get(f"/tasks/{task.id}", headers=h)).status_code == 200
            await app.state.connection_turns.acquire()  # the one turn, held elsewhere
            try:
                for send in (
                    c.get(f"/tasks/{task.id}", headers=h),
                    c.post(f"/tasks/{task.id}/check-ins", json=HERE, headers=h),
                ):
                    resp = await send
                    assert resp.status_code == 503
                    assert resp.json()["code"] == "service_unavailable"
            finally:
                app.state.connection_turns.release()
            resp = await c.post(f"/tasks/{task.id}/check-ins", json=HERE, headers=h)
            assert resp.status_code == 201
    finally:
        await app.state.engine.dispose()
