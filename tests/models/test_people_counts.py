"""The dashboards' head counts kept by triggers equal the same counts rebuilt from the
rows, whatever happens to people, reports and claims, and in whatever order.

`people_counts` and `wish_quota_claims` (app/models/people_counts.py) are derived
data: every test here ends by rebuilding both from users, report_ins and the wishes'
history, in Python, and comparing. tests/routers/test_dashboard.py checks that the dashboards
built on them agree with the detail endpoints.
"""

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import text, update
from sqlmodel import col

from app.core.timeutil import month_key
from app.models.user import User
from app.models.wish import WishEvent, WishStatus
from app.services.wish_quota import rederive_latest_claim
from tests.conftest import downgrade_and_back
from tests.factories.media import make_media
from tests.factories.users import auth, make_user
from tests.factories.wishes import insert_wish
from tests.support.counts import assert_counts_are_exact, kept_up, rebuilt


async def dashboard(client, world, org: str) -> dict:
    response = await client.get(
        "/dashboard", params={"org_id": world[org].id}, headers=world.headers("district_admin")
    )
    assert response.status_code == 200, response.text
    return response.json()


def people(d: dict) -> tuple[int, int, int, int]:
    return (d["members"], d["party_members"], d["party_members_reported"], d["wish_quota_claimed"])


async def test_a_report_follows_its_member_home_and_out_of_the_party(client, world):
    member = world.user("member")
    before_c1, before_c3 = (
        people(await dashboard(client, world, "C1")),
        people(await dashboard(client, world, "C3")),
    )
    assert (await client.post("/report-ins", json={}, headers=world.headers("member"))).is_success
    c1 = people(await dashboard(client, world, "C1"))
    assert c1 == (before_c1[0], before_c1[1], before_c1[2] + 1, before_c1[3])
    await assert_counts_are_exact(world.app)

    # Moved to C3: the month's report counts where the member lives now.
    moved = await client.patch(
        f"/users/{member.id}",
        json={"community_id": world["C3"].id},
        headers=world.headers("district_admin"),
    )
    assert moved.status_code == 200, moved.text
    assert people(await dashboard(client, world, "C1")) == (
        before_c1[0] - 1,
        before_c1[1] - 1,
        before_c1[2],
        before_c1[3],
    )
    assert people(await dashboard(client, world, "C3")) == (
        before_c3[0] + 1,
        before_c3[1] + 1,
        before_c3[2] + 1,
        before_c3[3],
    )
    await assert_counts_are_exact(world.app)

    # No longer a party member: still a member, no longer among the reporters.
    left = await client.patch(
        f"/users/{member.id}",
        json={"is_party_member": False},
        headers=world.headers("district_admin"),
    )
    assert left.status_code == 200, left.text
    assert people(await dashboard(client, world, "C3")) == (
        before_c3[0] + 1,
        before_c3[1],
        before_c3[2],
        before_c3[3],
    )
    await assert_counts_are_exact(world.app)


async def test_a_member_of_a_unit_counts_once_for_the_street_holding_community_and_unit(
    client, world
):
    worker = await make_user(
        world.app, "单位党员", community=world["C1"], unit=world["U1"], party=True
    )
    assert (await client.post("/report-ins", json={}, headers=auth(world.app, worker))).is_success
    s1 = people(await dashboard(client, world, "S1"))
    u1 = people(await dashboard(client, world, "U1"))
    assert u1 == (2, 2, 1, 0)  # the worker and the world's member, who works there too
    ranking = await client.get(
        "/dashboard/children",
        params={"org_id": world["S1"].id},
        headers=world.headers("district_admin"),
    )
    by_org = {i["org_id"]: i for i in ranking.json()["items"]}
    # Once in the street, once in each child holding one of the two homes.
    assert by_org[world["U1"].id]["party_members_reported"] == 1
    assert by_org[world["C1"].id]["party_members_reported"] == s1[2]
    await assert_counts_are_exact(world.app)


async def test_claims_released_cancelled_and_reclaimed_keep_the_quota_exact(client, world):
    member, admin = world.headers("member"), world.headers("community_admin")
    wish = await insert_wish(world.app, community=world["C1"], poster=world.user("community_admin"))
    claimed = people(await dashboard(client, world, "C1"))[3]

    assert (await client.post(f"/wishes/{wish.id}/claim", headers=member)).status_code == 200
    assert people(await dashboard(client, world, "C1"))[3] == claimed + 1
    await assert_counts_are_exact(world.app)

    assert (await client.post(f"/wishes/{wish.id}/release", headers=member)).status_code == 200
    assert people(await dashboard(client, world, "C1"))[3] == claimed
    await assert_counts_are_exact(world.app)

    # Claimed by another, then cancelled by the admin: neither kept a claim.
    other = world.headers("inspector")
    assert (await client.post(f"/wishes/{wish.id}/claim", headers=member)).status_code == 200
    assert (await client.post(f"/wishes/{wish.id}/release", headers=member)).status_code == 200
    assert (await client.post(f"/wishes/{wish.id}/claim", headers=other)).status_code == 200
    assert people(await dashboard(client, world, "C1"))[3] == claimed + 1
    cancelled = await client.post(f"/wishes/{wish.id}/cancel", json={}, headers=admin)
    assert cancelled.status_code == 200, cancelled.text
    assert people(await dashboard(client, world, "C1"))[3] == claimed
    await assert_counts_are_exact(world.app)

    # A claim that leads to fulfilment stays whatever follows.
    second = await insert_wish(
        world.app, community=world["C1"], poster=world.user("community_admin")
    )
    assert (await client.post(f"/wishes/{second.id}/claim", headers=member)).status_code == 200
    photo = await make_media(world.app, world.user("member"))
    fulfilled = await client.post(
        f"/wishes/{second.id}/fulfill",
        json={"note": "已送到", "photo_ids": [photo.id]},
        headers=member,
    )
    assert fulfilled.status_code == 200, fulfilled.text
    assert people(await dashboard(client, world, "C1"))[3] == claimed + 1
    await assert_counts_are_exact(world.app)


async def test_a_december_claim_released_in_january_leaves_the_year_it_was_made(client, world):
    member = world.user("member")
    wish = await insert_wish(
        world.app,
        community=world["C1"],
        poster=world.user("community_admin"),
        status=WishStatus.claimed,
        claimant=member,
    )
    # 23:00 on 31 December 2025 in Shanghai, 15:00 UTC.
    async with world.app.state.sessionmaker() as s, s.begin():
        await s.execute(
            update(WishEvent)
            .where(col(WishEvent.wish_id) == wish.id, col(WishEvent.action) == "claim")
            .values(at=datetime(2025, 12, 31, 15, 0, tzinfo=UTC))
        )
        await s.execute(text("DELETE FROM wish_quota_claims"))
        await rederive_latest_claim(s, wish.id)
    assert (await kept_up(world.app))[1] == {(member.id, 2025)}
    await assert_counts_are_exact(world.app)

    released = await client.post(f"/wishes/{wish.id}/release", headers=world.headers("member"))
    assert released.status_code == 200, released.text
    assert (await kept_up(world.app))[1] == set()
    await assert_counts_are_exact(world.app)


@pytest.mark.pooled
async def test_reports_moves_and_claims_at_once_settle_to_the_rebuilt_counts(client, world):
    """Many phones and an admin at the same moment: on PostgreSQL these run on
    separate connections, so reports and moves of the same person really race."""
    app = world.app
    members = [
        await make_user(app, f"党员{i}", community=world["C1"], party=True) for i in range(12)
    ]
    wishes = [
        await insert_wish(app, community=world["C1"], poster=world.user("community_admin"))
        for _ in range(6)
    ]
    boss = world.headers("district_admin")

    async def report(user: User) -> None:
        r = await client.post("/report-ins", json={}, headers=auth(app, user))
        assert r.status_code in (200, 201), r.text

    async def move(user: User, to: str) -> None:
        r = await client.patch(
            f"/users/{user.id}", json={"community_id": world[to].id}, headers=boss
        )
        assert r.status_code == 200, r.text

    async def claim_and_release(user: User, wish_id: int) -> None:
        h = auth(app, user)
        r = await client.post(f"/wishes/{wish_id}/claim", headers=h)
        if r.status_code == 200:
            await client.post(f"/wishes/{wish_id}/release", headers=h)
            await client.post(f"/wishes/{wish_id}/claim", headers=h)

    await asyncio.gather(
        *(report(m) for m in members),
        *(move(m, "C3" if i % 2 else "C2") for i, m in enumerate(members)),
        *(claim_and_release(m, w.id) for m, w in zip(members, wishes * 2, strict=True)),
        *(move(m, "C1") for m in members[:4]),
    )
    await assert_counts_are_exact(app)
    month = month_key(datetime.now(UTC))
    d = await dashboard(client, world, "D")
    assert d["party_members_reported"] >= len(members)
    assert month in {k[0] for k in (await kept_up(app))[0]}


async def test_the_migration_fills_both_tables_from_the_rows_already_stored(client, world):
    """The migration's backfill (its own copy of the rules, as of its revision) gives
    what the triggers and the wishes service keep."""
    member, other = world.headers("member"), world.headers("inspector")
    kept, released = [
        await insert_wish(world.app, community=world["C1"], poster=world.user("community_admin"))
        for _ in range(2)
    ]
    worker = await make_user(
        world.app, "单位党员", community=world["C2"], unit=world["U1"], party=True
    )
    for headers in (member, other, auth(world.app, worker)):
        assert (await client.post("/report-ins", json={}, headers=headers)).is_success
    assert (await client.post(f"/wishes/{kept.id}/claim", headers=member)).status_code == 200
    assert (await client.post(f"/wishes/{released.id}/claim", headers=other)).status_code == 200
    assert (await client.post(f"/wishes/{released.id}/release", headers=other)).status_code == 200
    moved = await client.patch(
        f"/users/{world.user('member').id}",
        json={"community_id": world["C3"].id},
        headers=world.headers("district_admin"),
    )
    assert moved.status_code == 200, moved.text
    expected = await rebuilt(world.app)
    assert await kept_up(world.app) == expected

    await downgrade_and_back(world.app, "c3e2a0f4b003")
    assert await kept_up(world.app) == expected
