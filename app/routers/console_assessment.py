"""The console's assessment screens (测评准备): the surveys with their response counts,
results and builder, the indicators' checklist board with its review, the monthly
ranking by the composite score with the office's comments (月点评), the district's
weights of that score, and the household visits (入户调查) of a month. Beside
app/routers/console.py, with its machinery (caller, pages, forms); the actions call
the same services as the API routes, with the API's body models, so a form is held
to the API's rules and audited as the API is."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BeforeValidator, Field, NaiveDatetime, ValidationError

from app.core.db import utcnow
from app.core.errors import Unprocessable
from app.core.scope import Caller, org_in_reach
from app.core.timeutil import SHANGHAI, local, month_key
from app.models.common import Month
from app.models.household_visit import HouseholdVisitCreate
from app.models.indicator import IndicatorReview, IndicatorStatus
from app.models.org import OrgLevel
from app.models.scoring import METRIC_NAMES, MonthlyReviewCreate, ScoreMetric, ScoringUpdate
from app.models.survey import (
    MAX_OPTIONS,
    MAX_QUESTIONS,
    QuestionType,
    SurveyAudience,
    SurveyCreate,
    SurveyKind,
    SurveyQuestion,
)
from app.models.user import MAX_ID, Role
from app.routers.console import (
    ConsoleCaller,
    ConsoleForm,
    ConsoleRoute,
    DecisionForm,
    PageNumber,
    _done,
    console_caller,
    page,
    paging,
)
from app.routers.deps import IdPath, SessionDep, SettingsDep
from app.services import console as console_service
from app.services import dashboard as dashboard_service
from app.services import household_visits as household_service
from app.services import indicators as indicator_service
from app.services import publicity as publicity_service
from app.services import scoring as scoring_service
from app.services import surveys as survey_service
from app.services.orgs import org_names
from app.services.users import user_names

router = APIRouter(prefix="/console", tags=["console"], route_class=ConsoleRoute)

STATUS_LABELS = {"upcoming": "未开始", "open": "作答中", "closed": "已截止"}
KIND_LABELS = {"quiz": "应知应会测试", "questionnaire": "问卷"}
AUDIENCE_LABELS = {"members": "本组织花名册人员", "everyone": "所有人（含未在花名册的居民）"}
TYPE_LABELS = {"single": "单选", "multi": "多选", "scale": "量表（1–5 分）", "text": "填空"}


@router.get("/surveys", response_class=HTMLResponse, include_in_schema=False)
async def console_surveys(
    request: Request,
    session: SessionDep,
    caller: ConsoleCaller,
    survey_id: Annotated[str | None, Query(max_length=10, pattern=r"^\d*$")] = None,
    page_number: PageNumber = 1,
) -> Response:
    """问卷和测试：管理范围内发起的（分页）及答卷数，选中一份看结果：各下级组织的
    应答率、平均得分，各题作答情况，同 GET /stats/surveys/{id}。"""
    pages = paging(request, page_number)
    surveys, total = await survey_service.list_surveys(
        session, caller=caller, org=None, status=None, offset=pages.offset, limit=pages.size
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
            "paging": pages.of(total),
            "responses": await survey_service.response_counts(session, surveys, caller=caller),
            "done": request.query_params.get("done"),
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
    """申报指标看板：管理范围内的指标按状态分列（逾期标红，每列分页），待审核的可通过或退回
    （同 POST /indicators/{id}/review）。"""
    columns = {}
    pagings = {}
    shown_all = []
    for status in IndicatorStatus:
        param = f"{status.value}_page"
        raw = request.query_params.get(param, "1")
        number = int(raw) if raw.isdigit() and 0 < int(raw) <= 100_000 else 1
        pages = paging(request, number, param=param)
        items, count = await indicator_service.list_indicators(
            session,
            caller=caller,
            org=None,
            status=status,
            overdue=None,
            offset=pages.offset,
            limit=pages.size,
        )
        shown = await indicator_service.indicators_public(session, items, caller=caller)
        columns[status] = shown
        pagings[status] = pages.of(count)
        shown_all.extend(shown)
    return page(
        request,
        "console/indicators.html",
        {
            "columns": columns,
            "pagings": pagings,
            "total": sum(p.total for p in pagings.values()),
            "labels": indicator_service.STATUS_NAMES,
            "org_names": await org_names(session, {i.org_id for i in shown_all}),
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


# --- the survey builder ------------------------------------------------------------------------

# A single or multi question's options are lettered A, B, C… on the form, as on paper;
# its right answers are typed as those letters ("A", "AC").
LETTERS = "ABCDEFGHIJKLMNOPQRST"[:MAX_OPTIONS]
BUILDER_SLOTS = 5
_ANSWER_SEPARATORS = re.compile(r"[\s,，、;；]+")


def _blank_is_none(value: Any) -> Any:
    return None if value == "" else value


class SurveyForm(ConsoleForm):
    """POST /surveys as a form: the question slots come as parallel fields, one of each
    per slot in the page's order (a browser sends every text field, empty or not)."""

    title: str = Field(min_length=1, max_length=100)
    org_id: int = Field(ge=1, le=MAX_ID)
    kind: SurveyKind
    audience: SurveyAudience
    # <input type="datetime-local">: Beijing time without a zone.
    opens_at: NaiveDatetime
    closes_at: NaiveDatetime
    q_text: list[Annotated[str, Field(max_length=500)]] = Field(
        default_factory=list, max_length=MAX_QUESTIONS
    )
    q_type: list[QuestionType] = Field(default_factory=list, max_length=MAX_QUESTIONS)
    q_options: list[Annotated[str, Field(max_length=MAX_OPTIONS * 210)]] = Field(
        default_factory=list, max_length=MAX_QUESTIONS
    )
    q_answer: list[Annotated[str, Field(max_length=60)]] = Field(
        default_factory=list, max_length=MAX_QUESTIONS
    )


def _said(exc: ValidationError) -> str:
    """The API model's own sentence for what is wrong (its validators speak Chinese)."""
    for error in exc.errors():
        if error["type"] == "value_error":
            return str(error["msg"]).removeprefix("Value error, ")
    return "请检查填写的内容"


def _keyed(n: int, answer: str) -> list[int] | None:
    letters = _ANSWER_SEPARATORS.sub("", answer).upper()
    if not letters:
        return None
    if any(c not in LETTERS for c in letters):
        raise Unprocessable("validation_error", f"第 {n} 题的正确答案请填选项字母，如 A 或 AC")
    return [LETTERS.index(c) for c in letters]


def _questions(form: SurveyForm) -> list[SurveyQuestion]:
    """The filled slots as the API's questions, each held to SurveyQuestion's rules;
    a slot without a question text and with nothing else is left out."""
    slots = (form.q_text, form.q_type, form.q_options, form.q_answer)
    if len({len(s) for s in slots}) != 1:
        raise Unprocessable("validation_error", "题目各栏不齐，请刷新页面后重新填写")
    questions = []
    for n, (text, kind, options, answer) in enumerate(zip(*slots, strict=True), start=1):
        lines = [line.strip() for line in options.splitlines() if line.strip()]
        if not text.strip():
            if lines or answer.strip():
                raise Unprocessable("validation_error", f"第 {n} 题没有填写题目")
            continue
        try:
            questions.append(
                SurveyQuestion(
                    text=text, type=kind, options=lines or None, answer=_keyed(n, answer)
                )
            )
        except ValidationError as exc:
            raise Unprocessable("validation_error", f"第 {n} 题：{_said(exc)}") from None
    if not questions:
        raise Unprocessable("validation_error", "请至少填写一道题")
    return questions


@router.get("/surveys/new", response_class=HTMLResponse, include_in_schema=False)
async def console_new_survey(
    request: Request,
    session: SessionDep,
    caller: ConsoleCaller,
    questions: Annotated[int, Query(ge=1, le=MAX_QUESTIONS)] = BUILDER_SLOTS,
) -> Response:
    """发起问卷或测试：标题、发起组织、类型、作答范围、开始和截止时间（北京时间），
    以及若干道题（单选、多选、量表、填空；测试的单选、多选题填正确答案）。
    同 POST /surveys；发起后题目不能再改（答卷按题目序号记录）。"""
    now = local(utcnow()).replace(second=0, microsecond=0, tzinfo=None)
    return page(
        request,
        "console/survey_new.html",
        {
            "orgs": await console_service.orgs_in_reach(session, caller),
            "top": console_service.top_org(caller),
            "kinds": KIND_LABELS,
            "audiences": AUDIENCE_LABELS,
            "types": TYPE_LABELS,
            "slots": questions,
            "more": min(questions + BUILDER_SLOTS, MAX_QUESTIONS),
            "letters": LETTERS,
            "opens": now.isoformat(timespec="minutes"),
            "closes": (now.replace(hour=23, minute=59) + timedelta(days=7)).isoformat(
                timespec="minutes"
            ),
        },
    )


@router.post("/surveys", include_in_schema=False)
async def console_create_survey(
    request: Request,
    session: SessionDep,
    caller: ConsoleCaller,
    form: Annotated[SurveyForm, Form()],
) -> Response:
    """POST /surveys, from the builder's form; then the survey's results."""
    try:
        data = SurveyCreate(
            title=form.title,
            org_id=form.org_id,
            kind=form.kind,
            audience=form.audience,
            questions=_questions(form),
            opens_at=form.opens_at.replace(tzinfo=SHANGHAI),
            closes_at=form.closes_at.replace(tzinfo=SHANGHAI),
        )
    except ValidationError as exc:
        raise Unprocessable("validation_error", _said(exc)) from None
    survey = await survey_service.create_survey(session, caller=caller, data=data)
    back = request.url_for("console_surveys").include_query_params(
        survey_id=survey.id, done="created"
    )
    return RedirectResponse(str(back), 303)


# --- the composite score's weights (PUT /scoring) ----------------------------------------------

DistrictConsoleCaller = Annotated[Caller, Depends(console_caller(frozenset({Role.district_admin})))]
OptionalWeight = Annotated[float | None, BeforeValidator(_blank_is_none)]


class WeightsForm(ConsoleForm):
    """One (metric, weight) pair per row of the form; an empty weight is 0 (not counted)."""

    org_id: int = Field(ge=1, le=MAX_ID)
    metric: list[Annotated[str, Field(max_length=40)]] = Field(
        default_factory=list, max_length=len(ScoreMetric)
    )
    weight: list[OptionalWeight] = Field(default_factory=list, max_length=len(ScoreMetric))


@router.get("/scoring", response_class=HTMLResponse, include_in_schema=False)
async def console_scoring(
    request: Request,
    session: SessionDep,
    caller: DistrictConsoleCaller,
    org_id: Annotated[str | None, Query(max_length=10, pattern=r"^\d*$")] = None,
) -> Response:
    """综合评分权重（区级管理员）：本区现行的版本及各项指标的权重，同 GET /scoring；
    保存即生成新的一版（同 PUT /scoring），以往月份仍按当时的版本计分。"""
    held = sorted({g.org_id for g in caller.grants if g.role == Role.district_admin})
    picked = int(org_id) if org_id else held[0]
    district = await publicity_service.district_for_weights(
        session, caller, picked, what="评分权重"
    )
    current = await scoring_service.current(session, district)
    setter = await user_names(session, [current.set_by_id] if current.set_by_id else [])
    return page(
        request,
        "console/scoring.html",
        {
            "current": current,
            "district": district,
            "districts": await org_names(session, set(held)) if len(held) > 1 else {},
            "set_by": setter.get(current.set_by_id) if current.set_by_id else None,
            "metric_names": METRIC_NAMES,
            "max_weight": scoring_service.MAX_WEIGHT,
            "done": request.query_params.get("done"),
        },
    )


@router.post("/scoring", include_in_schema=False)
async def console_set_scoring(
    request: Request,
    session: SessionDep,
    caller: DistrictConsoleCaller,
    form: Annotated[WeightsForm, Form()],
) -> Response:
    """PUT /scoring, from the form: a new version with the weights given."""
    if len(form.metric) != len(form.weight):
        raise Unprocessable("validation_error", "权重各栏不齐，请刷新页面后重新填写")
    pairs = zip(form.metric, form.weight, strict=True)
    data = ScoringUpdate(weights={m: w or 0.0 for m, w in pairs})
    district = await publicity_service.district_for_weights(
        session, caller, form.org_id, what="评分权重"
    )
    await scoring_service.set_weights(session, caller=caller, district=district, data=data)
    back = request.url_for("console_scoring").include_query_params(org_id=district.id, done="saved")
    return RedirectResponse(str(back), 303)


# --- household visits (入户调查) -----------------------------------------------------------------


class VisitForm(ConsoleForm):
    community_id: int = Field(ge=1, le=MAX_ID)
    household_label: str = Field(min_length=1, max_length=100)
    aware: Annotated[str, Field(pattern="^(yes|no)$")]
    satisfaction: int = Field(ge=1, le=5)
    note: str = Field(default="", max_length=500)
    # The org whose table the form was on: where the page goes back to.
    back_org_id: Annotated[int | None, BeforeValidator(_blank_is_none), Field(ge=1, le=MAX_ID)] = (
        None
    )


@router.get("/household-visits", response_class=HTMLResponse, include_in_schema=False)
async def console_household_visits(
    request: Request,
    session: SessionDep,
    caller: ConsoleCaller,
    org_id: Annotated[str | None, Query(max_length=10, pattern=r"^\d*$")] = None,
    month: Annotated[Month | None, Query()] = None,
    page_number: PageNumber = 1,
) -> Response:
    """入户调查：所选组织（默认本人管理的最高一级）及各直属下级一个月的入户户数、社区覆盖率、
    知晓率、满意率，同 GET /stats/household-visits；当月入户记录（最近的在前，分页）；
    登记一户（同 POST /household-visits）。"""
    pages = paging(request, page_number, console_service.LONG_PAGE)
    month = month or month_key(utcnow())
    picked = int(org_id) if org_id else console_service.top_org(caller)
    org = await org_in_reach(session, caller, picked)
    stats = await household_service.household_stats(session, org=org, month=month)
    visits, total = await household_service.list_visits(
        session, org=org, month=month, limit=pages.size, offset=pages.offset
    )
    return page(
        request,
        "console/household_visits.html",
        {
            "stats": stats,
            "visits": visits,
            "total": total,
            "paging": pages.of(total),
            "orgs": await console_service.orgs_in_reach(session, caller),
            "picked": org.id,
            "picked_is_community": org.level == OrgLevel.community,
            "month": month,
            "this_month": month_key(utcnow()),
            "done": request.query_params.get("done"),
        },
    )


@router.post("/household-visits", include_in_schema=False)
async def console_record_household_visit(
    request: Request,
    session: SessionDep,
    caller: ConsoleCaller,
    form: Annotated[VisitForm, Form()],
) -> Response:
    """POST /household-visits, from a form (the visit is of this month)."""
    data = HouseholdVisitCreate(
        community_id=form.community_id,
        household_label=form.household_label,
        aware=form.aware == "yes",
        satisfaction=form.satisfaction,
        note=form.note.strip() or None,
    )
    visit = await household_service.record_visit(session, caller=caller, data=data)
    back = request.url_for("console_household_visits").include_query_params(
        org_id=form.back_org_id or visit.community_id, month=visit.month, done="recorded"
    )
    return RedirectResponse(str(back), 303)
