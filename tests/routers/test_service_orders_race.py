"""Takes under contention: however many of the dispatched team press "take" at once,
one wins. The take is a conditional UPDATE; a naive read-then-write take runs the same
way as a control, to show the test can catch a race at all."""

import asyncio
from collections import Counter

import pytest
from sqlalchemy import func, select, update

from app.models.service_order import OrderStatus, ServiceOrder, ServiceOrderEvent
from tests.factories.service_orders import insert_order
from tests.factories.teams import insert_team
from tests.factories.users import auth, make_user

pytestmark = pytest.mark.usefixtures("counts_stay_exact")

TAKERS = 50
ROUNDS = 5


@pytest.fixture
async def team_of_fifty(world):
    people = [await make_user(world.app, f"队员{i}", community=world["C1"]) for i in range(TAKERS)]
    team = await insert_team(world.app, org=world["C1"], leader=people[0], members=people[1:])
    return team, [(p, auth(world.app, p)) for p in people]


async def dispatched(world, team):
    return await insert_order(
        world.app,
        community=world["C1"],
        orderer=world.user("member"),
        status=OrderStatus.dispatched,
        team=team,
    )


async def test_fifty_simultaneous_takers_leave_exactly_one_winner(client, world, team_of_fifty):
    team, crowd = team_of_fifty
    for round_no in range(ROUNDS):
        order = await dispatched(world, team)
        responses = await asyncio.gather(
            *(client.post(f"/service-orders/{order.id}/take", headers=h) for _, h in crowd)
        )
        statuses = Counter(r.status_code for r in responses)
        assert statuses == {200: 1, 409: TAKERS - 1}, (round_no, statuses)
        assert {r.json()["code"] for r in responses if r.status_code == 409} == {
            "order_already_taken"
        }
        (winner,) = [crowd[i][0] for i, r in enumerate(responses) if r.status_code == 200]
        async with world.app.state.sessionmaker() as s:
            stored = await s.get(ServiceOrder, order.id)
            takes = (
                await s.execute(
                    select(func.count()).where(
                        ServiceOrderEvent.service_order_id == order.id,
                        ServiceOrderEvent.action == "take",
                    )
                )
            ).scalar_one()
        assert (stored.status, stored.taken_by_id, takes) == (OrderStatus.taken, winner.id, 1)


async def naive_take(app, order_id: int, user_id: int) -> bool:
    """The bug the real take avoids: read the state, then write without re-checking it."""
    async with app.state.sessionmaker() as read:
        status = (
            await read.execute(select(ServiceOrder.status).where(ServiceOrder.id == order_id))
        ).scalar_one()
    await asyncio.sleep(0)
    if status != OrderStatus.dispatched:
        return False
    async with app.state.sessionmaker() as write, write.begin():
        await write.execute(
            update(ServiceOrder)
            .where(ServiceOrder.id == order_id)
            .values(status=OrderStatus.taken, taken_by_id=user_id)
        )
    return True


async def test_the_naive_read_then_write_take_lets_several_win(world, team_of_fifty):
    """The control: the naive take must crown more than one winner at least once in as
    many rounds, or the test above proves nothing."""
    team, crowd = team_of_fifty
    winners = []
    for _ in range(ROUNDS):
        order = await dispatched(world, team)
        won = await asyncio.gather(*(naive_take(world.app, order.id, p.id) for p, _ in crowd))
        winners.append(sum(won))
        if winners[-1] > 1:
            break
    assert max(winners) > 1, winners
