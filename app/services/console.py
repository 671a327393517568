"""What the PC console's screens show (app/routers/console.py): each screen's
figures, read with the vocabulary of reach (app.core.scope), so a screen holds
only what the person reaches. Actions go through the domains' own services, as
the API's routes do, so they are checked and audited the same way."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.core.config import Settings
from app.core.db import utcnow
from app.core.errors import NotFound
from app.core.scope import Caller, in_reach
from app.edge.access import caller_for_person
from app.models.article import Article, ArticleStatus
from app.models.hours import HourStatus, VolunteerHour
from app.models.org import Org
from app.models.problem import UNRESOLVED, Problem
from app.models.user import ADMIN_ROLES, RoleGrant, User
from app.models.wish import Wish, WishStatus
from app.services.users import users_in_reach

# The screens, in the order of the menu: (route name, label).
NAV = [
    ("console_home", "待办"),
    ("console_wish_reviews", "心愿审核"),
]

# Problems due within this many days count as "due soon" on the to-do list.
DUE_SOON_DAYS = 3


@dataclass(frozen=True)
class TodoItem:
    key: str
    label: str
    count: int
    # The console screen that deals with it, when one exists yet.
    screen: str | None = None


async def _count(session: AsyncSession, model: Any, *conditions: ColumnElement[bool]) -> int:
    statement = select(func.count()).select_from(model).where(*conditions)
    return int((await session.execute(statement)).scalar_one())


def wishes_to_review(caller: Caller) -> list[ColumnElement[bool]]:
    return [
        col(Wish.status) == WishStatus.pending_review,
        in_reach(col(Wish.community_id), caller.paths(ADMIN_ROLES)),
    ]


async def todo(session: AsyncSession, *, settings: Settings, caller: Caller) -> list[TodoItem]:
    """The person's to-do list across domains, counted in their reach."""
    paths = caller.paths(ADMIN_ROLES)
    now = utcnow()
    review_orgs = [g.org_id for g in caller.grants if g.role in ADMIN_ROLES]
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
            await _count(
                session,
                VolunteerHour,
                col(VolunteerHour.status) == HourStatus.pending,
                in_reach(col(VolunteerHour.org_id), paths),
            ),
        ),
        TodoItem(
            "articles",
            "待本级审核的稿件",
            await _count(
                session,
                Article,
                col(Article.status) == ArticleStatus.in_review,
                col(Article.review_org_id).in_(review_orgs),
            ),
        ),
        TodoItem(
            "problems_overdue",
            "已逾期的问题",
            await _count(session, Problem, *unresolved, col(Problem.deadline_at) <= now),
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
        ),
        TodoItem(
            "unbound",
            "花名册中尚未绑定微信的人员",
            await _count(
                session,
                User,
                users_in_reach(caller),
                col(User.openid).is_(None),
                col(User.merged_into_id).is_(None),
            ),
        ),
    ]


async def wishes_awaiting_review(
    session: AsyncSession, *, caller: Caller, limit: int
) -> tuple[list[Wish], int]:
    conditions = wishes_to_review(caller)
    total = await _count(session, Wish, *conditions)
    rows = await session.execute(
        select(Wish).where(*conditions).order_by(col(Wish.id)).limit(limit)
    )
    return list(rows.scalars()), total


async def org_names(session: AsyncSession, ids: set[int]) -> dict[int, str]:
    rows = await session.execute(select(Org.id, Org.name).where(col(Org.id).in_(ids)))
    return {int(i): str(n) for i, n in rows.all()}


# --- the dev stub's login ------------------------------------------------------------------


async def dev_admins(session: AsyncSession) -> list[tuple[int, str]]:
    """Everyone holding an admin role, for the dev login's list (APP_ENV=dev only)."""
    rows = await session.execute(
        select(User.id, User.name)
        .where(
            col(User.id).in_(select(RoleGrant.user_id).where(col(RoleGrant.role).in_(ADMIN_ROLES)))
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
