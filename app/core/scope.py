"""Who reaches what: the one place the org-subtree rule is written down.

Every org stores its ancestor path ("/1/4/17/"). A role held at an org reaches that
org's whole subtree, so "is X inside Y" is a prefix test on X.path, written as a
range comparison that a plain b-tree index answers on both databases.
Lists filter with `in_reach(...)` in SQL; single records are loaded through
dependencies that answer 404 for anything outside reach (see app/routers/deps.py).

Two kinds of reach, both from the subtree rule:
- by place (ADMIN_ROLES): every record whose org lies in the subtree
  (`Caller.paths`, `in_reach`);
- by membership (MEMBER_ROLES, a unit's party secretary): the people whose unit lies
  in the subtree, wherever they live, and those people's own records, never the
  places' other records (`Caller.member_paths`, `by_members`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Integer,
    SQLColumnExpression,
    any_,
    bindparam,
    cast,
    false,
    func,
    or_,
    update,
)
from sqlalchemy import select as sa_select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.core.db import table_of
from app.core.errors import NotFound
from app.core.security import TokenClaims
from app.models.org import Org, OrgLevel
from app.models.user import ADMIN_ROLES, MEMBER_ROLES, Role, User

# Role → the only org level it may be held at (None: any level).
# (LEVEL_ADMIN_ROLE below is the inverse for the admin roles.)
ROLE_LEVEL: dict[Role, OrgLevel | None] = {
    Role.district_admin: OrgLevel.district,
    Role.street_admin: OrgLevel.street,
    Role.community_admin: OrgLevel.community,
    Role.inspector: None,
    Role.info_officer: None,
    Role.unit_admin: OrgLevel.unit,
}


LEVEL_ADMIN_ROLE: dict[OrgLevel, Role] = {
    OrgLevel.district: Role.district_admin,
    OrgLevel.street: Role.street_admin,
    OrgLevel.community: Role.community_admin,
}


def path_upper_bound(prefix: str) -> str:
    # Paths end in "/"; "/" + 1 is "0", which sorts after every "/1/4/…" continuation
    # and before the sibling "/1/40/".
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def path_within(path_column: SQLColumnExpression[str], prefix: str) -> ColumnElement[bool]:
    return path_between(path_column, prefix, path_upper_bound(prefix))


def path_between(
    path_column: SQLColumnExpression[str], low: str | Any, high: str | Any
) -> ColumnElement[bool]:
    """The path range of a subtree: [its path, path_upper_bound(its path))."""
    return (path_column >= low) & (path_column < high)


def path_ids(path: str) -> list[int]:
    """The ids of an org's ancestors and itself, from the district down."""
    return [int(part) for part in path.strip("/").split("/")]


def is_within(path: str, prefix: str) -> bool:
    return path.startswith(prefix)


def minimal_paths(paths: Iterable[str]) -> list[str]:
    """Drop paths that lie inside another one: the reach is the same, the SQL shorter."""
    kept: list[str] = []
    for p in sorted(set(paths), key=len):
        if not any(is_within(p, k) for k in kept):
            kept.append(p)
    return kept


@dataclass(frozen=True)
class Grant:
    id: int
    role: Role
    org_id: int
    org_path: str
    org_level: OrgLevel


@dataclass
class Caller:
    """An authenticated person with the roles they hold, freshly read for this request.

    A third-party system calling with an API key is a Caller too: `api_key_scopes` is
    set, `user` is a stand-in that exists in no table, and its one grant is the admin
    role of the key's org level, so every list and loader scopes it to that subtree
    exactly as it would an admin there. It never sees personal data in the clear.
    """

    user: User
    grants: list[Grant] = field(default_factory=list)
    api_key_scopes: frozenset[str] | None = None
    # (community id, its path) of the home community as read with the roles, so that
    # "which tasks are for me" needs no query of its own; None when not read.
    home: tuple[int, str] | None = None

    @property
    def is_api_key(self) -> bool:
        return self.api_key_scopes is not None

    @property
    def sees_personal_data(self) -> bool:
        return not self.is_api_key

    @property
    def id(self) -> int:
        assert self.user.id is not None
        return self.user.id

    def paths(self, roles: Iterable[Role] = ADMIN_ROLES) -> list[str]:
        wanted = set(roles)
        return minimal_paths(g.org_path for g in self.grants if g.role in wanted)

    @property
    def is_admin(self) -> bool:
        return any(g.role in ADMIN_ROLES for g in self.grants)

    def reaches(self, org: Org, roles: Iterable[Role] = ADMIN_ROLES) -> bool:
        return self.reaches_path(org.path, roles)

    def reaches_path(self, org_path: str, roles: Iterable[Role] = ADMIN_ROLES) -> bool:
        """`reaches` for an org of which only the path was read."""
        return any(is_within(org_path, p) for p in self.paths(roles))

    def member_paths(self) -> list[str]:
        """The units whose members this caller reaches by membership (`by_members`)."""
        return self.paths(MEMBER_ROLES)

    @property
    def reaches_people(self) -> bool:
        """Holds a role that reaches people: an admin of a place or of a unit."""
        return self.is_admin or any(g.role in MEMBER_ROLES for g in self.grants)


async def org_in_reach(
    session: AsyncSession, caller: Caller, org_id: int, roles: Iterable[Role] = ADMIN_ROLES
) -> Org:
    """The org, if `roles` of the caller reach it. One out of reach is missing (404),
    as a record out of reach is: whether it exists is not theirs to learn."""
    org = await session.get(Org, org_id)
    if org is None or not caller.reaches(org, roles):
        raise NotFound()
    return org


def org_ids_in(paths: list[str]) -> ColumnElement[bool]:
    """A condition on Org rows: the org lies inside one of `paths`."""
    if not paths:
        return false()
    return or_(*(path_within(col(Org.path), p) for p in paths))


def in_reach(
    org_id_column: SQLColumnExpression[Any], paths: list[str], *, as_array: bool = False
) -> ColumnElement[bool]:
    """A condition on any row with an org foreign key: that org is inside `paths`.

    `as_array` (PostgreSQL only): the orgs' ids gathered once into an array the row's
    org is compared with (`= ANY`), which the column's index answers also inside an OR
    with other conditions (a BitmapOr), where `IN (subquery)` OR'ed is a hashed subplan
    tried on every row of the table (GET /volunteer-hours of a community's admin:
    30 ms of scan, 2 ms by the indexes)."""
    if not paths:
        return false()
    if as_array:
        return _any_of(org_id_column, col(Org.id), org_ids_in(paths))
    return org_id_column.in_(select(Org.id).where(org_ids_in(paths)))


def _any_of(
    column: SQLColumnExpression[Any], ids: Any, where: ColumnElement[bool]
) -> ColumnElement[bool]:
    # An array, `= ANY (CAST((SELECT array_agg ...) AS INTEGER[]))`, read once first
    # (an InitPlan), not a sublink; none found is NULL, which matches nothing.
    gathered = sa_select(func.array_agg(ids)).where(where).scalar_subquery()
    return column == any_(cast(gathered, ARRAY(Integer)))


def members_of(paths: list[str]) -> Any:
    """The ids of the people whose unit lies inside `paths` (a unit's members)."""
    return select(col(User.id)).where(in_reach(col(User.unit_id), paths))


def by_members(
    person_id_column: SQLColumnExpression[Any], paths: list[str], *, as_array: bool = False
) -> ColumnElement[bool]:
    """The reach by membership: a condition on any row a person did (a report-in, an
    hours entry, a claim), that the person is a member of a unit inside `paths`.
    Rows of other people at the same places stay out. `as_array`: as `in_reach`'s."""
    if not paths:
        return false()
    if as_array:
        units = in_reach(col(User.unit_id), paths, as_array=True)
        return _any_of(person_id_column, col(User.id), units)
    return person_id_column.in_(members_of(paths))


async def org_ids_within(session: AsyncSession, paths: list[str]) -> list[int]:
    """The ids of every org inside `paths` (a district holds a few hundred).

    Read first, so that a query on a large table can name them: PostgreSQL then
    reads each org's rows from its index, with estimates per org, where
    `in_reach`'s subquery leaves it guessing (two of them OR'ed, as for people's
    two homes, became a scan of every row)."""
    if not paths:
        return []
    rows = await session.execute(select(Org.id).where(org_ids_in(paths)))
    return [i for i in rows.scalars() if i is not None]


# --- the token rule ---------------------------------------------------------------------

_NAMED = table_of(User).alias("token_named")


def acts_as(person_id: SQLColumnExpression[Any]) -> ColumnElement[bool]:
    """The token rule: the one place that decides which person a token acts as.

    A token names a users row (`sub`) and the token version it was issued under
    (`ver`); the bind parameters `token_sub` and `token_ver` carry them. It is valid
    only while that row exists with that version, and it acts as that row, or, for a
    tombstone (a first-login account merged into its roster entry at bind), as the
    entry: one hop, since a roster entry is never merged itself. `end_tokens` raises
    the version of a person and of their tombstones, which ends every token acting as
    them. Ids are never reused (app.models.common.NEVER_REUSED_IDS), so no token can
    come to name a row it was not issued for, whatever is deleted or created later.

    A condition on `person_id`, so each statement that starts from a token (the
    Caller's, app.edge.access, with what is read along with it; the dashboard link's)
    reads the person in the same round trip.
    """
    return person_id == (
        sa_select(func.coalesce(_NAMED.c.merged_into_id, _NAMED.c.id))
        .where(
            _NAMED.c.id == bindparam("token_sub", type_=Integer),
            _NAMED.c.token_version == bindparam("token_ver", type_=Integer),
        )
        .scalar_subquery()
    )


def token_params(claims: TokenClaims) -> dict[str, int]:
    return {"token_sub": claims.user_id, "token_ver": claims.version}


async def end_tokens(session: AsyncSession, person_id: int) -> None:
    """End every token acting as the person: their own and their tombstones'."""
    await session.execute(
        update(User)
        .where(or_(col(User.id) == person_id, col(User.merged_into_id) == person_id))
        .values(token_version=col(User.token_version) + 1),
        execution_options={"synchronize_session": False},
    )
