"""The org tree: POST/GET/PATCH /orgs, level rules and reach."""

from sqlalchemy import select

from app.models.org import Org


async def test_street_admin_creates_a_community_under_their_street(client, world):
    resp = await client.post(
        "/orgs",
        json={
            "name": "新建社区",
            "level": "community",
            "parent_id": world["S1"].id,
            "code": "110101",
        },
        headers=world.headers("street_admin"),
    )
    assert resp.status_code == 201
    body = resp.json()
    assert body["level"] == "community"
    assert body["parent_id"] == world["S1"].id
    assert body["code"] == "110101"
    async with world.app.state.sessionmaker() as s:
        org = (await s.execute(select(Org).where(Org.id == body["id"]))).scalar_one()
    assert org.path == f"{world['S1'].path}{org.id}/"


async def test_district_admin_creates_streets_and_units_at_either_level(client, world):
    h = world.headers("district_admin")
    street = await client.post(
        "/orgs", json={"name": "北城街道", "level": "street", "parent_id": world["D"].id}, headers=h
    )
    assert street.status_code == 201
    for parent in ("D", "S1"):
        unit = await client.post(
            "/orgs",
            json={"name": f"单位{parent}", "level": "unit", "parent_id": world[parent].id},
            headers=h,
        )
        assert unit.status_code == 201


async def test_level_rules_are_enforced_with_422(client, world):
    h = world.headers("district_admin")
    cases = [
        ("community", "D"),  # a community needs a street
        ("street", "S1"),  # a street needs a district
        ("unit", "C1"),  # units hang under a district or a street
        ("community", "U1"),
    ]
    for level, parent in cases:
        resp = await client.post(
            "/orgs",
            json={"name": "错层级", "level": level, "parent_id": world[parent].id},
            headers=h,
        )
        assert resp.status_code == 422, (level, parent)
        assert resp.json()["code"] == "invalid_org_level"


async def test_districts_are_not_created_through_the_api(client, world):
    resp = await client.post(
        "/orgs",
        json={"name": "新区", "level": "district", "parent_id": world["D"].id},
        headers=world.headers("district_admin"),
    )
    assert resp.status_code == 422
    assert resp.json()["code"] == "invalid_org_level"


async def test_same_name_under_the_same_parent_is_409(client, world):
    resp = await client.post(
        "/orgs",
        json={"name": world["C1"].name, "level": "community", "parent_id": world["S1"].id},
        headers=world.headers("street_admin"),
    )
    assert resp.status_code == 409
    assert resp.json()["code"] == "org_name_exists"


async def test_renaming_to_a_sibling_name_is_409_and_changes_nothing(client, world):
    h = world.headers("street_admin")
    resp = await client.patch(f"/orgs/{world['C1'].id}", json={"name": world["C2"].name}, headers=h)
    assert resp.status_code == 409
    assert resp.json()["code"] == "org_name_exists"
    assert (await client.get(f"/orgs/{world['C1'].id}", headers=h)).json()["name"] == world[
        "C1"
    ].name


async def test_community_admin_cannot_create_a_sibling_community(client, world):
    resp = await client.post(
        "/orgs",
        json={"name": "越权社区", "level": "community", "parent_id": world["S1"].id},
        headers=world.headers("community_admin"),
    )
    # S1 is outside a community admin's reach: it answers as if it did not exist.
    assert resp.status_code == 404


async def test_org_list_is_the_callers_subtree_and_nothing_of_the_next_street(client, world):
    resp = await client.get(
        "/orgs", headers=world.headers("street_admin"), params={"page_size": 100}
    )
    ids = {o["id"] for o in resp.json()["items"]}
    assert ids == {world[k].id for k in ("S1", "C1", "C2", "U1")}
    assert resp.json()["total"] == 4


async def test_member_sees_their_home_community_and_unit_only(client, world):
    resp = await client.get("/orgs", headers=world.headers("member"))
    assert {o["id"] for o in resp.json()["items"]} == {world["C1"].id, world["U1"].id}


async def test_district_admin_sees_the_whole_tree_filtered_by_level(client, world):
    resp = await client.get(
        "/orgs", headers=world.headers("district_admin"), params={"level": "community"}
    )
    assert {o["id"] for o in resp.json()["items"]} == {world[k].id for k in ("C1", "C2", "C3")}


async def test_org_lists_page(client, world):
    h = world.headers("district_admin")
    first = (await client.get("/orgs", headers=h, params={"page": 1, "page_size": 3})).json()
    second = (await client.get("/orgs", headers=h, params={"page": 2, "page_size": 3})).json()
    assert first["total"] == second["total"] == 8
    assert first["page"] == 1 and first["page_size"] == 3 and len(first["items"]) == 3
    assert not {o["id"] for o in first["items"]} & {o["id"] for o in second["items"]}


async def test_page_size_over_100_is_422(client, world):
    resp = await client.get("/orgs", headers=world.headers("member"), params={"page_size": 101})
    assert resp.status_code == 422
    assert resp.json()["code"] == "validation_error"


async def test_sibling_path_prefixes_do_not_leak(client, world):
    """An org with id 1x must not fall inside org 1's reach because "/1" prefixes "/1x"."""
    from app.models.org import OrgLevel
    from tests.factories.orgs import make_org

    # Create enough orgs that ids of one digit and two digits sharing a prefix exist.
    for i in range(12):
        await make_org(world.app, f"填充街道{i}", OrgLevel.street, world["D"])
    h = world.headers("street_admin")
    ids = {
        o["id"]
        for o in (await client.get("/orgs", headers=h, params={"page_size": 100})).json()["items"]
    }
    assert ids == {world[k].id for k in ("S1", "C1", "C2", "U1")}


async def test_admin_renames_an_org_in_reach_but_not_its_level_or_parent(client, world):
    h = world.headers("street_admin")
    resp = await client.patch(f"/orgs/{world['C1'].id}", json={"name": "东关新社区"}, headers=h)
    assert resp.status_code == 200
    assert resp.json()["name"] == "东关新社区"
    moved = await client.patch(
        f"/orgs/{world['C1'].id}", json={"parent_id": world["S2"].id}, headers=h
    )
    assert moved.status_code == 422
    assert moved.json()["code"] == "validation_error"


async def test_member_may_see_but_not_rename_their_community(client, world):
    resp = await client.patch(
        f"/orgs/{world['C1'].id}", json={"name": "改名"}, headers=world.headers("member")
    )
    assert resp.status_code == 403
    assert resp.json()["code"] == "forbidden"
