"""Volunteer service teams: creation by an admin, joining on request, the leader's
approval."""

import pytest

from app.models.volunteer import VolunteerStatus
from tests.factories.users import auth, make_user
from tests.factories.volunteers import insert_volunteer

pytestmark = pytest.mark.usefixtures("counts_stay_exact")


def team_body(world, **extra):
    return {
        "name": "红小帽",
        "org_id": world["C1"].id,
        "leader_user_id": world.user("member").id,
        "service_types": ["助老", "理发"],
        "description": "东关社区志愿服务队",
        **extra,
    }


async def test_a_volunteer_asks_to_join_and_the_leader_approves(client, world):
    admin = world.headers("community_admin")
    team = (await client.post("/teams", json=team_body(world), headers=admin)).json()
    assert team["members"] == 1 and team["leader_name"] == "党员甲"
    resident = await make_user(world.app, "居民志愿者")
    await insert_volunteer(
        world.app, community=world["C1"], user=resident, status=VolunteerStatus.approved
    )
    stranger = await make_user(world.app, "未登记的人", community=world["C2"])

    refused = await client.post(f"/teams/{team['id']}/join", headers=auth(world.app, stranger))
    asked = await client.post(f"/teams/{team['id']}/join", headers=auth(world.app, resident))
    again = await client.post(f"/teams/{team['id']}/join", headers=auth(world.app, resident))

    assert refused.json()["code"] == "not_volunteer"
    assert asked.status_code == 201 and asked.json()["status"] == "pending"
    assert again.json()["code"] == "already_member"
    review = f"/teams/{team['id']}/members/{resident.id}/review"
    leader = world.headers("member")
    assert (await client.post(review, json={"approve": True}, headers=leader)).json()[
        "status"
    ] == "approved"
    twice = await client.post(review, json={"approve": False}, headers=leader)
    assert twice.json()["code"] == "request_already_reviewed"
    detail = (await client.get(f"/teams/{team['id']}", headers=leader)).json()
    assert detail["members"] == 2
    assert {m["name"] for m in detail["member_list"]} == {"党员甲", "居民志愿者"}
    listed = await client.get(f"/teams?org_id={world['C1'].id}", headers=leader)
    assert [t["id"] for t in listed.json()["items"]] == [team["id"]]


async def test_a_team_needs_a_leader_of_its_org_and_a_name_of_its_own(client, world):
    admin = world.headers("street_admin")
    outsider = world.user("other_street_admin").id
    bad = await client.post("/teams", json=team_body(world, leader_user_id=outsider), headers=admin)
    assert bad.json()["code"] == "invalid_leader"
    assert (await client.post("/teams", json=team_body(world), headers=admin)).status_code == 201
    twin = await client.post("/teams", json=team_body(world), headers=admin)
    assert twin.json()["code"] == "team_name_exists"
