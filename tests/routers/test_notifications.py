"""Notifications: who is told what (in the app and through WeChat subscribe messages),
grants, delivery that sends once whatever happens twice, retries, and the in-app
message box.

The app here has a template for every kind (several kinds share one, as in real
use); the stub WeChat server over HTTP records every subscribe message it accepts.
Jobs run on the in-memory broker, inline: `jobs.drain()` waits for what a commit
handed over. Time is passed in wherever the code under test reads the clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlmodel import col, select

from app.core.db import utcnow
from app.devtools.wechat_stub import StubState
from app.jobs import Jobs
from app.main import create_app
from app.models.article import ArticleStatus
from app.models.notification import (
    Message,
    NotificationKind,
    SendStatus,
    SubscribeGrant,
    WeChatSend,
)
from app.models.user import User
from app.models.wish import WishStatus
from app.services.notifications import delivery, outbox
from app.services.notifications.delivery import Delivery
from app.services.notifications.outbox import Content
from tests.conftest import empty_all_tables, forget_wechat_token, make_settings
from tests.factories.articles import insert_article
from tests.factories.media import make_media
from tests.factories.problems import file_problem, rectify, verify
from tests.factories.users import make_user
from tests.factories.volunteer_hours import insert_entry
from tests.factories.wishes import insert_wish
from tests.factories.world import World, build_world

TPL_WISH = "tpl-wish-0001"
TPL_REVIEW = "tpl-review-0002"
TPL_PROBLEM = "tpl-problem-0003"
TPL_REMIND = "tpl-remind-0004"
TEMPLATES = {
    "wish_claimed": TPL_WISH,
    "wish_fulfilled": TPL_WISH,
    "wish_confirmed": TPL_WISH,
    "hours_approved": TPL_REVIEW,
    "hours_rejected": TPL_REVIEW,
    "article_returned": TPL_REVIEW,
    "article_published": TPL_REVIEW,
    "problem_assigned": TPL_PROBLEM,
    "problem_due_soon": TPL_PROBLEM,
    "problem_overdue": TPL_PROBLEM,
    "problem_escalated": TPL_PROBLEM,
    "problem_verified": TPL_PROBLEM,
    "report_in_reminder": TPL_REMIND,
    "wish_quota_reminder": TPL_REMIND,
}
SEND_PATH = "cgi-bin/message/subscribe/send"
MESSAGE_PAGE = "pages/messages/index"


@pytest.fixture(scope="session")
async def napp(
    database_url: str,
    tmp_path_factory: pytest.TempPathFactory,
    wechat_stub: tuple[StubState, str],
) -> AsyncIterator[FastAPI]:
    settings = make_settings(
        database_url,
        tmp_path_factory.mktemp("notifications"),
        wechat_stub[1],
        wechat_templates=TEMPLATES,
        wechat_message_page=MESSAGE_PAGE,
        wechat_send_max_attempts=3,
    )
    application = create_app(settings)
    yield application
    await application.state.engine.dispose()


@dataclass
class Env:
    app: FastAPI
    world: World
    client: httpx.AsyncClient
    stub: StubState

    @property
    def jobs(self) -> Jobs:
        jobs: Jobs = self.app.state.jobs
        return jobs

    def headers(self, who: str) -> dict[str, str]:
        return self.world.headers(who)

    def user(self, who: str) -> User:
        return self.world.user(who)

    def sends_to(self, who: str | User) -> list[dict[str, Any]]:
        person = self.user(who) if isinstance(who, str) else who
        return [s for s in self.stub.subscribe_sends if s["touser"] == person.openid]


@pytest.fixture
async def env(napp: FastAPI, wechat_stub: tuple[StubState, str]) -> AsyncIterator[Env]:
    stub = wechat_stub[0]
    stub.reset()
    forget_wechat_token(napp)
    world = await build_world(napp)
    transport = httpx.ASGITransport(app=napp)
    async with httpx.AsyncClient(transport=transport, base_url="http://test/api/v1") as client:
        yield Env(app=napp, world=world, client=client, stub=stub)
    await napp.state.jobs.drain()
    await empty_all_tables(napp)
    forget_wechat_token(napp)


# --- helpers ----------------------------------------------------------------------------


async def grant(env: Env, who: str, *templates: str) -> None:
    """The person accepts these templates in wx.requestSubscribeMessage once."""
    results: dict[str, str] = {t: "accept" for t in templates}
    resp = await env.client.post(
        "/me/subscriptions", json={"results": results}, headers=env.headers(who)
    )
    assert resp.status_code == 200, resp.text


async def insert_grant(app: FastAPI, user: User, template: str, balance: int) -> None:
    async with app.state.sessionmaker() as session, session.begin():
        session.add(SubscribeGrant(user_id=user.id or 0, template_id=template, balance=balance))


async def balance(app: FastAPI, user: User, template: str) -> int:
    async with app.state.sessionmaker() as session:
        found = await session.execute(
            select(SubscribeGrant.balance).where(
                SubscribeGrant.user_id == user.id, SubscribeGrant.template_id == template
            )
        )
        return int(found.scalar_one_or_none() or 0)


async def inbox(app: FastAPI) -> set[tuple[int, str]]:
    """Everyone's messages as (user id, kind): who got what."""
    async with app.state.sessionmaker() as session:
        rows = await session.execute(select(Message.user_id, Message.kind))
        return {(user_id, kind) for user_id, kind in rows.all()}


async def sends(app: FastAPI) -> list[WeChatSend]:
    async with app.state.sessionmaker() as session:
        rows = await session.execute(select(WeChatSend).order_by(col(WeChatSend.id)))
        return list(rows.scalars())


async def insert_send(
    app: FastAPI,
    user: User,
    template: str = TPL_WISH,
    *,
    status: SendStatus = SendStatus.pending,
    attempts: int = 0,
    grant_taken: bool = False,
    lease_until: Any = None,
    next_attempt_at: Any = None,
) -> int:
    """A message and its send, as notify leaves them, but never handed to the queue:
    as if the process had died right after the commit."""
    async with app.state.sessionmaker() as session, session.begin():
        message = Message(
            user_id=user.id or 0,
            kind=NotificationKind.wish_claimed,
            title="心愿已被认领",
            body="党员甲认领了心愿“给孩子买一个书包”",
        )
        session.add(message)
        await session.flush()
        send = WeChatSend(
            message_id=message.id or 0,
            user_id=user.id or 0,
            template_id=template,
            fields={
                "subject": "给孩子买一个书包",
                "status": "已认领",
                "time": "2026年11月22日 09:00",
                "note": "认领人：党员甲",
            },
            status=status,
            attempts=attempts,
            grant_taken=grant_taken,
            lease_until=lease_until,
            next_attempt_at=next_attempt_at or utcnow(),
        )
        session.add(send)
        await session.flush()
        return send.id or 0


async def run_deliver(env: Env, send_id: int, now: Any) -> str:
    """The delivery job through the broker, as a worker runs it."""
    task = await env.jobs.deliver.kiq(send_id, now)
    result = await task.wait_result()
    assert not result.is_err, result.error
    return str(result.return_value)


async def claim(env: Env, who: str, wish_id: int) -> None:
    resp = await env.client.post(f"/wishes/{wish_id}/claim", headers=env.headers(who))
    assert resp.status_code == 200, resp.text


# --- who gets what ------------------------------------------------------------------------


async def test_a_claimed_wish_tells_the_community_secretary_in_the_app_and_on_wechat(env):
    await grant(env, "community_admin", TPL_WISH)
    title = "给独居老人王奶奶买一台新的电饭煲和一床过冬的棉被"  # longer than a thing field takes
    wish = await insert_wish(
        env.app, community=env.world["C1"], poster=env.user("community_admin"), title=title
    )

    await claim(env, "member", wish.id)
    await env.jobs.drain()

    secretary = env.user("community_admin")
    assert await inbox(env.app) == {(secretary.id, "wish_claimed")}
    (sent,) = env.stub.subscribe_sends
    assert sent["touser"] == secretary.openid
    assert sent["template_id"] == TPL_WISH
    assert sent["data"]["thing1"] == title[:19] + "…"
    assert sent["data"]["phrase2"] == "已认领"
    assert sent["data"]["thing4"] == "认领人：党员甲"
    messages = (await env.client.get("/me/messages", headers=env.headers("community_admin"))).json()
    assert sent["page"] == f"{MESSAGE_PAGE}?id={messages['items'][0]['id']}"
    assert messages["items"][0]["body"].startswith("党员甲认领了心愿")
    assert await balance(env.app, secretary, TPL_WISH) == 0


async def test_a_member_who_posted_a_wish_hears_when_it_is_claimed(env):
    poster = await make_user(env.app, "居民乙", community=env.world["C1"])
    wish = await insert_wish(env.app, community=env.world["C1"], poster=poster)

    await claim(env, "member", wish.id)

    assert await inbox(env.app) == {
        (poster.id, "wish_claimed"),
        (env.user("community_admin").id, "wish_claimed"),
    }


async def test_fulfilment_goes_to_the_secretary_and_confirmation_to_the_claimant(env):
    await grant(env, "member", TPL_WISH)
    wish = await insert_wish(
        env.app,
        community=env.world["C1"],
        poster=env.user("community_admin"),
        status=WishStatus.claimed,
        claimant=env.user("member"),
    )
    photo = await make_media(env.app, env.user("member"))
    resp = await env.client.post(
        f"/wishes/{wish.id}/fulfill",
        json={"photo_ids": [photo.id], "note": "书包已送到"},
        headers=env.headers("member"),
    )
    assert resp.status_code == 200, resp.text
    resp = await env.client.post(
        f"/wishes/{wish.id}/confirm", headers=env.headers("community_admin")
    )
    assert resp.status_code == 200, resp.text
    await env.jobs.drain()

    assert await inbox(env.app) == {
        (env.user("community_admin").id, "wish_fulfilled"),
        (env.user("member").id, "wish_confirmed"),
    }
    (sent,) = env.stub.subscribe_sends
    assert sent["touser"] == env.user("member").openid
    assert sent["data"]["phrase2"] == "已确认"


async def test_reviewed_hours_tell_their_owner_with_the_reason(env):
    await grant(env, "member", TPL_REVIEW)
    approved = await insert_entry(env.app, user=env.user("member"), org=env.world["C1"])
    rejected = await insert_entry(
        env.app,
        user=env.user("member"),
        org=env.world["C1"],
        started_at=utcnow() - timedelta(days=3),
    )
    for entry, body in (
        (approved, {"approve": True}),
        (rejected, {"approve": False, "reason": "照片与活动不符"}),
    ):
        resp = await env.client.post(
            f"/volunteer-hours/{entry.id}/review", json=body, headers=env.headers("community_admin")
        )
        assert resp.status_code == 200, resp.text
        await env.jobs.drain()

    member = env.user("member").id
    assert await inbox(env.app) == {(member, "hours_approved"), (member, "hours_rejected")}
    # One grant, one WeChat message: the first review's; the second is in the app only.
    (sent,) = env.sends_to("member")
    assert sent["data"]["phrase2"] == "已通过"
    assert [s.status for s in await sends(env.app)] == [SendStatus.sent]
    body = (await env.client.get("/me/messages", headers=env.headers("member"))).json()
    assert any("照片与活动不符" in m["body"] for m in body["items"])


async def test_an_article_published_or_returned_tells_its_author(env):
    author = env.user("member")
    published = await insert_article(
        env.app,
        org=env.world["C1"],
        author=author,
        status=ArticleStatus.in_review,
        review_org=env.world["D"],
    )
    returned = await insert_article(
        env.app, org=env.world["C1"], author=author, status=ArticleStatus.in_review
    )
    resp = await env.client.post(
        f"/articles/{published.id}/review",
        json={"approve": True},
        headers=env.headers("district_admin"),
    )
    assert resp.status_code == 200, resp.text
    resp = await env.client.post(
        f"/articles/{returned.id}/review",
        json={"approve": False, "comment": "请补充活动照片"},
        headers=env.headers("community_admin"),
    )
    assert resp.status_code == 200, resp.text

    assert await inbox(env.app) == {
        (author.id, "article_published"),
        (author.id, "article_returned"),
    }


async def test_a_problem_filed_tells_the_responsible_secretary_not_the_inspector(env):
    now = utcnow()
    problem = await file_problem(
        env.app,
        env.user("inspector"),
        env.world["C1"],
        now=now,
        deadline=(now + timedelta(days=5)).date(),
    )
    assert await inbox(env.app) == {(env.user("community_admin").id, "problem_assigned")}

    # Sent back by the inspector: the secretary hears it, with the reason.
    await rectify(env.app, env.user("community_admin"), problem, now=now)
    await verify(env.app, env.user("inspector"), problem, now=now, approve=False, note="仍有垃圾")
    kinds = sorted(k for u, k in await inbox(env.app) if u == env.user("community_admin").id)
    assert kinds == ["problem_assigned", "problem_verified"]


async def test_a_problem_of_a_unit_answers_to_its_street(env):
    now = utcnow()
    await file_problem(
        env.app,
        env.user("inspector"),
        env.world["U1"],
        now=now,
        deadline=(now + timedelta(days=5)).date(),
    )
    # A unit has no admins of its own: the street's answer for it.
    assert await inbox(env.app) == {(env.user("street_admin").id, "problem_assigned")}


# --- grants ---------------------------------------------------------------------------------


async def test_without_a_grant_nothing_goes_to_wechat_but_the_message_is_in_the_app(env):
    wish = await insert_wish(env.app, community=env.world["C1"], poster=env.user("community_admin"))

    await claim(env, "member", wish.id)
    await env.jobs.drain()

    assert env.stub.count(SEND_PATH) == 0
    assert await sends(env.app) == []
    body = (await env.client.get("/me/messages", headers=env.headers("community_admin"))).json()
    assert [m["kind"] for m in body["items"]] == ["wish_claimed"]
    assert body["unread"] == 1


async def test_a_send_whose_grant_was_used_up_meanwhile_never_calls_wechat(env):
    secretary = env.user("community_admin")
    await insert_grant(env.app, secretary, TPL_WISH, 1)
    # Two notifications in one transaction: both find the one grant when written.
    async with env.app.state.sessionmaker() as session, session.begin():
        for title in ("第一个心愿", "第二个心愿"):
            await outbox.notify(
                session,
                user_ids=[secretary.id],
                content=Content(
                    kind=NotificationKind.wish_claimed,
                    title="心愿已被认领",
                    body=title,
                    subject=title,
                    status="已认领",
                    note="认领人：党员甲",
                    at=utcnow(),
                ),
            )
    await env.jobs.drain()

    assert [s.status for s in await sends(env.app)] == [SendStatus.sent, SendStatus.no_grant]
    assert env.stub.count(SEND_PATH) == 1
    assert [s["data"]["thing1"] for s in env.sends_to(secretary)] == ["第一个心愿"]
    assert await balance(env.app, secretary, TPL_WISH) == 0


async def test_each_accept_allows_one_message_and_a_retried_report_counts_once(env):
    headers = {**env.headers("member"), "Idempotency-Key": "f0e1d2c3-grant"}
    report = {
        "results": {
            TPL_WISH: "accept",
            TPL_REVIEW: "reject",
            "tpl-we-do-not-use": "accept",
            "errMsg": "requestSubscribeMessage:ok",
        }
    }
    first = await env.client.post("/me/subscriptions", json=report, headers=headers)
    again = await env.client.post("/me/subscriptions", json=report, headers=headers)
    assert first.status_code == again.status_code == 200, first.text
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert await balance(env.app, env.user("member"), TPL_WISH) == 1

    # A new request (a new key) is a new accept.
    await grant(env, "member", TPL_WISH)
    shown = (await env.client.get("/me/subscriptions", headers=env.headers("member"))).json()
    by_template = {t["template_id"]: t for t in shown["templates"]}
    assert set(by_template) == {TPL_WISH, TPL_REVIEW, TPL_PROBLEM, TPL_REMIND}
    assert by_template[TPL_WISH]["balance"] == 2
    assert by_template[TPL_WISH]["kinds"] == ["wish_claimed", "wish_confirmed", "wish_fulfilled"]
    assert by_template[TPL_REVIEW]["balance"] == 0
    assert await balance(env.app, env.user("member"), "tpl-we-do-not-use") == 0


async def test_a_choice_wechat_does_not_make_is_422(env):
    resp = await env.client.post(
        "/me/subscriptions",
        json={"results": {TPL_WISH: "yes please"}},
        headers=env.headers("member"),
    )
    assert resp.status_code == 422
    assert resp.json()["code"] == "validation_error"


# --- delivery: once, retries, refusals --------------------------------------------------------


async def test_a_send_run_twice_after_another_or_at_once_sends_one_message(env):
    secretary = env.user("community_admin")
    await insert_grant(env.app, secretary, TPL_WISH, 5)
    now = utcnow()
    first = await insert_send(env.app, secretary)
    assert await run_deliver(env, first, now) == Delivery.sent
    assert await run_deliver(env, first, now) == Delivery.skipped

    second = await insert_send(env.app, secretary)
    outcomes = await asyncio.gather(run_deliver(env, second, now), run_deliver(env, second, now))

    assert sorted(outcomes) == [Delivery.sent, Delivery.skipped]
    assert env.stub.count(SEND_PATH) == 2
    assert len(env.sends_to(secretary)) == 2
    assert await balance(env.app, secretary, TPL_WISH) == 3


async def test_43101_is_final_and_empties_the_grant(env):
    secretary = env.user("community_admin")
    await insert_grant(env.app, secretary, TPL_WISH, 3)
    env.stub.forced_errors[SEND_PATH] = [43101]
    now = utcnow()
    send_id = await insert_send(env.app, secretary)

    assert await run_deliver(env, send_id, now) == Delivery.failed
    (send,) = await sends(env.app)
    assert (send.status, send.last_errcode) == (SendStatus.failed, 43101)
    assert await balance(env.app, secretary, TPL_WISH) == 0
    # Nothing brings it back: not the sweep, not a second run.
    async with env.app.state.sessionmaker() as session:
        assert await delivery.due_sends(session, now=now + timedelta(days=1)) == []
    assert await run_deliver(env, send_id, now + timedelta(days=1)) == Delivery.skipped
    assert env.stub.count(SEND_PATH) == 1
    assert env.stub.subscribe_sends == []


async def test_a_busy_wechat_is_tried_again_later_and_the_message_goes_once(env):
    secretary = env.user("community_admin")
    await insert_grant(env.app, secretary, TPL_WISH, 1)
    env.stub.forced_errors[SEND_PATH] = [-1]
    now = utcnow()
    send_id = await insert_send(env.app, secretary)

    assert await run_deliver(env, send_id, now) == Delivery.retry
    (send,) = await sends(env.app)
    assert send.status == SendStatus.pending
    assert send.next_attempt_at == now + timedelta(minutes=1)
    assert await balance(env.app, secretary, TPL_WISH) == 1  # given back meanwhile
    async with env.app.state.sessionmaker() as session:
        assert await delivery.due_sends(session, now=now + timedelta(seconds=59)) == []

    later = now + timedelta(minutes=1)
    task = await env.jobs.sweep.kiq(later)
    assert (await task.wait_result()).return_value == 1

    (send,) = await sends(env.app)
    assert (send.status, send.attempts) == (SendStatus.sent, 2)
    assert env.stub.count(SEND_PATH) == 2
    assert len(env.sends_to(secretary)) == 1
    assert await balance(env.app, secretary, TPL_WISH) == 0


async def test_a_send_that_keeps_failing_gives_up_after_the_last_attempt(env):
    secretary = env.user("community_admin")
    await insert_grant(env.app, secretary, TPL_WISH, 1)
    env.stub.forced_errors[SEND_PATH] = [-1, 45009, -1, -1]
    now = utcnow()
    send_id = await insert_send(env.app, secretary)

    outcomes = []
    for wait in (0, 1, 2):  # minutes of backoff before each attempt
        now += timedelta(minutes=wait)
        outcomes.append(await run_deliver(env, send_id, now))

    assert outcomes == [Delivery.retry, Delivery.retry, Delivery.failed]  # 3 attempts allowed
    (send,) = await sends(env.app)
    assert send.status == SendStatus.failed
    assert await balance(env.app, secretary, TPL_WISH) == 1
    assert env.stub.count(SEND_PATH) == 3


async def test_a_refusal_about_the_message_is_final_but_keeps_the_grant(env):
    stranger = await make_user(env.app, "外人", community=env.world["C1"], openid="unknown-openid")
    await insert_grant(env.app, stranger, TPL_WISH, 1)
    send_id = await insert_send(env.app, stranger)

    assert await run_deliver(env, send_id, utcnow()) == Delivery.failed
    (send,) = await sends(env.app)
    assert send.last_errcode == 40003
    assert await balance(env.app, stranger, TPL_WISH) == 1


async def test_a_claim_left_by_a_dead_worker_is_taken_over_without_a_second_grant(env):
    secretary = env.user("community_admin")
    await insert_grant(env.app, secretary, TPL_WISH, 1)  # one left after the dead worker took one
    now = utcnow()
    send_id = await insert_send(
        env.app,
        secretary,
        status=SendStatus.sending,
        attempts=1,
        grant_taken=True,
        lease_until=now + timedelta(minutes=1),
    )
    assert await run_deliver(env, send_id, now) == Delivery.skipped  # still leased

    later = now + timedelta(minutes=2)
    async with env.app.state.sessionmaker() as session:
        assert await delivery.due_sends(session, now=later) == [send_id]
    assert await run_deliver(env, send_id, later) == Delivery.sent
    assert await balance(env.app, secretary, TPL_WISH) == 1
    assert len(env.sends_to(secretary)) == 1


async def test_a_rolled_back_transaction_hands_nothing_over_and_a_lost_hand_over_is_swept(env):
    secretary = env.user("community_admin")
    await insert_grant(env.app, secretary, TPL_WISH, 2)
    content = Content(
        kind=NotificationKind.wish_claimed,
        title="心愿已被认领",
        body="党员甲认领了心愿",
        subject="给孩子买一个书包",
        status="已认领",
        note="认领人：党员甲",
        at=utcnow(),
    )
    async with env.app.state.sessionmaker() as session:
        await outbox.notify(session, user_ids=[secretary.id], content=content)
        await session.rollback()
    await env.jobs.drain()
    assert await sends(env.app) == []
    assert env.stub.count(SEND_PATH) == 0

    # A send committed but never handed over (the process died): the sweep finds it
    # once its grace is over, not before.
    send_id = await insert_send(env.app, secretary, next_attempt_at=utcnow())
    task = await env.jobs.sweep.kiq(utcnow() - timedelta(seconds=1))
    assert (await task.wait_result()).return_value == 0
    task = await env.jobs.sweep.kiq(utcnow() + timedelta(seconds=1))
    assert (await task.wait_result()).return_value == 1
    assert [s.id for s in await sends(env.app) if s.status == SendStatus.sent] == [send_id]
    assert len(env.sends_to(secretary)) == 1


async def test_savepoints_after_a_notification_hand_its_send_over_at_the_commit_only(env):
    """Savepoints after `notify` (an hour entry or a points grant written once) leave
    the transaction going: its send is handed over when it commits, not before, and
    not dropped. SQLAlchemy fires after_commit for a released savepoint and
    after_rollback for a refused one; the outbox listened to both as if the request had
    ended, so a wish's confirmation went to WeChat before its row was committed (the
    job found nothing and skipped it: 1 run in 4 on PostgreSQL, then the sweep)."""
    secretary = env.user("community_admin")
    await insert_grant(env.app, secretary, TPL_WISH, 1)
    content = Content(
        kind=NotificationKind.wish_claimed,
        title="心愿已被认领",
        body="党员甲认领了心愿",
        subject="给孩子买一个书包",
        status="已认领",
        note="认领人：党员甲",
        at=utcnow(),
    )
    async with env.app.state.sessionmaker() as session:
        await outbox.notify(session, user_ids=[secretary.id], content=content)
        async with session.begin_nested():
            await session.execute(text("SELECT 1"))
        with pytest.raises(DBAPIError):
            async with session.begin_nested():
                await session.execute(text("SELECT * FROM no_such_table"))
        await env.jobs.drain()  # nothing may have been handed over yet
        assert env.stub.count(SEND_PATH) == 0
        await session.commit()
    await env.jobs.drain()
    assert [s.status for s in await sends(env.app)] == [SendStatus.sent]
    assert len(env.sends_to(secretary)) == 1


def test_the_keywords_of_a_template_can_be_renamed_and_values_fit_their_rules():
    assert delivery.template_data(
        {
            "subject": "清理背街小巷",
            "status": "已通过，感谢",
            "time": "2026年11月22日 09:00",
            "note": "",
        },
        {"subject": "thing2", "status": "phrase5", "time": "date1", "note": "thing9"},
    ) == {
        "thing2": "清理背街小巷",
        "phrase5": "已通过感谢",
        "date1": "2026年11月22日 09:00",
        "thing9": "无",
    }


# --- the in-app message box ---------------------------------------------------------------------


async def _messages_for(env: Env, who: str, *titles: str) -> None:
    async with env.app.state.sessionmaker() as session, session.begin():
        for title in titles:
            await outbox.notify(
                session,
                user_ids=[env.user(who).id],
                content=Content(
                    kind=NotificationKind.report_in_reminder,
                    title=title,
                    body=title,
                    subject=title,
                    status="待报到",
                    note=title,
                    at=utcnow(),
                ),
            )


async def test_my_messages_list_unread_first_newest_first_and_mark_read(env):
    await _messages_for(env, "member", "一", "二", "三")
    headers = env.headers("member")
    items = (await env.client.get("/me/messages", headers=headers)).json()["items"]
    assert [m["title"] for m in items] == ["三", "二", "一"]

    resp = await env.client.post(f"/me/messages/{items[0]['id']}/read", headers=headers)
    assert resp.status_code == 200
    assert resp.json()["read"] is True
    again = await env.client.post(f"/me/messages/{items[0]['id']}/read", headers=headers)
    assert again.json()["read_at"] == resp.json()["read_at"]

    body = (await env.client.get("/me/messages", headers=headers)).json()
    assert [(m["title"], m["read"]) for m in body["items"]] == [
        ("二", False),
        ("一", False),
        ("三", True),
    ]
    assert (body["total"], body["unread"]) == (3, 2)
    unread = (await env.client.get("/me/messages?unread=true", headers=headers)).json()
    assert [m["title"] for m in unread["items"]] == ["二", "一"]
    page = (await env.client.get("/me/messages?page=2&page_size=2", headers=headers)).json()
    assert [m["title"] for m in page["items"]] == ["三"]

    done = await env.client.post("/me/messages/read-all", headers=headers)
    assert done.json() == {"marked": 2}
    assert (await env.client.get("/me/messages", headers=headers)).json()["unread"] == 0


async def test_a_long_inbox_pages_unread_first_and_counts_unread_on_every_page(env):
    # Seven of the member's messages, three of them read; the secretary's own are
    # never listed to the member, nor counted.
    titles = [str(n) for n in range(1, 8)]
    await _messages_for(env, "member", *titles)
    await _messages_for(env, "community_admin", "别人的一", "别人的二")
    headers = env.headers("member")
    listed = (await env.client.get("/me/messages?page_size=100", headers=headers)).json()
    by_title = {m["title"]: m["id"] for m in listed["items"]}
    for title in ("2", "5", "7"):
        await env.client.post(f"/me/messages/{by_title[title]}/read", headers=headers)

    pages = [
        (await env.client.get(f"/me/messages?page={n}&page_size=3", headers=headers)).json()
        for n in (1, 2, 3, 4)
    ]
    assert [[(m["title"], m["read"]) for m in p["items"]] for p in pages] == [
        [("6", False), ("4", False), ("3", False)],
        [("1", False), ("7", True), ("5", True)],
        [("2", True)],
        [],
    ]
    assert [(p["total"], p["unread"], p["page"], p["page_size"]) for p in pages] == [
        (7, 4, n, 3) for n in (1, 2, 3, 4)
    ]
    first = pages[0]["items"][0]
    assert set(first) == {
        "id", "kind", "title", "body", "target_type", "target_id", "created_at", "read_at",
        "read",
    }  # fmt: skip
    assert (first["kind"], first["body"], first["read_at"]) == ("report_in_reminder", "6", None)
    # A listed message reads as the one answered by marking it read, field for field.
    again = await env.client.post(f"/me/messages/{by_title['7']}/read", headers=headers)
    assert pages[1]["items"][1] == again.json()

    unread = [
        (
            await env.client.get(f"/me/messages?unread=true&page={n}&page_size=3", headers=headers)
        ).json()
        for n in (1, 2, 3)
    ]
    assert [[m["title"] for m in p["items"]] for p in unread] == [["6", "4", "3"], ["1"], []]
    assert [(p["total"], p["unread"]) for p in unread] == [(4, 4), (4, 4), (4, 4)]

    theirs = (await env.client.get("/me/messages", headers=env.headers("community_admin"))).json()
    assert ([m["title"] for m in theirs["items"]], theirs["total"], theirs["unread"]) == (
        ["别人的二", "别人的一"],
        2,
        2,
    )


async def test_someone_elses_message_is_404_and_stays_unread(env):
    await _messages_for(env, "member", "本月报到提醒")
    theirs = (await env.client.get("/me/messages", headers=env.headers("member"))).json()
    message_id = theirs["items"][0]["id"]

    resp = await env.client.post(
        f"/me/messages/{message_id}/read", headers=env.headers("community_admin")
    )
    assert resp.status_code == 404
    assert resp.json()["code"] == "not_found"
    mine = (await env.client.get("/me/messages", headers=env.headers("community_admin"))).json()
    assert mine["items"] == []
    assert (
        await env.client.post("/me/messages/read-all", headers=env.headers("community_admin"))
    ).json() == {"marked": 0}
    theirs = (await env.client.get("/me/messages", headers=env.headers("member"))).json()
    assert theirs["unread"] == 1


async def test_grants_given_before_binding_a_phone_stay_with_the_person(env):
    # A newcomer's first act in the mini-program may be to accept a template; the
    # empty account it happens on is then merged into the roster entry by bind-phone.
    roster = await make_user(
        env.app, "新来的党员", community=env.world["C1"], phone="13912340000", openid=None
    )
    login = await env.client.post("/auth/wechat-login", json={"code": "o-newcomer#1"})
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    resp = await env.client.post(
        "/me/subscriptions", json={"results": {TPL_WISH: "accept"}}, headers=headers
    )
    assert resp.status_code == 200, resp.text

    bound = await env.client.post(
        "/auth/bind-phone", json={"code": "13912340000#1"}, headers=headers
    )

    assert bound.status_code == 200, bound.text
    assert bound.json()["id"] == roster.id
    async with env.app.state.sessionmaker() as session:
        grants = (await session.execute(select(SubscribeGrant))).scalars().all()
    assert [(g.user_id, g.template_id, g.balance) for g in grants] == [(roster.id, TPL_WISH, 1)]
