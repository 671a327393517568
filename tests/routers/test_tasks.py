"""Community tasks: publishing, who sees what, check-in rules and races, check-out credits."""

import asyncio
import math
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from app.core.errors import AppError
from app.edge.access import caller_for_person
from app.models.task import AttendanceInput, CheckIn, Task
from app.models.user import User
from app.models.volunteer_hours import HourSource, HourStatus, VolunteerHour
from app.services import tasks as task_service
from app.services.photos import can_see_media
from app.services.tasks import EARTH_RADIUS_M, haversine_m
from tests.factories.media import make_media
from tests.factories.tasks import PLACE, make_check_in, make_task
from tests.factories.users import auth, make_user

# Everything written here leaves the dashboards' kept sums exact (tests/support/counts.py).
pytestmark = pytest.mark.usefixtures("counts_stay_exact")

HERE = {"lat": PLACE[0], "lng": PLACE[1]}


def north_of(meters: float) -> dict[str, float]:
    """The point `meters` due north of PLACE on the haversine sphere."""
    return {"lat": PLACE[0] + math.degrees(meters / EARTH_RADIUS_M), "lng": PLACE[1]}


def task_body(world, **overrides):
    now = datetime.now(UTC)
    body = {
        "title": "背街小巷清洁",
        "description": "清理卫生死角，自带手套",
        "org_id": world["C1"].id,
        "category": "sanitation",
        "starts_at": (now + timedelta(hours=1)).isoformat(),
        "ends_at": (now + timedelta(hours=3)).isoformat(),
    }
    body.update(overrides)
    return body


async def count(world, model, *conditions):
    async with world.app.state.sessionmaker() as s:
        return (
            await s.execute(select(func.count()).select_from(model).where(*conditions))
        ).scalar_one()


async def counter(world, task):
    async with world.app.state.sessionmaker() as s:
        return (
            await s.execute(select(Task.checked_in_count).where(Task.id == task.id))
        ).scalar_one()


async def ledger(world, check_in_id):
    async with world.app.state.sessionmaker() as s:
        rows = await s.execute(
            select(VolunteerHour).where(
                VolunteerHour.source == HourSource.check_in, VolunteerHour.source_id == check_in_id
            )
        )
        return list(rows.scalars())


# --- publishing ---------------------------------------------------------------------


async def test_community_admin_publishes_a_task_with_a_place_and_capacity(client, world):
    body = task_body(
        world, location={"lat": PLACE[0], "lng": PLACE[1], "radius_m": 200}, capacity=20
    )
    resp = await client.post("/tasks", json=body, headers=world.headers("community_admin"))
    assert resp.status_code == 201, resp.text
    task = resp.json()
    assert task["org_id"] == world["C1"].id
    assert task["status"] == "upcoming"
    assert task["location"] == {"lat": PLACE[0], "lng": PLACE[1], "radius_m": 200}
    assert task["capacity"] == 20
    assert task["checked_in_count"] == 0
    assert task["my_check_in"] is None
    fetched = await client.get(f"/tasks/{task['id']}", headers=world.headers("member"))
    assert fetched.json() == task


async def test_a_street_admin_publishes_for_a_community_of_the_street(client, world):
    resp = await client.post(
        "/tasks",
        json=task_body(world, org_id=world["C2"].id),
        headers=world.headers("street_admin"),
    )
    assert resp.status_code == 201


async def test_publishing_for_an_org_outside_reach_is_404_like_a_missing_org(client, world):
    h = world.headers("other_community_admin")
    outside = await client.post("/tasks", json=task_body(world), headers=h)
    missing = await client.post("/tasks", json=task_body(world, org_id=999_999), headers=h)
    assert outside.status_code == missing.status_code == 404
    assert outside.json()["code"] == missing.json()["code"] == "not_found"


async def test_a_task_cannot_be_published_for_a_unit(client, world):
    resp = await client.post(
        "/tasks",
        json=task_body(world, org_id=world["U1"].id),
        headers=world.headers("street_admin"),
    )
    assert resp.status_code == 422
    assert resp.json()["code"] == "invalid_task_org"


@pytest.mark.parametrize(
    ("starts", "ends"),
    [(2, 1), (1, 1), (1, 26)],
    ids=["ends_before_start", "ends_at_start", "longer_than_a_day"],
)
async def test_a_bad_time_window_is_422_invalid_time_window(client, world, starts, ends):
    now = datetime.now(UTC)
    body = task_body(
        world,
        starts_at=(now + timedelta(hours=starts)).isoformat(),
        ends_at=(now + timedelta(hours=ends)).isoformat(),
    )
    resp = await client.post("/tasks", json=body, headers=world.headers("community_admin"))
    assert resp.status_code == 422
    assert resp.json()["code"] == "invalid_time_window"


@pytest.mark.parametrize(
    "overrides",
    [
        {"location": {"lat": 91, "lng": 113, "radius_m": 100}},
        {"location": {"lat": 23, "lng": -180.5, "radius_m": 100}},
        {"location": {"lat": 23, "lng": 113, "radius_m": 5}},
        {"location": {"lat": 23, "lng": 113, "radius_m": 50_001}},
        {"location": {"lat": 23, "lng": 113}},
        {"capacity": 0},
        {"category": "karaoke"},
        {"starts_at": "2026-12-01T09:00:00", "ends_at": "2026-12-01T11:00:00"},
        {"title": "   "},
        {"status": "active"},
    ],
    ids=[
        "lat",
        "lng",
        "radius_small",
        "radius_large",
        "radius_missing",
        "capacity",
        "category",
        "naive_times",
        "empty_title",
        "unknown_field",
    ],
)
async def test_invalid_task_input_is_422_validation_error(client, world, overrides):
    resp = await client.post(
        "/tasks", json=task_body(world, **overrides), headers=world.headers("community_admin")
    )
    assert resp.status_code == 422
    assert resp.json()["code"] == "validation_error"


async def test_a_retried_publish_with_the_same_key_creates_one_task(client, world):
    h = {**world.headers("community_admin"), "Idempotency-Key": "task-1"}
    body = task_body(world)
    first = await client.post("/tasks", json=body, headers=h)
    second = await client.post("/tasks", json=body, headers=h)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert await count(world, Task) == 1


# --- who sees what -------------------------------------------------------------------


async def test_a_member_of_another_community_gets_404_on_a_community_task(client, world):
    task = await make_task(world.app, world["C1"])
    neighbour = await make_user(world.app, "邻居", community=world["C2"])
    h = auth(world.app, neighbour)
    assert (await client.get(f"/tasks/{task.id}", headers=h)).status_code == 404
    resp = await client.post(f"/tasks/{task.id}/check-ins", json=HERE, headers=h)
    assert resp.status_code == 404
    assert resp.json()["code"] == "not_found"
    listed = await client.get("/tasks", headers=h)
    assert listed.json()["items"] == []


async def test_a_district_task_is_seen_and_joined_by_a_member_of_any_community(client, world):
    task = await make_task(world.app, world["D"])
    for community in ("C1", "C2", "C3"):
        person = await make_user(world.app, f"{community}居民", community=world[community])
        h = auth(world.app, person)
        listed = await client.get("/tasks", headers=h)
        assert [t["id"] for t in listed.json()["items"]] == [task.id]
        resp = await client.post(f"/tasks/{task.id}/check-ins", json=HERE, headers=h)
        assert resp.status_code == 201, resp.text


async def test_task_lists_are_scoped_for_each_admin_level(client, world):
    tasks = {
        key: await make_task(world.app, world[key]) for key in ("D", "S1", "C1", "C2", "S2", "C3")
    }
    expected = {
        "district_admin": {"D", "S1", "C1", "C2", "S2", "C3"},
        # Reach S1's subtree; the district task reaches them as members of C1.
        "street_admin": {"D", "S1", "C1", "C2"},
        "other_street_admin": {"D", "S2", "C3"},
        "community_admin": {"D", "S1", "C1"},
        "other_community_admin": {"D", "S1", "C2"},
        "member": {"D", "S1", "C1"},
    }
    for who, keys in expected.items():
        resp = await client.get("/tasks", headers=world.headers(who), params={"page_size": 100})
        assert resp.status_code == 200
        assert {t["id"] for t in resp.json()["items"]} == {tasks[k].id for k in keys}, who
        assert resp.json()["total"] == len(keys)


async def test_the_org_filter_takes_a_subtree_the_caller_may_see(client, world):
    tasks = {key: await make_task(world.app, world[key]) for key in ("D", "S1", "C1", "C2", "C3")}
    h = world.headers("street_admin")
    s1 = await client.get("/tasks", headers=h, params={"org_id": world["S1"].id})
    assert {t["id"] for t in s1.json()["items"]} == {tasks[k].id for k in ("S1", "C1", "C2")}
    outside = await client.get("/tasks", headers=h, params={"org_id": world["C3"].id})
    assert outside.status_code == 404
    member = await client.get(
        "/tasks", headers=world.headers("member"), params={"org_id": world["D"].id}
    )
    assert {t["id"] for t in member.json()["items"]} == {tasks[k].id for k in ("D", "S1", "C1")}


async def test_the_status_filter_follows_the_time_window(client, world):
    now = datetime.now(UTC)
    upcoming = await make_task(
        world.app, world["C1"], starts_at=now + timedelta(hours=1), ends_at=now + timedelta(hours=2)
    )
    active = await make_task(world.app, world["C1"])
    ended = await make_task(
        world.app, world["C1"], starts_at=now - timedelta(hours=2), ends_at=now - timedelta(hours=1)
    )
    h = world.headers("member")
    for status, task in (("upcoming", upcoming), ("active", active), ("ended", ended)):
        resp = await client.get("/tasks", headers=h, params={"status": status})
        items = resp.json()["items"]
        assert [t["id"] for t in items] == [task.id], status
        assert items[0]["status"] == status
    bad = await client.get("/tasks", headers=h, params={"status": "cancelled"})
    assert bad.status_code == 422


# --- check-in ------------------------------------------------------------------------


async def test_a_member_checks_in_and_sees_it_on_the_task(client, world):
    task = await make_task(world.app, world["C1"], location=(*PLACE, 100), capacity=10)
    h = world.headers("member")
    resp = await client.post(f"/tasks/{task.id}/check-ins", json=north_of(30), headers=h)
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["task_id"] == task.id
    assert body["user_id"] == world.user("member").id
    assert body["checked_in_at"]
    assert body["check_in_distance_m"] == pytest.approx(30, abs=0.2)
    assert "lat" not in body and "check_in_lat" not in body  # GPS stays in the database
    shown = (await client.get(f"/tasks/{task.id}", headers=h)).json()
    assert shown["checked_in_count"] == 1
    assert shown["my_check_in"]["id"] == body["id"]
    other = (await client.get(f"/tasks/{task.id}", headers=world.headers("community_admin"))).json()
    assert other["my_check_in"] is None


def test_haversine_matches_a_known_distance():
    # Tiananmen to the Shanghai Bund, about 1067 km on the mean-radius sphere.
    assert haversine_m(39.9075, 116.3972, 31.2400, 121.4900) == pytest.approx(1_067_000, rel=0.002)
    assert haversine_m(*PLACE, *PLACE) == 0


async def test_geofence_edges_just_inside_and_just_outside_the_radius(client, world):
    task = await make_task(world.app, world["C1"], location=(*PLACE, 100))
    h = world.headers("member")
    outside = await client.post(f"/tasks/{task.id}/check-ins", json=north_of(100.5), headers=h)
    assert outside.status_code == 422
    assert outside.json()["code"] == "outside_geofence"
    inside = await client.post(f"/tasks/{task.id}/check-ins", json=north_of(99.5), headers=h)
    assert inside.status_code == 201
    assert await counter(world, task) == 1


async def test_a_task_without_a_place_takes_check_ins_from_anywhere(client, world):
    task = await make_task(world.app, world["C1"])
    resp = await client.post(
        f"/tasks/{task.id}/check-ins",
        json={"lat": -33.86, "lng": 151.2},
        headers=world.headers("member"),
    )
    assert resp.status_code == 201
    assert resp.json()["check_in_distance_m"] is None


@pytest.mark.parametrize("point", [{"lat": 90.1, "lng": 0}, {"lat": 0, "lng": 180.1}, {"lat": 1}])
async def test_bad_coordinates_are_422_validation_error(client, world, point):
    task = await make_task(world.app, world["C1"])
    resp = await client.post(
        f"/tasks/{task.id}/check-ins", json=point, headers=world.headers("member")
    )
    assert resp.status_code == 422
    assert resp.json()["code"] == "validation_error"


async def _check_in_at(world, user, task, at):
    async with world.app.state.sessionmaker() as session, session.begin():
        caller = await caller_for_person(session, user)
        return await task_service.check_in(
            session, caller=caller, task=task, data=AttendanceInput(**HERE), now=at
        )


async def test_check_in_is_allowed_exactly_at_starts_at_and_at_ends_at(world):
    start = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
    task = await make_task(
        world.app, world["C1"], starts_at=start, ends_at=start + timedelta(hours=2)
    )
    first = await make_user(world.app, "准时", community=world["C1"])
    last = await make_user(world.app, "踩点", community=world["C1"])
    assert (await _check_in_at(world, first, task, task.starts_at)).checked_in_at == task.starts_at
    assert (await _check_in_at(world, last, task, task.ends_at)).checked_in_at == task.ends_at
    assert await counter(world, task) == 2


@pytest.mark.parametrize("offset", [timedelta(seconds=-1), timedelta(hours=2, seconds=1)])
async def test_check_in_a_second_outside_the_window_is_task_not_active(world, offset):
    start = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
    task = await make_task(
        world.app, world["C1"], starts_at=start, ends_at=start + timedelta(hours=2)
    )
    with pytest.raises(AppError) as refused:
        await _check_in_at(world, world.user("member"), task, start + offset)
    assert (refused.value.status, refused.value.code) == (422, "task_not_active")
    assert await count(world, CheckIn) == 0


@pytest.mark.parametrize("window", ["upcoming", "ended"])
async def test_checking_in_outside_the_time_window_over_http_is_422(client, world, window):
    now = datetime.now(UTC)
    start = now + timedelta(hours=1) if window == "upcoming" else now - timedelta(hours=2)
    task = await make_task(
        world.app, world["C1"], starts_at=start, ends_at=start + timedelta(hours=1)
    )
    resp = await client.post(
        f"/tasks/{task.id}/check-ins", json=HERE, headers=world.headers("member")
    )
    assert resp.status_code == 422
    assert resp.json()["code"] == "task_not_active"


async def test_a_second_check_in_is_409_already_checked_in_before_and_after_check_out(
    client, world
):
    task = await make_task(world.app, world["C1"], capacity=5)
    h = world.headers("member")
    assert (
        await client.post(f"/tasks/{task.id}/check-ins", json=HERE, headers=h)
    ).status_code == 201
    again = await client.post(f"/tasks/{task.id}/check-ins", json=HERE, headers=h)
    assert again.status_code == 409
    assert again.json()["code"] == "already_checked_in"
    assert (
        await client.post(f"/tasks/{task.id}/check-out", json=HERE, headers=h)
    ).status_code == 200
    after = await client.post(f"/tasks/{task.id}/check-ins", json=HERE, headers=h)
    assert after.status_code == 409
    assert after.json()["code"] == "already_checked_in"
    assert "签退" in after.json()["detail"]
    assert await counter(world, task) == 1


async def test_a_refused_duplicate_does_not_take_a_seat(client, world):
    task = await make_task(world.app, world["C1"], capacity=2)
    h = world.headers("member")
    assert (
        await client.post(f"/tasks/{task.id}/check-ins", json=HERE, headers=h)
    ).status_code == 201
    assert (
        await client.post(f"/tasks/{task.id}/check-ins", json=HERE, headers=h)
    ).status_code == 409
    second = await make_user(world.app, "第二人", community=world["C1"])
    third = await make_user(world.app, "第三人", community=world["C1"])
    ok = await client.post(
        f"/tasks/{task.id}/check-ins", json=HERE, headers=auth(world.app, second)
    )
    assert ok.status_code == 201
    full = await client.post(
        f"/tasks/{task.id}/check-ins", json=HERE, headers=auth(world.app, third)
    )
    assert full.status_code == 409
    assert full.json()["code"] == "task_full"
    assert await counter(world, task) == 2


async def test_a_member_already_checked_in_hears_so_even_when_the_task_is_full(client, world):
    task = await make_task(world.app, world["C1"], capacity=1)
    h = world.headers("member")
    assert (
        await client.post(f"/tasks/{task.id}/check-ins", json=HERE, headers=h)
    ).status_code == 201
    again = await client.post(f"/tasks/{task.id}/check-ins", json=HERE, headers=h)
    assert again.json()["code"] == "already_checked_in"


async def test_thirty_simultaneous_check_ins_fill_exactly_the_capacity(client, world):
    task = await make_task(world.app, world["C1"], capacity=7)
    people = [await make_user(world.app, f"党员{i}", community=world["C1"]) for i in range(30)]
    responses = await asyncio.gather(
        *(
            client.post(f"/tasks/{task.id}/check-ins", json=HERE, headers=auth(world.app, p))
            for p in people
        )
    )
    codes = sorted(r.status_code for r in responses)
    assert codes == [201] * 7 + [409] * 23
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"task_full"}
    assert await counter(world, task) == 7
    assert await count(world, CheckIn, CheckIn.task_id == task.id) == 7


async def test_simultaneous_check_ins_of_one_member_make_one_attendance(client, world):
    task = await make_task(world.app, world["C1"], capacity=3)
    h = world.headers("member")
    responses = await asyncio.gather(
        *(client.post(f"/tasks/{task.id}/check-ins", json=HERE, headers=h) for _ in range(8))
    )
    assert sorted(r.status_code for r in responses) == [201] + [409] * 7
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"already_checked_in"}
    assert await counter(world, task) == 1


async def test_a_retried_check_in_with_the_same_key_replays_the_first(client, world):
    task = await make_task(world.app, world["C1"], capacity=3)
    h = {**world.headers("member"), "Idempotency-Key": "ci-1"}
    first = await client.post(f"/tasks/{task.id}/check-ins", json=HERE, headers=h)
    second = await client.post(f"/tasks/{task.id}/check-ins", json=HERE, headers=h)
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert await count(world, CheckIn) == 1
    assert await counter(world, task) == 1


async def test_simultaneous_retries_with_one_key_answer_the_same_check_in(client, world):
    task = await make_task(world.app, world["C1"])
    h = {**world.headers("member"), "Idempotency-Key": "ci-burst"}
    responses = await asyncio.gather(
        *(client.post(f"/tasks/{task.id}/check-ins", json=HERE, headers=h) for _ in range(5))
    )
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    assert await count(world, CheckIn) == 1


async def test_an_admin_who_sees_a_task_of_another_community_cannot_join_it(client, world):
    task = await make_task(world.app, world["C2"])
    resp = await client.post(
        f"/tasks/{task.id}/check-ins", json=HERE, headers=world.headers("street_admin")
    )
    assert resp.status_code == 403
    assert resp.json()["code"] == "forbidden"


async def test_check_in_photos_must_be_the_callers_own(client, world):
    task = await make_task(world.app, world["C1"])
    foreign = await make_media(world.app, world.user("community_admin"))
    h = world.headers("member")
    refused = await client.post(
        f"/tasks/{task.id}/check-ins", json={**HERE, "photo_ids": [foreign.id]}, headers=h
    )
    assert refused.status_code == 422
    assert refused.json()["code"] == "invalid_photo"
    assert await counter(world, task) == 0
    own = await make_media(world.app, world.user("member"))
    resp = await client.post(
        f"/tasks/{task.id}/check-ins", json={**HERE, "photo_ids": [own.id]}, headers=h
    )
    assert resp.status_code == 201
    assert resp.json()["photo_ids"] == [own.id]


async def test_check_in_photos_are_seen_by_the_owner_and_admins_over_the_task(client, world):
    task = await make_task(world.app, world["C1"])
    photo = await make_media(world.app, world.user("member"))
    resp = await client.post(
        f"/tasks/{task.id}/check-ins",
        json={**HERE, "photo_ids": [photo.id]},
        headers=world.headers("member"),
    )
    assert resp.status_code == 201
    seen = {}
    async with world.app.state.sessionmaker() as session:
        for who in (
            "community_admin",
            "street_admin",
            "other_community_admin",
            "other_street_admin",
        ):
            caller = await caller_for_person(session, world.user(who))
            seen[who] = await can_see_media(session, caller, photo)
    assert seen == {
        "community_admin": True,
        "street_admin": True,
        "other_community_admin": False,
        "other_street_admin": False,
    }


# --- check-out ------------------------------------------------------------------------


async def test_check_out_credits_the_minutes_as_approved_hours_exactly_once(client, world):
    task = await make_task(world.app, world["C1"])
    record = await make_check_in(world.app, task, world.user("member"), minutes_ago=45)
    h = {**world.headers("member"), "Idempotency-Key": "co-1"}
    first = await client.post(f"/tasks/{task.id}/check-out", json=HERE, headers=h)
    assert first.status_code == 200, first.text
    assert first.json()["check_in_id"] == record.id
    assert first.json()["minutes"] == 45
    replay = await client.post(f"/tasks/{task.id}/check-out", json=HERE, headers=h)
    assert replay.json() == first.json()
    again = await client.post(
        f"/tasks/{task.id}/check-out", json=HERE, headers=world.headers("member")
    )
    assert again.status_code == 409
    assert again.json()["code"] == "not_checked_in"
    (entry,) = await ledger(world, record.id)
    assert entry.minutes == 45
    assert entry.status == HourStatus.approved
    assert entry.user_id == world.user("member").id
    assert entry.org_id == task.org_id
    assert entry.activity == task.title


async def test_simultaneous_check_outs_credit_once(client, world):
    task = await make_task(world.app, world["C1"])
    record = await make_check_in(world.app, task, world.user("member"), minutes_ago=20)
    h = world.headers("member")
    responses = await asyncio.gather(
        *(client.post(f"/tasks/{task.id}/check-out", json=HERE, headers=h) for _ in range(5))
    )
    assert sorted(r.status_code for r in responses) == [200] + [409] * 4
    assert len(await ledger(world, record.id)) == 1


async def test_checking_out_after_the_end_is_allowed_but_counts_only_until_ends_at(client, world):
    now = datetime.now(UTC)
    task = await make_task(
        world.app,
        world["C1"],
        starts_at=now - timedelta(hours=3),
        ends_at=now - timedelta(minutes=10),
    )
    record = await make_check_in(
        world.app, task, world.user("member"), at=task.ends_at - timedelta(minutes=60)
    )
    resp = await client.post(
        f"/tasks/{task.id}/check-out", json=HERE, headers=world.headers("member")
    )
    assert resp.status_code == 200
    assert resp.json()["minutes"] == 60
    (entry,) = await ledger(world, record.id)
    assert entry.ended_at == task.ends_at


async def test_checking_out_away_from_the_place_keeps_the_hours_and_shows_the_distance(
    client, world
):
    task = await make_task(world.app, world["C1"], location=(*PLACE, 100))
    record = await make_check_in(world.app, task, world.user("member"), minutes_ago=30)
    resp = await client.post(
        f"/tasks/{task.id}/check-out", json=north_of(5000), headers=world.headers("member")
    )
    assert resp.status_code == 200
    assert resp.json()["minutes"] == 30
    listed = await client.get(
        f"/tasks/{task.id}/check-ins", headers=world.headers("community_admin")
    )
    (item,) = listed.json()["items"]
    assert item["id"] == record.id
    assert item["check_out_distance_m"] == pytest.approx(5000, abs=0.5)
    assert item["minutes"] == 30
    assert item["user_name"] == "党员甲"


@pytest.mark.pooled
async def test_checking_out_at_once_writes_no_ledger_entry(client, world):
    task = await make_task(world.app, world["C1"])
    h = world.headers("member")
    created = await client.post(f"/tasks/{task.id}/check-ins", json=HERE, headers=h)
    resp = await client.post(f"/tasks/{task.id}/check-out", json=HERE, headers=h)
    assert resp.status_code == 200
    assert resp.json()["minutes"] == 0
    assert await ledger(world, created.json()["id"]) == []


async def test_check_out_without_a_check_in_is_409_not_checked_in(client, world):
    task = await make_task(world.app, world["C1"])
    resp = await client.post(
        f"/tasks/{task.id}/check-out", json=HERE, headers=world.headers("member")
    )
    assert resp.status_code == 409
    assert resp.json()["code"] == "not_checked_in"


async def test_a_member_who_moved_away_can_still_check_out(client, world):
    task = await make_task(world.app, world["C1"])
    member = world.user("member")
    await make_check_in(world.app, task, member, minutes_ago=15)
    async with world.app.state.sessionmaker() as s, s.begin():
        await s.execute(
            update(User).where(User.id == member.id).values(community_id=world["C3"].id)
        )
    h = world.headers("member")
    assert (await client.get(f"/tasks/{task.id}", headers=h)).status_code == 404
    resp = await client.post(f"/tasks/{task.id}/check-out", json=HERE, headers=h)
    assert resp.status_code == 200
    assert resp.json()["minutes"] == 15


async def test_check_in_list_is_for_admins_over_the_task(client, world):
    task = await make_task(world.app, world["D"])
    await make_check_in(world.app, task, world.user("member"))
    district = await client.get(
        f"/tasks/{task.id}/check-ins", headers=world.headers("district_admin")
    )
    assert district.status_code == 200
    assert district.json()["total"] == 1
    # The community admin sees the district task (as a member of C1) but does not run it.
    community = await client.get(
        f"/tasks/{task.id}/check-ins", headers=world.headers("community_admin")
    )
    assert community.status_code == 403
