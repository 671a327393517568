"""The scheduled scans: problems due soon, overdue and escalated; the monthly report-in
reminder; the yearly wish-quota reminder, each declared by its domain (`SCANS`) and
run by `scans.run`. Each takes `now`; two runs at once do the work once, and a later
run never repeats a message."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

import pytest
from sqlmodel import select

from app.core.db import utcnow
from app.core.timeutil import local
from app.models.article import ArticleImportance, ArticleStatus
from app.models.notification import JobRun, Message
from app.models.problem import ProblemStatus
from app.models.user import User
from app.models.wish import WishStatus
from app.services.notifications import scans
from app.services.notifications.scans import ScanResult
from tests.factories.articles import info_officer, insert_article
from tests.factories.problems import insert_problem, shanghai
from tests.factories.tasks import make_report_in
from tests.factories.users import make_user
from tests.factories.wishes import insert_wish
from tests.routers import test_notifications as base
from tests.routers.test_notifications import TPL_PROBLEM, Env, grant

# Everything written here leaves the dashboards' kept sums exact (tests/support/counts.py).
pytestmark = pytest.mark.usefixtures("counts_stay_exact")

# The app with templates and its per-test environment, shared with test_notifications.
napp = base.napp
env = base.env


SCANS = {s.job: s for s in scans.every_scan()}


async def scan(env: Env, name: str, now) -> ScanResult:
    result = await scans.run(
        SCANS[name],
        sessionmaker=env.app.state.sessionmaker,
        settings=env.app.state.settings,
        now=now,
    )
    await env.jobs.drain()
    return result


async def received(env: Env) -> Counter[tuple[str, str]]:
    """Messages by (world person, kind); people outside the world by name."""
    names = {u.id: key for key, u in env.world.people.items()}
    async with env.app.state.sessionmaker() as session:
        rows = await session.execute(select(Message.user_id, Message.kind, User.name).join(User))
        return Counter((names.get(uid, name), kind) for uid, kind, name in rows.all())


async def problem_at(env: Env, org: str, deadline, **kw) -> None:
    await insert_problem(
        env.app, org=env.world[org], reporter=env.user("inspector"), deadline=deadline, **kw
    )


# --- supervision ----------------------------------------------------------------------------


async def test_two_scans_at_once_escalate_a_long_overdue_problem_once(env):
    now = utcnow()
    today = local(now).date()
    await grant(env, "district_admin", TPL_PROBLEM)
    await problem_at(env, "C1", today - timedelta(days=5))  # overdue 4+ days: the district's
    await problem_at(env, "C3", today + timedelta(days=10))  # nothing to say yet

    results = await asyncio.gather(scan(env, "problem_scan", now), scan(env, "problem_scan", now))

    assert sorted(r.ran for r in results) == [False, True]
    expected = Counter(
        {
            ("community_admin", "problem_overdue"): 1,
            ("street_admin", "problem_escalated"): 1,
            ("district_admin", "problem_escalated"): 1,
        }
    )
    assert await received(env) == expected
    (sent,) = env.stub.subscribe_sends
    assert sent["touser"] == env.user("district_admin").openid
    assert sent["data"]["phrase2"] == "升级督办"

    # Tomorrow's scan runs, and tells nobody anything again.
    tomorrow = await scan(env, "problem_scan", now + timedelta(days=1))
    assert (tomorrow.ran, tomorrow.notified) == (True, 0)
    assert await received(env) == expected
    async with env.app.state.sessionmaker() as session:
        runs = (await session.execute(select(JobRun.period).order_by(JobRun.id))).scalars()
        assert list(runs) == [today.isoformat(), (today + timedelta(days=1)).isoformat()]


async def test_a_problem_just_overdue_goes_to_the_street_and_days_later_to_the_district(env):
    now = utcnow()
    today = local(now).date()
    await problem_at(env, "C1", today - timedelta(days=1))

    await scan(env, "problem_scan", now)
    assert await received(env) == Counter(
        {("community_admin", "problem_overdue"): 1, ("street_admin", "problem_escalated"): 1}
    )

    await scan(env, "problem_scan", now + timedelta(days=3))
    assert await received(env) == Counter(
        {
            ("community_admin", "problem_overdue"): 1,
            ("street_admin", "problem_escalated"): 1,
            ("district_admin", "problem_escalated"): 1,
        }
    )


async def test_problems_due_by_the_next_working_day_are_announced_once(env):
    friday = shanghai(2026, 11, 20, 9, 0)  # the next working day is Monday the 23rd
    for day in (20, 22, 23):  # today, Sunday, Monday: due soon
        await problem_at(env, "C1", friday.date().replace(day=day))
    await problem_at(env, "C1", friday.date().replace(day=24))  # Tuesday: not yet

    result = await scan(env, "problem_scan", friday)

    assert result.notified == 3
    assert await received(env) == Counter({("community_admin", "problem_due_soon"): 3})
    # Saturday: nobody hears "due soon" again; Friday's problem is overdue now.
    await scan(env, "problem_scan", friday + timedelta(days=1))
    assert await received(env) == Counter(
        {
            ("community_admin", "problem_due_soon"): 3,
            ("community_admin", "problem_overdue"): 1,
            ("street_admin", "problem_escalated"): 1,
        }
    )


async def test_a_units_overdue_problem_goes_to_the_street_once_not_twice(env):
    now = utcnow()
    await problem_at(env, "U1", local(now).date() - timedelta(days=1))

    await scan(env, "problem_scan", now)

    # The street answers for the unit: told it is overdue, not also "escalated to you".
    assert await received(env) == Counter({("street_admin", "problem_overdue"): 1})


async def test_closed_problems_are_never_chased(env):
    now = utcnow()
    await problem_at(env, "C1", local(now).date() - timedelta(days=5), status=ProblemStatus.closed)
    result = await scan(env, "problem_scan", now)
    assert (result.ran, result.notified) == (True, 0)


# --- the monthly report-in ---------------------------------------------------------------------


async def unit_reminder_body(env) -> str:
    async with env.app.state.sessionmaker() as session:
        body = await session.scalar(
            select(Message.body).where(Message.kind == "report_in_unit_reminder")
        )
    return str(body)


def reminder_day_this_month(day: int):
    # make_report_in reports in the current month, so the scan runs in it too.
    return local(utcnow()).replace(day=day, hour=9, minute=0, second=0, microsecond=0)


async def test_party_members_who_have_not_reported_get_one_reminder_from_the_20th(env):
    await make_report_in(env.app, env.user("member"))
    await make_report_in(env.app, env.user("street_admin"))
    await make_user(env.app, "群众甲", community=env.world["C1"], party=False)
    await make_user(env.app, "单位党员", unit=env.world["U1"], party=True)  # no home community

    early = await scan(env, "report_in_reminders", reminder_day_this_month(19))
    assert not early.ran
    assert await received(env) == Counter()

    day = reminder_day_this_month(20)
    results = await asyncio.gather(
        scan(env, "report_in_reminders", day), scan(env, "report_in_reminders", day)
    )
    assert sorted(r.ran for r in results) == [False, True]
    owing = ("district_admin", "other_street_admin", "community_admin")
    owing += ("other_community_admin", "inspector")
    # U1's secretary hears how many of U1's party members still owe it: the one living
    # nowhere (the member reported). UD has no party members: its secretary hears nothing.
    expected = Counter({(who, "report_in_reminder"): 1 for who in owing})
    expected[("unit_admin", "report_in_unit_reminder")] = 1
    assert await received(env) == expected
    assert (
        await unit_reminder_body(env)
        == f"本单位还有 1 名党员{day.year}年{day.month}月没有到社区报到"
    )

    # The next days of the month: done already.
    later = await scan(env, "report_in_reminders", day + timedelta(days=2))
    assert not later.ran
    assert sum((await received(env)).values()) == len(owing) + 1


async def test_a_reminder_day_the_scheduler_missed_is_made_up_the_next_day(env):
    result = await scan(env, "report_in_reminders", reminder_day_this_month(21))
    assert result.ran
    # And U1's secretary: the world's member works at U1 and has not reported.
    assert result.notified == len(env.world.on_roster()) + 1


# --- the yearly wish quota ---------------------------------------------------------------------


async def test_party_members_without_a_kept_claim_this_year_are_reminded_in_q4(env):
    year_day = local(utcnow()).replace(hour=9, minute=0, second=0, microsecond=0)
    unit_member = await make_user(env.app, "单位党员", unit=env.world["U1"], party=True)
    await make_user(env.app, "群众甲", community=env.world["C1"], party=False)
    await insert_wish(
        env.app,
        community=env.world["C1"],
        poster=env.user("community_admin"),
        status=WishStatus.claimed,
        claimant=env.user("member"),
    )
    # Claimed and given up again: that does not count.
    released = await insert_wish(
        env.app, community=env.world["C1"], poster=env.user("community_admin")
    )
    for action in ("claim", "release"):
        resp = await env.client.post(
            f"/wishes/{released.id}/{action}", headers=env.headers("inspector")
        )
        assert resp.status_code == 200, resp.text
    before = Counter(await received(env))

    early = await scan(env, "wish_quota_reminders", year_day.replace(month=10, day=14))
    assert not early.ran

    result = await scan(env, "wish_quota_reminders", year_day.replace(month=10, day=15))

    owing = [k for k in env.world.on_roster() if k != "member"] + [unit_member.name]
    assert result.notified == len(owing)
    after = await received(env) - before
    assert after == Counter({(who, "wish_quota_reminder"): 1 for who in owing})
    again = await scan(env, "wish_quota_reminders", year_day.replace(month=12, day=1))
    assert not again.ran


# --- urgent articles --------------------------------------------------------------------------


async def test_a_late_urgent_article_is_chased_at_its_level_and_escalated_once_per_level(env):
    now = utcnow()
    author = await info_officer(env.world)
    late = now - timedelta(hours=2, minutes=1)
    article = await insert_article(
        env.app,
        org=env.world["C1"],
        author=author,
        status=ArticleStatus.in_review,
        urgent=True,
        importance=ArticleImportance.routine,
        first_submitted_at=late,
    )
    # Not urgent, or urgent but not late yet: nothing.
    await insert_article(
        env.app,
        org=env.world["C2"],
        author=author,
        status=ArticleStatus.in_review,
        first_submitted_at=late,
    )
    await insert_article(
        env.app,
        org=env.world["C1"],
        author=author,
        status=ArticleStatus.in_review,
        urgent=True,
        first_submitted_at=now - timedelta(minutes=60),
    )

    await scan(env, "article_urgent_scan", now)
    # The routine article's top is C1, yet a late one is the street's concern too.
    assert await received(env) == Counter(
        {
            ("community_admin", "article_review_overdue"): 1,
            ("street_admin", "article_review_escalated"): 1,
        }
    )
    # Later quarter hours find it late again and say nothing new.
    again = await scan(env, "article_urgent_scan", now + timedelta(minutes=15))
    assert again.ran and again.notified == 0

    # Approved up to the street (as a major one would be), late there too: the street
    # is chased and the district told, each once.
    async with env.app.state.sessionmaker() as session, session.begin():
        row = await session.get(type(article), article.id)
        assert row is not None
        row.review_org_id, row.review_level_at = env.world["S1"].id, late
    await scan(env, "article_urgent_scan", now + timedelta(minutes=30))
    assert await received(env) == Counter(
        {
            ("community_admin", "article_review_overdue"): 1,
            ("street_admin", "article_review_escalated"): 1,
            ("street_admin", "article_review_overdue"): 1,
            ("district_admin", "article_review_escalated"): 1,
        }
    )


def test_every_domain_scan_is_found_and_each_name_is_one_scan():
    assert set(SCANS) == {
        "problem_scan",
        "article_urgent_scan",
        "indicator_scan",
        "report_in_reminders",
        "service_order_scan",
        "shop_reservations_expire",
        "wish_quota_reminders",
    }
