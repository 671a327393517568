from typing import Annotated

from fastapi import APIRouter, Query

from app.core.errors import PROBLEM_RESPONSES
from app.edge.route import AppRoute
from app.models.common import Month
from app.models.org import Org
from app.models.scoring import (
    MonthlyReviewCreate,
    MonthlyReviewPublic,
    ScoreTable,
    ScoringPublic,
    ScoringUpdate,
)
from app.models.user import MAX_ID
from app.routers.deps import (
    AdminCaller,
    CurrentCaller,
    OrgInReach,
    Page,
    PageDep,
    ReadingSessionDep,
    SessionDep,
    SettingsDep,
    StatsReader,
    page_of,
)
from app.services import dashboard, publicity, scoring

# The composite score: /scoring (weights), /stats/scores, and the monthly comments /reviews.
router = APIRouter(tags=["scoring"], route_class=AppRoute, responses=PROBLEM_RESPONSES)

MonthQuery = Annotated[Month | None, Query(description="YYYY-MM，默认本月（北京时间）")]


@router.get("/scoring", response_model=ScoringPublic)
async def get_scoring(
    session: SessionDep, org: Annotated[Org, OrgInReach(AdminCaller)]
) -> ScoringPublic:
    """该组织所在区现行的综合评分权重（版本、设定人、时间）及可加权的指标。"""
    return await scoring.current(session, org)


@router.put("/scoring", response_model=ScoringPublic)
async def set_scoring(
    data: ScoringUpdate,
    session: SessionDep,
    caller: CurrentCaller,
    org_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="区；不填为本人任区级管理员的区")
    ] = None,
) -> ScoringPublic:
    """区级管理员设定综合评分权重：整体替换为新一版（旧版保留，用于解释以往月份的得分）。
    未知指标 422 `unknown_metric`；权重须在 0–1000（`invalid_weight`），至少一项大于 0
    （`weights_all_zero`）。"""
    district = await publicity.district_for_weights(session, caller, org_id, what="评分权重")
    return await scoring.set_weights(session, caller=caller, district=district, data=data)


@router.get("/stats/scores", response_model=ScoreTable)
async def score_table(
    session: ReadingSessionDep,
    settings: SettingsDep,
    org: Annotated[Org, OrgInReach(StatsReader)],
    month: MonthQuery = None,
) -> ScoreTable:
    """月度综合评分：各直属下级组织的各项指标值、加权得分（0–100）、名次及较上月变化。"""
    return await dashboard.scores(
        session,
        org=org,
        month=month,
        district_after_days=settings.problem_district_escalation_days,
    )


@router.post("/reviews", status_code=201, response_model=MonthlyReviewPublic)
async def create_review(
    data: MonthlyReviewCreate, session: SessionDep, caller: CurrentCaller
) -> MonthlyReviewPublic:
    """月点评：上级组织的管理员点评下级组织某月的工作（如区对街道、街道对社区）；
    对本级组织点评为 403 `not_above`。"""
    review = await scoring.create_review(session, caller=caller, data=data)
    return (await scoring.reviews_public(session, [review]))[0]


@router.get("/reviews", response_model=Page[MonthlyReviewPublic])
async def list_reviews(
    session: SessionDep,
    paging: PageDep,
    org: Annotated[Org, OrgInReach(AdminCaller)],
    month: MonthQuery = None,
    subtree: Annotated[bool, Query(description="也列出对其下级组织的点评")] = False,
) -> Page[MonthlyReviewPublic]:
    """对该组织的月点评（该组织及上级组织的管理员可见），新的在前。"""
    reviews, total = await scoring.list_reviews(
        session,
        org=org,
        subtree=subtree,
        month=month,
        offset=paging.offset,
        limit=paging.page_size,
    )
    return page_of(await scoring.reviews_public(session, reviews), total, paging)
