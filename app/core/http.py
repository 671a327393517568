"""Response headers set deliberately: security headers on everything, CORS only for
the origins configured."""

from __future__ import annotations

from fastapi import FastAPI
from secure import (
    ContentSecurityPolicy,
    ReferrerPolicy,
    Secure,
    StrictTransportSecurity,
    XContentTypeOptions,
    XFrameOptions,
)
from secure.middleware import SecureASGIMiddleware
from starlette.middleware.cors import CORSMiddleware

from app.core.config import Settings

# JSON needs no sources at all; /docs and /redoc load Swagger UI and ReDoc from
# jsDelivr with an inline bootstrap script, so those (and nothing else) are allowed.
_CDN = "https://cdn.jsdelivr.net"
_CSP = (
    ContentSecurityPolicy()
    .default_src("'self'")
    .script_src("'self'", "'unsafe-inline'", _CDN)
    .style_src("'self'", "'unsafe-inline'", _CDN)
    .img_src("'self'", "data:", "https://fastapi.tiangolo.com")
    .object_src("'none'")
    .frame_ancestors("'none'")
    .base_uri("'none'")
)


def install_http_headers(app: FastAPI, settings: Settings) -> None:
    headers = Secure(
        csp=_CSP,
        hsts=StrictTransportSecurity().max_age(31536000).include_subdomains(),
        referrer=ReferrerPolicy().no_referrer(),
        xcto=XContentTypeOptions().nosniff(),
        xfo=XFrameOptions().deny(),
    )
    app.add_middleware(SecureASGIMiddleware, secure=headers)
    if settings.cors_allow_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_allow_origins,
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-API-Key"],
            expose_headers=["Retry-After", "Idempotent-Replayed", "Content-Disposition"],
            max_age=600,
        )
