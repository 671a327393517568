from typing import Annotated

from fastapi import APIRouter, Query

from app.core.errors import PROBLEM_RESPONSES
from app.edge.route import AppRoute
from app.models.notification import (
    MessageList,
    MessagePublic,
    ReadAllResult,
    SubscriptionReport,
    Subscriptions,
)
from app.routers.deps import CurrentCaller, IdPath, PageDep, SessionDep, SettingsDep
from app.services.notifications import grants, inbox

# /me/messages (in-app messages) and /me/subscriptions (WeChat subscribe-message grants).
router = APIRouter(tags=["messages"], route_class=AppRoute, responses=PROBLEM_RESPONSES)


@router.get("/me/messages", response_model=MessageList)
async def list_my_messages(
    session: SessionDep,
    caller: CurrentCaller,
    page: PageDep,
    unread: Annotated[bool, Query(description="true：只看未读")] = False,
) -> MessageList:
    """本人的站内消息：未读在前，各自按时间由新到旧；`unread` 为本人全部未读数。

    每条通知都是一条站内消息，不论用户是否订阅了微信消息。"""
    messages, total, unread_count = await inbox.list_messages(
        session, user_id=caller.id, unread_only=unread, offset=page.offset, limit=page.page_size
    )
    return MessageList(
        items=messages, total=total, page=page.page, page_size=page.page_size, unread=unread_count
    )


@router.post("/me/messages/read-all", response_model=ReadAllResult)
async def read_all_my_messages(session: SessionDep, caller: CurrentCaller) -> ReadAllResult:
    """把本人全部未读消息标为已读。"""
    return ReadAllResult(marked=await inbox.mark_all_read(session, user_id=caller.id))


@router.post("/me/messages/{message_id}/read", response_model=MessagePublic)
async def read_my_message(
    message_id: IdPath, session: SessionDep, caller: CurrentCaller
) -> MessagePublic:
    """把一条本人的消息标为已读（已读的不变）；别人的消息为 404。"""
    message = await inbox.mark_read(session, user_id=caller.id, message_id=message_id)
    return inbox.to_public(message)


@router.get("/me/subscriptions", response_model=Subscriptions)
async def my_subscriptions(
    session: SessionDep, caller: CurrentCaller, settings: SettingsDep
) -> Subscriptions:
    """服务器使用的订阅消息模板、各自对应的通知种类，以及本人每个模板还可接收的条数。

    小程序据此调用 `wx.requestSubscribeMessage({tmplIds})`。"""
    return await grants.subscriptions(session, user_id=caller.id, settings=settings)


@router.post("/me/subscriptions", response_model=Subscriptions)
async def report_subscriptions(
    data: SubscriptionReport, session: SessionDep, caller: CurrentCaller, settings: SettingsDep
) -> Subscriptions:
    """上报 `wx.requestSubscribeMessage` 的结果（模板 id → accept / reject / ban /
    filter）：每个 accept 允许服务器向本人发送一条该模板的订阅消息。未由服务器使用的
    模板不计。请带 `Idempotency-Key`，重试不会重复计数。"""
    return await grants.record_choices(
        session, user_id=caller.id, results=data.results, settings=settings
    )
