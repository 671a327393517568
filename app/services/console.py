"""What the PC console's screens show (app/routers/console.py): each screen's
figures, read with the vocabulary of reach (app.core.scope), so a screen holds
only what the person reaches. Actions go through the domains' own services, as
the API's routes do, so they are checked and audited the same way."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import ColumnElement, and_, case, func, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.core.config import Settings
from app.core.db import paged_scalars, utcnow
from app.core.errors import NotFound
from app.core.scope import Caller, in_reach, org_ids_in, org_in_reach, path_ids
from app.core.security import PiiCipher
from app.core.timeutil import local, month_key
from app.edge.access import caller_for_person
from app.models.article import Article, ArticleImportance, ArticleStatus
from app.models.dashboard import DashboardSort, SortOrder
from app.models.org import Org, OrgLevel
from app.models.points import (
    AccountPublic,
    EntryKind,
    PointsEntry,
    Redemption,
    RedemptionStatus,
    ShopItem,
)
from app.models.problem import UNRESOLVED, Problem, ProblemPublic, ProblemStatus
from app.models.publicity import LEVEL_NAMES
from app.models.report import NearbyItem, Report, ReportStatus
from app.models.service_order import OrderPublic, OrderStatus, ServiceOrder
from app.models.task import TaskPublic, TaskStatus
from app.models.team import Team, TeamPublic
from app.models.user import ADMIN_ROLES, PEOPLE_ROLES, Role, RoleGrant, User, UserPublic
from app.models.volunteer import Volunteer, VolunteerStatus
from app.models.volunteer_hours import HourStatus, VolunteerHour
from app.models.wish import Wish, WishAction, WishEvent, WishStatus
from app.services import api_keys as api_key_service
from app.services import dashboard as dashboard_service
from app.services import dashboard_view
from app.services import points as points_service
from app.services import problems as problem_service
from app.services import publicity as publicity_service
from app.services import reports as report_service
from app.services import service_orders as order_service
from app.services import tasks as task_service
from app.services import teams as team_service
from app.services import users as user_service
from app.services import volunteer_hours as hours_service
from app.services import volunteers as volunteer_service
from app.services import wishes as wish_service
from app.services.dashboard_view import DashboardPage
from app.services.orgs import org_names
from app.services.users import unbound_in_reach, user_names

# The screens, in the order of the menu: (route name, label).
# The menu, in the groups an office works by: a left column that holds every screen
# at 1366 px (one bar across the top could not: 28 screens).
NAV_GROUPS: list[tuple[str, list[tuple[str, str]]]] = [
    ("工作台", [("console_home", "待办"), ("console_dashboard", "数据看板")]),
    (
        "审核",
        [
            ("console_wish_reviews", "心愿审核"),
            ("console_hour_reviews", "时长审核"),
            ("console_article_reviews", "稿件审核"),
            ("console_volunteer_reviews", "志愿者审核"),
        ],
    ),
    (
        "组织与人员",
        [
            ("console_roster", "花名册"),
            ("console_tasks", "任务"),
            ("console_unit_members", "党员报到"),
            ("console_pairings", "结对共建"),
            ("console_liaisons", "包联"),
        ],
    ),
    (
        "督查",
        [
            ("console_problems", "问题督办"),
            ("console_inspections", "巡查记录"),
            ("console_reports", "随手拍受理"),
        ],
    ),
    (
        "志愿服务",
        [
            ("console_teams", "志愿服务队"),
            ("console_service_items", "服务清单"),
            ("console_service_orders", "服务订单"),
            ("console_shop", "积分超市"),
        ],
    ),
    (
        "宣传",
        [("console_placement_reviews", "上稿认定"), ("console_publicity", "宣传通报")],
    ),
    (
        "测评",
        [
            ("console_surveys", "问卷测试"),
            ("console_household_visits", "入户调查"),
            ("console_indicators", "申报指标"),
            ("console_scores", "月度评分"),
            ("console_scoring", "评分权重"),
        ],
    ),
    (
        "系统",
        [
            ("console_exports", "台账导出"),
            ("console_api_keys", "API 密钥"),
            ("console_audit", "操作日志"),
        ],
    ),
]
# Who may open each screen; a screen not named here is any admin's (the others'
# menus go without it). A unit's party secretary reaches people, not places: only
# their unit's members and pairings (their home page sends them to the first).
NAV_ROLES = {
    # Inspectors (督导员): their to-do, the problems they verify, the inspections.
    "console_home": ADMIN_ROLES | problem_service.SUPERVISION_ROLES,
    "console_problems": problem_service.SUPERVISION_ROLES,
    "console_inspections": problem_service.SUPERVISION_ROLES,
    "console_audit": frozenset({Role.district_admin}),
    "console_api_keys": frozenset(api_key_service.ISSUERS),
    "console_unit_members": PEOPLE_ROLES,
    "console_pairings": PEOPLE_ROLES,
    "console_placement_reviews": publicity_service.OFFICE_ROLES,
    # The composite score's weights are the district's (PUT /scoring).
    "console_scoring": frozenset({Role.district_admin}),
}
SCOPE_LABELS = {
    "read:orgs": "组织",
    "read:tasks": "任务",
    "read:wishes": "微心愿",
    "read:problems": "问题",
    "read:articles": "稿件",
    "read:stats": "统计",
}


def nav_for(caller: Caller) -> list[tuple[str, list[tuple[str, str]]]]:
    """The caller's menu: the groups holding a screen they may open, each with those."""
    menu = []
    for group, items in NAV_GROUPS:
        mine = [(n, label) for n, label in items if caller.paths(NAV_ROLES.get(n, ADMIN_ROLES))]
        if mine:
            menu.append((group, mine))
    return menu


# --- paging: one helper for every list screen -------------------------------------------


@dataclass(frozen=True)
class Paging:
    """Where one page of a console list sits in the whole: offset paging, as the API's
    lists take it (`offset`, `limit`), so a screen asks its service for exactly the
    page. `query` is the screen's other parameters (its filters), kept by the links to
    the neighbouring pages; `param` names the page number (a board of several lists
    pages each on its own parameter)."""

    number: int
    size: int
    total: int = 0
    param: str = "page"
    query: tuple[tuple[str, str], ...] = ()

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size

    def of(self, total: int) -> Paging:
        return replace(self, total=total)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))

    @property
    def start(self) -> int:
        return min(self.offset + 1, self.total)

    @property
    def end(self) -> int:
        return min(self.offset + self.size, self.total)

    def href(self, number: int) -> str:
        return "?" + urlencode([*self.query, (self.param, str(number))])

    @property
    def prev_href(self) -> str | None:
        return self.href(min(self.number - 1, self.pages)) if self.number > 1 else None

    @property
    def next_href(self) -> str | None:
        return self.href(self.number + 1) if self.number < self.pages else None


PAGE_SIZE = 50
AUDIT_PAGE = PAGE_SIZE
TASK_PAGE = PAGE_SIZE
TASK_CATEGORY_LABELS = {
    "sanitation": "环境卫生",
    "traffic": "文明交通",
    "persuasion": "文明劝导",
    "publicity": "创文宣传",
    "culture": "文化活动",
    "care": "关爱帮扶",
    "other": "其他",
}
TASK_STATUS_LABELS = {"upcoming": "未开始", "active": "进行中", "ended": "已结束"}

# The ledgers of GET /exports/{dataset}.xlsx and the filters each takes.
LEDGERS = [
    ("members", "人员花名册", ()),
    ("report-ins", "党员报到台账", ("month",)),
    ("volunteer-hours", "志愿服务时长台账", ("year", "status")),
    ("wishes", "微心愿台账", ("year", "status")),
    ("problems", "问题督办台账", ("year", "status")),
    ("volunteers", "志愿者台账", ("status",)),
    ("service-orders", "服务订单台账", ("year", "status")),
    ("points", "积分台账", ("month",)),
    ("redemptions", "积分兑换台账", ("month", "status")),
    ("household-visits", "入户调查台账", ("month",)),
    ("scores", "月度综合评分排名", ("month",)),
    ("publicity", "宣传工作季度通报", ("year", "quarter")),
    ("indicators", "网上资料申报台账", ("status",)),
    # issues 18, 21 (r2s4-units)
    ("reports", "随手拍台账", ("month", "status")),
]

CATEGORY_LABELS = {
    "sanitation": "环境卫生",
    "illegal_parking": "乱停乱放",
    "street_vending": "占道经营",
    "illegal_ads": "乱贴乱画",
    "facilities": "公共设施",
    "greening": "绿化",
    "publicity": "公益宣传",
    "uncivil_behaviour": "不文明行为",
    "traffic_order": "交通秩序",
    "food_safety": "食品安全",
}

ROLE_LABELS = {
    Role.district_admin: "区管理员",
    Role.street_admin: "街道管理员",
    Role.community_admin: "社区管理员",
    Role.inspector: "督导员",
    Role.info_officer: "信息员",
}
ROSTER_PAGE = PAGE_SIZE

# Problems due within this many days count as "due soon" on the to-do list.
DUE_SOON_DAYS = 3
# A page of the problems board's unresolved columns (the closed one shows 20).
BOARD_PAGE = 50


@dataclass(frozen=True)
class TodoItem:
    key: str
    label: str
    count: int
    # The console screen that deals with it, and what to ask it.
    screen: str | None = None
    query: str = ""


async def _count(session: AsyncSession, model: Any, *conditions: ColumnElement[bool]) -> int:
    statement = select(func.count()).select_from(model).where(*conditions)
    return int((await session.execute(statement)).scalar_one())


def wishes_to_review(caller: Caller) -> list[ColumnElement[bool]]:
    return [
        col(Wish.status) == WishStatus.pending_review,
        in_reach(col(Wish.community_id), caller.paths(ADMIN_ROLES)),
    ]


def hours_to_review(caller: Caller) -> list[ColumnElement[bool]]:
    # One's own entries are someone else's to review (review_entry refuses them).
    return [
        col(VolunteerHour.status) == HourStatus.pending,
        in_reach(col(VolunteerHour.org_id), caller.paths(ADMIN_ROLES)),
        col(VolunteerHour.user_id) != caller.id,
    ]


async def unstaffed_articles(session: AsyncSession, caller: Caller) -> ColumnElement[bool] | None:
    """The articles waiting at a level below the person's with no one to review them,
    and for which the person's level is the nearest staffed one above: the review
    service lets that level act for them (app.services.articles `review_article`), so
    they are on its list rather than stuck unseen. None: there are none.

    Staffed means as the review ladder means it (articles `_ladder`): an admin other
    than the article's author, who cannot review their own text. So a level whose one
    admin wrote the article is unstaffed for that article alone, and where the author
    is also the admin above, the level above that acts. Only admins on the path can
    make an author special, so the condition names them apart and no one else."""
    mine = _review_levels(caller)
    # Their subtrees, their own levels left out.
    below = [g.org_path for g in caller.grants if g.role in ADMIN_ROLES]
    if not below:
        return None
    waiting = set(
        (
            await session.execute(
                select(col(Article.review_org_id))
                .where(
                    col(Article.status) == ArticleStatus.in_review,
                    in_reach(col(Article.review_org_id), below),
                    col(Article.review_org_id).not_in(mine),
                )
                .distinct()
            )
        ).scalars()
    )
    if not waiting:
        return None
    paths = {
        int(i): path_ids(str(p))
        for i, p in (
            await session.execute(select(Org.id, Org.path).where(col(Org.id).in_(waiting)))
        ).all()
    }
    on_paths = {i for p in paths.values() for i in p}
    admins: dict[int, set[int]] = {}
    for org_id, user_id in (
        await session.execute(
            select(col(RoleGrant.org_id), col(RoleGrant.user_id))
            .where(col(RoleGrant.org_id).in_(on_paths), col(RoleGrant.role).in_(ADMIN_ROLES))
            .distinct()
        )
    ).all():
        admins.setdefault(int(org_id), set()).add(int(user_id))

    def acting(path: list[int], author: int | None) -> int | None:
        # The nearest level at or above the article's with an admin besides its author.
        return next((i for i in reversed(path) if admins.get(i, set()) - {author}), None)

    parts: list[ColumnElement[bool]] = []
    for org_id, path in paths.items():
        at = col(Article.review_org_id) == org_id
        # Authors who are admins on the path: the acting level may differ for them.
        special = {u for i in path for u in admins.get(i, set())}
        ours = {u for u in special if acting(path, u) in mine and acting(path, u) != org_id}
        if acting(path, None) in mine and acting(path, None) != org_id:
            others = [col(Article.author_id).not_in(special - ours)] if special - ours else []
            parts.append(and_(at, *others))
        elif ours:
            parts.append(and_(at, col(Article.author_id).in_(ours)))
    return or_(*parts) if parts else None


def _review_levels(caller: Caller) -> set[int]:
    return {g.org_id for g in caller.grants if g.role in ADMIN_ROLES}


def _articles_at(
    caller: Caller, levels: set[int], unstaffed: ColumnElement[bool] | None = None
) -> list[ColumnElement[bool]]:
    at = col(Article.review_org_id).in_(levels)
    return [
        col(Article.status) == ArticleStatus.in_review,
        or_(at, unstaffed) if unstaffed is not None else at,
        col(Article.author_id) != caller.id,
    ]


async def articles_to_review(session: AsyncSession, caller: Caller) -> list[ColumnElement[bool]]:
    """Articles waiting at a level where the person is an admin, and those waiting
    at a level below with no admin at all, which the person's level reviews for it
    (`unstaffed_articles`)."""
    return _articles_at(caller, _review_levels(caller), await unstaffed_articles(session, caller))


async def _articles_todo(session: AsyncSession, caller: Caller) -> list[TodoItem]:
    """Articles at the person's levels, and of those the ones waiting at a level below
    that has no reviewer, named apart when there are any: the level below may not
    know it has none."""
    unstaffed = await unstaffed_articles(session, caller)
    items = [
        TodoItem(
            "articles",
            "待本级审核的稿件",
            await _count(
                session, Article, *_articles_at(caller, _review_levels(caller), unstaffed)
            ),
            "console_article_reviews",
        )
    ]
    if unstaffed is not None:
        count = await _count(session, Article, *_articles_at(caller, set(), unstaffed))
        if count:
            items.append(
                TodoItem(
                    "articles_unstaffed",
                    "其中下级无审核人、由本级代审的稿件",
                    count,
                    "console_article_reviews",
                )
            )
    return items


async def _placements_todo(session: AsyncSession, caller: Caller) -> list[TodoItem]:
    """Placements awaiting the office, for the offices (district, street) alone: the
    same list as their screen (GET /placements?to_verify=true)."""
    if not caller.paths(publicity_service.OFFICE_ROLES):
        return []
    _, total = await publicity_service.list_placements(
        session,
        caller=caller,
        article=None,
        org=None,
        status=None,
        to_verify=True,
        offset=0,
        limit=0,
    )
    return [TodoItem("placements", "待认定的上稿", total, "console_placement_reviews")]


async def todo(session: AsyncSession, *, settings: Settings, caller: Caller) -> list[TodoItem]:
    """The person's to-do list across domains, counted in their reach."""
    paths = caller.paths(ADMIN_ROLES)
    now = utcnow()
    unresolved = (col(Problem.status).in_(UNRESOLVED), in_reach(col(Problem.org_id), paths))
    return [
        TodoItem(
            "wishes",
            "待审核的微心愿",
            await _count(session, Wish, *wishes_to_review(caller)),
            "console_wish_reviews",
        ),
        TodoItem(
            "hours",
            "待审核的志愿时长",
            await _count(session, VolunteerHour, *hours_to_review(caller)),
            "console_hour_reviews",
        ),
        *await _articles_todo(session, caller),
        *await _placements_todo(session, caller),
        *await _problems_due(session, unresolved, now),
        TodoItem(
            "reports",
            "待受理的随手拍",
            await _count(
                session,
                Report,
                col(Report.status) == ReportStatus.submitted,
                in_reach(col(Report.org_id), paths),
            ),
            "console_reports",
        ),
        TodoItem(
            "unbound",
            "花名册中尚未绑定微信的人员",
            (await session.execute(unbound_in_reach(caller))).scalar_one(),
            "console_roster",
            "?unbound=true",
        ),
    ]


async def _problems_due(
    session: AsyncSession, unresolved: tuple[Any, ...], now: datetime
) -> list[TodoItem]:
    """Overdue and due-soon problems among `unresolved` (admins' and inspectors' to-do)."""
    return [
        TodoItem(
            "problems_overdue",
            "已逾期的问题",
            await _count(session, Problem, *unresolved, col(Problem.deadline_at) <= now),
            "console_problems",
        ),
        TodoItem(
            "problems_due_soon",
            f"{DUE_SOON_DAYS} 天内到期的问题",
            await _count(
                session,
                Problem,
                *unresolved,
                and_(
                    col(Problem.deadline_at) > now,
                    col(Problem.deadline_at) <= now + timedelta(days=DUE_SOON_DAYS),
                ),
            ),
            "console_problems",
        ),
    ]


async def inspector_todo(session: AsyncSession, *, caller: Caller) -> list[TodoItem]:
    """An inspector's to-do (督导员, no admin role): the problems in their reach
    awaiting their verification, and those overdue or due soon, which they chase."""
    paths = caller.paths(problem_service.SUPERVISION_ROLES)
    now = utcnow()
    unresolved = (col(Problem.status).in_(UNRESOLVED), in_reach(col(Problem.org_id), paths))
    return [
        TodoItem(
            "problems_to_verify",
            "待复核的问题",
            await _count(
                session,
                Problem,
                col(Problem.status) == ProblemStatus.rectified,
                in_reach(col(Problem.org_id), paths),
            ),
            "console_problems",
        ),
        *await _problems_due(session, unresolved, now),
    ]


# --- the review screens ----------------------------------------------------------------


@dataclass(frozen=True)
class ReviewItem:
    """One line of a review screen, whatever the domain."""

    id: int
    title: str
    detail: str
    org: str
    person: str
    when: datetime | None


@dataclass(frozen=True)
class ReviewScreen:
    kind: str  # wishes, hours, articles
    title: str
    items: list[ReviewItem]
    paging: Paging
    # The POST route that takes the decision, and the field name of its reason.
    decide: str
    id_param: str
    reason_label: str

    # Lines whose level has no reviewer of its own (the person's level acts for it).
    unstaffed: frozenset[int] = frozenset()
    # The screen's views, (label, query, current): what awaits review, and what may
    # still be undone. `undo`: the lines are decided already and each has one form,
    # a reason and this button, posting to `decide`.
    views: tuple[tuple[str, str, bool], ...] = ()
    undo: str | None = None

    @property
    def total(self) -> int:
        return self.paging.total


async def _oldest_first(
    session: AsyncSession, model: Any, conditions: list[ColumnElement[bool]], paging: Paging
) -> tuple[list[Any], Paging]:
    total = await _count(session, model, *conditions)
    rows = await session.execute(
        select(model)
        .where(*conditions)
        .order_by(col(model.id))
        .offset(paging.offset)
        .limit(paging.size)
    )
    return list(rows.scalars()), paging.of(total)


async def _newest_first(
    session: AsyncSession,
    model: Any,
    conditions: list[ColumnElement[bool]],
    paging: Paging,
    by: Any,
) -> tuple[list[Any], Paging]:
    total = await _count(session, model, *conditions)
    rows = await session.execute(
        select(model)
        .where(*conditions)
        .order_by(by.desc(), col(model.id).desc())
        .offset(paging.offset)
        .limit(paging.size)
    )
    return list(rows.scalars()), paging.of(total)


def _views(*views: tuple[str, str], current: str) -> tuple[tuple[str, str, bool], ...]:
    return tuple((label, query, query == current) for label, query in views)


WISH_VIEWS = (("待审核", ""), ("近 7 天已确认（可撤回确认）", "?view=confirmed"))
HOUR_VIEWS = (("待审核", ""), ("已通过（30 天内可撤销）", "?view=approved"))


async def wish_reviews(
    session: AsyncSession, *, caller: Caller, cipher: PiiCipher, paging: Paging
) -> ReviewScreen:
    wishes, paging = await _oldest_first(session, Wish, wishes_to_review(caller), paging)
    # As the API shows them (names masked unless in reach: here they all are).
    shown = await wish_service.to_public(session, caller=caller, cipher=cipher, wishes=wishes)
    orgs = await org_names(session, {w.community_id for w in shown})
    people = await user_names(session, {w.created_by_id for w in shown})
    items = [
        ReviewItem(
            id=w.id,
            title=w.title,
            detail=f"{w.description}（受助人：{w.beneficiary_name}）",
            org=orgs.get(w.community_id, ""),
            person=people.get(w.created_by_id, ""),
            when=w.created_at,
        )
        for w in shown
    ]
    return ReviewScreen(
        "wishes",
        "心愿审核",
        items,
        paging,
        "console_review_wish",
        "wish_id",
        "退回原因",
        views=_views(*WISH_VIEWS, current=""),
    )


def wishes_to_withdraw(caller: Caller, now: datetime) -> list[ColumnElement[bool]]:
    """Confirmations the person may still withdraw (wishes `unconfirm_wish`): within
    UNCONFIRM_WINDOW, in their admin reach, and theirs to withdraw: the community's
    own admin, or whoever confirmed it."""
    confirmed_by_me = (
        select(WishEvent.id)
        .where(
            col(WishEvent.wish_id) == col(Wish.id),
            col(WishEvent.action) == WishAction.confirm,
            col(WishEvent.actor_id) == caller.id,
        )
        .exists()
    )
    return [
        col(Wish.status) == WishStatus.confirmed,
        col(Wish.confirmed_at) >= now - wish_service.UNCONFIRM_WINDOW,
        in_reach(col(Wish.community_id), caller.paths(ADMIN_ROLES)),
        or_(
            in_reach(col(Wish.community_id), caller.paths(frozenset({Role.community_admin}))),
            confirmed_by_me,
        ),
    ]


async def confirmed_wishes(
    session: AsyncSession, *, caller: Caller, cipher: PiiCipher, paging: Paging
) -> ReviewScreen:
    """Wishes confirmed lately whose confirmation the person may withdraw, the latest
    first (POST /wishes/{id}/withdraw-confirmation)."""
    conditions = wishes_to_withdraw(caller, utcnow())
    wishes, paging = await _newest_first(session, Wish, conditions, paging, col(Wish.confirmed_at))
    shown = await wish_service.to_public(session, caller=caller, cipher=cipher, wishes=wishes)
    orgs = await org_names(session, {w.community_id for w in shown})
    people = await user_names(session, {w.claimed_by_id for w in shown if w.claimed_by_id})
    items = [
        ReviewItem(
            id=w.id,
            title=w.title,
            detail=f"{w.description}（受助人：{w.beneficiary_name}）",
            org=orgs.get(w.community_id, ""),
            person=people.get(w.claimed_by_id, "") if w.claimed_by_id else "",
            when=w.confirmed_at,
        )
        for w in shown
    ]
    return ReviewScreen(
        "wishes",
        "心愿审核",
        items,
        paging,
        "console_withdraw_wish_confirmation",
        "wish_id",
        "撤回原因",
        views=_views(*WISH_VIEWS, current="?view=confirmed"),
        undo="撤回确认",
    )


async def hour_reviews(session: AsyncSession, *, caller: Caller, paging: Paging) -> ReviewScreen:
    entries, paging = await _oldest_first(session, VolunteerHour, hours_to_review(caller), paging)
    orgs = await org_names(session, {e.org_id for e in entries})
    people = await user_names(session, {e.user_id for e in entries})
    items = [
        ReviewItem(
            id=e.id,
            title=e.activity,
            detail=f"{e.minutes / 60:.1f} 小时",
            org=orgs.get(e.org_id, ""),
            person=people.get(e.user_id, ""),
            when=e.started_at,
        )
        for e in entries
    ]
    return ReviewScreen(
        "hours",
        "时长审核",
        items,
        paging,
        "console_review_hours",
        "entry_id",
        "驳回原因",
        views=_views(*HOUR_VIEWS, current=""),
    )


def hours_to_revoke(caller: Caller, now: datetime) -> list[ColumnElement[bool]]:
    """Approved entries the person may still revoke (volunteer_hours `revoke_entry`):
    approved within REVOKE_WINDOW, in their admin reach, not their own."""
    approved_at = func.coalesce(col(VolunteerHour.reviewed_at), col(VolunteerHour.created_at))
    return [
        col(VolunteerHour.status) == HourStatus.approved,
        approved_at >= now - hours_service.REVOKE_WINDOW,
        in_reach(col(VolunteerHour.org_id), caller.paths(ADMIN_ROLES)),
        col(VolunteerHour.user_id) != caller.id,
    ]


async def approved_hours(session: AsyncSession, *, caller: Caller, paging: Paging) -> ReviewScreen:
    """Entries approved lately that the person may revoke, the latest approved first
    (POST /volunteer-hours/{id}/revoke)."""
    entries, paging = await _newest_first(
        session,
        VolunteerHour,
        hours_to_revoke(caller, utcnow()),
        paging,
        func.coalesce(col(VolunteerHour.reviewed_at), col(VolunteerHour.created_at)),
    )
    orgs = await org_names(session, {e.org_id for e in entries})
    people = await user_names(session, {e.user_id for e in entries})
    items = [
        ReviewItem(
            id=e.id,
            title=e.activity,
            detail=f"{e.minutes / 60:.1f} 小时 · 通过于 "
            + local(e.reviewed_at or e.created_at).strftime("%Y-%m-%d %H:%M"),
            org=orgs.get(e.org_id, ""),
            person=people.get(e.user_id, ""),
            when=e.started_at,
        )
        for e in entries
    ]
    return ReviewScreen(
        "hours",
        "时长审核",
        items,
        paging,
        "console_revoke_hours",
        "entry_id",
        "撤销原因",
        views=_views(*HOUR_VIEWS, current="?view=approved"),
        undo="撤销",
    )


IMPORTANCE_LABELS = {
    ArticleImportance.routine: "一般稿件",
    ArticleImportance.important: "重要稿件",
    ArticleImportance.major: "重大稿件",
}
# The queue's order: urgent first, then the weightier, then the longest waiting.
_WEIGHT = case(
    {ArticleImportance.major.value: 0, ArticleImportance.important.value: 1},
    value=col(Article.importance),
    else_=2,
)


async def article_reviews(session: AsyncSession, *, caller: Caller, paging: Paging) -> ReviewScreen:
    conditions = await articles_to_review(session, caller)
    paging = paging.of(await _count(session, Article, *conditions))
    articles: list[Any] = list(
        (
            await session.execute(
                select(Article)
                .where(*conditions)
                .order_by(
                    col(Article.urgent).desc(),
                    _WEIGHT,
                    col(Article.review_level_at),
                    col(Article.id),
                )
                .offset(paging.offset)
                .limit(paging.size)
            )
        ).scalars()
    )
    mine = _review_levels(caller)
    orgs = await org_names(session, {a.org_id for a in articles})
    people = await user_names(session, {a.author_id for a in articles})
    items = [
        ReviewItem(
            id=a.id,
            title=("【紧急】" if a.urgent else "")
            + ("【下级无审核人】" if a.review_org_id not in mine else "")
            + a.title,
            detail=f"{IMPORTANCE_LABELS[a.importance]} · "
            + a.body[:200]
            + ("…" if len(a.body) > 200 else ""),
            org=orgs.get(a.org_id, ""),
            person=people.get(a.author_id, ""),
            when=a.review_level_at,
        )
        for a in articles
    ]
    return ReviewScreen(
        "articles",
        "稿件审核",
        items,
        paging,
        "console_review_article",
        "article_id",
        "修改意见",
        frozenset(a.id for a in articles if a.review_org_id not in mine),
    )


async def placement_reviews(
    session: AsyncSession, *, caller: Caller, paging: Paging
) -> ReviewScreen:
    """Placements awaiting the office (GET /placements?to_verify=true), as that list
    orders them (the newest first)."""
    placements, total = await publicity_service.list_placements(
        session,
        caller=caller,
        article=None,
        org=None,
        status=None,
        to_verify=True,
        offset=paging.offset,
        limit=paging.size,
    )
    paging = paging.of(total)
    shown = await publicity_service.placements_public(session, placements)
    orgs = await org_names(session, {p.org_id for p in shown})
    people = await user_names(session, {p.recorded_by_id for p in shown})
    items = [
        ReviewItem(
            id=p.id,
            title=p.article_title,
            detail=f"{LEVEL_NAMES[p.level]} · {p.outlet} · {p.published_on:%Y-%m-%d}"
            + (f" · {p.url}" if p.url else ""),
            org=orgs.get(p.org_id, ""),
            person=people.get(p.recorded_by_id, ""),
            when=p.created_at,
        )
        for p in shown
    ]
    return ReviewScreen(
        "placements",
        "上稿认定",
        items,
        paging,
        "console_verify_placement",
        "placement_id",
        "不予认定原因",
    )


# --- the roster ------------------------------------------------------------------------


@dataclass(frozen=True)
class OrgChoice:
    id: int
    name: str
    level: OrgLevel
    depth: int
    path: str = ""


async def orgs_in_reach(
    session: AsyncSession, caller: Caller, roles: frozenset[Role] = ADMIN_ROLES
) -> list[OrgChoice]:
    """The orgs the person's admin roles (or `roles`) reach, in tree order, for the
    screens' pickers (a district holds a few hundred)."""
    rows = await session.execute(
        select(Org.id, Org.name, Org.level, Org.path)
        .where(org_ids_in(caller.paths(roles)))
        .order_by(col(Org.path))
    )
    return [
        OrgChoice(int(i), str(n), OrgLevel(lv), str(p).count("/") - 2, str(p))
        for i, n, lv, p in rows.all()
    ]


async def roster_page(
    session: AsyncSession,
    *,
    caller: Caller,
    org: Org | None,
    name: str | None,
    unbound: bool,
    paging: Paging,
    street: Org | None = None,
) -> tuple[list[UserPublic], Paging]:
    """GET /users as the roster screen asks it: an org picked is a community or a
    unit (the people living there or working there); a street picked (and no org)
    is everyone at home in its communities and units."""
    users, total = await user_service.list_users(
        session,
        caller,
        community_id=org.id if org is not None and org.level != OrgLevel.unit else None,
        unit_id=org.id if org is not None and org.level == OrgLevel.unit else None,
        is_party_member=None,
        name=name,
        wechat_bound=False if unbound else None,
        offset=paging.offset,
        limit=paging.size,
        within=street if org is None else None,
    )
    return users, paging.of(total)


def top_org(caller: Caller) -> int:
    """The person's highest admin org: where their dashboards and ledgers start."""
    grant = min((g for g in caller.grants if g.role in ADMIN_ROLES), key=lambda g: len(g.org_path))
    return grant.org_id


# --- tasks -------------------------------------------------------------------------------


async def tasks_page(
    session: AsyncSession, *, caller: Caller, status: TaskStatus | None, paging: Paging
) -> tuple[list[TaskPublic], Paging]:
    """GET /tasks, limited to the person's admin reach: the tasks they publish and
    follow (those from above, which they see as members too, are the mini-program's)."""
    top = await session.get(Org, top_org(caller))
    tasks, total = await task_service.list_tasks(
        session,
        caller=caller,
        status=status,
        org=top,
        offset=paging.offset,
        limit=paging.size,
    )
    return tasks, paging.of(total)


# --- the problems board ------------------------------------------------------------------


@dataclass(frozen=True)
class BoardColumn:
    status: ProblemStatus
    title: str
    problems: list[ProblemPublic]
    paging: Paging

    @property
    def total(self) -> int:
        return self.paging.total


# The board's columns, each paged on its own parameter (`open_page`, ...).
BOARD_COLUMNS = (
    (ProblemStatus.open, "待整改"),
    (ProblemStatus.rectified, "待复核"),
    (ProblemStatus.closed, "已销号（最近）"),
)


async def problems_board(
    session: AsyncSession,
    *,
    settings: Settings,
    caller: Caller,
    org: Org | None,
    pagings: dict[ProblemStatus, Paging],
) -> list[BoardColumn]:
    """GET /problems by status, as columns: to rectify, to verify, closed lately;
    the unresolved ones paged by deadline, the nearest (the overdue) first."""
    columns = []
    for status, title in BOARD_COLUMNS:
        paging = pagings[status]
        shown, total = await problem_service.list_problems(
            session,
            caller=caller,
            status=status,
            overdue=None,
            escalated_to=None,
            org=org,
            district_after_days=settings.problem_district_escalation_days,
            offset=paging.offset,
            limit=paging.size,
            by_deadline=status != ProblemStatus.closed,
        )
        columns.append(BoardColumn(status, title, shown, paging.of(total)))
    return columns


async def board_actions(
    session: AsyncSession, caller: Caller, columns: list[BoardColumn]
) -> tuple[set[int], set[int]]:
    """(ids the person may rectify, ids they may verify), by the services' rules:
    an admin of the responsible org or above rectifies; an inspector over it or an
    admin strictly above it verifies."""
    problems = [p for c in columns if c.status != ProblemStatus.closed for p in c.problems]
    orgs = {
        o.id: o
        for o in (
            await session.execute(select(Org).where(col(Org.id).in_({p.org_id for p in problems})))
        ).scalars()
    }
    rectify = {
        p.id
        for p in problems
        if p.status == ProblemStatus.open and caller.reaches(orgs[p.org_id], ADMIN_ROLES)
    }
    verify = {
        p.id
        for p in problems
        if p.status == ProblemStatus.rectified
        and problem_service.may_verify(caller, orgs[p.org_id])
    }
    return rectify, verify


# --- units (issue 18) and inspections (issue 21) ------------------------------------------

# The inbox shows each waiting report's nearby duplicates (a query pair each).
INBOX_PAGE = 20
# Lists of short lines (check-ins, visits): longer pages.
LONG_PAGE = 100
# The inspection calendar's default period: the last week, today included.
INSPECTION_DAYS = 7

POINT_KIND_LABELS = {
    "market": "农贸市场",
    "back_street": "背街小巷",
    "compound": "居民小区",
    "bus_stop": "公交站台",
    "main_road": "主次干道",
    "square": "广场公园",
    "school_surroundings": "校园周边",
    "hospital": "医院",
    "station": "车站",
    "public_toilet": "公共厕所",
    "other": "其他",
}
REPORT_STATUS_LABELS = {"submitted": "待受理", "accepted": "已受理", "rejected": "不予受理"}
PROBLEM_STATUS_LABELS = {
    "open": "待整改",
    "rectified": "待复核",
    "closed": "已销号",
}


def home_org(caller: Caller) -> int:
    """Where the units' screens start: an admin's highest org, a unit's party
    secretary's unit."""
    grants = [g for g in caller.grants if g.role in PEOPLE_ROLES]
    return min(grants, key=lambda g: len(g.org_path)).org_id


async def nearby_of(
    session: AsyncSession, *, caller: Caller, reports: Sequence[Report]
) -> dict[int, list[NearbyItem]]:
    """GET /reports/{id}/nearby for each report still waiting: the inbox shows its
    possible duplicates beside it (a page of INBOX_PAGE reports, one query pair each)."""
    out = {}
    for report in reports:
        if report.status == ReportStatus.submitted and report.id is not None:
            out[report.id] = await report_service.nearby(session, caller=caller, report=report)
    return out


# --- the dev stub's login ------------------------------------------------------------------


async def dev_admins(session: AsyncSession) -> list[tuple[int, str]]:
    """Everyone who may log in (admins, units' party secretaries, inspectors), for the dev
    login's list (APP_ENV=dev only)."""
    rows = await session.execute(
        select(User.id, User.name)
        .where(
            col(User.id).in_(
                select(RoleGrant.user_id).where(
                    col(RoleGrant.role).in_(PEOPLE_ROLES | {Role.inspector})
                )
            )
        )
        .order_by(col(User.id))
        .limit(50)
    )
    return [(int(i), str(n)) for i, n in rows.all()]


async def dev_admin(session: AsyncSession, user_id: int) -> Caller:
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound()
    return await caller_for_person(session, user)


# --- volunteers, teams and the order board (issue 19) --------------------------------------


async def volunteer_reviews(
    session: AsyncSession, *, caller: Caller, paging: Paging
) -> ReviewScreen:
    pending = [
        col(Volunteer.status) == VolunteerStatus.pending,
        in_reach(col(Volunteer.community_id), caller.paths(ADMIN_ROLES)),
    ]
    rows, paging = await _oldest_first(session, Volunteer, pending, paging)
    shown = await volunteer_service.to_public(session, rows)
    orgs = await org_names(session, {v.community_id for v in shown})
    items = [
        ReviewItem(
            id=v.id,
            title=v.name,
            detail=f"{v.phone_masked or ''} 技能：{'、'.join(v.skills) or '—'}",
            org=orgs.get(v.community_id, ""),
            person=v.name,
            when=v.created_at,
        )
        for v in shown
    ]
    return ReviewScreen(
        "volunteers",
        "志愿者审核",
        items,
        paging,
        "console_review_volunteer",
        "volunteer_id",
        "驳回原因",
    )


BOARD_STATES = (
    OrderStatus.submitted,
    OrderStatus.accepted,
    OrderStatus.dispatched,
    OrderStatus.taken,
)


@dataclass(frozen=True)
class OrderBoard:
    orders: list[OrderPublic]
    paging: Paging
    # The teams an order may be dispatched to: those of orgs in reach, and of the orgs
    # above the orders' communities.
    teams: list[TeamPublic]
    org_names: dict[int, str]
    status_names: dict[Any, str]


async def order_board(
    session: AsyncSession, *, caller: Caller, cipher: PiiCipher, paging: Paging
) -> OrderBoard:
    """Orders in reach still to be handled, oldest first, a page at a time."""
    conditions = [
        in_reach(col(ServiceOrder.community_id), caller.paths(ADMIN_ROLES)),
        col(ServiceOrder.status).in_(BOARD_STATES),
    ]
    orders, paging = await _oldest_first(session, ServiceOrder, conditions, paging)
    shown = await order_service.to_public(session, caller=caller, cipher=cipher, orders=orders)
    communities = {o.community_id for o in orders}
    above = {
        i
        for path in (
            await session.execute(select(Org.path).where(col(Org.id).in_(communities)))
        ).scalars()
        for i in path_ids(path)
    }
    teams = await session.execute(
        select(Team)
        .where(
            or_(
                in_reach(col(Team.org_id), caller.paths(ADMIN_ROLES)),
                col(Team.org_id).in_(above),
            )
        )
        .order_by(col(Team.id))
    )
    return OrderBoard(
        orders=shown,
        paging=paging,
        teams=await team_service.to_public(session, list(teams.scalars())),
        org_names=await org_names(session, communities),
        status_names=order_service.STATUS_NAMES,
    )


async def teams_page(
    session: AsyncSession, *, caller: Caller, paging: Paging
) -> tuple[list[TeamPublic], Paging]:
    """The teams screen: the teams of orgs in reach, a page at a time."""
    teams, paging = await _oldest_first(
        session, Team, [in_reach(col(Team.org_id), caller.paths(ADMIN_ROLES))], paging
    )
    return await team_service.to_public(session, teams), paging


async def teams_in_reach(session: AsyncSession, *, caller: Caller) -> list[TeamPublic]:
    """Every team of orgs in reach: the pickers' choices (an item's team)."""
    rows = await session.execute(
        select(Team)
        .where(in_reach(col(Team.org_id), caller.paths(ADMIN_ROLES)))
        .order_by(col(Team.id))
    )
    return await team_service.to_public(session, list(rows.scalars()))


# --- the community shop (积分超市) ---------------------------------------------------------


@dataclass
class ShopScreen:
    """One community's shop: its stock, the reservations waiting to be collected,
    the recent awards (each list paged on its own parameter), and the residents an
    award may go to."""

    communities: list[OrgChoice]
    community: Org | None
    items: list[ShopItem]
    waiting: list[tuple[Redemption, str, str]]  # the reservation, person, item
    awards: list[tuple[PointsEntry, str]]  # the award, person
    residents: list[tuple[int, str]]
    top: list[AccountPublic] = field(default_factory=list)  # the largest balances
    # All the residents the name typed matches; the picker holds RESIDENT_CHOICES.
    residents_total: int = 0
    resident_name: str = ""
    items_paging: Paging | None = None
    waiting_paging: Paging | None = None
    awards_paging: Paging | None = None


# The award form's picker: this many residents, narrowed by a name typed.
RESIDENT_CHOICES = 500


async def _page_of(
    session: AsyncSession, statement: Any, paging: Paging
) -> tuple[list[Any], Paging]:
    """One page of `statement` (ordered) and the whole's count (`paged`)."""
    rows, total = await paged_scalars(session, statement, offset=paging.offset, limit=paging.size)
    return rows, paging.of(total)


async def shop_screen(
    session: AsyncSession,
    caller: Caller,
    community_id: int | None,
    pagings: dict[str, Paging],
    resident_name: str = "",
) -> ShopScreen:
    communities = [o for o in await orgs_in_reach(session, caller) if o.level == OrgLevel.community]
    wanted = community_id or (communities[0].id if communities else None)
    if wanted is None:
        return ShopScreen(communities, None, [], [], [], [])
    community = await org_in_reach(session, caller, wanted)
    items, items_paging = await _page_of(
        session,
        select(ShopItem)
        .where(ShopItem.community_id == community.id)
        .order_by(col(ShopItem.id).desc()),
        pagings["items_page"],
    )
    waiting, waiting_paging = await _page_of(
        session,
        select(Redemption)
        .where(
            Redemption.community_id == community.id,
            Redemption.status == RedemptionStatus.reserved,
        )
        .order_by(col(Redemption.expires_at), col(Redemption.id)),
        pagings["waiting_page"],
    )
    awards, awards_paging = await _page_of(
        session,
        select(PointsEntry)
        .where(PointsEntry.org_id == community.id, PointsEntry.kind == EntryKind.award)
        .order_by(col(PointsEntry.id).desc()),
        pagings["awards_page"],
    )
    living: list[ColumnElement[bool]] = [
        col(User.community_id) == community.id,
        col(User.merged_into_id).is_(None),
    ]
    if resident_name:
        living.append(col(User.name).contains(resident_name, autoescape=True))
    residents = [
        (i, n)
        for i, n in (
            await session.execute(
                select(User.id, User.name)
                .where(*living)
                .order_by(col(User.name), col(User.id))
                .limit(RESIDENT_CHOICES)
            )
        ).all()
    ]
    names = await user_names(session, [r.user_id for r in waiting] + [a.user_id for a in awards])
    item_names: dict[int, str] = dict(
        (
            await session.execute(
                select(ShopItem.id, ShopItem.name).where(
                    col(ShopItem.id).in_({r.item_id for r in waiting})
                )
            )
        ).all()
    )
    return ShopScreen(
        communities=communities,
        community=community,
        items=items,
        waiting=[(r, names.get(r.user_id, ""), item_names.get(r.item_id, "")) for r in waiting],
        awards=[(a, names.get(a.user_id, "")) for a in awards],
        residents=residents,
        residents_total=await _count(session, User, *living),
        resident_name=resident_name,
        top=(
            await points_service.accounts(session, caller=caller, org=community, offset=0, limit=10)
        )[0],
        items_paging=items_paging,
        waiting_paging=waiting_paging,
        awards_paging=awards_paging,
    )


# --- the dashboard screen -------------------------------------------------------------------


async def dashboard_screen(
    session: AsyncSession,
    *,
    settings: Settings,
    caller: Caller,
    org_id: int | None,
    month: str | None,
    sort: DashboardSort,
    order: SortOrder,
    figures: AsyncSession,
) -> DashboardPage:
    """The dashboard page's figures and charts (app.services.dashboard_view), as a
    console screen: any org in the person's reach (their highest by default), its
    links to this screen rather than to a link's token. `figures`: the reading session."""
    shown = await org_in_reach(session, caller, org_id or top_org(caller))
    assert shown.id is not None
    now = utcnow()
    month = month or month_key(now)
    days = settings.problem_district_escalation_days
    d = await dashboard_service.dashboard(
        figures, org=shown, month=month, district_after_days=days, now=now
    )
    ranking = await dashboard_service.ranking(
        figures,
        org=shown,
        month=month,
        sort=sort,
        order=order,
        district_after_days=days,
        now=now,
    )
    params: dict[str, Any] = {
        "org_id": shown.id,
        "month": month,
        "sort": sort.value,
        "order": order.value,
    }

    def href(**changes: Any) -> str:
        return "?" + urlencode({**params, **changes})

    # The breadcrumbs: the orgs above the one shown that the person reaches too.
    reach = caller.paths(ADMIN_ROLES)
    above = (
        await session.execute(select(Org).where(col(Org.id).in_(path_ids(shown.path))))
    ).scalars()
    crumbs = sorted(
        (o for o in above if any(o.path.startswith(p) for p in reach)), key=lambda o: len(o.path)
    )
    return dashboard_view.lay_out(
        d, ranking, breadcrumbs=crumbs, expires_at=now, href=href, now=now
    )
