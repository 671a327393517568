"""Undoing a source undoes its points: an hour entry revoked after approval, a wish
confirmation withdrawn; each once, however many press at once."""

import asyncio
import io
from datetime import timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select, update

from app.core.db import utcnow, write_transaction
from app.core.timeutil import current_year, month_key
from app.models.points import EntryKind, PointsEntry
from app.models.volunteer_hours import HourStatus, VolunteerHour
from app.models.wish import Wish, WishStatus
from tests.factories.points import set_rules
from tests.factories.volunteer_hours import insert_entry
from tests.factories.wishes import insert_wish
from tests.support.points import assert_ledger_is_exact

# Everything written here leaves the dashboards' kept sums exact (tests/support/counts.py).
pytestmark = pytest.mark.usefixtures("counts_stay_exact")

REVOKE = {"reason": "重复登记"}


async def approved_entry(client, world, minutes=90):
    """A member's entry at C1, approved by the C1 admin (rule: 10 an hour)."""
    await set_rules(world.app, world["D"], hour=10, wish=20)
    entry = await insert_entry(
        world.app, user=world.user("member"), org=world["C1"], minutes=minutes
    )
    resp = await client.post(
        f"/volunteer-hours/{entry.id}/review",
        json={"approve": True},
        headers=world.headers("community_admin"),
    )
    assert resp.status_code == 200, resp.text
    return entry


async def reversals(world) -> int:
    async with world.app.state.sessionmaker() as s:
        return (
            await s.execute(
                select(func.count())
                .select_from(PointsEntry)
                .where(PointsEntry.kind == EntryKind.reversal)
            )
        ).scalar_one()


async def test_a_revoked_entry_loses_its_minutes_and_points_and_its_owner_reads_why(client, world):
    entry = await approved_entry(client, world)
    member = world.headers("member")
    assert (await client.get("/me/points", headers=member)).json()["balance"] == 15

    resp = await client.post(
        f"/volunteer-hours/{entry.id}/revoke", json=REVOKE, headers=world.headers("community_admin")
    )
    assert resp.status_code == 200, resp.text
    assert (resp.json()["status"], resp.json()["review_reason"]) == ("rejected", "重复登记")

    mine = (await client.get("/me/points", headers=member)).json()
    assert mine["balance"] == 0
    assert (mine["entries"][0]["points"], mine["entries"][0]["kind"]) == (-15, "reversal")
    assert mine["entries"][0]["text"] == (
        f"{month_key(utcnow())} 撤销：志愿服务 1.5 小时（清理背街小巷）（重复登记）"
    )
    summary = await client.get(
        "/me/volunteer-hours/summary", params={"year": current_year()}, headers=member
    )
    assert summary.json()["approved_minutes"] == 0
    messages = (await client.get("/me/messages", headers=member)).json()["items"]
    assert messages[0]["kind"] == "hours_revoked" and "重复登记" in messages[0]["body"]
    steps = (await client.get(f"/volunteer-hours/{entry.id}/history", headers=member)).json()
    assert [(s["action"], s["to_status"], s["note"]) for s in steps] == [
        ("approve", "approved", None),
        ("revoke", "rejected", "重复登记"),
    ]

    again = await client.post(
        f"/volunteer-hours/{entry.id}/revoke", json=REVOKE, headers=world.headers("street_admin")
    )
    assert (again.status_code, again.json()["code"]) == (409, "invalid_volunteer_hour_state")
    assert await reversals(world) == 1
    await assert_ledger_is_exact(world.app)


async def test_the_points_ledger_lists_the_reversal(client, world):
    entry = await approved_entry(client, world)
    await client.post(
        f"/volunteer-hours/{entry.id}/revoke", json=REVOKE, headers=world.headers("community_admin")
    )
    resp = await client.get(
        "/exports/points.xlsx",
        params={"org_id": world["S1"].id},
        headers=world.headers("street_admin"),
    )
    assert resp.status_code == 200
    sheet = load_workbook(io.BytesIO(resp.content)).active
    data = [r for r in sheet.iter_rows(min_row=4, values_only=True) if isinstance(r[0], int)]
    assert [(r[4], r[6]) for r in data] == [("规则发放", 15), ("撤销/退回", -15)]
    assert "重复登记" in data[1][5]


async def test_revoking_needs_a_reviewer_a_reason_an_approved_entry_and_the_window(client, world):
    entry = await approved_entry(client, world)
    path = f"/volunteer-hours/{entry.id}/revoke"
    own = await client.post(path, json=REVOKE, headers=world.headers("member"))
    assert (own.status_code, own.json()["code"]) == (403, "cannot_review_own_entry")
    blank = await client.post(path, json={"reason": "  "}, headers=world.headers("community_admin"))
    assert (blank.status_code, blank.json()["code"]) == (422, "reason_required")
    pending = await insert_entry(world.app, user=world.user("member"), org=world["C1"])
    early = await client.post(
        f"/volunteer-hours/{pending.id}/revoke",
        json=REVOKE,
        headers=world.headers("community_admin"),
    )
    assert (early.status_code, early.json()["code"]) == (409, "invalid_volunteer_hour_state")

    async with write_transaction(world.app.state.sessionmaker) as s:
        await s.execute(
            update(VolunteerHour)
            .where(VolunteerHour.id == entry.id)
            .values(reviewed_at=utcnow() - timedelta(days=31))
        )
    late = await client.post(path, json=REVOKE, headers=world.headers("community_admin"))
    assert (late.status_code, late.json()["code"]) == (409, "revoke_window_closed")
    assert (await client.get("/me/points", headers=world.headers("member"))).json()["balance"] == 15
    await assert_ledger_is_exact(world.app)


async def test_many_revoking_one_entry_at_once_reverse_its_points_once(client, world):
    entry = await approved_entry(client, world)
    admins = ["community_admin", "street_admin", "district_admin"] * 3
    answers = await asyncio.gather(
        *(
            client.post(
                f"/volunteer-hours/{entry.id}/revoke", json=REVOKE, headers=world.headers(who)
            )
            for who in admins
        )
    )
    codes = sorted(r.status_code for r in answers)
    assert codes == [200] + [409] * (len(admins) - 1), [r.text for r in answers]
    assert await reversals(world) == 1
    async with world.app.state.sessionmaker() as s:
        assert (await s.get(VolunteerHour, entry.id)).status == HourStatus.rejected
    await assert_ledger_is_exact(world.app)


async def test_a_revoke_racing_the_approval_never_reverses_a_grant_that_stands(client, world):
    await set_rules(world.app, world["D"], hour=10)
    entry = await insert_entry(world.app, user=world.user("member"), org=world["C1"])
    approve, revoke = await asyncio.gather(
        client.post(
            f"/volunteer-hours/{entry.id}/review",
            json={"approve": True},
            headers=world.headers("community_admin"),
        ),
        client.post(
            f"/volunteer-hours/{entry.id}/revoke",
            json=REVOKE,
            headers=world.headers("street_admin"),
        ),
    )
    assert approve.status_code == 200
    balance = (await client.get("/me/points", headers=world.headers("member"))).json()["balance"]
    # Either the revocation saw the entry pending (409, the points stand) or approved.
    assert (revoke.status_code, balance) in ((409, 15), (200, 0))
    await assert_ledger_is_exact(world.app)


# --- wishes -----------------------------------------------------------------------------


async def confirmed_wish(client, world):
    """A wish the member fulfilled and the C1 admin confirmed (rule: 20 a wish)."""
    await set_rules(world.app, world["D"], hour=0, wish=20)
    wish = await insert_wish(
        world.app,
        community=world["C1"],
        poster=world.user("inspector"),
        status=WishStatus.fulfilled,
        claimant=world.user("member"),
        admin=world.user("community_admin"),
    )
    resp = await client.post(f"/wishes/{wish.id}/confirm", headers=world.headers("community_admin"))
    assert resp.status_code == 200, resp.text
    return wish


async def test_a_withdrawn_confirmation_takes_the_points_back_and_a_new_one_gives_them_again(
    client, world
):
    wish = await confirmed_wish(client, world)
    member = world.headers("member")
    assert (await client.get("/me/points", headers=member)).json()["balance"] == 20
    path = f"/wishes/{wish.id}/withdraw-confirmation"
    body = {"reason": "受助人反映未收到"}

    stranger = await client.post(path, json=body, headers=world.headers("street_admin"))
    assert (stranger.status_code, stranger.json()["code"]) == (403, "forbidden")
    resp = await client.post(path, json=body, headers=world.headers("community_admin"))
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "fulfilled"
    mine = (await client.get("/me/points", headers=member)).json()
    assert mine["balance"] == 0
    assert mine["entries"][0]["text"].endswith(
        "撤销：完成微心愿「给孩子买一个书包」（受助人反映未收到）"
    )
    messages = (await client.get("/me/messages", headers=member)).json()["items"]
    assert messages[0]["kind"] == "wish_unconfirmed"
    again = await client.post(path, json=body, headers=world.headers("community_admin"))
    assert (again.status_code, again.json()["code"]) == (409, "invalid_wish_state")

    # Confirmed again (it was done after all): the points come back, the hours once.
    await client.post(f"/wishes/{wish.id}/confirm", headers=world.headers("street_admin"))
    mine = (await client.get("/me/points", headers=member)).json()
    assert mine["balance"] == 20
    assert mine["entries"][0]["text"].endswith("恢复：完成微心愿「给孩子买一个书包」")
    summary = await client.get(
        "/me/volunteer-hours/summary", params={"year": current_year()}, headers=member
    )
    assert summary.json()["approved_minutes"] == world.app.state.settings.wish_confirm_minutes
    # Now the street admin confirmed it: they may withdraw it, and so may C1's admin.
    assert (
        await client.post(path, json=body, headers=world.headers("street_admin"))
    ).status_code == 200
    assert (await client.get("/me/points", headers=member)).json()["balance"] == 0
    await assert_ledger_is_exact(world.app)


async def test_a_confirmation_is_withdrawn_within_the_window_and_once_however_many_press(
    client, world
):
    wish = await confirmed_wish(client, world)
    path = f"/wishes/{wish.id}/withdraw-confirmation"
    body = {"reason": "受助人反映未收到"}
    answers = await asyncio.gather(
        *(client.post(path, json=body, headers=world.headers("community_admin")) for _ in range(6))
    )
    assert sorted(r.status_code for r in answers) == [200] + [409] * 5
    assert await reversals(world) == 1

    await client.post(f"/wishes/{wish.id}/confirm", headers=world.headers("community_admin"))
    async with write_transaction(world.app.state.sessionmaker) as s:
        await s.execute(
            update(Wish).where(Wish.id == wish.id).values(confirmed_at=utcnow() - timedelta(days=8))
        )
    late = await client.post(path, json=body, headers=world.headers("community_admin"))
    assert (late.status_code, late.json()["code"]) == (409, "unconfirm_window_closed")
    assert (await client.get("/me/points", headers=world.headers("member"))).json()["balance"] == 20
    await assert_ledger_is_exact(world.app)
