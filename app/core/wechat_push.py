"""WeChat's message push (消息推送) to our callback: is it WeChat, and what does it say.

The mini-program's console sets the URL, a Token (WECHAT_CALLBACK_TOKEN), the body
format (JSON or XML) and the mode:
- URL verification (GET) and plaintext mode (POST) sign with `signature` = SHA-1 of
  the sorted Token, `timestamp` and `nonce`. That signature covers neither the body
  nor more than the time, so one seen once could carry another body: requests whose
  timestamp is further than PUSH_MAX_SKEW_S from our clock are refused, which bounds
  the replay to minutes. Safe mode closes it.
- Safe mode (`encrypt_type=aes`; WECHAT_CALLBACK_AES_KEY set) puts the message in
  `Encrypt`, which `msg_signature` covers; wechatpy checks that signature and
  decrypts with the EncodingAESKey (the plaintext names our appid, which it checks
  too). With the key set, plaintext pushes are refused.
Every refusal is 403 `invalid_signature` and changes nothing. Signatures are checked
by wechatpy (`check_signature`, `WeChatCrypto`), not by code of ours.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from xml.parsers.expat import ExpatError

import xmltodict
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.utils import check_signature

from app.core.config import Settings
from app.core.errors import BadRequest, Forbidden

logger = logging.getLogger("app.wechat.push")

PUSH_MAX_SKEW_S = 300


def _refused(why: str) -> Forbidden:
    # Why goes to the log for the operator; the sender learns nothing more.
    logger.warning("wechat push refused: %s", why)
    return Forbidden("invalid_signature", "消息签名校验失败")


def _token(settings: Settings) -> str:
    if not settings.wechat_callback_token:
        raise _refused("WECHAT_CALLBACK_TOKEN is not set")
    return settings.wechat_callback_token


def _check_time(timestamp: str, now: datetime) -> None:
    try:
        sent = int(timestamp)
    except ValueError:
        raise _refused("no timestamp") from None
    if abs(now.timestamp() - sent) > PUSH_MAX_SKEW_S:
        raise _refused("timestamp too far from our clock")


def _check_plain_signature(token: str, signature: str, timestamp: str, nonce: str) -> None:
    try:
        check_signature(token, signature, timestamp, nonce)
    except InvalidSignatureException:
        raise _refused("bad signature") from None


def verify_url(
    settings: Settings, *, signature: str, timestamp: str, nonce: str, now: datetime
) -> None:
    """WeChat's check of the URL (GET): raises 403 unless signed with our Token."""
    token = _token(settings)
    _check_time(timestamp, now)
    _check_plain_signature(token, signature, timestamp, nonce)


def _parse(body: bytes) -> dict[str, Any]:
    """A push body as a dict, from JSON or from XML (`<xml>...</xml>`)."""
    text = body.decode("utf-8").strip()
    data: Any
    if text.startswith("{"):
        data = json.loads(text)
    elif text.startswith("<"):
        # Entities stay unexpanded (no billion laughs, no external files).
        data = xmltodict.parse(text, disable_entities=True).get("xml")
    else:
        raise ValueError("neither JSON nor XML")
    if not isinstance(data, dict):
        raise ValueError("not an object")
    return data


def decode_push(
    settings: Settings, *, body: bytes, params: Mapping[str, str], now: datetime
) -> dict[str, Any]:
    """The message of a push (POST) once it is known to come from WeChat; 403
    `invalid_signature` otherwise, 400 `invalid_push` for a signed body we cannot read."""
    token = _token(settings)
    timestamp, nonce = params.get("timestamp", ""), params.get("nonce", "")
    _check_time(timestamp, now)
    aes_key = settings.wechat_callback_aes_key
    if not aes_key:
        _check_plain_signature(token, params.get("signature", ""), timestamp, nonce)
        try:
            return _parse(body)
        except (ValueError, ExpatError) as exc:
            raise BadRequest("invalid_push", "无法解析的推送消息") from exc
    if params.get("encrypt_type") != "aes":
        raise _refused("plaintext push while safe mode is configured")
    try:
        encrypted = _parse(body).get("Encrypt")
    except (ValueError, ExpatError):
        encrypted = None
    if not isinstance(encrypted, str):
        raise _refused("no Encrypt in a safe-mode push")
    crypto = WeChatCrypto(token, aes_key, settings.wechat_appid)
    try:
        plain = crypto.decrypt_message(
            {"Encrypt": encrypted}, params.get("msg_signature", ""), timestamp, nonce
        )
    except InvalidSignatureException:
        raise _refused("bad msg_signature") from None
    except InvalidAppIdException:
        raise _refused("encrypted for another appid") from None
    except Exception as exc:
        # Signed by someone holding the Token, yet not a message we can decrypt.
        raise BadRequest("invalid_push", "无法解析的推送消息") from exc
    try:
        return _parse(str(plain).encode())
    except (ValueError, ExpatError) as exc:
        raise BadRequest("invalid_push", "无法解析的推送消息") from exc
