"""Rows for micro-wishes and the yearly wish quota.

Open wishes are for the whole district to claim, so for claims every caller of the
world (all live in district D) gets 200. The rows on a single wish use wishes that
are not open (pending review, or claimed by the inspector), which only the admins in
reach and the people involved may see: the neighbours get 404.
"""

from __future__ import annotations

from typing import Any

from app.models.wish import WishStatus
from tests.contract.matrix_rows.common import UNIT_ADMINS, Req, Row, statuses
from tests.factories.media import make_media
from tests.factories.users import make_user
from tests.factories.wishes import insert_wish
from tests.factories.world import World


def _wish_in(status: WishStatus) -> Any:
    """A C1 wish in `status`, posted by a resident of C1, claimed by the inspector."""

    async def build(world: World, caller: str) -> Req:
        resident = await make_user(world.app, "居民", community=world["C1"])
        wish = await insert_wish(
            world.app,
            community=world["C1"],
            poster=resident,
            status=status,
            claimant=world.user("inspector"),
            admin=world.user("community_admin"),
        )
        return Req(path=f"/api/v1/wishes/{wish.id}")

    return build


def _action(status: WishStatus, suffix: str, json: Any = None) -> Any:
    async def build(world: World, caller: str) -> Req:
        req = await _wish_in(status)(world, caller)
        return Req(path=req.path + suffix, json=json)

    return build


async def _fulfil(world: World, caller: str) -> Req:
    req = await _action(WishStatus.claimed, "/fulfill")(world, caller)
    # The photo is the inspector's; anyone else sending it is refused before that matters.
    photo = await make_media(world.app, world.user("inspector"))
    return Req(path=req.path, json={"photo_ids": [photo.id], "note": "书包已送到孩子手中"})


async def _create(world: World, caller: str) -> Req:
    return Req(
        path="/api/v1/wishes",
        json={
            "title": "修一修楼道灯",
            "description": "三单元楼道灯坏了",
            "community_id": world["C1"].id,
            "beneficiary_name": "李奶奶",
            "beneficiary_phone": "13912345678",
        },
    )


def _create_check(world: World, caller: str, body: Any) -> None:
    # Only an admin over C1 publishes at once; anyone else's wish waits for review.
    assert body["status"] == ("open" if caller == "right" else "pending_review"), caller


PENDING_TITLE = "矩阵里待审核的心愿"


async def _list(world: World, caller: str) -> Req:
    resident = await make_user(world.app, "居民", community=world["C1"])
    await insert_wish(
        world.app,
        community=world["C1"],
        poster=resident,
        status=WishStatus.pending_review,
        title=PENDING_TITLE,
    )
    await insert_wish(world.app, community=world["C1"], poster=world.user("community_admin"))
    return Req(path="/api/v1/wishes", params={"page_size": 100})


def _list_check(world: World, caller: str, body: Any) -> None:
    titles = [w["title"] for w in body["items"]]
    # The open wish is the whole district's; the pending one only its admins'.
    assert ("给孩子买一个书包" in titles) == (caller not in UNIT_ADMINS), caller
    assert (PENDING_TITLE in titles) == (caller == "right"), caller
    for w in body["items"]:
        assert (w["beneficiary_phone"] is None) or caller == "right"
        if caller != "right":
            assert w["beneficiary_name"] == "王**", caller


async def _claim(world: World, caller: str) -> Req:
    wish = await insert_wish(world.app, community=world["C1"], poster=world.user("community_admin"))
    return Req(path=f"/api/v1/wishes/{wish.id}/claim")


async def _quota(world: World, caller: str) -> Req:
    return Req(path="/api/v1/stats/wish-quota", params={"org_id": world["C1"].id})


def _quota_check(world: World, caller: str, body: Any) -> None:
    assert body["org_id"] == world["C1"].id
    ids = {m["id"] for m in body["owing_members"]}
    assert world.user("other_community_admin").id not in ids  # lives in C2


ROWS: dict[tuple[str, str], Row] = {
    ("POST", "/api/v1/wishes"): Row(
        "community_admin",
        statuses(401, 201, 201, 201, 201, unit_admin=422, other_unit_admin=422),
        _create,
        _create_check,
    ),
    ("GET", "/api/v1/wishes"): Row(
        "community_admin", statuses(401, 200, 200, 200, 200), _list, _list_check
    ),
    ("GET", "/api/v1/wishes/{wish_id}"): Row(
        "community_admin",
        statuses(401, 404, 404, 404, 200),
        _wish_in(WishStatus.pending_review),
    ),
    ("GET", "/api/v1/wishes/{wish_id}/history"): Row(
        "street_admin",
        statuses(401, 404, 404, 404, 200),
        _action(WishStatus.claimed, "/history"),
    ),
    ("POST", "/api/v1/wishes/{wish_id}/review"): Row(
        "community_admin",
        statuses(401, 404, 404, 404, 200),
        _action(WishStatus.pending_review, "/review", {"approve": True}),
    ),
    ("POST", "/api/v1/wishes/{wish_id}/claim"): Row(
        "member", statuses(401, 200, 200, 200, 200, unit_admin=404, other_unit_admin=404), _claim
    ),
    ("POST", "/api/v1/wishes/{wish_id}/release"): Row(
        "inspector",
        statuses(401, 404, 404, 404, 200),
        _action(WishStatus.claimed, "/release"),
    ),
    ("POST", "/api/v1/wishes/{wish_id}/fulfill"): Row(
        "inspector", statuses(401, 404, 404, 404, 200), _fulfil
    ),
    ("POST", "/api/v1/wishes/{wish_id}/confirm"): Row(
        "community_admin",
        statuses(401, 404, 404, 404, 200),
        _action(WishStatus.fulfilled, "/confirm"),
    ),
    # The confirmer (the C1 admin, in the factory's history) withdraws; the inspector,
    # who claimed it, sees it but is no admin: the member and the neighbours do not.
    ("POST", "/api/v1/wishes/{wish_id}/withdraw-confirmation"): Row(
        "community_admin",
        statuses(401, 404, 404, 404, 200),
        _action(WishStatus.confirmed, "/withdraw-confirmation", {"reason": "受助人反映未收到"}),
    ),
    ("POST", "/api/v1/wishes/{wish_id}/cancel"): Row(
        "street_admin",
        statuses(401, 404, 404, 404, 200),
        _action(WishStatus.claimed, "/cancel", {"reason": "受助人已搬走"}),
    ),
    ("GET", "/api/v1/stats/wish-quota"): Row(
        "community_admin",
        statuses(401, 403, 404, 404, 200),
        _quota,
        _quota_check,
    ),
}
