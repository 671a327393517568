"""Points rules, balances and shop items straight through the services."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI
from sqlalchemy import select, update

from app.core.db import utcnow, write_transaction
from app.models.org import Org
from app.models.points import (
    AccountKind,
    EntryKind,
    PointsRules,
    Redemption,
    RedemptionStatus,
    ShopItem,
)
from app.models.user import User
from app.services import points


async def set_rules(
    app: FastAPI,
    district: Org,
    *,
    hour: int = 10,
    wish: int = 20,
    order: int = 15,
    report_in: int = 5,
) -> None:
    async with write_transaction(app.state.sessionmaker) as session:
        existing = await session.get(PointsRules, district.id)
        if existing is not None:
            await session.delete(existing)
            await session.flush()
        session.add(
            PointsRules(
                district_id=district.id,
                per_volunteer_hour=hour,
                per_confirmed_wish=wish,
                per_completed_order=order,
                per_report_in=report_in,
            )
        )


async def fund(app: FastAPI, user: User, community: Org, amount: int) -> None:
    """`amount` points to `user` from the community's issuing account (an award)."""
    async with write_transaction(app.state.sessionmaker) as session:
        issuing = await points.account_id(session, AccountKind.issuing, org_id=community.id)
        mine = await points.account_id(session, AccountKind.person, user_id=user.id)
        assert user.id is not None and community.id is not None
        await points.transfer(
            session,
            from_id=issuing,
            to_id=mine,
            amount=amount,
            kind=EntryKind.award,
            user_id=user.id,
            org_id=community.id,
            note="测试奖励",
        )


async def insert_item(
    app: FastAPI, community: Org, *, stock: int = 5, price: int = 10, name: str = "大米 5 斤"
) -> ShopItem:
    async with write_transaction(app.state.sessionmaker) as session:
        item = ShopItem(community_id=community.id, name=name, points=price, stock=stock)
        session.add(item)
        await session.flush()
        return item


async def stock_of(app: FastAPI, item_id: int) -> int:
    async with app.state.sessionmaker() as session:
        return (
            await session.execute(select(ShopItem.stock).where(ShopItem.id == item_id))
        ).scalar_one()


async def insert_redemption(
    app: FastAPI, user: User, community: Org, *, code: str = "123456"
) -> Redemption:
    """A reservation of one item of a new item, paid from a fresh award."""
    item = await insert_item(app, community, stock=1, price=10)
    await fund(app, user, community, 10)
    async with write_transaction(app.state.sessionmaker) as session:
        mine = await points.account_id(session, AccountKind.person, user_id=user.id)
        shop = await points.account_id(session, AccountKind.shop, org_id=community.id)
        assert user.id is not None and community.id is not None and item.id is not None
        entry = await points.transfer(
            session,
            from_id=mine,
            to_id=shop,
            amount=10,
            kind=EntryKind.redeem,
            user_id=user.id,
            org_id=community.id,
            note=f"兑换 {item.name} ×1",
        )
        await session.execute(
            update(ShopItem).where(ShopItem.id == item.id).values(stock=ShopItem.stock - 1)
        )
        now = utcnow()
        assert entry.id is not None
        redemption = Redemption(
            item_id=item.id,
            user_id=user.id,
            community_id=community.id,
            quantity=1,
            points=10,
            status=RedemptionStatus.reserved,
            pickup_code=code,
            entry_id=entry.id,
            reserved_at=now,
            expires_at=now + timedelta(days=7),
        )
        session.add(redemption)
        await session.flush()
        return redemption
