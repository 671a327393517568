"""GET /problems for a mixed world: every kind of caller, every filter and page, answered
as a plain reading of the rule says (who sees a problem: the admins and inspectors whose
reach covers its org, app/services/problems.py), each item as the problem reads alone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from app.core.db import utcnow
from app.core.timeutil import local
from app.models.media import MediaAttachment, MediaCheckStatus
from app.models.org import Org, OrgLevel
from app.models.problem import (
    UNRESOLVED,
    Problem,
    ProblemAction,
    ProblemEvent,
    ProblemStatus,
)
from app.models.user import ADMIN_ROLES, Role, RoleGrant
from app.services.problems import EVENT_RECORD, PROBLEM_RECORD
from tests.factories.media import make_media
from tests.factories.orgs import make_org
from tests.factories.problems import DISTRICT_AFTER_DAYS, insert_problem, make_point
from tests.factories.users import auth, make_user
from tests.support.pages import alone, check_pages, check_refused, newest_first

pytestmark = pytest.mark.usefixtures("counts_stay_exact")

SUPERVISION_ROLES = ADMIN_ROLES | {Role.inspector}
# (status, deadline in days from today): not due, overdue lately (the street's),
# overdue long (the district's), for each state.
SHAPES = [
    (ProblemStatus.open, 7),
    (ProblemStatus.open, -1),
    (ProblemStatus.open, -10),
    (ProblemStatus.rectified, 5),
    (ProblemStatus.rectified, -2),
    (ProblemStatus.rectified, -20),
    (ProblemStatus.closed, -30),
    (ProblemStatus.closed, 3),
]


@dataclass
class Viewer:
    """What the rule reads of a caller: the paths their supervising roles reach."""

    paths: list[str]

    def sees(self, path: str) -> bool:
        return any(path.startswith(p) for p in self.paths)


async def mixed_world(client, world) -> dict[str, str]:
    """Problems of every state and escalation at every level of the district and in
    another district; some at a point with a location; before-photos and after-photos
    (passed, pending, someone else's pending); problems rectified twice, and one sent
    back, whose latest rectification's photos are the ones shown."""
    outer_district = await make_org(world.app, "外区", OrgLevel.district)
    outer_street = await make_org(world.app, "外区街道", OrgLevel.street, outer_district)
    world.orgs["OD"] = outer_district
    world.orgs["OC"] = await make_org(world.app, "外区社区", OrgLevel.community, outer_street)
    world.people["outer_admin"] = await make_user(
        world.app, "外区书记", community=world["OC"], roles=[(Role.community_admin, world["OC"])]
    )
    world.people["district_inspector"] = await make_user(
        world.app, "区督导员", community=world["C3"], roles=[(Role.inspector, world["D"])]
    )
    reporter = world.user("inspector")
    rectifier = world.user("community_admin")
    point = await make_point(world.app, world["C1"])
    today = local(utcnow()).date()
    problems = []
    for org in ("C1", "C2", "C3", "U1", "S1", "S2", "OC"):
        for status, days in SHAPES:
            problem = await insert_problem(
                world.app,
                org=world[org],
                reporter=world.user("outer_admin") if org == "OC" else reporter,
                status=status,
                rectifier=rectifier,
                deadline=today + timedelta(days=days),
                description=f"{org} {status.value} {days}",
            )
            problems.append(problem)
    async with world.app.state.sessionmaker() as session, session.begin():
        located = await session.get(Problem, problems[0].id)
        located.point_id, located.lat, located.lng = point.id, 23.1291, 113.2644
        elsewhere = await session.get(Problem, problems[9].id)
        elsewhere.lat, elsewhere.lng = 23.5, 113.5
    # Before-photos: passed and pending by the reporter, someone else's pending.
    for problem in problems[0:3] + problems[10:12]:
        passed = await make_media(world.app, reporter)
        pending = await make_media(world.app, reporter, check_status=MediaCheckStatus.pending)
        await _attach(world, PROBLEM_RECORD, problem.id, [pending.id, passed.id])
    stranger = await make_media(
        world.app, world.user("street_admin"), check_status=MediaCheckStatus.pending
    )
    await _attach(world, PROBLEM_RECORD, problems[1].id, [stranger.id])
    # After-photos on the rectifications of C1's and C2's rectified and closed problems.
    for problem in problems[3:7] + problems[11:15]:
        (event_id,) = await _rectify_events(world, problem.id)
        passed = await make_media(world.app, rectifier)
        pending = await make_media(world.app, rectifier, check_status=MediaCheckStatus.pending)
        await _attach(world, EVENT_RECORD, event_id, [passed.id, pending.id])
    # Rectified, sent back, rectified again: the second rectification's photos show.
    for problem in (problems[3], problems[12]):
        await _redo(world, problem, rectifier, again=True)
    # Sent back and open: the rectification's photos still show.
    await _redo(world, problems[2], rectifier, again=False)
    created = await client.post(
        "/api-keys",
        json={
            "name": "督办",
            "org_id": world["S1"].id,
            "scopes": ["read:problems"],
            "rate_limit_per_minute": 6000,  # this test asks a few hundred times
        },
        headers=world.headers("street_admin"),
    )
    assert created.status_code == 201, created.text
    return {"X-API-Key": created.json()["key"]}


async def _attach(world, record_type, record_id, media_ids):
    async with world.app.state.sessionmaker() as session, session.begin():
        for media_id in media_ids:
            session.add(
                MediaAttachment(media_id=media_id, record_type=record_type, record_id=record_id)
            )


async def _rectify_events(world, problem_id) -> list[int]:
    async with world.app.state.sessionmaker() as session:
        found = await session.execute(
            select(ProblemEvent.id)
            .where(
                ProblemEvent.problem_id == problem_id,
                ProblemEvent.action == ProblemAction.rectify,
            )
            .order_by(ProblemEvent.id)
        )
        return list(found.scalars())


async def _redo(world, problem, rectifier, *, again: bool):
    """Add a rectification (with a photo) and its sending back; then, if `again`, one
    more rectification with a photo of its own."""
    steps = [(ProblemAction.rectify, ProblemStatus.open, ProblemStatus.rectified)]
    steps.append((ProblemAction.reopen, ProblemStatus.rectified, ProblemStatus.open))
    if again:
        steps.append((ProblemAction.rectify, ProblemStatus.open, ProblemStatus.rectified))
    for action, before, after in steps:
        async with world.app.state.sessionmaker() as session, session.begin():
            event = ProblemEvent(
                problem_id=problem.id,
                action=action,
                from_status=before,
                to_status=after,
                actor_id=rectifier.id,
            )
            session.add(event)
            await session.flush()
            event_id = event.id
        if action == ProblemAction.rectify:
            photo = await make_media(world.app, rectifier)
            await _attach(world, EVENT_RECORD, event_id, [photo.id])


async def viewers(world) -> dict[str, Viewer]:
    async with world.app.state.sessionmaker() as session:
        orgs = {o.id: o for o in (await session.execute(select(Org))).scalars()}
        grants = (await session.execute(select(RoleGrant))).scalars().all()
    out = {
        key: Viewer(
            [
                orgs[g.org_id].path
                for g in grants
                if g.user_id == user.id and g.role in SUPERVISION_ROLES
            ]
        )
        for key, user in world.people.items()
    }
    out["api_key"] = Viewer([world["S1"].path])  # acts as an admin of its org
    return out


def _passes(problem: Problem, params: dict, paths: dict[int, str], now: datetime) -> bool:
    overdue = problem.status in UNRESOLVED and now >= problem.deadline_at
    if overdue and problem.deadline_at <= now - timedelta(days=DISTRICT_AFTER_DAYS):
        level = "district"
    else:
        level = "street" if overdue else "none"
    for name, value in params.items():
        if name == "org_id" and not paths[problem.org_id].startswith(paths[value]):
            return False
        if name == "status" and problem.status != value:
            return False
        if name == "overdue" and overdue != value:
            return False
        if name == "escalated_to" and level != value:
            return False
    return True


async def test_every_caller_lists_what_the_rule_shows_them_filter_by_filter_page_by_page(
    client, world
):
    key_headers = await mixed_world(client, world)
    now = utcnow()
    listed, paths = await newest_first(world, Problem)
    filters = [
        {},
        *({"status": s.value} for s in ProblemStatus),
        {"overdue": True},
        {"overdue": False},
        *({"escalated_to": level} for level in ("none", "street", "district")),
        *({"org_id": world[o].id} for o in ("D", "S1", "S2", "C1", "C3", "U1", "UD", "OC")),
        {"status": "open", "overdue": True, "org_id": world["S1"].id},
        {"status": "rectified", "escalated_to": "district"},
        {"overdue": False, "escalated_to": "street"},
        {"status": "closed", "overdue": True},
        {"escalated_to": "street", "org_id": world["C1"].id},
    ]
    checked = 0
    for who, viewer in (await viewers(world)).items():
        headers = key_headers if who == "api_key" else auth(world.app, world.user(who))
        if not viewer.paths:
            for params in ({}, {"org_id": world["C1"].id}, {"status": "open"}):
                resp = await client.get("/problems", params=params, headers=headers)
                assert resp.status_code == 403, (who, params)
                assert resp.json()["code"] == "forbidden"
            continue
        seen = [p for p in listed if viewer.sees(paths[p.org_id])]
        read = await alone(client, "/problems/{}", [p.id for p in seen], headers)
        for params in filters:
            if "org_id" in params and not viewer.sees(paths[params["org_id"]]):
                resp = await client.get("/problems", params=params, headers=headers)
                assert resp.status_code == 404, (who, params)
                continue
            expected = [read[p.id] for p in seen if _passes(p, params, paths, now)]
            checked += await check_pages(client, "/problems", params, headers, expected, who)
    assert checked > 1000  # the world shows something to almost everyone


async def test_the_list_refuses_what_it_refused(client, world):
    headers = world.headers("street_admin")
    invalid = [
        {"status": "deleted"},
        {"overdue": "maybe"},
        {"escalated_to": "city"},
        {"org_id": 0},
        {"page": 0},
        {"page_size": 101},
    ]
    await check_refused(client, "/problems", invalid, headers)
    outside = await client.get("/problems", params={"org_id": world["S2"].id}, headers=headers)
    assert outside.status_code == 404
