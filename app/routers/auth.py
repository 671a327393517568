from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from app.core.errors import PROBLEM_JSON, PROBLEM_RESPONSES, Problem
from app.core.scope import end_tokens
from app.core.security import issue_access_token
from app.edge.route import AppRoute
from app.models.common import StrictInput
from app.models.user import MAX_ID, MePublic, RosterChoice
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


class BindPhoneIn(CodeIn):
    user_id: int | None = Field(
        default=None,
        ge=1,
        le=MAX_ID,
        description="手机号登记在多个花名册中时（409 phone_on_several_rosters），"
        "本人从 choices 中选定的那一条",
    )


class PhoneChoicesProblem(Problem):
    choices: list[RosterChoice]


class BoundUserOut(MePublic):
    access_token: str = Field(
        description="绑定后的新令牌；登录时拿到的令牌也继续有效，同样代表这位花名册人员"
    )
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
    token = issue_access_token(settings, user.id, user.token_version)
    return TokenOut(
        access_token=token.access_token,
        expires_in=token.expires_in,
        user=await user_service.to_me(session, cipher, user),
    )


@router.post(
    "/auth/bind-phone",
    response_model=BoundUserOut,
    responses={
        409: {
            "model": PhoneChoicesProblem,
            "content": {PROBLEM_JSON: {}},
            "description": "`phone_already_bound`: the phone's entry is bound to another "
            "WeChat account; `account_already_bound`: this account is bound already (also "
            "the loser of two binds from one account at once); `phone_on_several_rosters`: "
            "the phone is on several rosters, `choices` lists `{user_id, community_name}` "
            "and the next bind names one as `user_id` (with a new code)",
        }
    },
)
async def bind_phone(
    data: BindPhoneIn,
    session: SessionDep,
    caller: CurrentCaller,
    settings: SettingsDep,
    wechat: WeChatDep,
    cipher: CipherDep,
) -> BoundUserOut:
    """用 getPhoneNumber 的 code 把当前微信账号绑定到花名册中同手机号的人员。

    绑定后登录时的令牌继续有效，代表这位花名册人员；响应中另有一个新令牌。
    """
    user = await service.bind_phone(
        session,
        gateway=wechat,
        cipher=cipher,
        account=caller.user,
        code=data.code,
        user_id=data.user_id,
    )
    assert user.id is not None
    token = issue_access_token(settings, user.id, user.token_version)
    me = await user_service.to_me(session, cipher, user)
    return BoundUserOut(
        **me.model_dump(), access_token=token.access_token, expires_in=token.expires_in
    )


@router.post("/auth/logout-all", status_code=204, response_class=Response)
async def logout_all(caller: CurrentCaller, session: SessionDep) -> Response:
    """在所有设备上退出：本人此前拿到的每个令牌（含绑定前登录时的令牌）和工作台链接立即失效。

    之后用同一令牌（包括带同一 Idempotency-Key 的重发）得到 401；重新 wx.login 即可。
    """
    await end_tokens(session, caller.id)
    return Response(status_code=204)


@router.get("/me", response_model=MePublic)
async def get_me(caller: CurrentCaller, session: SessionDep, cipher: CipherDep) -> MePublic:
    """当前登录的人；只有本人能看到完整手机号。"""
    return await user_service.to_me(session, cipher, caller.user)
