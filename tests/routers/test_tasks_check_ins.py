"""Check-ins over HTTP: a retry replays the sealed first answer, and every refusal
answers its one status and code, whatever is wrong with the request (a malformed or
deeply nested body, a bad token, a task out of reach, out of time or place, taken
already, full)."""

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from app.models.idempotency import IdempotencyRecord
from tests.factories.media import make_media
from tests.factories.tasks import PLACE, make_check_in, make_task
from tests.factories.users import auth, make_user
from tests.factories.world import World

# Everything written here leaves the dashboards' kept sums exact (tests/support/counts.py).
pytestmark = pytest.mark.usefixtures("counts_stay_exact")

HERE = {"lat": PLACE[0], "lng": PLACE[1]}


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


async def test_a_retried_check_in_replays_the_first_answer_kept_sealed(client, world):
    task = await make_task(world.app, world["C1"])
    h = {**world.headers("member"), "Idempotency-Key": "check-in-retry"}
    first = await client.post(f"/tasks/{task.id}/check-ins", json=HERE, headers=h)
    assert first.status_code == 201
    assert first.json()["user_name"] == "党员甲"
    sealed, _ = await stored_answer(world, "check-in-retry")
    assert "党员甲" not in sealed and "user_name" not in sealed
    second = await client.post(f"/tasks/{task.id}/check-ins", json=HERE, headers=h)
    assert second.status_code == 201
    assert second.text == first.text
    assert second.headers["Idempotent-Replayed"] == "true"
    reused = await client.post(
        f"/tasks/{task.id}/check-ins", json={**HERE, "lat": PLACE[0] + 0.0001}, headers=h
    )
    assert reused.status_code == 422
    assert reused.json()["code"] == "idempotency_key_reused"


# Each case: the request to send, given the world.
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
async def test_a_refused_check_in_answers_its_status_and_code(client, world, case):
    send, status, code = REFUSALS[case]
    resp = await send(client, world)
    assert (resp.status_code, resp.json().get("code")) == (status, code)
