"""The console's assessment screens (测评准备): survey results, the indicators'
checklist board with its review, and the monthly ranking by the composite score with
the office's comments (月点评). Beside app/routers/console.py, with its machinery
(caller, pages, forms); the actions call the same services as the API routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import Field

from app.core.db import utcnow
from app.core.scope import org_in_reach
from app.core.timeutil import month_key
from app.models.common import Month
from app.models.indicator import IndicatorReview, IndicatorStatus
from app.models.scoring import METRIC_NAMES, MonthlyReviewCreate
from app.routers.console import (
    ConsoleCaller,
    ConsoleForm,
    ConsoleRoute,
    DecisionForm,
    _done,
    page,
)
from app.routers.deps import IdPath, SessionDep, SettingsDep
from app.services import console as console_service
from app.services import dashboard as dashboard_service
from app.services import indicators as indicator_service
from app.services import scoring as scoring_service
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


# --- the monthly ranking (月点评) --------------------------------------------------------------


class ReviewForm(ConsoleForm):
    org_id: int = Field(ge=1, le=2**31 - 1)
    month: Month
    comment: str = Field(min_length=1, max_length=2000)


@router.get("/scores", response_class=HTMLResponse, include_in_schema=False)
async def console_scores(
    request: Request,
    session: SessionDep,
    caller: ConsoleCaller,
    settings: SettingsDep,
    org_id: Annotated[str | None, Query(max_length=10, pattern=r"^\d*$")] = None,
    month: Annotated[Month | None, Query()] = None,
) -> Response:
    """月度综合评分：所选组织（默认本人管理的最高一级）各直属下级的各项指标、得分、
    名次和较上月变化，同 GET /stats/scores；每行可写月点评（同 POST /reviews）；可导出 Excel。"""
    month = month or month_key(utcnow())
    picked = int(org_id) if org_id else console_service.top_org(caller)
    org = await org_in_reach(session, caller, picked)
    table = await dashboard_service.scores(
        session,
        org=org,
        month=month,
        district_after_days=settings.problem_district_escalation_days,
    )
    reviews, _ = await scoring_service.list_reviews(
        session, org=org, subtree=True, month=month, offset=0, limit=500
    )
    said: dict[int, list[str]] = {}
    for review in await scoring_service.reviews_public(session, reviews):
        said.setdefault(review.org_id, []).append(f"{review.comment}（{review.author_name}）")
    return page(
        request,
        "console/scores.html",
        {
            "table": table,
            "orgs": await console_service.orgs_in_reach(session, caller),
            "picked": picked,
            "month": month,
            "metric_names": METRIC_NAMES,
            "said": said,
            "done": request.query_params.get("done"),
        },
    )


@router.post("/scores/reviews", include_in_schema=False)
async def console_review_month(
    request: Request,
    session: SessionDep,
    caller: ConsoleCaller,
    form: Annotated[ReviewForm, Form()],
) -> Response:
    """POST /reviews, from the ranking's form; back to the ranking of the org's parent."""
    data = MonthlyReviewCreate(org_id=form.org_id, month=form.month, comment=form.comment)
    review = await scoring_service.create_review(session, caller=caller, data=data)
    org = await org_in_reach(session, caller, review.org_id)
    back = request.url_for("console_scores").include_query_params(
        org_id=org.parent_id or org.id, month=review.month, done="commented"
    )
    return RedirectResponse(str(back), 303)
