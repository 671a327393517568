"""GET /volunteer-hours for a mixed world: every kind of caller, every filter and page,
answered as a plain reading of the rule says (app/services/volunteer_hours.py: one's own
entries, those at orgs in one's admin reach, and a unit's secretary's members' entries
wherever they served), latest start first, each item as the entry reads alone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import cycle

import pytest
from sqlalchemy import select

from app.models.media import MediaCheckStatus
from app.models.org import Org, OrgLevel
from app.models.user import ADMIN_ROLES, MEMBER_ROLES, Role, RoleGrant, User
from app.models.volunteer_hours import HourSource, HourStatus, VolunteerHour
from tests.factories.media import attach_media, make_media, passed_and_pending
from tests.factories.orgs import make_org
from tests.factories.users import make_user
from tests.factories.volunteer_hours import insert_entry

pytestmark = pytest.mark.usefixtures("counts_stay_exact")

RECORD = "volunteer_hour"

# Starts either side of Shanghai's new year (16:00 UTC on 31 December), two of them at
# the same instant (the order then falls to the id).
STARTS = [
    datetime(2024, 12, 31, 15, 30, tzinfo=UTC),  # 2024 in Shanghai
    datetime(2024, 12, 31, 16, 30, tzinfo=UTC),  # 2025 in Shanghai
    datetime(2025, 6, 1, 2, 0, tzinfo=UTC),
    datetime(2025, 6, 1, 2, 0, tzinfo=UTC),
    datetime(2023, 3, 8, 1, 0, tzinfo=UTC),
    datetime(2025, 12, 31, 17, 0, tzinfo=UTC),  # 2026 in Shanghai
]
YEAR_BOUNDS = {
    year: (
        datetime(year - 1, 12, 31, 16, tzinfo=UTC),
        datetime(year, 12, 31, 16, tzinfo=UTC),
    )
    for year in (2023, 2024, 2025, 2026)
}


@dataclass
class Viewer:
    """What the rule reads of a caller: who, and the paths of their admin and unit roles."""

    id: int
    admin: list[str]
    members: list[str]

    def sees(self, entry: VolunteerHour, org_path: str, unit_path: str | None) -> bool:
        return (
            entry.user_id == self.id
            or any(org_path.startswith(p) for p in self.admin)
            or (unit_path is not None and any(unit_path.startswith(p) for p in self.members))
        )


async def mixed_world(world):
    """Entries of every status and source by people at every level of the district, in a
    unit, and in another district, at orgs across the tree, some with photos."""
    outer_district = await make_org(world.app, "外区", OrgLevel.district)
    outer_street = await make_org(world.app, "外区街道", OrgLevel.street, outer_district)
    world.orgs["OD"] = outer_district
    world.orgs["OC"] = await make_org(world.app, "外区社区", OrgLevel.community, outer_street)
    world.orgs["OU"] = await make_org(world.app, "外区单位", OrgLevel.unit, outer_street)
    world.people["outsider"] = await make_user(world.app, "外区居民", community=world["OC"])
    world.people["outer_admin"] = await make_user(
        world.app, "外区书记", community=world["OC"], roles=[(Role.community_admin, world["OC"])]
    )
    # U1's worker who lives in another district: U1's secretary follows them there.
    world.people["far_worker"] = await make_user(
        world.app, "外区职工", community=world["OC"], unit=world["U1"]
    )
    world.people["ud_worker"] = await make_user(
        world.app, "宣传部职工", community=world["C3"], unit=world["UD"]
    )
    world.people["outer_unit_admin"] = await make_user(
        world.app, "外区单位书记", roles=[(Role.unit_admin, world["OU"])]
    )
    where = {
        "member": ["C1", "S1", "U1", "C3"],
        "community_admin": ["C1", "D"],
        "street_admin": ["C1", "S1"],
        "other_street_admin": ["C3", "S2"],
        "other_community_admin": ["C2"],
        "district_admin": ["C1", "UD"],
        "far_worker": ["OC", "U1"],
        "ud_worker": ["C3", "UD"],
        "outsider": ["OC", "OD"],
        "outer_admin": ["OC"],
    }
    statuses = cycle(list(HourStatus))
    sources = cycle([HourSource.manual, HourSource.manual, *HourSource])
    starts = cycle(STARTS)
    entries = []
    serial = 0
    for who, orgs in where.items():
        for org in orgs:
            for _ in range(2):
                serial += 1
                source = next(sources)
                entries.append(
                    await insert_entry(
                        world.app,
                        user=world.user(who),
                        org=world[org],
                        started_at=next(starts) + timedelta(minutes=serial % 3),
                        minutes=30 + serial,
                        status=next(statuses),
                        source=source,
                        source_id=None if source == HourSource.manual else serial,
                        activity=f"{who} {org} {serial}",
                    )
                )
    # Photos: one WeChat passed and one pending (shown to its uploader alone) on two
    # entries, and one someone else uploaded, still pending.
    for entry in (entries[0], entries[9]):
        owner = next(u for u in world.people.values() if u.id == entry.user_id)
        await attach_media(world.app, RECORD, entry.id, await passed_and_pending(world.app, owner))
    stranger = await make_media(
        world.app, world.user("street_admin"), check_status=MediaCheckStatus.pending
    )
    await attach_media(world.app, RECORD, entries[0].id, [stranger])


async def viewers(world, paths: dict[int, str]) -> dict[str, Viewer]:
    async with world.app.state.sessionmaker() as session:
        grants = (await session.execute(select(RoleGrant))).scalars().all()
    out = {}
    for key, user in world.people.items():
        mine = [g for g in grants if g.user_id == user.id]
        out[key] = Viewer(
            id=user.id,
            admin=[paths[g.org_id] for g in mine if g.role in ADMIN_ROLES],
            members=[paths[g.org_id] for g in mine if g.role in MEMBER_ROLES],
        )
    return out


async def test_every_caller_lists_what_the_rule_shows_them_filter_by_filter_page_by_page(
    client, world
):
    await mixed_world(world)
    async with world.app.state.sessionmaker() as session:
        everything = list((await session.execute(select(VolunteerHour))).scalars())
        paths = dict((await session.execute(select(Org.id, Org.path))).all())
        units = dict((await session.execute(select(User.id, User.unit_id))).all())
    latest_first = sorted(everything, key=lambda e: (e.started_at, e.id), reverse=True)
    people = {key: user.id for key, user in world.people.items()}
    filters = [
        {},
        *({"status": s.value} for s in HourStatus),
        *({"year": y} for y in (2023, 2024, 2025, 2026, 2027)),
        *({"user_id": people[k]} for k in ("member", "far_worker", "outsider", "district_admin")),
        {"user_id": 999_999},
        {"status": "approved", "year": 2025},
        {"user_id": people["member"], "status": "pending"},
        {"user_id": people["ud_worker"], "year": 2024, "status": "rejected"},
    ]
    checked = 0
    for who, viewer in (await viewers(world, paths)).items():
        headers = world.headers(who)
        seen = [
            e
            for e in latest_first
            if viewer.sees(
                e, paths[e.org_id], paths[units[e.user_id]] if units[e.user_id] else None
            )
        ]
        alone = {}
        for entry in seen:
            resp = await client.get(f"/volunteer-hours/{entry.id}", headers=headers)
            assert resp.status_code == 200, (who, entry.activity)
            alone[entry.id] = resp.json()
        for params in filters:
            expected = [e for e in seen if _passes(e, params)]
            pages = [(1, 100)] + [(n, 4) for n in range(1, len(expected) // 4 + 3)]
            for page, size in pages:
                query = {**params, "page": page, "page_size": size}
                resp = await client.get("/volunteer-hours", params=query, headers=headers)
                assert resp.status_code == 200, (who, query, resp.text)
                shown = expected[(page - 1) * size : page * size]
                assert resp.json() == {
                    "items": [alone[e.id] for e in shown],
                    "total": len(expected),
                    "page": page,
                    "page_size": size,
                }, (who, query)
                checked += len(shown)
    assert checked > 600  # the world shows something to almost everyone


def _passes(entry: VolunteerHour, params: dict) -> bool:
    for name, value in params.items():
        if name == "year":
            start, end = YEAR_BOUNDS.get(value, (None, None))
            started = entry.started_at
            started = started if started.tzinfo else started.replace(tzinfo=UTC)
            if start is None or not start <= started < end:
                return False
        elif name in ("status", "user_id") and getattr(entry, name) != value:
            return False
    return True


async def test_the_list_refuses_what_it_refused(client, world):
    headers = world.headers("member")
    for params in (
        {"status": "deleted"},
        {"year": 1999},
        {"year": 2101},
        {"year": "last"},
        {"user_id": 0},
        {"user_id": 2**63},
        {"page": 0},
        {"page_size": 101},
    ):
        resp = await client.get("/volunteer-hours", params=params, headers=headers)
        assert resp.status_code == 422, params
        assert resp.json()["code"] == "validation_error", params
    anonymous = await client.get("/volunteer-hours")
    assert anonymous.status_code == 401
