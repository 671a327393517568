"""Publicity performance (宣传): columns (专栏), placements (上稿), the district's
weights and the quarterly ranking (通报). The review ladder itself is
app/services/articles.py.

- A column belongs to an org; its admins (or those above) run it. An article of the
  org or of any org below may run in it (articles.column_id, one column at most).
  Everyone of the district sees the district's columns: writers choose from them.
  A column with articles is not deleted (409 `column_not_empty`): its figures stay.
- A placement records where an article was adopted outside (outlet, level, date,
  link). Only a published article has one (409 `article_not_published`); its author
  or an admin over its org records it, `pending`; the office (a district or street
  admin over the article's org, never the one who recorded it) verifies or rejects
  it, through the shared lifecycle (history rows, audit, 409 on a race). The same
  adoption twice (article, level, outlet, date) is one placement: the unique
  constraint settles two recorders at once (409 `placement_exists`).
- Only verified placements count, in the quarter of their `published_on`
  (a Shanghai date). The score of an org is the sum over levels of its placements
  times the weight its district set (`PUT /publicity/weights`; DEFAULT_WEIGHTS
  until then); ranks are competition ranks (1, 2, 2, 4) by score, ties broken for
  the order only by publications, then id.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col, select

from app.core.db import dialect_insert, paged_scalars, utcnow
from app.core.errors import Conflict, Forbidden, NotFound, Unprocessable
from app.core.scope import Caller, in_reach, path_ids, path_within
from app.core.text import text_or_none
from app.core.timeutil import local
from app.models.article import Article, ArticleStatus
from app.models.org import Org, OrgLevel
from app.models.publicity import (
    DEFAULT_WEIGHTS,
    ArticleColumn,
    ColumnCreate,
    ColumnPublic,
    ColumnStats,
    ColumnStatsRow,
    ColumnUpdate,
    Placement,
    PlacementAction,
    PlacementCounts,
    PlacementCreate,
    PlacementDetail,
    PlacementEvent,
    PlacementEventPublic,
    PlacementLevel,
    PlacementPublic,
    PlacementStatus,
    PlacementVerify,
    PublicityRow,
    PublicityStats,
    PublicityWeight,
    PublicityWeights,
    PublicityWeightsPublic,
)
from app.models.user import ADMIN_ROLES, Role, User
from app.services import articles, audit, lifecycle
from app.services.lifecycle import Lifecycle, Transition
from app.services.orgs import get_visible_org, org_names
from app.services.wishes import caller_district

# The office that verifies placements: the district's and the streets' admins.
OFFICE_ROLES = frozenset({Role.district_admin, Role.street_admin})

PLACEMENT_STATUS_NAMES = {
    PlacementStatus.pending: "待认定",
    PlacementStatus.verified: "已认定",
    PlacementStatus.rejected: "不予认定",
}


# --- columns -------------------------------------------------------------------------------


def _column_visible(caller: Caller, district: str | None) -> ColumnElement[bool]:
    """Columns of the caller's home district, or reached by any role they hold."""
    paths = caller.paths(g.role for g in caller.grants) + ([district] if district else [])
    return in_reach(col(ArticleColumn.org_id), paths)


async def get_visible_column(
    session: AsyncSession, caller: Caller, column_id: int
) -> ArticleColumn:
    district = await caller_district(session, caller)
    column = (
        await session.execute(
            select(ArticleColumn).where(
                col(ArticleColumn.id) == column_id, _column_visible(caller, district)
            )
        )
    ).scalar_one_or_none()
    if column is None:
        raise NotFound()
    return column


async def _require_column_admin(session: AsyncSession, caller: Caller, org_id: int) -> Org:
    org = await session.get(Org, org_id)
    assert org is not None
    if not caller.reaches(org, ADMIN_ROLES):
        raise Forbidden("forbidden", "只有开设专栏的组织（或上级）的管理员可以管理专栏")
    return org


async def _save_column(session: AsyncSession, column: ArticleColumn) -> None:
    try:
        async with session.begin_nested():
            session.add(column)
            await session.flush()
    except IntegrityError:
        raise Conflict("column_exists", "本组织已有同名专栏") from None


async def create_column(
    session: AsyncSession, *, caller: Caller, data: ColumnCreate
) -> ArticleColumn:
    org = await get_visible_org(session, caller, data.org_id)
    assert org.id is not None
    await _require_column_admin(session, caller, org.id)
    name = text_or_none(data.name)
    if name is None:
        raise Unprocessable("validation_error", "专栏名称不能为空")
    column = ArticleColumn(
        org_id=org.id,
        name=name,
        description=text_or_none(data.description),
        created_by_id=caller.id,
    )
    await _save_column(session, column)
    await audit.record(
        session,
        caller=caller,
        action="article_column.create",
        target_type="article_column",
        target_id=column.id,
        org_id=org.id,
        name=name,
    )
    return column


async def update_column(
    session: AsyncSession, *, caller: Caller, column: ArticleColumn, data: ColumnUpdate
) -> ArticleColumn:
    await _require_column_admin(session, caller, column.org_id)
    if "name" in data.model_fields_set:
        name = text_or_none(data.name)
        if name is None:
            raise Unprocessable("validation_error", "专栏名称不能为空")
        column.name = name
    if "description" in data.model_fields_set:
        column.description = text_or_none(data.description)
    column.updated_at = utcnow()
    await _save_column(session, column)
    await audit.record(
        session,
        caller=caller,
        action="article_column.update",
        target_type="article_column",
        target_id=column.id,
        org_id=column.org_id,
        name=column.name,
    )
    return column


async def delete_column(session: AsyncSession, *, caller: Caller, column: ArticleColumn) -> None:
    """Only an empty column goes; the foreign key stops an article joining meanwhile."""
    await _require_column_admin(session, caller, column.org_id)
    used = await session.execute(
        select(Article.id).where(col(Article.column_id) == column.id).limit(1)
    )
    if used.first() is not None:
        raise Conflict("column_not_empty", "专栏中已有稿件，不能删除")
    await audit.record(
        session,
        caller=caller,
        action="article_column.delete",
        target_type="article_column",
        target_id=column.id,
        org_id=column.org_id,
        name=column.name,
    )
    try:
        async with session.begin_nested():
            await session.delete(column)
            await session.flush()
    except IntegrityError:
        raise Conflict("column_not_empty", "专栏中已有稿件，不能删除") from None


async def get_org_of_columns(session: AsyncSession, caller: Caller, org_id: int) -> Org:
    """An org the caller may list columns for: as for its articles' list."""
    return await articles.get_org_of_articles(session, caller, org_id)


async def list_columns(
    session: AsyncSession, *, caller: Caller, org: Org | None, offset: int, limit: int
) -> tuple[list[ArticleColumn], int]:
    """`org`: the columns an article of that org may run in (its own and its
    ancestors')."""
    conditions = [_column_visible(caller, await caller_district(session, caller))]
    if org is not None:
        conditions.append(col(ArticleColumn.org_id).in_(path_ids(org.path)))
    return await paged_scalars(
        session,
        select(ArticleColumn).where(*conditions).order_by(col(ArticleColumn.id)),
        offset=offset,
        limit=limit,
    )


async def columns_public(
    session: AsyncSession, columns: Sequence[ArticleColumn]
) -> list[ColumnPublic]:
    names = await org_names(session, {c.org_id for c in columns})
    out = []
    for c in columns:
        assert c.id is not None
        out.append(
            ColumnPublic(
                id=c.id,
                org_id=c.org_id,
                org_name=names.get(c.org_id, ""),
                name=c.name,
                description=c.description,
                created_at=c.created_at,
                updated_at=c.updated_at,
            )
        )
    return out


# --- placements ------------------------------------------------------------------------------


LIFECYCLE = Lifecycle(
    name="placement",
    model=Placement,
    history=PlacementEvent,
    org_key="org_id",
    code="invalid_placement_state",
    called="上稿记录",
    names=PLACEMENT_STATUS_NAMES,
    transitions=(
        Transition(
            PlacementAction.verify, {PlacementStatus.pending}, PlacementStatus.verified, "认定"
        ),
        Transition(
            PlacementAction.reject, {PlacementStatus.pending}, PlacementStatus.rejected, "认定"
        ),
    ),
)


def _placement_visible(caller: Caller) -> ColumnElement[bool]:
    """Its recorder, the article's author, and admins whose reach covers the article."""
    return or_(
        col(Placement.recorded_by_id) == caller.id,
        col(Article.author_id) == caller.id,
        in_reach(col(Article.org_id), caller.paths(ADMIN_ROLES)),
    )


async def get_visible_placement(
    session: AsyncSession, caller: Caller, placement_id: int
) -> Placement:
    placement = (
        await session.execute(
            select(Placement)
            .join(Article, col(Article.id) == col(Placement.article_id))
            .where(col(Placement.id) == placement_id, _placement_visible(caller))
        )
    ).scalar_one_or_none()
    if placement is None:
        raise NotFound()
    return placement


async def record_placement(
    session: AsyncSession, *, caller: Caller, article: Article, data: PlacementCreate
) -> Placement:
    org = await session.get(Org, article.org_id)
    assert org is not None and article.id is not None
    if article.author_id != caller.id and not caller.reaches(org, ADMIN_ROLES):
        raise Forbidden("forbidden", "只有稿件作者或管理员可以登记上稿")
    if article.status != ArticleStatus.published:
        raise Conflict("article_not_published", "稿件发布后才能登记上稿")
    if data.published_on > local(utcnow()).date():
        raise Unprocessable("published_on_in_future", "刊发日期不能晚于今天")
    outlet = text_or_none(data.outlet)
    if outlet is None:
        raise Unprocessable("validation_error", "刊发媒体不能为空")
    placement = Placement(
        article_id=article.id,
        org_id=article.org_id,
        outlet=outlet,
        level=data.level,
        published_on=data.published_on,
        url=data.url,
        status=PlacementStatus.pending,
        recorded_by_id=caller.id,
    )
    try:
        async with session.begin_nested():
            session.add(placement)
            await session.flush()
    except IntegrityError:
        raise Conflict("placement_exists", "该上稿已登记过") from None
    assert placement.id is not None
    session.add(
        PlacementEvent(
            placement_id=placement.id,
            action=PlacementAction.create,
            to_status=PlacementStatus.pending,
            actor_id=caller.id,
        )
    )
    await audit.record(
        session,
        caller=caller,
        action="placement.create",
        target_type="placement",
        target_id=placement.id,
        org_id=article.org_id,
        article_id=article.id,
        level=data.level.value,
        outlet=outlet,
    )
    return placement


async def verify_placement(
    session: AsyncSession, *, caller: Caller, placement: Placement, data: PlacementVerify
) -> Placement:
    """The office confirms (or refuses, with a note) that the article ran there."""
    article = await session.get(Article, placement.article_id)
    assert article is not None
    org = await session.get(Org, article.org_id)
    assert org is not None
    if not caller.reaches(org, OFFICE_ROLES):
        raise Forbidden("forbidden", "只有区、街道管理员可以认定上稿")
    if placement.recorded_by_id == caller.id:
        raise Forbidden("cannot_verify_own_placement", "不能认定自己登记的上稿")
    action = PlacementAction.verify if data.approve else PlacementAction.reject
    LIFECYCLE.require(placement, action)
    note = text_or_none(data.note)
    if not data.approve and note is None:
        raise Unprocessable("note_required", "不予认定时请填写原因")
    now = utcnow()
    await lifecycle.move(
        session,
        LIFECYCLE,
        placement,
        caller=caller,
        action=action,
        note=note,
        now=now,
        values={"verified_by_id": caller.id, "verified_at": now, "note": note},
        audit_detail={"note": note, "article_id": article.id},
    )
    return placement


async def list_placements(
    session: AsyncSession,
    *,
    caller: Caller,
    article: Article | None,
    org: Org | None,
    status: PlacementStatus | None,
    to_verify: bool,
    offset: int,
    limit: int,
) -> tuple[list[Placement], int]:
    """`to_verify`: pending placements the caller may verify (not their own)."""
    conditions: list[ColumnElement[bool]] = [_placement_visible(caller)]
    if article is not None:
        conditions.append(col(Placement.article_id) == article.id)
    if org is not None:
        conditions.append(in_reach(col(Article.org_id), [org.path]))
    if status is not None:
        conditions.append(col(Placement.status) == status)
    if to_verify:
        conditions += [
            col(Placement.status) == PlacementStatus.pending,
            in_reach(col(Article.org_id), caller.paths(OFFICE_ROLES)),
            col(Placement.recorded_by_id) != caller.id,
        ]
    base = select(Placement).join(Article, col(Article.id) == col(Placement.article_id))
    return await paged_scalars(
        session,
        base.where(*conditions).order_by(col(Placement.id).desc()),
        offset=offset,
        limit=limit,
    )


async def placements_public(
    session: AsyncSession, placements: Sequence[Placement]
) -> list[PlacementPublic]:
    if not placements:
        return []  # an empty page reads nothing
    ids = {p.article_id for p in placements}
    about = {
        a_id: (title, org_id)
        for a_id, title, org_id in (
            await session.execute(
                select(Article.id, Article.title, Article.org_id).where(col(Article.id).in_(ids))
            )
        ).all()
    }
    out = []
    for p in placements:
        assert p.id is not None
        title, org_id = about[p.article_id]
        out.append(
            PlacementPublic(
                id=p.id,
                article_id=p.article_id,
                article_title=title,
                org_id=org_id,
                outlet=p.outlet,
                level=p.level,
                published_on=p.published_on,
                url=p.url,
                status=p.status,
                recorded_by_id=p.recorded_by_id,
                verified_by_id=p.verified_by_id,
                verified_at=p.verified_at,
                note=p.note,
                created_at=p.created_at,
            )
        )
    return out


async def placement_detail(session: AsyncSession, placement: Placement) -> PlacementDetail:
    (public,) = await placements_public(session, [placement])
    rows = await session.execute(
        select(PlacementEvent, User.name)
        .join(User, col(User.id) == col(PlacementEvent.actor_id))
        .where(col(PlacementEvent.placement_id) == placement.id)
        .order_by(col(PlacementEvent.id))
    )
    history = []
    for event, name in rows.all():
        assert event.id is not None
        history.append(
            PlacementEventPublic(
                id=event.id,
                action=event.action,
                from_status=event.from_status,
                to_status=event.to_status,
                actor_id=event.actor_id,
                actor_name=name,
                note=event.note,
                at=event.at,
            )
        )
    return PlacementDetail(**public.model_dump(), history=history)


# --- weights ---------------------------------------------------------------------------------


def district_of(org: Org) -> int:
    return path_ids(org.path)[0]


async def weights_of(session: AsyncSession, district_id: int) -> dict[PlacementLevel, float]:
    rows = await session.execute(
        select(PublicityWeight.level, PublicityWeight.weight).where(
            col(PublicityWeight.district_id) == district_id
        )
    )
    weights = dict(DEFAULT_WEIGHTS)
    weights.update({PlacementLevel(level): weight for level, weight in rows.all()})
    return weights


async def district_for_weights(
    session: AsyncSession, caller: Caller, org_id: int | None, *, what: str = "上稿分值"
) -> Org:
    """The district whose weights (`what`: these, or the composite score's) a district
    admin sets: the one named, or their only one."""
    districts = [g.org_id for g in caller.grants if g.role == Role.district_admin]
    if org_id is None:
        if not districts:
            raise Forbidden("forbidden", f"只有区级管理员可以设定{what}")
        if len(set(districts)) > 1:
            raise Unprocessable("district_required", "您管理多个区，请用 org_id 指明")
        org_id = districts[0]
    org = await session.get(Org, org_id)
    if org is None or not caller.reaches(org, [Role.district_admin]):
        raise NotFound()
    if org.level != OrgLevel.district:
        raise Unprocessable("not_a_district", f"{what}由区设定，org_id 须是区")
    return org


async def set_weights(
    session: AsyncSession, *, caller: Caller, district: Org, data: PublicityWeights
) -> PublicityWeightsPublic:
    """One upsert per level: two admins saving at once leave the later one's values."""
    assert district.id is not None
    for weight in data.weights.values():
        if not 0 <= weight <= 1000:
            raise Unprocessable("invalid_weight", "分值应在 0 到 1000 之间")
    for level, weight in sorted(data.weights.items()):
        stmt = dialect_insert(session, PublicityWeight).values(
            district_id=district.id,
            level=level.value,
            weight=weight,
            updated_by_id=caller.id,
            updated_at=utcnow(),
        )
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=["district_id", "level"],
                set_={"weight": weight, "updated_by_id": caller.id, "updated_at": utcnow()},
            )
        )
    await audit.record(
        session,
        caller=caller,
        action="publicity.weights",
        target_type="org",
        target_id=district.id,
        org_id=district.id,
        weights={k.value: v for k, v in data.weights.items()},
    )
    return PublicityWeightsPublic(
        district_id=district.id, weights=await weights_of(session, district.id)
    )


# --- the quarterly ranking (通报) -------------------------------------------------------------


def period_dates(year: int, quarter: int | None) -> tuple[date, date]:
    """[first, after) Shanghai dates of a year or one of its quarters."""
    if quarter is None:
        return date(year, 1, 1), date(year + 1, 1, 1)
    first = date(year, 3 * quarter - 2, 1)
    after = date(year + 1, 1, 1) if quarter == 4 else date(year, 3 * quarter + 1, 1)
    return first, after


def _counted(year: int, quarter: int | None) -> ColumnElement[bool]:
    first, after = period_dates(year, quarter)
    return and_(
        col(Placement.status) == PlacementStatus.verified,
        col(Placement.published_on) >= first,
        col(Placement.published_on) < after,
    )


def _counts(values: Sequence[int]) -> PlacementCounts:
    return PlacementCounts(**dict(zip((lv.value for lv in PlacementLevel), values, strict=True)))


def _score(counts: PlacementCounts, weights: dict[PlacementLevel, float]) -> float:
    return round(sum(getattr(counts, level.value) * w for level, w in weights.items()), 2)


async def publicity_stats(
    session: AsyncSession, *, org: Org, year: int, quarter: int | None
) -> PublicityStats:
    """Per child org of `org` (with its subtree): articles submitted and published
    (as GET /stats/articles counts them), verified placements by level, the score
    and the rank; and the same for `org` itself."""
    assert org.id is not None
    base = await articles.article_stats(session, org=org, year=year, quarter=quarter)
    weights = await weights_of(session, district_of(org))
    level_counts = [
        func.count(case((col(Placement.level) == level, col(Placement.id))))
        for level in PlacementLevel
    ]
    child, inside = aliased(Org), aliased(Org)
    per_child: dict[int, PlacementCounts] = {}
    for child_id, *n in (
        await session.execute(
            sa_select(col(child.id), *level_counts)
            .select_from(child)
            .join(inside, col(inside.path).startswith(col(child.path)))
            .join(Placement, col(Placement.org_id) == col(inside.id))
            .where(col(child.parent_id) == org.id, _counted(year, quarter))
            .group_by(col(child.id))
        )
    ).all():
        assert child_id is not None
        per_child[child_id] = _counts(n)
    total_counts = (
        await session.execute(
            sa_select(*level_counts)
            .select_from(Placement)
            .join(Org, col(Org.id) == col(Placement.org_id))
            .where(path_within(col(Org.path), org.path), _counted(year, quarter))
        )
    ).one()

    def row(r: Any, counts: PlacementCounts) -> PublicityRow:
        return PublicityRow(
            org_id=r.org_id,
            org_name=r.org_name,
            submitted=r.submitted,
            published=r.published,
            placements=counts,
            score=_score(counts, weights),
            rank=None,
        )

    children = [row(r, per_child.get(r.org_id, PlacementCounts())) for r in base.children]
    children.sort(key=lambda r: (-r.score, -r.published, r.org_id))
    for i, r in enumerate(children):
        ahead = children[i - 1] if i else None
        r.rank = ahead.rank if ahead is not None and ahead.score == r.score else i + 1
    total = row(
        base.total,
        PlacementCounts(
            **dict(zip((lv.value for lv in PlacementLevel), total_counts, strict=True))
        ),
    )
    return PublicityStats(
        org_id=org.id, year=year, quarter=quarter, weights=weights, total=total, children=children
    )


async def column_stats(
    session: AsyncSession, *, org: Org, year: int, quarter: int | None
) -> ColumnStats:
    """Per column an article of `org`'s subtree may run in (columns of `org`, of its
    ancestors and of its subtree): the subtree's articles in it first submitted and
    published in the period, and their verified placements of the period."""
    assert org.id is not None
    start, end = articles.period_bounds(year, quarter)
    first_submitted, published_at = col(Article.first_submitted_at), col(Article.published_at)
    placed = (
        select(func.count())
        .select_from(Placement)
        .join(Article, col(Article.id) == col(Placement.article_id))
        .join(Org, col(Org.id) == col(Article.org_id))
        .where(
            col(Article.column_id) == col(ArticleColumn.id),
            path_within(col(Org.path), org.path),
            _counted(year, quarter),
        )
        .scalar_subquery()
    )
    inside = aliased(Org)
    held_by = aliased(Org)
    rows = await session.execute(
        sa_select(
            col(ArticleColumn.id),
            col(ArticleColumn.name),
            col(ArticleColumn.org_id),
            func.count(
                case((and_(first_submitted >= start, first_submitted < end), col(Article.id)))
            ),
            func.count(case((and_(published_at >= start, published_at < end), col(Article.id)))),
            placed,
        )
        .select_from(ArticleColumn)
        .join(held_by, col(held_by.id) == col(ArticleColumn.org_id))
        .outerjoin(
            Article,
            and_(
                col(Article.column_id) == col(ArticleColumn.id),
                col(Article.org_id).in_(
                    select(inside.id).where(path_within(col(inside.path), org.path))
                ),
            ),
        )
        .where(
            or_(
                col(ArticleColumn.org_id).in_(path_ids(org.path)),
                path_within(col(held_by.path), org.path),
            )
        )
        .group_by(col(ArticleColumn.id), col(ArticleColumn.name), col(ArticleColumn.org_id))
        .order_by(col(ArticleColumn.id))
    )
    return ColumnStats(
        org_id=org.id,
        year=year,
        quarter=quarter,
        columns=[
            ColumnStatsRow(
                column_id=cid,
                name=name,
                org_id=owner,
                submitted=submitted,
                published=published,
                placements=placements,
            )
            for cid, name, owner, submitted, published, placements in rows.all()
        ],
    )
