"""WeChat login and binding a WeChat account to its roster entry."""

from __future__ import annotations

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.core.db import updated_one
from app.core.errors import Conflict, NotFound
from app.core.security import PiiCipher, normalize_phone
from app.core.wechat import WeChatGateway
from app.models.notification import Message, SubscribeGrant
from app.models.user import RoleGrant, User
from app.services.users import find_by_phone

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


async def bind_phone(
    session: AsyncSession,
    *,
    gateway: WeChatGateway,
    cipher: PiiCipher,
    account: User,
    code: str,
) -> User:
    """Make the logged-in WeChat account *be* the roster entry with its phone.

    The empty account made at first login is deleted; its openid moves to the
    roster entry. It can own no records yet (no community, no roles), but it may
    already hold subscribe-message grants and messages: those move with the openid
    (the roster entry, never logged in, can hold none, so nothing collides).
    """
    phone = normalize_phone(await gateway.phone_number(code))
    roster = await find_by_phone(session, cipher, phone)
    if roster is None:
        raise NotFound("花名册中没有这个手机号，请联系社区登记", code="not_on_roster")
    if roster.id == account.id:
        return roster
    if roster.openid is not None:
        raise Conflict("phone_already_bound", "该手机号已绑定其他微信账号")
    if account.phone_hash is not None:
        raise Conflict("account_already_bound", "当前微信账号已绑定其他手机号")

    openid = account.openid
    has_roles = (
        await session.execute(select(RoleGrant.id).where(RoleGrant.user_id == account.id).limit(1))
    ).first()
    if has_roles:
        raise Conflict("account_already_bound", "当前微信账号已有角色，不能再绑定花名册")
    for owned in (SubscribeGrant, Message):
        await session.execute(
            update(owned).where(col(owned.user_id) == account.id).values(user_id=roster.id)
        )
    await session.execute(delete(User).where(col(User.id) == account.id))
    # Conditional, so two accounts binding the same phone at once cannot both win.
    if not await updated_one(
        session,
        update(User)
        .where(col(User.id) == roster.id, col(User.openid).is_(None))
        .values(openid=openid),
    ):
        raise Conflict("phone_already_bound", "该手机号已绑定其他微信账号")
    await session.refresh(roster)
    return roster
