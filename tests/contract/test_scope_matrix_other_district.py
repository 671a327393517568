"""The authorization matrix's last column: the admin of *another district*.

The matrix world has one district, so its outside-reach callers are a neighbouring
community's and the other street's admins. Here a second district with its own
street, community and district admin is added, and every guarded route (built as
for the matrix's admin) is sent with that admin's token. Wherever the other street's
admin is refused, the other district's admin is refused too, with 404 wherever the
other street's admin gets 404 (a record outside reach looks missing): a district
admin's wider role reaches nothing of another district. Where the other street's
admin is refused for want of a role (403), the other district's admin may be
answered about its own district (its lists, its own audit log), never about this
one: no org of this district may appear in the answer. No 5xx anywhere.
"""

from __future__ import annotations

import pytest

from app.models.org import OrgLevel
from app.models.user import Role
from tests.contract.matrix_rows.common import credential
from tests.contract.test_scope_matrix import MATRIX
from tests.contract.test_scope_matrix_api_keys import GUARDED
from tests.factories.orgs import make_org
from tests.factories.users import auth, make_user
from tests.factories.world import World
from tests.support.openapi import app_document


@pytest.fixture
def world(restored_world: World) -> World:
    """The matrix's cases only read the world: put back rather than built
    (tests/support/world_snapshot.py)."""
    return restored_world


@pytest.mark.parametrize("route", GUARDED, ids=lambda r: f"{r[0]} {r[1]}")
async def test_the_admin_of_another_district_reaches_nothing_of_this_one(client, world, route):
    method, _ = route
    row = MATRIX[route]
    d2 = await make_org(world.app, "邻区", OrgLevel.district)
    s2 = await make_org(world.app, "邻区街道", OrgLevel.street, d2)
    c2 = await make_org(world.app, "邻区社区", OrgLevel.community, s2)
    admin = await make_user(
        world.app, "邻区管理员", community=c2, party=True, roles=[(Role.district_admin, d2)]
    )
    req = await row.build(world, "right")

    resp = await client.request(
        method,
        f"http://test{req.path}",
        json=req.json,
        files=req.files,
        data=req.data,
        params=req.params,
        headers={**await credential(world, row, admin), **req.headers},
    )

    other_street = row.expect["other_street_admin"]
    assert resp.status_code < 500, resp.text[:300]
    if other_street == 404:
        assert resp.status_code == 404, resp.text[:300]
    elif resp.status_code < 300 and "json" in resp.headers.get("content-type", ""):
        # Allowed only as an answer about its own district (its lists, its empty
        # audit log): nothing in it may name an org of this district.
        ours = {org.id for org in world.orgs.values()}
        named = set(org_ids(resp.json()))
        assert not named & ours, (named & ours, resp.text[:300])


ORG_KEYS = ("org_id", "community_id", "unit_id", "street_id", "district_id")


def org_ids(value: object) -> list[int]:
    """Every id under a key naming an org (org_id, community_id, unit_id...)."""
    found: list[int] = []
    if isinstance(value, dict):
        for key, inner in value.items():
            if key in ORG_KEYS and isinstance(inner, int):
                found.append(inner)
            found.extend(org_ids(inner))
    elif isinstance(value, list):
        for inner in value:
            found.extend(org_ids(inner))
    return found


def org_filtered_lists() -> list[str]:
    """The paths of every list (a page of records) that takes `?org_id=`, read from
    the API document so a new list is covered too (the same document whatever the
    database: generated once per process)."""
    found = []
    for path, operations in app_document()["paths"].items():
        get = operations.get("get", {})
        answer = get.get("responses", {}).get("200", {}).get("content", {})
        schema = answer.get("application/json", {}).get("schema", {}).get("$ref", "")
        if schema.startswith("#/components/schemas/Page_") and any(
            p["name"] == "org_id" and p["in"] == "query" for p in get.get("parameters", [])
        ):
            found.append(path)
    return sorted(found)


async def test_every_list_answers_an_org_out_of_reach_as_missing(client, world):
    """One rule for `?org_id=` on lists: an org of another district, or none at all,
    is 404, as a record out of reach is (GET /articles once answered an empty page)."""
    d2 = await make_org(world.app, "邻区", OrgLevel.district)
    lists = org_filtered_lists()
    assert {"/api/v1/articles", "/api/v1/tasks", "/api/v1/problems"} <= set(lists), lists
    admin = auth(world.app, world.user("district_admin"))
    for path in lists:
        for org_id in (d2.id, 2_000_000_000):
            resp = await client.get(f"http://test{path}", params={"org_id": org_id}, headers=admin)
            assert resp.status_code == 404, (path, org_id, resp.text[:300])
        own = await client.get(
            f"http://test{path}", params={"org_id": world["C1"].id}, headers=admin
        )
        assert own.status_code == 200, (path, own.text[:300])
