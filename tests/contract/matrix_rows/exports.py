"""Rows for the ledger exports (台账). The body is a spreadsheet, not JSON, so there is
no body check here: tests/routers/test_exports.py reads the files and checks what is in them."""

from __future__ import annotations

from tests.contract.matrix_rows.common import Req, Row, statuses
from tests.factories.world import World


async def _members_of_c1(world: World, caller: str) -> Req:
    return Req(path="/api/v1/exports/members.xlsx", params={"org_id": world["C1"].id})


ROWS: dict[tuple[str, str], Row] = {
    # Admins only (no API keys: names and masked phones are personal data); C1 is
    # outside the neighbours' reach.
    ("GET", "/api/v1/exports/{dataset}.xlsx"): Row(
        "community_admin",
        statuses(401, 403, 404, 404, 200, unit_admin=404, other_unit_admin=404),
        _members_of_c1,
    ),
}
