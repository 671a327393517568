"""Rows for inspection rounds: checklists and visits.

Points and visits are of community C1; the checklist is the district's. Checklists
are set by the district's admins only (everyone else 403) and read by anyone of the
district. A visit is recorded by an inspector (or admin) whose reach covers the
point: a member holds no such role (403); the neighbours' reach misses the point
(422 `invalid_point`, as POST /problems answers a point it cannot use).
"""

from __future__ import annotations

from typing import Any

from app.edge.access import caller_for_person
from app.models.inspection import InspectionCreate, ResultInput
from app.services import inspections
from tests.contract.matrix_rows.common import Req, Row, statuses, world_key
from tests.factories.inspections import MARKET_ITEMS, make_checklist, make_team
from tests.factories.media import make_media
from tests.factories.problems import make_point
from tests.factories.world import World


async def _checklist_put(world: World, caller: str) -> Req:
    return Req(path="/api/v1/checklists/market", json={"items": MARKET_ITEMS})


async def _checklist_get(world: World, caller: str) -> Req:
    await make_checklist(world.app, world["D"], world.user("district_admin"))
    return Req(path="/api/v1/checklists/market")


async def _visit(world: World, caller: str) -> Req:
    await make_checklist(world.app, world["D"], world.user("district_admin"))
    point = await make_point(world.app, world["C1"])
    key = world_key(caller, "inspector")
    photo = await make_media(world.app, world.user(key if key in world.people else "inspector"))
    return Req(
        path="/api/v1/inspections",
        json={
            "point_id": point.id,
            "lat": point.lat,
            "lng": point.lng,
            "results": [{"item": item, "passed": True} for item in MARKET_ITEMS],
            "photo_ids": [photo.id],
        },
    )


async def _recorded(world: World) -> int:
    await make_checklist(world.app, world["D"], world.user("district_admin"))
    point = await make_point(world.app, world["C1"], name="矩阵里的巡查点位")
    inspector = world.user("inspector")
    photo = await make_media(world.app, inspector)
    async with world.app.state.sessionmaker() as session, session.begin():
        caller = await caller_for_person(session, inspector)
        visit = await inspections.record_visit(
            session,
            caller=caller,
            data=InspectionCreate(
                point_id=point.id,
                lat=point.lat,
                lng=point.lng,
                results=[ResultInput(item=item, passed=True) for item in MARKET_ITEMS],
                photo_ids=[photo.id],
            ),
        )
        assert visit.id is not None
        return visit.id


async def _list(world: World, caller: str) -> Req:
    await _recorded(world)
    return Req(path="/api/v1/inspections", params={"page_size": 100})


def _list_check(world: World, caller: str, body: Any) -> None:
    names = [v["point_name"] for v in body["items"]]
    assert ("矩阵里的巡查点位" in names) == (caller == "right"), caller


async def _one(world: World, caller: str) -> Req:
    return Req(path=f"/api/v1/inspections/{await _recorded(world)}")


async def _record_xlsx(world: World, caller: str) -> Req:
    return Req(path=f"/api/v1/inspections/{await _recorded(world)}.xlsx")


async def _stats(world: World, caller: str) -> Req:
    return Req(path="/api/v1/stats/inspections", params={"org_id": world["C1"].id})


ROWS: dict[tuple[str, str], Row] = {
    ("PUT", "/api/v1/checklists/{kind}"): Row(
        "district_admin", statuses(401, 403, 403, 403, 200), _checklist_put
    ),
    # The whole district reads its checklists (a member, the neighbours too).
    ("GET", "/api/v1/checklists/{kind}"): Row(
        "inspector", statuses(401, 200, 200, 200, 200), _checklist_get
    ),
    ("POST", "/api/v1/inspections"): Row("inspector", statuses(401, 403, 422, 422, 201), _visit),
    ("GET", "/api/v1/inspections"): Row(
        "street_admin", statuses(401, 200, 200, 200, 200), _list, _list_check
    ),
    ("GET", "/api/v1/inspections/{inspection_id}.xlsx"): Row(
        "community_admin", statuses(401, 404, 404, 404, 200), _record_xlsx
    ),
    # As the weekly bulletin: admins over the org.
    ("GET", "/api/v1/stats/inspections"): Row(
        "community_admin", statuses(401, 403, 404, 404, 200), _stats
    ),
    ("GET", "/api/v1/inspections/{inspection_id}"): Row(
        "community_admin", statuses(401, 404, 404, 404, 200), _one
    ),
}


# Teams are street S1's, with its inspector in them: the member is in none, so sees
# none; a member of a team sees it (tests/routers/test_inspections.py).


async def _team(world: World) -> int:
    team = await make_team(
        world.app, world["S1"], [world.user("inspector")], creator=world.user("street_admin")
    )
    assert team.id is not None
    return team.id


async def _team_create(world: World, caller: str) -> Req:
    return Req(
        path="/api/v1/inspection-teams",
        json={
            "name": "矩阵督导组",
            "org_id": world["S1"].id,
            "member_ids": [world.user("inspector").id],
        },
    )


async def _teams(world: World, caller: str) -> Req:
    await _team(world)
    return Req(path="/api/v1/inspection-teams", params={"page_size": 100})


def _teams_check(world: World, caller: str, body: Any) -> None:
    assert (body["total"] > 0) == (caller == "right"), caller


async def _one_team(world: World, caller: str) -> Req:
    return Req(path=f"/api/v1/inspection-teams/{await _team(world)}")


async def _team_add(world: World, caller: str) -> Req:
    team_id = await _team(world)
    return Req(
        path=f"/api/v1/inspection-teams/{team_id}/members",
        json={"user_id": world.user("member").id},
    )


async def _team_remove(world: World, caller: str) -> Req:
    team_id = await _team(world)
    return Req(path=f"/api/v1/inspection-teams/{team_id}/members/{world.user('inspector').id}")


ROWS.update(
    {
        ("POST", "/api/v1/inspection-teams"): Row(
            "street_admin", statuses(401, 404, 404, 404, 201), _team_create
        ),
        ("GET", "/api/v1/inspection-teams"): Row(
            "street_admin", statuses(401, 200, 200, 200, 200), _teams, _teams_check
        ),
        ("GET", "/api/v1/inspection-teams/{team_id}"): Row(
            "inspector", statuses(401, 404, 404, 404, 200), _one_team
        ),
        ("POST", "/api/v1/inspection-teams/{team_id}/members"): Row(
            "street_admin", statuses(401, 404, 404, 404, 200), _team_add
        ),
        ("DELETE", "/api/v1/inspection-teams/{team_id}/members/{user_id}"): Row(
            "street_admin", statuses(401, 404, 404, 404, 200), _team_remove
        ),
    }
)
