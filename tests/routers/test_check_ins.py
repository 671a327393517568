"""The check-in, POST /tasks/{id}/check-ins: one path on both databases (the edge's
steps, the dependencies, app.services.tasks.check_in). The caller, the task and the
answer stored under the Idempotency-Key are read in one round trip
(app.edge.access `reads_with_caller`); these check that what it answers, keeps and
refuses is the same with a key and without one, for members, admins and volunteers."""

import asyncio
import json
import math
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from app.edge import admission
from app.main import create_app
from app.models.idempotency import IdempotencyRecord
from app.services.tasks import EARTH_RADIUS_M
from tests.factories.media import make_media
from tests.factories.tasks import PLACE, make_check_in, make_task
from tests.factories.users import auth, make_user
from tests.factories.world import World, build_world

# Everything written here leaves the dashboards' kept sums exact (tests/support/counts.py).
pytestmark = pytest.mark.usefixtures("counts_stay_exact")

HERE = {"lat": PLACE[0], "lng": PLACE[1]}
SAME_FORM = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")


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


async def test_a_check_in_answers_what_the_member_reads_back_and_keeps_it_sealed_for_a_retry(
    client, world
):
    task = await make_task(world.app, world["C1"], location=(PLACE[0], PLACE[1], 300))
    near = {"lat": PLACE[0] + math.degrees(120 / EARTH_RADIUS_M), "lng": PLACE[1]}
    h = {**world.headers("member"), "Idempotency-Key": "check-in-1"}
    first = await client.post(f"/tasks/{task.id}/check-ins", json=near, headers=h)
    assert first.status_code == 201, first.text
    mine = first.json()
    assert mine["user_name"] == "党员甲" and mine["task_id"] == task.id
    assert mine["check_in_distance_m"] == 120.0 and mine["photo_ids"] == []
    assert SAME_FORM.fullmatch(mine["checked_in_at"])
    assert first.headers["content-type"] == "application/json"
    # What the member reads back afterwards is what the check-in answered.
    shown = await client.get(f"/tasks/{task.id}", headers=world.headers("member"))
    assert shown.json()["my_check_in"] == mine
    assert shown.json()["checked_in_count"] == 1
    # The answer kept for a retry is the answer sent, sealed: no name in the clear.
    sealed, status = await stored_answer(world, "check-in-1")
    assert (world.app.state.cipher.decrypt(sealed), status) == (first.text, 201)
    assert "党员甲" not in sealed and "user_name" not in sealed
    # A retry is replayed, a different request under the same key refused.
    second = await client.post(f"/tasks/{task.id}/check-ins", json=near, headers=h)
    assert (second.status_code, second.text) == (201, first.text)
    assert second.headers["Idempotent-Replayed"] == "true"
    reused = await client.post(f"/tasks/{task.id}/check-ins", json=HERE, headers=h)
    assert reused.status_code == 422
    assert reused.json()["code"] == "idempotency_key_reused"
    shown = await client.get(f"/tasks/{task.id}", headers=world.headers("member"))
    assert shown.json()["checked_in_count"] == 1


async def test_a_member_checks_in_to_a_task_of_the_district_above_with_a_key_or_without(
    client, world
):
    for n, key in enumerate((None, "above-1")):
        task = await make_task(world.app, world["D"])
        member = await make_user(world.app, f"成员{n}", community=world["C1"])
        h = auth(world.app, member) | ({"Idempotency-Key": key} if key else {})
        resp = await client.post(f"/tasks/{task.id}/check-ins", json=HERE, headers=h)
        assert resp.status_code == 201, resp.text
        assert resp.json()["user_name"] == f"成员{n}"


# Each case: the request to send, given the world; set up afresh each time it is sent.
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


@pytest.mark.parametrize("keyed", [False, True], ids=["no key", "a key"])
@pytest.mark.parametrize("case", REFUSALS, ids=list(REFUSALS))
async def test_a_refusal_reads_the_same_with_an_idempotency_key_or_without(
    client, world, case, keyed
):
    send, status, code = REFUSALS[case]
    if keyed:
        # With a key the caller, the task and the stored answer are read by the
        # idempotency step; without, by the caller dependency.
        client.headers["Idempotency-Key"] = f"refused-{case}"
    resp = await send(client, world)
    assert (resp.status_code, resp.json().get("code")) == (status, code), resp.text
    assert "Idempotent-Replayed" not in resp.headers


async def test_a_burst_larger_than_the_pool_is_served_in_turn(db, tmp_path):
    """Requests wait for a connection at app.edge.admission.connection_turn, one turn per
    pooled connection, so every request of a burst gets one."""
    settings = db.state.settings
    if settings.is_sqlite:
        pytest.skip("turns at the pool are taken on PostgreSQL only (app.edge.admission)")
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
        pytest.skip("turns at the pool are taken on PostgreSQL only (app.edge.admission)")
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
