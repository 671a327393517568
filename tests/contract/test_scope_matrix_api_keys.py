"""The authorization matrix's API-key columns: every guarded route of the matrix
(tests/contract/matrix_rows), its request built as for the matrix's `right` caller, sent
with `X-API-Key` instead of a person's token.

- A key of the district holding every scope answers 2xx only on reads (GET) that
  the matrix's admin may also make; writes and personal routes answer 401/403.
- Where it reads, the same key made for the other street answers exactly what the
  other street's admin gets (404 for records outside, its own subtree in lists):
  never more.
- Keys holding one scope each: a key-readable route is opened by exactly one scope
  and answers 403 insufficient_scope to every other.
- A revoked key is 401 on every route.
"""

from __future__ import annotations

import secrets

import pytest

from app.core.db import utcnow
from app.models.api_key import ApiKey, ApiScope
from app.services.api_keys import KEY_PREFIX, hash_key
from tests.contract.matrix_rows.common import Req
from tests.contract.test_scope_matrix import MATRIX
from tests.factories.world import World

# Public routes (health, the dashboard page's static files) answer anyone; the
# dashboard page is opened by the signed link in its own URL, whatever else is sent.
SELF_AUTHENTICATED = {("GET", "/api/v1/dashboard/view")}
GUARDED = [
    route
    for route in sorted(MATRIX)
    if MATRIX[route].expect["anonymous"] >= 300 and route not in SELF_AUTHENTICATED
]
EVERY_SCOPE = list(ApiScope)


@pytest.fixture
def world(restored_world: World) -> World:
    """The matrix's cases only read the world: put back rather than built
    (tests/support/world_snapshot.py)."""
    return restored_world


async def insert_key(
    world: World, org_key: str, scopes: list[ApiScope], *, revoked: bool = False
) -> str:
    raw = KEY_PREFIX + secrets.token_urlsafe(16)
    async with world.app.state.sessionmaker() as session, session.begin():
        session.add(
            ApiKey(
                name=f"矩阵 {org_key}",
                org_id=world[org_key].id,
                scopes=" ".join(sorted(s.value for s in scopes)),
                prefix=raw[:10],
                key_hash=hash_key(raw),
                rate_limit_per_minute=6000,
                revoked_at=utcnow() if revoked else None,
            )
        )
    return raw


async def call(client, method: str, req: Req, key: str) -> int:
    resp = await client.request(
        method,
        f"http://test{req.path}",
        json=req.json,
        files=req.files,
        data=req.data,
        params=req.params,
        headers={**req.headers, "X-API-Key": key},
    )
    if resp.status_code >= 400:
        assert resp.headers["content-type"].startswith("application/problem+json")
        assert resp.json()["code"]
    return resp.status_code


@pytest.mark.parametrize("route", GUARDED, ids=lambda r: f"{r[0]} {r[1]}")
async def test_an_api_key_reaches_only_reads_of_its_scope_and_subtree(client, world, route):
    method, _ = route
    row = MATRIX[route]
    req = await row.build(world, "right")
    district_key = await insert_key(world, "D", EVERY_SCOPE)
    revoked_key = await insert_key(world, "D", EVERY_SCOPE, revoked=True)

    assert await call(client, method, req, revoked_key) in (401, 403)
    status = await call(client, method, req, district_key)
    if status >= 300:
        assert status in (401, 403), status
        return
    assert method == "GET", f"an API key wrote ({status})"
    assert row.expect["right"] < 300, "a key reached what the admin cannot"

    other_street_key = await insert_key(world, "S2", EVERY_SCOPE)
    assert await call(client, method, req, other_street_key) == row.expect["other_street_admin"]

    opened_by = []
    for scope in ApiScope:
        single = await insert_key(world, "D", [scope])
        answer = await call(client, method, req, single)
        if answer < 300:
            opened_by.append(scope)
        else:
            assert answer == 403, (scope, answer)
    assert len(opened_by) == 1, opened_by


def test_the_walk_finds_the_integrators_reads():
    # The reads integrators use must be among the routes walked, or the test above
    # could pass by finding nothing readable.
    for read in ("/api/v1/tasks", "/api/v1/wishes", "/api/v1/problems", "/api/v1/dashboard"):
        assert ("GET", read) in GUARDED, read
    readers = [r for r in GUARDED if r[0] == "GET"]
    assert len(readers) >= 20, readers
