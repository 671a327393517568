"""Factories for supervision: points and problems straight in the database, and the
service steps (file, rectify, verify) run at a chosen moment, for clock-bound tests."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from fastapi import FastAPI

from app.core.db import utcnow
from app.core.timeutil import SHANGHAI, day_start, local
from app.edge.access import caller_for_person
from app.models.org import Org
from app.models.problem import (
    Point,
    PointKind,
    Problem,
    ProblemAction,
    ProblemCategory,
    ProblemCreate,
    ProblemEvent,
    ProblemRectify,
    ProblemStatus,
    ProblemVerify,
)
from app.models.user import User
from app.services import problems as service
from tests.factories.lifecycle import paths_from
from tests.factories.media import make_media

DISTRICT_AFTER_DAYS = 3  # the setting's default, as the test app uses it


def shanghai(*args: int) -> datetime:
    """A Shanghai wall-clock moment: shanghai(2026, 12, 1, 23, 59, 59)."""
    return datetime(*args, tzinfo=SHANGHAI)  # type: ignore[misc]


async def make_point(
    app: FastAPI,
    org: Org,
    *,
    name: str = "东关农贸市场",
    kind: PointKind = PointKind.market,
    responsible: User | None = None,
) -> Point:
    async with app.state.sessionmaker() as session, session.begin():
        point = Point(
            name=name,
            kind=kind,
            org_id=org.id,
            lat=23.1291,
            lng=113.2644,
            responsible_user_id=responsible.id if responsible else None,
        )
        session.add(point)
        return point


# The steps that lead to each state, for problems put straight into the database.
PATH_TO = paths_from(service.LIFECYCLE, ProblemStatus.open)


async def insert_problem(
    app: FastAPI,
    *,
    org: Org,
    reporter: User,
    status: ProblemStatus = ProblemStatus.open,
    rectifier: User | None = None,
    verifier: User | None = None,
    deadline: date | None = None,
    description: str = "市场门口垃圾堆积",
) -> Problem:
    """A problem in `status` with the history that would have led there."""
    now = utcnow()
    due = deadline or local(now).date() + timedelta(days=7)
    rectifier = rectifier or reporter
    verifier = verifier or reporter
    async with app.state.sessionmaker() as session, session.begin():
        problem = Problem(
            org_id=org.id,
            category=ProblemCategory.sanitation,
            description=description,
            deadline=due,
            deadline_at=day_start(due + timedelta(days=1)),
            status=status,
            reported_by_id=reporter.id,
            rectified_at=now if status == ProblemStatus.rectified else None,
            rectify_note="已清理" if status == ProblemStatus.rectified else None,
            rectified_by_id=rectifier.id if status == ProblemStatus.rectified else None,
            closed_at=now if status == ProblemStatus.closed else None,
        )
        session.add(problem)
        await session.flush()
        session.add(
            ProblemEvent(
                problem_id=problem.id,
                action=ProblemAction.create,
                to_status=ProblemStatus.open,
                actor_id=reporter.id,
            )
        )
        previous = ProblemStatus.open
        for action, to in PATH_TO[status]:
            actor = rectifier if action == ProblemAction.rectify else verifier
            session.add(
                ProblemEvent(
                    problem_id=problem.id,
                    action=action,
                    from_status=previous,
                    to_status=to,
                    actor_id=actor.id,
                )
            )
            previous = to
        return problem


# --- service steps at a chosen moment -------------------------------------------------


async def file_problem(
    app: FastAPI,
    who: User,
    org: Org,
    *,
    now: datetime,
    deadline: date | None = None,
    working_days: int | None = None,
) -> Problem:
    photo = await make_media(app, who)
    data = ProblemCreate(
        org_id=org.id or 0,
        category=ProblemCategory.sanitation,
        description="背街小巷垃圾未清运",
        photo_ids=[photo.id or 0],
        deadline=deadline,
        deadline_working_days=working_days,
    )
    async with app.state.sessionmaker() as session, session.begin():
        caller = await caller_for_person(session, who)
        return await service.create_problem(session, caller=caller, data=data, now=now)


async def rectify(app: FastAPI, who: User, problem: Problem, *, now: datetime) -> Problem:
    photo = await make_media(app, who)
    data = ProblemRectify(photo_ids=[photo.id or 0], note="已清理完毕")
    async with app.state.sessionmaker() as session, session.begin():
        caller = await caller_for_person(session, who)
        current = await service.get_visible_problem(
            session, caller=caller, problem_id=problem.id or 0
        )
        return await service.rectify_problem(
            session, caller=caller, problem=current, data=data, now=now
        )


async def verify(
    app: FastAPI,
    who: User,
    problem: Problem,
    *,
    now: datetime,
    approve: bool = True,
    note: str | None = None,
) -> Problem:
    data = ProblemVerify(approve=approve, note=note)
    async with app.state.sessionmaker() as session, session.begin():
        caller = await caller_for_person(session, who)
        current = await service.get_visible_problem(
            session, caller=caller, problem_id=problem.id or 0
        )
        return await service.verify_problem(
            session, caller=caller, problem=current, data=data, now=now
        )
