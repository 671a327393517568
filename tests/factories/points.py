"""Points rules, balances and shop items straight through the services."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy import select

from app.core.db import write_transaction
from app.models.org import Org
from app.models.points import AccountKind, EntryKind, PointsRules, ShopItem
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
