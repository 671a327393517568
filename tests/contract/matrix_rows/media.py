"""Rows for photos: anyone logged in uploads their own; a photo attached to nothing
is seen by its uploader only (the C1 member here)."""

from __future__ import annotations

import io

import httpx
from PIL import Image

from tests.contract.matrix_rows.common import Req, Row, World, statuses


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 24), (120, 40, 40)).save(out, "JPEG")
    return out.getvalue()


async def _upload(world: World, caller: str) -> Req:
    return Req(path="/api/v1/media", files={"file": ("p.jpg", _jpeg(), "image/jpeg")})


async def _members_photo_id(world: World) -> int:
    transport = httpx.ASGITransport(app=world.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        resp = await client.post(
            "/api/v1/media",
            files={"file": ("p.jpg", _jpeg(), "image/jpeg")},
            headers=world.headers("member"),
        )
    assert resp.status_code == 201, resp.text
    media_id: int = resp.json()["id"]
    return media_id


async def _photo(world: World, caller: str) -> Req:
    return Req(path=f"/api/v1/media/{await _members_photo_id(world)}")


async def _thumbnail(world: World, caller: str) -> Req:
    return Req(path=f"/api/v1/media/{await _members_photo_id(world)}/thumbnail")


# The matrix app stores locally, so the uploader gets the bytes (200), not a redirect.
ROWS: dict[tuple[str, str], Row] = {
    ("POST", "/api/v1/media"): Row("member", statuses(401, 201, 201, 201, 201), _upload),
    ("GET", "/api/v1/media/{media_id}"): Row(
        "member", statuses(401, 200, 404, 404, 200, unit_admin=404, other_unit_admin=404), _photo
    ),
    ("GET", "/api/v1/media/{media_id}/thumbnail"): Row(
        "member",
        statuses(401, 200, 404, 404, 200, unit_admin=404, other_unit_admin=404),
        _thumbnail,
    ),
}
