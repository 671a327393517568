"""The console's assessment screens (测评准备): survey results, and the indicators'
checklist board with its review. Beside app/routers/console.py, with its machinery
(caller, pages, forms); the actions call the same services as the API routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from app.models.indicator import IndicatorReview, IndicatorStatus
from app.routers.console import ConsoleCaller, ConsoleRoute, DecisionForm, _done, page
from app.routers.deps import IdPath, SessionDep
from app.services import indicators as indicator_service
from app.services import surveys as survey_service
from app.services.orgs import org_names

router = APIRouter(prefix="/console", tags=["console"], route_class=ConsoleRoute)

SURVEY_LIMIT = 50
CHECKLIST_LIMIT = 100
STATUS_LABELS = {"upcoming": "未开始", "open": "作答中", "closed": "已截止"}
KIND_LABELS = {"quiz": "应知应会测试", "questionnaire": "问卷"}


@router.get("/surveys", response_class=HTMLResponse, include_in_schema=False)
async def console_surveys(
    request: Request,
    session: SessionDep,
    caller: ConsoleCaller,
    survey_id: Annotated[str | None, Query(max_length=10, pattern=r"^\d*$")] = None,
) -> Response:
    """问卷和测试：管理范围内发起的（最近 50 份），选中一份看结果：各下级组织的应答率、
    平均得分，各题作答情况，同 GET /stats/surveys/{id}。"""
    surveys, total = await survey_service.list_surveys(
        session, caller=caller, org=None, status=None, offset=0, limit=SURVEY_LIMIT
    )
    shown = await survey_service.surveys_public(session, surveys, caller=caller)
    stats = None
    if survey_id:
        survey = await survey_service.get_visible_survey(session, caller, int(survey_id))
        org = await survey_service.stats_org(session, caller, survey, None)
        stats = await survey_service.survey_stats(session, survey=survey, org=org)
    return page(
        request,
        "console/surveys.html",
        {
            "surveys": shown,
            "total": total,
            "stats": stats,
            "picked": int(survey_id) if survey_id else None,
            "statuses": STATUS_LABELS,
            "kinds": KIND_LABELS,
            "org_names": await org_names(session, {s.org_id for s in shown}),
        },
    )


@router.get("/indicators", response_class=HTMLResponse, include_in_schema=False)
async def console_indicators(
    request: Request, session: SessionDep, caller: ConsoleCaller
) -> Response:
    """申报指标看板：管理范围内的指标按状态分列（逾期标红），待审核的可通过或退回
    （同 POST /indicators/{id}/review）。"""
    items, total = await indicator_service.list_indicators(
        session,
        caller=caller,
        org=None,
        status=None,
        overdue=None,
        offset=0,
        limit=CHECKLIST_LIMIT,
    )
    shown = await indicator_service.indicators_public(session, items, caller=caller)
    columns = {s: [i for i in shown if i.status == s] for s in IndicatorStatus}
    return page(
        request,
        "console/indicators.html",
        {
            "columns": columns,
            "total": total,
            "labels": indicator_service.STATUS_NAMES,
            "org_names": await org_names(session, {i.org_id for i in shown}),
            "done": request.query_params.get("done"),
        },
    )


@router.post("/indicators/{indicator_id}/review", include_in_schema=False)
async def console_review_indicator(
    request: Request,
    session: SessionDep,
    caller: ConsoleCaller,
    indicator_id: IdPath,
    form: Annotated[DecisionForm, Form()],
) -> Response:
    """POST /indicators/{indicator_id}/review, from a form."""
    indicator = await indicator_service.get_visible_indicator(session, caller, indicator_id)
    data = IndicatorReview(approve=form.approve, comment=form.reason or None)
    await indicator_service.review(session, caller=caller, indicator=indicator, data=data)
    return _done(request, "console_indicators", "accepted" if form.approve else "returned")
