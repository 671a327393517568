"""Monthly report-ins (到社区报到): each member once per Shanghai calendar month."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, or_
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.core.config import Settings
from app.core.db import paged_scalars, utcnow
from app.core.errors import Conflict
from app.core.scope import Caller, by_members, in_reach, org_ids_within
from app.core.timeutil import local, month_key
from app.models.fact_counts import FactCount
from app.models.org import Org, OrgLevel
from app.models.points import SourceKind
from app.models.report_in import (
    NotReported,
    ReportIn,
    ReportInCreate,
    ReportInFigures,
    ReportInMonth,
    ReportInPublic,
    ReportInYearFigures,
    YearNotReported,
)
from app.models.user import ADMIN_ROLES, User
from app.services import points, report_ins_messages
from app.services.notifications import scans
from app.services.people_counts import lock_roster_shared
from app.services.photos import (
    attach_photos,
    photo_ids_by_record,
    register_record_type,
    require_own_photos,
)
from app.services.users import homes_in, people_in, user_names

REPORT_IN_RECORD = "report_in"


def visible_report_ins(caller: Caller) -> ColumnElement[bool]:
    """Report-ins an admin sees: those made to a community in their reach, and those
    of their unit's members wherever they reported (reach by membership)."""
    return or_(
        in_reach(col(ReportIn.community_id), caller.paths(ADMIN_ROLES)),
        by_members(col(ReportIn.user_id), caller.member_paths()),
    )


def report_ins_of(org: Org) -> ColumnElement[bool]:
    """The report-ins an org's figures cover: a unit's are its members', wherever they
    reported; a place's are those made to its communities."""
    if org.level == OrgLevel.unit:
        return by_members(col(ReportIn.user_id), [org.path])
    return in_reach(col(ReportIn.community_id), [org.path])


async def _can_see_report_in(session: AsyncSession, caller: Caller, record_id: int) -> bool:
    found = await session.execute(
        select(ReportIn.id).where(
            ReportIn.id == record_id,
            or_(col(ReportIn.user_id) == caller.id, visible_report_ins(caller)),
        )
    )
    return found.first() is not None


register_record_type(REPORT_IN_RECORD, _can_see_report_in)


async def report_in(
    session: AsyncSession, *, caller: Caller, data: ReportInCreate, now: datetime | None = None
) -> tuple[ReportIn, bool]:
    """This month's report-in and whether this call created it.

    The first report of the month stands as made: a later call (a retry, a second
    tap, a twin sent at the same moment) answers that record unchanged.
    """
    community_id = caller.user.community_id
    if community_id is None:
        raise Conflict("no_home_community", "你还没有所属社区，请联系社区工作人员登记后再报到")
    photos = await require_own_photos(session, caller=caller, photo_ids=data.photo_ids)
    now = now or utcnow()
    record = ReportIn(
        user_id=caller.id,
        community_id=community_id,
        month=month_key(now),
        reported_at=now,
        lat=data.lat,
        lng=data.lng,
        note=data.note,
    )
    # Before the triggers lock the person's row and move the sums.
    await lock_roster_shared(session)
    try:
        async with session.begin_nested():
            session.add(record)
            await session.flush()
    except IntegrityError:
        # The unique (user_id, month) decided: someone (maybe a twin of this very
        # request) reported first; on PostgreSQL our insert waited for it to commit.
        existing = (
            await session.execute(
                select(ReportIn).where(
                    ReportIn.user_id == caller.id, ReportIn.month == month_key(now)
                )
            )
        ).scalar_one()
        return existing, False
    assert record.id is not None
    await attach_photos(session, media=photos, record_type=REPORT_IN_RECORD, record_id=record.id)
    await points.grant_for(
        session,
        source_kind=SourceKind.report_in,
        source_id=record.id,
        user_id=caller.id,
        org_id=community_id,
    )
    return record, True


async def reports_public(
    session: AsyncSession, records: Sequence[ReportIn], *, viewer_id: int | None
) -> list[ReportInPublic]:
    photos = await photo_ids_by_record(
        session, REPORT_IN_RECORD, (r.id for r in records), viewer_id=viewer_id
    )
    names = await user_names(session, (r.user_id for r in records))
    out = []
    for r in records:
        assert r.id is not None
        out.append(
            ReportInPublic(
                id=r.id,
                user_id=r.user_id,
                user_name=names.get(r.user_id, ""),
                community_id=r.community_id,
                month=r.month,
                reported_at=r.reported_at,
                note=r.note,
                has_location=r.lat is not None,
                photo_ids=photos.get(r.id, []),
            )
        )
    return out


async def list_report_ins(
    session: AsyncSession,
    *,
    caller: Caller,
    month: str | None,
    org: Org | None,
    offset: int,
    limit: int,
) -> tuple[list[ReportIn], int]:
    conditions = [col(ReportIn.month) == (month or month_key(utcnow())), visible_report_ins(caller)]
    if org is not None:
        # Within what the caller sees: a street admin filtering by a unit gets its
        # members' report-ins to the street's communities, not those elsewhere.
        conditions.append(report_ins_of(org))
    return await paged_scalars(
        session,
        select(ReportIn).where(*conditions).order_by(col(ReportIn.reported_at), col(ReportIn.id)),
        offset=offset,
        limit=limit,
    )


NOT_REPORTED_SHOWN = 500


async def report_in_figures(
    session: AsyncSession, *, caller: Caller, org: Org, month: str | None
) -> ReportInFigures:
    """The month's report-in rate of an org's party members: a unit's are its members
    wherever they live, a place's those on its roster (the dashboard's rule,
    app/services/dashboard.py); reported means to any community. The list of those
    not yet reported is for people (admins or the unit's secretary), not API keys."""
    month = month or month_key(utcnow())
    org_ids = await org_ids_within(session, [org.path])
    total, by_month = await _kept_figures(session, org_ids, [month])
    done = by_month.get(month, 0)
    missing = None
    if caller.sees_personal_data:
        # The first of those not reported, by id: the members as `people_in` reads
        # them (from the home indexes alone; a unit's subtree holds no community, so
        # its part by community is empty and the other is its members), sorted and
        # fenced (OFFSET 0), then each asked of the (user_id, month) index in turn
        # until the list is full. Before, the city's report-ins of the month (15,000
        # at scale 1) were read and hashed, twice with the count; unfenced, PostgreSQL
        # merged the members with that index read from their first id to their last,
        # most of it for a street (2,300 buffers).
        party = people_in(org_ids, col(User.is_party_member).is_(True))
        by_id = party.selected_columns.id
        members = party.order_by(by_id).offset(0).subquery()
        reported = (
            select(col(ReportIn.id))
            .where(col(ReportIn.user_id) == members.c.id, col(ReportIn.month) == month)
            .exists()
        )
        first = (
            select(members.c.id).where(~reported).order_by(members.c.id).limit(NOT_REPORTED_SHOWN)
        )
        rows = await session.execute(
            select(User).where(col(User.id).in_(first)).order_by(col(User.id))
        )
        missing = [
            NotReported(
                user_id=u.id or 0,
                name=u.name,
                phone_masked=u.phone_masked,
                community_id=u.community_id,
            )
            for u in rows.scalars()
        ]
    assert org.id is not None
    return ReportInFigures(
        org_id=org.id,
        org_name=org.name,
        month=month,
        members=total,
        reported=done,
        rate=round(done / total, 4) if total else None,
        not_reported=missing,
    )


def months_of(year: int, now: datetime) -> list[str]:
    """The months of `year` counted so far: all twelve of a past year, this year's up
    to this month (Shanghai), none of a year to come."""
    this = local(now)
    last = 12 if year < this.year else (this.month if year == this.year else 0)
    return [f"{year}-{m:02d}" for m in range(1, last + 1)]


async def report_in_year_figures(
    session: AsyncSession,
    *,
    caller: Caller,
    org: Org,
    year: int,
    now: datetime | None = None,
) -> ReportInYearFigures:
    """The year's report-ins of an org's party members, month by month (the rule of
    `report_in_figures`, over today's roster: who is a member now, not who was then),
    the year's rate, and the members who missed a month with the months missed."""
    months = months_of(year, now or utcnow())
    org_ids = await org_ids_within(session, [org.path])
    total, by_month = await _kept_figures(session, org_ids, months)
    slots = total * len(months)
    missing = None
    if caller.sees_personal_data and months:
        missing = await _year_not_reported(session, org_ids, months)
    assert org.id is not None
    return ReportInYearFigures(
        org_id=org.id,
        org_name=org.name,
        year=year,
        members=total,
        months=[
            ReportInMonth(
                month=m,
                reported=by_month.get(m, 0),
                rate=round(by_month.get(m, 0) / total, 4) if total else None,
            )
            for m in months
        ],
        rate=round(sum(by_month.values()) / slots, 4) if slots else None,
        not_reported=missing,
    )


async def _kept_figures(
    session: AsyncSession, org_ids: Sequence[int], months: Sequence[str]
) -> tuple[int, dict[str, int]]:
    """The party members of `org_ids`' homes and, by month of `months`, those of them
    who reported, as the database keeps them (fact_counts' party_members and
    party_members_reported, summed over the subtree: each person once, at their
    current home; app/models/fact_counts.py states the rules), in one statement. The
    same numbers as counting the roster person by person (2,700 party members and a
    probe each for a district at scale 1; a year of them, 19,000 report-ins)."""
    kept = and_(col(FactCount.period) == "", col(FactCount.fact) == "party_members")
    if months:
        kept = or_(
            kept,
            and_(
                col(FactCount.period).in_(months),
                col(FactCount.fact) == "party_members_reported",
            ),
        )
    rows = await session.execute(
        select(col(FactCount.period), col(FactCount.fact), func.sum(col(FactCount.n)))
        .where(col(FactCount.org_id).in_(org_ids), kept)
        .group_by(col(FactCount.period), col(FactCount.fact))
    )
    total, by_month = 0, {}
    for period, fact, n in rows.all():
        if fact == "party_members":
            total = int(n or 0)
        elif n:
            by_month[period] = int(n)
    return total, by_month


async def _year_not_reported(
    session: AsyncSession, org_ids: Sequence[int], months: Sequence[str]
) -> list[YearNotReported]:
    """The first NOT_REPORTED_SHOWN party members of `org_ids`' roster who missed a
    month of `months`, most months missed first, then by id, with the months they
    missed, as rows, in one statement. Every member's months are counted (the order
    needs them all): the members read from the home indexes and the table (their
    names with them), each asked of the (user_id, month) index, counted and their
    months listed in the same pass, then sorted and cut to the list in the database.
    Before, the same reads went to Python (19,000 rows for a district at scale 1 in
    December), the members were read twice more, and every member who missed a month
    was loaded as a User (2,700) to sort them in Python and keep 500."""
    in_months = col(ReportIn.month).in_(months)
    # The month column alone (count and list): the (user_id, month) index answers
    # without the table.
    seen = func.count(col(ReportIn.month))
    rows = await session.execute(
        # Five columns: past sqlmodel's typed overloads of select.
        sa_select(
            col(User.id),
            col(User.name),
            col(User.phone_masked),
            col(User.community_id),
            func.aggregate_strings(col(ReportIn.month), ",").label("reported"),
        )
        .outerjoin(ReportIn, and_(col(ReportIn.user_id) == col(User.id), in_months))
        .where(col(User.is_party_member).is_(True), homes_in(org_ids))
        # By the primary key: the other columns of the person follow from it.
        .group_by(col(User.id))
        .having(seen < len(months))
        .order_by(seen, col(User.id))
        .limit(NOT_REPORTED_SHOWN)
    )
    out = []
    for user_id, name, phone, community_id, reported in rows.all():
        done = set(reported.split(",")) if reported else set()
        out.append(
            YearNotReported(
                user_id=user_id or 0,
                name=name,
                phone_masked=phone,
                community_id=community_id,
                months_reported=len(done),
                months_missed=[m for m in months if m not in done],
            )
        )
    return out


# --- the monthly reminder (app/services/notifications/scans.py) ---------------------------


def _reminder_due(now: datetime, settings: Settings) -> bool:
    return local(now).day >= settings.report_in_reminder_day


async def _remind(session: AsyncSession, settings: Settings, now: datetime) -> int:
    return await report_ins_messages.report_in_reminder(session, now=now)


# From REPORT_IN_REMINDER_DAY on, once a month (report_ins_messages says to whom).
SCANS = (
    scans.Scan(
        job="report_in_reminders",
        period=lambda now, settings: month_key(now),
        due=_reminder_due,
        work=_remind,
    ),
)
