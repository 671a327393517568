"""The security headers middleware gives every answer what the `secure` package's own
ASGI middleware gives it, header for header and in order (app.core.http.SecurityHeaders
encodes them once instead of on every answer)."""

from __future__ import annotations

import pytest
from secure import (
    ReferrerPolicy,
    Secure,
    StrictTransportSecurity,
    XContentTypeOptions,
    XFrameOptions,
)
from secure.middleware import SecureASGIMiddleware
from starlette.types import Message, Receive, Scope, Send

from app.core.config import Settings
from app.core.http import SecurityHeaders, _csp

ANSWERS = [
    [],
    [(b"content-type", b"application/json"), (b"content-length", b"12")],
    # A page with its own policy and referrer rule (the console, the dashboard page).
    [
        (b"cache-control", b"no-store"),
        (b"referrer-policy", b"no-referrer"),
        (b"content-security-policy", b"default-src 'none'"),
        (b"vary", b"Accept"),
    ],
    # Several of the replaced headers, some twice, in mixed case.
    [
        (b"X-Frame-Options", b"SAMEORIGIN"),
        (b"x-content-type-options", b"nosniff"),
        (b"a", b"1"),
        (b"x-frame-options", b"ALLOW"),
        (b"Strict-Transport-Security", b"max-age=1"),
        (b"b", b"2"),
        (b"referrer-policy", b"origin"),
    ],
]


def _secure() -> Secure:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    return Secure(
        csp=_csp(settings),
        hsts=StrictTransportSecurity().max_age(31536000).include_subdomains(),
        referrer=ReferrerPolicy().no_referrer(),
        xcto=XContentTypeOptions().nosniff(),
        xfo=XFrameOptions().deny(),
    )


async def _answered(middleware: type, headers: list[tuple[bytes, bytes]]) -> list[Message]:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": list(headers)})
        await send({"type": "http.response.body", "body": b"{}"})

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    await middleware(app, secure=_secure())({"type": "http"}, receive, send)
    return sent


@pytest.mark.parametrize("headers", ANSWERS)
async def test_the_headers_are_the_packages(headers):
    assert await _answered(SecurityHeaders, headers) == await _answered(
        SecureASGIMiddleware, headers
    )
