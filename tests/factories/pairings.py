"""Pairings and liaisons, written straight to the database."""

from __future__ import annotations

from datetime import date

from fastapi import FastAPI

from app.models.org import Org
from app.models.pairing import Liaison, Pairing, PairingAction, PairingEvent, PairingStatus
from app.models.user import User


async def make_pairing(
    app: FastAPI,
    *,
    unit: Org,
    community: Org,
    by: User,
    starts_on: date = date(2026, 1, 1),
    commitments: tuple[str, ...] = ("每月一次志愿服务",),
) -> Pairing:
    async with app.state.sessionmaker() as session, session.begin():
        pairing = Pairing(
            unit_id=unit.id,
            community_id=community.id,
            starts_on=starts_on,
            commitments=list(commitments),
            created_by_id=by.id,
        )
        session.add(pairing)
        await session.flush()
        session.add(
            PairingEvent(
                pairing_id=pairing.id,
                action=PairingAction.create,
                to_status=PairingStatus.active,
                actor_id=by.id,
            )
        )
        return pairing


async def make_liaison(
    app: FastAPI, *, leader: User, org: Org, by: User, starts_on: date = date(2026, 1, 1)
) -> Liaison:
    async with app.state.sessionmaker() as session, session.begin():
        liaison = Liaison(
            user_id=leader.id, org_id=org.id, starts_on=starts_on, created_by_id=by.id
        )
        session.add(liaison)
        return liaison
