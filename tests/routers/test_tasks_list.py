"""GET /tasks answers every caller what a plain reading of the rule gives: the tasks of
their home tree, of their admin subtrees and, for a volunteer on no roster, what is
open to everyone in their community's tree; filtered, ordered, paged and counted; each
task as GET /tasks/{id} shows it to them, their own check-in included."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app.core.errors import NotFound
from app.edge.access import caller_for_person
from app.models.org import Org
from app.models.task import CheckIn, Task, TaskCategory, TaskStatus
from app.models.user import ADMIN_ROLES, Role, User
from app.models.volunteer import OpenTo, Volunteer, VolunteerStatus
from app.services import tasks as task_service
from tests.factories.media import make_media
from tests.factories.tasks import PLACE, make_check_in
from tests.factories.users import auth, make_user
from tests.factories.volunteers import insert_volunteer

pytestmark = pytest.mark.usefixtures("counts_stay_exact")

HERE = {"lat": PLACE[0], "lng": PLACE[1]}
PAGE = 4
# Hours from now to each window's start and end: far from any edge while the test runs.
WINDOWS = {"upcoming": (5, 7), "active": (-1, 1), "ended": (-9, -7)}


async def add_task(world, org_key, window, *, open_to=OpenTo.party_members, shift=0, where=None):
    now = datetime.now(UTC).replace(microsecond=0)
    starts, ends = WINDOWS[window]
    async with world.app.state.sessionmaker() as session, session.begin():
        task = Task(
            org_id=world[org_key].id,
            title=f"{org_key} {window} {open_to}",
            description="",
            category=TaskCategory.sanitation,
            starts_at=now + timedelta(hours=starts, minutes=shift),
            ends_at=now + timedelta(hours=ends),
            lat=where[0] if where else None,
            lng=where[1] if where else None,
            radius_m=where[2] if where else None,
            capacity=10 if where else None,
            open_to=open_to,
        )
        session.add(task)
    return task


async def mixed_world(client, world):
    """Tasks of every level, window and openness (two starting at the same instant, so
    the id orders them), people of every kind, and check-ins with photos."""
    tasks = []
    for n, org_key in enumerate(("D", "S1", "S2", "C1", "C2", "C3")):
        for window in WINDOWS:
            open_to = OpenTo.everyone if n % 2 == 0 else OpenTo.party_members
            where = (*PLACE, 500) if window == "active" else None
            tasks.append(await add_task(world, org_key, window, open_to=open_to, where=where))
    tasks.append(await add_task(world, "C2", "ended", open_to=OpenTo.everyone))
    tasks.append(await add_task(world, "C1", "ended"))  # the same start as C1's other ended
    people = {key: world.user(key) for key in world.people}
    people["volunteer"] = await make_user(world.app, "志愿者", phone=None)
    await insert_volunteer(
        world.app, community=world["C2"], user=people["volunteer"], status=VolunteerStatus.approved
    )
    people["pending_volunteer"] = await make_user(world.app, "待审志愿者", phone=None)
    await insert_volunteer(world.app, community=world["C1"], user=people["pending_volunteer"])
    people["admin_on_no_roster"] = await make_user(
        world.app, "无社区管理员", phone=None, roles=[(Role.street_admin, world["S2"])]
    )
    await insert_volunteer(
        world.app,
        community=world["C1"],
        user=people["admin_on_no_roster"],
        status=VolunteerStatus.approved,
    )
    active_c1 = next(t for t in tasks if t.title == "C1 active party_members")
    for who in ("member", "community_admin"):
        photos = [await make_media(world.app, people[who]) for _ in range(2)]
        body = {**HERE, "photo_ids": [photos[1].id, photos[0].id]}
        resp = await client.post(
            f"/tasks/{active_c1.id}/check-ins", json=body, headers=auth(world.app, people[who])
        )
        assert resp.status_code == 201, resp.text
    ended_s1 = next(t for t in tasks if t.title == "S1 ended party_members")
    await make_check_in(world.app, ended_s1, people["member"], at=ended_s1.starts_at)
    everyone_c2 = next(t for t in tasks if t.title == "C2 ended everyone")
    await make_check_in(world.app, everyone_c2, people["volunteer"], at=everyone_c2.starts_at)
    return people


async def expected(world, person: User, status, org):
    """The caller's tasks read plainly: every task, kept or not by the rule in Python,
    newest start first, each with the caller's own check-in as check_ins_public shows it."""
    async with world.app.state.sessionmaker() as session:
        caller = await caller_for_person(session, person)
        paths = dict((await session.execute(select(Org.id, Org.path))).all())
        home = paths[person.community_id].strip("/").split("/") if person.community_id else []
        approved = (
            await session.execute(
                select(Volunteer.community_id).where(
                    Volunteer.user_id == person.id, Volunteer.status == VolunteerStatus.approved
                )
            )
        ).scalar_one_or_none()
        tree = paths[approved].strip("/").split("/") if approved and not person.community_id else []
        admin = [g.org_path for g in caller.grants if g.role in ADMIN_ROLES]
        now = datetime.now(UTC)
        kept = [
            t
            for t in (await session.execute(select(Task))).scalars()
            if (
                str(t.org_id) in home
                or any(paths[t.org_id].startswith(p) for p in admin)
                or (str(t.org_id) in tree and t.open_to == OpenTo.everyone)
            )
            and (org is None or paths[t.org_id].startswith(org.path))
            and (status is None or task_service.status_at(t, now) == status)
        ]
        kept.sort(key=lambda t: (t.starts_at, t.id), reverse=True)
        mine = {}
        for t in kept:
            own = (
                await session.execute(
                    select(CheckIn).where(CheckIn.task_id == t.id, CheckIn.user_id == person.id)
                )
            ).scalar_one_or_none()
            if own is not None:
                (shown,) = await task_service.check_ins_public(
                    session, [(t, own)], viewer_id=person.id
                )
                mine[t.id] = shown.model_dump(mode="json")
        return [t.id for t in kept], mine


async def listed(client, headers, params):
    """Every page of the list, and the one past the end."""
    items, page = [], 1
    while True:
        resp = await client.get(
            "/tasks", headers=headers, params={**params, "page": page, "page_size": PAGE}
        )
        assert resp.status_code == 200, resp.text
        body = resp.json()
        items += body["items"]
        if not body["items"]:
            return items, body["total"], page
        assert len(body["items"]) == min(PAGE, body["total"] - (page - 1) * PAGE)
        page += 1


async def test_each_caller_lists_what_the_rule_gives_them_page_by_page(client, world):
    people = await mixed_world(client, world)
    for who, person in people.items():
        headers = auth(world.app, person)
        for status in (None, *TaskStatus):
            params = {"status": status.value} if status else {}
            ids, mine = await expected(world, person, status, None)
            items, total, pages = await listed(client, headers, params)
            assert [t["id"] for t in items] == ids, (who, status)
            assert (
                total == len(ids) and pages == len(ids) // PAGE + (1 if len(ids) % PAGE else 0) + 1
            )
            assert {t["id"]: t["my_check_in"] for t in items if t["my_check_in"]} == mine, who
            if status is None:
                for item in items:  # the shape GET /tasks/{id} gives, field for field
                    one = await client.get(f"/tasks/{item['id']}", headers=headers)
                    assert one.json() == item, (who, item["id"])


async def test_the_org_filter_lists_a_seen_subtree_and_refuses_others(client, world):
    people = await mixed_world(client, world)
    for who in ("member", "street_admin", "other_street_admin", "volunteer", "admin_on_no_roster"):
        person, headers = people[who], auth(world.app, people[who])
        for key in ("D", "S1", "S2", "C1", "C2", "C3"):
            for status in (None, TaskStatus.ended):
                params = {"org_id": world[key].id, **({"status": status.value} if status else {})}
                async with world.app.state.sessionmaker() as session:
                    caller = await caller_for_person(session, person)
                    try:
                        org = await task_service.get_org_of_tasks(session, caller, world[key].id)
                    except NotFound:
                        org = None
                if org is None:
                    resp = await client.get("/tasks", headers=headers, params=params)
                    assert (resp.status_code, resp.json()["code"]) == (404, "not_found"), (who, key)
                    continue
                ids, _ = await expected(world, person, status, org)
                items, total, _ = await listed(client, headers, params)
                assert [t["id"] for t in items] == ids and total == len(ids), (who, key, status)
    missing = await client.get("/tasks", headers=world.headers("member"), params={"org_id": 10**6})
    assert missing.status_code == 404


async def test_an_unknown_status_is_422_and_a_page_past_the_end_is_empty_with_the_total(
    client, world
):
    await mixed_world(client, world)
    h = world.headers("member")
    bad = await client.get("/tasks", headers=h, params={"status": "ongoing"})
    assert (bad.status_code, bad.json()["code"]) == (422, "validation_error")
    first = (await client.get("/tasks", headers=h)).json()
    far = (await client.get("/tasks", headers=h, params={"page": 50})).json()
    assert far["items"] == [] and far["total"] == first["total"] > 0
    nothing = await client.get("/tasks", headers=world.headers("unit_admin"))
    assert nothing.json()["items"] == [] and nothing.json()["total"] == 0
