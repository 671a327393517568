"""Volunteers: registration with consent, review, opting in, withdrawal, and what
approved volunteers may join (tasks and wishes open to everyone)."""

from datetime import timedelta

import pytest

from app.core.db import utcnow
from app.models.volunteer import CONSENT_VERSION
from tests.factories.users import auth, make_user

pytestmark = pytest.mark.usefixtures("counts_stay_exact")


async def register(client, headers, community_id, *, consent=True, phone="13911112222"):
    body = {
        "name": "志愿者乙",
        "phone_code": f"{phone}#1",
        "community_id": community_id,
        "skills": ["理发", "理发", "维修"],
        "consent": consent,
    }
    return await client.post("/volunteers/register", json=body, headers=headers)


async def resident(world, name="居民"):
    return await make_user(world.app, name, phone=None)


async def test_a_resident_registers_is_reviewed_and_withdrawing_hides_them(client, world):
    person = await resident(world)
    headers = auth(world.app, person)

    resp = await register(client, headers, world["C1"].id)

    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["status"] == "pending" and body["is_volunteer"] is False
    assert body["name"] == "志愿者乙"
    assert body["phone_masked"] == "139****2222"
    assert body["skills"] == ["理发", "维修"]
    assert body["consent_version"] == CONSENT_VERSION and body["consent_at"]
    vid = body["id"]
    # The neighbouring community's admin does not learn it exists.
    assert (
        await client.get(f"/volunteers/{vid}", headers=world.headers("other_community_admin"))
    ).status_code == 404
    admin = world.headers("community_admin")
    pending = (await client.get("/volunteers?status=pending", headers=admin)).json()
    assert [v["id"] for v in pending["items"]] == [vid]

    refused = await client.post(f"/volunteers/{vid}/review", json={"approve": False}, headers=admin)
    assert refused.json()["code"] == "reason_required"
    resp = await client.post(f"/volunteers/{vid}/review", json={"approve": True}, headers=admin)
    assert resp.json()["is_volunteer"] is True
    again = await client.post(f"/volunteers/{vid}/review", json={"approve": True}, headers=admin)
    assert again.status_code == 409

    resp = await client.delete("/me/volunteer", headers=headers)
    assert resp.json()["status"] == "withdrawn" and resp.json()["withdrawn_at"]
    assert (await client.get("/volunteers", headers=admin)).json()["total"] == 0
    assert (await client.get(f"/volunteers/{vid}", headers=admin)).status_code == 404


async def test_registration_without_consent_is_422_and_writes_nothing(client, world, stub):
    person = await resident(world)
    headers = auth(world.app, person)

    resp = await register(client, headers, world["C1"].id, consent=False)

    assert resp.status_code == 422
    assert resp.json()["code"] == "consent_required"
    # WeChat was not even asked for the phone.
    assert stub.count("wxa/business/getuserphonenumber") == 0
    assert (await client.get("/me/volunteer", headers=headers)).status_code == 404


async def test_roster_people_opt_in_at_once_and_do_not_register(client, world):
    headers = world.headers("member")

    resp = await client.post("/me/volunteer", json={"consent": True}, headers=headers)

    assert resp.status_code == 201
    assert resp.json()["status"] == "approved" and resp.json()["on_roster"] is True
    assert resp.json()["community_id"] == world["C1"].id
    resp = await register(client, headers, world["C1"].id)
    assert resp.json()["code"] == "on_roster"
    twice = await client.post("/me/volunteer", json={"consent": True}, headers=headers)
    assert twice.json()["code"] == "already_volunteer"


async def test_an_approved_volunteer_joins_only_what_is_open_to_everyone(client, world):
    person = await resident(world)
    headers = auth(world.app, person)
    vid = (await register(client, headers, world["C1"].id)).json()["id"]
    admin = world.headers("community_admin")
    await client.post(f"/volunteers/{vid}/review", json={"approve": True}, headers=admin)
    start = utcnow() - timedelta(minutes=10)
    tasks = {}
    for open_to in ("party_members", "everyone"):
        tasks[open_to] = (
            await client.post(
                "/tasks",
                json={
                    "title": f"清洁家园 {open_to}",
                    "description": "",
                    "org_id": world["C1"].id,
                    "category": "sanitation",
                    "starts_at": start.isoformat(),
                    "ends_at": (start + timedelta(hours=2)).isoformat(),
                    "open_to": open_to,
                },
                headers=admin,
            )
        ).json()
    spot = {"lat": 30.0, "lng": 120.0}

    closed = await client.post(
        f"/tasks/{tasks['party_members']['id']}/check-ins", json=spot, headers=headers
    )
    opened = await client.post(
        f"/tasks/{tasks['everyone']['id']}/check-ins", json=spot, headers=headers
    )

    assert closed.status_code == 404
    assert opened.status_code == 201, opened.text
    listed = (await client.get("/tasks", headers=headers)).json()["items"]
    assert [t["id"] for t in listed] == [tasks["everyone"]["id"]]
    wish = (
        await client.post(
            "/wishes",
            json={
                "title": "陪老人聊天",
                "description": "每周一次",
                "community_id": world["C1"].id,
                "beneficiary_name": "王奶奶",
                "open_to": "everyone",
            },
            headers=admin,
        )
    ).json()
    resp = await client.post(f"/wishes/{wish['id']}/claim", headers=headers)
    assert resp.status_code == 200, resp.text
    assert resp.json()["claimed_by_id"] == person.id
    # And they log hours at their volunteer community, as roster people do at home.
    end = utcnow() - timedelta(hours=3)
    logged = await client.post(
        "/volunteer-hours",
        json={
            "org_id": world["C1"].id,
            "activity": "陪老人聊天",
            "started_at": (end - timedelta(hours=1)).isoformat(),
            "ended_at": end.isoformat(),
        },
        headers=headers,
    )
    assert logged.status_code == 201, logged.text
