"""Rows for the volunteer-hours ledger."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from app.core.db import utcnow
from app.models.volunteer_hours import HourStatus
from tests.contract.matrix_rows.common import Req, Row, fixed, statuses, world_key
from tests.factories.volunteer_hours import insert_entry
from tests.factories.world import World


async def _log(world: World, caller: str) -> Req:
    end = utcnow() - timedelta(hours=3)
    return Req(
        path="/api/v1/volunteer-hours",
        json={
            "org_id": world["C1"].id,
            "activity": "文明交通劝导",
            "started_at": (end - timedelta(hours=2)).isoformat(),
            "ended_at": end.isoformat(),
        },
    )


async def _members_entry(world: World, caller: str) -> Req:
    entry = await insert_entry(world.app, user=world.user("member"), org=world["C1"])
    return Req(path=f"/api/v1/volunteer-hours/{entry.id}")


async def _review(world: World, caller: str) -> Req:
    entry = await insert_entry(world.app, user=world.user("inspector"), org=world["C1"])
    return Req(path=f"/api/v1/volunteer-hours/{entry.id}/review", json={"approve": True})


async def _revoke(world: World, caller: str) -> Req:
    entry = await insert_entry(
        world.app, user=world.user("inspector"), org=world["C1"], status=HourStatus.approved
    )
    return Req(path=f"/api/v1/volunteer-hours/{entry.id}/revoke", json={"reason": "重复登记"})


async def _members_history(world: World, caller: str) -> Req:
    req = await _members_entry(world, caller)
    return Req(path=req.path + "/history")


async def _list(world: World, caller: str) -> Req:
    await insert_entry(world.app, user=world.user("member"), org=world["C1"])
    return Req(path="/api/v1/volunteer-hours", params={"page_size": 100})


def _list_check(world: World, caller: str, body: Any) -> None:
    owners = {e["user_id"] for e in body["items"]}
    # The member's entry at C1: theirs, the C1 admin's and their unit's secretary's to
    # see; nobody else's.
    seen = caller in ("member", "right", "unit_admin")
    assert (world.user("member").id in owners) == seen, caller
    me = world.user(world_key(caller, "community_admin")).id
    assert owners <= {me, world.user("member").id}, caller


async def _totals(world: World, caller: str) -> Req:
    await insert_entry(
        world.app, user=world.user("member"), org=world["C1"], status=HourStatus.approved
    )
    return Req(path="/api/v1/volunteer-hours/totals", params={"org_id": world["C1"].id})


def _totals_check(world: World, caller: str, body: Any) -> None:
    assert body["total_minutes"] == 90
    assert [i["id"] for i in body["items"]] == [world.user("member").id]


ROWS: dict[tuple[str, str], Row] = {
    # Hours are logged at one's own community (or above it): C1 is not the neighbours'.
    ("POST", "/api/v1/volunteer-hours"): Row(
        "inspector",
        statuses(401, 201, 422, 422, 201, unit_admin=422, other_unit_admin=422),
        _log,
    ),
    ("GET", "/api/v1/volunteer-hours"): Row(
        "community_admin", statuses(401, 200, 200, 200, 200), _list, _list_check
    ),
    ("GET", "/api/v1/volunteer-hours/totals"): Row(
        "community_admin", statuses(401, 403, 404, 404, 200), _totals, _totals_check
    ),
    ("GET", "/api/v1/volunteer-hours/{entry_id}"): Row(
        "community_admin",
        statuses(401, 200, 404, 404, 200, unit_admin=200, other_unit_admin=404),
        _members_entry,
    ),
    ("POST", "/api/v1/volunteer-hours/{entry_id}/review"): Row(
        "community_admin", statuses(401, 404, 404, 404, 200), _review
    ),
    # Revoking is the reviewers' (an admin over the entry's org): the inspector's entry
    # is nobody else's to see.
    ("POST", "/api/v1/volunteer-hours/{entry_id}/revoke"): Row(
        "community_admin", statuses(401, 404, 404, 404, 200), _revoke
    ),
    ("GET", "/api/v1/volunteer-hours/{entry_id}/history"): Row(
        "community_admin",
        statuses(401, 200, 404, 404, 200, unit_admin=200, other_unit_admin=404),
        _members_history,
    ),
    ("GET", "/api/v1/me/volunteer-hours/summary"): Row(
        "member", statuses(401, 200, 200, 200, 200), fixed("/api/v1/me/volunteer-hours/summary")
    ),
}
