"""Claims under contention: however many press "claim" at once, one wins.

The claim is a conditional UPDATE in SQL. A deliberately naive read-then-write claim
runs the same way as a control, to show these tests can catch a race at all.
"""

import asyncio
from collections import Counter

import pytest
from sqlalchemy import func, select, update

from app.models.wish import Wish, WishEvent, WishStatus
from tests.factories.users import auth, make_user
from tests.factories.wishes import insert_wish

# Everything written here leaves the dashboards' kept sums exact (tests/support/counts.py).
pytestmark = pytest.mark.usefixtures("counts_stay_exact")

CLAIMERS = 50
ROUNDS = 20


@pytest.fixture
async def crowd(world):
    """50 party members of the district, with their auth headers."""
    homes = [world["C1"], world["C2"], world["C3"]]
    people = [
        await make_user(world.app, f"党员{i}", community=homes[i % 3], party=True)
        for i in range(CLAIMERS)
    ]
    return [(p, auth(world.app, p)) for p in people]


async def new_open_wish(world, round_no):
    return await insert_wish(
        world.app,
        community=world["C1"],
        poster=world.user("community_admin"),
        title=f"第{round_no}轮的心愿",
    )


async def test_fifty_simultaneous_claimers_leave_exactly_one_winner_every_round(
    client, world, crowd
):
    for round_no in range(ROUNDS):
        wish = await new_open_wish(world, round_no)
        responses = await asyncio.gather(
            *(client.post(f"/wishes/{wish.id}/claim", headers=h) for _, h in crowd)
        )
        statuses = Counter(r.status_code for r in responses)
        assert statuses == {200: 1, 409: CLAIMERS - 1}, (round_no, statuses)
        assert {r.json()["code"] for r in responses if r.status_code == 409} == {
            "wish_already_claimed"
        }
        (winner_index,) = [i for i, r in enumerate(responses) if r.status_code == 200]
        winner, winner_headers = crowd[winner_index]
        async with world.app.state.sessionmaker() as s:
            stored = await s.get(Wish, wish.id)
            claims = (
                await s.execute(
                    select(func.count())
                    .select_from(WishEvent)
                    .where(WishEvent.wish_id == wish.id, WishEvent.action == "claim")
                )
            ).scalar_one()
        assert stored.status == WishStatus.claimed
        assert stored.claimed_by_id == winner.id
        assert claims == 1
        # Hand it back so nobody reaches the claim limit over the rounds.
        released = await client.post(f"/wishes/{wish.id}/release", headers=winner_headers)
        assert released.status_code == 200


async def naive_claim(app, wish_id: int, user_id: int) -> bool:
    """The bug the real claim avoids: read the state, then write without re-checking it."""
    async with app.state.sessionmaker() as read:
        status = (await read.execute(select(Wish.status).where(Wish.id == wish_id))).scalar_one()
    await asyncio.sleep(0)
    if status != WishStatus.open:
        return False
    async with app.state.sessionmaker() as write, write.begin():
        await write.execute(
            update(Wish)
            .where(Wish.id == wish_id)
            .values(status=WishStatus.claimed, claimed_by_id=user_id)
        )
    return True


async def test_the_naive_read_then_write_claim_lets_several_win(world, crowd):
    """The control: run like the real test, the naive claim must crown more than one
    winner at least once in as many rounds, or the test above proves nothing."""
    winners = []
    for round_no in range(ROUNDS):
        wish = await new_open_wish(world, round_no)
        won = await asyncio.gather(*(naive_claim(world.app, wish.id, p.id) for p, _ in crowd))
        winners.append(sum(won))
        if winners[-1] > 1:
            break
    assert max(winners) > 1, winners


@pytest.mark.pooled
async def test_one_member_pressing_six_wishes_at_once_gets_exactly_the_limit(client, world):
    limit = world.app.state.settings.wish_max_open_claims
    assert limit == 3
    for round_no in range(5):
        presser = await make_user(
            world.app, f"手快的党员{round_no}", community=world["C1"], party=True
        )
        wishes = [await new_open_wish(world, i) for i in range(6)]
        h = auth(world.app, presser)
        responses = await asyncio.gather(
            *(client.post(f"/wishes/{w.id}/claim", headers=h) for w in wishes)
        )
        statuses = Counter(r.status_code for r in responses)
        assert statuses == {200: limit, 409: 6 - limit}, (round_no, statuses)
        assert {r.json()["code"] for r in responses if r.status_code == 409} == {
            "claim_limit_reached"
        }
        async with world.app.state.sessionmaker() as s:
            held = (
                await s.execute(
                    select(func.count())
                    .select_from(Wish)
                    .where(Wish.claimed_by_id == presser.id, Wish.status == WishStatus.claimed)
                )
            ).scalar_one()
        assert held == limit
