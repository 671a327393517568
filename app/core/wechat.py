"""The WeChat mini-program server API, through wechatpy, under WECHAT_API_BASE.

wechatpy's client is synchronous (requests), so every call runs in a worker thread.
Three things of wechatpy 1.8.18 are worked around here:
- `wxa.code_to_session` goes through `_request`, which attaches (and so first
  fetches) an access token that jscode2session does not take; we call it bare.
- `auto_retry` re-requests without bound while WeChat keeps answering 40001; it is
  off, and we retry once ourselves after dropping the token.
- tokens come from `cgi-bin/token`, where each fetch invalidates the previous token
  of every other worker; we use `cgi-bin/stable_token`, shared through Redis when
  REDIS_URL is set.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
import requests
from wechatpy.client import WeChatClient
from wechatpy.exceptions import WeChatClientException
from wechatpy.session.memorystorage import MemoryStorage
from wechatpy.session.redisstorage import RedisStorage

from app.core.config import Settings
from app.core.errors import ServiceUnavailable, Unauthorized

logger = logging.getLogger("app.wechat")

# errcodes that mean "the access token is bad", after which one refetch is worth it.
TOKEN_ERRCODES = frozenset({40001, 40014, 42001})
# errcodes that mean WeChat itself is struggling, not that the code is bad.
TRANSIENT_ERRCODES = frozenset({-1, 45009, 45011})
# Refresh a token this long before WeChat says it expires.
TOKEN_MARGIN_S = 300
# msg_sec_check errcodes about the user, not the service: the openid is unknown to
# this app (40003) or the user has not opened the mini-program lately (61010).
UNCHECKABLE_USER_ERRCODES = frozenset({40003, 61010})
# Content-check scenes: 2 comments (short notes on someone's record), 3 forum posts
# (the closest to a publicity article or a wish posted for the whole district).
SCENE_COMMENT = 2
SCENE_FORUM = 3
# media_check_async media_type of an image (1 is audio).
MEDIA_TYPE_IMAGE = 2
# The longest text one msg_sec_check call takes (characters).
MSG_SEC_CHECK_MAX_CHARS = 2500


@dataclass(frozen=True)
class WeChatSession:
    openid: str
    unionid: str | None


class MiniProgramClient(WeChatClient):
    def __init__(self, settings: Settings, storage: Any):
        super().__init__(
            settings.wechat_appid,
            settings.wechat_secret,
            session=storage,
            timeout=settings.wechat_timeout_s,
            auto_retry=False,
        )
        base = settings.wechat_api_base.rstrip("/") + "/"
        self.api_base = base
        self.API_BASE_URL = base + "cgi-bin/"

    def fetch_access_token(self) -> dict[str, Any]:
        res = self._http.post(
            self.api_base + "cgi-bin/stable_token",
            json={
                "grant_type": "client_credential",
                "appid": self.appid,
                "secret": self.secret,
                "force_refresh": False,
            },
            timeout=self.timeout,
        )
        result: dict[str, Any] = self._handle_result(res)
        expires_in = int(result.get("expires_in", 7200))
        self.session.set(
            self.access_token_key, result["access_token"], max(expires_in - TOKEN_MARGIN_S, 60)
        )
        # Our own expiry bookkeeping is the storage TTL; wechatpy's would make a
        # worker refetch tokens another worker already stored in Redis.
        self.expires_at = None
        return result

    @property
    def access_token(self) -> str:
        token = self.session.get(self.access_token_key)
        if token:
            return str(token)
        self.fetch_access_token()
        return str(self.session.get(self.access_token_key))

    def jscode2session(self, js_code: str) -> dict[str, Any]:
        res = self._http.get(
            self.api_base + "sns/jscode2session",
            params={
                "appid": self.appid,
                "secret": self.secret,
                "js_code": js_code,
                "grant_type": "authorization_code",
            },
            timeout=self.timeout,
        )
        res.raise_for_status()
        result: dict[str, Any] = self._handle_result(res)
        return result

    def with_token_retry(self, method: str, endpoint: str, **kwargs: Any) -> dict[str, Any]:
        try:
            return dict(self._request(method, endpoint, api_base_url=self.api_base, **kwargs))
        except WeChatClientException as exc:
            if exc.errcode not in TOKEN_ERRCODES:
                raise
        self.session.delete(self.access_token_key)
        kwargs.get("params", {}).pop("access_token", None)
        return dict(self._request(method, endpoint, api_base_url=self.api_base, **kwargs))

    def wxacode_unlimited(self, payload: dict[str, Any]) -> bytes:
        """getwxacodeunlimit answers the image itself, or JSON with an errcode; its
        bytes are no dict for `with_token_retry`, so the one token retry is here."""
        for attempt in (1, 2):
            try:
                # wechatpy encodes `data` in place and adds the token to `params`:
                # fresh copies for each attempt.
                res = self._request(
                    "post",
                    "wxa/getwxacodeunlimit",
                    api_base_url=self.api_base,
                    params={},
                    data=dict(payload),
                )
            except WeChatClientException as exc:
                if exc.errcode not in TOKEN_ERRCODES or attempt == 2:
                    raise
                self.session.delete(self.access_token_key)
                continue
            if isinstance(res, requests.Response) and res.content:
                return bytes(res.content)
            # JSON without an errcode (or an empty body): no image came.
            raise WeChatClientException(-1, "no image", client=self)
        raise AssertionError("unreachable")


class WeChatGateway:
    """What the service asks of WeChat, as async calls with our errors."""

    def __init__(self, settings: Settings):
        self.settings = settings
        storage: Any
        if settings.redis_url:
            import redis

            storage = RedisStorage(
                redis.Redis.from_url(settings.redis_url, socket_timeout=2),
                prefix=f"chuangwen:wechat:{settings.wechat_appid}",
            )
        else:
            storage = MemoryStorage()
        self.client = MiniProgramClient(settings, storage)

    def _require_configured(self) -> None:
        if not (self.settings.wechat_appid and self.settings.wechat_secret):
            raise ServiceUnavailable("wechat_not_configured", "服务器未配置微信小程序参数")

    async def code_to_session(self, code: str) -> WeChatSession:
        self._require_configured()
        result = await self._call(self.client.jscode2session, code)
        openid = result.get("openid")
        if not openid:
            raise Unauthorized("wechat_login_failed", "微信登录失败，请重试")
        return WeChatSession(openid=str(openid), unionid=result.get("unionid"))

    async def phone_number(self, code: str) -> str:
        self._require_configured()
        result = await self._call(
            self.client.with_token_retry,
            "post",
            "wxa/business/getuserphonenumber",
            data={"code": code},
        )
        info = result.get("phone_info") or {}
        phone = info.get("purePhoneNumber")
        if not phone:
            raise Unauthorized("wechat_login_failed", "未能获取手机号，请重试")
        if info.get("countryCode") not in (None, "86", 86):
            raise Unauthorized("wechat_login_failed", "仅支持中国大陆手机号")
        return str(phone)

    async def msg_sec_check(
        self, *, openid: str, title: str, content: str, scene: int = SCENE_FORUM
    ) -> str | None:
        """The text security check (msg_sec_check version 2): WeChat's suggestion
        "pass", "review" or "risky", or None when WeChat will not check texts of this
        user. Long texts go in pieces of the most WeChat takes; the worst piece
        decides. Neither text nor openid is ever logged; WeChat unreachable or busy
        is 503 `wechat_unavailable`."""
        self._require_configured()
        worst = "pass"
        for start in range(0, max(len(content), 1), MSG_SEC_CHECK_MAX_CHARS):
            piece = content[start : start + MSG_SEC_CHECK_MAX_CHARS]
            suggest = await self._msg_sec_check_piece(
                openid=openid, title=title, content=piece, scene=scene
            )
            if suggest is None or suggest == "risky":
                return suggest
            if suggest == "review":
                worst = suggest
        return worst

    async def _msg_sec_check_piece(
        self, *, openid: str, title: str, content: str, scene: int
    ) -> str | None:
        payload = {
            "content": content,
            "version": 2,
            "scene": scene,
            "openid": openid,
            "title": title,
        }
        result = await self._call(self._msg_sec_check_request, payload)
        errcode = int(result.get("errcode") or 0)
        if errcode in UNCHECKABLE_USER_ERRCODES:
            logger.info("wechat would not check content for this user: errcode=%s", errcode)
            return None
        suggest = (result.get("result") or {}).get("suggest")
        if errcode or suggest not in ("pass", "review", "risky"):
            logger.warning("wechat content check failed: errcode=%s", errcode)
            raise ServiceUnavailable("wechat_unavailable", "微信内容检测暂时不可用，请稍后重试")
        return str(suggest)

    def _msg_sec_check_request(self, payload: dict[str, Any]) -> dict[str, Any]:
        # `_call` reads any lasting errcode as a rejected login code; for a content
        # check it means the check could not be made, which the caller decides on.
        try:
            return self.client.with_token_retry("post", "wxa/msg_sec_check", data=payload)
        except WeChatClientException as exc:
            if exc.errcode is None or exc.errcode in TRANSIENT_ERRCODES:
                raise
            return {"errcode": exc.errcode}

    async def _call(self, fn: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        started = time.monotonic()
        try:
            result: dict[str, Any] = await anyio.to_thread.run_sync(lambda: fn(*args, **kwargs))
            return result
        except WeChatClientException as exc:
            if exc.errcode is None or exc.errcode in TRANSIENT_ERRCODES:
                logger.warning("wechat unavailable: errcode=%s", exc.errcode)
                raise ServiceUnavailable(
                    "wechat_unavailable", "微信服务暂时不可用，请稍后重试"
                ) from exc
            # 40029 invalid code, 40163 code already used, 40226 risky user, ...
            logger.info("wechat rejected a code: errcode=%s", exc.errcode)
            raise Unauthorized("wechat_login_failed", "微信登录失败，请重新进入小程序") from exc
        except requests.RequestException as exc:
            logger.warning(
                "wechat unreachable after %.1fs: %s", time.monotonic() - started, type(exc).__name__
            )
            raise ServiceUnavailable(
                "wechat_unavailable", "微信服务暂时不可用，请稍后重试"
            ) from exc

    # --- mini-program codes (wxa/getwxacodeunlimit) ---------------------------------------

    async def console_login_code(self, scene: str) -> bytes:
        """The mini-program code (an image, JPEG or PNG) that opens the console login
        page with `scene`: the admin scans it and confirms. WeChat unreachable or
        refusing is 503 `wechat_unavailable`; the scene is never logged."""
        self._require_configured()
        env_version = {"formal": "release", "trial": "trial", "developer": "develop"}[
            self.settings.wechat_subscribe_state
        ]
        payload = {
            "scene": scene,
            "page": self.settings.wechat_console_login_page,
            # An unpublished page (trial and developer builds) would be refused.
            "check_path": env_version == "release",
            "env_version": env_version,
            "width": 280,
        }
        try:
            return await anyio.to_thread.run_sync(self.client.wxacode_unlimited, payload)
        except (WeChatClientException, requests.RequestException) as exc:
            logger.warning(
                "wechat gave no mini-program code: errcode=%s",
                getattr(exc, "errcode", type(exc).__name__),
            )
            raise ServiceUnavailable(
                "wechat_unavailable", "微信小程序码暂时无法生成，请稍后重试"
            ) from exc

    # --- image checks (media_check_async v2) ----------------------------------------

    async def media_check_async(
        self, *, openid: str, media_url: str, scene: int = SCENE_FORUM
    ) -> str | None:
        """Hand an image to WeChat's asynchronous check (media_check_async version 2):
        WeChat fetches `media_url` and later pushes its verdict as a `wxa_media_check`
        event naming the trace id returned here. None when WeChat will not check for
        this user (as for msg_sec_check). Neither URL nor openid is ever logged;
        WeChat unreachable or busy is 503 `wechat_unavailable`."""
        self._require_configured()
        payload = {
            "media_url": media_url,
            "media_type": MEDIA_TYPE_IMAGE,
            "version": 2,
            "scene": scene,
            "openid": openid,
        }
        result = await self._call(self._media_check_request, payload)
        errcode = int(result.get("errcode") or 0)
        if errcode in UNCHECKABLE_USER_ERRCODES:
            logger.info("wechat would not check images for this user: errcode=%s", errcode)
            return None
        trace_id = result.get("trace_id")
        if errcode or not trace_id:
            logger.warning("wechat image check not accepted: errcode=%s", errcode)
            raise ServiceUnavailable("wechat_unavailable", "微信图片检测暂时不可用，请稍后重试")
        return str(trace_id)

    def _media_check_request(self, payload: dict[str, Any]) -> dict[str, Any]:
        # As for msg_sec_check: a lasting errcode means "not checked", not a bad login.
        try:
            return self.client.with_token_retry("post", "wxa/media_check_async", data=payload)
        except WeChatClientException as exc:
            if exc.errcode is None or exc.errcode in TRANSIENT_ERRCODES:
                raise
            return {"errcode": exc.errcode}

    # --- subscribe messages (cgi-bin/message/subscribe/send) -------------------------

    async def send_subscribe_message(
        self,
        *,
        openid: str,
        template_id: str,
        data: dict[str, str],
        page: str | None = None,
    ) -> int:
        """Send one subscribe message: 0 when WeChat took it, else WeChat's errcode
        when it refused for good (43101 the user allows no more sends of this
        template, 40003 unknown openid, 47003 bad data, 40037 unknown template...).
        WeChat unreachable or busy (-1, 45009, HTTP errors) is 503
        `wechat_unavailable`: worth retrying. The openid and texts are never logged."""
        self._require_configured()
        payload: dict[str, Any] = {
            "touser": openid,
            "template_id": template_id,
            "data": {key: {"value": value} for key, value in data.items()},
            "miniprogram_state": self.settings.wechat_subscribe_state,
            "lang": "zh_CN",
        }
        if page:
            payload["page"] = page
        result = await self._call(self._subscribe_send_request, payload)
        errcode = int(result.get("errcode") or 0)
        if errcode:
            logger.info("wechat refused a subscribe message: errcode=%s", errcode)
        return errcode

    def _subscribe_send_request(self, payload: dict[str, Any]) -> dict[str, Any]:
        # As for msg_sec_check: a lasting errcode is the send's outcome, not a bad login.
        try:
            return self.client.with_token_retry(
                "post", "cgi-bin/message/subscribe/send", data=payload
            )
        except WeChatClientException as exc:
            if exc.errcode is None or exc.errcode in TRANSIENT_ERRCODES:
                raise
            return {"errcode": exc.errcode}
