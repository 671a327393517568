"""Rows for volunteer service teams."""

from __future__ import annotations

from typing import Any

from app.models.volunteer import VolunteerStatus
from tests.contract.matrix_rows.common import UNIT_ADMINS, Req, Row, statuses, world_key
from tests.factories.teams import insert_member, insert_team
from tests.factories.users import make_user
from tests.factories.volunteers import insert_volunteer
from tests.factories.world import World


async def _c1_team(world: World) -> Any:
    leader = await make_user(world.app, "队长", community=world["C1"])
    return await insert_team(world.app, org=world["C1"], leader=leader)


async def _create(world: World, caller: str) -> Req:
    return Req(
        path="/api/v1/teams",
        json={
            "name": "红小帽",
            "org_id": world["C1"].id,
            "leader_user_id": world.user("member").id,
            "service_types": ["助老", "理发"],
            "description": "东关社区志愿服务队",
        },
    )


async def _list(world: World, caller: str) -> Req:
    await _c1_team(world)
    return Req(path="/api/v1/teams")


def _list_check(world: World, caller: str, body: Any) -> None:
    # Everyone living in the district sees its teams, to join them; the units'
    # secretaries live nowhere.
    assert body["total"] == (0 if caller in UNIT_ADMINS else 1), caller


async def _one(world: World, caller: str) -> Req:
    team = await _c1_team(world)
    return Req(path=f"/api/v1/teams/{team.id}")


async def _join(world: World, caller: str) -> Req:
    team = await _c1_team(world)
    if caller not in ("anonymous", *UNIT_ADMINS):
        person = world.user(world_key(caller, "member"))
        await insert_volunteer(
            world.app, community=world["C1"], user=person, status=VolunteerStatus.approved
        )
    return Req(path=f"/api/v1/teams/{team.id}/join")


async def _review(world: World, caller: str) -> Req:
    team = await _c1_team(world)
    asker = await make_user(world.app, "申请人", community=world["C1"])
    await insert_member(world.app, team=team, user=asker)
    return Req(path=f"/api/v1/teams/{team.id}/members/{asker.id}/review", json={"approve": True})


ROWS: dict[tuple[str, str], Row] = {
    ("POST", "/api/v1/teams"): Row("community_admin", statuses(401, 403, 404, 404, 201), _create),
    ("GET", "/api/v1/teams"): Row(
        "member",
        statuses(401, 200, 200, 200, 200, unit_admin=200, other_unit_admin=200),
        _list,
        _list_check,
    ),
    ("GET", "/api/v1/teams/{team_id}"): Row(
        "member",
        statuses(401, 200, 200, 200, 200, unit_admin=404, other_unit_admin=404),
        _one,
    ),
    ("POST", "/api/v1/teams/{team_id}/join"): Row(
        "member",
        statuses(401, 201, 201, 201, 201, unit_admin=404, other_unit_admin=404),
        _join,
    ),
    # The leader or an admin over the team's org decides; other neighbours see the team.
    ("POST", "/api/v1/teams/{team_id}/members/{user_id}/review"): Row(
        "community_admin",
        statuses(401, 403, 403, 403, 200, unit_admin=404, other_unit_admin=404),
        _review,
    ),
}
