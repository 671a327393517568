"""Micro-wishes: posting, review, the state machine, masking, history, quota."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text, update

from app.core.timeutil import current_year, local
from app.edge.access import caller_for_person
from app.models.media import Media, MediaCheckStatus
from app.models.org import OrgLevel
from app.models.user import Role
from app.models.volunteer_hours import HourSource, VolunteerHour
from app.models.wish import Wish, WishEvent, WishStatus
from app.services import wish_quota
from app.services.photos import can_see_media
from app.services.wishes import mask_name
from tests.factories.media import make_media
from tests.factories.orgs import make_org
from tests.factories.users import auth, make_user
from tests.factories.wishes import PATH_TO, insert_wish

# Everything written here leaves the dashboards' kept sums exact (tests/support/counts.py).
pytestmark = pytest.mark.usefixtures("counts_stay_exact")


def wish_body(world, **overrides):
    body = {
        "title": "给孩子买一个书包",
        "description": "孩子上学需要一个新书包",
        "community_id": world["C1"].id,
        "beneficiary_name": "王小明",
        "beneficiary_phone": "139 1234 5678",
    }
    body.update(overrides)
    return body


async def post_wish(client, world, who="community_admin", **overrides):
    return await client.post(
        "/wishes", json=wish_body(world, **overrides), headers=world.headers(who)
    )


async def act(client, world, who, wish_id, action, json=None):
    return await client.post(f"/wishes/{wish_id}/{action}", json=json, headers=world.headers(who))


async def fulfil(client, world, who, wish_id):
    photo = await make_media(world.app, world.user(who))
    return await act(
        client, world, who, wish_id, "fulfill", {"photo_ids": [photo.id], "note": "书包已送到"}
    )


# --- posting and review -------------------------------------------------------------


async def test_a_community_admins_wish_is_open_at_once_and_a_members_waits_for_review(
    client, world
):
    by_admin = await post_wish(client, world)
    assert by_admin.status_code == 201
    assert by_admin.json()["status"] == "open"
    by_member = await post_wish(client, world, who="member")
    assert by_member.status_code == 201
    assert by_member.json()["status"] == "pending_review"
    # A street admin is a community admin for every community of the street.
    by_street = await post_wish(client, world, who="street_admin", community_id=world["C2"].id)
    assert by_street.json()["status"] == "open"


async def test_a_wish_for_a_community_of_another_district_is_422(client, world):
    other = await make_org(world.app, "外区", OrgLevel.district)
    street = await make_org(world.app, "外区街道", OrgLevel.street, other)
    community = await make_org(world.app, "外区社区", OrgLevel.community, street)
    resp = await post_wish(client, world, who="member", community_id=community.id)
    assert resp.status_code == 422
    assert resp.json()["code"] == "invalid_community"
    not_a_community = await post_wish(client, world, community_id=world["S1"].id)
    assert not_a_community.json()["code"] == "invalid_community"


async def test_a_deadline_in_the_past_or_a_bad_phone_is_422(client, world):
    yesterday = (local(datetime.now(UTC)) - timedelta(days=1)).date().isoformat()
    late = await post_wish(client, world, deadline=yesterday)
    assert late.status_code == 422
    assert late.json()["code"] == "invalid_deadline"
    bad_phone = await post_wish(client, world, beneficiary_phone="12345678901")
    assert bad_phone.json()["code"] == "invalid_phone"
    status = await post_wish(client, world, status="open")
    assert status.json()["code"] == "validation_error"


async def test_the_beneficiary_phone_is_stored_encrypted(client, world):
    await post_wish(client, world)
    async with world.app.state.engine.connect() as conn:
        rows = (await conn.execute(text("SELECT * FROM wishes"))).mappings().all()
    dumped = repr([dict(r) for r in rows])
    assert "13912345678" not in dumped
    assert "139****5678" in dumped


async def test_rejecting_a_wish_needs_a_reason(client, world):
    wish = (await post_wish(client, world, who="member")).json()
    silent = await act(client, world, "community_admin", wish["id"], "review", {"approve": False})
    assert silent.status_code == 422
    assert silent.json()["code"] == "reason_required"
    rejected = await act(
        client,
        world,
        "community_admin",
        wish["id"],
        "review",
        {"approve": False, "reason": "不属于微心愿范围"},
    )
    assert rejected.status_code == 200
    assert rejected.json()["status"] == "rejected"


async def test_a_member_cannot_review_even_their_own_wish(client, world):
    wish = (await post_wish(client, world, who="member")).json()
    resp = await act(client, world, "member", wish["id"], "review", {"approve": True})
    assert resp.status_code == 403
    assert resp.json()["code"] == "forbidden"
    neighbour = await act(
        client, world, "other_community_admin", wish["id"], "review", {"approve": True}
    )
    assert neighbour.status_code == 404


async def test_posting_twice_with_one_idempotency_key_creates_one_wish(client, world):
    h = {**world.headers("community_admin"), "Idempotency-Key": "wish-key-1"}
    first = await client.post("/wishes", json=wish_body(world), headers=h)
    again = await client.post("/wishes", json=wish_body(world), headers=h)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    async with world.app.state.sessionmaker() as s:
        assert len((await s.execute(select(Wish))).scalars().all()) == 1
    other_body = await client.post("/wishes", json=wish_body(world, title="别的"), headers=h)
    assert other_body.json()["code"] == "idempotency_key_reused"


# --- the whole life and its history --------------------------------------------------


async def test_the_whole_life_of_a_wish_is_in_its_history_with_who_did_what(client, world):
    wish = (await post_wish(client, world, who="member")).json()
    wid = wish["id"]
    assert (await act(client, world, "community_admin", wid, "review", {"approve": True})).json()[
        "status"
    ] == "open"
    assert (await act(client, world, "inspector", wid, "claim")).json()["status"] == "claimed"
    released = (await act(client, world, "inspector", wid, "release")).json()
    assert released["status"] == "open"
    assert released["claimed_by_id"] is None
    claimed = (await act(client, world, "other_community_admin", wid, "claim")).json()
    assert claimed["claimed_by_id"] == world.user("other_community_admin").id
    done = await fulfil(client, world, "other_community_admin", wid)
    assert done.status_code == 200
    assert done.json()["status"] == "fulfilled"
    assert len(done.json()["photo_ids"]) == 1
    confirmed = await act(client, world, "street_admin", wid, "confirm")
    assert confirmed.status_code == 200
    assert confirmed.json()["status"] == "confirmed"

    history = await client.get(f"/wishes/{wid}/history", headers=world.headers("community_admin"))
    assert history.status_code == 200
    steps = [(e["action"], e["from_status"], e["to_status"], e["actor_id"]) for e in history.json()]
    u = world.user
    assert steps == [
        ("create", None, "pending_review", u("member").id),
        ("approve", "pending_review", "open", u("community_admin").id),
        ("claim", "open", "claimed", u("inspector").id),
        ("release", "claimed", "open", u("inspector").id),
        ("claim", "open", "claimed", u("other_community_admin").id),
        ("fulfill", "claimed", "fulfilled", u("other_community_admin").id),
        ("confirm", "fulfilled", "confirmed", u("street_admin").id),
    ]
    assert history.json()[5]["note"] == "书包已送到"
    assert all(e["at"] for e in history.json())
    # The claimant may read it too; the poster and the one who let go may not.
    mine = await client.get(
        f"/wishes/{wid}/history", headers=world.headers("other_community_admin")
    )
    assert mine.status_code == 200
    poster = await client.get(f"/wishes/{wid}/history", headers=world.headers("member"))
    assert poster.status_code == 403
    former = await client.get(f"/wishes/{wid}/history", headers=world.headers("inspector"))
    assert former.status_code == 404


# Who performs each action in the table below: the person the contract allows.
ACTORS = {
    "review": "community_admin",
    "claim": "other_community_admin",
    "release": "member",
    "fulfill": "member",
    "confirm": "community_admin",
    "cancel": "community_admin",
}
STATES = ["pending_review", "open", "claimed", "fulfilled", "confirmed", "rejected", "cancelled"]
# (status, code or new state) per action and starting state. The member is the
# claimant wherever there is one; a resident of C1 posted every wish, so where
# nobody has claimed it and it is not open, the member cannot even see it (404).
OUTCOMES = {
    "review": ["open", 409, 409, 409, 409, 409, 409],
    "claim": [409, "claimed", "already", "already", "already", 409, 409],
    "release": [404, 403, "open", 409, 409, 404, 404],
    "fulfill": [404, 403, "fulfilled", 409, 409, 404, 404],
    "confirm": [409, 409, 409, "confirmed", 409, 409, 409],
    "cancel": ["cancelled", "cancelled", "cancelled", 409, 409, 409, 409],
}
TABLE = [
    (action, state, OUTCOMES[action][i]) for action in OUTCOMES for i, state in enumerate(STATES)
]


@pytest.mark.parametrize(("action", "state", "outcome"), TABLE, ids=lambda v: str(v))
async def test_every_transition_is_allowed_only_from_its_state(
    client, world, action, state, outcome
):
    resident = await make_user(world.app, "居民", community=world["C1"])
    wish = await insert_wish(
        world.app,
        community=world["C1"],
        poster=resident,
        status=WishStatus(state),
        claimant=world.user("member"),
        admin=world.user("community_admin"),
    )
    who = ACTORS[action]
    body = {
        "review": {"approve": True},
        "fulfill": {
            "photo_ids": [(await make_media(world.app, world.user(who))).id],
            "note": "已完成",
        },
        "cancel": {"reason": "测试"},
    }.get(action)
    resp = await act(client, world, who, wish.id, action, body)
    async with world.app.state.sessionmaker() as s:
        after = (await s.execute(select(Wish.status).where(Wish.id == wish.id))).scalar_one()
        events = (
            (await s.execute(select(WishEvent.action).where(WishEvent.wish_id == wish.id)))
            .scalars()
            .all()
        )
    before = len(PATH_TO[WishStatus(state)]) + 1
    if isinstance(outcome, str) and outcome != "already":
        assert resp.status_code == 200, resp.text
        assert resp.json()["status"] == outcome == after
        assert len(events) == before + 1
        return
    expected_status = 409 if outcome == "already" else outcome
    assert resp.status_code == expected_status, resp.text
    expected_code = {
        "already": "wish_already_claimed",
        409: "invalid_wish_state",
        403: "forbidden",
        404: "not_found",
    }[outcome]
    assert resp.json()["code"] == expected_code
    assert after == state  # nothing moved, nothing recorded
    assert len(events) == before


async def test_the_poster_may_cancel_until_someone_claims_it(client, world):
    pending = (await post_wish(client, world, who="member")).json()
    assert (await act(client, world, "member", pending["id"], "cancel")).json()[
        "status"
    ] == "cancelled"

    wish = (await post_wish(client, world, who="member")).json()
    await act(client, world, "community_admin", wish["id"], "review", {"approve": True})
    await act(client, world, "inspector", wish["id"], "claim")
    late = await act(client, world, "member", wish["id"], "cancel", {"reason": "不需要了"})
    assert late.status_code == 409
    assert late.json()["code"] == "invalid_wish_state"
    stranger = await act(client, world, "inspector", wish["id"], "cancel")
    assert stranger.status_code == 403


async def test_an_admin_who_fulfilled_a_wish_cannot_confirm_it_themselves(client, world):
    wish = (await post_wish(client, world)).json()
    await act(client, world, "community_admin", wish["id"], "claim")
    await fulfil(client, world, "community_admin", wish["id"])
    own = await act(client, world, "community_admin", wish["id"], "confirm")
    assert own.status_code == 403
    assert own.json()["code"] == "cannot_confirm_own_wish"
    assert (await act(client, world, "street_admin", wish["id"], "confirm")).status_code == 200


async def test_an_admin_of_another_street_cannot_confirm(client, world):
    wish = (await post_wish(client, world)).json()
    await act(client, world, "member", wish["id"], "claim")
    await fulfil(client, world, "member", wish["id"])
    resp = await act(client, world, "other_street_admin", wish["id"], "confirm")
    assert resp.status_code == 404


async def test_fulfilment_needs_a_photo_of_ones_own_and_a_note(client, world):
    wish = (await post_wish(client, world)).json()
    await act(client, world, "member", wish["id"], "claim")
    no_photo = await act(
        client, world, "member", wish["id"], "fulfill", {"photo_ids": [], "note": "好了"}
    )
    assert no_photo.status_code == 422
    assert no_photo.json()["code"] == "photo_required"
    someone_elses = await make_media(world.app, world.user("inspector"))
    stolen = await act(
        client,
        world,
        "member",
        wish["id"],
        "fulfill",
        {"photo_ids": [someone_elses.id], "note": "好了"},
    )
    assert stolen.json()["code"] == "invalid_photo"
    mine = await make_media(world.app, world.user("member"))
    blank = await act(
        client, world, "member", wish["id"], "fulfill", {"photo_ids": [mine.id], "note": "  "}
    )
    assert blank.json()["code"] == "note_required"
    missing = await act(client, world, "member", wish["id"], "fulfill", {"photo_ids": [mine.id]})
    assert missing.json()["code"] == "validation_error"
    still = await client.get(f"/wishes/{wish['id']}", headers=world.headers("member"))
    assert still.json()["status"] == "claimed"


async def test_confirming_credits_the_claimants_volunteer_hours_once(client, world):
    wish = (await post_wish(client, world)).json()
    await act(client, world, "member", wish["id"], "claim")
    fulfilled = (await fulfil(client, world, "member", wish["id"])).json()
    assert (await act(client, world, "community_admin", wish["id"], "confirm")).status_code == 200
    again = await act(client, world, "community_admin", wish["id"], "confirm")
    assert again.status_code == 409
    async with world.app.state.sessionmaker() as s:
        (entry,) = (await s.execute(select(VolunteerHour))).scalars().all()
    assert entry.user_id == world.user("member").id
    assert entry.org_id == world["C1"].id
    assert entry.source == HourSource.wish
    assert entry.source_id == wish["id"]
    assert entry.status == "approved"
    assert entry.minutes == world.app.state.settings.wish_confirm_minutes == 60
    # The span ends when the claimant reported the wish fulfilled.
    assert entry.ended_at == datetime.fromisoformat(fulfilled["fulfilled_at"])
    assert entry.ended_at - entry.started_at == timedelta(minutes=60)
    summary = await client.get("/me/volunteer-hours/summary", headers=world.headers("member"))
    assert summary.json()["approved_minutes"] == 60


async def test_no_hours_are_credited_when_the_setting_is_zero(client, world, monkeypatch):
    monkeypatch.setattr(world.app.state.settings, "wish_confirm_minutes", 0)
    wish = (await post_wish(client, world)).json()
    await act(client, world, "member", wish["id"], "claim")
    await fulfil(client, world, "member", wish["id"])
    assert (await act(client, world, "community_admin", wish["id"], "confirm")).status_code == 200
    async with world.app.state.sessionmaker() as s:
        assert (await s.execute(select(VolunteerHour))).scalars().all() == []


# --- claiming ------------------------------------------------------------------------


async def test_second_claimer_gets_409(client, world):
    wish = (await post_wish(client, world)).json()
    assert (await act(client, world, "member", wish["id"], "claim")).status_code == 200
    second = await act(client, world, "inspector", wish["id"], "claim")
    assert second.status_code == 409
    assert second.json()["code"] == "wish_already_claimed"
    assert second.headers["content-type"].startswith("application/problem+json")
    assert second.json()["detail"]


async def test_a_member_holds_at_most_the_configured_number_of_unfulfilled_claims(client, world):
    ids = [(await post_wish(client, world, title=f"心愿{i}")).json()["id"] for i in range(5)]
    for wid in ids[:3]:
        assert (await act(client, world, "member", wid, "claim")).status_code == 200
    fourth = await act(client, world, "member", ids[3], "claim")
    assert fourth.status_code == 409
    assert fourth.json()["code"] == "claim_limit_reached"
    # Fulfilling one frees a place.
    await fulfil(client, world, "member", ids[0])
    assert (await act(client, world, "member", ids[3], "claim")).status_code == 200
    # So does letting one go.
    await act(client, world, "member", ids[1], "release")
    assert (await act(client, world, "member", ids[4], "claim")).status_code == 200


async def test_a_wish_of_another_district_cannot_be_claimed(client, world):
    other = await make_org(world.app, "外区", OrgLevel.district)
    street = await make_org(world.app, "外区街道", OrgLevel.street, other)
    community = await make_org(world.app, "外区社区", OrgLevel.community, street)
    admin = await make_user(
        world.app, "外区书记", community=community, roles=[(Role.community_admin, community)]
    )
    wish = await insert_wish(world.app, community=community, poster=admin)
    resp = await act(client, world, "member", wish.id, "claim")
    assert resp.status_code == 404
    unhomed = await make_user(world.app, "新用户")
    resp = await client.post(f"/wishes/{wish.id}/claim", headers=auth(world.app, unhomed))
    assert resp.status_code == 404


async def test_only_the_claimant_may_release_or_fulfil(client, world):
    wish = (await post_wish(client, world)).json()
    await act(client, world, "member", wish["id"], "claim")
    admin_release = await act(client, world, "community_admin", wish["id"], "release")
    assert admin_release.status_code == 403
    assert (await fulfil(client, world, "community_admin", wish["id"])).status_code == 403
    outsider = await act(client, world, "other_community_admin", wish["id"], "release")
    assert outsider.status_code == 404


# --- who sees what ------------------------------------------------------------------------


async def test_the_beneficiary_is_masked_for_everyone_but_claimant_poster_and_admins_in_reach(
    client, world
):
    wish = (await post_wish(client, world)).json()
    wid = wish["id"]
    assert wish["beneficiary_name"] == "王小明"
    assert wish["beneficiary_phone"] == "13912345678"

    member = (await client.get(f"/wishes/{wid}", headers=world.headers("member"))).json()
    assert member["beneficiary_name"] == "王**"
    assert member["beneficiary_phone"] is None
    assert member["beneficiary_details_visible"] is False
    assert "13912345678" not in repr(member) and "5678" not in repr(member)

    await act(client, world, "member", wid, "claim")
    claimant = (await client.get(f"/wishes/{wid}", headers=world.headers("member"))).json()
    assert claimant["beneficiary_name"] == "王小明"
    assert claimant["beneficiary_phone"] == "13912345678"

    for admin in ("community_admin", "street_admin", "district_admin"):
        seen = (await client.get(f"/wishes/{wid}", headers=world.headers(admin))).json()
        assert seen["beneficiary_phone"] == "13912345678", admin

    # Claimed, it is no longer the district's to see: the other street's admin and the
    # neighbouring community's get 404, like for a wish that does not exist.
    for outsider in ("other_street_admin", "other_community_admin", "inspector"):
        resp = await client.get(f"/wishes/{wid}", headers=world.headers(outsider))
        assert resp.status_code == 404, outsider
        assert resp.json()["code"] == "not_found"


async def test_an_admin_of_another_street_sees_an_open_wish_only_as_a_member_of_the_district(
    client, world
):
    wish = (await post_wish(client, world, beneficiary_name="欧阳娜娜")).json()
    seen = await client.get(f"/wishes/{wish['id']}", headers=world.headers("other_street_admin"))
    assert seen.status_code == 200
    assert seen.json()["beneficiary_name"] == "欧阳**"
    assert seen.json()["beneficiary_phone"] is None


def test_names_are_masked_keeping_the_surname():
    assert mask_name("王五") == "王*"
    assert mask_name("王小明") == "王**"
    assert mask_name("欧阳娜娜") == "欧阳**"
    assert mask_name("欧阳") == "欧*"
    assert mask_name("李") == "李"


async def test_members_list_open_wishes_of_the_district_and_their_own(client, world):
    open_c1 = (await post_wish(client, world, title="C1 待认领")).json()
    open_c3 = (
        await post_wish(
            client, world, who="other_street_admin", title="C3 待认领", community_id=world["C3"].id
        )
    ).json()
    pending_mine = (await post_wish(client, world, who="member", title="我发布的")).json()
    pending_other = (await post_wish(client, world, who="inspector", title="别人发布的")).json()
    claimed_by_other = (await post_wish(client, world, title="别人认领的")).json()
    await act(client, world, "inspector", claimed_by_other["id"], "claim")
    claimed_by_me = (await post_wish(client, world, title="我认领的")).json()
    await act(client, world, "member", claimed_by_me["id"], "claim")

    listed = await client.get("/wishes", headers=world.headers("member"), params={"page_size": 100})
    ids = {w["id"] for w in listed.json()["items"]}
    assert ids == {open_c1["id"], open_c3["id"], pending_mine["id"], claimed_by_me["id"]}
    assert listed.json()["total"] == 4

    street = await client.get(
        "/wishes", headers=world.headers("street_admin"), params={"page_size": 100}
    )
    street_ids = {w["id"] for w in street.json()["items"]}
    assert street_ids == {
        open_c1["id"],
        open_c3["id"],  # open in the district: seen as a member
        pending_mine["id"],
        pending_other["id"],
        claimed_by_other["id"],
        claimed_by_me["id"],
    }
    community_only = await client.get(
        "/wishes",
        headers=world.headers("street_admin"),
        params={"community_id": world["C1"].id, "status": "claimed"},
    )
    assert {w["id"] for w in community_only.json()["items"]} == {
        claimed_by_other["id"],
        claimed_by_me["id"],
    }
    paged = await client.get(
        "/wishes", headers=world.headers("street_admin"), params={"page_size": 2, "page": 2}
    )
    assert paged.json()["total"] == 6
    assert len(paged.json()["items"]) == 2
    bad = await client.get("/wishes", headers=world.headers("member"), params={"status": "lost"})
    assert bad.status_code == 422


async def test_a_wish_past_its_deadline_and_not_yet_fulfilled_is_overdue(client, world):
    today = local(datetime.now(UTC)).date()
    wishes = [
        (await post_wish(client, world, title=f"心愿{i}", deadline=today.isoformat())).json()
        for i in range(3)
    ]
    assert not any(w["overdue"] for w in wishes)
    await act(client, world, "member", wishes[1]["id"], "claim")
    await act(client, world, "member", wishes[2]["id"], "claim")
    await fulfil(client, world, "member", wishes[2]["id"])
    async with world.app.state.sessionmaker() as s, s.begin():
        await s.execute(update(Wish).values(deadline=today - timedelta(days=1)))
    h = world.headers("community_admin")
    overdue = {
        w["id"]: w["overdue"] for w in (await client.get("/wishes", headers=h)).json()["items"]
    }
    assert overdue == {wishes[0]["id"]: True, wishes[1]["id"]: True, wishes[2]["id"]: False}


async def test_wish_photos_are_visible_to_whoever_may_see_the_wish(client, world):
    wish = (await post_wish(client, world)).json()
    await act(client, world, "member", wish["id"], "claim")
    done = (await fulfil(client, world, "member", wish["id"])).json()
    (photo_id,) = done["photo_ids"]
    async with world.app.state.sessionmaker() as s:
        media = await s.get(Media, photo_id)
        for who, expected in (
            ("community_admin", True),
            ("street_admin", True),
            ("other_community_admin", False),
            ("other_street_admin", False),
        ):
            caller = await caller_for_person(s, world.user(who))
            assert await can_see_media(s, caller, media) is expected, who


async def test_each_listed_wish_reads_as_it_does_alone_photos_and_masking_included(client, world):
    posted = [(await post_wish(client, world, title=f"心愿{i}")).json()["id"] for i in range(3)]
    await act(client, world, "member", posted[0], "claim")
    member = world.user("member")
    # One photo WeChat passed, one still pending: only the uploader sees the second.
    shown = await make_media(world.app, member)
    pending = await make_media(world.app, member, check_status=MediaCheckStatus.pending)
    body = {"photo_ids": [pending.id, shown.id], "note": "书包已送到"}
    assert (await act(client, world, "member", posted[0], "fulfill", body)).status_code == 200
    await act(client, world, "inspector", posted[1], "claim")
    for who in ("member", "inspector", "community_admin", "other_community_admin"):
        h = world.headers(who)
        listed = (await client.get("/wishes", headers=h, params={"page_size": 100})).json()
        assert listed["items"], who
        for item in listed["items"]:
            alone = await client.get(f"/wishes/{item['id']}", headers=h)
            assert item == alone.json(), who
    mine = (await client.get(f"/wishes/{posted[0]}", headers=world.headers("member"))).json()
    assert mine["photo_ids"] == [pending.id, shown.id]
    admins = await client.get(f"/wishes/{posted[0]}", headers=world.headers("community_admin"))
    assert admins.json()["photo_ids"] == [shown.id]
    # A page past the end is empty and still says how many there are.
    h = world.headers("member")
    total = (await client.get("/wishes", headers=h)).json()["total"]
    past = await client.get("/wishes", headers=h, params={"page": 9})
    assert (past.json()["items"], past.json()["total"]) == ([], total)
    assert total == 2  # the open one and their own: not the one someone else claimed


# --- the yearly quota ------------------------------------------------------------------------


async def test_the_quota_lists_party_members_who_have_not_kept_a_claim_this_year(client, world):
    unit_member = await make_user(
        world.app, "单位党员", community=world["C3"], unit=world["U1"], party=True
    )
    await make_user(world.app, "群众", community=world["C1"], party=False)
    a, b, c = [(await post_wish(client, world, title=f"心愿{i}")).json()["id"] for i in range(3)]
    await act(client, world, "member", a, "claim")  # still held: counts
    await act(client, world, "inspector", b, "claim")
    await act(client, world, "inspector", b, "release")  # given up: does not count
    await act(client, world, "other_community_admin", c, "claim")
    await fulfil(client, world, "other_community_admin", c)
    await act(client, world, "street_admin", c, "confirm")  # confirmed: counts

    resp = await client.get(
        "/stats/wish-quota",
        headers=world.headers("street_admin"),
        params={"org_id": world["S1"].id},
    )
    assert resp.status_code == 200
    body = resp.json()
    u = world.user
    # S1's party members: everyone of the cast but the S2 admin, plus the U1 member.
    assert body["year"] == current_year()
    assert body["party_members"] == 7
    assert body["claimed"] == 2
    assert body["owing"] == 5
    assert {m["id"] for m in body["owing_members"]} == {
        u("district_admin").id,
        u("street_admin").id,
        u("community_admin").id,
        u("inspector").id,
        unit_member.id,
    }
    entry = next(m for m in body["owing_members"] if m["id"] == unit_member.id)
    assert entry == {
        "id": unit_member.id,
        "name": "单位党员",
        "community_id": world["C3"].id,
        "unit_id": world["U1"].id,
    }

    # A claim made last year counts for last year, not this one.
    async with world.app.state.sessionmaker() as s, s.begin():
        await s.execute(
            update(WishEvent)
            .where(WishEvent.actor_id == u("member").id, WishEvent.action == "claim")
            .values(at=datetime(current_year() - 1, 6, 1, tzinfo=UTC))
        )
        # History rewritten by hand: the kept claims follow it as after a claim.
        for year in (current_year(), current_year() - 1):
            await wish_quota.rederive(s, user_id=u("member").id, year=year)
    now = (
        await client.get(
            "/stats/wish-quota",
            headers=world.headers("street_admin"),
            params={"org_id": world["S1"].id},
        )
    ).json()
    assert now["claimed"] == 1
    last = (
        await client.get(
            "/stats/wish-quota",
            headers=world.headers("street_admin"),
            params={"org_id": world["S1"].id, "year": current_year() - 1},
        )
    ).json()
    assert (last["claimed"], last["owing"]) == (1, 6)


async def test_the_quota_is_for_admins_and_orgs_in_their_reach(client, world):
    params = {"org_id": world["C1"].id}
    member = await client.get("/stats/wish-quota", headers=world.headers("member"), params=params)
    assert member.status_code == 403
    outside = await client.get(
        "/stats/wish-quota", headers=world.headers("other_street_admin"), params=params
    )
    assert outside.status_code == 404
    missing = await client.get(
        "/stats/wish-quota", headers=world.headers("district_admin"), params={"org_id": 999999}
    )
    assert missing.status_code == 404
    c1 = (
        await client.get(
            "/stats/wish-quota", headers=world.headers("community_admin"), params=params
        )
    ).json()
    # Living in C1: the district admin, street admin, community admin, member, inspector.
    assert (c1["party_members"], c1["claimed"], c1["owing"]) == (5, 0, 5)


async def test_a_community_filter_outside_what_the_caller_sees_is_404_like_a_missing_one(
    client, world
):
    other_district = await make_org(world.app, "外区", OrgLevel.district)
    street = await make_org(world.app, "外区街道", OrgLevel.street, other_district)
    elsewhere = await make_org(world.app, "外区社区", OrgLevel.community, street)
    cases = [
        ("member", world["C3"].id, 200),  # a community of the member's district
        ("member", elsewhere.id, 404),
        ("community_admin", world["C1"].id, 200),
        ("community_admin", elsewhere.id, 404),
        ("street_admin", 2_000_000_000, 404),  # no such org
    ]
    for who, community_id, status in cases:
        resp = await client.get(
            "/wishes", headers=world.headers(who), params={"community_id": community_id}
        )
        assert resp.status_code == status, (who, community_id, resp.text)
