"""The volunteer-hours ledger (志愿服务时长): hand-logged entries, reviews, totals.

Automatic credits (task check-out, confirmed wishes, completed orders) come through
`credit`. The ledger is append-only: a review changes an entry's status once, and an
approval may be revoked once within REVOKE_WINDOW (its points reversed with it), each
on the one lifecycle with who, when and why; anything else is a new entry.
A year's minutes are the entries that *start* in that Shanghai year.

Who sees an entry: its owner, and admins whose reach covers the entry's org. A list
filtered by `user_id` is a filter over what the caller may see, so a person outside
reach gives an empty list, the same as a person with no entries (nothing leaks).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, Integer, SQLColumnExpression, String, bindparam, func, or_
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col, select

from app.core.db import dialect_of, table_of, utcnow
from app.core.errors import Conflict, Forbidden, NotFound, Unprocessable
from app.core.scope import Caller, by_members, in_reach, path_ids
from app.core.text import text_or_none
from app.core.timeutil import year_bounds
from app.models.org import Org
from app.models.points import SourceKind
from app.models.user import ADMIN_ROLES, User
from app.models.volunteer import Volunteer, VolunteerStatus
from app.models.volunteer_hours import (
    STATUS_NAMES,
    HourAction,
    HoursGroupBy,
    HourSource,
    HoursSummary,
    HourStatus,
    HoursTotal,
    HoursTotals,
    VolunteerHour,
    VolunteerHourCreate,
    VolunteerHourEvent,
    VolunteerHourEventPublic,
    VolunteerHourPublic,
    VolunteerHourReview,
)
from app.services import lifecycle, points, volunteer_hours_messages
from app.services.lifecycle import Lifecycle, Transition
from app.services.photos import (
    PhotoPage,
    attach_photos,
    photo_ids_by_record,
    register_record_type,
    require_own_photos,
)
from app.services.users import user_names

RECORD_TYPE = "volunteer_hour"
MAX_SPAN = timedelta(hours=24)
# Phones' clocks drift and time pickers round: an entry "ending now" may arrive
# stamped a little ahead of the server.
CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class _Reach:
    """The places and people whose entries a caller sees besides their own (`_visible`):
    what the list's statements are built for, once each (`_list_statements`)."""

    admin: tuple[str, ...]
    members: tuple[str, ...]

    @classmethod
    def of(cls, caller: Caller) -> _Reach:
        return cls(admin=tuple(caller.paths(ADMIN_ROLES)), members=tuple(caller.member_paths()))


def _visible(caller: Caller) -> ColumnElement[bool]:
    return _visible_to(_Reach.of(caller), caller.id)


def _visible_to(
    reach: _Reach, me: int | ColumnElement[int], *, as_array: bool = False
) -> ColumnElement[bool]:
    """One's own entries (`me`: the caller's id, or a bound parameter for it), those at
    orgs in one's admin reach, and (a unit's party secretary) those of the unit's
    members wherever they served. `as_array`: on PostgreSQL, each read by its index
    (`in_reach`)."""
    return or_(
        col(VolunteerHour.user_id) == me,
        in_reach(col(VolunteerHour.org_id), list(reach.admin), as_array=as_array),
        by_members(col(VolunteerHour.user_id), list(reach.members), as_array=as_array),
    )


async def get_visible_entry(session: AsyncSession, caller: Caller, entry_id: int) -> VolunteerHour:
    entry = (
        await session.execute(
            select(VolunteerHour).where(VolunteerHour.id == entry_id, _visible(caller))
        )
    ).scalar_one_or_none()
    if entry is None:
        raise NotFound()
    return entry


async def _can_see_entry(session: AsyncSession, caller: Caller, entry_id: int) -> bool:
    found = await session.execute(
        select(VolunteerHour.id).where(VolunteerHour.id == entry_id, _visible(caller))
    )
    return found.first() is not None


register_record_type(RECORD_TYPE, _can_see_entry)


async def to_public(
    session: AsyncSession, entries: Sequence[VolunteerHour], *, viewer_id: int | None
) -> list[VolunteerHourPublic]:
    photos = await photo_ids_by_record(
        session, RECORD_TYPE, (e.id for e in entries), viewer_id=viewer_id
    )
    names = await user_names(session, (e.user_id for e in entries))
    return [
        _public(e, user_name=names.get(e.user_id, ""), photo_ids=photos.get(e.id or 0, []))
        for e in entries
    ]


def _public(e: VolunteerHour | Any, *, user_name: str, photo_ids: list[int]) -> VolunteerHourPublic:
    """An entry (a VolunteerHour, or a row of its columns) as it is shown."""
    assert e.id is not None
    return VolunteerHourPublic(
        id=e.id,
        user_id=e.user_id,
        user_name=user_name,
        org_id=e.org_id,
        activity=e.activity,
        started_at=e.started_at,
        ended_at=e.ended_at,
        minutes=e.minutes,
        source=e.source,
        source_id=e.source_id,
        status=e.status,
        reviewed_by_id=e.reviewed_by_id,
        reviewed_at=e.reviewed_at,
        review_reason=e.review_reason,
        photo_ids=photo_ids,
        created_at=e.created_at,
    )


async def _orgs_one_may_log_for(session: AsyncSession, user: User) -> set[int]:
    """The home community and every org above it, and the person's unit; for a
    volunteer on no roster, their approved volunteer community and above it."""
    allowed: set[int] = set()
    community_id = user.community_id
    if community_id is None:
        community_id = (
            await session.execute(
                select(Volunteer.community_id).where(
                    Volunteer.user_id == user.id, Volunteer.status == VolunteerStatus.approved
                )
            )
        ).scalar_one_or_none()
    if community_id is not None:
        community = await session.get(Org, community_id)
        if community is not None:
            allowed.update(path_ids(community.path))
    if user.unit_id is not None:
        allowed.add(user.unit_id)
    return allowed


async def log_entry(
    session: AsyncSession, *, caller: Caller, data: VolunteerHourCreate
) -> VolunteerHour:
    """A hand-logged entry, pending until an admin over its org reviews it."""
    started, ended = data.started_at, data.ended_at
    if ended <= started:
        raise Unprocessable("invalid_time_range", "结束时间必须晚于开始时间")
    if ended > utcnow() + CLOCK_SKEW:
        raise Unprocessable("in_future", "不能登记尚未结束的服务时长")
    if ended - started > MAX_SPAN:
        raise Unprocessable("too_long", "单条记录不能超过 24 小时，请分开登记")
    minutes = int((ended - started).total_seconds() // 60)
    if minutes < 1:
        raise Unprocessable("too_short", "服务时长至少 1 分钟")
    activity = data.activity.strip()
    if not activity:
        raise Unprocessable("validation_error", "请填写服务内容")
    if data.org_id not in await _orgs_one_may_log_for(session, caller.user):
        raise Unprocessable("invalid_org", "只能登记在本人所属社区（或其上级）或本人单位名下")
    media = await require_own_photos(session, caller=caller, photo_ids=data.photo_ids)

    # Lock the person's row: two entries logged at once must not both pass the
    # overlap check below, each blind to the other.
    await session.execute(select(User.id).where(User.id == caller.id).with_for_update())
    overlap = await session.execute(
        select(VolunteerHour.id)
        .where(
            VolunteerHour.user_id == caller.id,
            VolunteerHour.status != HourStatus.rejected,
            col(VolunteerHour.started_at) < ended,
            col(VolunteerHour.ended_at) > started,
        )
        .limit(1)
    )
    if overlap.first() is not None:
        raise Unprocessable("overlapping_entry", "与您已登记的其他服务时间重叠")
    entry = VolunteerHour(
        user_id=caller.id,
        org_id=data.org_id,
        activity=activity,
        started_at=started,
        ended_at=ended,
        minutes=minutes,
        source=HourSource.manual,
        status=HourStatus.pending,
    )
    session.add(entry)
    await session.flush()
    assert entry.id is not None
    await attach_photos(session, media=media, record_type=RECORD_TYPE, record_id=entry.id)
    return entry


# --- reviews and revocations, on the one lifecycle ------------------------------------

# How long after its approval an entry may be revoked: a month's figures and ledgers
# (volunteer hours, points) are read by the office in the weeks after it, and an entry
# taken back later would change what they already reported. 30 days from the approval
# covers the month after any entry; older mistakes are corrected by hand-logged
# entries. The guard is in the UPDATE, so the clock is read once, in SQL's terms.
REVOKE_WINDOW = timedelta(days=30)

_ALREADY_REVIEWED = ("entry_already_reviewed", "该记录已审核过")

LIFECYCLE = Lifecycle(
    name="volunteer_hour",
    model=VolunteerHour,
    history=VolunteerHourEvent,
    org_key="org_id",
    code="invalid_volunteer_hour_state",
    called="该服务时长",
    names=STATUS_NAMES,
    # The only guard of a call: revoke's window (`reviewed_at`) closed in between.
    stale=("revoke_window_closed", f"审核通过已超过 {REVOKE_WINDOW.days} 天，不能再撤销"),
    transitions=(
        Transition(
            HourAction.approve,
            {HourStatus.pending},
            HourStatus.approved,
            "审核",
            refusals=dict.fromkeys((HourStatus.approved, HourStatus.rejected), _ALREADY_REVIEWED),
        ),
        Transition(
            HourAction.reject,
            {HourStatus.pending},
            HourStatus.rejected,
            "审核",
            refusals=dict.fromkeys((HourStatus.approved, HourStatus.rejected), _ALREADY_REVIEWED),
        ),
        Transition(HourAction.revoke, {HourStatus.approved}, HourStatus.rejected, "撤销"),
    ),
)


async def _require_reviewer(session: AsyncSession, caller: Caller, entry: VolunteerHour) -> None:
    """An admin over the entry's org who is not its owner. `entry` came through
    get_visible_entry: its owner, an admin over its org, or the owner's unit's party
    secretary, who sees it but reviews nothing (the place's office does)."""
    if entry.user_id == caller.id:
        raise Forbidden("cannot_review_own_entry", "不能审核自己登记的服务时长")
    org = await session.get(Org, entry.org_id)
    if org is None or not caller.reaches(org):
        raise Forbidden("forbidden", "只有该组织的管理员可以审核")


async def review_entry(
    session: AsyncSession, *, caller: Caller, entry: VolunteerHour, data: VolunteerHourReview
) -> VolunteerHour:
    """Approve or reject a pending entry, once (the lifecycle's conditional UPDATE)."""
    assert entry.id is not None
    await _require_reviewer(session, caller, entry)
    action = HourAction.approve if data.approve else HourAction.reject
    LIFECYCLE.require(entry, action)
    reason = text_or_none(data.reason)
    if not data.approve and reason is None:
        raise Unprocessable("reason_required", "驳回时请填写原因")
    now = utcnow()
    await lifecycle.move(
        session,
        LIFECYCLE,
        entry,
        caller=caller,
        action=action,
        note=reason,
        now=now,
        values={"reviewed_by_id": caller.id, "reviewed_at": now, "review_reason": reason},
        audit_detail={"approve": data.approve, "reason": reason},
    )
    if data.approve:
        await points.grant_for(
            session,
            source_kind=SourceKind.volunteer_hour,
            source_id=entry.id,
            user_id=entry.user_id,
            org_id=entry.org_id,
            minutes=entry.minutes,
            note=_hours_note(entry),
        )
    await volunteer_hours_messages.hours_reviewed(session, entry=entry)
    return entry


async def revoke_entry(
    session: AsyncSession, *, caller: Caller, entry: VolunteerHour, reason: str
) -> VolunteerHour:
    """An approved entry rejected after all (found false, a duplicate), by an admin who
    could have approved it, within REVOKE_WINDOW of its approval.

    One conditional UPDATE `approved → rejected` (also `reviewed_at` still in the
    window): of two revocations, or a revocation racing anything else, one moves it
    and the rest hear 409. In the same transaction its minutes leave the kept sums
    (the fact_counts trigger on status) and its points are reversed, once."""
    assert entry.id is not None
    await _require_reviewer(session, caller, entry)
    LIFECYCLE.require(entry, HourAction.revoke)
    reason = reason.strip()
    if not reason:
        raise Unprocessable("reason_required", "撤销时请填写原因")
    now = utcnow()
    since = now - REVOKE_WINDOW
    approved_at = entry.reviewed_at or entry.created_at
    if approved_at < since:
        assert LIFECYCLE.stale is not None
        raise Conflict(*LIFECYCLE.stale)
    await lifecycle.move(
        session,
        LIFECYCLE,
        entry,
        caller=caller,
        action=HourAction.revoke,
        note=reason,
        now=now,
        # Rows credited before reviewed_at was kept count from their creation.
        guard=[
            func.coalesce(col(VolunteerHour.reviewed_at), col(VolunteerHour.created_at)) >= since
        ],
        values={"reviewed_by_id": caller.id, "reviewed_at": now, "review_reason": reason},
        notify=lambda: volunteer_hours_messages.hours_revoked(session, entry=entry),
    )
    await points.reverse_for(
        session,
        source_kind=SourceKind.volunteer_hour,
        source_id=entry.id,
        reason=reason,
        by_id=caller.id,
    )
    return entry


async def history(session: AsyncSession, entry: VolunteerHour) -> list[VolunteerHourEventPublic]:
    rows = (
        (
            await session.execute(
                select(VolunteerHourEvent)
                .where(VolunteerHourEvent.volunteer_hour_id == entry.id)
                .order_by(col(VolunteerHourEvent.id))
            )
        )
        .scalars()
        .all()
    )
    names = await user_names(session, (r.actor_id for r in rows))
    return [
        VolunteerHourEventPublic(
            id=r.id or 0,
            action=r.action,
            from_status=r.from_status,
            to_status=r.to_status,
            actor_id=r.actor_id,
            actor_name=names.get(r.actor_id, ""),
            note=r.note,
            at=r.at,
        )
        for r in rows
    ]


def _hours_note(entry: VolunteerHour) -> str:
    hours = f"{entry.minutes / 60:.1f}".removesuffix(".0")
    return f"志愿服务 {hours} 小时（{entry.activity}）"


_HOURS = table_of(VolunteerHour)
_USERS = table_of(User)


@lru_cache(maxsize=256)
def _list_statements(
    reach: _Reach, by_user: bool, by_status: bool, by_year: bool, dialect: str
) -> PhotoPage:
    """GET /volunteer-hours' statements for callers of one reach asking one set of
    filters, built and compiled once per database (members share the empty reach; an
    admin's is their subtrees): the caller, the filters' values and the page are
    parameters. Bounded: a reach not listed lately is built again when it comes back."""
    me = bindparam("me", type_=Integer)
    conditions = [_visible_to(reach, me, as_array=dialect == "postgresql")]
    if by_user:
        conditions.append(_HOURS.c.user_id == bindparam("user_id", type_=Integer))
    if by_status:
        conditions.append(_HOURS.c.status == bindparam("status", type_=String))
    if by_year:
        conditions.append(_HOURS.c.started_at >= bindparam("year_start"))
        conditions.append(_HOURS.c.started_at < bindparam("year_end"))
    # The person's name as a subquery, not a join: PostgreSQL then reads it for the
    # page's rows alone, after counting the list (`count(*) OVER ()`), not for them all.
    user_name = sa_select(_USERS.c.name).where(_USERS.c.id == _HOURS.c.user_id).scalar_subquery()
    records = sa_select(_HOURS, user_name.label("user_name")).where(*conditions)
    return PhotoPage.of(records, record_type=RECORD_TYPE, viewer=me, order=_latest_start_first)


def _latest_start_first(columns: Any) -> list[ColumnElement[Any]]:
    """The list's order (PhotoPage's `order`): the latest start first, ties by id."""
    return [columns.started_at.desc(), columns.id.desc()]


async def list_entries(
    session: AsyncSession,
    *,
    caller: Caller,
    user_id: int | None,
    status: HourStatus | None,
    year: int | None,
    offset: int,
    limit: int,
) -> tuple[list[VolunteerHourPublic], int]:
    """A page of the entries the caller sees, latest start first (then newest), and how
    many there are: one statement (two for a page past the end), rows rather than
    VolunteerHour objects, each shown as `to_public` shows it."""
    listing = _list_statements(
        _Reach.of(caller),
        user_id is not None,
        status is not None,
        year is not None,
        dialect_of(session).name,
    )
    params: dict[str, Any] = {"me": caller.id, "offset": offset, "limit": limit}
    if user_id is not None:
        params["user_id"] = user_id
    if status is not None:
        params["status"] = status.value
    if year is not None:
        params["year_start"], params["year_end"] = year_bounds(year)
    listed, total = await listing.read(session, params)
    return [_public(e, user_name=e.user_name or "", photo_ids=ids) for e, ids in listed], total


async def summary(session: AsyncSession, *, caller: Caller, year: int) -> HoursSummary:
    start, end = year_bounds(year)
    rows = await session.execute(
        select(VolunteerHour.status, func.coalesce(func.sum(VolunteerHour.minutes), 0))
        .where(
            VolunteerHour.user_id == caller.id,
            col(VolunteerHour.started_at) >= start,
            col(VolunteerHour.started_at) < end,
        )
        .group_by(col(VolunteerHour.status))
    )
    by_status = {HourStatus(s): int(m) for s, m in rows.all()}
    return HoursSummary(
        year=year,
        approved_minutes=by_status.get(HourStatus.approved, 0),
        pending_minutes=by_status.get(HourStatus.pending, 0),
    )


async def totals(
    session: AsyncSession, *, org: Org, year: int, group_by: HoursGroupBy
) -> HoursTotals:
    """Approved minutes of entries whose org lies in `org`'s subtree, per person or
    per the entry's own org."""
    start, end = year_bounds(year)
    # An alias, so the subtree filter's own query on orgs is not correlated with it.
    entry_org = aliased(Org)
    key: SQLColumnExpression[Any]
    name: SQLColumnExpression[Any]
    if group_by == HoursGroupBy.user:
        key, name = col(User.id), col(User.name)
        joined = col(User.id) == col(VolunteerHour.user_id)
    else:
        key, name = col(entry_org.id), col(entry_org.name)
        joined = col(entry_org.id) == col(VolunteerHour.org_id)
    minutes = func.sum(VolunteerHour.minutes)
    rows = await session.execute(
        select(key, name, minutes, func.count())
        .select_from(VolunteerHour)
        .join(User if group_by == HoursGroupBy.user else entry_org, joined)
        .where(
            col(VolunteerHour.status) == HourStatus.approved,
            in_reach(col(VolunteerHour.org_id), [org.path]),
            col(VolunteerHour.started_at) >= start,
            col(VolunteerHour.started_at) < end,
        )
        .group_by(key, name)
        .order_by(minutes.desc(), key)
    )
    items = [HoursTotal(id=i, name=n, minutes=int(m), entries=int(c)) for i, n, m, c in rows.all()]
    assert org.id is not None
    return HoursTotals(
        year=year,
        org_id=org.id,
        group_by=group_by,
        total_minutes=sum(i.minutes for i in items),
        items=items,
    )


# --- automatic credits (task check-out, confirmed wishes) ----------------------------


async def credit(
    session: AsyncSession,
    *,
    user_id: int,
    org_id: int,
    activity: str,
    started_at: datetime,
    ended_at: datetime,
    minutes: int,
    source: HourSource,
    source_id: int,
) -> VolunteerHour | None:
    """An approved entry for `source`/`source_id`, written at most once.

    Returns None (and writes nothing) for zero minutes. A second call for the same
    source record returns the entry the first one wrote.
    """
    if minutes <= 0 or ended_at <= started_at:
        return None
    entry = VolunteerHour(
        user_id=user_id,
        org_id=org_id,
        activity=activity[:200],
        started_at=started_at,
        ended_at=ended_at,
        minutes=minutes,
        source=source,
        source_id=source_id,
        status=HourStatus.approved,
        reviewed_at=utcnow(),
    )
    try:
        async with session.begin_nested():
            session.add(entry)
            await session.flush()
    except IntegrityError:
        existing = await session.execute(
            select(VolunteerHour).where(
                VolunteerHour.source == source, VolunteerHour.source_id == source_id
            )
        )
        return existing.scalar_one()
    assert entry.id is not None
    # Approved at once: the hours' points are earned with them.
    await points.grant_for(
        session,
        source_kind=SourceKind.volunteer_hour,
        source_id=entry.id,
        user_id=user_id,
        org_id=org_id,
        minutes=minutes,
        note=_hours_note(entry),
    )
    return entry
