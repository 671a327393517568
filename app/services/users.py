"""The roster (花名册) and roles."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    CompoundSelect,
    Integer,
    Select,
    SQLColumnExpression,
    String,
    and_,
    bindparam,
    delete,
    false,
    func,
    not_,
    or_,
    union_all,
)
from sqlalchemy import select as sa_select
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar

from app.core.db import (
    PageStatements,
    Statement,
    dialect_of,
    ids_in,
    ids_value,
    table_of,
)
from app.core.errors import Conflict, Forbidden, NotFound, Unprocessable
from app.core.scope import (
    ROLE_LEVEL,
    Caller,
    end_tokens,
    in_reach,
    is_within,
    org_ids_in,
    path_between,
    path_upper_bound,
)
from app.core.security import PiiCipher, mask_phone, normalize_phone
from app.models.org import Org, OrgLevel
from app.models.user import (
    ADMIN_ROLES,
    MePublic,
    Role,
    RoleGrant,
    RoleGrantCreate,
    RolePublic,
    User,
    UserCreate,
    UserPublic,
    UserUpdate,
)
from app.services import api_keys, audit
from app.services.orgs import LEVEL_NAMES, same_district
from app.services.people_counts import lock_roster

_USERS = table_of(User)
_GRANTS = table_of(RoleGrant)
_ORGS = table_of(Org)
# What `_public` reads of a person (whether WeChat is bound, from the openid).
_PUBLIC_COLUMNS = (
    _USERS.c.id,
    _USERS.c.name,
    _USERS.c.phone_masked,
    _USERS.c.community_id,
    _USERS.c.unit_id,
    _USERS.c.is_party_member,
    _USERS.c.openid,
)
# One of the person's roles, as `roles_of` reads them.
_ROLE_COLUMNS = (
    _GRANTS.c.id.label("role_id"),
    _GRANTS.c.role,
    _GRANTS.c.org_id.label("role_org_id"),
)


def users_in_reach(caller: Caller) -> ColumnElement[bool]:
    """Roster rows an admin may see: home community or unit inside their reach.

    For rows picked by id (a primary-key probe checks the two subqueries once); a
    list names the ids of the orgs in reach instead (`_reach_ids`)."""
    paths = caller.paths(ADMIN_ROLES)
    return or_(in_reach(col(User.community_id), paths), in_reach(col(User.unit_id), paths))


def homes_in(org_ids: Sequence[int]) -> ColumnElement[bool]:
    """People whose home community or unit is one of `org_ids`, named literally, so
    PostgreSQL reads them from the two home indexes (a BitmapOr) or walks ids in
    order when most people qualify, by its estimates."""
    if not org_ids:
        return false()
    return or_(col(User.community_id).in_(org_ids), col(User.unit_id).in_(org_ids))


# Org ids, named or as a query of them.
OrgIds = Sequence[int] | Select[Any]


def people_in(org_ids: OrgIds, *where: ColumnElement[bool]) -> CompoundSelect:
    """The ids of `homes_in(org_ids)` people meeting `where`, each once: those by
    community, then those inside by their unit alone. Each part is read from its
    own home index, without the table when `where` names only the indexed columns
    (community, unit, party membership), which makes counting them cheap.

    `org_ids` may be a query of them (`subtree_ids`): PostgreSQL then reads each
    org's people from the index as it reads the org, in the same statement."""
    by_community, by_unit_alone = one_home_each(col(User.community_id), col(User.unit_id), org_ids)
    return union_all(
        select(col(User.id)).where(by_community, *where),
        select(col(User.id)).where(by_unit_alone, *where),
    )


def one_home_each(
    community: SQLColumnExpression[int | None],
    unit: SQLColumnExpression[int | None],
    org_ids: OrgIds,
) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    """The roster's rule that each person counts once, as two disjoint parts: those
    whose community is one of `org_ids`, and those inside by their unit alone."""
    return one_home_each_among(community, unit, lambda column: column.in_(org_ids))


def one_home_each_among(
    community: SQLColumnExpression[int | None],
    unit: SQLColumnExpression[int | None],
    among: Callable[[SQLColumnExpression[int | None]], ColumnElement[bool]],
) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    """`one_home_each` with the orgs as a condition on a column (`ids_in`'s, for a
    `Statement`)."""
    return among(community), and_(among(unit), or_(community.is_(None), not_(among(community))))


def subtree_ids(caller: Caller) -> Select[Any]:
    """The ids of the orgs an admin reaches, as a query (`people_in` reads it)."""
    return select(col(Org.id)).where(org_ids_in(caller.paths(ADMIN_ROLES)))


def unbound_in_reach(caller: Caller) -> SelectOfScalar[int]:
    """How many people an admin reaches are on the roster without WeChat (the
    console's to-do). Counted as `people_in` counts, each half index-only over its
    partial index of the unbound (ix_users_unbound_community, ix_users_unbound_unit):
    the same number as `users_in_reach`, which read every unbound person of the city
    (33,000 at scale 1, 1,300 buffers) whatever the admin's reach."""
    unbound = (col(User.openid).is_(None), col(User.merged_into_id).is_(None))
    return select(func.count()).select_from(people_in(subtree_ids(caller), *unbound).subquery())


def users_visible(caller: Caller) -> ColumnElement[bool]:
    """Roster rows a caller may read: those their admin roles reach, and the members
    of the units they are party secretary of (reach by membership)."""
    return or_(users_in_reach(caller), in_reach(col(User.unit_id), caller.member_paths()))


async def get_user_in_reach(session: AsyncSession, caller: Caller, user_id: int) -> User:
    user = (
        await session.execute(select(User).where(User.id == user_id, users_in_reach(caller)))
    ).scalar_one_or_none()
    if user is None:
        raise NotFound()
    return user


async def get_visible_user(session: AsyncSession, caller: Caller, user_id: int) -> User:
    user = (
        await session.execute(select(User).where(User.id == user_id, users_visible(caller)))
    ).scalar_one_or_none()
    if user is None:
        raise NotFound()
    return user


@dataclass(frozen=True)
class _RosterShape:
    """What GET /users' statement is built for, once each (`_roster_statements`): which
    reach the caller has (the ids are parameters) and which filters are given (their
    values are parameters; whether WeChat is bound, a condition of its own)."""

    admin: bool
    members: bool
    community: bool
    unit: bool
    party: bool
    name: bool
    wechat_bound: bool | None


@lru_cache(maxsize=256)
def _reach_ids(admin: tuple[str, ...], member: tuple[str, ...], within: bool) -> Statement:
    """The orgs a caller reaches, each marked as reached by their admin roles, as a
    unit's secretary, or both; `within` keeps only those inside one subtree. One
    statement for what `org_ids_within` read in two or three; the paths are
    written into it, so it is built once per reach."""
    by_admin, by_member = org_ids_in(list(admin)), org_ids_in(list(member))
    where = [or_(by_admin, by_member)]
    if within:
        where.append(path_between(_ORGS.c.path, bindparam("within"), bindparam("within_end")))
    return Statement(
        sa_select(_ORGS.c.id, by_admin.label("admin"), by_member.label("member")).where(*where)
    )


@lru_cache(maxsize=256)
def _roster_statements(shape: _RosterShape, dialect: Dialect) -> PageStatements:
    """GET /users' page for callers of one shape, built and compiled once: the page's
    people in id order, each row carrying the list's total and one of the person's
    roles (or none), in one round trip. The total is counted as `list_users` always
    did: a unit's members plainly; an admin's people from the home indexes alone
    (`people_in`), about ten times cheaper on PostgreSQL than counting the rows."""

    def in_reach(column: Any) -> ColumnElement[bool]:
        return ids_in(column, "org_ids", dialect)

    community, unit = _USERS.c.community_id, _USERS.c.unit_id
    conditions = _roster_filters(shape)
    homes: list[ColumnElement[bool]] = []
    if shape.admin:
        homes += [in_reach(community), in_reach(unit)]
    if shape.members:
        homes.append(ids_in(unit, "unit_ids", dialect))
        counted = sa_select(func.count()).select_from(_USERS).where(or_(*homes), *conditions)
    else:
        by_community, by_unit_alone = one_home_each_among(community, unit, in_reach)
        people = union_all(
            sa_select(_USERS.c.id).where(by_community, *conditions),
            sa_select(_USERS.c.id).where(by_unit_alone, *conditions),
        )
        counted = sa_select(func.count()).select_from(people.subquery())
    page = (
        sa_select(*_PUBLIC_COLUMNS, counted.scalar_subquery().label("total"))
        .where(or_(*homes), *conditions)
        .order_by(_USERS.c.id)
        .offset(bindparam("offset", type_=Integer))
        .limit(bindparam("limit", type_=Integer))
        .subquery("page")
    )
    return PageStatements(
        page=Statement(
            sa_select(page, *_ROLE_COLUMNS)
            .select_from(page.outerjoin(_GRANTS, _GRANTS.c.user_id == page.c.id))
            .order_by(page.c.id, _GRANTS.c.id)
        ),
        count=Statement(counted),
    )


def _roster_filters(shape: _RosterShape) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if shape.community:
        conditions.append(_USERS.c.community_id == bindparam("community_id", type_=Integer))
    if shape.unit:
        conditions.append(_USERS.c.unit_id == bindparam("unit_id", type_=Integer))
    if shape.party:
        conditions.append(_USERS.c.is_party_member == bindparam("party", type_=Boolean))
    if shape.name:
        # The value is escaped as `contains(autoescape=True)` escapes a literal.
        conditions.append(_USERS.c.name.contains(bindparam("name", type_=String), escape="/"))
    if shape.wechat_bound is not None:
        bound = _USERS.c.openid.is_not(None)
        conditions.append(bound if shape.wechat_bound else ~bound)
    return conditions


def _like_escaped(text: str) -> str:
    return text.replace("/", "//").replace("%", "/%").replace("_", "/_")


async def list_users(
    session: AsyncSession,
    caller: Caller,
    *,
    community_id: int | None,
    unit_id: int | None,
    is_party_member: bool | None,
    name: str | None,
    offset: int,
    limit: int,
    wechat_bound: bool | None = None,
    within: Org | None = None,
) -> tuple[list[UserPublic], int]:
    """A page of the roster the caller sees, in id order, as `to_public` shows each
    person, and how many there are: two round trips (the reached orgs' ids, then the
    page with its total and roles; one more for a page past the end).

    `within`: only the people at home in that org's subtree (an org in reach: the
    caller checks), as a district's roster narrowed to one street."""
    admin, member = caller.paths(ADMIN_ROLES), caller.member_paths()
    if not admin and not member:
        return [], 0
    reach = _reach_ids(tuple(admin), tuple(member), within is not None)
    params: dict[str, Any] = {}
    if within is not None:
        params["within"], params["within_end"] = within.path, path_upper_bound(within.path)
    orgs = await reach.rows(session, params)
    org_ids = [o.id for o in orgs if o.admin]
    unit_ids = [o.id for o in orgs if o.member]
    if not org_ids and not unit_ids:
        return [], 0
    shape = _RosterShape(
        admin=bool(org_ids),
        members=bool(unit_ids),
        community=community_id is not None,
        unit=unit_id is not None,
        party=is_party_member is not None,
        name=bool(name),
        wechat_bound=wechat_bound,
    )
    dialect = dialect_of(session)
    params = {"offset": offset, "limit": limit}
    if org_ids:
        params["org_ids"] = ids_value(org_ids, dialect)
    if unit_ids:
        params["unit_ids"] = ids_value(unit_ids, dialect)
    filters = {"community_id": community_id, "unit_id": unit_id, "party": is_party_member}
    params |= {k: v for k, v in filters.items() if v is not None}
    if name:
        params["name"] = _like_escaped(name)
    rows, total = await _roster_statements(shape, dialect).read(session, params, offset=offset)
    return _publics_of_rows(rows), total


def _publics_of_rows(rows: Sequence[Any]) -> list[UserPublic]:
    """The page's people from its rows, one a role (a person without one: a row with
    no role), in the rows' order."""
    by_person: dict[int, list[Any]] = {}
    for row in rows:
        by_person.setdefault(row.id, []).append(row)
    return [
        _public(
            person[0],
            [
                RolePublic(id=r.role_id, role=r.role, org_id=r.role_org_id)
                for r in person
                if r.role_id is not None
            ],
        )
        for person in by_person.values()
    ]


# --- public shapes ------------------------------------------------------------------


async def user_names(session: AsyncSession, user_ids: Iterable[int | None]) -> dict[int, str]:
    """Names of many people in one query (lists show who, not just an id)."""
    ids = {i for i in user_ids if i is not None}
    if not ids:
        return {}
    rows = await session.execute(select(User.id, User.name).where(col(User.id).in_(ids)))
    return {uid: name for uid, name in rows.all() if uid is not None}


async def roles_of(session: AsyncSession, user_ids: Sequence[int]) -> dict[int, list[RolePublic]]:
    out: dict[int, list[RolePublic]] = defaultdict(list)
    if not user_ids:
        return out
    rows = await session.execute(
        select(RoleGrant).where(col(RoleGrant.user_id).in_(user_ids)).order_by(col(RoleGrant.id))
    )
    for g in rows.scalars():
        assert g.id is not None
        out[g.user_id].append(RolePublic(id=g.id, role=g.role, org_id=g.org_id))
    return out


def _public(user: Any, roles: list[RolePublic]) -> UserPublic:
    """A person as the API shows them: a User, or a row of its `_PUBLIC_COLUMNS` (the
    roster's list); the one shape of GET /users and GET /users/{id}."""
    assert user.id is not None
    return UserPublic(
        id=user.id,
        name=user.name,
        phone_masked=user.phone_masked,
        community_id=user.community_id,
        unit_id=user.unit_id,
        is_party_member=user.is_party_member,
        wechat_bound=user.openid is not None,
        roles=roles,
    )


async def to_public(session: AsyncSession, users: Sequence[User]) -> list[UserPublic]:
    roles = await roles_of(session, [u.id for u in users if u.id is not None])
    return [_public(u, roles.get(u.id or 0, [])) for u in users]


async def to_me(session: AsyncSession, cipher: PiiCipher, user: User) -> MePublic:
    """The person as they see themselves, their roles read (at login: no Caller yet)."""
    assert user.id is not None
    roles = await roles_of(session, [user.id])
    return _me(cipher, user, roles.get(user.id, []))


def me_of_caller(cipher: PiiCipher, caller: Caller) -> MePublic:
    """GET /me: the same answer from the Caller, whose grants are every role the
    person holds in grant order (app.edge.access CALLER_ROWS), as `roles_of` reads
    them: no second query. /me is what the mini-program asks on every launch."""
    roles = [RolePublic(id=g.id, role=g.role, org_id=g.org_id) for g in caller.grants]
    return _me(cipher, caller.user, roles)


def _me(cipher: PiiCipher, user: User, roles: list[RolePublic]) -> MePublic:
    phone = cipher.decrypt(user.phone_cipher) if user.phone_cipher else None
    return MePublic(**_public(user, roles).model_dump(), phone=phone)


# --- roster writes ----------------------------------------------------------------------


def set_phone(user: User, cipher: PiiCipher, phone: str) -> None:
    user.phone_cipher = cipher.encrypt(phone)
    user.phone_hash = cipher.lookup_hash(phone)
    user.phone_masked = mask_phone(phone)


async def entries_with_phone(
    session: AsyncSession, cipher: PiiCipher, phone: str, *where: ColumnElement[bool]
) -> list[User]:
    """The roster entries holding `phone` (and meeting `where`), oldest first.

    A phone may stand on the rosters of offices that cannot see each other: each
    office refuses a duplicate only inside its reach (`phone_in_reach`), so that a
    refusal reveals nothing outside it; only one of them is ever bound to WeChat
    (the unique index uq_users_bound_phone_hash)."""
    rows = await session.execute(
        select(User)
        .where(col(User.phone_hash) == cipher.lookup_hash(phone), *where)
        .order_by(col(User.id))
    )
    return list(rows.scalars())


async def _refuse_phone_in_reach(
    session: AsyncSession, caller: Caller, cipher: PiiCipher, phone: str, but: int | None = None
) -> None:
    """409 `phone_exists` when an entry the caller can see holds the phone already.
    Entries outside their reach do not count: answering for them would tell any
    admin whether a phone is on a roster anywhere. Run in the roster lock, which
    makes the check and the write that follows one step for every writer."""
    visible = await entries_with_phone(session, cipher, phone, users_in_reach(caller))
    if any(u.id != but for u in visible):
        raise Conflict("phone_exists", "该手机号已在您管理范围内的花名册中")


async def _org_of_level(session: AsyncSession, org_id: int, level: OrgLevel) -> Org | None:
    org = await session.get(Org, org_id)
    return org if org is not None and org.level == level else None


async def resolve_home(
    session: AsyncSession, caller: Caller, community_id: int, unit_id: int | None
) -> tuple[Org, Org | None]:
    """The home community must be in the admin's reach; the unit in the same district."""
    community = await _org_of_level(session, community_id, OrgLevel.community)
    if community is None or not caller.reaches(community):
        raise Unprocessable("invalid_community", "所选社区不存在或不在您的管理范围内")
    unit = None
    if unit_id is not None:
        unit = await _org_of_level(session, unit_id, OrgLevel.unit)
        if unit is None or not same_district(unit, community):
            raise Unprocessable("invalid_unit", "所选单位不存在或不属于本区")
    return community, unit


async def create_user(
    session: AsyncSession, *, caller: Caller, cipher: PiiCipher, data: UserCreate
) -> User:
    phone = normalize_phone(data.phone)
    await lock_roster(session)
    community, unit = await resolve_home(session, caller, data.community_id, data.unit_id)
    await _refuse_phone_in_reach(session, caller, cipher, phone)
    user = User(
        name=data.name.strip(),
        community_id=community.id,
        unit_id=unit.id if unit else None,
        is_party_member=data.is_party_member,
    )
    set_phone(user, cipher, phone)
    session.add(user)
    await session.flush()
    await audit.record(
        session,
        caller=caller,
        action="roster.create",
        target_type="user",
        target_id=user.id,
        org_id=user.community_id,
    )
    return user


async def update_user(
    session: AsyncSession, *, caller: Caller, cipher: PiiCipher, user: User, data: UserUpdate
) -> User:
    changes = data.model_dump(exclude_unset=True)
    for required in ("name", "community_id", "is_party_member", "phone"):
        if required in changes and changes[required] is None:
            raise Unprocessable("validation_error", "该字段不能清空")
    new_phone = normalize_phone(changes["phone"]) if "phone" in changes else None
    moves_phone = new_phone is not None and cipher.lookup_hash(new_phone) != user.phone_hash
    if moves_phone:
        assert new_phone is not None
        await guard_identity_change(
            session, caller=caller, cipher=cipher, person=user, new_phone=new_phone
        )
    if moves_phone or changes.keys() & {"community_id", "unit_id", "is_party_member"}:
        await lock_roster(session)
    if "community_id" in changes or "unit_id" in changes:
        community_id = changes.get("community_id", user.community_id)
        if community_id is None:
            raise Unprocessable("invalid_community", "请先为该人员指定所属社区")
        community, unit = await resolve_home(
            session, caller, community_id, changes.get("unit_id", user.unit_id)
        )
        user.community_id = community.id
        user.unit_id = unit.id if unit else None
    if "name" in changes:
        user.name = changes["name"].strip()
    if "is_party_member" in changes:
        user.is_party_member = changes["is_party_member"]
    if moves_phone:
        assert new_phone is not None and user.id is not None
        await _refuse_phone_in_reach(session, caller, cipher, new_phone, but=user.id)
        before = user.phone_masked
        unbound = user.openid is not None
        set_phone(user, cipher, new_phone)
        # The WeChat account proved the old phone, not this one: the person binds
        # again with the new phone (docs/DESIGN.md, "Who a person is").
        user.openid = None
        await session.flush()
        await end_tokens(session, user.id)
        await audit.record(
            session,
            caller=caller,
            action="roster.identity_change",
            target_type="user",
            target_id=user.id,
            org_id=user.community_id,
            field="phone",
            before=before,
            after=user.phone_masked,
            unbound=unbound,
        )
    await session.flush()
    await audit.record(
        session,
        caller=caller,
        action="roster.update",
        target_type="user",
        target_id=user.id,
        org_id=user.community_id,
        fields=sorted(changes),
    )
    return user


# --- who a person is -------------------------------------------------------------------


async def roles_outside_reach(session: AsyncSession, caller: Caller, person_id: int) -> int:
    """How many of the person's role grants lie outside the caller's admin reach."""
    paths = caller.paths(ADMIN_ROLES)
    rows = await session.execute(
        select(col(Org.path))
        .join(RoleGrant, col(RoleGrant.org_id) == col(Org.id))
        .where(col(RoleGrant.user_id) == person_id)
    )
    return sum(1 for (path,) in rows if not any(is_within(path, p) for p in paths))


async def guard_identity_change(
    session: AsyncSession, *, caller: Caller, cipher: PiiCipher, person: User, new_phone: str
) -> None:
    """The identity rule: nobody changes who a person is (the phone that binds them
    to WeChat, and so their binding) unless they reach every role the person holds.

    Otherwise a community admin could give a district admin's roster entry a phone
    they control and bind it from their own WeChat (issue 15). Refusals are 403
    `identity_change_forbidden` and audited (committed, although the request rolls
    back); allowed changes are audited by the caller with the phones masked."""
    assert person.id is not None
    outside = await roles_outside_reach(session, caller, person.id)
    if not outside:
        return
    await audit.record_refusal(
        session,
        caller=caller,
        action="roster.identity_change_refused",
        target_type="user",
        target_id=person.id,
        org_id=person.community_id,
        field="phone",
        before=person.phone_masked,
        after=mask_phone(new_phone),
        roles_outside_reach=outside,
    )
    raise Forbidden(
        "identity_change_forbidden",
        "此人担任的角色超出您的管理范围，只有能管理其全部角色的管理员才能更改其手机号",
        title="不能更改此人的身份",
    )


# --- roles ----------------------------------------------------------------------------


def _require_admin(caller: Caller) -> None:
    if not caller.is_admin:
        raise Forbidden("forbidden", "只有管理员可以进行此操作")


async def grant_role(
    session: AsyncSession, *, caller: Caller, user: User, data: RoleGrantCreate
) -> RoleGrant:
    _require_admin(caller)
    org = await session.get(Org, data.org_id)
    # A missing org and one outside reach answer alike: nothing about orgs leaks.
    if org is None or not caller.reaches(org):
        raise Forbidden("role_outside_reach", "不能在自己管理范围以外授予角色")
    level = ROLE_LEVEL[data.role]
    if level is not None and org.level != level:
        raise Unprocessable(
            "invalid_role_level", f"该角色只能授予在{LEVEL_NAMES[level]}一级的组织上"
        )
    grant = RoleGrant(
        user_id=user.id or 0, role=data.role, org_id=org.id or 0, granted_by_id=caller.id
    )
    try:
        async with session.begin_nested():
            session.add(grant)
            await session.flush()
    except IntegrityError as exc:
        raise Conflict("role_exists", "此人已在该组织担任该角色") from exc
    await audit.record(
        session,
        caller=caller,
        action="role.grant",
        target_type="user",
        target_id=user.id,
        org_id=grant.org_id,
        role=grant.role,
    )
    return grant


async def revoke_role(session: AsyncSession, *, caller: Caller, user: User, role_id: int) -> None:
    _require_admin(caller)
    grant = (
        await session.execute(
            select(RoleGrant).where(RoleGrant.id == role_id, RoleGrant.user_id == user.id)
        )
    ).scalar_one_or_none()
    if grant is None:
        raise NotFound()
    org = await session.get(Org, grant.org_id)
    assert org is not None
    if not caller.reaches(org):
        raise Forbidden("role_outside_reach", "不能撤销自己管理范围以外的角色")
    if grant.role == Role.district_admin:
        # Lock the district row so two admins revoking each other cannot both succeed.
        await session.execute(select(Org.id).where(Org.id == org.id).with_for_update())
        remaining = (
            await session.execute(
                select(func.count())
                .select_from(RoleGrant)
                .where(RoleGrant.org_id == org.id, RoleGrant.role == Role.district_admin)
            )
        ).scalar_one()
        if remaining <= 1:
            raise Conflict("last_district_admin", "这是本区最后一位区级管理员，不能撤销")
    await session.execute(delete(RoleGrant).where(col(RoleGrant.id) == grant.id))
    # Their API keys keep working (keys belong to the org); those no role of theirs
    # covers any more are listed first by GET /api-keys, and counted here.
    to_review = {}
    if grant.role in api_keys.ISSUERS:
        waiting = await api_keys.keys_awaiting_review(session, grant.user_id)
        to_review["api_keys_to_review"] = waiting
    await audit.record(
        session,
        caller=caller,
        action="role.revoke",
        target_type="user",
        target_id=user.id,
        org_id=grant.org_id,
        role=grant.role,
        **to_review,
    )
