"""Rows for residents' reports (随手拍).

Anyone logged in reports (to their home community). The report under test is of
community C1, sent by the street admin (no caller of the matrix), so that the
member sees it as anyone else would: not at all (404). The inbox and its actions
are for the admins over C1; the neighbours do not see it (404).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from app.core.db import utcnow
from app.core.timeutil import local
from tests.contract.matrix_rows.common import Req, Row, statuses, world_key
from tests.factories.media import make_media
from tests.factories.reports import insert_report
from tests.factories.world import World

TEXT = "矩阵里东关社区的随手拍"


async def _create(world: World, caller: str) -> Req:
    key = world_key(caller, "member")
    photo = await make_media(world.app, world.user(key if key in world.people else "member"))
    return Req(
        path="/api/v1/reports",
        json={
            "category": "sanitation",
            "description": "路灯坏了",
            "lat": 23.1291,
            "lng": 113.2644,
            "photo_ids": [photo.id],
        },
    )


async def _listed(world: World, caller: str) -> Req:
    await insert_report(
        world.app, community=world["C1"], reporter=world.user("street_admin"), description=TEXT
    )
    return Req(path="/api/v1/reports", params={"page_size": 100})


async def _mine(world: World, caller: str) -> Req:
    await insert_report(
        world.app, community=world["C1"], reporter=world.user("member"), description=TEXT
    )
    return Req(path="/api/v1/reports/mine", params={"page_size": 100})


def _seen_check(world: World, caller: str, body: Any) -> None:
    texts = [r["description"] for r in body["items"]]
    assert (TEXT in texts) == (caller == "right"), caller


def _report(suffix: str = "", json: Any = None) -> Any:
    async def build(world: World, caller: str) -> Req:
        report = await insert_report(
            world.app, community=world["C1"], reporter=world.user("street_admin")
        )
        return Req(path=f"/api/v1/reports/{report.id}{suffix}", json=json)

    return build


DEADLINE = (local(utcnow()).date() + timedelta(days=30)).isoformat()


async def _accept(world: World, caller: str) -> Req:
    report = await insert_report(
        world.app, community=world["C1"], reporter=world.user("street_admin")
    )
    return Req(
        path=f"/api/v1/reports/{report.id}/accept",
        json={"org_id": world["C1"].id, "deadline": DEADLINE},
    )


def _mine_check(world: World, caller: str, body: Any) -> None:
    # The member is the one who reported (the matrix's member and "right" are one person).
    texts = [r["description"] for r in body["items"]]
    assert (TEXT in texts) == (caller in ("right", "member")), caller


ROWS: dict[tuple[str, str], Row] = {
    # The units' secretaries live nowhere: they must name the community (422 without).
    ("POST", "/api/v1/reports"): Row(
        "member",
        statuses(401, 201, 201, 201, 201, unit_admin=422, other_unit_admin=422),
        _create,
    ),
    ("GET", "/api/v1/reports"): Row(
        "community_admin", statuses(401, 403, 200, 200, 200), _listed, _seen_check
    ),
    ("GET", "/api/v1/reports/mine"): Row(
        "member", statuses(401, 200, 200, 200, 200), _mine, _mine_check
    ),
    ("GET", "/api/v1/reports/{report_id}"): Row(
        "community_admin", statuses(401, 404, 404, 404, 200), _report()
    ),
    ("GET", "/api/v1/reports/{report_id}/nearby"): Row(
        "community_admin", statuses(401, 404, 404, 404, 200), _report("/nearby")
    ),
    ("POST", "/api/v1/reports/{report_id}/accept"): Row(
        "community_admin", statuses(401, 404, 404, 404, 200), _accept
    ),
    ("POST", "/api/v1/reports/{report_id}/reject"): Row(
        "community_admin",
        statuses(401, 404, 404, 404, 200),
        _report("/reject", {"reason": "不属于市容问题"}),
    ),
}
