"""Articles (信息报送): writing, the WeChat content check, the review ladder (先审后发)
and the submission/acceptance statistics (投稿、用稿).

The review ladder of an article is its org's path from the org itself up to the
level its importance asks for (routine: the org itself; important: the street of its
path, or the district where the path has no street; major: the district), keeping
only the orgs where someone other than the author holds an admin role (a unit has no
admins, an unstaffed street would hold articles forever, and an author cannot review
their own text). The top of the ladder always stays on it: where that level has no
one to review, the nearest staffed level above takes its place, and the district
always counts, so an article waits there until the district has someone to review
it and never skips to published. Rows from before graded review are `major` (they
climbed to the district then), and so is an article whose author names no grade: a
client that does not know grading never takes a level of review away.

The ladder is recomputed from the path and the role grants at each step rather
than stored at submission, so a street admin appointed or removed while an
article climbs is followed at once; only the current level is stored
(`review_org_id`), which is what the race-free transitions test against. Should the
current level lose its admins while an article waits there, the next staffed level
above acts for it.

Urgent articles (`urgent`) are chased by a quarter-hourly scan once they have
waited URGENT_REVIEW_HOURS at one level (`review_level_at`, set on arrival there):
the level is reminded and the next staffed level up is told, once per level.

A returned article, once resubmitted, climbs again from the bottom: the text changed,
so the levels that passed the old one have not seen the new one.

Who sees an article:
- its author, in every state;
- admins whose reach covers its org: in review, returned and published (not drafts);
- everyone whose home lies in its district: published articles, which are publicity.

Every transition is one conditional UPDATE on the state (and level) it was checked
against, and every step is written to article_events.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    String,
    and_,
    bindparam,
    case,
    delete,
    false,
    func,
    or_,
)
from sqlalchemy import select as sa_select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col, select

from app.core.config import Settings
from app.core.db import table_of, utcnow
from app.core.errors import Conflict, Forbidden, NotFound, Unprocessable
from app.core.scope import (
    Caller,
    in_reach,
    is_within,
    path_between,
    path_ids,
    path_upper_bound,
    path_within,
)
from app.core.text import text_or_none
from app.core.timeutil import month_bounds, year_bounds
from app.core.wechat import WeChatGateway
from app.models.article import (
    EDITABLE_STATES,
    Article,
    ArticleAction,
    ArticleCreate,
    ArticleDetail,
    ArticleEvent,
    ArticleEventPublic,
    ArticleImportance,
    ArticlePublic,
    ArticleReview,
    ArticleStats,
    ArticleStatsRow,
    ArticleStatus,
    ArticleUpdate,
)
from app.models.media import MediaAttachment
from app.models.org import Org, OrgLevel
from app.models.publicity import ArticleColumn
from app.models.user import ADMIN_ROLES, Role, RoleGrant, User
from app.services import articles_messages, lifecycle
from app.services.content_check import TextVerdict, check_text
from app.services.lifecycle import Lifecycle, Transition
from app.services.notifications import scans
from app.services.notifications.recipients import OrgAdmins
from app.services.orgs import get_visible_org
from app.services.photos import (
    PhotoPage,
    attach_photos,
    photo_ids_by_record,
    register_record_type,
    require_own_photos,
)
from app.services.wishes import caller_district

RECORD_TYPE = "article"

# Who may write an article for an org: its info officers and admins, or those above.
WRITER_ROLES = ADMIN_ROLES | {Role.info_officer}

STATUS_NAMES = {
    ArticleStatus.draft: "草稿",
    ArticleStatus.in_review: "审核中",
    ArticleStatus.returned: "已退回",
    ArticleStatus.published: "已发布",
}


# --- who sees what -------------------------------------------------------------------


@dataclass(frozen=True)
class _Reach:
    """The places whose articles a caller sees besides their own (`_visible`): what
    the list's statements are built for, once each (`_list_statements`)."""

    admin: tuple[str, ...]
    district: str | None


async def _reach(session: AsyncSession, caller: Caller) -> _Reach:
    return _Reach(
        admin=tuple(caller.paths(ADMIN_ROLES)), district=await caller_district(session, caller)
    )


def _visible(reach: _Reach, me: int | ColumnElement[int]) -> ColumnElement[bool]:
    """The articles `me` (the caller's id, or a bound parameter for it) sees."""
    conditions = [
        col(Article.author_id) == me,
        and_(
            col(Article.status) != ArticleStatus.draft,
            in_reach(col(Article.org_id), list(reach.admin)),
        ),
    ]
    if reach.district is not None:
        conditions.append(
            and_(
                col(Article.status) == ArticleStatus.published,
                in_reach(col(Article.org_id), [reach.district]),
            )
        )
    return or_(*conditions)


async def get_visible_article(session: AsyncSession, caller: Caller, article_id: int) -> Article:
    reach = await _reach(session, caller)
    article = (
        await session.execute(
            select(Article).where(Article.id == article_id, _visible(reach, caller.id))
        )
    ).scalar_one_or_none()
    if article is None:
        raise NotFound()
    return article


async def get_org_of_articles(session: AsyncSession, caller: Caller, org_id: int) -> Org:
    """An org whose articles the caller may see (the `?org_id=` of GET /articles): one
    inside the reach of a role they hold, or inside their home district."""
    org = await session.get(Org, org_id)
    district = await caller_district(session, caller)
    paths = caller.paths(g.role for g in caller.grants) + ([district] if district else [])
    if org is None or not any(is_within(org.path, p) for p in paths):
        raise NotFound()
    return org


async def _can_see_article(session: AsyncSession, caller: Caller, article_id: int) -> bool:
    reach = await _reach(session, caller)
    found = await session.execute(
        select(Article.id).where(Article.id == article_id, _visible(reach, caller.id))
    )
    return found.first() is not None


register_record_type(RECORD_TYPE, _can_see_article)


# --- public shapes ---------------------------------------------------------------------


async def to_public(
    session: AsyncSession, *, articles: Sequence[Article], viewer_id: int | None
) -> list[ArticlePublic]:
    ids = [a.id for a in articles if a.id is not None]
    photos = await photo_ids_by_record(session, RECORD_TYPE, ids, viewer_id=viewer_id)
    author_ids = {a.author_id for a in articles}
    names: dict[int, str] = dict(
        (
            await session.execute(select(User.id, User.name).where(col(User.id).in_(author_ids)))
        ).all()
    )
    return [
        _public(a, author_name=names.get(a.author_id, ""), photo_ids=photos.get(a.id or 0, []))
        for a in articles
    ]


def _public(a: Article | Any, *, author_name: str, photo_ids: list[int]) -> ArticlePublic:
    """An article (an Article, or a row of its columns) as it is shown."""
    assert a.id is not None
    return ArticlePublic(
        id=a.id,
        title=a.title,
        body=a.body,
        org_id=a.org_id,
        author_id=a.author_id,
        author_name=author_name,
        status=a.status,
        importance=a.importance,
        urgent=a.urgent,
        column_id=a.column_id,
        review_org_id=a.review_org_id,
        review_level_at=a.review_level_at,
        content_flagged=a.content_flagged,
        needs_human_review=a.needs_human_review,
        photo_ids=photo_ids,
        first_submitted_at=a.first_submitted_at,
        submitted_at=a.submitted_at,
        published_at=a.published_at,
        created_at=a.created_at,
        updated_at=a.updated_at,
    )


async def to_public_one(
    session: AsyncSession, *, article: Article, viewer_id: int | None
) -> ArticlePublic:
    (public,) = await to_public(session, articles=[article], viewer_id=viewer_id)
    return public


async def detail(
    session: AsyncSession, *, article: Article, viewer_id: int | None
) -> ArticleDetail:
    public = await to_public_one(session, article=article, viewer_id=viewer_id)
    rows = await session.execute(
        select(ArticleEvent, User.name)
        .join(User, col(User.id) == col(ArticleEvent.actor_id))
        .where(ArticleEvent.article_id == article.id)
        .order_by(col(ArticleEvent.id))
    )
    history = []
    for event, actor_name in rows.all():
        assert event.id is not None
        history.append(
            ArticleEventPublic(
                id=event.id,
                action=event.action,
                from_status=event.from_status,
                to_status=event.to_status,
                level_org_id=event.level_org_id,
                actor_id=event.actor_id,
                actor_name=actor_name,
                comment=event.comment,
                at=event.at,
            )
        )
    return ArticleDetail(**public.model_dump(), history=history)


# --- reading ---------------------------------------------------------------------------


_ARTICLES = table_of(Article)
_USERS = table_of(User)


@dataclass(frozen=True)
class _Filters:
    """Which of GET /articles' filters a request gives; their values are parameters,
    but for `urgent` (written `IS true` / `IS false`, as PostgreSQL takes no parameter
    there) and the levels awaiting the caller's review (their admin grants, which their
    reach already follows)."""

    status: bool = False
    org: bool = False
    column: bool = False
    importance: bool = False
    urgent: bool | None = None
    awaiting: tuple[int, ...] | None = None


def _conditions(filters: _Filters, me: ColumnElement[int]) -> list[ColumnElement[bool]]:
    conditions = []
    if filters.column:
        conditions.append(col(Article.column_id) == bindparam("column_id", type_=Integer))
    if filters.importance:
        conditions.append(col(Article.importance) == bindparam("importance", type_=String))
    if filters.urgent is not None:
        conditions.append(col(Article.urgent).is_(filters.urgent))
    if filters.status:
        conditions.append(col(Article.status) == bindparam("status", type_=String))
    if filters.org:
        # `in_reach` with the path as a parameter: one statement for every org.
        subtree = path_between(
            col(Org.path), bindparam("org_from", type_=String), bindparam("org_to", type_=String)
        )
        conditions.append(col(Article.org_id).in_(select(Org.id).where(subtree)))
    if filters.awaiting is not None:
        levels = filters.awaiting
        conditions += [
            col(Article.review_org_id).in_(levels) if levels else false(),
            col(Article.author_id) != me,
        ]
    return conditions


@lru_cache(maxsize=256)
def _list_statements(reach: _Reach, filters: _Filters) -> PhotoPage:
    """GET /articles' statements for callers of one reach asking one set of filters,
    built and compiled once (a district's members share one reach; an admin's is their
    subtrees): the caller, the filters' values and the page are parameters. Bounded: a
    reach not listed lately is built again when it comes back."""
    me = bindparam("me", type_=Integer)
    # The author's name as a subquery, not a join: PostgreSQL then reads it for the
    # page's rows alone, after counting the list (`count(*) OVER ()`), not for them all.
    author_name = (
        sa_select(_USERS.c.name).where(_USERS.c.id == _ARTICLES.c.author_id).scalar_subquery()
    )
    records = sa_select(_ARTICLES, author_name.label("author_name")).where(
        _visible(reach, me), *_conditions(filters, me)
    )
    return PhotoPage.of(records, record_type=RECORD_TYPE, viewer=me)


async def list_articles(
    session: AsyncSession,
    *,
    caller: Caller,
    status: ArticleStatus | None,
    org: Org | None,
    awaiting_my_review: bool,
    offset: int,
    limit: int,
    column_id: int | None = None,
    importance: ArticleImportance | None = None,
    urgent: bool | None = None,
) -> tuple[list[ArticlePublic], int]:
    """A page of the articles the caller sees, newest first, and how many there are.
    `org` narrows to that org's subtree; `awaiting_my_review` to the articles waiting
    at a level where the caller holds an admin role; `column_id`, `importance` and
    `urgent` to those. One statement (two for a page past the end), rows rather than
    Article objects, shown as `to_public` shows them."""
    levels = tuple(sorted({g.org_id for g in caller.grants if g.role in ADMIN_ROLES}))
    filters = _Filters(
        status=status is not None,
        org=org is not None,
        column=column_id is not None,
        importance=importance is not None,
        urgent=urgent,
        awaiting=levels if awaiting_my_review else None,
    )
    listing = _list_statements(await _reach(session, caller), filters)
    params: dict[str, Any] = {"me": caller.id, "offset": offset, "limit": limit}
    if status is not None:
        params["status"] = status.value
    if org is not None:
        params["org_from"], params["org_to"] = org.path, path_upper_bound(org.path)
    if column_id is not None:
        params["column_id"] = column_id
    if importance is not None:
        params["importance"] = importance.value
    listed, total = await listing.read(session, params)
    return [_public(a, author_name=a.author_name, photo_ids=ids) for a, ids in listed], total


# --- writing ---------------------------------------------------------------------------


# The review ladder (approve, return) is audited; the author's own steps are not.
LIFECYCLE = Lifecycle(
    name="article",
    model=Article,
    history=ArticleEvent,
    org_key="org_id",
    code="invalid_article_state",
    called="稿件",
    names=STATUS_NAMES,
    note_key="comment",
    stale=("invalid_article_state", "稿件刚被其他人处理过，请刷新后重试"),
    transitions=(
        Transition(ArticleAction.edit, EDITABLE_STATES, None, "修改", audited=False),
        Transition(
            ArticleAction.submit, EDITABLE_STATES, ArticleStatus.in_review, "提交", audited=False
        ),
        # Up one level of the ladder, or published at its top.
        Transition(
            ArticleAction.approve, {ArticleStatus.in_review}, ArticleStatus.in_review, "审核"
        ),
        Transition(
            ArticleAction.approve, {ArticleStatus.in_review}, ArticleStatus.published, "审核"
        ),
        Transition(
            ArticleAction.return_, {ArticleStatus.in_review}, ArticleStatus.returned, "审核"
        ),
    ),
)


async def create_article(session: AsyncSession, *, caller: Caller, data: ArticleCreate) -> Article:
    # As POST /tasks: an org the caller cannot see is 404, one seen but not theirs 403.
    org = await get_visible_org(session, caller, data.org_id)
    if not caller.reaches(org, WRITER_ROLES):
        raise Forbidden("forbidden", "只有该组织（或上级）的信息员和管理员可以报送信息")
    title, body = text_or_none(data.title), text_or_none(data.body)
    if not (title and body):
        raise Unprocessable("validation_error", "标题和正文不能为空")
    media = await require_own_photos(session, caller=caller, photo_ids=data.photo_ids)
    assert org.id is not None
    article = Article(
        title=title,
        body=body,
        org_id=org.id,
        author_id=caller.id,
        status=ArticleStatus.draft,
        importance=data.importance,
        urgent=data.urgent,
        column_id=await _column_for(session, org=org, column_id=data.column_id),
    )
    session.add(article)
    await session.flush()
    assert article.id is not None
    session.add(
        ArticleEvent(
            article_id=article.id,
            action=ArticleAction.create,
            to_status=ArticleStatus.draft,
            actor_id=caller.id,
        )
    )
    await attach_photos(session, media=media, record_type=RECORD_TYPE, record_id=article.id)
    await session.flush()
    return article


async def _column_for(session: AsyncSession, *, org: Org, column_id: int | None) -> int | None:
    """`column_id` if an article of `org` may run in it: a column of the org itself
    or of an org above it (a district's series takes its communities' articles)."""
    if column_id is None:
        return None
    found = (
        await session.execute(
            select(ArticleColumn.id).where(
                col(ArticleColumn.id) == column_id,
                col(ArticleColumn.org_id).in_(path_ids(org.path)),
            )
        )
    ).scalar_one_or_none()
    if found is None:
        raise Unprocessable("invalid_column", "专栏不存在，或不是本组织及上级组织开设的专栏")
    return column_id


def _require_author(caller: Caller, article: Article) -> None:
    if article.author_id != caller.id:
        raise Forbidden("forbidden", "只有作者本人可以修改或提交稿件")


async def update_article(
    session: AsyncSession, *, caller: Caller, article: Article, data: ArticleUpdate
) -> Article:
    """The author edits a draft or a returned article; `photo_ids` replaces the photos."""
    _require_author(caller, article)
    LIFECYCLE.require(article, ArticleAction.edit)
    values: dict[str, Any] = {}
    for name in ("title", "body"):
        if name in data.model_fields_set:
            text = text_or_none(getattr(data, name))
            if text is None:
                raise Unprocessable("validation_error", "标题和正文不能为空")
            values[name] = text
    for name in ("importance", "urgent"):
        if getattr(data, name) is not None:
            values[name] = getattr(data, name)
    if "column_id" in data.model_fields_set:
        org = await _article_org(session, article)
        values["column_id"] = await _column_for(session, org=org, column_id=data.column_id)
    media = (
        await require_own_photos(session, caller=caller, photo_ids=data.photo_ids)
        if data.photo_ids is not None
        else None
    )
    await lifecycle.move(
        session, LIFECYCLE, article, caller=caller, action=ArticleAction.edit, values=values
    )
    assert article.id is not None
    if media is not None:
        await session.execute(
            delete(MediaAttachment).where(
                col(MediaAttachment.record_type) == RECORD_TYPE,
                col(MediaAttachment.record_id) == article.id,
            )
        )
        await attach_photos(session, media=media, record_type=RECORD_TYPE, record_id=article.id)
    return article


async def _check_content(
    checker: WeChatGateway | None, *, author: User, title: str, body: str
) -> tuple[bool, bool]:
    """(flagged by WeChat for a closer look, not checked by WeChat at all): the
    reviewers are told either way."""
    verdict = await check_text(
        checker,
        author=author,
        title=title,
        content=body,
        refusal="稿件内容未通过微信内容安全检测，请修改后再提交",
    )
    return verdict == TextVerdict.review, verdict == TextVerdict.unchecked


async def _ladder(
    session: AsyncSession, *, org: Org, author_id: int, importance: ArticleImportance
) -> list[int]:
    """The review levels of an article of `org`, bottom up (see the module docstring)."""
    path = path_ids(org.path)
    rows = (
        await session.execute(
            select(Org.id, Org.level, RoleGrant.user_id)
            .outerjoin(
                RoleGrant,
                and_(
                    col(RoleGrant.org_id) == col(Org.id),
                    col(RoleGrant.role).in_(ADMIN_ROLES),
                    col(RoleGrant.user_id) != author_id,
                ),
            )
            .where(col(Org.id).in_(path))
        )
    ).all()
    staffed = {org_id for org_id, _, user_id in rows if user_id is not None}
    levels = {org_id: level for org_id, level, _ in rows}
    top = _top_depth(path, levels, importance)
    below_top = [org_id for org_id in reversed(path[top + 1 :]) if org_id in staffed]
    # The top level itself, or the nearest staffed level above it (the district always).
    acting_top = next(
        org_id for org_id in reversed(path[: top + 1]) if org_id in staffed or org_id == path[0]
    )
    return [*below_top, acting_top]


def _top_depth(path: list[int], levels: dict[int, str], importance: ArticleImportance) -> int:
    """The depth in `path` (0: the district) of the highest level `importance` asks for."""
    match importance:
        case ArticleImportance.routine:
            return len(path) - 1
        case ArticleImportance.important:
            streets = [i for i, org_id in enumerate(path) if levels[org_id] == OrgLevel.street]
            return streets[0] if streets else 0
        case ArticleImportance.major:
            return 0


async def ladder_of(session: AsyncSession, article: Article) -> list[int]:
    """The article's review levels as they stand now (the grants may have changed)."""
    return await _ladder(
        session,
        org=await _article_org(session, article),
        author_id=article.author_id,
        importance=article.importance,
    )


async def _article_org(session: AsyncSession, article: Article) -> Org:
    org = await session.get(Org, article.org_id)
    assert org is not None
    return org


async def submit_article(
    session: AsyncSession, *, caller: Caller, article: Article, checker: WeChatGateway | None
) -> Article:
    """Draft or returned → in review at the first level of the ladder, after the content
    check of the text as it stands (the update only lands if that text is unchanged)."""
    _require_author(caller, article)
    LIFECYCLE.require(article, ArticleAction.submit)
    flagged, unchecked = await _check_content(
        checker, author=caller.user, title=article.title, body=article.body
    )
    first_level = (await ladder_of(session, article))[0]
    now = utcnow()
    await lifecycle.move(
        session,
        LIFECYCLE,
        article,
        caller=caller,
        action=ArticleAction.submit,
        now=now,
        # The text checked above is the text submitted.
        guard=[col(Article.title) == article.title, col(Article.body) == article.body],
        values={
            "review_org_id": first_level,
            "review_level_at": now,
            "submitted_at": now,
            "first_submitted_at": func.coalesce(col(Article.first_submitted_at), now),
            "content_flagged": flagged,
            "needs_human_review": unchecked,
        },
        history={"level_org_id": first_level},
    )
    return article


async def review_article(
    session: AsyncSession, *, caller: Caller, article: Article, data: ArticleReview
) -> Article:
    """An admin of the level the article waits at approves it (up one level, or
    published at the top) or returns it to the author with a comment.

    An admin of a level the article has not reached yet is 403 `not_your_review_level`;
    one of a level it has already passed (a colleague acted first) is 409.
    """
    if article.author_id == caller.id:
        raise Forbidden("cannot_review_own_article", "不能审核自己撰写的稿件")
    action = ArticleAction.approve if data.approve else ArticleAction.return_
    LIFECYCLE.require(article, action)
    assert article.review_org_id is not None  # a CHECK ties it to in_review
    org = await _article_org(session, article)
    depth = {org_id: i for i, org_id in enumerate(path_ids(org.path))}
    ladder = await ladder_of(session, article)
    current = depth[article.review_org_id]
    # The first staffed level at or above the stored one acts (see the docstring). An
    # article waiting above its ladder's top (a lower level was staffed meanwhile) is
    # settled where it waits.
    acting = next((level for level in ladder if depth[level] <= current), article.review_org_id)
    mine = {g.org_id for g in caller.grants if g.role in ADMIN_ROLES}
    if acting not in mine:
        if any(depth.get(org_id, -1) > depth[acting] for org_id in mine):
            raise Conflict("invalid_article_state", "稿件已通过本级审核，正在上级审核")
        raise Forbidden("not_your_review_level", "稿件尚未报送到您这一级，请等待下级审核")
    comment = text_or_none(data.comment)
    if data.approve:
        above = [level for level in ladder if depth[level] < depth[acting]]
        to = ArticleStatus.in_review if above else ArticleStatus.published
        now = utcnow()
        values: dict[str, Any] = (
            {"review_org_id": above[0], "review_level_at": now}
            if above
            else {"review_org_id": None, "review_level_at": None, "published_at": now}
        )
    else:
        if comment is None:
            raise Unprocessable("comment_required", "退回稿件时请填写修改意见")
        to = ArticleStatus.returned
        values = {"review_org_id": None, "review_level_at": None}
    await lifecycle.move(
        session,
        LIFECYCLE,
        article,
        caller=caller,
        action=action,
        to=to,
        note=comment,
        # The level read is the level acted for: a colleague may have moved it on.
        guard=[col(Article.review_org_id) == article.review_org_id],
        values=values,
        history={"level_org_id": acting},
        audit_detail={"level_org_id": acting, "comment": comment},
        notify=lambda: articles_messages.article_reviewed(
            session, article=article, comment=comment
        ),
    )
    return article


# --- the urgent scan (app/services/notifications/scans.py) ----------------------------


async def _chase_urgent(session: AsyncSession, settings: Settings, now: datetime) -> int:
    """Every quarter hour. An urgent article that has waited URGENT_REVIEW_HOURS at its
    level: that level's admins are reminded and the next staffed level above is told
    (the escalation reaches past the importance's top: a late routine article of a
    community is the street's concern). The level is the one acting, as in
    `review_article`; each level is chased once (articles_messages)."""
    late = (
        await session.execute(
            select(Article, Org.path)
            .join(Org, col(Org.id) == col(Article.org_id))
            .where(
                col(Article.urgent).is_(True),
                col(Article.status) == ArticleStatus.in_review,
                col(Article.review_level_at) <= now - timedelta(hours=settings.urgent_review_hours),
            )
            .order_by(col(Article.id))
        )
    ).all()
    admins = await OrgAdmins.load(session, [path for _, path in late])
    notified = 0
    for article, path in late:
        assert article.review_org_id is not None
        path_up = path_ids(path)
        depth = {org_id: i for i, org_id in enumerate(path_up)}
        current = depth[article.review_org_id]
        ladder = await ladder_of(session, article)
        level = next((lv for lv in ladder if depth[lv] <= current), article.review_org_id)
        staffed_above = [
            org_id
            for org_id in reversed(path_up[: depth[level]])
            if admins.admins.get(org_id, set()) - {article.author_id}
        ]
        notified += await articles_messages.urgent_review_overdue(
            session,
            article=article,
            level_id=level,
            above_id=staffed_above[0] if staffed_above else None,
            admins=admins,
            hours=settings.urgent_review_hours,
            now=now,
        )
    return notified


SCANS = (
    scans.Scan(
        job="article_urgent_scan",
        period=scans.quarter_hourly,
        work=_chase_urgent,
        cron=scans.QUARTER_HOURLY,
    ),
)


# --- statistics ------------------------------------------------------------------------


def period_bounds(year: int, quarter: int | None) -> tuple[datetime, datetime]:
    """[start, end) in UTC of a Shanghai calendar year, or of one of its quarters."""
    if quarter is None:
        return year_bounds(year)
    first, last = 3 * quarter - 2, 3 * quarter
    return month_bounds(f"{year}-{first:02d}")[0], month_bounds(f"{year}-{last:02d}")[1]


def _row(org_id: int, name: str, submitted: int, published: int) -> ArticleStatsRow:
    rate = round(published / submitted, 4) if submitted else None
    return ArticleStatsRow(
        org_id=org_id,
        org_name=name,
        submitted=submitted,
        published=published,
        acceptance_rate=rate,
    )


async def article_stats(
    session: AsyncSession, *, org: Org, year: int, quarter: int | None
) -> ArticleStats:
    """Per child org of `org` (each with its whole subtree) and for `org` itself:
    articles first submitted in the period (投稿) and published in it (用稿).

    Both count by their own date, so an article submitted in March and published in
    April counts as submitted in Q1 and published in Q2; a quarter's rate can then
    exceed 1. Children are sorted by published, then rate (none last), then id.
    """
    start, end = period_bounds(year, quarter)
    first_submitted = col(Article.first_submitted_at)
    published_at = col(Article.published_at)
    submitted_in = and_(first_submitted >= start, first_submitted < end)
    published_in = and_(published_at >= start, published_at < end)
    counts = (
        func.count(case((submitted_in, col(Article.id)))),
        func.count(case((published_in, col(Article.id)))),
    )

    child = aliased(Org)
    inside = aliased(Org)
    rows = await session.execute(
        select(col(child.id), col(child.name), *counts)
        .select_from(child)
        .outerjoin(inside, col(inside.path).startswith(col(child.path)))
        .outerjoin(
            Article,
            and_(col(Article.org_id) == col(inside.id), or_(submitted_in, published_in)),
        )
        .where(col(child.parent_id) == org.id)
        .group_by(col(child.id), col(child.name))
    )
    children = []
    for child_id, name, child_submitted, child_published in rows.all():
        assert child_id is not None
        children.append(_row(child_id, name, child_submitted, child_published))
    children.sort(
        key=lambda r: (
            -r.published,
            -(r.acceptance_rate if r.acceptance_rate is not None else -1),
            r.org_id,
        )
    )

    submitted, published = (
        await session.execute(
            select(*counts)
            .select_from(Article)
            .join(Org, col(Org.id) == col(Article.org_id))
            .where(path_within(col(Org.path), org.path))
        )
    ).one()
    assert org.id is not None
    return ArticleStats(
        org_id=org.id,
        year=year,
        quarter=quarter,
        total=_row(org.id, org.name, submitted, published),
        children=children,
    )
