"""The volunteer-hours ledger: hand-logged entries, their review, lists and totals."""

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.core.db import utcnow
from app.core.timeutil import SHANGHAI, current_year
from app.models.volunteer_hours import HourSource, HourStatus, VolunteerHour
from app.services import volunteer_hours
from tests.factories.media import make_media
from tests.factories.users import auth, make_user
from tests.factories.volunteer_hours import insert_entry

# Everything written here leaves the dashboards' kept sums exact (tests/support/counts.py).
pytestmark = pytest.mark.usefixtures("counts_stay_exact")


def span(hours_ago: float = 5, hours: float = 2):
    end = utcnow() - timedelta(hours=hours_ago)
    return end - timedelta(hours=hours), end


async def log(client, world, who="member", *, org="C1", start=None, end=None, **extra):
    if start is None or end is None:
        start, end = span()
    body = {
        "org_id": world[org].id,
        "activity": "文明交通劝导",
        "started_at": start.isoformat(),
        "ended_at": end.isoformat(),
        **extra,
    }
    return await client.post("/volunteer-hours", json=body, headers=world.headers(who))


async def review(client, world, who, entry_id, approve=True, reason=None):
    body = {"approve": approve} if reason is None else {"approve": approve, "reason": reason}
    return await client.post(
        f"/volunteer-hours/{entry_id}/review", json=body, headers=world.headers(who)
    )


# --- logging by hand ---------------------------------------------------------------------


async def test_a_member_logs_hours_which_wait_for_review(client, world):
    start, end = span(hours=2.5)
    photo = await make_media(world.app, world.user("member"))
    resp = await log(client, world, start=start, end=end, photo_ids=[photo.id])
    assert resp.status_code == 201
    body = resp.json()
    assert body["status"] == "pending"
    assert body["source"] == "manual"
    assert body["minutes"] == 150
    assert body["user_id"] == world.user("member").id
    assert body["user_name"] == "党员甲"
    assert body["photo_ids"] == [photo.id]
    assert datetime.fromisoformat(body["started_at"]) == start


@pytest.mark.parametrize(
    ("start_hours_ago", "hours", "code"),
    [
        (5, -1, "invalid_time_range"),  # ends before it starts
        (5, 0, "invalid_time_range"),  # ends as it starts
        (-1, 2, "in_future"),  # starts in an hour
        (1, 3, "in_future"),  # began an hour ago, ends two hours from now
        (30, 24.5, "too_long"),
    ],
)
async def test_an_impossible_span_is_422_with_a_clear_code(
    client, world, start_hours_ago, hours, code
):
    start = utcnow() - timedelta(hours=start_hours_ago)
    resp = await log(client, world, start=start, end=start + timedelta(hours=hours))
    assert resp.status_code == 422
    assert resp.json()["code"] == code


async def test_exactly_twenty_four_hours_is_accepted(client, world):
    start = utcnow() - timedelta(hours=30)
    resp = await log(client, world, start=start, end=start + timedelta(hours=24))
    assert resp.status_code == 201
    assert resp.json()["minutes"] == 24 * 60


async def test_times_without_a_zone_are_refused(client, world):
    start, end = span()
    resp = await client.post(
        "/volunteer-hours",
        json={
            "org_id": world["C1"].id,
            "activity": "清扫",
            "started_at": start.replace(tzinfo=None).isoformat(),
            "ended_at": end.isoformat(),
        },
        headers=world.headers("member"),
    )
    assert resp.status_code == 422
    assert resp.json()["code"] == "validation_error"


async def test_an_entry_overlapping_another_of_ones_own_is_422(client, world):
    start, end = span(hours_ago=10, hours=2)
    assert (await log(client, world, start=start, end=end)).status_code == 201
    overlapping = await log(
        client, world, start=start + timedelta(hours=1), end=end + timedelta(hours=1)
    )
    assert overlapping.status_code == 422
    assert overlapping.json()["code"] == "overlapping_entry"
    inside = await log(
        client, world, start=start + timedelta(minutes=10), end=end - timedelta(minutes=10)
    )
    assert inside.json()["code"] == "overlapping_entry"
    # Touching end to start is not overlapping.
    after = await log(client, world, start=end, end=end + timedelta(hours=1))
    assert after.status_code == 201
    # Someone else's entry at the same time is no concern of mine.
    theirs = await log(client, world, who="inspector", start=start, end=end)
    assert theirs.status_code == 201


async def test_an_approved_credit_blocks_overlap_but_a_rejected_entry_does_not(client, world):
    start, end = span(hours_ago=10, hours=2)
    await insert_entry(
        world.app,
        user=world.user("member"),
        org=world["C1"],
        started_at=start,
        minutes=120,
        status=HourStatus.approved,
        source=HourSource.check_in,
        source_id=1,
    )
    assert (await log(client, world, start=start, end=end)).json()["code"] == "overlapping_entry"
    earlier_start, earlier_end = span(hours_ago=20, hours=2)
    rejected = (await log(client, world, start=earlier_start, end=earlier_end)).json()
    await review(client, world, "community_admin", rejected["id"], approve=False, reason="无照片")
    again = await log(client, world, start=earlier_start, end=earlier_end)
    assert again.status_code == 201


@pytest.mark.pooled
async def test_overlapping_entries_sent_at_once_leave_exactly_one(client, world):
    start, end = span(hours_ago=10, hours=2)
    responses = await asyncio.gather(
        *(
            log(client, world, start=start + timedelta(minutes=i), end=end, activity=f"活动{i}")
            for i in range(8)
        )
    )
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 1, 422: 7}, statuses
    assert {r.json()["code"] for r in responses if r.status_code == 422} == {"overlapping_entry"}


@pytest.mark.parametrize(
    ("org", "status"),
    [("C1", 201), ("S1", 201), ("D", 201), ("U1", 201), ("C2", 422), ("C3", 422), ("UD", 422)],
)
async def test_hours_are_logged_at_ones_community_its_ancestors_or_ones_unit(
    client, world, org, status
):
    person = await make_user(
        world.app, "单位党员", community=world["C1"], unit=world["U1"], party=True
    )
    start, end = span()
    resp = await client.post(
        "/volunteer-hours",
        json={
            "org_id": world[org].id,
            "activity": "结对共建",
            "started_at": start.isoformat(),
            "ended_at": end.isoformat(),
        },
        headers=auth(world.app, person),
    )
    assert resp.status_code == status
    if status == 422:
        assert resp.json()["code"] == "invalid_org"


async def test_photos_must_be_ones_own(client, world):
    someone_elses = await make_media(world.app, world.user("inspector"))
    resp = await log(client, world, photo_ids=[someone_elses.id])
    assert resp.status_code == 422
    assert resp.json()["code"] == "invalid_photo"


async def test_logging_twice_with_one_idempotency_key_creates_one_entry(client, world):
    start, end = span()
    body = {
        "org_id": world["C1"].id,
        "activity": "清扫",
        "started_at": start.isoformat(),
        "ended_at": end.isoformat(),
    }
    h = {**world.headers("member"), "Idempotency-Key": "hours-key-1"}
    first = await client.post("/volunteer-hours", json=body, headers=h)
    again = await client.post("/volunteer-hours", json=body, headers=h)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    async with world.app.state.sessionmaker() as s:
        count = (await s.execute(select(func.count()).select_from(VolunteerHour))).scalar_one()
    assert count == 1


# --- review --------------------------------------------------------------------------------


async def test_an_admin_over_the_org_approves_or_rejects_with_a_reason_once(client, world):
    a = (await log(client, world, start=span(30)[0], end=span(30)[1])).json()
    b = (await log(client, world)).json()
    approved = await review(client, world, "community_admin", a["id"])
    assert approved.status_code == 200
    body = approved.json()
    assert body["status"] == "approved"
    assert body["reviewed_by_id"] == world.user("community_admin").id
    assert body["reviewed_at"]
    silent = await review(client, world, "street_admin", b["id"], approve=False)
    assert silent.status_code == 422
    assert silent.json()["code"] == "reason_required"
    rejected = await review(
        client, world, "street_admin", b["id"], approve=False, reason="时间不符"
    )
    assert rejected.json()["status"] == "rejected"
    assert rejected.json()["review_reason"] == "时间不符"
    twice = await review(client, world, "district_admin", b["id"])
    assert twice.status_code == 409
    assert twice.json()["code"] == "entry_already_reviewed"


async def test_an_admin_cannot_approve_their_own_entry(client, world):
    own = (await log(client, world, who="community_admin")).json()
    resp = await review(client, world, "community_admin", own["id"])
    assert resp.status_code == 403
    assert resp.json()["code"] == "cannot_review_own_entry"
    assert (await review(client, world, "street_admin", own["id"])).status_code == 200


async def test_outside_reach_the_entry_does_not_exist(client, world):
    entry = (await log(client, world)).json()
    for who in ("other_community_admin", "other_street_admin", "inspector"):
        resp = await review(client, world, who, entry["id"])
        assert resp.status_code == 404, who
        got = await client.get(f"/volunteer-hours/{entry['id']}", headers=world.headers(who))
        assert got.status_code == 404, who


async def test_automatic_credits_are_already_approved(client, world):
    entry = await insert_entry(
        world.app,
        user=world.user("member"),
        org=world["C1"],
        status=HourStatus.approved,
        source=HourSource.check_in,
        source_id=7,
    )
    resp = await review(client, world, "community_admin", entry.id, approve=False, reason="重复")
    assert resp.status_code == 409
    assert resp.json()["code"] == "entry_already_reviewed"


@pytest.mark.pooled
async def test_two_admins_reviewing_at_once_leave_one_decision(client, world):
    entry = (await log(client, world)).json()
    responses = await asyncio.gather(
        review(client, world, "community_admin", entry["id"]),
        review(client, world, "street_admin", entry["id"], approve=False, reason="不符"),
        review(client, world, "district_admin", entry["id"]),
    )
    assert sorted(r.status_code for r in responses) == [200, 409, 409]


# --- lists, summary, totals ----------------------------------------------------------------


async def test_members_see_their_own_entries_and_admins_those_in_reach(client, world):
    mine = (await log(client, world)).json()
    theirs = (await log(client, world, who="inspector")).json()
    c3 = (await log(client, world, who="other_street_admin", org="C3")).json()

    member = (await client.get("/volunteer-hours", headers=world.headers("member"))).json()
    assert [e["id"] for e in member["items"]] == [mine["id"]]
    admin = (await client.get("/volunteer-hours", headers=world.headers("community_admin"))).json()
    assert {e["id"] for e in admin["items"]} == {mine["id"], theirs["id"]}
    district = (
        await client.get("/volunteer-hours", headers=world.headers("district_admin"))
    ).json()
    assert {e["id"] for e in district["items"]} == {mine["id"], theirs["id"], c3["id"]}

    by_user = await client.get(
        "/volunteer-hours",
        headers=world.headers("community_admin"),
        params={"user_id": world.user("inspector").id},
    )
    assert [e["id"] for e in by_user.json()["items"]] == [theirs["id"]]
    # Someone outside reach is an empty list, as if they had logged nothing.
    outside = await client.get(
        "/volunteer-hours",
        headers=world.headers("community_admin"),
        params={"user_id": world.user("other_street_admin").id},
    )
    assert outside.status_code == 200
    assert outside.json()["items"] == [] and outside.json()["total"] == 0
    other_member = await client.get(
        "/volunteer-hours",
        headers=world.headers("member"),
        params={"user_id": world.user("inspector").id},
    )
    assert other_member.json()["items"] == []


async def test_lists_filter_by_status_and_shanghai_year(client, world):
    this_year = current_year()
    # Just after midnight on 1 January in Shanghai is still 31 December in UTC.
    new_year = datetime(this_year, 1, 1, 0, 30, tzinfo=SHANGHAI)
    await insert_entry(
        world.app, user=world.user("member"), org=world["C1"], started_at=new_year, minutes=30
    )
    old = await insert_entry(
        world.app,
        user=world.user("member"),
        org=world["C1"],
        started_at=new_year - timedelta(hours=1),
        minutes=30,
        status=HourStatus.approved,
    )
    h = world.headers("community_admin")
    this = await client.get("/volunteer-hours", headers=h, params={"year": this_year})
    assert this.json()["total"] == 1
    last = await client.get("/volunteer-hours", headers=h, params={"year": this_year - 1})
    assert [e["id"] for e in last.json()["items"]] == [old.id]
    approved = await client.get("/volunteer-hours", headers=h, params={"status": "approved"})
    assert [e["id"] for e in approved.json()["items"]] == [old.id]


async def test_the_summary_is_the_sum_of_approved_and_of_pending_entries(client, world):
    member = world.user("member")
    year = current_year()
    start = datetime(year, 3, 1, 9, tzinfo=SHANGHAI)
    for i, (minutes, status) in enumerate(
        [
            (60, HourStatus.approved),
            (45, HourStatus.approved),
            (30, HourStatus.pending),
            (90, HourStatus.rejected),
            (20, HourStatus.pending),
        ]
    ):
        await insert_entry(
            world.app,
            user=member,
            org=world["C1"],
            started_at=start + timedelta(days=i),
            minutes=minutes,
            status=status,
        )
    await insert_entry(
        world.app,
        user=member,
        org=world["C1"],
        started_at=datetime(year - 1, 6, 1, tzinfo=UTC),
        minutes=500,
        status=HourStatus.approved,
    )
    await insert_entry(
        world.app, user=world.user("inspector"), org=world["C1"], status=HourStatus.approved
    )
    h = world.headers("member")
    summary = (await client.get("/me/volunteer-hours/summary", headers=h)).json()
    assert summary == {"year": year, "approved_minutes": 105, "pending_minutes": 50}

    async with world.app.state.sessionmaker() as s:
        entries = (
            (await s.execute(select(VolunteerHour).where(VolunteerHour.user_id == member.id)))
            .scalars()
            .all()
        )
    approved_this_year = sum(
        e.minutes
        for e in entries
        if e.status == HourStatus.approved and e.started_at.astimezone(SHANGHAI).year == year
    )
    assert summary["approved_minutes"] == approved_this_year
    last = (
        await client.get("/me/volunteer-hours/summary", headers=h, params={"year": year - 1})
    ).json()
    assert last == {"year": year - 1, "approved_minutes": 500, "pending_minutes": 0}


async def test_totals_per_person_and_per_org_equal_the_approved_entries(client, world):
    year = current_year()
    at = datetime(year, 5, 1, 9, tzinfo=SHANGHAI)
    rows = [
        ("member", "C1", 60, HourStatus.approved),
        ("member", "C1", 30, HourStatus.pending),
        ("member", "S1", 40, HourStatus.approved),
        ("inspector", "C1", 25, HourStatus.approved),
        ("other_community_admin", "C2", 70, HourStatus.approved),
        ("other_street_admin", "C3", 999, HourStatus.approved),  # the other street
        ("inspector", "C1", 15, HourStatus.rejected),
    ]
    for i, (who, org, minutes, status) in enumerate(rows):
        await insert_entry(
            world.app,
            user=world.user(who),
            org=world[org],
            started_at=at + timedelta(days=i),
            minutes=minutes,
            status=status,
        )
    # An automatic credit counts like any approved entry.
    async with world.app.state.sessionmaker() as s, s.begin():
        await volunteer_hours.credit(
            s,
            user_id=world.user("inspector").id,
            org_id=world["C2"].id,
            activity="社区任务",
            started_at=at - timedelta(days=3),
            ended_at=at - timedelta(days=3) + timedelta(minutes=35),
            minutes=35,
            source=HourSource.check_in,
            source_id=42,
        )
    h = world.headers("street_admin")
    params = {"org_id": world["S1"].id, "year": year}
    by_user = (await client.get("/volunteer-hours/totals", headers=h, params=params)).json()
    u = world.user
    assert {i["id"]: i["minutes"] for i in by_user["items"]} == {
        u("member").id: 100,
        u("inspector").id: 60,
        u("other_community_admin").id: 70,
    }
    assert by_user["items"][0]["id"] == u("member").id  # the most minutes first
    by_org = (
        await client.get("/volunteer-hours/totals", headers=h, params={**params, "group_by": "org"})
    ).json()
    assert {i["id"]: i["minutes"] for i in by_org["items"]} == {
        world["C1"].id: 85,
        world["S1"].id: 40,
        world["C2"].id: 105,
    }
    async with world.app.state.sessionmaker() as s:
        entries = (await s.execute(select(VolunteerHour))).scalars().all()
    s1_path = world["S1"].path
    org_paths = {world[k].id: world[k].path for k in ("C1", "C2", "C3", "S1")}
    expected = sum(
        e.minutes
        for e in entries
        if e.status == HourStatus.approved and org_paths[e.org_id].startswith(s1_path)
    )
    assert by_user["total_minutes"] == by_org["total_minutes"] == expected == 230

    community = (
        await client.get(
            "/volunteer-hours/totals",
            headers=world.headers("community_admin"),
            params={"org_id": world["C1"].id},
        )
    ).json()
    assert community["total_minutes"] == 85
    outside = await client.get(
        "/volunteer-hours/totals",
        headers=world.headers("community_admin"),
        params={"org_id": world["C2"].id},
    )
    assert outside.status_code == 404
