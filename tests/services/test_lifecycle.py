"""Every domain's declared transitions (app/services/lifecycle.py), walked over HTTP.

For each domain, each state and each declared action: a record put in that state
and the action taken by the person entitled to it. A pair the declaration allows
moves the record to a state it declares, with one history row saying so and, where
the step is audited, one audit row; any other pair answers the domain's declared 409
and leaves the record, its history and the audit log as they were. A new domain adds
its `Domain` below.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.core.db import table_of
from app.models.article import ArticleAction, ArticleStatus
from app.models.audit import AuditEntry
from app.models.problem import ProblemAction, ProblemStatus
from app.models.publicity import PlacementAction, PlacementStatus
from app.models.report import ReportAction, ReportStatus
from app.models.service_order import TAKER_STATES, OrderAction, OrderStatus
from app.models.volunteer_hours import HourAction, HourStatus
from app.models.wish import CLAIMANT_STATES, WishAction, WishStatus
from app.services import (
    articles,
    problems,
    publicity,
    reports,
    service_orders,
    volunteer_hours,
    wishes,
)
from app.services.lifecycle import Lifecycle
from tests.factories.articles import info_officer, insert_article
from tests.factories.lifecycle import paths_from
from tests.factories.media import make_media
from tests.factories.problems import insert_problem
from tests.factories.publicity import insert_placement
from tests.factories.reports import insert_report
from tests.factories.service_orders import insert_order
from tests.factories.teams import insert_team
from tests.factories.volunteer_hours import insert_entry
from tests.factories.wishes import insert_wish
from tests.factories.world import World


async def post(client: httpx.AsyncClient, world: World, who: str, path: str, json: Any = None):
    return await client.post(path, json=json, headers=world.headers(who))


async def photo_of(world: World, who: str) -> list[int | None]:
    return [(await make_media(world.app, world.user(who))).id]


# --- how each domain puts a record in a state and takes each action ------------------------


async def insert_a_wish(world: World, state: WishStatus) -> int | None:
    wish = await insert_wish(
        world.app,
        community=world["C1"],
        poster=world.user("inspector"),
        status=state,
        claimant=world.user("member"),
        admin=world.user("community_admin"),
    )
    return wish.id


async def take_on_wish(client, world, wish_id, action):
    path = f"/wishes/{wish_id}"
    match action:
        case WishAction.approve:
            return await post(client, world, "community_admin", f"{path}/review", {"approve": True})
        case WishAction.reject:
            body = {"approve": False, "reason": "不属于微心愿范围"}
            return await post(client, world, "community_admin", f"{path}/review", body)
        case WishAction.claim:
            # Not the member: they hold the claim wherever the wish has one.
            return await post(client, world, "other_community_admin", f"{path}/claim")
        case WishAction.fulfill:
            body = {"photo_ids": await photo_of(world, "member"), "note": "已完成"}
            return await post(client, world, "member", f"{path}/fulfill", body)
        case WishAction.release:
            return await post(client, world, "member", f"{path}/release")
        case WishAction.unconfirm:
            body = {"reason": "受助人反映未收到"}
            return await post(
                client, world, "community_admin", f"{path}/withdraw-confirmation", body
            )
        case _:
            return await post(client, world, "community_admin", f"{path}/{action}", {})


async def insert_a_problem(world: World, state: ProblemStatus) -> int | None:
    problem = await insert_problem(
        world.app,
        org=world["C1"],
        reporter=world.user("inspector"),
        rectifier=world.user("community_admin"),
        status=state,
    )
    return problem.id


async def take_on_problem(client, world, problem_id, action):
    path = f"/problems/{problem_id}"
    match action:
        case ProblemAction.rectify:
            body = {"photo_ids": await photo_of(world, "community_admin"), "note": "已清理完毕"}
            return await post(client, world, "community_admin", f"{path}/rectify", body)
        case ProblemAction.close:
            return await post(client, world, "inspector", f"{path}/verify", {"approve": True})
        case _:
            body = {"approve": False, "note": "地面仍有垃圾"}
            return await post(client, world, "inspector", f"{path}/verify", body)


async def insert_an_article(world: World, state: ArticleStatus) -> int | None:
    author = await info_officer(world)
    article = await insert_article(world.app, org=world["C1"], author=author, status=state)
    return article.id


async def take_on_article(client, world, article_id, action):
    path = f"/articles/{article_id}"
    match action:
        case ArticleAction.edit:
            headers = world.headers("info_officer")
            return await client.patch(path, json={"body": "新的正文"}, headers=headers)
        case ArticleAction.submit:
            return await post(client, world, "info_officer", f"{path}/submit")
        case _:
            body = {"approve": action == ArticleAction.approve, "comment": "请补充活动照片"}
            return await post(client, world, "community_admin", f"{path}/review", body)


async def insert_a_report(world: World, state: ReportStatus) -> int | None:
    report = await insert_report(
        world.app,
        community=world["C1"],
        reporter=world.user("member"),
        status=state,
        handler=world.user("community_admin"),
    )
    return report.id


async def take_on_report(client, world, report_id, action):
    path = f"/reports/{report_id}"
    if action == ReportAction.accept:
        body = {"org_id": world["C1"].id, "deadline_working_days": 3}
        return await post(client, world, "community_admin", f"{path}/accept", body)
    return await post(client, world, "community_admin", f"{path}/reject", {"reason": "重复反映"})


async def insert_a_placement(world: World, state: PlacementStatus) -> int | None:
    author = await info_officer(world)
    article = await insert_article(
        world.app, org=world["C1"], author=author, status=ArticleStatus.published
    )
    office = world.user("street_admin") if state != PlacementStatus.pending else None
    placement = await insert_placement(
        world.app, article=article, by=author, verified_by=office, status=state
    )
    return placement.id


async def take_on_placement(client, world, placement_id, action):
    body = {"approve": action == PlacementAction.verify, "note": "未见刊发"}
    return await post(client, world, "district_admin", f"/placements/{placement_id}/verify", body)


async def insert_an_order(world: World, state: OrderStatus) -> int | None:
    # The member orders, leads the team it is dispatched to and takes it: every step
    # but the admins' review and dispatch is theirs.
    member = world.user("member")
    team = await insert_team(world.app, org=world["C1"], leader=member)
    order = await insert_order(
        world.app, community=world["C1"], orderer=member, status=state, team=team, taker=member
    )
    return order.id


async def take_on_order(client, world, order_id, action):
    path = f"/service-orders/{order_id}"
    match action:
        case OrderAction.dispatch:
            team = await insert_team(
                world.app, org=world["C1"], leader=world.user("other_community_admin")
            )
            body = {"team_id": team.id}
            return await post(client, world, "community_admin", f"{path}/dispatch", body)
        case OrderAction.reject:
            body = {"reason": "不在服务范围"}
            return await post(client, world, "community_admin", f"{path}/reject", body)
        case OrderAction.accept:
            return await post(client, world, "community_admin", f"{path}/accept")
        case OrderAction.complete:
            body = {"photo_ids": await photo_of(world, "member"), "minutes": 30}
            return await post(client, world, "member", f"{path}/complete", body)
        case OrderAction.rate:
            return await post(client, world, "member", f"{path}/rate", {"stars": 5})
        case _:
            return await post(client, world, "member", f"{path}/{action}")


async def insert_an_hour_entry(world: World, state: HourStatus) -> int | None:
    entry = await insert_entry(world.app, user=world.user("member"), org=world["C1"], status=state)
    return entry.id


async def take_on_hour_entry(client, world, entry_id, action):
    path = f"/volunteer-hours/{entry_id}"
    match action:
        case HourAction.revoke:
            body = {"reason": "重复登记"}
            return await post(client, world, "community_admin", f"{path}/revoke", body)
        case _:
            body = {"approve": action == HourAction.approve, "reason": "时间不符"}
            return await post(client, world, "community_admin", f"{path}/review", body)


@dataclass(frozen=True)
class Domain:
    lifecycle: Lifecycle[Any, Any, Any]
    start: Any  # the state a new record is in
    insert: Callable[[World, Any], Awaitable[int | None]]
    take: Callable[[httpx.AsyncClient, World, int | None, Any], Awaitable[httpx.Response]]
    # Pairs refused before the state is looked at because the state leaves nobody
    # who may take the action (403 or 404): the declaration is not what answers.
    nobody_may: Callable[[Any, Any], bool] = lambda state, action: False
    # The action that makes a record, outside the walk (it has no state to start from).
    creating: str = "create"


DOMAINS = {
    "wish": Domain(
        wishes.LIFECYCLE,
        WishStatus.pending_review,
        insert_a_wish,
        take_on_wish,
        # Releasing and fulfilling are the claimant's, and only these states have one.
        lambda state, action: (
            action in (WishAction.release, WishAction.fulfill) and state not in CLAIMANT_STATES
        ),
    ),
    "problem": Domain(problems.LIFECYCLE, ProblemStatus.open, insert_a_problem, take_on_problem),
    "report": Domain(reports.LIFECYCLE, ReportStatus.submitted, insert_a_report, take_on_report),
    "placement": Domain(
        publicity.LIFECYCLE, PlacementStatus.pending, insert_a_placement, take_on_placement
    ),
    "article": Domain(
        articles.LIFECYCLE,
        ArticleStatus.draft,
        insert_an_article,
        take_on_article,
        # Reviewers do not see drafts.
        lambda state, action: (
            state == ArticleStatus.draft
            and action in (ArticleAction.approve, ArticleAction.return_)
        ),
    ),
    "service_order": Domain(
        service_orders.LIFECYCLE,
        OrderStatus.submitted,
        insert_an_order,
        take_on_order,
        # Completing is the taker's, and only these states have one.
        lambda state, action: action == OrderAction.complete and state not in TAKER_STATES,
        creating=OrderAction.submit,
    ),
    "volunteer_hour": Domain(
        volunteer_hours.LIFECYCLE,
        HourStatus.pending,
        insert_an_hour_entry,
        take_on_hour_entry,
        creating=HourAction.log,
    ),
}


def actions(lifecycle: Lifecycle[Any, Any, Any]) -> list[Any]:
    return list(dict.fromkeys(step.action for step in lifecycle.transitions))


CASES = [
    (name, state, action)
    for name, domain in DOMAINS.items()
    for state in domain.lifecycle.names
    for action in actions(domain.lifecycle)
]


async def snapshot(world: World, lifecycle: Lifecycle[Any, Any, Any], record_id: int | None):
    """The record's state, its history and its audit rows."""
    table, history = table_of(lifecycle.model), table_of(lifecycle.history)
    async with world.app.state.sessionmaker() as session:
        status = (
            await session.execute(select(table.c.status).where(table.c.id == record_id))
        ).scalar_one()
        steps = (
            await session.execute(
                select(history.c.action, history.c.from_status, history.c.to_status)
                .where(history.c[f"{lifecycle.name}_id"] == record_id)
                .order_by(history.c.id)
            )
        ).all()
        audited = (
            await session.execute(
                select(AuditEntry.action)
                .where(AuditEntry.target_type == lifecycle.name, AuditEntry.target_id == record_id)
                .order_by(AuditEntry.id)
            )
        ).scalars()
        return status, [tuple(s) for s in steps], list(audited)


@pytest.mark.usefixtures("counts_stay_exact")
@pytest.mark.parametrize(("domain", "state", "action"), CASES, ids=lambda v: str(v))
async def test_a_declared_step_moves_the_record_and_any_other_answers_409(
    client, world, domain, state, action
):
    d = DOMAINS[domain]
    lifecycle = d.lifecycle
    record_id = await d.insert(world, state)
    before = await snapshot(world, lifecycle, record_id)
    assert before[0] == state
    resp = await d.take(client, world, record_id, action)
    after = await snapshot(world, lifecycle, record_id)
    steps = [t for t in lifecycle.transitions if t.action == action and state in t.sources]
    if steps:
        assert resp.status_code == 200, resp.text
        landed = after[0]
        step = next(t for t in steps if t.lands(state) == landed)
        assert resp.json()["status"] == landed
        assert after[1] == [*before[1], (action, state, landed)]
        audit = [f"{lifecycle.name}.{action}"] if step.audited else []
        assert after[2] == [*before[2], *audit]
        return
    if d.nobody_may(state, action):
        assert resp.status_code in (403, 404), resp.text
    else:
        refusal = lifecycle.refusal(state, action)
        assert resp.status_code == 409, resp.text
        assert (resp.json()["code"], resp.json()["detail"]) == (refusal.code, refusal.detail)
    assert after == before


@pytest.mark.parametrize("domain", DOMAINS)
def test_every_action_is_declared_and_every_state_can_be_reached(domain):
    d = DOMAINS[domain]
    action_type = type(d.lifecycle.transitions[0].action)
    assert set(actions(d.lifecycle)) == set(action_type) - {action_type(d.creating)}
    assert set(paths_from(d.lifecycle, d.start)) == set(d.lifecycle.names)
