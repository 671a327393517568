"""Rows for supervision: points, problems, rectification, verification, bulletins.

Records are of community C1. Supervision is for admins and inspectors: a member
(no role) gets 403 on lists and 404 on single records; the neighbours (C2's
secretary, S2's admin) cannot see C1's records at all (404). Rectification is the
community's own admin's; verification is for the street above (its admin or its
inspector).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from app.core.db import utcnow
from app.core.timeutil import local
from app.models.problem import ProblemStatus
from tests.contract.matrix_rows.common import Req, Row, statuses, world_key
from tests.factories.media import make_media
from tests.factories.problems import insert_problem, make_point
from tests.factories.world import World


def _owner(world: World, caller: str, right: str) -> Any:
    # Anonymous callers send someone's photo; they are refused before it matters.
    key = world_key(caller, right)
    return world.user(key if key in world.people else right)


async def _point_create(world: World, caller: str) -> Req:
    return Req(
        path="/api/v1/points",
        json={
            "name": "东关农贸市场",
            "kind": "market",
            "org_id": world["C1"].id,
            "location": {"lat": 23.1291, "lng": 113.2644},
        },
    )


POINT_NAME = "矩阵里的东关公交站"


async def _point_list(world: World, caller: str) -> Req:
    await make_point(world.app, world["C1"], name=POINT_NAME)
    return Req(path="/api/v1/points", params={"page_size": 100})


def _point_list_check(world: World, caller: str, body: Any) -> None:
    names = [p["name"] for p in body["items"]]
    assert (POINT_NAME in names) == (caller == "right"), caller


async def _point(world: World, caller: str) -> Req:
    point = await make_point(world.app, world["C1"])
    return Req(path=f"/api/v1/points/{point.id}")


async def _problem_create(world: World, caller: str) -> Req:
    photo = await make_media(world.app, _owner(world, caller, "inspector"))
    return Req(
        path="/api/v1/problems",
        json={
            "org_id": world["C1"].id,
            "category": "sanitation",
            "description": "市场门口垃圾堆积",
            "photo_ids": [photo.id],
            "deadline": (local(utcnow()).date() + timedelta(days=7)).isoformat(),
        },
    )


PROBLEM_TEXT = "矩阵里东关社区的问题"


async def _problem_list(world: World, caller: str) -> Req:
    await insert_problem(
        world.app, org=world["C1"], reporter=world.user("inspector"), description=PROBLEM_TEXT
    )
    return Req(path="/api/v1/problems", params={"page_size": 100})


def _problem_list_check(world: World, caller: str, body: Any) -> None:
    texts = [p["description"] for p in body["items"]]
    assert (PROBLEM_TEXT in texts) == (caller == "right"), caller


def _problem_in(status: ProblemStatus, suffix: str = "", right: str = "") -> Any:
    async def build(world: World, caller: str) -> Req:
        problem = await insert_problem(
            world.app,
            org=world["C1"],
            reporter=world.user("inspector"),
            rectifier=world.user("community_admin"),
            status=status,
        )
        path = f"/api/v1/problems/{problem.id}{suffix}"
        if suffix == "/rectify":
            photo = await make_media(world.app, _owner(world, caller, right))
            return Req(path=path, json={"photo_ids": [photo.id], "note": "已清理完毕"})
        if suffix == "/verify":
            return Req(path=path, json={"approve": True})
        return Req(path=path)

    return build


async def _bulletin(world: World, caller: str) -> Req:
    return Req(path="/api/v1/bulletins/weekly", params={"org_id": world["C1"].id})


async def _bulletin_xlsx(world: World, caller: str) -> Req:
    return Req(path="/api/v1/bulletins/weekly.xlsx", params={"org_id": world["C1"].id})


ROWS: dict[tuple[str, str], Row] = {
    # The member sees C1 (home) but administers nothing: 403; neighbours cannot see C1.
    ("POST", "/api/v1/points"): Row(
        "community_admin",
        statuses(401, 403, 404, 404, 201, unit_admin=404, other_unit_admin=404),
        _point_create,
    ),
    ("GET", "/api/v1/points"): Row(
        "community_admin", statuses(401, 403, 200, 200, 200), _point_list, _point_list_check
    ),
    ("GET", "/api/v1/points/{point_id}"): Row(
        "inspector", statuses(401, 404, 404, 404, 200), _point
    ),
    ("POST", "/api/v1/problems"): Row(
        "inspector",
        statuses(401, 403, 404, 404, 201, unit_admin=404, other_unit_admin=404),
        _problem_create,
    ),
    ("GET", "/api/v1/problems"): Row(
        "street_admin", statuses(401, 403, 200, 200, 200), _problem_list, _problem_list_check
    ),
    ("GET", "/api/v1/problems/{problem_id}"): Row(
        "community_admin", statuses(401, 404, 404, 404, 200), _problem_in(ProblemStatus.open)
    ),
    ("POST", "/api/v1/problems/{problem_id}/rectify"): Row(
        "community_admin",
        statuses(401, 404, 404, 404, 200),
        _problem_in(ProblemStatus.open, "/rectify", "community_admin"),
    ),
    ("POST", "/api/v1/problems/{problem_id}/verify"): Row(
        "street_admin",
        statuses(401, 404, 404, 404, 200),
        _problem_in(ProblemStatus.rectified, "/verify"),
    ),
    ("GET", "/api/v1/bulletins/weekly"): Row(
        "community_admin", statuses(401, 403, 404, 404, 200), _bulletin
    ),
    ("GET", "/api/v1/bulletins/weekly.xlsx"): Row(
        "community_admin", statuses(401, 403, 404, 404, 200), _bulletin_xlsx
    ),
}
