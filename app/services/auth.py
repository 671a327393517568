"""WeChat login and binding a WeChat account to its roster entry."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Column,
    PrimaryKeyConstraint,
    Table,
    UniqueConstraint,
    delete,
    exists,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.core.db import metadata, updated_one
from app.core.errors import Conflict, NotFound
from app.core.scope import end_tokens
from app.core.security import PiiCipher, normalize_phone
from app.core.wechat import WeChatGateway
from app.models.org import Org
from app.models.user import RoleGrant, RosterChoice, User
from app.services.people_counts import lock_roster_shared
from app.services.users import entries_with_phone

NEW_ACCOUNT_NAME = "微信用户"


async def wechat_login(session: AsyncSession, *, gateway: WeChatGateway, code: str) -> User:
    wx = await gateway.code_to_session(code)
    user = await _by_openid(session, wx.openid)
    if user is not None:
        return user
    user = User(name=NEW_ACCOUNT_NAME, openid=wx.openid)
    try:
        async with session.begin_nested():
            session.add(user)
            await session.flush()
    except IntegrityError:
        # The same person's second tap arrived first; use the account it made.
        existing = await _by_openid(session, wx.openid)
        if existing is None:
            raise
        return existing
    return user


async def _by_openid(session: AsyncSession, openid: str) -> User | None:
    result = await session.execute(select(User).where(User.openid == openid))
    return result.scalar_one_or_none()


class PhoneOnSeveralRosters(Conflict):
    """The phone stands on several rosters and nobody has bound it yet: its owner
    says which entry is theirs (`user_id` in the next bind)."""

    def __init__(self, choices: list[RosterChoice]):
        super().__init__(
            "phone_on_several_rosters",
            "该手机号登记在多个花名册中，请选择您本人所在的社区后重新绑定",
            title="请选择所在社区",
        )
        self.choices = choices

    def extra(self) -> dict[str, Any]:
        return {"choices": [c.model_dump() for c in self.choices]}


async def _choices(session: AsyncSession, entries: list[User]) -> list[RosterChoice]:
    homes = {e.community_id or e.unit_id for e in entries}
    rows = await session.execute(select(Org.id, Org.name).where(col(Org.id).in_(homes)))
    names: dict[int | None, str] = {org_id: name for org_id, name in rows.all()}
    return [
        RosterChoice(user_id=e.id or 0, community_name=names.get(e.community_id or e.unit_id, ""))
        for e in entries
    ]


async def bind_phone(
    session: AsyncSession,
    *,
    gateway: WeChatGateway,
    cipher: PiiCipher,
    account: User,
    code: str,
    user_id: int | None,
) -> User:
    """Make the logged-in WeChat account *be* the roster entry with its phone.

    The account made at first login becomes a tombstone of the entry: it keeps its
    id (never given to anyone else), its tokens act as the entry (app.core.scope.
    acts_as) and its openid moves to the entry. Whatever it made moves too, in this
    transaction (`_move_references`). The entry's own earlier tokens (those of a
    binding its phone change ended) stay ended.
    """
    phone = normalize_phone(await gateway.phone_number(code))
    entries = await entries_with_phone(session, cipher, phone)
    if any(e.id == account.id for e in entries):
        return account
    if any(e.openid is not None for e in entries):
        raise Conflict("phone_already_bound", "该手机号已绑定其他微信账号")
    if user_id is not None:
        entries = [e for e in entries if e.id == user_id]
    if not entries:
        raise NotFound("花名册中没有这个手机号，请联系社区登记", code="not_on_roster")
    if len(entries) > 1:
        raise PhoneOnSeveralRosters(await _choices(session, entries))
    (roster,) = entries
    assert roster.id is not None and account.id is not None
    # Only an account that is no roster entry merges: no phone, no home.
    on_roster = account.community_id is not None or account.unit_id is not None
    if account.phone_hash is not None or on_roster or account.openid is None:
        raise Conflict("account_already_bound", "当前微信账号已绑定其他手机号")
    has_roles = (
        await session.execute(select(RoleGrant.id).where(RoleGrant.user_id == account.id).limit(1))
    ).first()
    if has_roles:
        raise Conflict("account_already_bound", "当前微信账号已有角色，不能再绑定花名册")

    openid = account.openid
    # Moving claims and reports moves the people counts: the roster lock, shared,
    # comes before any users row is locked (app/services/people_counts.py).
    await lock_roster_shared(session)
    # Tokens of the entry's earlier bindings end (and stay ended); the account's,
    # merged next, are not touched.
    await end_tokens(session, roster.id)
    # The account is claimed conditionally before anything moves: of two binds from
    # one account at once, the second waits here for the first and finds it merged.
    if not await updated_one(
        session,
        update(User)
        .where(
            col(User.id) == account.id,
            col(User.openid) == openid,
            col(User.merged_into_id).is_(None),
        )
        .values(openid=None, merged_into_id=roster.id),
    ):
        raise Conflict("account_already_bound", "当前微信账号已绑定其他手机号")
    await _move_references(session, from_id=account.id, to_id=roster.id)
    try:
        async with session.begin_nested():
            # Conditional, so two accounts binding the same entry at once cannot both
            # win; the unique index on bound phones stops two entries of one phone.
            bound = await updated_one(
                session,
                update(User)
                .where(col(User.id) == roster.id, col(User.openid).is_(None))
                .values(openid=openid),
            )
    except IntegrityError:
        bound = False
    if not bound:
        raise Conflict("phone_already_bound", "该手机号已绑定其他微信账号")
    await session.refresh(roster)
    return roster


def _references_to_people() -> list[tuple[Table, Column[Any]]]:
    """Every column that names a person, read from the metadata, so a table added
    later moves with the account without anyone remembering to add it here."""
    return [
        (table, fk.parent)
        for table in metadata.sorted_tables
        for fk in table.foreign_keys
        if fk.column.table.name == User.__tablename__ and fk.column.name == "id"
    ]


def _unique_sets(table: Table, column: Column[Any]) -> list[list[Column[Any]]]:
    """The other columns of each unique key of `table` that includes `column`."""
    keys = [
        list(c.columns)
        for c in table.constraints
        if isinstance(c, UniqueConstraint | PrimaryKeyConstraint)
    ]
    keys += [list(i.columns) for i in table.indexes if i.unique]
    return [[c for c in key if c is not column] for key in keys if column in key]


async def _move_references(session: AsyncSession, *, from_id: int, to_id: int) -> None:
    """Hand everything that names the account to the roster entry.

    Where the entry already holds a row the account's would duplicate under a
    unique key (a subscribe grant for the same template, a claim in the same
    year), the entry's row is kept and the account's dropped.
    """
    for table, column in _references_to_people():
        for others in _unique_sets(table, column):
            twin = table.alias("twin")
            await session.execute(
                delete(table).where(
                    column == from_id,
                    exists().where(
                        twin.c[column.name] == to_id, *(twin.c[o.name] == o for o in others)
                    ),
                )
            )
        await session.execute(update(table).where(column == from_id).values({column.name: to_id}))
