from typing import Annotated

from fastapi import APIRouter, Query, Response, UploadFile

from app.core.errors import PROBLEM_RESPONSES, PayloadTooLarge
from app.edge.route import AppRoute
from app.models.common import QueryText
from app.models.org import Org
from app.models.user import (
    ImportResult,
    RoleGrantCreate,
    RolePublic,
    User,
    UserCreate,
    UserPublic,
    UserUpdate,
)
from app.routers.deps import (
    AdminCaller,
    CipherDep,
    IdPath,
    InReach,
    Page,
    PageDep,
    PeopleCaller,
    SessionDep,
    SettingsDep,
    Visible,
    org_filter,
    org_of_people,
    page_of,
)
from app.services import roster_import
from app.services import users as service

router = APIRouter(
    prefix="/users", tags=["users"], route_class=AppRoute, responses=PROBLEM_RESPONSES
)


@router.post("", status_code=201, response_model=UserPublic)
async def create_user(
    data: UserCreate, session: SessionDep, caller: AdminCaller, cipher: CipherDep
) -> UserPublic:
    """把一个人登记进花名册（尚未绑定微信）。"""
    user = await service.create_user(session, caller=caller, cipher=cipher, data=data)
    (public,) = await service.to_public(session, [user])
    return public


@router.post("/import", response_model=ImportResult)
async def import_users(
    file: UploadFile,
    session: SessionDep,
    caller: AdminCaller,
    cipher: CipherDep,
    settings: SettingsDep,
) -> ImportResult:
    """从 .xlsx 或 .csv 批量导入花名册；列：姓名、手机号、社区、单位、是否党员（或英文表头）。

    已在花名册中的手机号会更新为文件中的信息；有问题的行按行号报告，不影响其他行。
    """
    content = await file.read(settings.roster_import_max_bytes + 1)
    if len(content) > settings.roster_import_max_bytes:
        raise PayloadTooLarge(
            "file_too_large", f"文件不能超过 {settings.roster_import_max_bytes // 1024 // 1024} MiB"
        )
    return await roster_import.import_roster(
        session,
        caller=caller,
        cipher=cipher,
        filename=file.filename or "",
        content=content,
        max_rows=settings.roster_import_max_rows,
    )


# The roster's org filters, else 404: a community the caller's admin roles reach; a unit
# they reach as admins or as its party secretary.
RosterCommunity = Annotated[
    Org | None, org_filter(PeopleCaller, param="community_id", description="所属社区")
]
RosterUnit = Annotated[
    Org | None,
    org_filter(PeopleCaller, find=org_of_people, param="unit_id", description="所属单位"),
]


@router.get("", response_model=Page[UserPublic])
async def list_users(
    session: SessionDep,
    caller: PeopleCaller,
    paging: PageDep,
    community: RosterCommunity,
    unit: RosterUnit,
    is_party_member: bool | None = None,
    name: Annotated[QueryText | None, Query(max_length=50)] = None,
) -> Page[UserPublic]:
    """管理范围内的花名册（所属社区或单位在范围内）；单位管理员：本单位的党员。手机号一律打码。"""
    users, total = await service.list_users(
        session,
        caller,
        community_id=community.id if community is not None else None,
        unit_id=unit.id if unit is not None else None,
        is_party_member=is_party_member,
        name=name,
        offset=paging.offset,
        limit=paging.page_size,
    )
    return page_of(users, total, paging)


# `:int`, so that /users/import is never taken for a person: a PATCH to it is the
# 405 of a path that only takes POST, not a 422 about an id.
@router.get("/{user_id:int}", response_model=UserPublic)
async def get_user(user: Visible[User], session: SessionDep) -> UserPublic:
    (public,) = await service.to_public(session, [user])
    return public


@router.patch("/{user_id:int}", response_model=UserPublic)
async def update_user(
    user: InReach[User],
    data: UserUpdate,
    session: SessionDep,
    caller: AdminCaller,
    cipher: CipherDep,
) -> UserPublic:
    user = await service.update_user(session, caller=caller, cipher=cipher, user=user, data=data)
    (public,) = await service.to_public(session, [user])
    return public


@router.post("/{user_id}/roles", status_code=201, response_model=RolePublic)
async def grant_role(
    user: InReach[User], data: RoleGrantCreate, session: SessionDep, caller: AdminCaller
) -> RolePublic:
    """授予角色。只能授予在自己管理范围内的组织上，且角色须与组织层级相符。"""
    grant = await service.grant_role(session, caller=caller, user=user, data=data)
    return RolePublic.model_validate(grant, from_attributes=True)


@router.delete("/{user_id}/roles/{role_id}", status_code=204, response_class=Response)
async def revoke_role(
    user: InReach[User], role_id: IdPath, session: SessionDep, caller: AdminCaller
) -> Response:
    await service.revoke_role(session, caller=caller, user=user, role_id=role_id)
    return Response(status_code=204)
