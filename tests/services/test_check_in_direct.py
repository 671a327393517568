"""The check-in's direct path on PostgreSQL (app/services/check_in_direct.py) answers
only what the general path would answer, the same way, and leaves everything else to
it. Every other check-in test runs through it too on PostgreSQL; these check that it
really answered, that its answer is the general path's, and that each refusal reads
the same whichever path the request started on."""

import asyncio
import json
import math
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from app.core.pg_direct import DirectStatement, driver_connection
from app.edge import admission
from app.main import create_app
from app.models.idempotency import IdempotencyRecord
from app.services import check_in_direct
from app.services.tasks import EARTH_RADIUS_M
from tests.factories.media import make_media
from tests.factories.tasks import PLACE, make_check_in, make_task
from tests.factories.users import auth, make_user
from tests.factories.world import World, build_world

# Everything written here leaves the dashboards' kept sums exact (tests/support/counts.py).
pytestmark = pytest.mark.usefixtures("counts_stay_exact")

HERE = {"lat": PLACE[0], "lng": PLACE[1]}
OUTCOMES = ("answered", "replayed", "declined", "failed")


def outcomes(world: World) -> dict[str, float]:
    registry = world.app.state.metrics_registry
    return {
        o: registry.get_sample_value("chuangwen_check_in_direct_total", {"outcome": o}) or 0.0
        for o in OUTCOMES
    }


def on_postgres(world: World) -> None:
    if world.app.state.settings.is_sqlite:
        pytest.skip("the direct path is for PostgreSQL")


def direct_path(monkeypatch: pytest.MonkeyPatch, world: World, on: bool) -> None:
    monkeypatch.setattr(world.app.state.settings, "check_in_direct", on)


async def test_a_plain_check_in_is_answered_directly_with_the_general_paths_answer(
    client, world, monkeypatch
):
    on_postgres(world)
    task = await make_task(world.app, world["C1"], location=(PLACE[0], PLACE[1], 300))
    near = {"lat": PLACE[0] + math.degrees(120 / EARTH_RADIUS_M), "lng": PLACE[1]}
    before = outcomes(world)
    key = {"Idempotency-Key": "direct-1"}
    direct = await client.post(
        f"/tasks/{task.id}/check-ins", json=near, headers={**world.headers("member"), **key}
    )
    assert direct.status_code == 201, direct.text
    assert outcomes(world)["answered"] == before["answered"] + 1

    direct_path(monkeypatch, world, on=False)
    general = await client.post(
        f"/tasks/{task.id}/check-ins", json=near, headers=world.headers("community_admin")
    )
    assert general.status_code == 201, general.text
    assert outcomes(world)["answered"] == before["answered"] + 1

    mine, theirs = direct.json(), general.json()
    assert mine.keys() == theirs.keys()
    assert mine["user_name"] == "党员甲" and mine["task_id"] == task.id
    assert mine["check_in_distance_m"] == theirs["check_in_distance_m"] == 120.0
    assert mine["photo_ids"] == theirs["photo_ids"] == []
    # The same serializer: the same JSON text, datetimes in the same form.
    same_form = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")
    assert same_form.fullmatch(mine["checked_in_at"]) and same_form.fullmatch(
        theirs["checked_in_at"]
    )
    assert direct.headers["content-type"] == general.headers["content-type"]
    # What the member reads back afterwards is what the direct path answered.
    shown = await client.get(f"/tasks/{task.id}", headers=world.headers("member"))
    assert shown.json()["my_check_in"] == mine
    assert shown.json()["checked_in_count"] == 2
    # The answer kept for a retry is the answer sent.
    sealed, status = await stored_answer(world, "direct-1")
    assert (world.app.state.cipher.decrypt(sealed), status) == (direct.text, 201)


async def test_a_retry_is_replayed_on_the_direct_path(client, world):
    on_postgres(world)
    task = await make_task(world.app, world["C1"])
    h = {**world.headers("member"), "Idempotency-Key": "direct-retry"}
    first = await client.post(f"/tasks/{task.id}/check-ins", json=HERE, headers=h)
    before = outcomes(world)
    second = await client.post(f"/tasks/{task.id}/check-ins", json=HERE, headers=h)
    assert (first.status_code, second.status_code) == (201, 201)
    assert second.text == first.text
    assert second.headers["Idempotent-Replayed"] == "true"
    assert outcomes(world)["replayed"] == before["replayed"] + 1
    reused = await client.post(
        f"/tasks/{task.id}/check-ins", json={**HERE, "lat": PLACE[0] + 0.0001}, headers=h
    )
    assert reused.status_code == 422
    assert reused.json()["code"] == "idempotency_key_reused"


async def stored_answer(world: World, key: str) -> tuple[str, int]:
    async with world.app.state.sessionmaker() as session:
        row = (
            await session.execute(
                select(IdempotencyRecord.response_body, IdempotencyRecord.status_code).where(
                    IdempotencyRecord.key == key
                )
            )
        ).one()
    return row.response_body, row.status_code


async def test_an_answer_kept_on_the_direct_path_is_sealed_and_still_replays(client, world):
    on_postgres(world)
    task = await make_task(world.app, world["C1"])
    h = {**world.headers("member"), "Idempotency-Key": "direct-sealed"}
    before = outcomes(world)
    first = await client.post(f"/tasks/{task.id}/check-ins", json=HERE, headers=h)
    assert first.status_code == 201
    assert first.json()["user_name"] == "党员甲"
    sealed, _ = await stored_answer(world, "direct-sealed")
    assert "党员甲" not in sealed and "user_name" not in sealed
    second = await client.post(f"/tasks/{task.id}/check-ins", json=HERE, headers=h)
    assert second.text == first.text
    after = outcomes(world)
    assert (after["answered"], after["replayed"]) == (
        before["answered"] + 1,
        before["replayed"] + 1,
    )


async def test_on_sqlite_every_check_in_takes_the_general_path(client, world):
    if not world.app.state.settings.is_sqlite:
        pytest.skip("SQLite only")
    task = await make_task(world.app, world["C1"])
    before = outcomes(world)
    resp = await client.post(
        f"/tasks/{task.id}/check-ins", json=HERE, headers=world.headers("member")
    )
    assert resp.status_code == 201
    assert outcomes(world) == before


# Each case: the request to send, given the world; set up afresh for each path.
Case = Callable[[httpx.AsyncClient, World], Awaitable[httpx.Response]]


def _post(task_id: int | str, body: dict, headers: dict[str, str]):
    async def send(client: httpx.AsyncClient) -> httpx.Response:
        return await client.post(f"/tasks/{task_id}/check-ins", json=body, headers=headers)

    return send


async def _other_community(client, w):
    task = await make_task(w.app, w["C2"])
    return await _post(task.id, HERE, w.headers("member"))(client)


async def _admin_away_from_home(client, w):
    task = await make_task(w.app, w["C2"])
    return await _post(task.id, HERE, w.headers("street_admin"))(client)


async def _no_such_task(client, w):
    return await _post(999_999, HERE, w.headers("member"))(client)


async def _not_started(client, w):
    now = datetime.now(UTC)
    task = await make_task(
        w.app, w["C1"], starts_at=now + timedelta(hours=1), ends_at=now + timedelta(hours=2)
    )
    return await _post(task.id, HERE, w.headers("member"))(client)


async def _ended(client, w):
    now = datetime.now(UTC)
    task = await make_task(
        w.app, w["C1"], starts_at=now - timedelta(hours=2), ends_at=now - timedelta(minutes=1)
    )
    return await _post(task.id, HERE, w.headers("member"))(client)


async def _too_far(client, w):
    task = await make_task(w.app, w["C1"], location=(PLACE[0], PLACE[1], 100))
    return await _post(task.id, {"lat": PLACE[0] + 0.01, "lng": PLACE[1]}, w.headers("member"))(
        client
    )


async def _twice(client, w):
    task = await make_task(w.app, w["C1"])
    await make_check_in(w.app, task, w.user("member"))
    return await _post(task.id, HERE, w.headers("member"))(client)


async def _full(client, w):
    task = await make_task(w.app, w["C1"], capacity=1)
    await make_check_in(w.app, task, w.user("community_admin"))
    # make_check_in writes the row only: the seat as a check-in would have taken it.
    async with w.app.state.sessionmaker() as session, session.begin():
        (await session.get(type(task), task.id)).checked_in_count = 1  # type: ignore[union-attr]
    return await _post(task.id, HERE, w.headers("member"))(client)


async def _someone_elses_photo(client, w):
    task = await make_task(w.app, w["C1"])
    photo = await make_media(w.app, w.user("community_admin"))
    return await _post(task.id, {**HERE, "photo_ids": [photo.id]}, w.headers("member"))(client)


async def _no_token(client, w):
    task = await make_task(w.app, w["C1"])
    return await _post(task.id, HERE, {})(client)


async def _bad_token(client, w):
    task = await make_task(w.app, w["C1"])
    return await _post(task.id, HERE, {"Authorization": "Bearer not-a-token"})(client)


async def _deleted_person(client, w):
    ghost = await make_user(w.app, "已删除", community=w["C1"])
    headers = auth(w.app, ghost)
    async with w.app.state.sessionmaker() as session, session.begin():
        await session.delete(await session.get(type(ghost), ghost.id))
    task = await make_task(w.app, w["C1"])
    return await _post(task.id, HERE, headers)(client)


async def _latitude_out_of_range(client, w):
    task = await make_task(w.app, w["C1"])
    return await _post(task.id, {"lat": 91, "lng": PLACE[1]}, w.headers("member"))(client)


async def _unknown_field(client, w):
    task = await make_task(w.app, w["C1"])
    return await _post(task.id, {**HERE, "user_id": 1}, w.headers("member"))(client)


async def _not_json(client, w):
    task = await make_task(w.app, w["C1"])
    return await client.post(
        f"/tasks/{task.id}/check-ins",
        content=b"lat=1&lng=2",
        headers={**w.headers("member"), "Content-Type": "application/x-www-form-urlencoded"},
    )


def _raw(content: bytes):
    async def send(client, w):
        task = await make_task(w.app, w["C1"])
        return await client.post(
            f"/tasks/{task.id}/check-ins",
            content=content,
            headers={**w.headers("member"), "Content-Type": "application/json"},
        )

    return send


async def _task_id_out_of_range(client, w):
    return await _post(2**40, HERE, w.headers("member"))(client)


async def _key_too_long(client, w):
    task = await make_task(w.app, w["C1"])
    return await _post(task.id, HERE, {**w.headers("member"), "Idempotency-Key": "k" * 201})(client)


async def _task_id_in_other_digits(client, w):
    # Python's int() reads "١٢" as 12; FastAPI (pydantic) refuses it.
    task = await make_task(w.app, w["C1"])
    digits = str(task.id).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    return await _post(digits, HERE, w.headers("member"))(client)


async def _json_lookalike_media_type(client, w):
    task = await make_task(w.app, w["C1"])
    return await client.post(
        f"/tasks/{task.id}/check-ins",
        content=json.dumps(HERE).encode(),
        headers={**w.headers("member"), "Content-Type": "application/jsonx"},
    )


REFUSALS: dict[str, tuple[Case, int, str]] = {
    "a task of another community": (_other_community, 404, "not_found"),
    "an admin's task away from home": (_admin_away_from_home, 403, "forbidden"),
    "no such task": (_no_such_task, 404, "not_found"),
    "not started": (_not_started, 422, "task_not_active"),
    "ended": (_ended, 422, "task_not_active"),
    "too far away": (_too_far, 422, "outside_geofence"),
    "checked in already": (_twice, 409, "already_checked_in"),
    "full": (_full, 409, "task_full"),
    "someone else's photo": (_someone_elses_photo, 422, "invalid_photo"),
    "no token": (_no_token, 401, "not_authenticated"),
    "a bad token": (_bad_token, 401, "not_authenticated"),
    "a deleted person": (_deleted_person, 401, "not_authenticated"),
    "latitude out of range": (_latitude_out_of_range, 422, "validation_error"),
    "an unknown field": (_unknown_field, 422, "validation_error"),
    "not JSON": (_not_json, 422, "validation_error"),
    "malformed JSON": (_raw(b'{"lat": 1,'), 400, "malformed_json"),
    "JSON nested deeper than the parser goes": (_raw(b"[" * 100_000), 400, "malformed_json"),
    "JSON in bytes that are not UTF-8": (_raw(b'{"lat": "\xff"}'), 400, "malformed_json"),
    "task id out of range": (_task_id_out_of_range, 422, "validation_error"),
    "task id in other digits": (_task_id_in_other_digits, 422, "validation_error"),
    "a media type only like JSON's": (_json_lookalike_media_type, 422, "validation_error"),
    "an Idempotency-Key too long": (_key_too_long, 422, "validation_error"),
}


@pytest.mark.parametrize("case", REFUSALS, ids=list(REFUSALS))
async def test_a_refusal_reads_the_same_whichever_path_the_check_in_started_on(
    client, world, monkeypatch, case
):
    send, status, code = REFUSALS[case]
    answers = {}
    for on in (False, True):
        direct_path(monkeypatch, world, on=on)
        before = outcomes(world)
        resp = await send(client, world)
        answers[on] = (resp.status_code, resp.json().get("code"), resp.json().get("detail"))
        assert outcomes(world)["answered"] == before["answered"]
        assert outcomes(world)["failed"] == before["failed"]
    assert answers[True] == answers[False]
    assert answers[True][:2] == (status, code)


async def test_a_database_error_on_the_direct_path_leaves_the_check_in_to_the_general_path(
    client, world, monkeypatch
):
    on_postgres(world)
    broken = DirectStatement(sql="SELECT * FROM no_such_table", names=(), fixed={}, defaults={})
    monkeypatch.setattr(check_in_direct, "_READ", broken)
    task = await make_task(world.app, world["C1"])
    before = outcomes(world)
    resp = await client.post(
        f"/tasks/{task.id}/check-ins", json=HERE, headers=world.headers("member")
    )
    assert resp.status_code == 201
    assert outcomes(world)["failed"] == before["failed"] + 1
    shown = await client.get(f"/tasks/{task.id}", headers=world.headers("member"))
    assert shown.json()["checked_in_count"] == 1


async def test_a_connection_given_back_inside_a_transaction_is_not_pooled(db):
    if db.state.settings.is_sqlite:
        pytest.skip("the direct path is for PostgreSQL")
    async with driver_connection(db.state.engine) as connection:
        await connection.execute("BEGIN")
        await connection.execute("CREATE TEMPORARY TABLE leftover (x int)")
        left = connection
    assert left.is_closed()
    async with driver_connection(db.state.engine) as connection:
        assert not connection.is_in_transaction()
        assert await connection.fetchval("SELECT to_regclass('pg_temp.leftover')") is None


def test_every_parameter_of_the_direct_statements_is_supplied_as_sqlalchemy_would():
    read = check_in_direct._READ
    given = {"token_sub": 1, "token_ver": 0, "task_id": 2, "principal": None, "key": None}
    assert dict(zip(read.names, read.args(given), strict=True)) == given
    now = datetime.now(UTC)
    given = {
        "new_task_id": 1,
        "new_org_id": 2,
        "new_user_id": 3,
        "new_checked_in_at": now,
        "new_lat": 1.0,
        "new_lng": 2.0,
        "new_created_at": now,
    }
    seat = check_in_direct._ROW_AND_SEAT
    sent = dict(zip(seat.names, seat.args(given), strict=True))
    # The seat's +1 bound in the statement, and the task's updated_at (its onupdate).
    assert sent.pop("checked_in_count_1") == 1
    updated_at = sent.pop("updated_at")
    assert updated_at.tzinfo is not None and abs(updated_at - now) < timedelta(minutes=1)
    assert sent == given
    record = check_in_direct._RECORD
    assert set(record.names) == {
        "principal",
        "key",
        "request_hash",
        "status_code",
        "response_body",
        "created_at",
    }


async def test_a_burst_larger_than_the_pool_is_served_in_turn(db, tmp_path):
    """Requests wait for a connection at app.edge.admission.connection_turn, one turn per
    pooled connection, so every request of a burst gets one, direct or general."""
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
