"""Pairings (结对共建) and liaisons (包联): who may make them, bad input, the race."""

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlmodel import col

from app.core.db import utcnow
from app.models.audit import AuditEntry
from app.models.org import OrgLevel
from app.models.pairing import Pairing, PairingEvent
from app.models.volunteer_hours import HourStatus
from tests.factories.orgs import make_org
from tests.factories.users import auth, make_user
from tests.factories.volunteer_hours import insert_entry

pytestmark = pytest.mark.usefixtures("counts_stay_exact")


def body(world, unit="U1", community="C1", **extra):
    return {
        "unit_id": world[unit].id,
        "community_id": world[community].id,
        "starts_on": "2026-03-01",
        "commitments": ["每月组织一次志愿服务"],
        **extra,
    }


async def pair(client, world, who="street_admin", **kw):
    return await client.post("/pairings", json=body(world, **kw), headers=world.headers(who))


async def stored(world) -> int:
    async with world.app.state.sessionmaker() as s:
        return (await s.execute(select(func.count()).select_from(Pairing))).scalar_one()


async def test_a_street_pairs_its_unit_with_its_community_once_at_a_time(client, world):
    resp = await pair(client, world)
    assert resp.status_code == 201
    first = resp.json()
    assert first["status"] == "active"
    assert (first["unit_name"], first["community_name"]) == ("东关小学", "东关社区")
    assert first["commitments"] == ["每月组织一次志愿服务"]
    again = await pair(client, world, who="district_admin")
    assert again.status_code == 409
    assert again.json()["code"] == "already_paired"
    # Ended, not deleted: the two may be paired again, and both stay on the list.
    ended = await client.post(
        f"/pairings/{first['id']}/end", json={}, headers=world.headers("street_admin")
    )
    assert ended.status_code == 200
    assert ended.json()["status"] == "ended"
    assert ended.json()["ends_on"] is not None
    twice = await client.post(
        f"/pairings/{first['id']}/end", json={}, headers=world.headers("street_admin")
    )
    assert twice.status_code == 409
    assert (await pair(client, world)).status_code == 201
    listed = await client.get(
        "/pairings", params={"unit_id": world["U1"].id}, headers=world.headers("community_admin")
    )
    assert [p["status"] for p in listed.json()["items"]] == ["ended", "active"]
    async with world.app.state.sessionmaker() as s:
        events = (await s.execute(select(PairingEvent.action))).scalars().all()
        audits = (
            await s.execute(
                select(AuditEntry.action).where(col(AuditEntry.action).like("pairing.%"))
            )
        ).scalars()
        assert sorted(events) == ["create", "create", "end"]
        assert sorted(audits) == ["pairing.create", "pairing.create", "pairing.end"]
    history = await client.get(
        f"/pairings/{first['id']}/history", headers=world.headers("unit_admin")
    )
    assert history.status_code == 200, history.text
    assert [(e["action"], e["from_status"], e["to_status"]) for e in history.json()] == [
        ("create", None, "active"),
        ("end", "active", "ended"),
    ]
    assert {e["actor_name"] for e in history.json()} == {world.user("street_admin").name}


@pytest.mark.parametrize(
    ("kw", "status", "code"),
    [
        # A unit is paired with a community, never with a street or another unit.
        ({"community": "S1"}, 422, "not_a_community"),
        ({"community": "U1"}, 422, "not_a_community"),
        ({"unit": "C2"}, 422, "not_a_unit"),
        # A community of the next street is out of the street admin's reach: as missing.
        ({"community": "C3"}, 404, "not_found"),
        ({"ends_on": "2026-02-28"}, 422, "invalid_period"),
    ],
)
async def test_bad_pairings_are_refused_and_nothing_is_stored(client, world, kw, status, code):
    resp = await pair(client, world, **kw)
    assert resp.status_code == status, resp.text
    assert resp.json()["code"] == code
    assert await stored(world) == 0


async def test_a_community_admin_may_not_pair(client, world):
    resp = await pair(client, world, who="community_admin")
    assert resp.status_code == 403
    assert await stored(world) == 0


@pytest.mark.pooled
async def test_two_admins_pairing_the_same_two_at_once_make_one_pairing(client, world):
    results = await asyncio.gather(
        pair(client, world, who="street_admin"), pair(client, world, who="district_admin")
    )
    assert sorted(r.status_code for r in results) == [201, 409]
    assert await stored(world) == 1


async def test_a_task_is_organised_with_an_active_pairing_of_its_own_community(client, world):
    pairing = (await pair(client, world)).json()
    task = {
        "title": "结对共建：清理背街小巷",
        "description": "东关小学党员与社区一起清理",
        "org_id": world["C1"].id,
        "category": "sanitation",
        "starts_at": "2026-12-20T01:00:00Z",
        "ends_at": "2026-12-20T03:00:00Z",
    }
    headers = world.headers("community_admin")
    resp = await client.post("/tasks", json={**task, "pairing_id": pairing["id"]}, headers=headers)
    assert resp.status_code == 201
    assert resp.json()["pairing_id"] == pairing["id"]
    # Another community's task cannot name it.
    other = {**task, "org_id": world["C2"].id, "pairing_id": pairing["id"]}
    resp = await client.post("/tasks", json=other, headers=world.headers("street_admin"))
    assert resp.status_code == 422
    assert resp.json()["code"] == "invalid_pairing"


async def test_a_district_admin_assigns_a_leader_to_a_street_or_community(client, world):
    headers = world.headers("district_admin")
    leader = world.user("street_admin").id
    resp = await client.post(
        "/liaisons",
        json={"user_id": leader, "org_id": world["C1"].id, "starts_on": "2026-01-01"},
        headers=headers,
    )
    assert resp.status_code == 201
    assert resp.json()["org_name"] == "东关社区"
    unit = await make_org(world.app, "区文明办", OrgLevel.unit, world["D"])
    for org_id, code in ((unit.id, "invalid_liaison_org"), (world["C1"].id, "invalid_period")):
        bad = await client.post(
            "/liaisons",
            json={
                "user_id": leader,
                "org_id": org_id,
                "starts_on": "2026-02-01",
                "ends_on": "2026-01-01" if code == "invalid_period" else None,
            },
            headers=headers,
        )
        assert (bad.status_code, bad.json()["code"]) == (422, code)
    listed = await client.get(
        "/liaisons", params={"org_id": world["S1"].id}, headers=world.headers("street_admin")
    )
    assert [x["user_id"] for x in listed.json()["items"]] == [leader]


async def test_pairing_figures_count_what_the_units_members_did_in_the_paired_community(
    client, world
):
    pairing = (await pair(client, world)).json()
    far = await make_user(
        world.app, "外住党员", community=world["C3"], unit=world["U1"], party=True
    )
    # The member (U1, living in C1) reports to C1; the other U1 member reports to C3,
    # which is not the paired community.
    for person in (world.user("member"), far):
        assert (
            await client.post("/report-ins", json={}, headers=auth(world.app, person))
        ).status_code == 201
    now = utcnow()
    await insert_entry(
        world.app,
        user=world.user("member"),
        org=world["C1"],
        minutes=90,
        status=HourStatus.approved,
        started_at=now - timedelta(hours=3),
    )
    await insert_entry(world.app, user=far, org=world["C3"], minutes=60, status=HourStatus.approved)
    task = {
        "title": "结对共建：清理背街小巷",
        "description": "东关小学党员与社区一起清理",
        "org_id": world["C1"].id,
        "category": "sanitation",
        "starts_at": (now + timedelta(days=1)).isoformat(),
        "ends_at": (now + timedelta(days=1, hours=2)).isoformat(),
        "pairing_id": pairing["id"],
    }
    if (now + timedelta(days=1)).year != now.year:
        pytest.skip("the joint task would fall in the next year")
    resp = await client.post("/tasks", json=task, headers=world.headers("community_admin"))
    assert resp.status_code == 201
    for who, org in (("unit_admin", "U1"), ("community_admin", "C1"), ("district_admin", "D")):
        resp = await client.get(
            "/stats/pairings", params={"org_id": world[org].id}, headers=world.headers(who)
        )
        assert resp.status_code == 200, who
        (item,) = resp.json()["items"]
        assert item["pairing_id"] == pairing["id"]
        assert (item["members"], item["reported_this_month"], item["reported_this_year"]) == (
            2,
            1,
            1,
        )
        assert (item["approved_minutes"], item["joint_tasks"]) == (90, 1)
        assert item["wishes_claimed"] == 0
    # Another unit's secretary asks about U1: as missing.
    resp = await client.get(
        "/stats/pairings",
        params={"org_id": world["U1"].id},
        headers=world.headers("other_unit_admin"),
    )
    assert resp.status_code == 404


async def test_a_liaison_ends_once_and_stays_on_record(client, world):
    headers = world.headers("district_admin")
    made = await client.post(
        "/liaisons",
        json={
            "user_id": world.user("street_admin").id,
            "org_id": world["C1"].id,
            "starts_on": "2026-01-01",
        },
        headers=headers,
    )
    liaison = made.json()["id"]
    early = await client.post(
        f"/liaisons/{liaison}/end", json={"ends_on": "2025-12-31"}, headers=headers
    )
    assert (early.status_code, early.json()["code"]) == (422, "invalid_period")
    street = await client.post(
        f"/liaisons/{liaison}/end", json={}, headers=world.headers("street_admin")
    )
    assert street.status_code == 403  # the district's arrangement
    ends = await asyncio.gather(
        *(
            client.post(f"/liaisons/{liaison}/end", json={"ends_on": "2026-06-30"}, headers=headers)
            for _ in range(3)
        )
    )
    assert sorted(r.status_code for r in ends) == [200, 409, 409]
    assert {r.json().get("code") for r in ends if r.status_code == 409} == {"liaison_ended"}
    listed = await client.get("/liaisons", headers=headers)
    assert [(x["id"], x["ends_on"]) for x in listed.json()["items"]] == [(liaison, "2026-06-30")]
    async with world.app.state.sessionmaker() as s:
        audits = (
            await s.execute(
                select(AuditEntry.action).where(col(AuditEntry.action).like("liaison.%"))
            )
        ).scalars()
        assert sorted(audits) == ["liaison.create", "liaison.end"]
