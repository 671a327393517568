"""Taking a decision back from the review screens: an approved hour entry revoked
(30 days) and a wish's confirmation withdrawn (7 days), through the API's own services,
refused with the same codes, audited the same way (the matrix has who may)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from app.core.db import utcnow
from app.models.audit import AuditEntry
from app.models.volunteer_hours import HourStatus, VolunteerHour
from app.models.wish import Wish, WishStatus
from tests.factories.console import console_headers
from tests.factories.volunteer_hours import insert_entry
from tests.factories.wishes import insert_wish

HTML = {"Accept": "text/html"}


async def test_a_secretary_revokes_a_recent_approval_once_and_not_an_old_one(client, world):
    member, c1 = world.user("member"), world["C1"]
    recent = await insert_entry(
        world.app, user=member, org=c1, status=HourStatus.approved, activity="最近的服务"
    )
    old = await insert_entry(
        world.app, user=member, org=c1, status=HourStatus.approved, activity="早先的服务"
    )
    async with world.app.state.sessionmaker() as session, session.begin():
        await session.execute(
            update(VolunteerHour)
            .where(VolunteerHour.id == old.id)
            .values(reviewed_at=utcnow() - timedelta(days=31))
        )
    headers = {**await console_headers(world.app, world.user("community_admin")), **HTML}
    screen = await client.get(
        "http://test/console/reviews/hours", params={"view": "approved"}, headers=headers
    )
    assert screen.status_code == 200
    assert f'data-item="{recent.id}"' in screen.text and f'data-item="{old.id}"' not in screen.text
    assert 'aria-current="page">已通过' in screen.text and "撤销原因" in screen.text
    # The pending view is unchanged: nothing waits.
    pending = await client.get("http://test/console/reviews/hours", headers=headers)
    assert "没有待审核的记录" in pending.text

    revoke = f"http://test/console/reviews/hours/{recent.id}/revoke"
    assert (await client.post(revoke, data={"reason": ""}, headers=headers)).status_code == 422
    done = await client.post(revoke, data={"reason": "重复登记"}, headers=headers)
    assert done.status_code == 303
    assert done.headers["location"].endswith("/console/reviews/hours?view=approved&done=revoke")
    again = await client.post(revoke, data={"reason": "重复登记"}, headers=headers)
    assert again.status_code == 409 and 'data-code="invalid_volunteer_hour_state"' in again.text
    late = await client.post(
        f"http://test/console/reviews/hours/{old.id}/revoke",
        data={"reason": "重复登记"},
        headers=headers,
    )
    assert late.status_code == 409 and 'data-code="revoke_window_closed"' in late.text
    assert "不能再撤销" in late.text
    async with world.app.state.sessionmaker() as session:
        assert (await session.get(VolunteerHour, recent.id)).status == HourStatus.rejected
        actions = (
            await session.execute(
                select(AuditEntry.action).where(AuditEntry.target_id == recent.id)
            )
        ).scalars()
        assert "volunteer_hour.revoke" in set(actions)


async def test_a_confirmation_is_withdrawn_by_its_confirmer_and_not_offered_to_others(
    client, world
):
    wish = await insert_wish(
        world.app,
        community=world["C1"],
        poster=world.user("member"),
        status=WishStatus.confirmed,
        claimant=world.user("inspector"),
        admin=world.user("community_admin"),
        title="撤回确认的心愿",
    )
    # The street's admin reaches it but neither confirmed it nor is C1's secretary.
    street = {**await console_headers(world.app, world.user("street_admin")), **HTML}
    screen = await client.get(
        "http://test/console/reviews/wishes", params={"view": "confirmed"}, headers=street
    )
    assert screen.status_code == 200 and f'data-item="{wish.id}"' not in screen.text
    headers = {**await console_headers(world.app, world.user("community_admin")), **HTML}
    screen = await client.get(
        "http://test/console/reviews/wishes", params={"view": "confirmed"}, headers=headers
    )
    assert f'data-item="{wish.id}"' in screen.text and "撤回确认" in screen.text
    withdraw = f"http://test/console/reviews/wishes/{wish.id}/withdraw-confirmation"
    done = await client.post(withdraw, data={"reason": "受助人反映未收到"}, headers=headers)
    assert done.status_code == 303
    assert done.headers["location"].endswith("?view=confirmed&done=withdraw")
    again = await client.post(withdraw, data={"reason": "受助人反映未收到"}, headers=headers)
    assert again.status_code == 409 and 'data-code="invalid_wish_state"' in again.text
    async with world.app.state.sessionmaker() as session:
        assert (await session.get(Wish, wish.id)).status == WishStatus.fulfilled
