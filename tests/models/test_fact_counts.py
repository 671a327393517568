"""The dashboards' record counts kept by triggers (`fact_counts`,
app/models/fact_counts.py) equal the same counts rebuilt from the rows, whoever
writes the rows and however many write at once.

Every module that writes the counted tables already ends each test with the rebuild
(the `counts_stay_exact` fixture); here: writes that bypass the app, simultaneous
writers of the same counts, and the migration's backfill.
"""

import asyncio

import pytest
from sqlalchemy import delete, update
from sqlmodel import col

from app.core.timeutil import month_key
from app.models.article import Article
from app.models.org import OrgLevel
from app.models.pairing import Pairing, PairingStatus
from app.models.problem import Problem
from app.models.task import CheckIn, Task
from app.models.volunteer_hours import HourSource, HourStatus, VolunteerHour
from app.models.wish import Wish
from tests.conftest import downgrade_and_back
from tests.factories.orgs import make_org
from tests.factories.pairings import make_pairing
from tests.factories.tasks import make_task
from tests.factories.users import auth, make_user
from tests.factories.volunteer_hours import insert_entry
from tests.factories.wishes import insert_wish
from tests.routers.test_dashboard import build_scene, dashboard
from tests.routers.test_tasks import HERE
from tests.support.counts import (
    assert_counts_are_exact,
    assert_facts_are_exact,
    facts_kept,
    facts_rebuilt,
)


async def test_writes_that_bypass_the_app_move_the_counts_too(client, world):
    """The triggers, not the services, keep the counts: a task moved to another org
    takes its check-ins along (the foreign key cascades), deleted rows leave, records
    moved between orgs move their counts."""
    month = await build_scene(world)
    c1, c3 = (
        await dashboard(client, world, "C1", month),
        await dashboard(client, world, "C3", month),
    )
    assert c1["check_ins"] and c1["articles_published"] and c3["problems_closed"]
    await assert_facts_are_exact(world.app)

    c1_id, c2_id, c3_id = world["C1"].id, world["C2"].id, world["C3"].id
    async with world.app.state.sessionmaker() as s, s.begin():
        await s.execute(delete(CheckIn).where(col(CheckIn.org_id) == c3_id))
        await s.execute(update(Task).where(col(Task.org_id) == c1_id).values(org_id=c3_id))
        await s.execute(
            update(Wish).where(col(Wish.community_id) == c3_id).values(community_id=c2_id)
        )
        await s.execute(
            update(Article)
            .where(col(Article.org_id) == c1_id, col(Article.published_at).is_not(None))
            .values(org_id=c3_id)
        )
        await s.execute(update(Problem).where(col(Problem.org_id) == c3_id).values(org_id=c1_id))
    await assert_facts_are_exact(world.app)

    after_c1 = await dashboard(client, world, "C1", month)
    after_c3 = await dashboard(client, world, "C3", month)
    assert (after_c1["check_ins"], after_c3["check_ins"]) == (0, c1["check_ins"])
    assert after_c3["wishes_claimed"] == after_c3["wishes_rejected"] == 0
    assert after_c1["articles_published"] == 0
    assert after_c3["articles_published"] == c3["articles_published"] + c1["articles_published"]
    assert after_c1["problems_closed"] == c1["problems_closed"] + c3["problems_closed"]
    assert after_c1["problems_found"] == c1["problems_found"] + c3["problems_found"]


@pytest.mark.pooled
async def test_check_ins_reviews_and_claims_at_once_settle_to_the_rebuilt_counts(client, world):
    """On PostgreSQL these run on separate connections: check-ins of four tasks of one
    org, reviews of one org's hour entries (spread over parts, some on one part)
    and claims and releases of one community's wishes all write the same counts at
    once. None may wait forever, fail or lose a count."""
    app = world.app
    tasks = [await make_task(app, world["C1"]) for _ in range(4)]
    people = [await make_user(app, f"志愿者{i}", community=world["C1"]) for i in range(24)]
    entries = [
        await insert_entry(app, user=p, org=world["C1"], minutes=30 + i)
        for i, p in enumerate(people[:12])
    ]
    wishes = [
        await insert_wish(app, community=world["C1"], poster=world.user("community_admin"))
        for _ in range(6)
    ]
    admin = world.headers("community_admin")

    async def check_in(i: int) -> None:
        r = await client.post(
            f"/tasks/{tasks[i % 4].id}/check-ins", json=HERE, headers=auth(app, people[i])
        )
        assert r.status_code == 201, r.text

    async def review(i: int) -> None:
        r = await client.post(
            f"/volunteer-hours/{entries[i].id}/review",
            json={"approve": i % 3 != 0, **({} if i % 3 else {"reason": "时长有误"})},
            headers=admin,
        )
        assert r.status_code == 200, r.text

    async def claim_and_release(i: int) -> None:
        h = auth(app, people[12 + i])
        r = await client.post(f"/wishes/{wishes[i].id}/claim", headers=h)
        assert r.status_code == 200, r.text
        if i % 2:
            assert (await client.post(f"/wishes/{wishes[i].id}/release", headers=h)).is_success

    await asyncio.gather(
        *(check_in(i) for i in range(len(people))),
        *(review(i) for i in range(len(entries))),
        *(claim_and_release(i) for i in range(len(wishes))),
    )
    await assert_facts_are_exact(app)
    d = await dashboard(client, world, "C1")
    assert d["check_ins"] == len(people)
    approved = [e for i, e in enumerate(entries) if i % 3 != 0]
    assert d["approved_volunteer_minutes"] == sum(e.minutes for e in approved)
    assert (d["wishes_claimed"], d["wishes_open"]) == (3, 3)


async def test_the_migration_fills_the_counts_from_the_rows_already_stored(client, world):
    """The migration's backfill (its own copy of the rules, as of its revision) gives
    what the triggers keep."""
    await build_scene(world)
    expected = await facts_rebuilt(world.app)
    assert await facts_kept(world.app) == expected
    assert {fact for _, _, fact, _ in expected} >= {
        "check_ins",
        "approved_volunteer_minutes",
        "report_ins",
        "wishes_open",
        "problems_open",
        "problems_found",
        "problems_found_closed",
        "articles_submitted",
        "articles_published",
    }

    await downgrade_and_back(world.app, "d4f3b1a5c004")
    assert await facts_kept(world.app) == expected


async def test_pairings_and_order_minutes_move_with_ends_revocations_and_deletes(client, world):
    """Active pairings (each side) and service orders' minutes are kept per org too
    (migration d1e5a7c9b024): an ended pairing, a revoked or deleted entry and an
    entry moved to another community move the figures as a recount does, and the
    migration's backfill gives the same counts."""
    admin, member = world.user("district_admin"), world.user("member")
    for unit, community in (("U1", "C1"), ("UD", "C1"), ("U1", "C3")):
        await make_pairing(world.app, unit=world[unit], community=world[community], by=admin)
    entries = [
        await insert_entry(
            world.app,
            user=member,
            org=world["C1"],
            minutes=minutes,
            status=HourStatus.approved,
            source=source,
        )
        for minutes, source in (
            (60, HourSource.service_order),
            (45, HourSource.service_order),
            (30, HourSource.manual),
        )
    ]
    month = month_key(entries[0].started_at)
    c1, s1 = (
        await dashboard(client, world, "C1", month),
        await dashboard(client, world, "S1", month),
    )
    assert (c1["pairings_active"], c1["service_order_minutes"]) == (2, 105)
    assert c1["approved_volunteer_minutes"] == 135
    assert s1["pairings_active"] == 2  # its community C1's; C3 lies in S2
    assert (await dashboard(client, world, "U1", month, who="district_admin"))[
        "pairings_active"
    ] == 2
    assert (await dashboard(client, world, "D", month))["pairings_active"] == 3
    await assert_facts_are_exact(world.app)

    async with world.app.state.sessionmaker() as s, s.begin():
        await s.execute(
            update(Pairing)
            .where(col(Pairing.unit_id) == world["UD"].id)
            .values(status=PairingStatus.ended)
        )
        await s.execute(
            update(VolunteerHour)
            .where(col(VolunteerHour.id) == entries[0].id)
            .values(status=HourStatus.rejected)
        )
        await s.execute(
            update(VolunteerHour)
            .where(col(VolunteerHour.id) == entries[1].id)
            .values(org_id=world["C3"].id)
        )
        await s.execute(delete(VolunteerHour).where(col(VolunteerHour.id) == entries[2].id))
    await assert_facts_are_exact(world.app)
    c1, c3 = (
        await dashboard(client, world, "C1", month),
        await dashboard(client, world, "C3", month),
    )
    assert (c1["pairings_active"], c1["service_order_minutes"]) == (1, 0)
    assert (c3["pairings_active"], c3["service_order_minutes"]) == (1, 45)
    assert (await dashboard(client, world, "UD", month))["pairings_active"] == 0

    expected = await facts_rebuilt(world.app)
    await downgrade_and_back(world.app, "d1a7c3e5f842")
    assert await facts_kept(world.app) == expected


async def test_a_check_in_refused_for_a_full_task_leaves_no_count(client, world):
    task = await make_task(world.app, world["C1"], capacity=1)
    for who in ("member", "community_admin"):
        await client.post(f"/tasks/{task.id}/check-ins", json=HERE, headers=world.headers(who))
    assert (await dashboard(client, world, "C1"))["check_ins"] == 1
    await assert_facts_are_exact(world.app)


async def test_people_count_once_wherever_their_community_and_unit_meet(client, world):
    """A member's community and unit meet at a street (U1), at the district (UD), or
    nowhere (a unit of another district): the org and each of its ancestors count
    them once, the children of a ranking once each where a home lies."""
    app = world.app
    other = await make_org(app, "外区", OrgLevel.district)
    far_unit = await make_org(app, "外区单位", OrgLevel.unit, other)
    homes = {"同街": world["U1"], "同区": world["UD"], "跨区": far_unit}
    people = {
        name: await make_user(app, name, community=world["C1"], unit=unit, party=True)
        for name, unit in homes.items()
    }
    for person in people.values():
        assert (await client.post("/report-ins", json={}, headers=auth(app, person))).is_success
    await assert_counts_are_exact(app)

    async def members(org) -> tuple[int, int, int]:
        d = await dashboard(client, world, org)
        return d["members"], d["party_members"], d["party_members_reported"]

    admins = {"D": "district_admin", "S1": "street_admin", "S2": "other_street_admin"}
    admins["C1"] = "community_admin"

    async def on_roster() -> None:
        """Each admin's dashboard counts whom GET /users lists for them."""
        for org, admin in admins.items():
            r = await client.get("/users", params={"page_size": 1}, headers=world.headers(admin))
            assert r.status_code == 200, r.text
            assert (await members(org))[0] == r.json()["total"], org

    # The world's seven party members, six of them in C1 or C2, plus three in C1.
    await on_roster()
    assert await members("D") == (10, 10, 3)
    assert await members("S1") == (9, 9, 3)
    assert await members("U1") == (2, 2, 1)  # with the world's member, who works there
    assert await members("UD") == (1, 1, 1)

    ranking = await client.get(
        "/dashboard/children",
        params={"org_id": world["D"].id},
        headers=world.headers("district_admin"),
    )
    by_org = {i["org_id"]: i for i in ranking.json()["items"]}
    # S1 holds C1 and U1: the same-street member once; UD is a child of its own.
    assert by_org[world["S1"].id]["members"] == 9
    assert by_org[world["UD"].id]["members"] == 1
    assert by_org[world["S2"].id]["members"] == 1  # the other street's admin (C3)

    # Moved out of the party, then home to another community: the sums follow.
    boss = world.headers("district_admin")
    same_street = people["同街"]
    patched = await client.patch(
        f"/users/{same_street.id}", json={"is_party_member": False}, headers=boss
    )
    assert patched.status_code == 200, patched.text
    patched = await client.patch(
        f"/users/{same_street.id}", json={"community_id": world["C3"].id}, headers=boss
    )
    assert patched.status_code == 200, patched.text
    await assert_counts_are_exact(app)
    assert await members("D") == (10, 9, 2)
    assert await members("S2") == (2, 1, 0)
    assert await members("S1") == (9, 8, 2)  # still a member of S1 by the unit U1
    await on_roster()
