"""The check-in's statements, built once (on PostgreSQL the row and the seat are one
statement), write the row as sent and touch nothing of the task but its count."""

from typing import Any

from sqlalchemy import select

from app.core.db import table_of
from app.models.task import CheckIn, Task
from tests.factories.tasks import PLACE, make_task

HERE = {"lat": PLACE[0], "lng": PLACE[1]}


async def task_row(world, task) -> dict[str, Any]:
    async with world.app.state.sessionmaker() as s:
        row = (await s.execute(select(table_of(Task)).where(Task.id == task.id))).one()
    return dict(row._mapping)


async def test_a_check_in_changes_nothing_of_the_task_but_its_count(client, world):
    task = await make_task(world.app, world["C1"], location=(*PLACE, 100), capacity=10)
    before = await task_row(world, task)
    resp = await client.post(
        f"/tasks/{task.id}/check-ins",
        json=HERE,
        headers={**world.headers("member"), "Idempotency-Key": "one-seat"},
    )
    assert resp.status_code == 201, resp.text

    after = await task_row(world, task)
    assert after.pop("checked_in_count") == before.pop("checked_in_count") + 1
    assert after.pop("updated_at") > before.pop("updated_at")
    assert after == before
    async with world.app.state.sessionmaker() as s:
        row = (await s.execute(select(CheckIn).where(CheckIn.id == resp.json()["id"]))).scalar_one()
    assert (row.task_id, row.org_id, row.user_id) == (task.id, task.org_id, world.user("member").id)
    assert (row.check_in_lat, row.check_in_lng) == PLACE
    assert row.checked_out_at is None and row.minutes is None
    assert row.created_at >= row.checked_in_at
