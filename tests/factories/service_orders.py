"""Service orders straight in the database, in any state, with the history that leads
there (read from the declared transitions)."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi import FastAPI

from app.core.db import utcnow
from app.models.org import Org
from app.models.service_order import (
    TAKER_STATES,
    OrderAction,
    OrderStatus,
    ServiceItem,
    ServiceOrder,
    ServiceOrderEvent,
)
from app.models.team import Team
from app.models.user import User
from app.services.service_orders import LIFECYCLE, mask_address
from tests.factories.lifecycle import paths_from

PATHS = paths_from(LIFECYCLE, OrderStatus.submitted)
ADDRESS = "东关街道幸福里3栋2单元501"


async def insert_order(
    app: FastAPI,
    *,
    community: Org,
    orderer: User,
    status: OrderStatus = OrderStatus.submitted,
    team: Team | None = None,
    taker: User | None = None,
    created_at: datetime | None = None,
    wanted_at: datetime | None = None,
    title: str = "上门理发",
) -> ServiceOrder:
    now = utcnow()
    created = created_at or now - timedelta(hours=1)
    async with app.state.sessionmaker() as session, session.begin():
        order = ServiceOrder(
            title=title,
            description="行动不便，请上门",
            community_id=community.id,
            address_cipher=app.state.cipher.encrypt(ADDRESS),
            address_masked=mask_address(ADDRESS),
            phone_cipher=orderer.phone_cipher,
            phone_masked=orderer.phone_masked,
            wanted_at=wanted_at,
            status=status,
            orderer_id=orderer.id,
            team_id=team.id if team and status != OrderStatus.submitted else None,
            taken_by_id=taker.id if status in TAKER_STATES and taker else None,
            created_at=created,
            updated_at=created,
        )
        session.add(order)
        await session.flush()
        session.add(
            ServiceOrderEvent(
                service_order_id=order.id,
                action=OrderAction.submit,
                to_status=OrderStatus.submitted,
                actor_id=orderer.id,
                at=created,
            )
        )
        state = OrderStatus.submitted
        for action, to in PATHS.get(status, []):
            session.add(
                ServiceOrderEvent(
                    service_order_id=order.id,
                    action=action,
                    from_status=state,
                    to_status=to,
                    actor_id=orderer.id,
                    at=created,
                )
            )
            state = to
    return order


async def insert_item(app: FastAPI, *, org: Org, by: User, title: str = "上门理发") -> ServiceItem:
    async with app.state.sessionmaker() as session, session.begin():
        item = ServiceItem(
            org_id=org.id, title=title, description="", service_type="助老", created_by_id=by.id
        )
        session.add(item)
    return item
