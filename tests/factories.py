"""Small factories that put rows straight into the database for tests."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from fastapi import FastAPI

from app.core.security import issue_access_token
from app.models.media import Media
from app.models.org import Org, OrgLevel
from app.models.user import Role, RoleGrant, User
from app.services.orgs import insert_org
from app.services.users import set_phone

_phones = itertools.count(1)


def next_phone() -> str:
    return f"137{next(_phones):08d}"


async def make_org(app: FastAPI, name: str, level: OrgLevel, parent: Org | None = None) -> Org:
    async with app.state.sessionmaker() as session, session.begin():
        return await insert_org(session, name=name, level=level, parent=parent)


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
    token = issue_access_token(app.state.settings, user.id)
    return {"Authorization": f"Bearer {token.access_token}"}


@dataclass
class World:
    """A district with two streets, the usual cast of people, ready to log in.

    district ─ street S1 ─ communities C1, C2; unit U1
             ├ street S2 ─ community C3
             └ unit UD
    """

    app: FastAPI
    orgs: dict[str, Org] = field(default_factory=dict)
    people: dict[str, User] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Org:
        return self.orgs[key]

    def user(self, key: str) -> User:
        return self.people[key]

    def headers(self, key: str) -> dict[str, str]:
        return auth(self.app, self.people[key])


async def build_world(app: FastAPI) -> World:
    w = World(app)
    d = w.orgs["D"] = await make_org(app, "文明区", OrgLevel.district)
    s1 = w.orgs["S1"] = await make_org(app, "东关街道", OrgLevel.street, d)
    s2 = w.orgs["S2"] = await make_org(app, "西湖街道", OrgLevel.street, d)
    c1 = w.orgs["C1"] = await make_org(app, "东关社区", OrgLevel.community, s1)
    c2 = w.orgs["C2"] = await make_org(app, "仓门社区", OrgLevel.community, s1)
    c3 = w.orgs["C3"] = await make_org(app, "西湖社区", OrgLevel.community, s2)
    w.orgs["U1"] = await make_org(app, "东关小学", OrgLevel.unit, s1)
    w.orgs["UD"] = await make_org(app, "区委宣传部", OrgLevel.unit, d)
    cast = {
        "district_admin": ("区管理员", c1, [(Role.district_admin, d)]),
        "street_admin": ("街道管理员", c1, [(Role.street_admin, s1)]),
        "other_street_admin": ("外街道管理员", c3, [(Role.street_admin, s2)]),
        "community_admin": ("社区书记", c1, [(Role.community_admin, c1)]),
        "other_community_admin": ("邻社区书记", c2, [(Role.community_admin, c2)]),
        "member": ("党员甲", c1, []),
        "inspector": ("督导员", c1, [(Role.inspector, s1)]),
    }
    for key, (name, home, roles) in cast.items():
        w.people[key] = await make_user(app, name, community=home, party=True, roles=roles)
    return w


async def make_media(app: FastAPI, uploader: User, *, sha256: str | None = None) -> Media:
    """A photo row as an upload would leave it (no file behind it: for record tests)."""
    n = next(_phones)
    async with app.state.sessionmaker() as session, session.begin():
        media = Media(
            uploader_id=uploader.id,
            storage_key=f"{n:032x}.jpg",
            thumbnail_key=f"{n:032x}-thumb.jpg",
            content_type="image/jpeg",
            size=1000,
            width=10,
            height=10,
            sha256=sha256 or f"{n:064d}",
            phash="0" * 16,
        )
        session.add(media)
        return media
