"""The console's to-do counts (app/services/console.py) as the roster's rules give them."""

from __future__ import annotations

from sqlalchemy import func, select, update

from app.edge.access import caller_for_person
from app.models.user import User
from app.services.users import unbound_in_reach, users_in_reach
from tests.factories.users import make_user

ADMINS = (
    "district_admin",
    "street_admin",
    "other_street_admin",
    "community_admin",
    "other_community_admin",
    "inspector",
    "unit_admin",
    "member",
)


async def test_the_unbound_count_is_the_rosters_for_every_admin_each_person_once(world):
    # Unbound: at home in C1; in C2 working at U1 (both in S1: counted once); in C3
    # (street S2) working at U1 (street S1: S1 reaches them by their unit alone); at UD
    # alone, with no community. Bound, and a tombstone merged at bind: not counted.
    unbound = [
        await make_user(world.app, "甲", community=world["C1"], openid=None),
        await make_user(world.app, "乙", community=world["C2"], unit=world["U1"], openid=None),
        await make_user(world.app, "丙", community=world["C3"], unit=world["U1"], openid=None),
        await make_user(world.app, "丁", unit=world["UD"], openid=None, party=True),
    ]
    await make_user(world.app, "戊", community=world["C1"], unit=world["U1"])
    tombstone = await make_user(world.app, "己", phone=None, openid=None)
    async with world.app.state.sessionmaker() as session, session.begin():
        await session.execute(
            update(User).where(User.id == tombstone.id).values(merged_into_id=unbound[0].id)
        )
    counts = {}
    async with world.app.state.sessionmaker() as session:
        for key in ADMINS:
            caller = await caller_for_person(session, world.user(key))
            kept = (await session.execute(unbound_in_reach(caller))).scalar_one()
            by_rule = (
                await session.execute(
                    select(func.count())
                    .select_from(User)
                    .where(
                        users_in_reach(caller), User.openid.is_(None), User.merged_into_id.is_(None)
                    )
                )
            ).scalar_one()
            assert kept == by_rule, key
            counts[key] = kept
    assert counts == {
        "district_admin": 4,
        "street_admin": 3,
        "other_street_admin": 1,
        "community_admin": 1,
        "other_community_admin": 1,
        # No admin role: the console shows them no such count.
        "inspector": 0,
        "unit_admin": 0,
        "member": 0,
    }
