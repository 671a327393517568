"""Volunteer service teams straight in the database."""

from __future__ import annotations

import itertools

from fastapi import FastAPI

from app.models.org import Org
from app.models.team import MemberStatus, Team, TeamMember
from app.models.user import User

_names = itertools.count(1)


async def insert_team(
    app: FastAPI,
    *,
    org: Org,
    leader: User,
    members: list[User] = (),
    created_by: User | None = None,
) -> Team:  # type: ignore[assignment]
    async with app.state.sessionmaker() as session, session.begin():
        team = Team(
            name=f"红小帽{next(_names)}",
            org_id=org.id,
            leader_user_id=leader.id,
            service_types=["助老"],
            description="",
            created_by_id=(created_by or leader).id,
        )
        session.add(team)
        await session.flush()
        for person in [leader, *members]:
            session.add(
                TeamMember(team_id=team.id, user_id=person.id, status=MemberStatus.approved)
            )
    return team


async def insert_member(
    app: FastAPI, *, team: Team, user: User, status: MemberStatus = MemberStatus.pending
) -> None:
    async with app.state.sessionmaker() as session, session.begin():
        session.add(TeamMember(team_id=team.id, user_id=user.id, status=status))
