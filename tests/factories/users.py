"""People straight in the database, with a phone, an openid and roles, and their token."""

from __future__ import annotations

import itertools

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.security import issue_access_token
from app.models.org import Org
from app.models.user import Role, RoleGrant, User
from app.services.users import set_phone

_phones = itertools.count(1)


def next_phone() -> str:
    return f"137{next(_phones):08d}"


async def make_user(
    app: FastAPI,
    name: str = "测试用户",
    *,
    community: Org | None = None,
    unit: Org | None = None,
    phone: str | None = "auto",
    openid: str | None = "auto",
    party: bool = False,
    roles: list[tuple[Role, Org]] = (),  # type: ignore[assignment]
) -> User:
    async with app.state.sessionmaker() as session, session.begin():
        return await add_user(
            session,
            app,
            name,
            community=community,
            unit=unit,
            phone=phone,
            openid=openid,
            party=party,
            roles=roles,
        )


async def add_user(
    session: AsyncSession,
    app: FastAPI,
    name: str = "测试用户",
    *,
    community: Org | None = None,
    unit: Org | None = None,
    phone: str | None = "auto",
    openid: str | None = "auto",
    party: bool = False,
    roles: list[tuple[Role, Org]] = (),  # type: ignore[assignment]
) -> User:
    """make_user inside a transaction of the caller's (a scene built in one)."""
    user = User(
        name=name,
        community_id=community.id if community else None,
        unit_id=unit.id if unit else None,
        is_party_member=party,
        openid=f"openid-{next(_phones)}" if openid == "auto" else openid,
    )
    if phone is not None:
        set_phone(user, app.state.cipher, next_phone() if phone == "auto" else phone)
    session.add(user)
    await session.flush()
    for role, org in roles:
        session.add(RoleGrant(user_id=user.id, role=role, org_id=org.id))
    return user


def auth(app: FastAPI, user: User) -> dict[str, str]:
    assert user.id is not None
    token = issue_access_token(app.state.settings, user.id, user.token_version)
    return {"Authorization": f"Bearer {token.access_token}"}
