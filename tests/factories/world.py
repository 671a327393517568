"""The scene most tests share: a district, its streets and communities, and the people
who log in to it (the authorization matrix's callers among them)."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.org import Org, OrgLevel
from app.models.user import Role, User
from app.services.orgs import insert_org
from tests.factories.users import add_user, auth


@dataclass
class World:
    """A district with two streets, the usual cast of people, ready to log in.

    district ─ street S1 ─ communities C1, C2; unit U1 (the member works there)
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

    def on_roster(self) -> dict[str, User]:
        """The people with a home community: all but the units' secretaries."""
        return {k: u for k, u in self.people.items() if u.community_id is not None}

    def headers(self, key: str) -> dict[str, str]:
        return auth(self.app, self.people[key])


async def build_world(app: FastAPI) -> World:
    # One transaction for the whole scene: most tests build it, and twenty small
    # transactions cost SQLite's thread hops a fifth of a second a test.
    async with app.state.sessionmaker() as session, session.begin():
        return await _build(session, app)


async def _build(session: AsyncSession, app: FastAPI) -> World:
    w = World(app)

    async def org(key: str, name: str, level: OrgLevel, parent: Org | None = None) -> Org:
        w.orgs[key] = await insert_org(session, name=name, level=level, parent=parent)
        return w.orgs[key]

    d = await org("D", "文明区", OrgLevel.district)
    s1 = await org("S1", "东关街道", OrgLevel.street, d)
    s2 = await org("S2", "西湖街道", OrgLevel.street, d)
    c1 = await org("C1", "东关社区", OrgLevel.community, s1)
    c2 = await org("C2", "仓门社区", OrgLevel.community, s1)
    c3 = await org("C3", "西湖社区", OrgLevel.community, s2)
    await org("U1", "东关小学", OrgLevel.unit, s1)
    await org("UD", "区委宣传部", OrgLevel.unit, d)
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
        # The member works at U1: what they do in C1 is what U1's secretary follows.
        unit = w.orgs["U1"] if key == "member" else None
        w.people[key] = await add_user(
            session, app, name, community=home, unit=unit, party=True, roles=roles
        )
    # Units' party secretaries, on no roster (so in no count): U1's, whose member
    # lives and acts in C1, and UD's, another unit's.
    w.people["unit_admin"] = await add_user(
        session, app, "单位书记", roles=[(Role.unit_admin, w["U1"])]
    )
    w.people["other_unit_admin"] = await add_user(
        session, app, "外单位书记", roles=[(Role.unit_admin, w["UD"])]
    )
    return w
