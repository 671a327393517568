from typing import Annotated

from fastapi import APIRouter

from app.core.errors import PROBLEM_RESPONSES
from app.edge.route import AppRoute
from app.models.org import Org
from app.models.volunteer import (
    Volunteer,
    VolunteerOptIn,
    VolunteerPublic,
    VolunteerRegister,
    VolunteerReview,
    VolunteerStatus,
)
from app.routers.deps import (
    AdminCaller,
    CipherDep,
    CurrentCaller,
    Page,
    PageDep,
    SessionDep,
    Visible,
    WeChatDep,
    org_filter,
    page_of,
)
from app.services import volunteers as service

# /volunteers and /me/volunteer.
router = APIRouter(tags=["volunteers"], route_class=AppRoute, responses=PROBLEM_RESPONSES)

VolunteersOrg = Annotated[Org | None, org_filter(AdminCaller)]


@router.post("/volunteers/register", status_code=201, response_model=VolunteerPublic)
async def register_volunteer(
    data: VolunteerRegister,
    session: SessionDep,
    caller: CurrentCaller,
    cipher: CipherDep,
    wechat: WeChatDep,
) -> VolunteerPublic:
    """不在花名册中的居民登记为志愿者：实名、微信手机号（getPhoneNumber 的 code）、所在社区、
    技能，并须同意个人信息处理规则（`consent: true`，否则 422 `consent_required`；同意的时间和
    文本版本留存）。登记后“待审核”，由社区管理员审核。花名册中的人用 POST /me/volunteer。"""
    volunteer = await service.register(
        session, caller=caller, gateway=wechat, cipher=cipher, data=data
    )
    return await service.to_public_one(session, volunteer)


@router.get("/volunteers", response_model=Page[VolunteerPublic])
async def list_volunteers(
    session: SessionDep,
    caller: AdminCaller,
    paging: PageDep,
    org: VolunteersOrg,
    status: VolunteerStatus | None = None,
) -> Page[VolunteerPublic]:
    """管理范围内的志愿者（撤回同意的不再列出）。"""
    rows, total = await service.list_volunteers(
        session,
        caller=caller,
        org=org,
        status=status,
        offset=paging.offset,
        limit=paging.page_size,
    )
    return page_of(await service.to_public(session, rows), total, paging)


@router.get("/volunteers/{volunteer_id:int}", response_model=VolunteerPublic)
async def get_volunteer(volunteer: Visible[Volunteer], session: SessionDep) -> VolunteerPublic:
    return await service.to_public_one(session, volunteer)


@router.post("/volunteers/{volunteer_id}/review", response_model=VolunteerPublic)
async def review_volunteer(
    volunteer: Visible[Volunteer],
    data: VolunteerReview,
    session: SessionDep,
    caller: CurrentCaller,
) -> VolunteerPublic:
    """社区（及上级）管理员审核志愿者登记；驳回须填写原因。"""
    volunteer = await service.review(session, caller=caller, volunteer=volunteer, data=data)
    return await service.to_public_one(session, volunteer)


@router.get("/me/volunteer", response_model=VolunteerPublic)
async def my_volunteer(session: SessionDep, caller: CurrentCaller) -> VolunteerPublic:
    """本人的志愿者登记。"""
    return await service.to_public_one(session, await service.mine(session, caller=caller))


@router.post("/me/volunteer", status_code=201, response_model=VolunteerPublic)
async def opt_in_volunteer(
    data: VolunteerOptIn, session: SessionDep, caller: CurrentCaller
) -> VolunteerPublic:
    """花名册中的人申请成为本社区的志愿者，须同意个人信息处理规则，即时生效。"""
    volunteer = await service.opt_in(session, caller=caller, data=data)
    return await service.to_public_one(session, volunteer)


@router.delete("/me/volunteer", response_model=VolunteerPublic)
async def withdraw_volunteer(session: SessionDep, caller: CurrentCaller) -> VolunteerPublic:
    """撤回对个人信息处理的同意：不再出现在任何志愿者名单和台账中。"""
    volunteer = await service.withdraw(session, caller=caller)
    return await service.to_public_one(session, volunteer)
