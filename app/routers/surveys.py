from typing import Annotated

from fastapi import APIRouter, Query

from app.core.errors import PROBLEM_RESPONSES
from app.edge.route import AppRoute
from app.models.org import Org
from app.models.survey import (
    ResponseCreate,
    ResponsePublic,
    Survey,
    SurveyCreate,
    SurveyPublic,
    SurveyStats,
    SurveyStatus,
)
from app.models.user import MAX_ID
from app.routers.deps import (
    AdminCaller,
    CurrentCaller,
    Page,
    PageDep,
    ReadingSessionDep,
    SessionDep,
    Visible,
    org_filter,
    page_of,
)
from app.services import surveys as service

# /surveys: surveys and quizzes (问卷、应知应会测试), and their figures.
router = APIRouter(tags=["assessment"], route_class=AppRoute, responses=PROBLEM_RESPONSES)


@router.post("/surveys", status_code=201, response_model=SurveyPublic)
async def create_survey(
    data: SurveyCreate, session: SessionDep, caller: CurrentCaller
) -> SurveyPublic:
    """发起问卷（questionnaire）或应知应会测试（quiz）：管理范围内的组织的管理员。
    `audience`：members 该组织花名册上的人（现住社区或单位在其范围内）；everyone 另加
    未在花名册上的登录用户（居民扫码作答）。测试的单选、多选题须给出正确答案（选项序号），
    截止前答题人看不到。"""
    survey = await service.create_survey(session, caller=caller, data=data)
    (public,) = await service.surveys_public(session, [survey], caller=caller)
    return public


@router.get("/surveys", response_model=Page[SurveyPublic])
async def list_surveys(
    session: SessionDep,
    caller: CurrentCaller,
    paging: PageDep,
    org: Annotated[Org | None, org_filter(CurrentCaller)],
    status: SurveyStatus | None = None,
) -> Page[SurveyPublic]:
    """本人可以作答的问卷，以及所管理组织的问卷；`status=open` 为正在作答期内的
    （`can_answer` 表示本人可作答且尚未作答）。"""
    surveys, total = await service.list_surveys(
        session,
        caller=caller,
        org=org,
        status=status,
        offset=paging.offset,
        limit=paging.page_size,
    )
    return page_of(await service.surveys_public(session, surveys, caller=caller), total, paging)


@router.get("/surveys/{survey_id}", response_model=SurveyPublic)
async def get_survey(
    survey: Visible[Survey], session: SessionDep, caller: CurrentCaller
) -> SurveyPublic:
    (public,) = await service.surveys_public(session, [survey], caller=caller)
    return public


@router.post("/surveys/{survey_id}/responses", status_code=201, response_model=ResponsePublic)
async def answer_survey(
    survey: Visible[Survey], data: ResponseCreate, session: SessionDep, caller: CurrentCaller
) -> ResponsePublic:
    """作答，每人一次：再次提交为 409 `already_answered`（两部手机同时提交也只收一份）。
    不在作答时间内 422 `survey_not_open`；不在作答范围内 403 `not_in_audience`；
    选项不在题目中 422 `invalid_option`；量表分值超出 1–5 为 422 `scale_out_of_range`；
    漏答（填空题除外）422 `answer_missing`。测试即时给出得分。"""
    response = await service.respond(session, caller=caller, survey=survey, data=data)
    return service.response_public(response)


@router.get("/stats/surveys/{survey_id}", response_model=SurveyStats)
async def survey_stats(
    survey: Visible[Survey],
    session: SessionDep,
    reading: ReadingSessionDep,
    caller: AdminCaller,
    org_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="默认为发起问卷的组织")
    ] = None,
) -> SurveyStats:
    """问卷统计（管理员）：该组织及各下级组织的应答人数、应答率（对花名册人数）、
    测试平均得分，以及各题的作答情况（选项计数、答对人数、量表平均分）。"""
    org = await service.stats_org(session, caller, survey, org_id)
    return await service.survey_stats(reading, survey=survey, org=org)
