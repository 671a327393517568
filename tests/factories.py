"""Small factories that put rows straight into the database for tests."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI

from app.core.db import utcnow
from app.core.security import issue_access_token
from app.core.timeutil import month_key
from app.models.hours import HourSource, HourStatus, VolunteerHour
from app.models.media import Media, MediaCheckStatus
from app.models.org import Org, OrgLevel
from app.models.task import CheckIn, ReportIn, Task, TaskCategory
from app.models.user import Role, RoleGrant, User
from app.models.wish import Wish, WishAction, WishEvent, WishStatus
from app.services import wishes
from app.services.lifecycle import Lifecycle
from app.services.orgs import insert_org
from app.services.users import set_phone
from app.services.wish_quota import rederive_latest_claim

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
    token = issue_access_token(app.state.settings, user.id, user.token_version)
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


async def make_media(
    app: FastAPI,
    uploader: User,
    *,
    sha256: str | None = None,
    check_status: MediaCheckStatus = MediaCheckStatus.passed,
) -> Media:
    """A photo row as an upload would leave it (no file behind it: for record tests),
    by default one WeChat's image check has passed."""
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
            check_status=check_status,
        )
        session.add(media)
        return media


# A back street in Guangzhou; tasks with a place are centred here.
PLACE = (23.1291, 113.2644)


async def make_task(
    app: FastAPI,
    org: Org,
    *,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    location: tuple[float, float, int] | None = None,
    capacity: int | None = None,
    title: str = "背街小巷清洁",
) -> Task:
    """A task straight in the database, active from an hour ago to an hour from now."""
    now = datetime.now(UTC)
    async with app.state.sessionmaker() as session, session.begin():
        task = Task(
            org_id=org.id,
            title=title,
            description="清理卫生死角",
            category=TaskCategory.sanitation,
            starts_at=starts_at or now - timedelta(hours=1),
            ends_at=ends_at or now + timedelta(hours=1),
            lat=location[0] if location else None,
            lng=location[1] if location else None,
            radius_m=location[2] if location else None,
            capacity=capacity,
        )
        session.add(task)
        return task


async def make_check_in(
    app: FastAPI, task: Task, user: User, *, minutes_ago: int = 30, at: datetime | None = None
) -> CheckIn:
    async with app.state.sessionmaker() as session, session.begin():
        record = CheckIn(
            task_id=task.id,
            user_id=user.id,
            checked_in_at=at or datetime.now(UTC) - timedelta(minutes=minutes_ago),
            check_in_lat=PLACE[0],
            check_in_lng=PLACE[1],
        )
        session.add(record)
        db_task = await session.get(Task, task.id)
        assert db_task is not None
        db_task.checked_in_count += 1
        return record


async def make_report_in(app: FastAPI, user: User) -> ReportIn:
    now = datetime.now(UTC)
    async with app.state.sessionmaker() as session, session.begin():
        record = ReportIn(
            user_id=user.id, community_id=user.community_id, month=month_key(now), reported_at=now
        )
        session.add(record)
        return record


def paths_from(lifecycle: Lifecycle[Any, Any, Any], start: Any) -> dict[Any, list[tuple[Any, Any]]]:
    """The shortest declared path from `start` to every state it leads to: the history
    a record put straight into the database would have had."""
    paths: dict[Any, list[tuple[Any, Any]]] = {start: []}
    reached = [start]
    for state in reached:  # breadth first: `reached` grows while it is walked
        for step in lifecycle.transitions:
            if state in step.sources and step.to is not None and step.to not in paths:
                paths[step.to] = [*paths[state], (step.action, step.to)]
                reached.append(step.to)
    return paths


# The events that lead to each state, for wishes put straight into the database.
PATH_TO = paths_from(wishes.LIFECYCLE, WishStatus.pending_review)


async def insert_wish(
    app: FastAPI,
    *,
    community: Org,
    poster: User,
    status: WishStatus = WishStatus.open,
    claimant: User | None = None,
    admin: User | None = None,
    title: str = "给孩子买一个书包",
    beneficiary_name: str = "王小明",
) -> Wish:
    """A wish in `status` with the history that would have led there."""
    now = utcnow()
    claimed = status in (WishStatus.claimed, WishStatus.fulfilled, WishStatus.confirmed)
    assert claimant is not None or not claimed
    async with app.state.sessionmaker() as session, session.begin():
        wish = Wish(
            title=title,
            description="孩子上学需要一个新书包",
            community_id=community.id,
            beneficiary_name=beneficiary_name,
            status=status,
            created_by_id=poster.id,
            claimed_by_id=claimant.id if claimed and claimant else None,
            claimed_at=now - timedelta(hours=2) if claimed else None,
            fulfilled_at=now - timedelta(hours=1)
            if status in (WishStatus.fulfilled, WishStatus.confirmed)
            else None,
            fulfil_note="已送到"
            if status in (WishStatus.fulfilled, WishStatus.confirmed)
            else None,
            confirmed_at=now if status == WishStatus.confirmed else None,
        )
        session.add(wish)
        await session.flush()
        previous = WishStatus.pending_review
        session.add(
            WishEvent(
                wish_id=wish.id, action=WishAction.create, to_status=previous, actor_id=poster.id
            )
        )
        for action, to in PATH_TO[status]:
            by_claimant = action in (WishAction.claim, WishAction.fulfill)
            actor = claimant if by_claimant else (admin or poster)
            assert actor is not None
            session.add(
                WishEvent(
                    wish_id=wish.id,
                    action=action,
                    from_status=previous,
                    to_status=to,
                    actor_id=actor.id,
                )
            )
            previous = to
        # As the wishes service does after a claim: the yearly quota's row.
        await rederive_latest_claim(session, wish.id)
        return wish


async def insert_entry(
    app: FastAPI,
    *,
    user: User,
    org: Org,
    started_at: datetime | None = None,
    minutes: int = 90,
    status: HourStatus = HourStatus.pending,
    source: HourSource = HourSource.manual,
    source_id: int | None = None,
    activity: str = "清理背街小巷",
) -> VolunteerHour:
    start = started_at or utcnow() - timedelta(days=1)
    async with app.state.sessionmaker() as session, session.begin():
        entry = VolunteerHour(
            user_id=user.id,
            org_id=org.id,
            activity=activity,
            started_at=start,
            ended_at=start + timedelta(minutes=minutes),
            minutes=minutes,
            source=source,
            source_id=source_id,
            status=status,
        )
        session.add(entry)
        return entry
