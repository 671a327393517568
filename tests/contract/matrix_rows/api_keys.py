"""Rows for API key management (district and street admins only)."""

from __future__ import annotations

from typing import Any

from app.models.api_key import ApiKey
from app.services.api_keys import hash_key
from tests.contract.matrix_rows.common import Req, Row, statuses
from tests.factories.world import World


async def _create(world: World, caller: str) -> Req:
    return Req(
        path="/api/v1/api-keys",
        json={"name": "大屏", "org_id": world["C1"].id, "scopes": ["read:tasks"]},
    )


async def _c1_key(world: World, caller: str) -> Req:
    async with world.app.state.sessionmaker() as session, session.begin():
        key = ApiKey(
            name="热线",
            org_id=world["C1"].id,
            scopes="read:tasks",
            prefix="cw_matrix0",
            key_hash=hash_key(f"cw_matrix-{caller}"),
            rate_limit_per_minute=60,
        )
        session.add(key)
    return Req(path=f"/api/v1/api-keys/{key.id}")


def _list_check(world: World, caller: str, body: Any) -> None:
    # The street admin of S1 sees the C1 key; nobody else reaches it.
    assert (body["total"] == 1) == (caller == "right"), caller


async def _list(world: World, caller: str) -> Req:
    await _c1_key(world, caller)
    return Req(path="/api/v1/api-keys")


ROWS: dict[tuple[str, str], Row] = {
    # Community admins cannot issue keys at all (403) before reach is considered.
    ("POST", "/api/v1/api-keys"): Row("street_admin", statuses(401, 403, 403, 404, 201), _create),
    ("GET", "/api/v1/api-keys"): Row(
        "street_admin", statuses(401, 403, 403, 200, 200), _list, _list_check
    ),
    ("DELETE", "/api/v1/api-keys/{key_id}"): Row(
        "street_admin", statuses(401, 403, 403, 404, 204), _c1_key
    ),
}
