"""Volunteer registrations straight in the database."""

from __future__ import annotations

from fastapi import FastAPI

from app.core.db import utcnow
from app.models.org import Org
from app.models.user import User
from app.models.volunteer import CONSENT_VERSION, Volunteer, VolunteerStatus
from tests.factories.users import make_user


async def insert_volunteer(
    app: FastAPI,
    *,
    community: Org,
    user: User | None = None,
    status: VolunteerStatus = VolunteerStatus.pending,
) -> Volunteer:
    """A registration of `user`, or of a new resident on no roster."""
    person = user or await make_user(app, "志愿者丙")
    async with app.state.sessionmaker() as session, session.begin():
        volunteer = Volunteer(
            user_id=person.id,
            community_id=community.id,
            status=status,
            skills=["助老"],
            on_roster=person.community_id is not None,
            consent_at=utcnow(),
            consent_version=CONSENT_VERSION,
        )
        session.add(volunteer)
    return volunteer
