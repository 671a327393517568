"""The roster of a subtree is read from the home indexes, not by scanning everyone.

GET /users, the members ledger and the wish quota name the subtree's org ids
literally (app/core/scope.org_ids_within): two OR'ed subqueries made PostgreSQL
read every user in the city for one community's few hundred (docs/PERFORMANCE.md).
The plan tests run on PostgreSQL only; the rules they rest on (each person once,
by community or by unit, the union of an admin's subtrees) run on both databases.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, insert, text

from app.core.db import _PgStatement, utcnow
from app.models.org import OrgLevel
from app.models.user import Role, User
from tests.factories.orgs import make_org
from tests.factories.users import make_user
from tests.factories.world import World

STREETS, COMMUNITIES_PER_STREET, PEOPLE = 4, 15, 6000


async def spread_people(world: World) -> None:
    """A district of 60 communities with 6,000 people in random order, a quarter party
    members and some attached to a unit; then ANALYZE, as autovacuum would."""
    app = world.app
    communities = [world["C1"], world["C2"], world["C3"]]
    for s in range(STREETS):
        street = await make_org(app, f"街道{s}", OrgLevel.street, world["D"])
        communities += [
            await make_org(app, f"社区{s}-{c}", OrgLevel.community, street)
            for c in range(COMMUNITIES_PER_STREET)
        ]
    units = [world["U1"], world["UD"]]
    rng = random.Random(6)
    now = utcnow()
    rows = [
        {
            "name": f"居民{n:05d}",
            "phone_masked": f"139****{n:04d}",
            "community_id": rng.choice(communities).id,
            "unit_id": rng.choice(units).id if n % 10 == 0 else None,
            "is_party_member": n % 4 == 0,
            "created_at": now,
            "updated_at": now,
        }
        for n in range(PEOPLE)
    ]
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(insert(User), rows)
    async with app.state.engine.connect() as conn:
        await conn.execute(text("COMMIT"))  # ANALYZE needs no transaction around it
        await conn.execute(text("ANALYZE users"))
        await conn.execute(text("ANALYZE orgs"))


@contextmanager
def statements_sent(world: World) -> Iterator[list[tuple[str, Any]]]:
    """Every statement the app sends meanwhile, with its parameters: through the
    engine, and the `Statement`s run on the asyncpg connection itself."""
    sent: list[tuple[str, Any]] = []
    engine = world.app.state.engine.sync_engine

    def grab(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        sent.append((statement, parameters))

    run = _PgStatement.rows

    async def grab_statement(self: _PgStatement, session: Any, params: Any, **kw: Any) -> Any:
        sent.append((self.sql, tuple(self.args(params))))
        return await run(self, session, params, **kw)

    event.listen(engine, "before_cursor_execute", grab)
    _PgStatement.rows = grab_statement  # type: ignore[method-assign]
    try:
        yield sent
    finally:
        _PgStatement.rows = run  # type: ignore[method-assign]
        event.remove(engine, "before_cursor_execute", grab)


def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


async def plans_of_users_reads(world: World, sent: list[tuple[str, Any]]) -> list[list[dict]]:
    """The PostgreSQL plan of each statement sent that reads users, as the node list."""
    plans = []
    async with world.app.state.engine.connect() as conn:
        for statement, parameters in sent:
            if " users" not in statement or not statement.lstrip().upper().startswith("SELECT"):
                continue
            result = await conn.exec_driver_sql(
                "EXPLAIN (FORMAT JSON) " + statement, tuple(parameters or ())
            )
            raw = result.scalar_one()
            (plan,) = json.loads(raw) if isinstance(raw, str) else raw
            plans.append(list(nodes(plan["Plan"])))
    return plans


def seq_scans_of_users(plans: list[list[dict]]) -> list[dict]:
    return [
        n
        for plan in plans
        for n in plan
        if n["Node Type"] == "Seq Scan" and n.get("Relation Name") == "users"
    ]


def home_indexes_read(plans: list[list[dict]]) -> set[str]:
    return {n["Index Name"] for plan in plans for n in plan if "Index Name" in n} & {
        "ix_users_community_id",
        "ix_users_unit_id",
    }


@pytest.fixture
def on_postgres(world: World) -> None:
    if world.app.state.engine.dialect.name != "postgresql":
        pytest.skip("a PostgreSQL plan")


# Every read that names the subtree's people, asked on one spread district: spreading
# 6,000 people (their counts kept by triggers) costs ~9 s, the reads milliseconds.
ROSTER_READS = [
    ("/users", "community_admin", {}),
    ("/users", "community_admin", {"page": 3, "is_party_member": "true"}),
    ("/users", "street_admin", {}),
    ("/users", "street_admin", {"unit_id": "U1"}),
    # A community's members ledger and wish quota.
    ("/exports/members.xlsx", "community_admin", {"org_id": "C1"}),
    ("/stats/wish-quota", "community_admin", {"org_id": "C1"}),
]


async def test_each_read_of_a_subtrees_people_uses_the_home_indexes_not_a_scan(
    client, world, on_postgres
):
    await spread_people(world)
    wrong = []
    for path, who, params in ROSTER_READS:
        named = {k: world[v].id if k in ("unit_id", "org_id") else v for k, v in params.items()}
        with statements_sent(world) as sent:
            resp = await client.get(path, params=named, headers=world.headers(who))
        assert resp.status_code == 200, (path, who, params)
        if path == "/users":
            assert resp.json()["total"] > 0
        plans = await plans_of_users_reads(world, sent)
        if seq_scans_of_users(plans) or not home_indexes_read(plans):
            wrong.append((path, who, params, seq_scans_of_users(plans)))
    assert wrong == []


# --- the rules the faster reads keep (both databases) ------------------------------------


async def roster(client, world: World, who: str, **params: Any) -> tuple[list[str], int]:
    resp = await client.get(
        "/users", params={"page_size": 100, **params}, headers=world.headers(who)
    )
    assert resp.status_code == 200
    body = resp.json()
    return [u["name"] for u in body["items"]], body["total"]


async def test_someone_whose_community_and_unit_are_both_in_the_street_is_counted_once(
    client, world
):
    await make_user(world.app, "双重", community=world["C2"], unit=world["U1"], party=True)
    names, total = await roster(client, world, "street_admin")
    assert names.count("双重") == 1
    assert total == len(names)
    party_names, party_total = await roster(client, world, "street_admin", is_party_member="true")
    assert party_names.count("双重") == 1
    assert party_total == len(party_names)


async def test_someone_living_elsewhere_is_on_the_roster_of_their_units_street_only(client, world):
    await make_user(world.app, "外来职工", community=world["C3"], unit=world["U1"])
    street, street_total = await roster(client, world, "street_admin")
    assert "外来职工" in street
    assert street_total == len(street)
    community, _ = await roster(client, world, "community_admin")
    assert "外来职工" not in community
    by_unit, by_unit_total = await roster(client, world, "street_admin", unit_id=world["U1"].id)
    # The world's member works at U1 too.
    assert sorted(by_unit) == sorted(["外来职工", world.user("member").name])
    assert by_unit_total == 2


async def test_an_admin_of_two_communities_sees_both_rosters_and_pages_through_them(client, world):
    both = await make_user(
        world.app,
        "两社区书记",
        community=world["C1"],
        roles=[(Role.community_admin, world["C1"]), (Role.community_admin, world["C3"])],
    )
    world.people["both"] = both
    names, total = await roster(client, world, "both")
    assert {"社区书记", "外街道管理员", "两社区书记"} <= set(names)
    assert "邻社区书记" not in names  # C2 is neither
    assert total == len(names) == len(set(names))
    first, _ = await roster(client, world, "both", page_size=2)
    second, _ = await roster(client, world, "both", page_size=2, page=2)
    assert first + second == names[:4]


async def test_a_person_outside_every_subtree_of_the_admin_is_404(client, world):
    outsider = await make_user(world.app, "外人", community=world["C3"])
    resp = await client.get(f"/users/{outsider.id}", headers=world.headers("community_admin"))
    assert resp.status_code == 404
