from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from app.core.errors import PROBLEM_RESPONSES
from app.core.routing import AppRoute
from app.core.security import issue_access_token
from app.models.common import StrictInput
from app.models.user import MePublic
from app.routers.deps import CipherDep, CurrentCaller, SessionDep, SettingsDep, WeChatDep
from app.services import auth as service
from app.services import users as user_service

router = APIRouter(tags=["auth"], route_class=AppRoute, responses=PROBLEM_RESPONSES)


class CodeIn(StrictInput):
    code: str = Field(min_length=1, max_length=256)


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    user: MePublic


class BoundUserOut(MePublic):
    access_token: str = Field(description="绑定后请改用这个新令牌：旧令牌指向的临时账号已合并")
    token_type: str = "bearer"
    expires_in: int


@router.post("/auth/wechat-login", response_model=TokenOut)
async def wechat_login(
    data: CodeIn,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    wechat: WeChatDep,
    cipher: CipherDep,
) -> TokenOut:
    """用 wx.login 的 code 换取访问令牌；新的微信账号会得到一个没有社区和角色的空账号。"""
    # Per client address: behind a proxy, uvicorn's --proxy-headers makes this the
    # phone's address, not the proxy's.
    client = request.client.host if request.client else "unknown"
    await request.app.state.ratelimiter.hit_per_minute(
        f"login:{client}", settings.login_rate_per_minute
    )
    user = await service.wechat_login(session, gateway=wechat, code=data.code)
    assert user.id is not None
    token = issue_access_token(settings, user.id)
    return TokenOut(
        access_token=token.access_token,
        expires_in=token.expires_in,
        user=await user_service.to_me(session, cipher, user),
    )


@router.post("/auth/bind-phone", response_model=BoundUserOut)
async def bind_phone(
    data: CodeIn,
    session: SessionDep,
    caller: CurrentCaller,
    settings: SettingsDep,
    wechat: WeChatDep,
    cipher: CipherDep,
) -> BoundUserOut:
    """用 getPhoneNumber 的 code 把当前微信账号绑定到花名册中同手机号的人员。"""
    user = await service.bind_phone(
        session, gateway=wechat, cipher=cipher, account=caller.user, code=data.code
    )
    assert user.id is not None
    token = issue_access_token(settings, user.id)
    me = await user_service.to_me(session, cipher, user)
    return BoundUserOut(
        **me.model_dump(), access_token=token.access_token, expires_in=token.expires_in
    )


@router.get("/me", response_model=MePublic)
async def get_me(caller: CurrentCaller, session: SessionDep, cipher: CipherDep) -> MePublic:
    """当前登录的人；只有本人能看到完整手机号。"""
    return await user_service.to_me(session, cipher, caller.user)
