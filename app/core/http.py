"""Response headers set deliberately: security headers on everything, CORS only for
the origins configured."""

from __future__ import annotations

import contextvars
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI
from secure import (
    ContentSecurityPolicy,
    CustomHeader,
    ReferrerPolicy,
    Secure,
    StrictTransportSecurity,
    XContentTypeOptions,
    XFrameOptions,
)
from secure.middleware import SecureASGIMiddleware
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp

from app.core.config import Settings

# The address of the request being served, set by the edge (app.edge.route) so that
# services record "from where" in audit rows without knowing of HTTP.
client_ip: contextvars.ContextVar[str | None] = contextvars.ContextVar("client_ip", default=None)


class App(FastAPI):
    """FastAPI whose outer middleware sees every answer, the unexpected 500 included.

    Starlette builds the stack as ServerErrorMiddleware around the middleware added
    with `add_middleware`: the handler of unexpected errors answers outside all of
    them, so a 500 went out without the security headers (and without CORS headers,
    which a browser dashboard needs to read the error at all). Middleware added with
    `add_outer_middleware` wraps the whole stack, ServerErrorMiddleware included."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.outer_middleware: list[Middleware] = []

    def add_outer_middleware(self, cls: Any, *args: Any, **kwargs: Any) -> None:
        """As `add_middleware`: the last one added is the outermost."""
        if self.middleware_stack is not None:
            raise RuntimeError("Cannot add middleware after an application has started")
        self.outer_middleware.insert(0, Middleware(cls, *args, **kwargs))

    def build_middleware_stack(self) -> ASGIApp:
        app = super().build_middleware_stack()
        for cls, args, kwargs in reversed(self.outer_middleware):
            app = cls(app, *args, **kwargs)
        return app


# JSON needs no sources at all; /docs and /redoc load Swagger UI and ReDoc from
# jsDelivr with an inline bootstrap script, so those (and nothing else) are allowed.
_CDN = "https://cdn.jsdelivr.net"


def photo_origin(settings: Settings) -> str:
    """Where thumbnails come from besides this host: with S3 storage, a photo is a
    redirect to a short-lived URL of the bucket's public host."""
    if settings.storage_backend != "s3":
        return ""
    host = settings.s3_public_endpoint or settings.s3_endpoint
    if "://" not in host:
        host = f"{'https' if settings.s3_secure else 'http'}://{host}"
    parts = urlsplit(host)
    return f"{parts.scheme}://{parts.netloc}"


def map_origin(settings: Settings) -> str:
    """Where the map picker's tiles come from (CONSOLE_MAP_TILES_URL): its host, a
    subdomain placeholder (`t{s}.example.cn`) widened to the domain's subdomains."""
    if not settings.console_map_tiles_url:
        return ""
    parts = urlsplit(settings.console_map_tiles_url)
    host = ".".join("*" if "{s}" in label else label for label in parts.netloc.split("."))
    return f"{parts.scheme}://{host}"


def _csp(settings: Settings) -> ContentSecurityPolicy:
    # The browser enforces this policy beside a page's own (the console's, the
    # dashboard page's), so the images those pages load from elsewhere (S3 photos,
    # the console map's tiles) must pass here too.
    extra = [o for o in (photo_origin(settings), map_origin(settings)) if o]
    return (
        ContentSecurityPolicy()
        .default_src("'self'")
        .script_src("'self'", "'unsafe-inline'", _CDN)
        .style_src("'self'", "'unsafe-inline'", _CDN)
        .img_src("'self'", "data:", "https://fastapi.tiangolo.com", *extra)
        .object_src("'none'")
        .frame_ancestors("'none'")
        .base_uri("'none'")
    )


def security_headers(settings: Settings) -> Secure:
    """The security headers every answer carries, built with secure's header builders."""
    return Secure(
        csp=_csp(settings),
        hsts=StrictTransportSecurity().max_age(31536000).include_subdomains(),
        referrer=ReferrerPolicy().no_referrer(),
        xcto=XContentTypeOptions().nosniff(),
        xfo=XFrameOptions().deny(),
    )


def install_http_headers(app: App, settings: Settings) -> None:
    # secure's middleware asks its Secure for the headers on every answer, and the
    # builders render each value again each time (the CSP's directives joined anew):
    # a fifth of the middleware's cost. The settings do not change while the app
    # runs, so the middleware gets the same headers, names, values and order, as
    # secure's CustomHeader with the values rendered once.
    rendered = Secure(
        custom=[CustomHeader(n, v) for n, v in security_headers(settings).header_items()]
    )
    app.add_outer_middleware(SecureASGIMiddleware, secure=rendered)
    if settings.cors_allow_origins:
        app.add_outer_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_allow_origins,
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-API-Key"],
            expose_headers=["Retry-After", "Idempotent-Replayed", "Content-Disposition"],
            max_age=600,
        )
