"""Indicators (网上资料申报): the checklist of materials an org must put online for the
assessment, one item per indicator.

Who does what:
- an admin whose reach covers the org adds an item (its indicator code, unique in
  the org: 409 `indicator_exists`), naming its owner (a person the admin reaches)
  and the due date;
- the owner, or an admin over the org, hands in the evidence (a note, photos,
  documents: PDF, docx, xlsx, app/services/documents.py) → `submitted`, from
  `pending` or `returned`;
- an admin over the org, never the owner, reviews it → `accepted`, or `returned`
  with a comment (a lifecycle move: two reviewers at once, one wins);
- the owner and the admins over the org see it; an item not accepted after its due
  day is overdue: the daily scan tells its owner and the admins answering for the
  org, once per item;
- completion per child org: accepted items over all items.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import ColumnElement, case, func, or_
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.core.config import Settings
from app.core.db import paged_scalars, utcnow
from app.core.errors import Conflict, Forbidden, NotFound, Unprocessable
from app.core.scope import Caller, in_reach, org_in_reach
from app.core.timeutil import local
from app.models.indicator import (
    EvidenceCreate,
    Indicator,
    IndicatorAction,
    IndicatorCreate,
    IndicatorEvent,
    IndicatorOrgStats,
    IndicatorPublic,
    IndicatorReview,
    IndicatorStats,
    IndicatorStatus,
    overdue_condition,
)
from app.models.media import Media
from app.models.org import Org
from app.services import audit, dashboard, indicators_messages, lifecycle
from app.services.documents import DOCUMENT_TYPES
from app.services.lifecycle import Lifecycle, Transition
from app.services.notifications import scans
from app.services.notifications.recipients import OrgAdmins
from app.services.photos import (
    attach_photos,
    photo_ids_by_record,
    register_record_type,
    require_own_photos,
)
from app.services.users import get_visible_user, user_names

INDICATOR_RECORD = "indicator"

STATUS_NAMES = {
    IndicatorStatus.pending: "待提交",
    IndicatorStatus.submitted: "待审核",
    IndicatorStatus.accepted: "已通过",
    IndicatorStatus.returned: "已退回",
}

LIFECYCLE = Lifecycle(
    name="indicator",
    model=Indicator,
    history=IndicatorEvent,
    org_key="org_id",
    code="invalid_indicator_state",
    called="该指标",
    names=STATUS_NAMES,
    transitions=(
        Transition(
            IndicatorAction.submit,
            {IndicatorStatus.pending, IndicatorStatus.returned},
            IndicatorStatus.submitted,
            "提交材料",
        ),
        Transition(
            IndicatorAction.accept, {IndicatorStatus.submitted}, IndicatorStatus.accepted, "审核"
        ),
        Transition(
            IndicatorAction.send_back,
            {IndicatorStatus.submitted},
            IndicatorStatus.returned,
            "审核",
        ),
    ),
)


def is_overdue(indicator: Indicator, today: date) -> bool:
    return indicator.status != IndicatorStatus.accepted and indicator.due_on < today


# --- who sees an item ----------------------------------------------------------------


def _visible(caller: Caller) -> ColumnElement[bool]:
    return or_(
        in_reach(col(Indicator.org_id), caller.paths()), col(Indicator.owner_id) == caller.id
    )


async def get_visible_indicator(
    session: AsyncSession, caller: Caller, indicator_id: int
) -> Indicator:
    found = (
        await session.execute(
            select(Indicator).where(col(Indicator.id) == indicator_id, _visible(caller))
        )
    ).scalar_one_or_none()
    if found is None:
        raise NotFound()
    return found


async def _can_see(session: AsyncSession, caller: Caller, record_id: int) -> bool:
    found = await session.execute(
        select(Indicator.id).where(col(Indicator.id) == record_id, _visible(caller))
    )
    return found.first() is not None


register_record_type(INDICATOR_RECORD, _can_see)


async def _administers(session: AsyncSession, caller: Caller, indicator: Indicator) -> bool:
    org = await session.get(Org, indicator.org_id)
    return org is not None and caller.reaches(org)


# --- the items --------------------------------------------------------------------------


async def create_indicator(
    session: AsyncSession, *, caller: Caller, data: IndicatorCreate, now: datetime | None = None
) -> Indicator:
    now = now or utcnow()
    if not caller.is_admin:
        raise Forbidden("forbidden", "只有管理员可以设置申报指标")
    org = await org_in_reach(session, caller, data.org_id)
    try:
        owner = await get_visible_user(session, caller, data.owner_user_id)
    except NotFound:
        raise Unprocessable("invalid_owner", "责任人须是管理范围内的人员") from None
    assert org.id is not None and owner.id is not None
    indicator = Indicator(
        org_id=org.id,
        code=data.code,
        title=data.title,
        owner_id=owner.id,
        due_on=data.due_on,
        status=IndicatorStatus.pending,
        created_by_id=caller.id,
        created_at=now,
        updated_at=now,
    )
    try:
        async with session.begin_nested():
            session.add(indicator)
            await session.flush()
    except IntegrityError:
        raise Conflict("indicator_exists", "该组织已有这一指标") from None
    assert indicator.id is not None
    session.add(
        IndicatorEvent(
            indicator_id=indicator.id,
            action=IndicatorAction.create,
            to_status=IndicatorStatus.pending,
            actor_id=caller.id,
            at=now,
        )
    )
    await audit.record(
        session,
        caller=caller,
        action="indicator.create",
        target_type="indicator",
        target_id=indicator.id,
        org_id=org.id,
    )
    return indicator


async def submit_evidence(
    session: AsyncSession,
    *,
    caller: Caller,
    indicator: Indicator,
    data: EvidenceCreate,
    now: datetime | None = None,
) -> Indicator:
    now = now or utcnow()
    if indicator.owner_id != caller.id and not await _administers(session, caller, indicator):
        raise Forbidden("forbidden", "只有责任人或该组织的管理员可以提交材料")
    LIFECYCLE.require(indicator, IndicatorAction.submit)
    photos = await require_own_photos(session, caller=caller, photo_ids=data.photo_ids)
    if any(p.content_type in DOCUMENT_TYPES for p in photos):
        raise Unprocessable("invalid_photo", "文档请放在 media_ids 中")
    docs = await require_own_photos(session, caller=caller, photo_ids=data.media_ids)
    if any(d.content_type not in DOCUMENT_TYPES for d in docs):
        raise Unprocessable("invalid_document", "media_ids 只能是本人上传的文档（POST /documents）")
    assert indicator.id is not None
    await lifecycle.move(
        session,
        LIFECYCLE,
        indicator,
        caller=caller,
        action=IndicatorAction.submit,
        note=data.note,
        now=now,
        values={"evidence_note": data.note, "submitted_at": now},
    )
    await attach_photos(
        session, media=[*photos, *docs], record_type=INDICATOR_RECORD, record_id=indicator.id
    )
    return indicator


async def review(
    session: AsyncSession,
    *,
    caller: Caller,
    indicator: Indicator,
    data: IndicatorReview,
    now: datetime | None = None,
) -> Indicator:
    now = now or utcnow()
    if not await _administers(session, caller, indicator):
        raise Forbidden("forbidden", "只有该组织及上级的管理员可以审核")
    if indicator.owner_id == caller.id:
        raise Forbidden("forbidden", "责任人不能审核自己提交的材料")
    action = IndicatorAction.accept if data.approve else IndicatorAction.send_back
    LIFECYCLE.require(indicator, action)
    if not data.approve and data.comment is None:
        raise Unprocessable("comment_required", "退回须写明原因")
    await lifecycle.move(
        session,
        LIFECYCLE,
        indicator,
        caller=caller,
        action=action,
        note=data.comment,
        now=now,
        values={"review_comment": data.comment, "reviewed_by_id": caller.id, "reviewed_at": now},
        notify=(
            None
            if data.approve
            else lambda: indicators_messages.indicator_returned(session, indicator=indicator)
        ),
    )
    return indicator


# --- reading ---------------------------------------------------------------------------------


async def list_indicators(
    session: AsyncSession,
    *,
    caller: Caller,
    org: Org | None,
    status: IndicatorStatus | None,
    overdue: bool | None,
    offset: int,
    limit: int,
    now: datetime | None = None,
) -> tuple[list[Indicator], int]:
    today = local(now or utcnow()).date()
    conditions = [_visible(caller)]
    if org is not None:
        conditions.append(in_reach(col(Indicator.org_id), [org.path]))
    if status is not None:
        conditions.append(col(Indicator.status) == status)
    if overdue is not None:
        cond = overdue_condition(today)
        conditions.append(cond if overdue else ~cond)
    return await paged_scalars(
        session,
        select(Indicator)
        .where(*conditions)
        .order_by(col(Indicator.due_on), col(Indicator.code), col(Indicator.id)),
        offset=offset,
        limit=limit,
    )


async def indicators_public(
    session: AsyncSession,
    indicators: Sequence[Indicator],
    *,
    caller: Caller,
    now: datetime | None = None,
) -> list[IndicatorPublic]:
    today = local(now or utcnow()).date()
    ids = [i.id for i in indicators if i.id is not None]
    attached = await photo_ids_by_record(session, INDICATOR_RECORD, ids, viewer_id=caller.id)
    media_ids = {m for ms in attached.values() for m in ms}
    documents = (
        set(
            (
                await session.execute(
                    select(Media.id).where(
                        col(Media.id).in_(media_ids), col(Media.content_type).in_(DOCUMENT_TYPES)
                    )
                )
            ).scalars()
        )
        if media_ids
        else set()
    )
    names = await user_names(session, (i.owner_id for i in indicators))
    out = []
    for i in indicators:
        assert i.id is not None
        mine = attached.get(i.id, [])
        out.append(
            IndicatorPublic(
                id=i.id,
                org_id=i.org_id,
                code=i.code,
                title=i.title,
                owner_user_id=i.owner_id,
                owner_name=names.get(i.owner_id) if caller.sees_personal_data else None,
                due_on=i.due_on,
                status=i.status,
                overdue=is_overdue(i, today),
                evidence_note=i.evidence_note,
                photo_ids=[m for m in mine if m not in documents],
                media_ids=[m for m in mine if m in documents],
                submitted_at=i.submitted_at,
                review_comment=i.review_comment,
                reviewed_at=i.reviewed_at,
                created_at=i.created_at,
            )
        )
    return out


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


async def indicator_stats(
    session: AsyncSession, *, org: Org, now: datetime | None = None
) -> IndicatorStats:
    """Completion per child org: items by state, overdue ones, accepted over all."""
    today = local(now or utcnow()).date()
    assert org.id is not None
    children = list((await session.execute(select(Org).where(Org.parent_id == org.id))).scalars())
    buckets = await dashboard.subtrees(session, org, [org, *children])
    per_org: dict[int, list[int]] = {}
    rows = await session.execute(
        sa_select(
            col(Indicator.org_id),
            *(func.count(case((col(Indicator.status) == s, 1))) for s in IndicatorStatus),
            func.count(case((overdue_condition(today), 1))),
        )
        .where(col(Indicator.org_id).in_(buckets[org.id]))
        .group_by(col(Indicator.org_id))
    )
    for org_id, *numbers in rows.all():
        per_org[org_id] = [int(n) for n in numbers]

    def figures(o: Org) -> IndicatorOrgStats:
        assert o.id is not None
        sums = [0] * (len(IndicatorStatus) + 1)
        for org_id in buckets[o.id]:
            for k, n in enumerate(per_org.get(org_id, ())):
                sums[k] += n
        by_status = dict(zip(IndicatorStatus, sums, strict=False))
        total = sum(sums[: len(IndicatorStatus)])
        return IndicatorOrgStats(
            org_id=o.id,
            org_name=o.name,
            total=total,
            **{s.value: by_status[s] for s in IndicatorStatus},
            overdue=sums[-1],
            completion_rate=_rate(by_status[IndicatorStatus.accepted], total),
        )

    return IndicatorStats(
        org_id=org.id, total=figures(org), children=[figures(c) for c in children]
    )


# --- the daily scan: overdue items (app/services/notifications/scans.py) ---------------------


async def _chase_overdue(session: AsyncSession, settings: Settings, now: datetime) -> int:
    """Daily. Items past their due day and not accepted: their owner and the admins
    answering for the org, once per item (the message's dedupe key)."""
    overdue = (
        await session.execute(
            select(Indicator, Org.path)
            .join(Org, col(Org.id) == col(Indicator.org_id))
            .where(overdue_condition(local(now).date()))
            .order_by(col(Indicator.id))
        )
    ).all()
    admins = await OrgAdmins.load(session, [path for _, path in overdue])
    notified = 0
    for indicator, path in overdue:
        notified += await indicators_messages.indicator_overdue(
            session, indicator=indicator, admins=admins.responsible(path), now=now
        )
    return notified


SCANS = (scans.Scan(job="indicator_scan", period=scans.daily, work=_chase_overdue),)
