"""Points (积分): the double-entry ledger, the districts' earning rules, manual awards.

The shape is TimeOverflow's (accounts, transfers, movements), settled in SQL:
`transfer` writes one entry and moves both kept balances in the same transaction; the
spending side is a conditional UPDATE (`balance >= amount`), so no concurrency can take
a person or a shop below zero (the CHECK on points_accounts backs it). The two balance
updates run in account-id order, so two transfers between the same accounts never
lock them in opposite orders (PostgreSQL deadlocks).

Grants come from the sources (`grant_for`): an approved hour entry, a confirmed wish,
a rated service order, a report-in; each is granted at most once (the unique index on
source among grants decides, whatever retries or races happen). `reverse_for` undoes a
source's grant with a reversing entry (an hour entry revoked, a wish confirmation
withdrawn); it takes back at most what the balance still holds (points already spent
stay spent; a balance never goes below zero). `regrant_for` gives back what was taken
when the source is done again (a wish confirmed again), by reversing the reversal.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import ColumnElement, and_, case, false, func, or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.core.db import dialect_insert, paged_scalars, table_of, updated_one, utcnow
from app.core.errors import AppError, Conflict, Forbidden, NotFound, Unprocessable
from app.core.scope import Caller, in_reach, path_ids
from app.core.timeutil import month_key
from app.models.org import Org, OrgLevel
from app.models.points import (
    AccountKind,
    AccountPublic,
    AwardCreate,
    EntryKind,
    EntryPublic,
    MyPoints,
    PointsAccount,
    PointsEntry,
    PointsRules,
    RulesPublic,
    RulesPut,
    SourceKind,
)
from app.models.user import MEMBER_ROLES, Role, User
from app.services import audit
from app.services.users import user_names

MY_ENTRIES = 100


# --- accounts and transfers ---------------------------------------------------------------


async def account_id(
    session: AsyncSession,
    kind: AccountKind,
    *,
    user_id: int | None = None,
    org_id: int | None = None,
) -> int:
    """The account's id, opened on first use (a twin opening it at the same moment
    conflicts on the unique index and reads the winner's)."""
    owner = (
        col(PointsAccount.user_id) == user_id
        if kind == AccountKind.person
        else and_(col(PointsAccount.kind) == kind, col(PointsAccount.org_id) == org_id)
    )
    found = (await session.execute(select(PointsAccount.id).where(owner))).scalar_one_or_none()
    if found is not None:
        return found
    await session.execute(
        dialect_insert(session, table_of(PointsAccount))
        .values(kind=kind, user_id=user_id, org_id=org_id, balance=0, created_at=utcnow())
        .on_conflict_do_nothing()
    )
    return (await session.execute(select(PointsAccount.id).where(owner))).scalar_one()


async def _move(
    session: AsyncSession, *, from_id: int, to_id: int, amount: int, refusal: AppError
) -> None:
    """Both kept balances, in account-id order; the debit only if it leaves no
    non-issuing account below zero, else `refusal` (the request rolls back)."""
    debit = (
        update(PointsAccount)
        .where(
            col(PointsAccount.id) == from_id,
            or_(
                col(PointsAccount.kind) == AccountKind.issuing, col(PointsAccount.balance) >= amount
            ),
        )
        .values(balance=col(PointsAccount.balance) - amount)
    )
    credit = (
        update(PointsAccount)
        .where(col(PointsAccount.id) == to_id)
        .values(balance=col(PointsAccount.balance) + amount)
    )
    if from_id < to_id:
        if not await updated_one(session, debit):
            raise refusal
        await updated_one(session, credit)
    else:
        await updated_one(session, credit)
        if not await updated_one(session, debit):
            raise refusal


async def lock_accounts(
    session: AsyncSession, ids: Iterable[int]
) -> dict[int, tuple[AccountKind, int]]:
    """Lock accounts in id order, the one order every transfer takes them in (on
    PostgreSQL; SQLite's writers take turns anyway): their kind and balance."""
    locked = await session.execute(
        select(PointsAccount.id, PointsAccount.kind, PointsAccount.balance)
        .where(col(PointsAccount.id).in_(sorted(set(ids))))
        .order_by(col(PointsAccount.id))
        .with_for_update(key_share=True)
    )
    return {i: (AccountKind(k), b) for i, k, b in locked.all()}


INSUFFICIENT = Conflict("insufficient_points", "积分不足")


async def transfer(
    session: AsyncSession,
    *,
    from_id: int,
    to_id: int,
    amount: int,
    kind: EntryKind,
    user_id: int,
    org_id: int,
    note: str,
    source_kind: str | None = None,
    source_id: int | None = None,
    reverses_id: int | None = None,
    created_by_id: int | None = None,
    refusal: AppError = INSUFFICIENT,
) -> PointsEntry:
    """One entry and both balances moved, or `refusal` raised and nothing written."""
    await _move(session, from_id=from_id, to_id=to_id, amount=amount, refusal=refusal)
    entry = PointsEntry(
        from_account_id=from_id,
        to_account_id=to_id,
        amount=amount,
        kind=kind,
        source_kind=source_kind,
        source_id=source_id,
        reverses_id=reverses_id,
        user_id=user_id,
        org_id=org_id,
        note=note,
        created_by_id=created_by_id,
    )
    session.add(entry)
    await session.flush()
    return entry


async def reverse(
    session: AsyncSession, entry: PointsEntry, *, note: str, by_id: int | None = None
) -> PointsEntry | None:
    """A reversing entry for `entry`, once. What comes back from a person is at most
    what their balance still holds (None when nothing is left, or already reversed)."""
    assert entry.id is not None
    amount = entry.amount
    # Both accounts locked in id order, as `_move` takes them: the balance read here
    # is the one the reversal moves, and no transfer waits on us the other way round.
    locked = await lock_accounts(session, [entry.from_account_id, entry.to_account_id])
    kind, balance = locked[entry.to_account_id]
    if kind == AccountKind.person:
        amount = min(amount, balance)
    if amount <= 0:
        return None
    try:
        async with session.begin_nested():
            return await transfer(
                session,
                from_id=entry.to_account_id,
                to_id=entry.from_account_id,
                amount=amount,
                kind=EntryKind.reversal,
                user_id=entry.user_id,
                org_id=entry.org_id,
                note=note,
                source_kind=entry.source_kind,
                source_id=entry.source_id,
                reverses_id=entry.id,
                created_by_id=by_id,
            )
    except IntegrityError:
        return None  # reversed already (unique reverses_id)


# --- earning rules and grants -------------------------------------------------------------

RULE_OF = {
    SourceKind.volunteer_hour: "per_volunteer_hour",
    SourceKind.wish: "per_confirmed_wish",
    SourceKind.service_order: "per_completed_order",
    SourceKind.report_in: "per_report_in",
}


def _district_id(org: Org) -> int:
    return path_ids(org.path)[0]


async def rules_of(session: AsyncSession, district_id: int) -> PointsRules | None:
    return await session.get(PointsRules, district_id)


async def put_rules(session: AsyncSession, *, caller: Caller, data: RulesPut) -> PointsRules:
    districts = caller.paths([Role.district_admin])
    if not districts:
        raise Forbidden("forbidden", "只有区管理员可以设置积分规则")
    district_id = path_ids(districts[0])[0]
    values = data.model_dump()
    await session.execute(
        dialect_insert(session, table_of(PointsRules))
        .values(district_id=district_id, updated_by_id=caller.id, updated_at=utcnow(), **values)
        .on_conflict_do_update(
            index_elements=["district_id"],
            set_={**values, "updated_by_id": caller.id, "updated_at": utcnow()},
        )
    )
    await audit.record(
        session,
        caller=caller,
        action="points.rules",
        target_type="org",
        target_id=district_id,
        org_id=district_id,
        **values,
    )
    rules = await session.get(PointsRules, district_id, populate_existing=True)
    assert rules is not None
    return rules


def rules_public(rules: PointsRules) -> RulesPublic:
    return RulesPublic.model_validate(rules, from_attributes=True)


async def rules_for(session: AsyncSession, org: Org) -> RulesPublic:
    """The rules of the district `org` lies in; all zero (no points) until set."""
    district_id = _district_id(org)
    rules = await rules_of(session, district_id)
    if rules is None:
        return RulesPublic(
            district_id=district_id,
            per_volunteer_hour=0,
            per_confirmed_wish=0,
            per_completed_order=0,
            per_report_in=0,
            updated_at=None,
        )
    return rules_public(rules)


async def grant_for(
    session: AsyncSession,
    *,
    source_kind: SourceKind,
    source_id: int,
    user_id: int,
    org_id: int,
    units: int = 1,
    minutes: int | None = None,
    note: str | None = None,
) -> PointsEntry | None:
    """Points for a source that just happened, by its district's rule, at most once.

    `org_id` is where it happened (its issuing account pays); hours count by
    `minutes` (whole points: rule × minutes / 60, rounded down), the rest by `units`.
    None when the rule gives nothing or the source was granted already.
    """
    org = await session.get(Org, org_id)
    assert org is not None
    rules = await rules_of(session, _district_id(org))
    if rules is None:
        return None
    rate: int = getattr(rules, RULE_OF[source_kind])
    amount = rate * minutes // 60 if minutes is not None else rate * units
    if amount <= 0:
        return None
    issuing = await account_id(session, AccountKind.issuing, org_id=org_id)
    person = await account_id(session, AccountKind.person, user_id=user_id)
    try:
        async with session.begin_nested():
            return await transfer(
                session,
                from_id=issuing,
                to_id=person,
                amount=amount,
                kind=EntryKind.grant,
                user_id=user_id,
                org_id=org_id,
                note=note or _default_note(source_kind, minutes),
                source_kind=source_kind,
                source_id=source_id,
            )
    except IntegrityError:
        return None  # granted already: the unique source decided


def _default_note(source_kind: SourceKind, minutes: int | None) -> str:
    if source_kind == SourceKind.volunteer_hour:
        return f"志愿服务 {_hours(minutes or 0)} 小时"
    return {
        SourceKind.wish: "完成微心愿",
        SourceKind.service_order: "完成服务订单",
        SourceKind.report_in: "到社区报到",
    }[source_kind]


def _hours(minutes: int) -> str:
    return f"{minutes / 60:.1f}".removesuffix(".0")


async def _live_of(
    session: AsyncSession, source_kind: SourceKind, source_id: int
) -> tuple[PointsEntry, PointsEntry] | None:
    """A source's grant and the entry of its chain that no other entry reverses: the
    grant itself, its reversal (the source undone), or that reversal's reversal (the
    source done again), ... None when the source was never granted."""
    grant = (
        await session.execute(
            select(PointsEntry).where(
                PointsEntry.kind == EntryKind.grant,
                PointsEntry.source_kind == source_kind,
                PointsEntry.source_id == source_id,
            )
        )
    ).scalar_one_or_none()
    if grant is None:
        return None
    # Walked link by link on the unique index of `reverses_id` (a chain is a few long).
    live = grant
    while True:
        after = (
            await session.execute(select(PointsEntry).where(PointsEntry.reverses_id == live.id))
        ).scalar_one_or_none()
        if after is None:
            break
        live = after
    return grant, live


async def reverse_for(
    session: AsyncSession,
    *,
    source_kind: SourceKind,
    source_id: int,
    reason: str,
    by_id: int | None = None,
) -> PointsEntry | None:
    """Undo the grant of a source that was undone (an approval revoked, a confirmation
    withdrawn): a reversing entry of whatever of the chain still stands to the person,
    once (the unique `reverses_id` decides between racers). None when nothing stands."""
    found = await _live_of(session, source_kind, source_id)
    if found is None:
        return None
    grant, live = found
    if live.to_account_id != grant.to_account_id:
        return None  # undone already
    return await reverse(session, live, note=f"撤销：{grant.note}（{reason}）", by_id=by_id)


async def regrant_for(
    session: AsyncSession,
    *,
    source_kind: SourceKind,
    source_id: int,
    by_id: int | None = None,
) -> PointsEntry | None:
    """A source done again after it was undone (a wish confirmed again): what its
    reversal took back, given back by reversing that reversal (the grant itself stays
    the one per source). None when nothing was taken back."""
    found = await _live_of(session, source_kind, source_id)
    if found is None:
        return None
    grant, live = found
    if live.to_account_id == grant.to_account_id:
        return None
    return await reverse(session, live, note=f"恢复：{grant.note}", by_id=by_id)


# --- manual awards -------------------------------------------------------------------------


async def award(
    session: AsyncSession, *, caller: Caller, data: AwardCreate, cap: int
) -> PointsEntry:
    """A community admin's award to a resident of their community, with a reason,
    capped at POINTS_AWARD_CAP, audited. Someone out of reach is 404."""
    person = await session.get(User, data.user_id)
    home = await session.get(Org, person.community_id) if person and person.community_id else None
    if person is None or home is None or not caller.reaches(home):
        raise NotFound()
    if not caller.reaches(home, [Role.community_admin]):
        raise Forbidden("forbidden", "只有社区管理员可以奖励积分")
    if data.points > cap:
        raise Unprocessable("award_over_cap", f"单次奖励不能超过 {cap} 积分")
    reason = data.reason.strip()
    if not reason:
        raise Unprocessable("reason_required", "请填写奖励原因")
    assert home.id is not None
    issuing = await account_id(session, AccountKind.issuing, org_id=home.id)
    mine = await account_id(session, AccountKind.person, user_id=data.user_id)
    entry = await transfer(
        session,
        from_id=issuing,
        to_id=mine,
        amount=data.points,
        kind=EntryKind.award,
        user_id=data.user_id,
        org_id=home.id,
        note=f"社区奖励：{reason}",
        created_by_id=caller.id,
    )
    await audit.record(
        session,
        caller=caller,
        action="points.award",
        target_type="user",
        target_id=data.user_id,
        org_id=home.id,
        points=data.points,
        reason=reason,
    )
    return entry


# --- reading ---------------------------------------------------------------------------------


def explain(entry: PointsEntry) -> str:
    """What an entry is, in the words the person reads: "2026-11 志愿服务 3 小时"."""
    return f"{month_key(entry.created_at)} {entry.note}"


async def my_points(session: AsyncSession, *, caller: Caller) -> MyPoints:
    account = (
        await session.execute(select(PointsAccount).where(PointsAccount.user_id == caller.id))
    ).scalar_one_or_none()
    if account is None:
        return MyPoints(balance=0, entries=[])
    rows = await session.execute(
        select(PointsEntry)
        .where(
            or_(
                col(PointsEntry.from_account_id) == account.id,
                col(PointsEntry.to_account_id) == account.id,
            )
        )
        .order_by(col(PointsEntry.id).desc())
        .limit(MY_ENTRIES)
    )
    entries = [
        EntryPublic(
            id=e.id or 0,
            points=e.amount if e.to_account_id == account.id else -e.amount,
            kind=e.kind,
            text=explain(e),
            org_id=e.org_id,
            created_at=e.created_at,
        )
        for e in rows.scalars()
    ]
    return MyPoints(balance=account.balance, entries=entries)


def people_of(caller: Caller, org: Org) -> ColumnElement[bool]:
    """The people an org's accounts list covers for this caller: residents of the
    org's communities (place admins), or members of its units (a unit's secretary)."""
    place = in_reach(col(User.community_id), [org.path]) if caller.reaches(org) else false()
    members = (
        in_reach(col(User.unit_id), [org.path])
        if org.level == OrgLevel.unit or caller.reaches(org, MEMBER_ROLES)
        else false()
    )
    return or_(place, members)


async def accounts(
    session: AsyncSession, *, caller: Caller, org: Org, offset: int, limit: int
) -> tuple[list[AccountPublic], int]:
    """The people's accounts under `org`, largest balance first, with what each earned
    and spent (reversals net out of both)."""
    person = col(PointsAccount.user_id)
    condition = and_(
        col(PointsAccount.kind) == AccountKind.person,
        person.in_(select(User.id).where(people_of(caller, org))),
    )
    rows, total = await paged_scalars(
        session,
        select(PointsAccount)
        .where(condition)
        .order_by(col(PointsAccount.balance).desc(), col(PointsAccount.id)),
        offset=offset,
        limit=limit,
    )
    flows = await _flows(session, [a.id for a in rows if a.id is not None])
    names = await user_names(session, (a.user_id for a in rows))
    out = []
    for a in rows:
        assert a.id is not None and a.user_id is not None
        earned, spent = flows.get(a.id, (0, 0))
        out.append(
            AccountPublic(
                user_id=a.user_id,
                name=names.get(a.user_id, ""),
                balance=a.balance,
                earned=earned,
                spent=spent,
            )
        )
    return out, total


async def _flows(session: AsyncSession, ids: Sequence[int]) -> dict[int, tuple[int, int]]:
    """Per person account: points earned (grants and awards less their reversals) and
    spent (redemptions less their refunds)."""
    if not ids:
        return {}
    original = PointsEntry.__table__.alias("original")  # type: ignore[attr-defined]
    base = func.coalesce(original.c.kind, PointsEntry.kind)
    signed = case(
        (col(PointsEntry.to_account_id).in_(ids), PointsEntry.amount), else_=-PointsEntry.amount
    )
    person = case(
        (col(PointsEntry.to_account_id).in_(ids), PointsEntry.to_account_id),
        else_=PointsEntry.from_account_id,
    )
    rows = await session.execute(
        select(person, base, func.sum(signed))
        .select_from(PointsEntry)
        .outerjoin(original, original.c.id == PointsEntry.reverses_id)
        .where(
            or_(col(PointsEntry.to_account_id).in_(ids), col(PointsEntry.from_account_id).in_(ids))
        )
        .group_by(person, base)
    )
    out: dict[int, tuple[int, int]] = {}
    for account, kind, total in rows.all():
        earned, spent = out.get(account, (0, 0))
        if kind == EntryKind.redeem:
            spent -= int(total)
        else:
            earned += int(total)
        out[account] = (earned, spent)
    return out


async def balance_of(session: AsyncSession, user_id: int) -> int:
    found = await session.execute(
        select(PointsAccount.balance).where(PointsAccount.user_id == user_id)
    )
    return found.scalar_one_or_none() or 0
