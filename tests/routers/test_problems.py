"""Problems (督办单): filing, deadlines, the state machine, overdue and escalation, lists."""

import asyncio
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.core.timeutil import day_start, local
from app.edge.access import caller_for_person
from app.models.media import Media
from app.models.problem import EscalationLevel, Problem, ProblemEvent, ProblemStatus
from app.services import problems as service
from app.services.photos import can_see_media
from app.services.workdays import CalendarYearUnknown, add_working_days
from tests.factories.media import make_media
from tests.factories.problems import (
    DISTRICT_AFTER_DAYS,
    file_problem,
    insert_problem,
    make_point,
    rectify,
    shanghai,
    verify,
)

# Everything written here leaves the dashboards' kept sums exact (tests/support/counts.py).
pytestmark = pytest.mark.usefixtures("counts_stay_exact")

DEC_1 = date(2026, 12, 1)


def today():
    return local(datetime.now(UTC)).date()


async def problem_body(world, who, **overrides):
    photo = await make_media(world.app, world.user(who))
    body = {
        "org_id": world["C1"].id,
        "category": "sanitation",
        "description": "市场门口垃圾堆积",
        "photo_ids": [photo.id],
        "deadline": (today() + timedelta(days=7)).isoformat(),
    }
    body.update(overrides)
    return body


async def post_problem(client, world, who="inspector", headers=None, **overrides):
    body = await problem_body(world, who, **overrides)
    return await client.post("/problems", json=body, headers=headers or world.headers(who))


async def act(client, world, who, problem_id, action, json):
    return await client.post(
        f"/problems/{problem_id}/{action}", json=json, headers=world.headers(who)
    )


async def rectify_body(world, who):
    photo = await make_media(world.app, world.user(who))
    return {"photo_ids": [photo.id], "note": "已清理完毕"}


async def listed(world, who, now, **filters):
    """GET /problems as the service answers it at `now`."""
    args = {"status": None, "overdue": None, "escalated_to": None, "org": None}
    args.update(filters)
    async with world.app.state.sessionmaker() as session:
        caller = await caller_for_person(session, world.user(who))
        problems, _ = await service.list_problems(
            session,
            caller=caller,
            district_after_days=DISTRICT_AFTER_DAYS,
            offset=0,
            limit=100,
            now=now,
            **args,
        )
        return problems


# --- filing ---------------------------------------------------------------------------


async def test_an_inspector_files_an_open_problem_due_at_the_end_of_its_shanghai_day(client, world):
    due = today() + timedelta(days=3)
    resp = await post_problem(client, world, deadline=due.isoformat())
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["status"] == "open"
    assert body["overdue"] is False
    assert body["escalation_level"] == "none"
    assert body["deadline"] == due.isoformat()
    assert datetime.fromisoformat(body["deadline_at"]) == day_start(due + timedelta(days=1))
    assert len(body["photo_ids"]) == 1 and body["after_photo_ids"] == []
    assert body["reported_by_id"] == world.user("inspector").id


async def test_a_problem_at_a_point_takes_the_points_place_unless_given_one(client, world):
    point = await make_point(world.app, world["C1"])
    at_point = await post_problem(client, world, point_id=point.id)
    assert at_point.status_code == 201, at_point.text
    assert at_point.json()["point_id"] == point.id
    assert at_point.json()["location"] == {"lat": 23.1291, "lng": 113.2644}
    # A street's problem may name a point of one of its communities.
    on_street = await post_problem(
        client, world, org_id=world["S1"].id, point_id=point.id, location={"lat": 1, "lng": 2}
    )
    assert on_street.status_code == 201
    assert on_street.json()["location"] == {"lat": 1.0, "lng": 2.0}


@pytest.mark.parametrize("point_org", ["C2", "C3", None])
async def test_a_point_outside_the_responsible_org_or_reach_is_invalid_point(
    client, world, point_org
):
    point_id = (await make_point(world.app, world[point_org])).id if point_org else 999_999
    resp = await post_problem(client, world, point_id=point_id)
    assert resp.status_code == 422
    assert resp.json()["code"] == "invalid_point"


async def test_photos_that_are_not_the_callers_own_are_invalid_photo(client, world):
    someone_elses = await make_media(world.app, world.user("member"))
    resp = await post_problem(client, world, photo_ids=[someone_elses.id])
    assert resp.status_code == 422
    assert resp.json()["code"] == "invalid_photo"
    no_photo = await post_problem(client, world, photo_ids=[])
    assert no_photo.status_code == 422
    assert no_photo.json()["code"] == "validation_error"


async def test_a_deadline_must_be_given_exactly_once_and_not_in_the_past(client, world):
    both = await post_problem(client, world, deadline_working_days=3)
    assert both.status_code == 422 and both.json()["code"] == "validation_error"
    neither = await post_problem(client, world, deadline=None)
    assert neither.status_code == 422 and neither.json()["code"] == "validation_error"
    past = await post_problem(client, world, deadline=(today() - timedelta(days=1)).isoformat())
    assert past.status_code == 422 and past.json()["code"] == "invalid_deadline"
    far = await post_problem(client, world, deadline=(today() + timedelta(days=400)).isoformat())
    assert far.status_code == 422 and far.json()["code"] == "invalid_deadline"
    due_today = await post_problem(client, world, deadline=today().isoformat())
    assert due_today.status_code == 201


async def test_a_working_day_deadline_is_counted_on_the_holiday_calendar(client, world):
    resp = await post_problem(client, world, deadline=None, deadline_working_days=5)
    try:
        expected = add_working_days(today(), 5)
    except CalendarYearUnknown:
        assert resp.status_code == 422 and resp.json()["code"] == "calendar_year_unknown"
        return
    assert resp.status_code == 201, resp.text
    assert resp.json()["deadline"] == expected.isoformat()


async def test_working_days_skip_national_day_and_count_the_adjusted_saturday(db, world):
    filed = shanghai(2025, 9, 30, 16, 0)  # the last working day before the holiday
    problem = await file_problem(
        db, world.user("inspector"), world["C1"], now=filed, working_days=1
    )
    assert problem.deadline.isoformat() == "2025-10-09"  # Oct 1-8 off
    assert problem.deadline_at == shanghai(2025, 10, 10)
    assert problem.created_at == filed
    third = await file_problem(db, world.user("inspector"), world["C1"], now=filed, working_days=3)
    assert third.deadline.isoformat() == "2025-10-11"  # a Saturday, worked in exchange


async def test_working_days_across_spring_festival_2026(db, world):
    filed = shanghai(2026, 2, 13, 9, 0)  # Friday before the festival
    problem = await file_problem(
        db, world.user("inspector"), world["C1"], now=filed, working_days=2
    )
    # Saturday Feb 14 is worked, then Feb 15-23 off.
    assert problem.deadline.isoformat() == "2026-02-24"


async def test_a_working_day_count_into_an_unknown_year_is_calendar_year_unknown(db, world):
    with pytest.raises(CalendarYearUnknown):
        await file_problem(
            db, world.user("inspector"), world["C1"], now=shanghai(2026, 12, 28, 9), working_days=5
        )
    async with db.state.sessionmaker() as session:
        count = (await session.execute(select(func.count()).select_from(Problem))).scalar_one()
    assert count == 0


async def test_who_may_file_where(client, world):
    assert (await post_problem(client, world, who="community_admin")).status_code == 201
    assert (await post_problem(client, world, who="member")).status_code == 403
    assert (await post_problem(client, world, who="other_community_admin")).status_code == 404
    assert (await post_problem(client, world, who="other_street_admin")).status_code == 404
    district = await post_problem(client, world, who="district_admin", org_id=world["D"].id)
    assert district.status_code == 422 and district.json()["code"] == "invalid_org"
    unit = await post_problem(client, world, org_id=world["U1"].id)
    assert unit.status_code == 201


async def test_a_retried_filing_with_the_same_idempotency_key_creates_one_problem(client, world):
    body = await problem_body(world, "inspector")
    headers = world.headers("inspector") | {"Idempotency-Key": "file-1"}
    first = await client.post("/problems", json=body, headers=headers)
    again = await client.post("/problems", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again.headers.get("Idempotent-Replayed") == "true"
    other = await client.post(
        "/problems", json=body | {"description": "另一个问题"}, headers=headers
    )
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    async with world.app.state.sessionmaker() as session:
        count = (await session.execute(select(func.count()).select_from(Problem))).scalar_one()
    assert count == 1


# --- the state machine ---------------------------------------------------------------------

OPEN, RECTIFIED, CLOSED = ProblemStatus.open, ProblemStatus.rectified, ProblemStatus.closed
APPROVE = {"approve": True}
REFUSE = {"approve": False, "note": "地面仍有垃圾"}

TRANSITIONS = [
    # (state, who, action, body, status, code or new state)
    (OPEN, "community_admin", "rectify", None, 200, "rectified"),
    (OPEN, "street_admin", "rectify", None, 200, "rectified"),
    (OPEN, "district_admin", "rectify", None, 200, "rectified"),
    (OPEN, "inspector", "rectify", None, 403, "forbidden"),
    (OPEN, "other_community_admin", "rectify", None, 404, "not_found"),
    (OPEN, "other_street_admin", "rectify", None, 404, "not_found"),
    (OPEN, "member", "rectify", None, 404, "not_found"),
    (RECTIFIED, "community_admin", "rectify", None, 409, "invalid_problem_state"),
    (CLOSED, "community_admin", "rectify", None, 409, "invalid_problem_state"),
    (RECTIFIED, "street_admin", "verify", APPROVE, 200, "closed"),
    (RECTIFIED, "inspector", "verify", APPROVE, 200, "closed"),
    (RECTIFIED, "district_admin", "verify", APPROVE, 200, "closed"),
    (RECTIFIED, "inspector", "verify", REFUSE, 200, "open"),
    (RECTIFIED, "street_admin", "verify", REFUSE, 200, "open"),
    (RECTIFIED, "inspector", "verify", {"approve": False}, 422, "note_required"),
    (RECTIFIED, "inspector", "verify", {"approve": False, "note": "  "}, 422, "note_required"),
    (RECTIFIED, "community_admin", "verify", APPROVE, 403, "forbidden"),
    (RECTIFIED, "other_community_admin", "verify", APPROVE, 404, "not_found"),
    (RECTIFIED, "other_street_admin", "verify", APPROVE, 404, "not_found"),
    (RECTIFIED, "member", "verify", APPROVE, 404, "not_found"),
    (OPEN, "street_admin", "verify", APPROVE, 409, "invalid_problem_state"),
    (CLOSED, "street_admin", "verify", APPROVE, 409, "invalid_problem_state"),
    (CLOSED, "inspector", "verify", REFUSE, 409, "invalid_problem_state"),
]


@pytest.mark.parametrize(
    ("state", "who", "action", "body", "status", "outcome"),
    TRANSITIONS,
    ids=[f"{t[0]}-{t[2]}-by-{t[1]}-{t[5]}" for t in TRANSITIONS],
)
async def test_transition(client, world, state, who, action, body, status, outcome):
    problem = await insert_problem(
        world.app,
        org=world["C1"],
        reporter=world.user("inspector"),
        rectifier=world.user("community_admin"),
        status=state,
    )
    json = body if action == "verify" else await rectify_body(world, who)
    resp = await act(client, world, who, problem.id, action, json)
    assert resp.status_code == status, resp.text
    async with world.app.state.sessionmaker() as session:
        stored = await session.get(Problem, problem.id)
        events = (
            await session.execute(select(func.count()).where(ProblemEvent.problem_id == problem.id))
        ).scalar_one()
    before = {OPEN: 1, RECTIFIED: 2, CLOSED: 3}[state]  # events that led to `state`
    if status == 200:
        assert resp.json()["status"] == outcome
        assert stored.status == outcome
        assert events == before + 1
    else:
        assert resp.json()["code"] == outcome
        assert stored.status == state
        assert events == before


async def test_nobody_verifies_their_own_rectification(client, world):
    problem = await insert_problem(world.app, org=world["C1"], reporter=world.user("inspector"))
    done = await act(
        client,
        world,
        "street_admin",
        problem.id,
        "rectify",
        await rectify_body(world, "street_admin"),
    )
    assert done.status_code == 200
    own = await act(client, world, "street_admin", problem.id, "verify", APPROVE)
    assert own.status_code == 403 and own.json()["code"] == "forbidden"
    by_inspector = await act(client, world, "inspector", problem.id, "verify", APPROVE)
    assert by_inspector.status_code == 200


async def test_rectification_needs_own_after_photos_and_a_note(client, world):
    problem = await insert_problem(world.app, org=world["C1"], reporter=world.user("inspector"))
    someone_elses = await make_media(world.app, world.user("inspector"))
    resp = await act(
        client,
        world,
        "community_admin",
        problem.id,
        "rectify",
        {"photo_ids": [someone_elses.id], "note": "已清理"},
    )
    assert resp.status_code == 422 and resp.json()["code"] == "invalid_photo"
    body = await rectify_body(world, "community_admin")
    no_photo = await act(
        client, world, "community_admin", problem.id, "rectify", body | {"photo_ids": []}
    )
    assert no_photo.status_code == 422
    no_note = await act(
        client, world, "community_admin", problem.id, "rectify", body | {"note": " "}
    )
    assert no_note.status_code == 422


@pytest.mark.pooled
async def test_two_admins_rectifying_at_once_move_it_once(client, world):
    problem = await insert_problem(world.app, org=world["C1"], reporter=world.user("inspector"))
    bodies = [await rectify_body(world, who) for who in ("community_admin", "street_admin")]
    results = await asyncio.gather(
        act(client, world, "community_admin", problem.id, "rectify", bodies[0]),
        act(client, world, "street_admin", problem.id, "rectify", bodies[1]),
    )
    assert sorted(r.status_code for r in results) == [200, 409]
    loser = next(r for r in results if r.status_code == 409)
    assert loser.json()["code"] == "invalid_problem_state"
    async with world.app.state.sessionmaker() as session:
        rectifications = (
            await session.execute(
                select(func.count()).where(
                    ProblemEvent.problem_id == problem.id, ProblemEvent.action == "rectify"
                )
            )
        ).scalar_one()
    assert rectifications == 1


async def test_a_full_cycle_is_kept_in_the_history_with_photos_before_and_after(client, world):
    created = await post_problem(client, world)
    problem_id = created.json()["id"]
    first = await rectify_body(world, "community_admin")
    await act(client, world, "community_admin", problem_id, "rectify", first)
    refused = await act(client, world, "inspector", problem_id, "verify", REFUSE)
    assert refused.json()["status"] == "open"
    assert refused.json()["rectified_at"] is None
    second = await rectify_body(world, "community_admin")
    again = await act(client, world, "community_admin", problem_id, "rectify", second)
    assert again.json()["after_photo_ids"] == second["photo_ids"]
    closed = await act(client, world, "street_admin", problem_id, "verify", APPROVE)
    assert closed.json()["status"] == "closed" and closed.json()["closed_at"]

    detail = await client.get(f"/problems/{problem_id}", headers=world.headers("inspector"))
    assert detail.status_code == 200
    body = detail.json()
    assert body["photo_ids"] == created.json()["photo_ids"]
    assert body["after_photo_ids"] == second["photo_ids"]
    steps = [
        (h["action"], h["from_status"], h["to_status"], h["actor_name"]) for h in body["history"]
    ]
    assert steps == [
        ("create", None, "open", "督导员"),
        ("rectify", "open", "rectified", "社区书记"),
        ("reopen", "rectified", "open", "督导员"),
        ("rectify", "open", "rectified", "社区书记"),
        ("close", "rectified", "closed", "街道管理员"),
    ]
    assert body["history"][0]["photo_ids"] == created.json()["photo_ids"]
    assert body["history"][1]["photo_ids"] == first["photo_ids"]
    assert body["history"][2]["note"] == REFUSE["note"]
    assert body["history"][3]["photo_ids"] == second["photo_ids"]
    assert body["history"][4]["photo_ids"] == []


async def test_problem_photos_are_seen_by_whoever_sees_the_problem(client, world):
    created = await post_problem(client, world)
    problem_id = created.json()["id"]
    after = await rectify_body(world, "community_admin")
    await act(client, world, "community_admin", problem_id, "rectify", after)
    async with world.app.state.sessionmaker() as session:
        for media_id in (created.json()["photo_ids"][0], after["photo_ids"][0]):
            media = await session.get(Media, media_id)
            for who, sees in (
                ("street_admin", True),
                ("district_admin", True),
                ("other_community_admin", False),
                ("member", False),
            ):
                caller = await caller_for_person(session, world.user(who))
                assert await can_see_media(session, caller, media) is sees, (media_id, who)


# --- overdue and escalation ---------------------------------------------------------------


async def test_a_problem_due_on_december_first_is_overdue_from_midnight_shanghai(db, world):
    problem = await file_problem(
        db, world.user("inspector"), world["C1"], now=shanghai(2026, 11, 25, 10), deadline=DEC_1
    )
    assert problem.deadline_at == shanghai(2026, 12, 2)
    last_second = shanghai(2026, 12, 1, 23, 59, 59)
    midnight = shanghai(2026, 12, 2)

    (before,) = await listed(world, "street_admin", last_second)
    assert before.overdue is False and before.escalation_level == EscalationLevel.none
    assert await listed(world, "street_admin", last_second, overdue=True) == []
    assert len(await listed(world, "street_admin", last_second, overdue=False)) == 1

    (after,) = await listed(world, "street_admin", midnight)
    assert after.overdue is True
    assert [p.id for p in await listed(world, "street_admin", midnight, overdue=True)] == [
        problem.id
    ]
    assert await listed(world, "street_admin", midnight, overdue=False) == []


async def test_rectified_but_unverified_stays_overdue_and_closed_never_is(db, world):
    inspector, secretary = world.user("inspector"), world.user("community_admin")
    due = DEC_1
    filed = shanghai(2026, 11, 25, 10)
    waiting = await file_problem(db, inspector, world["C1"], now=filed, deadline=due)
    done = await file_problem(db, inspector, world["C1"], now=filed, deadline=due)
    await rectify(db, secretary, waiting, now=shanghai(2026, 11, 30, 9))
    await rectify(db, secretary, done, now=shanghai(2026, 11, 30, 9))
    await verify(db, inspector, done, now=shanghai(2026, 11, 30, 15))

    later = shanghai(2026, 12, 3)
    overdue = await listed(world, "street_admin", later, overdue=True)
    assert [p.id for p in overdue] == [waiting.id]
    assert overdue[0].status == ProblemStatus.rectified
    (closed,) = await listed(world, "street_admin", later, overdue=False)
    assert closed.id == done.id and closed.overdue is False


async def test_an_overdue_problem_escalates_to_the_street_then_after_three_days_to_the_district(
    db, world
):
    problem = await file_problem(
        db, world.user("inspector"), world["C1"], now=shanghai(2026, 11, 25, 10), deadline=DEC_1
    )
    timeline = [
        (shanghai(2026, 12, 1, 23, 59, 59), EscalationLevel.none),
        (shanghai(2026, 12, 2), EscalationLevel.street),
        (shanghai(2026, 12, 4, 23, 59, 59), EscalationLevel.street),
        (shanghai(2026, 12, 5), EscalationLevel.district),
        (shanghai(2027, 3, 1), EscalationLevel.district),
    ]
    for now, level in timeline:
        (public,) = await listed(world, "district_admin", now)
        assert public.escalation_level == level, now
        for filter_level in (EscalationLevel.street, EscalationLevel.district):
            found = await listed(world, "district_admin", now, escalated_to=filter_level)
            assert [p.id for p in found] == ([problem.id] if filter_level == level else []), (
                now,
                filter_level,
            )
    await rectify(db, world.user("community_admin"), problem, now=shanghai(2026, 12, 6))
    await verify(db, world.user("inspector"), problem, now=shanghai(2026, 12, 6, 12))
    (closed,) = await listed(world, "district_admin", shanghai(2026, 12, 7))
    assert closed.escalation_level == EscalationLevel.none


async def test_the_list_carries_overdue_and_escalation_on_each_item(client, world):
    past = today() - timedelta(days=10)
    await insert_problem(
        world.app, org=world["C1"], reporter=world.user("inspector"), deadline=past
    )
    await insert_problem(world.app, org=world["C1"], reporter=world.user("inspector"))
    resp = await client.get(
        "/problems", params={"overdue": "true"}, headers=world.headers("street_admin")
    )
    assert resp.status_code == 200
    (item,) = resp.json()["items"]
    assert item["overdue"] is True and item["escalation_level"] == "district"
    by_level = await client.get(
        "/problems", params={"escalated_to": "district"}, headers=world.headers("street_admin")
    )
    assert [p["id"] for p in by_level.json()["items"]] == [item["id"]]
    not_overdue = await client.get(
        "/problems", params={"overdue": "false"}, headers=world.headers("street_admin")
    )
    assert [p["overdue"] for p in not_overdue.json()["items"]] == [False]


# --- lists ------------------------------------------------------------------------------


async def test_problem_lists_are_scoped_per_role(client, world):
    inspector = world.user("inspector")
    c1 = await insert_problem(world.app, org=world["C1"], reporter=inspector)
    c2 = await insert_problem(world.app, org=world["C2"], reporter=inspector)
    s1 = await insert_problem(world.app, org=world["S1"], reporter=inspector)
    c3 = await insert_problem(world.app, org=world["C3"], reporter=world.user("district_admin"))
    closed = await insert_problem(
        world.app, org=world["C1"], reporter=inspector, status=ProblemStatus.closed
    )

    async def ids(who, **params):
        resp = await client.get("/problems", params=params, headers=world.headers(who))
        assert resp.status_code == 200, resp.text
        assert resp.json()["total"] == len(resp.json()["items"])
        return {p["id"] for p in resp.json()["items"]}

    assert await ids("community_admin") == {c1.id, closed.id}
    assert await ids("other_community_admin") == {c2.id}
    assert await ids("street_admin") == {c1.id, c2.id, s1.id, closed.id}
    assert await ids("inspector") == {c1.id, c2.id, s1.id, closed.id}
    assert await ids("other_street_admin") == {c3.id}
    assert await ids("district_admin") == {c1.id, c2.id, s1.id, c3.id, closed.id}
    assert await ids("street_admin", status="closed") == {closed.id}
    assert await ids("street_admin", org_id=world["C1"].id) == {c1.id, closed.id}

    member = await client.get("/problems", headers=world.headers("member"))
    assert member.status_code == 403
    outside = await client.get(
        "/problems", params={"org_id": world["C3"].id}, headers=world.headers("street_admin")
    )
    assert outside.status_code == 404
    for who in ("member", "other_community_admin", "other_street_admin"):
        one = await client.get(f"/problems/{c1.id}", headers=world.headers(who))
        assert one.status_code == 404, who
