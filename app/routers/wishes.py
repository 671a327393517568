from typing import Annotated

from fastapi import APIRouter, Query

from app.core.errors import PROBLEM_RESPONSES
from app.core.timeutil import current_year
from app.edge.route import AppRoute
from app.models.org import Org
from app.models.wish import (
    Wish,
    WishCancel,
    WishCreate,
    WishEventPublic,
    WishFulfill,
    WishPublic,
    WishQuota,
    WishReview,
    WishStatus,
    WishUnconfirm,
)
from app.routers.deps import (
    AdminCaller,
    CipherDep,
    CurrentCaller,
    InReach,
    OrgInReach,
    Page,
    PageDep,
    ReadingSessionDep,
    SessionDep,
    SettingsDep,
    Visible,
    WeChatDep,
    WishesReader,
    org_filter,
    page_of,
)
from app.services import content_check
from app.services import wishes as service

# /wishes and /stats/wish-quota.
router = APIRouter(tags=["wishes"], route_class=AppRoute, responses=PROBLEM_RESPONSES)

# `?community_id=` of the list: a community whose wishes the caller sees, else 404.
WishesCommunity = Annotated[
    Org | None,
    org_filter(WishesReader, service.get_org_of_wishes, param="community_id", description="该社区"),
]
YearQuery = Annotated[int | None, Query(ge=2000, le=2100, description="默认为北京时间的今年")]


@router.post("/wishes", status_code=201, response_model=WishPublic)
async def create_wish(
    data: WishCreate,
    session: SessionDep,
    caller: CurrentCaller,
    cipher: CipherDep,
    settings: SettingsDep,
    wechat: WeChatDep,
) -> WishPublic:
    """发布微心愿。社区（及上级）管理员发布的直接进入“待认领”，本区其他人发布的先“待审核”。

    标题和内容先经微信内容安全检测：`risky` 为 422 `content_rejected`，不保存；`review`
    （或无法检测）时管理员发布的也先“待审核”，由管理员人工复核。微信不可用为 503。"""
    wish = await service.create_wish(
        session,
        caller=caller,
        cipher=cipher,
        data=data,
        checker=content_check.text_checker(settings, wechat),
    )
    return await service.to_public_one(session, caller=caller, cipher=cipher, wish=wish)


@router.get("/wishes", response_model=Page[WishPublic])
async def list_wishes(
    session: SessionDep,
    caller: WishesReader,
    cipher: CipherDep,
    paging: PageDep,
    community: WishesCommunity,
    status: WishStatus | None = None,
) -> Page[WishPublic]:
    """管理员：管理范围内各状态的心愿；其他人：本区待认领的心愿，以及自己认领或发布的心愿。

    受助人姓名和电话只对认领人、发布人和管理范围内的管理员完整显示。
    """
    items, total = await service.list_wishes(
        session,
        caller=caller,
        cipher=cipher,
        status=status,
        community_id=community.id if community is not None else None,
        offset=paging.offset,
        limit=paging.page_size,
    )
    return page_of(items, total, paging)


@router.get("/wishes/{wish_id}", response_model=WishPublic)
async def get_wish(
    wish: Visible[Wish], session: SessionDep, caller: WishesReader, cipher: CipherDep
) -> WishPublic:
    return await service.to_public_one(session, caller=caller, cipher=cipher, wish=wish)


@router.get("/wishes/{wish_id}/history", response_model=list[WishEventPublic])
async def get_wish_history(
    wish: Visible[Wish], session: SessionDep, caller: CurrentCaller
) -> list[WishEventPublic]:
    """心愿的处理记录（谁在何时做了什么），给认领人和管理范围内的管理员。"""
    return await service.history(session, caller=caller, wish=wish)


@router.post("/wishes/{wish_id}/review", response_model=WishPublic)
async def review_wish(
    wish: Visible[Wish],
    data: WishReview,
    session: SessionDep,
    caller: CurrentCaller,
    cipher: CipherDep,
) -> WishPublic:
    """审核待审核的心愿：通过则待认领，驳回须填写原因。"""
    wish = await service.review_wish(session, caller=caller, wish=wish, data=data)
    return await service.to_public_one(session, caller=caller, cipher=cipher, wish=wish)


@router.post("/wishes/{wish_id}/claim", response_model=WishPublic)
async def claim_wish(
    wish: InReach[Wish],
    session: SessionDep,
    caller: CurrentCaller,
    cipher: CipherDep,
    settings: SettingsDep,
) -> WishPublic:
    """认领本区的心愿。多人同时认领时只有一人成功，其余得到 409 `wish_already_claimed`；
    同时持有的未完成认领超过上限为 409 `claim_limit_reached`。"""
    wish = await service.claim_wish(
        session, caller=caller, wish=wish, max_open_claims=settings.wish_max_open_claims
    )
    return await service.to_public_one(session, caller=caller, cipher=cipher, wish=wish)


@router.post("/wishes/{wish_id}/release", response_model=WishPublic)
async def release_wish(
    wish: Visible[Wish], session: SessionDep, caller: CurrentCaller, cipher: CipherDep
) -> WishPublic:
    """认领人放弃认领，心愿回到待认领。"""
    wish = await service.release_wish(session, caller=caller, wish=wish)
    return await service.to_public_one(session, caller=caller, cipher=cipher, wish=wish)


@router.post("/wishes/{wish_id}/fulfill", response_model=WishPublic)
async def fulfill_wish(
    wish: Visible[Wish],
    data: WishFulfill,
    session: SessionDep,
    caller: CurrentCaller,
    cipher: CipherDep,
    settings: SettingsDep,
    wechat: WeChatDep,
) -> WishPublic:
    """认领人提交完成情况：至少一张本人上传的照片和一段说明。

    说明先经微信内容安全检测，`risky` 为 422 `content_rejected`。"""
    wish = await service.fulfill_wish(
        session,
        caller=caller,
        wish=wish,
        data=data,
        checker=content_check.text_checker(settings, wechat),
    )
    return await service.to_public_one(session, caller=caller, cipher=cipher, wish=wish)


@router.post("/wishes/{wish_id}/confirm", response_model=WishPublic)
async def confirm_wish(
    wish: Visible[Wish],
    session: SessionDep,
    caller: CurrentCaller,
    cipher: CipherDep,
    settings: SettingsDep,
) -> WishPublic:
    """管理员确认心愿已完成，为认领人记入志愿时长（`WISH_CONFIRM_MINUTES`）。"""
    wish = await service.confirm_wish(
        session, caller=caller, wish=wish, credit_minutes=settings.wish_confirm_minutes
    )
    return await service.to_public_one(session, caller=caller, cipher=cipher, wish=wish)


@router.post("/wishes/{wish_id}/withdraw-confirmation", response_model=WishPublic)
async def withdraw_wish_confirmation(
    wish: Visible[Wish],
    data: WishUnconfirm,
    session: SessionDep,
    caller: CurrentCaller,
    cipher: CipherDep,
) -> WishPublic:
    """撤回心愿的完成确认（心愿其实未完成）：回到“已完成待确认”，确认所得积分以冲正
    分录扣回（至多扣至余额为零），并通知认领人。再次确认时积分恢复。

    确认人或社区管理员在确认后 7 天内可撤回；超过期限 `unconfirm_window_closed`、
    心愿不是已确认 `invalid_wish_state`，均为 409。确认时记入的志愿时长不随之撤销，
    如服务并未发生，请另行撤销该时长记录。
    """
    wish = await service.unconfirm_wish(session, caller=caller, wish=wish, data=data)
    return await service.to_public_one(session, caller=caller, cipher=cipher, wish=wish)


@router.post("/wishes/{wish_id}/cancel", response_model=WishPublic)
async def cancel_wish(
    wish: Visible[Wish],
    session: SessionDep,
    caller: CurrentCaller,
    cipher: CipherDep,
    data: WishCancel | None = None,
) -> WishPublic:
    """取消心愿：管理范围内的管理员在完成前均可取消；发布人只能在被认领前取消。"""
    wish = await service.cancel_wish(session, caller=caller, wish=wish, data=data)
    return await service.to_public_one(session, caller=caller, cipher=cipher, wish=wish)


@router.get("/stats/wish-quota", response_model=WishQuota)
async def wish_quota(
    session: ReadingSessionDep,
    org: Annotated[Org, OrgInReach(AdminCaller)],
    year: YearQuery = None,
) -> WishQuota:
    """某组织（所属社区或单位在其下）的党员中，今年已认领和尚未认领心愿的人。

    已认领 = 当年认领且未放弃（仍在认领中，或已完成/已确认）。
    """
    return await service.wish_quota(session, org=org, year=year or current_year())
