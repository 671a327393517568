"""Orgs straight in the database, through the service that keeps their ancestor path."""

from __future__ import annotations

from fastapi import FastAPI

from app.models.org import Org, OrgLevel
from app.services.orgs import insert_org


async def make_org(app: FastAPI, name: str, level: OrgLevel, parent: Org | None = None) -> Org:
    async with app.state.sessionmaker() as session, session.begin():
        return await insert_org(session, name=name, level=level, parent=parent)
