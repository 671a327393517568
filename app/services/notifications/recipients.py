"""Who answers for an org: the recipients most domains' notifications go to."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, Select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.core.scope import path_ids
from app.models.org import Org, OrgLevel
from app.models.user import ADMIN_ROLES, RoleGrant, User


class OrgAdmins:
    """The admins holding a role exactly at each org of some paths, and those orgs'
    levels: enough to answer "who answers for this org" without a query per record."""

    def __init__(self, levels: dict[int, OrgLevel], admins: dict[int, set[int]]):
        self.levels = levels
        self.admins = admins

    @classmethod
    async def load(cls, session: AsyncSession, paths: Iterable[str]) -> OrgAdmins:
        ids = {org_id for path in paths for org_id in path_ids(path)}
        if not ids:
            return cls({}, {})
        levels = {
            org_id: OrgLevel(level)
            for org_id, level in (
                await session.execute(select(Org.id, Org.level).where(col(Org.id).in_(ids)))
            ).all()
        }
        admins: dict[int, set[int]] = {}
        rows = await session.execute(
            select(RoleGrant.org_id, RoleGrant.user_id).where(
                col(RoleGrant.org_id).in_(ids), col(RoleGrant.role).in_(ADMIN_ROLES)
            )
        )
        for org_id, user_id in rows.all():
            admins.setdefault(org_id, set()).add(user_id)
        return cls(levels, admins)

    def responsible(self, path: str) -> set[int]:
        """The admins of the org itself, or of its nearest ancestor that has any (a unit
        has no admin role of its own; a community may have no secretary yet)."""
        for org_id in reversed(path_ids(path)):
            if self.admins.get(org_id):
                return set(self.admins[org_id])
        return set()

    def at_level(self, path: str, level: OrgLevel) -> set[int]:
        for org_id in path_ids(path):
            if self.levels.get(org_id) == level:
                return set(self.admins.get(org_id, ()))
        return set()


async def _org_path(session: AsyncSession, org_id: int) -> str:
    path = (await session.execute(select(Org.path).where(Org.id == org_id))).scalar_one()
    return str(path)


async def responsible_admins(session: AsyncSession, org_id: int) -> set[int]:
    path = await _org_path(session, org_id)
    return (await OrgAdmins.load(session, [path])).responsible(path)


async def party_members_owing(
    session: AsyncSession, *, on_roster: ColumnElement[bool], done: Select[Any]
) -> list[int]:
    """Party members counted by `on_roster` who are not among `done` (the ids that
    already did what a reminder asks), in id order: a yearly or monthly reminder's
    recipients. Each domain says who counts and what "done" is."""
    owing = (
        select(User.id)
        .where(col(User.is_party_member).is_(True), on_roster, col(User.id).not_in(done))
        .order_by(col(User.id))
    )
    return [uid for uid in (await session.execute(owing)).scalars() if uid is not None]
