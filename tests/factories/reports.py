"""Factories for residents' reports: a submitted report straight in the database."""

from __future__ import annotations

from fastapi import FastAPI

from app.core.db import utcnow
from app.models.media import MediaAttachment
from app.models.org import Org
from app.models.problem import ProblemCategory
from app.models.report import Report, ReportAction, ReportEvent, ReportStatus
from app.models.user import User
from app.services.reports import LIFECYCLE, REPORT_RECORD
from tests.factories.lifecycle import paths_from
from tests.factories.media import make_media
from tests.factories.problems import insert_problem

PATH_TO = paths_from(LIFECYCLE, ReportStatus.submitted)


async def insert_report(
    app: FastAPI,
    *,
    community: Org,
    reporter: User,
    description: str = "小区门口垃圾没人清",
    lat: float = 23.1291,
    lng: float = 113.2644,
    status: ReportStatus = ReportStatus.submitted,
    handler: User | None = None,
) -> Report:
    """A report in `status` with one photo of the reporter's and the history that would
    have led there (an accepted one with its problem, filed by `handler`)."""
    photo = await make_media(app, reporter)
    now = utcnow()
    handler = handler or reporter
    problem = (
        await insert_problem(app, org=community, reporter=handler, description=description)
        if status == ReportStatus.accepted
        else None
    )
    async with app.state.sessionmaker() as session, session.begin():
        report = Report(
            reporter_id=reporter.id,
            org_id=community.id,
            category=ProblemCategory.sanitation,
            description=description,
            lat=lat,
            lng=lng,
            status=status,
            problem_id=problem.id if problem else None,
            reject_reason="不属于市容问题" if status == ReportStatus.rejected else None,
            handled_by_id=handler.id if status != ReportStatus.submitted else None,
            handled_at=now if status != ReportStatus.submitted else None,
            created_at=now,
            updated_at=now,
        )
        session.add(report)
        await session.flush()
        session.add(
            ReportEvent(
                report_id=report.id,
                action=ReportAction.create,
                to_status=ReportStatus.submitted,
                actor_id=reporter.id,
                at=now,
            )
        )
        session.add(
            MediaAttachment(media_id=photo.id, record_type=REPORT_RECORD, record_id=report.id)
        )
        return report
