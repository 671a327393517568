"""Factories for inspection rounds: a district's checklist straight in the database."""

from __future__ import annotations

from fastapi import FastAPI

from app.models.inspection import Checklist, InspectionTeam, InspectionTeamMember
from app.models.org import Org
from app.models.problem import PointKind
from app.models.user import User

MARKET_ITEMS = ["地面干净无积水", "摊位整齐不占道", "公益广告张贴到位"]


async def make_checklist(
    app: FastAPI,
    district: Org,
    author: User,
    *,
    kind: PointKind = PointKind.market,
    items: list[str] | None = None,
    version: int = 1,
) -> Checklist:
    async with app.state.sessionmaker() as session, session.begin():
        checklist = Checklist(
            district_id=district.id,
            kind=kind,
            version=version,
            items=items or MARKET_ITEMS,
            created_by_id=author.id,
        )
        session.add(checklist)
        return checklist


async def make_team(
    app: FastAPI, org: Org, members: list[User], *, creator: User
) -> InspectionTeam:
    async with app.state.sessionmaker() as session, session.begin():
        team = InspectionTeam(
            org_id=org.id, name=f"督导组{len(members)}-{id(members)}", created_by_id=creator.id
        )
        session.add(team)
        await session.flush()
        session.add_all(InspectionTeamMember(team_id=team.id, user_id=m.id) for m in members)
        return team
