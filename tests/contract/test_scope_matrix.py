"""The authorization matrix: every route × every kind of caller, with the status each gets.

The list of routes comes from the app itself, so a route added without a row here
fails `test_every_route_has_a_row_in_the_matrix`. Records outside a caller's reach
must answer exactly like missing ones (404), and no caller outside reach may get a
2xx that reveals or changes anything there.

Callers, against records in community C1 of street S1 (see tests/factories/world.py):
- anonymous: no token
- member: a party member of C1 with no role
- other_community_admin: the secretary of C2, C1's neighbour in the same street
- other_street_admin: the admin of street S2
- unit_admin: the party secretary of unit U1 (reach by membership: its members, not
  C1's records, though its members live and act there)
- other_unit_admin: the party secretary of another unit, UD
- right: the admin who may do it (named per row)
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import httpx
import pytest
from fastapi.routing import iter_route_contexts

import tests.contract.matrix_rows
from app.main import create_app
from tests.conftest import forget_wechat_token, make_settings
from tests.contract.matrix_rows.common import CALLERS, Row, body_of, credential, world_key
from tests.factories.world import World
from tests.support.world_snapshot import reset_to_world

SKIPPED_PATHS = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}


def collect_rows() -> dict[tuple[str, str], Row]:
    rows: dict[tuple[str, str], Row] = {}
    for info in pkgutil.iter_modules(tests.contract.matrix_rows.__path__):
        module = importlib.import_module(f"tests.contract.matrix_rows.{info.name}")
        for key, row in getattr(module, "ROWS", {}).items():
            assert key not in rows, f"{key} has rows in two modules"
            rows[key] = row
    return rows


MATRIX = collect_rows()


def app_routes() -> set[tuple[str, str]]:
    app = create_app(make_settings("sqlite:///:memory:", Path("/tmp"), "http://127.0.0.1:9/"))
    found = set()
    for ctx in iter_route_contexts(app.routes):
        # The matrix names paths as the document does: `{user_id}`, not `{user_id:int}`.
        path, methods = re.sub(r"\{(\w+):\w+\}", r"{\1}", ctx.path or ""), ctx.methods
        if not path or not methods or path in SKIPPED_PATHS:
            continue
        for method in methods - {"HEAD", "OPTIONS"}:
            found.add((method, path))
    return found


@pytest.fixture
def world(restored_world: World) -> World:
    """The matrix's cases only read the world: put back rather than built
    (tests/support/world_snapshot.py)."""
    return restored_world


def test_every_route_has_a_row_in_the_matrix():
    routes = app_routes()
    missing = routes - MATRIX.keys()
    stale = MATRIX.keys() - routes
    assert not missing, f"routes without authorization rows: {sorted(missing)}"
    assert not stale, f"matrix rows for routes that no longer exist: {sorted(stale)}"


async def ask(client: httpx.AsyncClient, world: World, route: tuple[str, str], caller: str) -> None:
    """Send the row's request as `caller`; fails unless the answer is the row's."""
    method, _ = route
    row = MATRIX[route]
    req = await row.build(world, caller)
    person = None if caller == "anonymous" else world.user(world_key(caller, row.right))
    headers = {} if person is None else await credential(world, row, person)
    url = f"http://test{req.path}"
    resp = await client.request(
        method,
        url,
        json=req.json,
        files=req.files,
        data=req.data,
        params=req.params,
        headers={**headers, **req.headers},
    )
    expected = row.expect[caller]
    assert resp.status_code == expected, (caller, resp.status_code, resp.text[:300])
    if resp.status_code >= 400:
        assert resp.headers["content-type"].startswith("application/problem+json")
        assert resp.json()["code"]
    if row.check and resp.status_code < 300:
        row.check(world, caller, body_of(resp))


# One case per route and database, asking every caller in turn: the callers share the
# app and its database, but each starts from the world as a case of its own did (a
# fresh world, an empty WeChat stub, a new client without cookies), so no answer can
# depend on what an earlier caller's request or its row's setup wrote (the rows'
# builds insert records for every caller, so the world is put back before each, not
# only after a write). Putting it back costs ~5 ms of CPU on SQLite and ~13 on
# PostgreSQL, where building and emptying it cost ~80 and ~45. Every caller is asked
# even after one is answered wrong, and the failure lists them all.
@pytest.mark.parametrize("route", sorted(MATRIX), ids=lambda r: f"{r[0]} {r[1]}")
async def test_route_answers_each_caller_as_the_matrix_says(db, stub, world_snapshot, world, route):
    wrong: list[str] = []
    crash: BaseException | None = None
    for caller in CALLERS:
        if caller != CALLERS[0]:
            world = await reset_to_world(db, world_snapshot)
            stub.reset()
            forget_wechat_token(db)
        transport = httpx.ASGITransport(app=db)
        async with httpx.AsyncClient(transport=transport, base_url="http://test/api/v1") as client:
            try:
                await ask(client, world, route, caller)
            except AssertionError as exc:
                wrong.append(f"{caller}: {exc}")
            except Exception as exc:  # an error of the app's: the others are asked still
                wrong.append(f"{caller}: {type(exc).__name__}: {exc}")
                crash = crash or exc
    if wrong:
        raise AssertionError(
            f"{route} answers these callers wrong:\n" + "\n".join(wrong)
        ) from crash


# Through PgBouncer in transaction mode (DATABASE_POOLER=pgbouncer): every other route
# in path order (every domain, reads and writes alike), by the caller who may, which
# takes the route's whole path through the database layer (reads in autocommit,
# writes, Statements, server-side cursors). The refused callers
# add time (a world each), not paths: a refusal reads what the right caller's request
# reads, and less. All 153 routes took 4.6 min on a loaded machine; this half, half.
@pytest.mark.parametrize("database_url", ["pgbouncer"], indirect=True, scope="session")
@pytest.mark.parametrize("route", sorted(MATRIX)[::2], ids=lambda r: f"{r[0]} {r[1]}")
async def test_route_answers_the_right_caller_through_pgbouncer(client, world, route):
    await ask(client, world, route, "right")
