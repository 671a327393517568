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
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

_PHONE_RE = re.compile(r"^1[3-9]\d{9}$")


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

    def count(self, path: str) -> int:
        return sum(1 for p, _ in self.calls if p == path)

    def reset(self) -> None:
        self.used_codes.clear()
        self.calls.clear()
        self.forced_errors.clear()
        self.content_verdicts.clear()
        self.token = None


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

    return Starlette(
        routes=[
            Route("/sns/jscode2session", jscode2session, methods=["GET"]),
            Route("/cgi-bin/stable_token", stable_token, methods=["POST"]),
            Route("/wxa/business/getuserphonenumber", phone_number, methods=["POST"]),
            Route("/wxa/msg_sec_check", msg_sec_check, methods=["POST"]),
        ]
    )
