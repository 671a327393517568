from typing import Annotated

from fastapi import APIRouter, Query

from app.core.errors import PROBLEM_RESPONSES
from app.core.timeutil import current_year
from app.edge.route import AppRoute
from app.models.article import (
    Article,
    ArticleCreate,
    ArticleDetail,
    ArticleImportance,
    ArticlePublic,
    ArticleReview,
    ArticleStats,
    ArticleStatus,
    ArticleUpdate,
)
from app.models.org import Org
from app.models.user import MAX_ID
from app.routers.deps import (
    ArticlesReader,
    CurrentCaller,
    InReach,
    OrgInReach,
    Page,
    PageDep,
    ReadingSessionDep,
    SessionDep,
    SettingsDep,
    StatsReader,
    Visible,
    WeChatDep,
    org_filter,
    page_of,
)
from app.services import articles as service
from app.services import content_check

# /articles and /stats/articles.
router = APIRouter(tags=["articles"], route_class=AppRoute, responses=PROBLEM_RESPONSES)


@router.post("/articles", status_code=201, response_model=ArticlePublic)
async def create_article(
    data: ArticleCreate, session: SessionDep, caller: CurrentCaller
) -> ArticlePublic:
    """写一篇稿件（草稿）。该组织或其上级的信息员、管理员可以报送。"""
    article = await service.create_article(session, caller=caller, data=data)
    return await service.to_public_one(session, article=article, viewer_id=caller.id)


@router.get("/articles", response_model=Page[ArticlePublic])
async def list_articles(
    session: SessionDep,
    caller: ArticlesReader,
    paging: PageDep,
    org: Annotated[Org | None, org_filter(ArticlesReader, service.get_org_of_articles)],
    status: ArticleStatus | None = None,
    awaiting_my_review: Annotated[
        bool, Query(description="只看正等待本人所在层级审核的稿件")
    ] = False,
    column_id: Annotated[int | None, Query(ge=1, le=MAX_ID, description="只看该专栏的稿件")] = None,
    importance: ArticleImportance | None = None,
    urgent: bool | None = None,
) -> Page[ArticlePublic]:
    """作者：自己的全部稿件；管理员：管理范围内审核中、已退回和已发布的稿件；
    本区所有人：已发布的稿件。"""
    items, total = await service.list_articles(
        session,
        caller=caller,
        status=status,
        org=org,
        awaiting_my_review=awaiting_my_review,
        column_id=column_id,
        importance=importance,
        urgent=urgent,
        offset=paging.offset,
        limit=paging.page_size,
    )
    return page_of(items, total, paging)


@router.get("/articles/{article_id}", response_model=ArticleDetail)
async def get_article(
    article: Visible[Article], session: SessionDep, caller: ArticlesReader
) -> ArticleDetail:
    """稿件及其每一步处理记录（谁、何时、在哪一级、意见）。"""
    return await service.detail(session, article=article, viewer_id=caller.id)


@router.patch("/articles/{article_id}", response_model=ArticlePublic)
async def update_article(
    article: InReach[Article], data: ArticleUpdate, session: SessionDep, caller: CurrentCaller
) -> ArticlePublic:
    """作者修改草稿或被退回的稿件。"""
    article = await service.update_article(session, caller=caller, article=article, data=data)
    return await service.to_public_one(session, article=article, viewer_id=caller.id)


@router.post("/articles/{article_id}/submit", response_model=ArticlePublic)
async def submit_article(
    article: InReach[Article],
    session: SessionDep,
    caller: CurrentCaller,
    settings: SettingsDep,
    wechat: WeChatDep,
) -> ArticlePublic:
    """作者提交审核（先审后发）：先经微信内容安全检测，`risky` 为 422
    `content_rejected`，`review` 标记 `content_flagged` 后照常送审；微信不可用为 503。
    退回后再次提交，从最低一级重新审核。"""
    article = await service.submit_article(
        session,
        caller=caller,
        article=article,
        checker=content_check.text_checker(settings, wechat),
    )
    return await service.to_public_one(session, article=article, viewer_id=caller.id)


@router.post("/articles/{article_id}/review", response_model=ArticlePublic)
async def review_article(
    article: InReach[Article], data: ArticleReview, session: SessionDep, caller: CurrentCaller
) -> ArticlePublic:
    """当前审核层级（`review_org_id`）的管理员审核：通过则报上一级，最高一级通过即发布；
    退回须填写意见。上级不能越级审核（403 `not_your_review_level`）。"""
    article = await service.review_article(session, caller=caller, article=article, data=data)
    return await service.to_public_one(session, article=article, viewer_id=caller.id)


@router.get("/stats/articles", response_model=ArticleStats)
async def article_stats(
    session: ReadingSessionDep,
    org: Annotated[Org, OrgInReach(StatsReader)],
    year: Annotated[int | None, Query(ge=2000, le=2100, description="默认为北京时间的今年")] = None,
    quarter: Annotated[int | None, Query(ge=1, le=4, description="不填为全年")] = None,
) -> ArticleStats:
    """各直属下级组织（含其全部下级）在期间内的投稿数、用稿数和采用率，以及本级合计。"""
    return await service.article_stats(
        session, org=org, year=year or current_year(), quarter=quarter
    )
