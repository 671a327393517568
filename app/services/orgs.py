"""The org tree: district → street → community, units under a district or street."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import ColumnElement, or_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.core.db import paged_scalars
from app.core.errors import Conflict, Forbidden, NotFound, Unprocessable
from app.core.scope import Caller, is_within, org_ids_in
from app.models.org import ALLOWED_PARENT_LEVELS, Org, OrgCreate, OrgLevel, OrgUpdate
from app.services import audit

LEVEL_NAMES = {
    OrgLevel.district: "区",
    OrgLevel.street: "街道",
    OrgLevel.community: "社区",
    OrgLevel.unit: "单位",
}


def visible_orgs(caller: Caller) -> ColumnElement[bool]:
    """Orgs a caller may see: the subtrees of every role held, plus home community and unit."""
    own = [i for i in (caller.user.community_id, caller.user.unit_id) if i is not None]
    return or_(org_ids_in(caller.paths(g.role for g in caller.grants)), col(Org.id).in_(own))


async def get_visible_org(session: AsyncSession, caller: Caller, org_id: int) -> Org:
    org = (
        await session.execute(select(Org).where(Org.id == org_id, visible_orgs(caller)))
    ).scalar_one_or_none()
    if org is None:
        raise NotFound()
    return org


async def get_org(session: AsyncSession, org_id: int) -> Org | None:
    return await session.get(Org, org_id)


async def list_orgs(
    session: AsyncSession,
    caller: Caller,
    *,
    level: OrgLevel | None,
    parent_id: int | None,
    offset: int,
    limit: int,
) -> tuple[list[Org], int]:
    conditions = [visible_orgs(caller)]
    if level is not None:
        conditions.append(col(Org.level) == level)
    if parent_id is not None:
        conditions.append(col(Org.parent_id) == parent_id)
    return await paged_scalars(
        session, select(Org).where(*conditions).order_by(Org.path), offset=offset, limit=limit
    )


def check_parent_level(level: OrgLevel, parent: Org | None) -> None:
    parent_level = OrgLevel(parent.level) if parent is not None else None
    if parent_level not in ALLOWED_PARENT_LEVELS[level]:
        allowed = "、".join(LEVEL_NAMES[p] for p in ALLOWED_PARENT_LEVELS[level] if p) or "无上级"
        raise Unprocessable(
            "invalid_org_level",
            f"{LEVEL_NAMES[level]}的上级只能是{allowed}",
        )


async def insert_org(
    session: AsyncSession,
    *,
    name: str,
    level: OrgLevel,
    parent: Org | None,
    code: str | None = None,
) -> Org:
    check_parent_level(level, parent)
    # The path needs the new id, so a unique placeholder holds the NOT NULL column
    # until the flush has assigned it.
    org = Org(
        name=name,
        level=level,
        parent_id=parent.id if parent else None,
        code=code,
        path=f"~{uuid.uuid4().hex}",
    )
    try:
        async with session.begin_nested():
            session.add(org)
            await session.flush()
    except IntegrityError as exc:
        raise Conflict("org_name_exists", f"同一上级下已有名为“{name}”的组织") from exc
    org.path = f"{parent.path if parent else '/'}{org.id}/"
    await session.flush()
    return org


async def create_org(session: AsyncSession, *, caller: Caller, data: OrgCreate) -> Org:
    if data.level == OrgLevel.district:
        raise Unprocessable("invalid_org_level", "区级组织只能由运维通过命令行创建")
    parent = await get_visible_org(session, caller, data.parent_id)
    if not caller.reaches(parent):
        raise Forbidden("forbidden", "只有上级组织的管理员可以新建下级组织")
    org = await insert_org(session, name=data.name, level=data.level, parent=parent, code=data.code)
    await audit.record(
        session,
        caller=caller,
        action="org.create",
        target_type="org",
        target_id=org.id,
        org_id=org.id,
        name=org.name,
        level=org.level,
    )
    return org


async def update_org(session: AsyncSession, *, caller: Caller, org: Org, data: OrgUpdate) -> Org:
    if not caller.reaches(org):
        raise Forbidden("forbidden", "只有该组织或其上级的管理员可以修改")
    changes = data.model_dump(exclude_unset=True)
    if "name" in changes and changes["name"] is None:
        raise Unprocessable("validation_error", "名称不能为空")
    try:
        # Changed inside the savepoint: begin_nested() flushes pending changes
        # before it opens, which would put a duplicate name outside the savepoint.
        async with session.begin_nested():
            for field, value in changes.items():
                setattr(org, field, value)
            await session.flush()
    except IntegrityError as exc:
        # Not org.name: the rollback expired the org, and reloading it here cannot work.
        name = changes.get("name", "")
        raise Conflict("org_name_exists", f"同一上级下已有名为“{name}”的组织") from exc
    await audit.record(
        session,
        caller=caller,
        action="org.update",
        target_type="org",
        target_id=org.id,
        org_id=org.id,
        **changes,
    )
    return org


async def district_of(session: AsyncSession, org: Org) -> Org:
    district_id = int(org.path.strip("/").split("/")[0])
    district = await session.get(Org, district_id)
    assert district is not None
    return district


def same_district(a: Org, b: Org) -> bool:
    return a.path.split("/")[1] == b.path.split("/")[1]


def within(org: Org, ancestor: Org) -> bool:
    return is_within(org.path, ancestor.path)


async def org_names(session: AsyncSession, ids: Iterable[int | None]) -> dict[int, str]:
    """The names of the orgs `ids` (Nones skipped), in one read: for lists that show
    where each record belongs."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = await session.execute(select(Org.id, Org.name).where(col(Org.id).in_(wanted)))
    return {int(i): str(n) for i, n in rows.all()}
