"""A stand-in for the WeChat server API, spoken over real HTTP.

Tests serve it on 127.0.0.1 and point WECHAT_API_BASE at it; `make run` mounts it
under /dev/wechat/ so the demo can log in without a mini-program. The settings
refuse it when APP_ENV=prod.

Codes: `wx.login` codes name the openid (`demo-member` or `demo-member#2`, the part
before "#"); `getPhoneNumber` codes name the phone (`13800138000#1`). Codes that
start with "invalid" answer 40029; a code used twice answers 40163 when reuse is
rejected (always in tests).

Content checks (`msg_sec_check`) pass unless the title or text contains a marker
word of `content_verdicts` (e.g. {"赌博": "risky"}): the first one found decides.
Openids that start with "unknown" answer 40003.

Image checks (`media_check_async`) are recorded in `media_checks` with the trace id
answered; the verdict is pushed by the test itself (`media_check_push`, signed with
`signed_push` as WeChat signs pushes to our callback).
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import xmltodict
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import WeChatSigner

_PHONE_RE = re.compile(r"^1[3-9]\d{9}$")
# The characters WeChat allows in a mini-program code's scene.
_SCENE_RE = re.compile(r"^[0-9A-Za-z!#$&'()*+,/:;=?@\-._~]+$")
ONE_PIXEL_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


@dataclass
class StubState:
    appid: str
    secret: str
    reject_reused_codes: bool = True
    used_codes: set[str] = field(default_factory=set)
    token: str | None = None
    token_counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    # errcode to answer on the next calls of a path, for failure tests.
    forced_errors: dict[str, list[int]] = field(default_factory=dict)
    # marker word -> msg_sec_check suggest ("review" or "risky") for texts containing it.
    content_verdicts: dict[str, str] = field(default_factory=dict)
    # media_check_async submissions: {trace_id, media_url, media_type, scene, openid}.
    media_checks: list[dict[str, Any]] = field(default_factory=list)
    # Subscribe messages WeChat accepted: {touser, template_id, page, data}.
    subscribe_sends: list[dict[str, Any]] = field(default_factory=list)

    def count(self, path: str) -> int:
        return sum(1 for p, _ in self.calls if p == path)

    def reset(self) -> None:
        self.used_codes.clear()
        self.calls.clear()
        self.forced_errors.clear()
        self.content_verdicts.clear()
        self.media_checks.clear()
        self.subscribe_sends.clear()
        self.token = None


# Subscribe-message keyword rules: the longest value of each kind (characters).
_SUBSCRIBE_LIMITS = {"thing": 20, "phrase": 5, "name": 10, "character_string": 32, "number": 32}
_HAN_RE = re.compile(r"^[\u4e00-\u9fff]+$")


def _subscribe_value_ok(key: str, value: Any) -> bool:
    if not isinstance(value, str) or not value or "\n" in value:
        return False
    kind = key.rstrip("0123456789")
    if kind == "phrase" and not _HAN_RE.match(value):
        return False
    return len(value) <= _SUBSCRIBE_LIMITS.get(kind, 20)


def _err(code: int, msg: str) -> JSONResponse:
    return JSONResponse({"errcode": code, "errmsg": msg})


def create_stub_app(state: StubState) -> Starlette:
    def forced(path: str) -> JSONResponse | None:
        queue = state.forced_errors.get(path)
        if queue:
            return _err(queue.pop(0), "forced by test")
        return None

    def use_code(code: str) -> JSONResponse | None:
        if not code or code.startswith("invalid"):
            return _err(40029, "invalid code")
        if state.reject_reused_codes and code in state.used_codes:
            return _err(40163, "code been used")
        state.used_codes.add(code)
        return None

    async def jscode2session(request: Request) -> JSONResponse:
        params = dict(request.query_params)
        state.calls.append(("sns/jscode2session", params))
        if (resp := forced("sns/jscode2session")) is not None:
            return resp
        if params.get("appid") != state.appid or params.get("secret") != state.secret:
            return _err(40125, "invalid appsecret")
        if "access_token" in params:
            return _err(40097, "jscode2session takes no access_token")
        code = params.get("js_code", "")
        if (resp := use_code(code)) is not None:
            return resp
        openid = code.split("#", 1)[0]
        return JSONResponse({"openid": openid, "session_key": "c3R1Yi1zZXNzaW9uLWtleQ=="})

    async def stable_token(request: Request) -> JSONResponse:
        body = await request.json()
        state.calls.append(("cgi-bin/stable_token", body))
        if (resp := forced("cgi-bin/stable_token")) is not None:
            return resp
        if body.get("appid") != state.appid or body.get("secret") != state.secret:
            return _err(40125, "invalid appsecret")
        if state.token is None or body.get("force_refresh"):
            state.token = f"stub-token-{next(state.token_counter)}"
        return JSONResponse({"access_token": state.token, "expires_in": 7200})

    async def phone_number(request: Request) -> JSONResponse:
        body = await request.json()
        token = request.query_params.get("access_token")
        state.calls.append(("wxa/business/getuserphonenumber", {**body, "access_token": token}))
        if (resp := forced("wxa/business/getuserphonenumber")) is not None:
            return resp
        if not token or token != state.token:
            return _err(40001, "invalid credential, access_token is invalid or not latest")
        code = str(body.get("code", ""))
        if (resp := use_code(code)) is not None:
            return resp
        phone = code.split("#", 1)[0]
        if not _PHONE_RE.match(phone):
            return _err(40029, "invalid code")
        return JSONResponse(
            {
                "errcode": 0,
                "errmsg": "ok",
                "phone_info": {
                    "phoneNumber": phone,
                    "purePhoneNumber": phone,
                    "countryCode": "86",
                    "watermark": {"timestamp": 0, "appid": state.appid},
                },
            }
        )

    async def msg_sec_check(request: Request) -> JSONResponse:
        body = await request.json()
        token = request.query_params.get("access_token")
        state.calls.append(("wxa/msg_sec_check", {**body, "access_token": token}))
        if (resp := forced("wxa/msg_sec_check")) is not None:
            return resp
        if not token or token != state.token:
            return _err(40001, "invalid credential, access_token is invalid or not latest")
        if body.get("version") != 2 or body.get("scene") not in (1, 2, 3, 4):
            return _err(47001, "data format error")
        openid = str(body.get("openid") or "")
        if not openid or openid.startswith("unknown"):
            return _err(40003, "invalid openid")
        text = f"{body.get('title') or ''}\n{body.get('content') or ''}"
        suggest = next((v for k, v in state.content_verdicts.items() if k in text), "pass")
        label = 100 if suggest == "pass" else 20006
        return JSONResponse(
            {
                "errcode": 0,
                "errmsg": "ok",
                "result": {"suggest": suggest, "label": label},
                "detail": [{"strategy": "content_model", "errcode": 0, "suggest": suggest}],
                "trace_id": f"stub-{len(state.calls)}",
            }
        )

    # --- subscribe messages ------------------------------------------------------------
    # Every accepted send is kept in `subscribe_sends`; `forced_errors` makes the next
    # sends answer an errcode (43101 no grant, -1 busy). Openids that start with
    # "unknown" answer 40003; a value that breaks its keyword's rule answers 47003.

    async def subscribe_send(request: Request) -> JSONResponse:
        body = await request.json()
        token = request.query_params.get("access_token")
        state.calls.append(("cgi-bin/message/subscribe/send", {**body, "access_token": token}))
        if (resp := forced("cgi-bin/message/subscribe/send")) is not None:
            return resp
        if not token or token != state.token:
            return _err(40001, "invalid credential, access_token is invalid or not latest")
        touser = str(body.get("touser") or "")
        if not touser or touser.startswith("unknown"):
            return _err(40003, "invalid openid")
        if not body.get("template_id"):
            return _err(40037, "invalid template_id")
        data = body.get("data")
        if not isinstance(data, dict) or not data:
            return _err(47003, "argument invalid! data is empty")
        for key, item in data.items():
            value = item.get("value") if isinstance(item, dict) else None
            if not _subscribe_value_ok(str(key), value):
                return _err(47003, f"argument invalid! data.{key}.value invalid")
        state.subscribe_sends.append(
            {
                "touser": touser,
                "template_id": body["template_id"],
                "page": body.get("page"),
                "data": {k: v["value"] for k, v in data.items()},
            }
        )
        return JSONResponse({"errcode": 0, "errmsg": "ok", "msgid": len(state.calls)})

    # --- mini-program codes -----------------------------------------------------------
    # getwxacodeunlimit answers an image (a 1×1 PNG here) whose `scene` is kept in
    # `calls`; as WeChat, it refuses scenes over 32 characters and bad ones with JSON.

    async def wxacode_unlimited(request: Request) -> Response:
        body = await request.json()
        token = request.query_params.get("access_token")
        state.calls.append(("wxa/getwxacodeunlimit", {**body, "access_token": token}))
        if (resp := forced("wxa/getwxacodeunlimit")) is not None:
            return resp
        if not token or token != state.token:
            return _err(40001, "invalid credential, access_token is invalid or not latest")
        scene = str(body.get("scene") or "")
        if not scene or len(scene) > 32 or not _SCENE_RE.match(scene):
            return _err(40169, "invalid length for scene, or the data is not json string")
        if body.get("env_version", "release") not in ("release", "trial", "develop"):
            return _err(40097, "invalid args")
        return Response(ONE_PIXEL_PNG, media_type="image/png")

    # --- image checks ---------------------------------------------------------------------

    async def media_check_async(request: Request) -> JSONResponse:
        body = await request.json()
        token = request.query_params.get("access_token")
        state.calls.append(("wxa/media_check_async", {**body, "access_token": token}))
        if (resp := forced("wxa/media_check_async")) is not None:
            return resp
        if not token or token != state.token:
            return _err(40001, "invalid credential, access_token is invalid or not latest")
        if (
            body.get("version") != 2
            or body.get("media_type") not in (1, 2)
            or body.get("scene") not in (1, 2, 3, 4)
            or not str(body.get("media_url") or "").startswith(("http://", "https://"))
        ):
            return _err(47001, "data format error")
        openid = str(body.get("openid") or "")
        if not openid or openid.startswith("unknown"):
            return _err(40003, "invalid openid")
        trace_id = f"stub-trace-{len(state.calls)}-{secrets.token_hex(4)}"
        state.media_checks.append(
            {
                "trace_id": trace_id,
                "media_url": body["media_url"],
                "media_type": body["media_type"],
                "scene": body["scene"],
                "openid": openid,
            }
        )
        return JSONResponse({"errcode": 0, "errmsg": "ok", "trace_id": trace_id})

    return Starlette(
        routes=[
            Route("/wxa/media_check_async", media_check_async, methods=["POST"]),
            Route("/cgi-bin/message/subscribe/send", subscribe_send, methods=["POST"]),
            Route("/sns/jscode2session", jscode2session, methods=["GET"]),
            Route("/cgi-bin/stable_token", stable_token, methods=["POST"]),
            Route("/wxa/business/getuserphonenumber", phone_number, methods=["POST"]),
            Route("/wxa/msg_sec_check", msg_sec_check, methods=["POST"]),
            Route("/wxa/getwxacodeunlimit", wxacode_unlimited, methods=["POST"]),
        ]
    )


# --- pushes to our callback (消息推送) -----------------------------------------------------


def media_check_push(
    *, appid: str, trace_id: str, suggest: str | None, errcode: int = 0
) -> dict[str, Any]:
    """A `wxa_media_check` event of version 2 as WeChat pushes it; `suggest` None is a
    check WeChat could not make (errcode set, no result)."""
    message: dict[str, Any] = {
        "ToUserName": "gh_0123456789ab",
        "FromUserName": "o-platform-push",
        "CreateTime": int(time.time()),
        "MsgType": "event",
        "Event": "wxa_media_check",
        "appid": appid,
        "trace_id": trace_id,
        "version": 2,
        "errcode": errcode,
        "errmsg": "ok" if errcode == 0 else "media download failed",
    }
    if suggest is not None:
        label = 100 if suggest == "pass" else 20002
        message["result"] = {"suggest": suggest, "label": label}
        message["detail"] = [{"strategy": "content_model", "errcode": 0, "suggest": suggest}]
    return message


def signed_push(
    message: dict[str, Any],
    *,
    token: str,
    fmt: str = "json",
    aes_key: str | None = None,
    appid: str = "",
    timestamp: int | None = None,
    nonce: str | None = None,
) -> tuple[dict[str, str], bytes, str]:
    """(query, body, content type) of a push of `message` in format `fmt` ("json" or
    "xml"), signed with `token` as WeChat does: plaintext mode, or safe mode when
    `aes_key` (the EncodingAESKey) is given, encrypted for `appid` with wechatpy."""
    stamp = str(timestamp if timestamp is not None else int(time.time()))
    nonce = nonce or secrets.token_hex(8)
    signer = WeChatSigner()
    signer.add_data(token, stamp, nonce)
    query = {"signature": signer.signature, "timestamp": stamp, "nonce": nonce}
    if fmt == "json":
        plain = json.dumps(message, ensure_ascii=False)
        content_type = "application/json"
    else:
        plain = xmltodict.unparse({"xml": message}, full_document=False)
        content_type = "text/xml"
    if aes_key is None:
        return query, plain.encode(), content_type
    envelope = xmltodict.parse(
        WeChatCrypto(token, aes_key, appid).encrypt_message(plain, nonce, stamp)
    )["xml"]
    query.update(encrypt_type="aes", msg_signature=envelope["MsgSignature"])
    outer = {"ToUserName": message.get("ToUserName", ""), "Encrypt": envelope["Encrypt"]}
    if fmt == "json":
        return query, json.dumps(outer).encode(), content_type
    return query, xmltodict.unparse({"xml": outer}, full_document=False).encode(), content_type
