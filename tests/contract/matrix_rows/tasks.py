"""Rows for community tasks, check-ins and report-ins (routers/tasks.py, routers/report_ins.py);
the factories are in tests/factories/tasks.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.contract.matrix_rows.common import Req, Row, statuses
from tests.factories.tasks import PLACE, make_check_in, make_report_in, make_task
from tests.factories.world import World


def _window() -> dict[str, str]:
    now = datetime.now(UTC)
    return {
        "starts_at": (now + timedelta(hours=1)).isoformat(),
        "ends_at": (now + timedelta(hours=3)).isoformat(),
    }


async def _create_task(world: World, caller: str) -> Req:
    return Req(
        path="/api/v1/tasks",
        json={
            "title": "文明交通劝导",
            "description": "路口劝导",
            "org_id": world["C1"].id,
            "category": "traffic",
            **_window(),
        },
    )


async def _c1_task(world: World, caller: str) -> Req:
    task = await make_task(world.app, world["C1"])
    return Req(path=f"/api/v1/tasks/{task.id}")


async def _c1_check_in(world: World, caller: str) -> Req:
    task = await make_task(world.app, world["C1"], location=(*PLACE, 200))
    return Req(path=f"/api/v1/tasks/{task.id}/check-ins", json={"lat": PLACE[0], "lng": PLACE[1]})


async def _c1_check_out(world: World, caller: str) -> Req:
    task = await make_task(world.app, world["C1"])
    await make_check_in(world.app, task, world.user("member"))
    return Req(path=f"/api/v1/tasks/{task.id}/check-out", json={"lat": PLACE[0], "lng": PLACE[1]})


async def _c1_check_in_list(world: World, caller: str) -> Req:
    task = await make_task(world.app, world["C1"])
    await make_check_in(world.app, task, world.user("member"))
    return Req(path=f"/api/v1/tasks/{task.id}/check-ins")


async def _report_in(world: World, caller: str) -> Req:
    return Req(path="/api/v1/report-ins", json={"note": "本月报到"})


async def _report_in_list(world: World, caller: str) -> Req:
    await make_report_in(world.app, world.user("member"))
    return Req(path="/api/v1/report-ins")


def _task_list_check(world: World, caller: str, body: Any) -> None:
    # Only the C1 task and the S2 task exist (made by _task_list); who sees which.
    orgs = {t["org_id"] for t in body["items"]}
    assert (world["C1"].id in orgs) == (caller in ("member", "right")), (caller, body)
    assert (world["S2"].id in orgs) == (caller == "other_street_admin"), (caller, body)


async def _task_list(world: World, caller: str) -> Req:
    await make_task(world.app, world["C1"])
    await make_task(world.app, world["S2"])
    return Req(path="/api/v1/tasks")


def _report_list_check(world: World, caller: str, body: Any) -> None:
    users = {r["user_id"] for r in body["items"]}
    seen = caller in ("right", "unit_admin")
    assert (world.user("member").id in users) == seen, (caller, body)


ROWS: dict[tuple[str, str], Row] = {
    # Member: visible org (home community) but not an admin, 403; neighbours cannot
    # see C1 at all, 404, as POST /orgs answers for a parent outside reach.
    ("POST", "/api/v1/tasks"): Row(
        "community_admin", statuses(401, 403, 404, 404, 201), _create_task
    ),
    ("GET", "/api/v1/tasks"): Row(
        "community_admin", statuses(401, 200, 200, 200, 200), _task_list, _task_list_check
    ),
    ("GET", "/api/v1/tasks/{task_id}"): Row(
        "community_admin",
        # The member checks in to C1's tasks; their unit's secretary still sees no task.
        statuses(401, 200, 404, 404, 200, unit_admin=404, other_unit_admin=404),
        _c1_task,
    ),
    ("POST", "/api/v1/tasks/{task_id}/check-ins"): Row(
        "member",
        statuses(401, 201, 404, 404, 201, unit_admin=404, other_unit_admin=404),
        _c1_check_in,
    ),
    ("POST", "/api/v1/tasks/{task_id}/check-out"): Row(
        "member",
        statuses(401, 200, 404, 404, 200, unit_admin=404, other_unit_admin=404),
        _c1_check_out,
    ),
    ("GET", "/api/v1/tasks/{task_id}/check-ins"): Row(
        "community_admin",
        statuses(401, 403, 404, 404, 200, unit_admin=404, other_unit_admin=404),
        _c1_check_in_list,
    ),
    # Everyone with a home community reports to it; each caller files their own.
    ("POST", "/api/v1/report-ins"): Row(
        # The units' secretaries of the world have no home community to report to.
        "member",
        statuses(401, 201, 201, 201, 201, unit_admin=409, other_unit_admin=409),
        _report_in,
    ),
    ("GET", "/api/v1/report-ins"): Row(
        "community_admin",
        # U1's secretary sees the report-ins of U1's members (the member's, in C1).
        statuses(401, 403, 200, 200, 200, unit_admin=200, other_unit_admin=200),
        _report_in_list,
        _report_list_check,
    ),
}
