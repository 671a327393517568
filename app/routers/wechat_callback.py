"""WeChat's message push (消息推送): called by WeChat's servers, never by a person.

No login: a request is believed only when signed with the Token we share with WeChat
(app/core/wechat_push.py); anything else is 403 `invalid_signature` and changes
nothing. What WeChat pushes here today is the verdict of image checks.
"""

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse

from app.core.db import utcnow
from app.core.errors import PROBLEM_JSON
from app.core.wechat_push import decode_push, verify_url
from app.edge.route import AppRoute
from app.models.common import QueryText
from app.routers.deps import SessionDep, SettingsDep
from app.services import content_check


def _problem(schema: str, description: str) -> dict[str, object]:
    # Spelled out: with a plain-text route, FastAPI would file a `model` under text/plain.
    ref = {"$ref": f"#/components/schemas/{schema}"}
    return {"content": {PROBLEM_JSON: {"schema": ref}}, "description": description}


router = APIRouter(
    tags=["wechat_callback"],
    route_class=AppRoute,
    responses={
        403: _problem("Problem", "Not signed by WeChat with our Token (`invalid_signature`)"),
        422: _problem("ValidationProblem", "A parameter too long (`validation_error`)"),
    },
)

PATH = "/wechat/callback"

# Missing parameters are refused like wrong ones (403), not as malformed requests.
Signature = Annotated[QueryText, Query(max_length=128)]
Stamp = Annotated[QueryText, Query(max_length=20)]
Nonce = Annotated[QueryText, Query(max_length=64)]

_TEXT: dict[int | str, dict[str, object]] = {
    200: {"content": {"text/plain": {"schema": {"type": "string"}}}},
}
_PUSH_RESPONSES: dict[int | str, dict[str, object]] = {
    **_TEXT,
    400: _problem("Problem", "Signed, but not a message we can read (`invalid_push`)"),
}


@router.get(PATH, response_class=PlainTextResponse, responses=_TEXT)
async def verify_wechat_callback(
    settings: SettingsDep,
    signature: Signature = "",
    timestamp: Stamp = "",
    nonce: Nonce = "",
    echostr: Annotated[QueryText, Query(max_length=128)] = "",
) -> PlainTextResponse:
    """微信配置消息推送时的服务器地址校验：签名正确则原样返回 `echostr`，否则 403
    `invalid_signature`。由微信服务器调用，无需登录。"""
    verify_url(settings, signature=signature, timestamp=timestamp, nonce=nonce, now=utcnow())
    return PlainTextResponse(echostr)


@router.post(
    PATH,
    response_class=PlainTextResponse,
    responses=_PUSH_RESPONSES,
    openapi_extra={
        "requestBody": {
            "description": "微信推送的消息（JSON 或 XML；安全模式下为加密包）",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
async def receive_wechat_push(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    signature: Signature = "",
    timestamp: Stamp = "",
    nonce: Nonce = "",
    encrypt_type: Annotated[QueryText, Query(max_length=10)] = "",
    msg_signature: Signature = "",
) -> PlainTextResponse:
    """接收微信推送（明文或安全模式，JSON 或 XML），如图片安全检测结果 `wxa_media_check`：
    结果为 pass 的照片从此对他人可见。签名不对为 403 `invalid_signature`，什么也不改变；
    重复推送和未知的 trace_id 照常应答 `success`。由微信服务器调用，无需登录。"""
    now = utcnow()
    message = decode_push(
        settings,
        body=await request.body(),
        params={
            "signature": signature,
            "timestamp": timestamp,
            "nonce": nonce,
            "encrypt_type": encrypt_type,
            "msg_signature": msg_signature,
        },
        now=now,
    )
    await content_check.handle_push(session, message=message, now=now)
    return PlainTextResponse("success")
