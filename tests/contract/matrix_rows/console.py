"""Rows for the PC console and its login.

The login's first step and the page that shows it answer anyone; the confirmation
is any admin's or unit party secretary's (a ticket is no record in anyone's reach); the poll answers the
browser that holds the ticket's secret, whoever else it is. The console's screens
take the console session (Row.console): a member is 403, and on each screen an
admin sees only what they reach: the wish of C1 awaiting review is on the neighbours'
screens neither as a line nor as a count, and reviewing it is 404 to them.
"""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import select

from app.core.db import utcnow
from app.models.api_key import ApiKey
from app.models.article import ArticleStatus
from app.models.console import ConsoleLoginTicket
from app.models.problem import Point, ProblemStatus
from app.models.user import Role, RoleGrant
from app.models.volunteer_hours import HourStatus
from app.models.wish import WishStatus
from app.routers.console import LOGIN_COOKIE, static_assets
from app.services.api_keys import hash_key
from app.services.console_login import digest, new_secret
from tests.contract.matrix_rows.common import Req, Row, fixed, statuses, uuid
from tests.contract.matrix_rows.inspections import _recorded as _recorded_visit
from tests.contract.matrix_rows.media import _jpeg
from tests.factories.articles import info_officer, insert_article
from tests.factories.pairings import make_liaison, make_pairing
from tests.factories.points import insert_redemption
from tests.factories.problems import insert_problem
from tests.factories.reports import insert_report
from tests.factories.tasks import make_task
from tests.factories.users import make_user
from tests.factories.volunteer_hours import insert_entry
from tests.factories.wishes import insert_wish
from tests.factories.world import World

WISH_TITLE = "矩阵待审心愿"


async def _ticket(world: World) -> tuple[str, str]:
    ticket, secret = new_secret(), new_secret()
    async with world.app.state.sessionmaker() as session, session.begin():
        session.add(
            ConsoleLoginTicket(
                ticket_hash=digest(ticket),
                browser_hash=digest(secret),
                expires_at=utcnow() + timedelta(minutes=2),
            )
        )
    return ticket, secret


async def _confirm(world: World, caller: str) -> Req:
    ticket, _ = await _ticket(world)
    return Req(path=f"/api/v1/auth/console-login/{ticket}/confirm")


async def _poll(world: World, caller: str) -> Req:
    ticket, secret = await _ticket(world)
    return Req(
        path=f"/api/v1/auth/console-login/{ticket}", headers={"Cookie": f"{LOGIN_COOKIE}={secret}"}
    )


async def _pending_wish_in_c1(world: World) -> int:
    wish = await insert_wish(
        world.app,
        community=world["C1"],
        poster=world.user("community_admin"),
        status=WishStatus.pending_review,
        title=WISH_TITLE,
    )
    assert wish.id is not None
    return wish.id


async def _wish_reviews(world: World, caller: str) -> Req:
    await _pending_wish_in_c1(world)
    return Req(path="/console/reviews/wishes")


def _sees_c1_wish_only_if_in_reach(world: World, caller: str, page: object) -> None:
    assert isinstance(page, str)
    assert (WISH_TITLE in page) == (caller == "right"), caller


async def _home(world: World, caller: str) -> Req:
    await _pending_wish_in_c1(world)
    return Req(path="/console/")


def _counts_c1_wish_only_if_in_reach(world: World, caller: str, page: object) -> None:
    assert isinstance(page, str)
    count = page.split('data-todo="wishes"', 1)[1].split("data-count>", 1)[1].split("<", 1)[0]
    assert int(count) == (1 if caller == "right" else 0), (caller, count)


async def _approve(world: World, caller: str) -> Req:
    wish_id = await _pending_wish_in_c1(world)
    return Req(path=f"/console/reviews/wishes/{wish_id}", data={"decision": "approve"})


async def _pending_hours_in_c1(world: World) -> int:
    entry = await insert_entry(
        world.app,
        user=world.user("member"),
        org=world["C1"],
        minutes=90,
        status=HourStatus.pending,
        started_at=utcnow() - timedelta(days=1),
    )
    assert entry.id is not None
    return entry.id


async def _hour_reviews(world: World, caller: str) -> Req:
    await _pending_hours_in_c1(world)
    return Req(path="/console/reviews/hours")


def _lists_c1_only_if_in_reach(world: World, caller: str, page: object) -> None:
    # C1's record is the only one in the world awaiting review.
    assert isinstance(page, str)
    assert ("data-item=" in page) == (caller == "right"), caller


async def _approve_hours(world: World, caller: str) -> Req:
    entry_id = await _pending_hours_in_c1(world)
    return Req(path=f"/console/reviews/hours/{entry_id}", data={"decision": "approve"})


# --- the undo views (r2s4-console2): revoke an approval, withdraw a confirmation -------


async def _revoke_hours(world: World, caller: str) -> Req:
    entry = await insert_entry(
        world.app, user=world.user("member"), org=world["C1"], status=HourStatus.approved
    )
    return Req(path=f"/console/reviews/hours/{entry.id}/revoke", data={"reason": "重复登记"})


async def _confirmed_wish_in_c1(world: World) -> int:
    wish = await insert_wish(
        world.app,
        community=world["C1"],
        poster=world.user("member"),
        status=WishStatus.confirmed,
        claimant=world.user("inspector"),
        admin=world.user("community_admin"),
        title=WISH_TITLE,
    )
    assert wish.id is not None
    return wish.id


async def _withdraw_confirmation(world: World, caller: str) -> Req:
    wish_id = await _confirmed_wish_in_c1(world)
    return Req(
        path=f"/console/reviews/wishes/{wish_id}/withdraw-confirmation",
        data={"reason": "受助人反映未收到"},
    )


async def _article_in_review_at_c1(world: World) -> int:
    author = await info_officer(world)
    article = await insert_article(
        world.app, org=world["C1"], author=author, status=ArticleStatus.in_review
    )
    assert article.id is not None
    return article.id


async def _article_reviews(world: World, caller: str) -> Req:
    await _article_in_review_at_c1(world)
    return Req(path="/console/reviews/articles")


async def _return_article(world: World, caller: str) -> Req:
    article_id = await _article_in_review_at_c1(world)
    return Req(
        path=f"/console/reviews/articles/{article_id}",
        data={"decision": "return", "reason": "请补充照片"},
    )


def _member_listed_only_if_in_reach(world: World, caller: str, page: object) -> None:
    assert isinstance(page, str)
    listed = f'data-person="{world.user("member").id}"' in page
    assert listed == (caller == "right"), caller


async def _add_person(world: World, caller: str) -> Req:
    return Req(
        path="/console/roster",
        data={"name": "新人", "phone": "13855556666", "community_id": str(world["C1"].id)},
    )


async def _import(world: World, caller: str) -> Req:
    csv = f"姓名,手机号,社区\n新人,13855557777,{world['C1'].id}\n".encode()
    return Req(path="/console/roster/import", files={"file": ("r.csv", csv)})


def _imported_only_if_in_reach(world: World, caller: str, page: object) -> None:
    assert isinstance(page, str)
    created = page.split("data-created>", 1)[1].split("<", 1)[0]
    assert int(created) == (1 if caller == "right" else 0), (caller, created)


async def _member_page(world: World, caller: str) -> Req:
    return Req(path=f"/console/roster/{world.user('member').id}")


async def _edit_member(world: World, caller: str) -> Req:
    return Req(
        path=f"/console/roster/{world.user('member').id}",
        data={"name": "改名", "community_id": str(world["C1"].id), "is_party_member": "true"},
    )


async def _grant(world: World, caller: str) -> Req:
    return Req(
        path=f"/console/roster/{world.user('member').id}/roles",
        data={"role": "info_officer", "org_id": str(world["C1"].id)},
    )


async def _revoke(world: World, caller: str) -> Req:
    target = await make_user(
        world.app, "信息员", community=world["C1"], roles=[(Role.info_officer, world["C1"])]
    )
    async with world.app.state.sessionmaker() as s:
        role_id = (
            await s.execute(select(RoleGrant.id).where(RoleGrant.user_id == target.id))
        ).scalar_one()
    return Req(path=f"/console/roster/{target.id}/roles/{role_id}/revoke", data={})


PROBLEM_TEXT = "矩阵督办问题"


async def _problem_in_c1(world: World, status: ProblemStatus = ProblemStatus.open) -> int:
    problem = await insert_problem(
        world.app,
        org=world["C1"],
        reporter=world.user("inspector"),
        # Rectified by C1's secretary, as the board's flow goes (so the inspector who
        # filed it may verify it).
        rectifier=world.user("community_admin"),
        status=status,
        description=PROBLEM_TEXT,
    )
    assert problem.id is not None
    return problem.id


async def _board(world: World, caller: str) -> Req:
    await _problem_in_c1(world)
    return Req(path="/console/problems")


def _c1_problem_only_if_in_reach(world: World, caller: str, page: object) -> None:
    assert isinstance(page, str)
    assert (PROBLEM_TEXT in page) == (caller == "right"), caller


async def _rectify(world: World, caller: str) -> Req:
    problem_id = await _problem_in_c1(world)
    return Req(
        path=f"/console/problems/{problem_id}/rectify",
        data={"note": "已清理"},
        files=[("photos", ("p.jpg", _jpeg(), "image/jpeg"))],
    )


async def _verify(world: World, caller: str) -> Req:
    problem_id = await _problem_in_c1(world, ProblemStatus.rectified)
    return Req(path=f"/console/problems/{problem_id}/verify", data={"decision": "approve"})


async def _own_thumbnail(world: World, caller: str) -> Req:
    # The right admin's own upload, attached to nothing: theirs alone to see, as on
    # GET /media/{id}/thumbnail.
    transport = httpx.ASGITransport(app=world.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        resp = await client.post(
            "/api/v1/media",
            files={"file": ("p.jpg", _jpeg(), "image/jpeg")},
            headers=world.headers("community_admin"),
        )
    assert resp.status_code == 201, resp.text
    return Req(path=f"/console/media/{resp.json()['id']}/thumbnail")


async def _ledger(world: World, caller: str) -> Req:
    return Req(path="/console/exports/members.xlsx", params={"org_id": world["C1"].id, "year": ""})


async def _dashboard(world: World, caller: str) -> Req:
    return Req(path="/console/dashboard", params={"org_id": world["C1"].id})


async def _share_dashboard(world: World, caller: str) -> Req:
    return Req(path="/console/dashboard/share", params={"org_id": world["C1"].id})


def _c1_dashboard_in_the_menu(world: World, caller: str, page: object) -> None:
    assert isinstance(page, str)
    assert 'class="bar"' in page and f'data-dashboard="{world["C1"].id}"' in page


TASK_TITLE = "矩阵任务"


async def _task_in_c1(world: World) -> int:
    task = await make_task(world.app, world["C1"], title=TASK_TITLE)
    assert task.id is not None
    return task.id


async def _tasks(world: World, caller: str) -> Req:
    await _task_in_c1(world)
    return Req(path="/console/tasks")


def _c1_task_only_if_in_reach(world: World, caller: str, page: object) -> None:
    assert isinstance(page, str)
    assert (TASK_TITLE in page) == (caller == "right"), caller


async def _create_task(world: World, caller: str) -> Req:
    return Req(
        path="/console/tasks",
        data={
            "title": "清洁家园",
            "org_id": str(world["C1"].id),
            "category": "sanitation",
            "starts_at": "2030-01-05T09:00",
            "ends_at": "2030-01-05T11:00",
            "lat": "",
            "lng": "",
        },
    )


async def _task_page(world: World, caller: str) -> Req:
    return Req(path=f"/console/tasks/{await _task_in_c1(world)}")


async def _c1_key(world: World) -> int:
    async with world.app.state.sessionmaker() as session, session.begin():
        key = ApiKey(
            name="矩阵密钥",
            org_id=world["C1"].id,
            scopes="read:tasks",
            prefix="cw_console",
            key_hash=hash_key(f"cw_console-{uuid.uuid4().hex}"),
            rate_limit_per_minute=60,
        )
        session.add(key)
    assert key.id is not None
    return key.id


async def _keys(world: World, caller: str) -> Req:
    await _c1_key(world)
    return Req(path="/console/api-keys")


def _c1_key_only_if_in_reach(world: World, caller: str, page: object) -> None:
    assert isinstance(page, str)
    assert ("矩阵密钥" in page) == (caller == "right"), caller


async def _create_key(world: World, caller: str) -> Req:
    return Req(
        path="/console/api-keys",
        data={
            "name": "大屏",
            "org_id": str(world["C1"].id),
            "scopes": ["read:tasks", "read:stats"],
        },
    )


async def _revoke_key(world: World, caller: str) -> Req:
    return Req(path=f"/console/api-keys/{await _c1_key(world)}/revoke", data={})


async def _asset(world: World, caller: str) -> Req:
    digest_ = static_assets()["console.js"].digest
    return Req(path=f"/console/assets/{digest_}/console.js")


# --- units (issue 18) and inspections (issue 21) -------------------------------------------
# A unit's party secretary may open the console for their unit's screens only: the
# members' report-ins and the pairings list (reach by membership); every other screen
# is 403 to them, as to a member.
UNITS_403 = {"unit_admin": 403, "other_unit_admin": 403}


async def _unit_members(world: World, caller: str) -> Req:
    return Req(path="/console/units/members", params={"org_id": world["U1"].id})


def _lists_u1_member_not_reported(world: World, caller: str, page: object) -> None:
    # The member works at U1 and has not reported this month.
    assert isinstance(page, str)
    assert f'data-person="{world.user("member").id}"' in page, caller


async def _c1_u1_pairing(world: World) -> int:
    pairing = await make_pairing(
        world.app, unit=world["U1"], community=world["C1"], by=world.user("street_admin")
    )
    assert pairing.id is not None
    return pairing.id


async def _pairings(world: World, caller: str) -> Req:
    await _c1_u1_pairing(world)
    return Req(path="/console/pairings")


def _c1_u1_pairing_only_if_in_reach(world: World, caller: str, page: object) -> None:
    assert isinstance(page, str)
    assert ("data-pairing=" in page) == (caller in ("right", "unit_admin")), caller


async def _create_pairing(world: World, caller: str) -> Req:
    return Req(
        path="/console/pairings",
        data={
            "unit_id": str(world["U1"].id),
            "community_id": str(world["C1"].id),
            "starts_on": "2026-03-01",
            "ends_on": "",
            "commitments": "每月组织一次志愿服务\n认领微心愿",
        },
    )


async def _end_pairing(world: World, caller: str) -> Req:
    return Req(path=f"/console/pairings/{await _c1_u1_pairing(world)}/end", data={"note": ""})


async def _liaisons(world: World, caller: str) -> Req:
    await make_liaison(
        world.app,
        leader=world.user("street_admin"),
        org=world["C1"],
        by=world.user("district_admin"),
    )
    return Req(path="/console/liaisons")


def _c1_liaison_only_if_in_reach(world: World, caller: str, page: object) -> None:
    assert isinstance(page, str)
    assert ("data-liaison=" in page) == (caller == "right"), caller


async def _create_liaison(world: World, caller: str) -> Req:
    return Req(
        path="/console/liaisons",
        data={
            "user_id": str(world.user("street_admin").id),
            "org_id": str(world["C1"].id),
            "starts_on": "2026-03-01",
        },
    )


async def _inspections(world: World, caller: str) -> Req:
    await _recorded_visit(world)
    return Req(path="/console/inspections")


def _c1_visit_only_if_in_reach(world: World, caller: str, page: object) -> None:
    assert isinstance(page, str)
    assert ("矩阵里的巡查点位" in page) == (caller == "right"), caller


async def _inspection_sheet(world: World, caller: str) -> Req:
    return Req(path=f"/console/inspections/{await _recorded_visit(world)}.xlsx")


async def _point(world: World, caller: str) -> Req:
    await _recorded_visit(world)
    async with world.app.state.sessionmaker() as s:
        point_id = (
            await s.execute(select(Point.id).where(Point.name == "矩阵里的巡查点位"))
        ).scalar_one()
    return Req(path=f"/console/points/{point_id}")


REPORT_TEXT = "矩阵随手拍"


async def _report_in_c1(world: World) -> int:
    report = await insert_report(
        world.app, community=world["C1"], reporter=world.user("member"), description=REPORT_TEXT
    )
    assert report.id is not None
    return report.id


async def _reports(world: World, caller: str) -> Req:
    await _report_in_c1(world)
    return Req(path="/console/reports")


def _c1_report_only_if_in_reach(world: World, caller: str, page: object) -> None:
    assert isinstance(page, str)
    assert (REPORT_TEXT in page) == (caller == "right"), caller


async def _accept_report(world: World, caller: str) -> Req:
    return Req(
        path=f"/console/reports/{await _report_in_c1(world)}/accept",
        data={"org_id": str(world["C1"].id), "deadline": "", "deadline_working_days": "5"},
    )


async def _reject_report(world: World, caller: str) -> Req:
    return Req(
        path=f"/console/reports/{await _report_in_c1(world)}/reject",
        data={"reason": "不属于市容问题"},
    )


async def _shop(world: World, caller: str) -> Req:
    await insert_redemption(world.app, world.user("member"), world["C1"])
    return Req(path="/console/shop")


def _c1_reservation_only_if_in_reach(world: World, caller: str, page: object) -> None:
    assert isinstance(page, str)
    assert ("大米 5 斤" in page) == (caller == "right"), caller


async def _shop_item(world: World, caller: str) -> Req:
    return Req(
        path="/console/shop/items",
        data={"community_id": world["C1"].id, "name": "肥皂", "points": "5", "stock": "3"},
    )


async def _shop_collect(world: World, caller: str) -> Req:
    r = await insert_redemption(world.app, world.user("member"), world["C1"])
    return Req(path=f"/console/shop/redemptions/{r.id}/collect", data={"pickup_code": "123456"})


async def _shop_award(world: World, caller: str) -> Req:
    return Req(
        path="/console/shop/awards",
        data={"user_id": world.user("member").id, "points": "5", "reason": "义务清扫"},
    )


ROWS: dict[tuple[str, str], Row] = {
    ("POST", "/api/v1/auth/console-login"): Row(
        "community_admin", statuses(200, 200, 200, 200, 200), fixed("/api/v1/auth/console-login")
    ),
    ("POST", "/api/v1/auth/console-login/{ticket}/confirm"): Row(
        "community_admin",
        statuses(401, 403, 204, 204, 204, unit_admin=204, other_unit_admin=204),
        _confirm,
    ),
    ("GET", "/api/v1/auth/console-login/{ticket}"): Row(
        "community_admin", statuses(200, 200, 200, 200, 200), _poll
    ),
    ("GET", "/console/login"): Row(
        "community_admin", statuses(200, 200, 200, 200, 200), fixed("/console/login")
    ),
    ("POST", "/console/logout"): Row(
        "community_admin",
        statuses(401, 403, 303, 303, 303, unit_admin=303, other_unit_admin=303),
        fixed("/console/logout"),
        console=True,
    ),
    # A unit's party secretary is sent on to their unit's screen.
    ("GET", "/console/"): Row(
        "community_admin",
        statuses(401, 403, 200, 200, 200, unit_admin=303, other_unit_admin=303),
        _home,
        _counts_c1_wish_only_if_in_reach,
        console=True,
    ),
    ("GET", "/console/reviews/wishes"): Row(
        "community_admin",
        statuses(401, 403, 200, 200, 200),
        _wish_reviews,
        _sees_c1_wish_only_if_in_reach,
        console=True,
    ),
    ("POST", "/console/reviews/wishes/{wish_id}"): Row(
        "community_admin", statuses(401, 403, 404, 404, 303), _approve, console=True
    ),
    ("GET", "/console/reviews/hours"): Row(
        "community_admin",
        statuses(401, 403, 200, 200, 200),
        _hour_reviews,
        _lists_c1_only_if_in_reach,
        console=True,
    ),
    ("POST", "/console/reviews/hours/{entry_id}"): Row(
        "community_admin", statuses(401, 403, 404, 404, 303), _approve_hours, console=True
    ),
    # The undo views (r2s4-console2): the GETs are the review screens' `view=` pages.
    ("POST", "/console/reviews/hours/{entry_id}/revoke"): Row(
        "community_admin", statuses(401, 403, 404, 404, 303), _revoke_hours, console=True
    ),
    ("POST", "/console/reviews/wishes/{wish_id}/withdraw-confirmation"): Row(
        "community_admin",
        statuses(401, 403, 404, 404, 303),
        _withdraw_confirmation,
        console=True,
    ),
    ("GET", "/console/reviews/articles"): Row(
        "community_admin",
        statuses(401, 403, 200, 200, 200),
        _article_reviews,
        _lists_c1_only_if_in_reach,
        console=True,
    ),
    ("POST", "/console/reviews/articles/{article_id}"): Row(
        "community_admin", statuses(401, 403, 404, 404, 303), _return_article, console=True
    ),
    ("GET", "/console/roster"): Row(
        "community_admin",
        statuses(401, 403, 200, 200, 200),
        fixed("/console/roster"),
        _member_listed_only_if_in_reach,
        console=True,
    ),
    # As POST /users: a community outside reach is unusable input.
    ("POST", "/console/roster"): Row(
        "community_admin", statuses(401, 403, 422, 422, 303), _add_person, console=True
    ),
    ("POST", "/console/roster/import"): Row(
        "community_admin",
        statuses(401, 403, 200, 200, 200),
        _import,
        _imported_only_if_in_reach,
        console=True,
    ),
    ("GET", "/console/roster/{user_id}"): Row(
        "community_admin", statuses(401, 403, 404, 404, 200), _member_page, console=True
    ),
    ("POST", "/console/roster/{user_id}"): Row(
        "community_admin", statuses(401, 403, 404, 404, 303), _edit_member, console=True
    ),
    ("POST", "/console/roster/{user_id}/roles"): Row(
        "community_admin", statuses(401, 403, 404, 404, 303), _grant, console=True
    ),
    ("POST", "/console/roster/{user_id}/roles/{role_id}/revoke"): Row(
        "community_admin", statuses(401, 403, 404, 404, 303), _revoke, console=True
    ),
    ("GET", "/console/shop"): Row(
        "community_admin",
        statuses(401, 403, 200, 200, 200),
        _shop,
        _c1_reservation_only_if_in_reach,
        console=True,
    ),
    ("POST", "/console/shop/items"): Row(
        "community_admin", statuses(401, 403, 404, 404, 303), _shop_item, console=True
    ),
    ("POST", "/console/shop/redemptions/{redemption_id}/collect"): Row(
        "community_admin", statuses(401, 403, 404, 404, 303), _shop_collect, console=True
    ),
    ("POST", "/console/shop/awards"): Row(
        "community_admin", statuses(401, 403, 404, 404, 303), _shop_award, console=True
    ),
    ("GET", "/console/problems"): Row(
        "community_admin",
        statuses(401, 403, 200, 200, 200),
        _board,
        _c1_problem_only_if_in_reach,
        console=True,
    ),
    ("POST", "/console/problems/{problem_id}/rectify"): Row(
        "community_admin", statuses(401, 403, 404, 404, 303), _rectify, console=True
    ),
    # Verification is an office above the responsible one (or an inspector's).
    ("POST", "/console/problems/{problem_id}/verify"): Row(
        "street_admin", statuses(401, 403, 404, 404, 303), _verify, console=True
    ),
    ("GET", "/console/media/{media_id}/thumbnail"): Row(
        "community_admin", statuses(401, 403, 404, 404, 200), _own_thumbnail, console=True
    ),
    ("GET", "/console/exports"): Row(
        "community_admin",
        statuses(401, 403, 200, 200, 200),
        fixed("/console/exports"),
        console=True,
    ),
    ("GET", "/console/exports/{dataset}.xlsx"): Row(
        "community_admin", statuses(401, 403, 404, 404, 200), _ledger, console=True
    ),
    # The dashboard page's figures as a console screen; an org outside reach is 404.
    ("GET", "/console/dashboard"): Row(
        "community_admin",
        statuses(401, 403, 404, 404, 200),
        _dashboard,
        _c1_dashboard_in_the_menu,
        console=True,
    ),
    # The console makes the dashboard page's link (audited) and opens it.
    ("GET", "/console/dashboard/share"): Row(
        "community_admin", statuses(401, 403, 404, 404, 303), _share_dashboard, console=True
    ),
    # As GET /audit-log: district admins only.
    ("GET", "/console/audit"): Row(
        "district_admin", statuses(401, 403, 403, 403, 200), fixed("/console/audit"), console=True
    ),
    ("GET", "/console/tasks"): Row(
        "community_admin",
        statuses(401, 403, 200, 200, 200),
        _tasks,
        _c1_task_only_if_in_reach,
        console=True,
    ),
    # As POST /tasks: an org outside reach is 404.
    ("POST", "/console/tasks"): Row(
        "community_admin", statuses(401, 403, 404, 404, 303), _create_task, console=True
    ),
    ("GET", "/console/tasks/{task_id}"): Row(
        "community_admin", statuses(401, 403, 404, 404, 200), _task_page, console=True
    ),
    # As /api-keys: district and street admins only.
    ("GET", "/console/api-keys"): Row(
        "street_admin",
        statuses(401, 403, 403, 200, 200),
        _keys,
        _c1_key_only_if_in_reach,
        console=True,
    ),
    ("POST", "/console/api-keys"): Row(
        "street_admin", statuses(401, 403, 403, 404, 200), _create_key, console=True
    ),
    ("POST", "/console/api-keys/{key_id}/revoke"): Row(
        "street_admin", statuses(401, 403, 403, 404, 303), _revoke_key, console=True
    ),
    ("GET", "/console/units/members"): Row(
        "street_admin",
        statuses(401, 403, 404, 404, 200, unit_admin=200, other_unit_admin=404),
        _unit_members,
        _lists_u1_member_not_reported,
        console=True,
    ),
    ("GET", "/console/pairings"): Row(
        "community_admin",
        statuses(401, 403, 200, 200, 200, unit_admin=200, other_unit_admin=200),
        _pairings,
        _c1_u1_pairing_only_if_in_reach,
        console=True,
    ),
    # As POST /pairings: the district's, or a street's over both.
    ("POST", "/console/pairings"): Row(
        "street_admin",
        statuses(401, 403, 403, 404, 303, **UNITS_403),
        _create_pairing,
        console=True,
    ),
    ("POST", "/console/pairings/{pairing_id}/end"): Row(
        "street_admin", statuses(401, 403, 404, 404, 303, **UNITS_403), _end_pairing, console=True
    ),
    ("GET", "/console/liaisons"): Row(
        "community_admin",
        statuses(401, 403, 200, 200, 200, **UNITS_403),
        _liaisons,
        _c1_liaison_only_if_in_reach,
        console=True,
    ),
    ("POST", "/console/liaisons"): Row(
        "district_admin",
        statuses(401, 403, 403, 403, 303, **UNITS_403),
        _create_liaison,
        console=True,
    ),
    ("GET", "/console/inspections"): Row(
        "community_admin",
        statuses(401, 403, 200, 200, 200, **UNITS_403),
        _inspections,
        _c1_visit_only_if_in_reach,
        console=True,
    ),
    ("GET", "/console/points/{point_id}"): Row(
        "community_admin", statuses(401, 403, 404, 404, 200, **UNITS_403), _point, console=True
    ),
    # The visit's record (纪实表), as GET /inspections/{id}.xlsx (r2s4-console2).
    ("GET", "/console/inspections/{inspection_id}.xlsx"): Row(
        "community_admin",
        statuses(401, 403, 404, 404, 200, **UNITS_403),
        _inspection_sheet,
        console=True,
    ),
    ("GET", "/console/reports"): Row(
        "community_admin",
        statuses(401, 403, 200, 200, 200, **UNITS_403),
        _reports,
        _c1_report_only_if_in_reach,
        console=True,
    ),
    ("POST", "/console/reports/{report_id}/accept"): Row(
        "community_admin",
        statuses(401, 403, 404, 404, 303, **UNITS_403),
        _accept_report,
        console=True,
    ),
    ("POST", "/console/reports/{report_id}/reject"): Row(
        "community_admin",
        statuses(401, 403, 404, 404, 303, **UNITS_403),
        _reject_report,
        console=True,
    ),
    ("GET", "/console/assets/{digest}/{name}"): Row(
        "community_admin", statuses(200, 200, 200, 200, 200), _asset
    ),
}


# The inspector (督导员, of street S1, over C1) on every console route: admitted to
# their to-do, the problems board (verifying, not rectifying) and the inspections, in
# their reach; every console route not named here is 403 to them (an admin's screen).
# tests/contract/test_console_inspector.py asks each route with the row's request.
INSPECTOR: dict[tuple[str, str], int] = {
    ("GET", "/console/"): 200,
    ("POST", "/console/logout"): 303,
    ("GET", "/console/problems"): 200,
    ("POST", "/console/problems/{problem_id}/verify"): 303,
    # The row's photo is the community secretary's own upload, attached to nothing.
    ("GET", "/console/media/{media_id}/thumbnail"): 404,
    ("GET", "/console/inspections"): 200,
    ("GET", "/console/points/{point_id}"): 200,
    ("GET", "/console/inspections/{inspection_id}.xlsx"): 200,
}
