"""/dashboard/view-links, /dashboard/view and its files: the dashboard as a web page.

The page stays under /api/v1 beside the JSON it draws: a deployment's reverse proxy
already forwards that prefix to this service, and the page's files are fetched by
paths relative to it, so nothing else needs routing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from app.core.errors import PROBLEM_JSON, PROBLEM_RESPONSES, AppError, NotFound
from app.core.security import VIEW_LINK_TTL_S
from app.core.text import displayable
from app.edge.access import caller_for_view_link
from app.edge.route import AppRoute
from app.models.common import Month, QueryText
from app.models.dashboard import DashboardSort, SortOrder
from app.models.dashboard_view import DashboardViewLink, DashboardViewLinkCreate
from app.models.user import MAX_ID
from app.routers.deps import AdminCaller, ReadingSessionDep, SessionDep, SettingsDep
from app.services import dashboard_view as service

router = APIRouter(tags=["dashboard_view"], route_class=AppRoute)

APP_DIR = Path(__file__).resolve().parent.parent


def _shown(value: Any) -> Any:
    # Names stored before the input rule may hold control characters, which HTML
    # forbids: every text the templates print is made displayable first. Markup is
    # tojson's, which writes every such character as a \u escape.
    if isinstance(value, str) and not isinstance(value, Markup):
        return displayable(value)
    return value


templates = Jinja2Templates(
    env=Environment(
        loader=FileSystemLoader(APP_DIR / "templates"),
        autoescape=select_autoescape(),
        finalize=_shown,
    )
)

# The page runs no inline code and loads nothing from elsewhere. Sent beside the
# app-wide policy (app/core/http.py), which the browser enforces as well, so this
# one only narrows it for the page.
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    # The URL carries the link's token: kept out of caches, Referer headers and
    # search engines.
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "Content-Security-Policy": PAGE_CSP,
    "Vary": "Accept",
}


def _error(schema: str, description: str, *, html: bool = True) -> dict[str, Any]:
    content: dict[str, Any] = {PROBLEM_JSON: {"schema": {"$ref": f"#/components/schemas/{schema}"}}}
    if html:
        content["text/html"] = {"schema": {"type": "string"}}
    return {"description": description, "content": content}


# Declared by hand: FastAPI would file a `model` under the route's own type, text/html.
PAGE_ERRORS: dict[int | str, dict[str, Any]] = {
    401: _error("Problem", "Missing, tampered or expired link (`view_link_expired`)"),
    403: _error("Problem", "The link's admin holds no admin role any more (`forbidden`)"),
    404: _error("Problem", "The org is missing or outside the admin's reach (`not_found`)"),
    422: _error("ValidationProblem", "Bad query parameters (`validation_error`)", html=False),
}


@router.post(
    "/dashboard/view-links",
    status_code=201,
    response_model=DashboardViewLink,
    responses=PROBLEM_RESPONSES,
)
async def create_dashboard_view_link(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    caller: AdminCaller,
    body: DashboardViewLinkCreate,
) -> DashboardViewLink:
    """为电脑浏览器生成工作台网页链接：10 分钟内有效，每次打开都按当时的角色重新校验。"""
    token, expires_at = await service.create_link(
        session, settings=settings, caller=caller, org_id=body.org_id
    )
    params = {"token": token, **({"month": body.month} if body.month else {})}
    url = request.url_for("dashboard_view").include_query_params(**params)
    return DashboardViewLink(
        url=str(url),
        path=f"{url.path}?{url.query}",
        expires_at=expires_at,
        expires_in=VIEW_LINK_TTL_S,
    )


def _wants_html(request: Request) -> bool:
    # A browser following the link asks for text/html; a program gets problem+json.
    return "text/html" in request.headers.get("accept", "")


@router.get(
    "/dashboard/view",
    response_class=HTMLResponse,
    responses=PAGE_ERRORS,
)
async def dashboard_view(
    request: Request,
    session: SessionDep,
    reading: ReadingSessionDep,
    settings: SettingsDep,
    token: Annotated[
        QueryText | None,
        Query(max_length=4096, description="POST /dashboard/view-links 给出的凭证"),
    ] = None,
    org_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="链接所属组织或其下级，默认链接所属组织")
    ] = None,
    month: Annotated[Month | None, Query(description="YYYY-MM，默认本月（北京时间）")] = None,
    sort: DashboardSort = DashboardSort.report_in_rate,
    order: SortOrder = SortOrder.desc,
) -> Response:
    """工作台网页（HTML，含图表）：数字与 GET /dashboard、GET /dashboard/children 相同。

    浏览器收到的错误是说明页面，其他客户端收到 problem+json；过期链接为 401 `view_link_expired`。
    """
    try:
        caller, grant = await caller_for_view_link(session, settings, token)
        page = await service.page(
            session,
            settings=settings,
            caller=caller,
            grant=grant,
            token=token or "",  # present: caller_for_view_link refuses a missing one
            org_id=org_id,
            month=month,
            sort=sort,
            order=order,
            figures=reading,
        )
    except AppError as exc:
        if not _wants_html(request):
            raise
        return templates.TemplateResponse(
            request,
            "dashboard_view_error.html",
            {"error": exc, "asset": asset_url, "ttl_minutes": VIEW_LINK_TTL_S // 60},
            status_code=exc.status,
            headers=PAGE_HEADERS,
        )
    return templates.TemplateResponse(
        request, "dashboard_view.html", {"page": page, "asset": asset_url}, headers=PAGE_HEADERS
    )


# --- the page's files ----------------------------------------------------------------


@dataclass(frozen=True)
class Asset:
    path: Path
    media_type: str
    digest: str


_ASSET_FILES = {
    "dashboard_view.js": ("dashboard_view/dashboard_view.js", "text/javascript; charset=utf-8"),
    "dashboard_view.css": ("dashboard_view/dashboard_view.css", "text/css; charset=utf-8"),
    "echarts.min.js": ("vendor/echarts/echarts.min.js", "text/javascript; charset=utf-8"),
}


@cache
def static_assets() -> dict[str, Asset]:
    out = {}
    for name, (relative, media_type) in _ASSET_FILES.items():
        path = APP_DIR / "static" / relative
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        out[name] = Asset(path, media_type, digest)
    return out


def asset_url(name: str) -> str:
    """Relative to the page (/api/v1/dashboard/view), with the content's digest in
    the path: a new file is a new URL, so the old one may be cached for good."""
    return f"assets/{static_assets()[name].digest}/{name}"


# Plain routes: a file needs no database session or idempotency.
files = APIRouter(include_in_schema=False)


@files.get("/dashboard/assets/{digest}/{name}")
async def dashboard_view_asset(digest: QueryText, name: QueryText) -> FileResponse:
    asset = static_assets().get(name)
    if asset is None:
        raise NotFound("没有这个文件")
    # A digest of another version (a page rendered before a deploy) still gets the
    # file, but not for keeps.
    cache_control = "public, max-age=31536000, immutable" if digest == asset.digest else "no-cache"
    return FileResponse(
        asset.path, media_type=asset.media_type, headers={"Cache-Control": cache_control}
    )


router.include_router(files)
