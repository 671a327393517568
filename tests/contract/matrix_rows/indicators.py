"""Rows for indicators (网上资料申报) and evidence documents.

The item under test belongs to community C1, owned by the member: the member (its
owner) sees it and hands in its evidence; C1's admins (and above) review it; the
neighbours and the units' secretaries do not see it (404). A document uploaded by
the member is seen by its uploader only while attached to nothing.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from app.core.db import utcnow
from app.core.timeutil import local
from app.models.indicator import IndicatorStatus
from tests.contract.matrix_rows.common import Req, Row, statuses
from tests.factories.indicators import PDF, insert_indicator
from tests.factories.world import World

TITLE = "矩阵里东关社区的指标"


async def _create(world: World, caller: str) -> Req:
    return Req(
        path="/api/v1/indicators",
        json={
            "code": "1.1.1",
            "title": "公益广告刊播",
            "org_id": world["C1"].id,
            "owner_user_id": world.user("member").id,
            "due_on": (local(utcnow()).date() + timedelta(days=5)).isoformat(),
        },
    )


async def _item(world: World, status: IndicatorStatus = IndicatorStatus.pending) -> Any:
    return await insert_indicator(
        world.app,
        org=world["C1"],
        owner=world.user("member"),
        creator=world.user("community_admin"),
        status=status,
        title=TITLE,
    )


async def _listed(world: World, caller: str) -> Req:
    await _item(world)
    return Req(path="/api/v1/indicators")


def _seen_check(world: World, caller: str, body: Any) -> None:
    titles = [i["title"] for i in body["items"]]
    assert (TITLE in titles) == (caller in ("right", "member")), caller


def _one(suffix: str, json: Any = None, status: IndicatorStatus = IndicatorStatus.pending) -> Any:
    async def build(world: World, caller: str) -> Req:
        item = await _item(world, status)
        return Req(path=f"/api/v1/indicators/{item.id}{suffix}", json=json)

    return build


async def _upload(world: World, caller: str) -> Req:
    return Req(path="/api/v1/documents", files={"file": ("a.pdf", PDF, "application/pdf")})


async def _document(world: World, caller: str) -> Req:
    transport = httpx.ASGITransport(app=world.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        resp = await client.post(
            "/api/v1/documents",
            files={"file": ("a.pdf", PDF, "application/pdf")},
            headers=world.headers("member"),
        )
    assert resp.status_code == 201, resp.text
    return Req(path=f"/api/v1/documents/{resp.json()['id']}")


HIDDEN = {"unit_admin": 404, "other_unit_admin": 404}

ROWS: dict[tuple[str, str], Row] = {
    ("POST", "/api/v1/indicators"): Row(
        "community_admin", statuses(401, 403, 404, 404, 201), _create
    ),
    ("GET", "/api/v1/indicators"): Row(
        "community_admin", statuses(401, 200, 200, 200, 200), _listed, _seen_check
    ),
    ("GET", "/api/v1/indicators/{indicator_id}"): Row(
        "community_admin", statuses(401, 200, 404, 404, 200, **HIDDEN), _one("")
    ),
    ("POST", "/api/v1/indicators/{indicator_id}/evidence"): Row(
        "member",
        statuses(401, 200, 404, 404, 200, **HIDDEN),
        _one("/evidence", {"note": "已建立台账"}),
    ),
    # The owner sees the item but may not review it (403).
    ("POST", "/api/v1/indicators/{indicator_id}/review"): Row(
        "community_admin",
        statuses(401, 403, 404, 404, 200, **HIDDEN),
        _one("/review", {"approve": True}, IndicatorStatus.submitted),
    ),
    ("GET", "/api/v1/stats/indicators"): Row(
        "community_admin",
        statuses(401, 403, 404, 404, 200, unit_admin=403, other_unit_admin=403),
        lambda world, caller: _stats(world),
    ),
    ("POST", "/api/v1/documents"): Row("member", statuses(401, 201, 201, 201, 201), _upload),
    ("GET", "/api/v1/documents/{media_id}"): Row(
        "member", statuses(401, 200, 404, 404, 200, **HIDDEN), _document
    ),
}


async def _stats(world: World) -> Req:
    return Req(path="/api/v1/stats/indicators", params={"org_id": world["C1"].id})
