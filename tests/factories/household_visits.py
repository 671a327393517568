"""Household visits (入户调查) written straight to the database."""

from __future__ import annotations

from fastapi import FastAPI

from app.core.db import utcnow
from app.core.timeutil import month_key
from app.models.household_visit import HouseholdVisit
from app.models.org import Org
from app.models.user import User


async def insert_visit(
    app: FastAPI,
    *,
    community: Org,
    visitor: User,
    label: str = "3栋2单元501",
    aware: bool = True,
    satisfaction: int = 5,
    note: str | None = None,
) -> HouseholdVisit:
    now = utcnow()
    async with app.state.sessionmaker() as session, session.begin():
        visit = HouseholdVisit(
            community_id=community.id,
            month=month_key(now),
            household_label=label,
            aware=aware,
            satisfaction=satisfaction,
            note=note,
            visitor_id=visitor.id,
            visited_at=now,
        )
        session.add(visit)
    return visit
