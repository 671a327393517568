"""Community tasks, check-ins and report-ins straight in the database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import FastAPI

from app.core.timeutil import month_key
from app.models.org import Org
from app.models.report_in import (
    ReportIn,
)
from app.models.task import (
    CheckIn,
    Task,
    TaskCategory,
)
from app.models.user import User

# A back street in Guangzhou; tasks with a place are centred here.
PLACE = (23.1291, 113.2644)


async def make_task(
    app: FastAPI,
    org: Org,
    *,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    location: tuple[float, float, int] | None = None,
    capacity: int | None = None,
    title: str = "背街小巷清洁",
) -> Task:
    """A task straight in the database, active from an hour ago to an hour from now."""
    now = datetime.now(UTC)
    async with app.state.sessionmaker() as session, session.begin():
        task = Task(
            org_id=org.id,
            title=title,
            description="清理卫生死角",
            category=TaskCategory.sanitation,
            starts_at=starts_at or now - timedelta(hours=1),
            ends_at=ends_at or now + timedelta(hours=1),
            lat=location[0] if location else None,
            lng=location[1] if location else None,
            radius_m=location[2] if location else None,
            capacity=capacity,
        )
        session.add(task)
        return task


async def make_check_in(
    app: FastAPI, task: Task, user: User, *, minutes_ago: int = 30, at: datetime | None = None
) -> CheckIn:
    async with app.state.sessionmaker() as session, session.begin():
        record = CheckIn(
            task_id=task.id,
            user_id=user.id,
            checked_in_at=at or datetime.now(UTC) - timedelta(minutes=minutes_ago),
            check_in_lat=PLACE[0],
            check_in_lng=PLACE[1],
        )
        session.add(record)
        db_task = await session.get(Task, task.id)
        assert db_task is not None
        db_task.checked_in_count += 1
        return record


async def make_report_in(app: FastAPI, user: User) -> ReportIn:
    now = datetime.now(UTC)
    async with app.state.sessionmaker() as session, session.begin():
        record = ReportIn(
            user_id=user.id, community_id=user.community_id, month=month_key(now), reported_at=now
        )
        session.add(record)
        return record
