"""The shortcuts the check-in takes for speed (docs/PERFORMANCE.md) answer exactly what
the long way would: the caller read in one query, the answer built without reading
back what the request wrote, the row inserted without a savepoint, pooled connections
checked without a round trip."""

import asyncio
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from app.core.security import TokenClaims
from app.edge.access import caller_for_person, caller_for_token
from app.main import create_app
from app.models.user import Role
from tests.factories.media import make_media
from tests.factories.tasks import PLACE, make_task
from tests.factories.users import auth, make_user

# Everything written here leaves the dashboards' kept sums exact (tests/support/counts.py).
pytestmark = pytest.mark.usefixtures("counts_stay_exact")

HERE = {"lat": PLACE[0], "lng": PLACE[1]}


async def test_the_check_in_answer_is_what_the_member_reads_back_afterwards(client, world):
    task = await make_task(world.app, world["C1"], location=(PLACE[0], PLACE[1], 200))
    member = world.user("member")
    first = await make_media(world.app, member)
    second = await make_media(world.app, member)
    resp = await client.post(
        f"/tasks/{task.id}/check-ins",
        # Repeated and out of upload order: kept once each, in the order given.
        json={
            "lat": PLACE[0] + 0.0005,
            "lng": PLACE[1],
            "photo_ids": [second.id, first.id, second.id],
        },
        headers=world.headers("member"),
    )
    assert resp.status_code == 201, resp.text
    answered = resp.json()
    assert answered["photo_ids"] == [second.id, first.id]
    assert answered["user_name"] == member.name
    assert answered["check_in_distance_m"] > 50

    seen = await client.get(f"/tasks/{task.id}", headers=world.headers("member"))
    assert seen.json()["my_check_in"] == answered


async def test_the_caller_read_in_one_query_is_the_caller_read_the_long_way(world):
    district_admin = world.user("district_admin")
    nowhere = await make_user(world.app, "无社区的巡查员", roles=[(Role.inspector, world["S2"])])
    async with world.app.state.sessionmaker() as session:
        for user in (district_admin, world.user("member"), nowhere):
            assert user.id is not None
            fast = await caller_for_token(session, TokenClaims(user.id, 0))
            slow = await caller_for_person(session, user)
            assert fast is not None
            assert fast.user.id == user.id
            assert fast.grants == slow.grants
        admin = await caller_for_token(session, TokenClaims(district_admin.id or 0, 0))
        assert admin is not None and admin.home == (world["C1"].id, world["C1"].path)
        away = await caller_for_token(session, TokenClaims(nowhere.id or 0, 0))
        assert away is not None and away.home is None
        assert await caller_for_token(session, TokenClaims(2_000_000_000, 0)) is None


async def test_a_user_deleted_after_the_token_was_issued_is_not_authenticated(client, world):
    ghost = await make_user(world.app, "已删除")
    headers = auth(world.app, ghost)
    async with world.app.state.sessionmaker() as session, session.begin():
        await session.delete(await session.get(type(ghost), ghost.id))
    resp = await client.get("/tasks", headers=headers)
    assert resp.status_code == 401


@pytest.mark.pooled
async def test_the_same_member_checking_in_twice_at_once_gets_one_seat(client, world):
    task = await make_task(world.app, world["C1"], capacity=5)
    h = world.headers("member")
    answers = await asyncio.gather(
        *(client.post(f"/tasks/{task.id}/check-ins", json=HERE, headers=h) for _ in range(4))
    )
    assert sorted(r.status_code for r in answers) == [201, 409, 409, 409]
    assert {r.json()["code"] for r in answers if r.status_code == 409} == {"already_checked_in"}
    listed = await client.get(f"/tasks/{task.id}", headers=h)
    assert listed.json()["checked_in_count"] == 1


async def test_a_pooled_connection_the_server_closed_is_not_given_to_a_request(db, tmp_path: Path):
    settings = db.state.settings
    if make_url(settings.database_url).get_backend_name() != "postgresql":
        pytest.skip("a server that closes a connection: PostgreSQL")
    app = create_app(settings.model_copy(update={"storage_local_dir": str(tmp_path)}))
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test"
        ) as c:
            assert (await c.get("/readyz")).status_code == 200
            async with app.state.engine.connect() as conn:
                pooled = (await conn.get_raw_connection()).driver_connection
            closed = asyncio.Event()
            pooled.add_termination_listener(lambda _: closed.set())
            # The server ends the idle connection, as a restart or an idle timeout would.
            dsn = make_url(settings.database_url).set(drivername="postgresql")
            admin = await asyncpg.connect(dsn.render_as_string(hide_password=False))
            try:
                await admin.execute("SELECT pg_terminate_backend($1)", pooled.get_server_pid())
            finally:
                await admin.close()
            await asyncio.wait_for(closed.wait(), timeout=10)

            assert (await c.get("/readyz")).status_code == 200
            async with app.state.engine.connect() as conn:
                assert (await conn.get_raw_connection()).driver_connection is not pooled
    finally:
        await app.state.engine.dispose()


async def test_a_check_in_reads_the_caller_the_task_and_the_stored_answer_in_one_round_trip(
    client, world, monkeypatch
):
    """The caller with the task and the stored answer (a plain read, ahead of BEGIN),
    BEGIN, the row and seat, the key's record, COMMIT: five round trips on PostgreSQL;
    the same check-in replayed is the first of them alone (docs/PERFORMANCE.md,
    round 10)."""
    if world.app.state.settings.is_sqlite:
        pytest.skip("round trips to PostgreSQL")
    task = await make_task(world.app, world["C1"])
    # The first word of each statement sent; BEGIN comes as "BEGIN;" or, on a pooled
    # connection another test gave an isolation level, "BEGIN ISOLATION LEVEL ...".
    sent: list[str] = []
    do_execute, execute = asyncpg.Connection._do_execute, asyncpg.Connection.execute

    async def extended(self, query, *args, **kwargs):  # every statement with arguments
        sent.append(query.split(None, 1)[0].rstrip(";").upper())
        return await do_execute(self, query, *args, **kwargs)

    async def simple(self, query, *args, **kwargs):  # with arguments it goes to the above
        if not args:
            sent.append(query.split(None, 1)[0].rstrip(";").upper())
        return await execute(self, query, *args, **kwargs)

    monkeypatch.setattr(asyncpg.Connection, "_do_execute", extended)
    monkeypatch.setattr(asyncpg.Connection, "execute", simple)
    headers = {**world.headers("member"), "Idempotency-Key": "five-trips"}
    resp = await client.post(f"/tasks/{task.id}/check-ins", json=HERE, headers=headers)
    assert resp.status_code == 201, resp.text
    assert sent == ["SELECT", "BEGIN", "WITH", "INSERT", "COMMIT"]
    sent.clear()
    replayed = await client.post(f"/tasks/{task.id}/check-ins", json=HERE, headers=headers)
    assert (replayed.status_code, replayed.json()) == (201, resp.json())
    assert sent == ["SELECT"]
