import base64
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, Field

from app.core.errors import PROBLEM_JSON, PROBLEM_RESPONSES, Problem
from app.core.scope import end_tokens
from app.core.security import issue_access_token
from app.edge import admission
from app.edge.route import AppRoute
from app.models.common import StrictInput
from app.models.console import ConsoleTicketOut, ConsoleTicketState
from app.models.user import MAX_ID, MePublic, RosterChoice
from app.routers import console
from app.routers.deps import CipherDep, CurrentCaller, SessionDep, SettingsDep, WeChatDep
from app.services import auth as service
from app.services import console_login
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


# --- the PC console's login (app/services/console_login.py) ----------------------------

TicketPath = Annotated[
    str, Path(min_length=16, max_length=64, pattern=r"^[A-Za-z0-9_-]+$", description="登录凭证")
]


@router.post("/auth/console-login", response_model=ConsoleTicketOut)
async def create_console_login(
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    wechat: WeChatDep,
) -> ConsoleTicketOut:
    """电脑端工作台扫码登录第一步：一次性凭证（2 分钟）及其小程序码（scene 即凭证）。

    同时设置只属于本浏览器的 HttpOnly Cookie：只有这个浏览器能凭该凭证取得会话。
    """
    client = request.client.host if request.client else "unknown"
    await request.app.state.ratelimiter.hit_per_minute(
        f"login:{client}", settings.login_rate_per_minute
    )
    new = await console_login.create_ticket(session, gateway=wechat)
    console.set_login_cookie(response, new.browser_secret, console_login.TICKET_TTL_S + 30)
    kind = "image/png" if new.code_image.startswith(b"\x89PNG") else "image/jpeg"
    return ConsoleTicketOut(
        ticket=new.ticket,
        expires_in=console_login.TICKET_TTL_S,
        expires_at=new.expires_at,
        code_image=f"data:{kind};base64,{base64.b64encode(new.code_image).decode()}",
    )


@router.post("/auth/console-login/{ticket}/confirm", status_code=204, response_class=Response)
async def confirm_console_login(
    ticket: TicketPath, caller: CurrentCaller, session: SessionDep
) -> Response:
    """管理员在小程序中扫码后确认登录电脑端工作台（使用本人的访问令牌）。

    非管理员 403；凭证过期或不存在 404 `console_ticket_expired`；
    已被确认过 409 `console_ticket_used`。
    """
    await console_login.confirm_ticket(session, caller=caller, ticket=ticket)
    return Response(status_code=204)


@router.get("/auth/console-login/{ticket}", response_model=ConsoleTicketState)
@admission.writes_on_read  # a confirmed ticket becomes the session here
async def poll_console_login(
    ticket: TicketPath, request: Request, response: Response, session: SessionDep
) -> ConsoleTicketState:
    """电脑页面轮询凭证：确认前为 pending；确认后为 confirmed，并设置会话 Cookie。

    Cookie 为 HttpOnly、Secure、SameSite=Strict。只有申请该凭证的浏览器能取得会话，
    且只能取得一次；过期、已用过或不属于本浏览器为 404 `console_ticket_expired`。
    """
    raw = await console_login.collect_session(
        session, ticket=ticket, browser_secret=request.cookies.get(console.LOGIN_COOKIE)
    )
    if raw is None:
        return ConsoleTicketState(status="pending")
    console.set_session_cookie(response, raw)
    console.forget_cookie(response, console.LOGIN_COOKIE)
    return ConsoleTicketState(status="confirmed")


@router.get("/me", response_model=MePublic)
async def get_me(caller: CurrentCaller, cipher: CipherDep) -> MePublic:
    """当前登录的人；只有本人能看到完整手机号。"""
    return user_service.me_of_caller(cipher, caller)
