"""The community shop: redeem, collect with the code, cancel, expire; and under contention,
no oversell and no negative balance (the stock and the points are settled in SQL).

A naive read-then-write redemption runs as a control, to show the race tests can catch
an oversell at all.
"""

import asyncio
import random
from collections import Counter
from datetime import timedelta

from sqlalchemy import select, update

from app.core.db import utcnow, write_transaction
from app.models.points import ShopItem, SourceKind
from app.services import points, shop
from tests.factories.points import fund, insert_item, set_rules, stock_of
from tests.factories.users import auth, make_user
from tests.support.points import assert_ledger_is_exact

CROWD = 50


async def test_a_reservation_is_collected_with_its_code_cancelled_or_expired_giving_all_back(
    client, world
):
    app, member = world.app, world.user("member")
    me, admin = auth(app, member), auth(app, world.user("community_admin"))
    await fund(app, member, world["C1"], 50)
    made = await client.post(
        "/shop/items",
        json={
            "community_id": world["C1"].id,
            "name": "洗衣液",
            "points": 10,
            "stock": 3,
            "donor_org_id": world["U1"].id,
        },
        headers=admin,
    )
    assert made.status_code == 201 and made.json()["donor_name"] == "东关小学"
    item = made.json()["id"]
    listed = await client.get("/shop/items", headers=me)
    assert [(i["name"], i["stock"]) for i in listed.json()] == [("洗衣液", 3)]

    # Beyond the balance: refused, nothing taken (the stock is as it was).
    poor = await client.post("/shop/redemptions", json={"item_id": item, "quantity": 4}, headers=me)
    assert (poor.status_code, poor.json()["code"]) == (409, "out_of_stock")
    reserved = await client.post(
        "/shop/redemptions", json={"item_id": item, "quantity": 2}, headers=me
    )
    assert reserved.status_code == 201
    got = reserved.json()
    assert got["status"] == "reserved" and len(got["pickup_code"]) == 6
    assert (await stock_of(app, item), await _balance(app, member)) == (1, 30)
    # The shopkeeper never sees the code; a wrong one is refused.
    seen = await client.get("/shop/redemptions", params={"status": "reserved"}, headers=admin)
    assert [r["pickup_code"] for r in seen.json()["items"]] == [None]
    path = f"/shop/redemptions/{got['id']}"
    wrong = await client.post(f"{path}/collect", json={"pickup_code": "xxxxxx"}, headers=admin)
    assert (wrong.status_code, wrong.json()["code"]) == (422, "wrong_pickup_code")
    mine_collects = await client.post(
        f"{path}/collect", json={"pickup_code": got["pickup_code"]}, headers=me
    )
    assert mine_collects.status_code == 403
    ok = await client.post(
        f"{path}/collect", json={"pickup_code": got["pickup_code"]}, headers=admin
    )
    assert ok.json()["status"] == "collected"
    late = await client.post(f"{path}/cancel", headers=me)
    assert (late.status_code, late.json()["code"]) == (409, "redemption_not_reserved")

    # Cancelled by the person: one back in stock, 10 points back.
    one = (await client.post("/shop/redemptions", json={"item_id": item}, headers=me)).json()
    cancelled = await client.post(f"/shop/redemptions/{one['id']}/cancel", headers=me)
    assert cancelled.json()["status"] == "cancelled"
    assert (await stock_of(app, item), await _balance(app, member)) == (1, 30)
    broke = await client.post(
        "/shop/redemptions",
        json={"item_id": item, "quantity": 1},
        headers=auth(app, world.user("community_admin")),
    )
    assert (broke.status_code, broke.json()["code"]) == (409, "insufficient_points")
    assert await stock_of(app, item) == 1  # nothing half-written

    # Left uncollected: the daily scan expires it after SHOP_RESERVATION_DAYS.
    left = (await client.post("/shop/redemptions", json={"item_id": item}, headers=me)).json()
    days = app.state.settings.shop_reservation_days
    async with write_transaction(app.state.sessionmaker) as s:
        assert await shop.expire_reservations(s, app.state.settings, utcnow()) == 0
        later = utcnow() + timedelta(days=days, minutes=1)
        assert await shop.expire_reservations(s, app.state.settings, later) == 1
    after = await client.get("/shop/redemptions", params={"status": "expired"}, headers=me)
    assert [r["id"] for r in after.json()["items"]] == [left["id"]]
    assert (await stock_of(app, item), await _balance(app, member)) == (1, 30)
    mine = (await client.get("/me/points", headers=me)).json()
    assert mine["entries"][0]["text"].endswith("兑换逾期未取，积分退回")
    await assert_ledger_is_exact(app)

    # The figures: 50 issued, 20 spent (the cancelled and expired came back), 30 left.
    board = await client.get("/dashboard", params={"org_id": world["C1"].id}, headers=admin)
    figures = {k: v for k, v in board.json().items() if "credits" in k or "redemptions" in k}
    assert figures == {
        "credits_issued": 50,
        "credits_spent": 20,
        "credits_outstanding": 30,
        "redemptions": 3,
        "redemptions_collected": 1,
    }


async def _balance(app, user) -> int:
    async with app.state.sessionmaker() as s:
        return await points.balance_of(s, user.id)


async def test_fifty_redeeming_the_last_ten_get_exactly_ten(client, world):
    app = world.app
    people = [await make_user(app, f"居民{i}", community=world["C1"]) for i in range(CROWD)]
    for p in people:
        await fund(app, p, world["C1"], 10)
    item = await insert_item(app, world["C1"], stock=10, price=10)
    answers = await asyncio.gather(
        *(
            client.post("/shop/redemptions", json={"item_id": item.id}, headers=auth(app, p))
            for p in people
        )
    )
    assert Counter(r.status_code for r in answers) == {201: 10, 409: CROWD - 10}
    assert {r.json()["code"] for r in answers if r.status_code == 409} == {"out_of_stock"}
    assert await stock_of(app, item.id) == 0
    await assert_ledger_is_exact(app)


async def test_one_person_on_two_phones_redeems_no_more_than_the_balance(client, world):
    app, member = world.app, world.user("member")
    await fund(app, member, world["C1"], 30)
    item = await insert_item(app, world["C1"], stock=100, price=10)
    phones = [auth(app, member), auth(app, member)]
    answers = await asyncio.gather(
        *(
            client.post("/shop/redemptions", json={"item_id": item.id}, headers=phones[i % 2])
            for i in range(8)
        )
    )
    assert Counter(r.status_code for r in answers) == {201: 3, 409: 5}
    assert {r.json()["code"] for r in answers if r.status_code == 409} == {"insufficient_points"}
    assert (await stock_of(app, item.id), await _balance(app, member)) == (97, 0)
    await assert_ledger_is_exact(app)


async def naive_redeem(app, item_id: int) -> bool:
    """The bug the real redemption avoids: read the stock, then write what was read
    less one, without re-checking it in the write."""
    async with app.state.sessionmaker() as read:
        stock = (
            await read.execute(select(ShopItem.stock).where(ShopItem.id == item_id))
        ).scalar_one()
    await asyncio.sleep(0)
    if stock < 1:
        return False
    async with write_transaction(app.state.sessionmaker) as write:
        await write.execute(update(ShopItem).where(ShopItem.id == item_id).values(stock=stock - 1))
    return True


async def test_the_naive_read_then_write_redemption_oversells(world):
    """The control: the naive redemption must hand out more than the stock at least
    once, or the tests above prove nothing."""
    sold = []
    for _ in range(10):
        item = await insert_item(world.app, world["C1"], stock=10)
        sold.append(
            sum(await asyncio.gather(*(naive_redeem(world.app, item.id) for _ in range(CROWD))))
        )
        if sold[-1] > 10:
            break
    assert max(sold) > 10, sold


async def test_random_concurrent_grants_reversals_redemptions_and_expiries_keep_the_ledger_exact(
    client, world
):
    """Many clients at once, each a random sequence (a source undone and done again
    follows its chain of reversals); afterwards every balance is the
    sum of its entries, the ledger sums to zero, nothing is negative, every source was
    granted at most once."""
    app = world.app
    rng = random.Random(20)
    await set_rules(app, world["D"], order=7, report_in=3)
    people = [await make_user(app, f"居民{i}", community=world["C1"]) for i in range(8)]
    items = [await insert_item(app, world["C1"], stock=4, price=p) for p in (3, 5, 7)]
    settings = app.state.settings

    async def client_run(person, seed: int) -> None:
        r = random.Random(seed)
        h = auth(app, person)
        for _ in range(8):
            op = r.choice(
                ("grant", "grant", "reverse", "regrant", "redeem", "redeem", "cancel", "expire")
            )
            source = r.randrange(6)  # few sources: clients grant the same ones at once
            if op == "regrant":  # a source done again after it was undone
                async with write_transaction(app.state.sessionmaker) as s:
                    await points.regrant_for(
                        s, source_kind=SourceKind.service_order, source_id=person.id * 100 + source
                    )
            elif op in ("grant", "reverse"):
                async with write_transaction(app.state.sessionmaker) as s:
                    if op == "grant":
                        await points.grant_for(
                            s,
                            source_kind=SourceKind.service_order,
                            source_id=person.id * 100 + source,
                            user_id=person.id,
                            org_id=world["C1"].id,
                        )
                    else:
                        await points.reverse_for(
                            s,
                            source_kind=SourceKind.service_order,
                            source_id=person.id * 100 + source,
                            reason="撤销",
                        )
            elif op == "redeem":
                item = r.choice(items)
                await client.post("/shop/redemptions", json={"item_id": item.id}, headers=h)
            elif op == "cancel":
                mine = (
                    await client.get("/shop/redemptions", params={"status": "reserved"}, headers=h)
                ).json()["items"]
                if mine:
                    await client.post(f"/shop/redemptions/{mine[0]['id']}/cancel", headers=h)
            else:
                async with write_transaction(app.state.sessionmaker) as s:
                    await shop.expire_reservations(
                        s, settings, utcnow() + timedelta(days=r.choice((0, 30)))
                    )

    await asyncio.gather(*(client_run(p, rng.randrange(10**6)) for p in people for _ in range(2)))
    await assert_ledger_is_exact(app)
