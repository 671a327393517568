from typing import Annotated

from fastapi import APIRouter, Query

from app.core.errors import PROBLEM_RESPONSES
from app.edge.route import AppRoute
from app.models.org import Org, OrgCreate, OrgLevel, OrgPublic, OrgUpdate
from app.models.user import MAX_ID
from app.routers.deps import (
    CurrentCaller,
    OrgsReader,
    Page,
    PageDep,
    SessionDep,
    Visible,
    page_of,
)
from app.services import orgs as service

router = APIRouter(prefix="/orgs", tags=["orgs"], route_class=AppRoute, responses=PROBLEM_RESPONSES)


@router.post("", status_code=201, response_model=OrgPublic)
async def create_org(data: OrgCreate, session: SessionDep, caller: CurrentCaller) -> OrgPublic:
    """新建街道、社区或单位（上级组织的管理员）。"""
    org = await service.create_org(session, caller=caller, data=data)
    return OrgPublic.model_validate(org, from_attributes=True)


@router.get("", response_model=Page[OrgPublic])
async def list_orgs(
    session: SessionDep,
    caller: OrgsReader,
    paging: PageDep,
    level: OrgLevel | None = None,
    parent_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> Page[OrgPublic]:
    """调用者可见的组织：所任角色的整棵子树，以及本人所属社区和单位。"""
    orgs, total = await service.list_orgs(
        session,
        caller,
        level=level,
        parent_id=parent_id,
        offset=paging.offset,
        limit=paging.page_size,
    )
    return page_of([OrgPublic.model_validate(o, from_attributes=True) for o in orgs], total, paging)


@router.get("/{org_id}", response_model=OrgPublic)
async def get_org(org: Visible[Org]) -> OrgPublic:
    return OrgPublic.model_validate(org, from_attributes=True)


@router.patch("/{org_id}", response_model=OrgPublic)
async def update_org(
    org: Visible[Org], data: OrgUpdate, session: SessionDep, caller: CurrentCaller
) -> OrgPublic:
    """修改名称或编码。层级和上级不可修改。"""
    org = await service.update_org(session, caller=caller, org=org, data=data)
    return OrgPublic.model_validate(org, from_attributes=True)
