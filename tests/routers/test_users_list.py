"""GET /users, the roster screen, against a plain reading of its rule.

A mixed world (people at home by community, by unit alone, by both, elsewhere; bound
and unbound; party members or not; names with LIKE's wildcards), each kind of caller,
every filter the route takes, pages through and past the end: each answer is what the
rule says, in id order, and each person shows as `GET /users/{id}` shows them alone.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import select

from app.models.org import Org
from app.models.user import Role, RoleGrant, User
from tests.factories.users import make_user
from tests.factories.world import World

CALLERS = [
    "district_admin",
    "street_admin",
    "other_street_admin",
    "community_admin",
    "other_community_admin",
    "unit_admin",
    "other_unit_admin",
    "two_hats",
]


async def mixed_world(world: World) -> None:
    c1, c2, c3, u1, ud = (world[k] for k in ("C1", "C2", "C3", "U1", "UD"))
    people: list[tuple[str, dict[str, Any]]] = [
        ("居民_一", {"community": c1, "openid": None}),
        ("居民%二", {"community": c1, "unit": u1, "party": True}),
        ("居民二", {"community": c2, "unit": ud, "openid": None, "party": True}),
        ("西湖居民", {"community": c3, "unit": u1}),
        ("无社区职工", {"unit": u1, "openid": None, "party": True}),
        ("区属职工", {"unit": ud}),
        ("无家可归", {"community": None}),
    ]
    for name, home in people:
        await make_user(world.app, name, **home)
    # A community admin of C3 who is also U1's party secretary: reach two ways.
    world.people["two_hats"] = await make_user(
        world.app,
        "两顶帽子",
        community=c3,
        roles=[(Role.community_admin, c3), (Role.unit_admin, u1)],
    )


async def everyone(world: World) -> tuple[list[User], dict[int, str], dict[int, list[Any]]]:
    async with world.app.state.sessionmaker() as session:
        users = list((await session.execute(select(User).order_by(User.id))).scalars())
        orgs = {o.id: o.path for o in (await session.execute(select(Org))).scalars()}
        grants: dict[int, list[Any]] = {}
        for g in (await session.execute(select(RoleGrant))).scalars():
            grants.setdefault(g.user_id, []).append(g)
    return users, orgs, grants


def expected_ids(
    world: World,
    data: tuple[list[User], dict[int, str], dict[int, list[Any]]],
    who: str,
    **filters: Any,
) -> list[int]:
    """The rule read plainly: an admin sees the people whose home community or unit
    lies inside their reach; a unit's secretary the members of the unit; then the
    filters; in id order."""
    users, paths, grants = data
    mine = grants.get(world.user(who).id, [])
    admin = [paths[g.org_id] for g in mine if g.role != Role.unit_admin and g.role in ADMIN]
    member = [paths[g.org_id] for g in mine if g.role == Role.unit_admin]

    def inside(org_id: int | None, reach: list[str]) -> bool:
        return org_id is not None and any(paths[org_id].startswith(p) for p in reach)

    out = []
    for u in users:
        if not (
            inside(u.community_id, admin) or inside(u.unit_id, admin) or inside(u.unit_id, member)
        ):
            continue
        if "community_id" in filters and u.community_id != filters["community_id"]:
            continue
        if "unit_id" in filters and u.unit_id != filters["unit_id"]:
            continue
        if "is_party_member" in filters and u.is_party_member != filters["is_party_member"]:
            continue
        if "name" in filters and filters["name"] not in u.name:
            continue
        out.append(u.id)
    return out


ADMIN = {Role.district_admin, Role.street_admin, Role.community_admin}


async def read_all(client, world: World, who: str, **params: Any) -> tuple[list[dict], int]:
    """Every page of the list, two at a time, and one page past its end."""
    items: list[dict] = []
    page, total = 1, None
    while True:
        resp = await client.get(
            "/users", params={"page": page, "page_size": 2, **params}, headers=world.headers(who)
        )
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert total in (None, body["total"])
        total = body["total"]
        assert (body["page"], body["page_size"]) == (page, 2)
        if not body["items"]:
            break
        items += body["items"]
        page += 1
    assert total is not None
    assert page == (total + 1) // 2 + 1  # the page past the end still tells the total
    return items, total


async def test_each_caller_sees_the_roster_the_rule_gives_with_every_filter(client, world):
    await mixed_world(world)
    data = await everyone(world)
    filters: list[dict[str, Any]] = [
        {},
        {"is_party_member": True},
        {"is_party_member": False},
        {"name": "居民"},
        {"name": "%"},
        {"name": "_"},
        {"name": "居民_"},
        {"name": "无此人"},
    ]
    for who in CALLERS:
        for f in filters:
            items, total = await read_all(
                client, world, who, **{k: str(v).lower() for k, v in f.items()}
            )
            want = expected_ids(world, data, who, **f)
            assert [i["id"] for i in items] == want, (who, f)
            assert total == len(want), (who, f)


async def test_org_filters_narrow_the_roster_and_outside_reach_is_404(client, world):
    await mixed_world(world)
    data = await everyone(world)
    for who in CALLERS:
        for key in ("C1", "C2", "C3", "U1", "UD", "S1"):
            org = world[key]
            for param in ("community_id", "unit_id"):
                resp = await client.get(
                    "/users", params={param: org.id, "page_size": 100}, headers=world.headers(who)
                )
                if resp.status_code == 404:
                    continue
                assert resp.status_code == 200, (who, key, param)
                want = expected_ids(world, data, who, **{param: org.id})
                assert [i["id"] for i in resp.json()["items"]] == want, (who, key, param)
                assert resp.json()["total"] == len(want)
    both = {"community_id": world["C1"].id, "unit_id": world["U1"].id, "is_party_member": "true"}
    resp = await client.get("/users", params=both, headers=world.headers("street_admin"))
    want = expected_ids(
        world,
        data,
        "street_admin",
        community_id=world["C1"].id,
        unit_id=world["U1"].id,
        is_party_member=True,
    )
    assert [i["id"] for i in resp.json()["items"]] == want != []
    # Out of reach answers as missing does.
    for who, param, key in [
        ("community_admin", "community_id", "C2"),
        ("community_admin", "unit_id", "UD"),
        ("unit_admin", "community_id", "C1"),
        ("unit_admin", "unit_id", "UD"),
    ]:
        resp = await client.get("/users", params={param: world[key].id}, headers=world.headers(who))
        assert resp.status_code == 404, (who, param, key)
    resp = await client.get(
        "/users", params={"community_id": 10**9}, headers=world.headers("district_admin")
    )
    assert resp.status_code == 404


async def test_each_person_on_the_list_shows_as_read_alone_with_roles_and_phone_masked(
    client, world
):
    await mixed_world(world)
    for who in ("district_admin", "two_hats", "unit_admin"):
        items, _ = await read_all(client, world, who)
        assert items
        for item in items:
            alone = await client.get(f"/users/{item['id']}", headers=world.headers(who))
            assert alone.status_code == 200
            assert alone.json() == item
            assert "phone" not in item
            assert item["phone_masked"] is None or "****" in item["phone_masked"]
    listed, _ = await read_all(client, world, "district_admin")
    admin = next(i for i in listed if i["id"] == world.user("two_hats").id)
    assert [r["role"] for r in admin["roles"]] == ["community_admin", "unit_admin"]
    assert {i["wechat_bound"] for i in listed} == {True, False}


async def test_the_roster_refuses_what_it_refused(client, world):
    resp = await client.get("/users", headers=world.headers("member"))
    assert resp.status_code == 403
    resp = await client.get(
        "/users", params={"name": "x" * 51}, headers=world.headers("community_admin")
    )
    assert resp.status_code == 422
    resp = await client.get(
        "/users", params={"page_size": 1000}, headers=world.headers("community_admin")
    )
    assert resp.status_code == 422
    resp = await client.get("/users", params={"page": 0}, headers=world.headers("community_admin"))
    assert resp.status_code == 422
