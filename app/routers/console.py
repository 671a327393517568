"""The PC console (管理后台) under /console/: server-rendered pages for admins.

Its credential is the console session cookie, which resolves to the same Caller as a
bearer token (app.edge.access.caller_for_console): every page reads the person's
roles again, so a revoked role locks the console at the next click, and each screen
calls the services the API routes call, so every admin action is audited as through
the API and shows only what the person reaches.

Plain progressive enhancement, no front-end library: every screen is a page of
links and forms that works without script (POST, then redirect to a GET); the one
script, console.js, only polls the login ticket. The pages run no inline code and
load nothing from elsewhere (CONSOLE_CSP).

A browser (Accept: text/html) that is not logged in is sent to the login page and
gets error pages in Chinese; any other client gets problem+json, as from the API.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote

from annotated_types import MaxLen
from fastapi import APIRouter, Depends, Form, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from pydantic import (
    BeforeValidator,
    Field,
    GetCoreSchemaHandler,
    NaiveDatetime,
    TypeAdapter,
    ValidationError,
)
from pydantic_core import core_schema
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.db import utcnow
from app.core.errors import (
    AppError,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    Unprocessable,
)
from app.core.http import map_origin, photo_origin
from app.core.scope import Caller, org_in_reach
from app.core.text import displayable
from app.core.timeutil import SHANGHAI, local
from app.edge import request_state
from app.edge.access import caller_for_console
from app.edge.route import AppRoute
from app.models.api_key import ApiKeyCreate, ApiKeyCreated, ApiScope
from app.models.article import ArticleReview
from app.models.common import IsoDate, Month, QueryText, StrictInput
from app.models.dashboard import DashboardSort, SortOrder
from app.models.inspection import InspectionPublic
from app.models.org import OrgLevel
from app.models.pairing import LiaisonCreate, PairingCreate, PairingEnd
from app.models.points import AwardCreate, ShopItemCreate
from app.models.problem import ProblemRectify, ProblemStatus, ProblemVerify
from app.models.publicity import LEVEL_NAMES, PlacementVerify
from app.models.report import ReportAccept, ReportReject, ReportStatus
from app.models.service_order import OrderDispatch
from app.models.task import TaskCategory, TaskCreate, TaskLocationInput, TaskStatus
from app.models.user import (
    ADMIN_ROLES,
    MAX_ID,
    PEOPLE_ROLES,
    Role,
    RoleGrantCreate,
    UserCreate,
    UserUpdate,
)
from app.models.volunteer import VolunteerReview
from app.models.volunteer_hours import VolunteerHourReview
from app.models.wish import WishReview, WishUnconfirm
from app.routers.deps import (
    CipherDep,
    IdPath,
    ReadingSessionDep,
    SessionDep,
    SettingsDep,
    StorageDep,
    WeChatDep,
)
from app.routers.exports import ledger_download
from app.routers.media import deliver
from app.services import api_keys as api_key_service
from app.services import articles as article_service
from app.services import audit, console_login, roster_import
from app.services import console as service
from app.services import dashboard_view as dashboard_view_service
from app.services import exports as export_service
from app.services import inspections as inspection_service
from app.services import liaisons as liaison_service
from app.services import media as media_service
from app.services import pairings as pairing_service
from app.services import points as points_service
from app.services import problems as problem_service
from app.services import publicity as publicity_service
from app.services import report_ins as report_in_service
from app.services import reports as report_service
from app.services import service_orders as order_service
from app.services import shop as shop_service
from app.services import tasks as task_service
from app.services import users as user_service
from app.services import volunteer_hours as hours_service
from app.services import volunteers as volunteer_service
from app.services import wishes as wish_service
from app.services.orgs import org_names

APP_DIR = Path(__file__).resolve().parent.parent

# __Host-: the browser keeps the cookie only if it is Secure, for this host alone
# (no Domain) and for every path, so no other site or subdomain can plant one.
SESSION_COOKIE = "__Host-console"
# The login page's browser secret: only the browser that showed a code may collect
# the session its confirmation opens.
LOGIN_COOKIE = "__Host-console-login"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"

# Who may log in to the console at all (app.services.console_login).
CONSOLE_ROLES = console_login.CONSOLE_ROLES

CONSOLE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:{images}; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


def page_headers(settings: Settings) -> dict[str, str]:
    images = "".join(f" {o}" for o in (photo_origin(settings), map_origin(settings)) if o)
    return {
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
        "X-Robots-Tag": "noindex, nofollow",
        "Content-Security-Policy": CONSOLE_CSP.format(images=images),
        "Vary": "Accept, Cookie",
    }


def _shown(value: Any) -> Any:
    # As the dashboard page: stored names may hold characters HTML forbids.
    if isinstance(value, str) and not isinstance(value, Markup):
        return displayable(value)
    return value


def _shanghai(moment: datetime) -> str:
    return local(moment).strftime("%Y-%m-%d %H:%M")


templates = Jinja2Templates(
    env=Environment(
        loader=FileSystemLoader(APP_DIR / "templates"),
        autoescape=select_autoescape(),
        finalize=_shown,
    )
)
templates.env.filters["shanghai"] = _shanghai


MONTH: TypeAdapter[str] = TypeAdapter(Month)
DAY: TypeAdapter[str] = TypeAdapter(IsoDate)

# --- forms -------------------------------------------------------------------------------


class ConsoleForm(StrictInput):
    """A posted form of the console: a StrictInput (unknown fields refused, every
    text held to the text rule) whose numbers are read from text, as a form sends
    nothing else. Every form carries the session's CSRF token, checked by the caller
    dependency before the form is used."""

    csrf: str = Field(default="", max_length=128)

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[Any], handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        # StrictInput's JSON-strict scalars left out: "5" is how a form says 5.
        return handler(source)


class DecisionForm(ConsoleForm):
    """A review: approve, or return with a reason (the service insists on one)."""

    decision: Literal["approve", "return"]
    reason: str = Field(default="", max_length=500)

    @property
    def approve(self) -> bool:
        return self.decision == "approve"


def _blank_is_none(value: Any) -> Any:
    # An empty select or text field is "none", as a form cannot send a null.
    return None if value == "" else value


OptionalId = Annotated[int | None, BeforeValidator(_blank_is_none), Field(ge=1, le=MAX_ID)]


class PersonForm(ConsoleForm):
    name: str = Field(min_length=1, max_length=50)
    phone: str = Field(default="", max_length=20)
    community_id: int = Field(ge=1, le=MAX_ID)
    unit_id: OptionalId = None
    # A checkbox: sent ("on") when ticked, absent otherwise.
    is_party_member: bool = False


class GrantForm(ConsoleForm):
    role: Role
    org_id: int = Field(ge=1, le=MAX_ID)


class ShopItemForm(ConsoleForm):
    community_id: int = Field(ge=1, le=MAX_ID)
    name: str = Field(min_length=1, max_length=100)
    points: int = Field(ge=1, le=1_000_000)
    stock: int = Field(ge=0, le=1_000_000)


class CollectForm(ConsoleForm):
    pickup_code: str = Field(min_length=1, max_length=6)


class AwardForm(ConsoleForm):
    user_id: int = Field(ge=1, le=MAX_ID)
    points: int = Field(ge=1, le=MAX_ID)
    reason: str = Field(min_length=1, max_length=200)


# As many photos as POST /problems/{id}/rectify takes.
RECTIFY_MAX_PHOTOS = next(
    m.max_length for m in ProblemRectify.model_fields["photo_ids"].metadata if isinstance(m, MaxLen)
)


class RectifyForm(ConsoleForm):
    note: str = Field(min_length=1, max_length=2000)
    # One file input that takes several (`multiple`): a field per file.
    photos: list[UploadFile] = Field(min_length=1, max_length=RECTIFY_MAX_PHOTOS)


OptionalFloat = Annotated[float | None, BeforeValidator(_blank_is_none)]
OptionalCount = Annotated[int | None, BeforeValidator(_blank_is_none)]


class TaskForm(ConsoleForm):
    title: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=2000)
    org_id: int = Field(ge=1, le=MAX_ID)
    category: TaskCategory
    # <input type="datetime-local">: Beijing time without a zone.
    starts_at: NaiveDatetime
    ends_at: NaiveDatetime
    lat: OptionalFloat = None
    lng: OptionalFloat = None
    radius_m: OptionalCount = None
    capacity: OptionalCount = None


class ApiKeyForm(ConsoleForm):
    name: str = Field(min_length=1, max_length=100)
    org_id: int = Field(ge=1, le=MAX_ID)
    # Checkboxes: one `scopes` field per ticked box.
    scopes: list[ApiScope] = Field(default_factory=list, max_length=len(ApiScope))
    rate_limit_per_minute: int = Field(default=120, ge=1, le=6000)


class DevLoginForm(ConsoleForm):
    ticket: str = Field(max_length=64)
    user_id: int = Field(ge=1, le=MAX_ID)


# --- cookies ------------------------------------------------------------------------------


def set_session_cookie(response: Response, session_id: str) -> None:
    # No Max-Age: it ends with the browser too; the server ends it on idle time.
    response.set_cookie(
        SESSION_COOKIE, session_id, path="/", secure=True, httponly=True, samesite="strict"
    )


def set_login_cookie(response: Response, secret: str, max_age: int) -> None:
    response.set_cookie(
        LOGIN_COOKIE,
        secret,
        max_age=max_age,
        path="/",
        secure=True,
        httponly=True,
        samesite="strict",
    )


def forget_cookie(response: Response, name: str) -> None:
    response.delete_cookie(name, path="/", secure=True, httponly=True, samesite="strict")


# --- who is calling ----------------------------------------------------------------------


def wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def console_caller(roles: frozenset[Role]) -> Callable[[Request], Coroutine[Any, Any, Caller]]:
    """The person of the console session, admitted when they hold one of `roles`
    (admins for most screens; a unit's party secretary for the few that are theirs).
    Any request that changes something must carry the session's CSRF token (form
    field `csrf` or header X-CSRF-Token)."""

    async def get_console_caller(request: Request) -> Caller:
        settings = request.app.state.settings
        raw = request.cookies.get(SESSION_COOKIE)
        caller = await caller_for_console(request_state.session(request), settings, raw)
        if caller is None or raw is None:
            raise Unauthorized("not_authenticated", "请先用小程序扫码登录")
        if not caller.paths(roles):
            if caller.paths(CONSOLE_ROLES):
                raise Forbidden("forbidden", "您的角色不能打开工作台的这一页")
            raise Forbidden("forbidden", "只有管理员、督导员和单位党组织书记可以使用电脑端工作台")
        if request.method not in ("GET", "HEAD"):
            sent = request.headers.get(CSRF_HEADER)
            if sent is None:
                form = await request.form()
                field = form.get(CSRF_FIELD)
                sent = field if isinstance(field, str) else None
            if not console_login.csrf_matches(settings, raw, sent):
                raise Forbidden("csrf_failed", "页面已过期，请刷新后重试")
        request_state.keep_caller(request, caller)
        request.state.console_csrf = console_login.csrf_token(settings, raw)
        return caller

    return get_console_caller


ConsoleCaller = Annotated[Caller, Depends(console_caller(ADMIN_ROLES))]
# Admins and inspectors (督导员): the problems board, the inspections and points.
SupervisorConsoleCaller = Annotated[
    Caller, Depends(console_caller(problem_service.SUPERVISION_ROLES))
]
# Everyone the console admits: the home page and logging out.
AnyConsoleCaller = Annotated[Caller, Depends(console_caller(CONSOLE_ROLES))]
# Admins and units' party secretaries (reach by membership): the home page, logging
# out, and the units' screens.
PeopleConsoleCaller = Annotated[Caller, Depends(console_caller(PEOPLE_ROLES))]
# The office that verifies placements (上稿): district and street admins.
OfficeConsoleCaller = Annotated[Caller, Depends(console_caller(publicity_service.OFFICE_ROLES))]


def refused(request: Request, exc: AppError) -> Response:
    if not wants_html(request):
        raise exc
    if exc.status == 401:
        return RedirectResponse(str(request.url_for("console_login_page")), 303)
    return page(request, "console/error.html", {"error": exc}, status=exc.status)


class ConsoleRoute(AppRoute):
    """AppRoute whose refusals a browser sees as pages: not logged in sends it to
    the login page, anything else is an error page with the same status. Every
    console page may move its session's idle clock (a write, best effort: a busy
    SQLite may refuse it and the page is served all the same), so even its reads
    run in a transaction on PostgreSQL. Not `admission.writes_on_read`: a page
    would then hold SQLite's one writer while a ledger's audit row, written in a
    transaction of its own, waits for it."""

    reads_in_transaction = True

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        inner = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await inner(request)
            except AppError as exc:
                return refused(request, exc)
            except (RequestValidationError, ValidationError) as exc:
                # A form's fields are checked again when the API's body model is built
                # from them (a phone too short for UserCreate): the same 422 either way.
                if isinstance(exc, RequestValidationError) and not wants_html(request):
                    raise
                return refused(request, Unprocessable("validation_error", "请检查填写的内容后重试"))

        return handler


router = APIRouter(prefix="/console", tags=["console"], route_class=ConsoleRoute)


def page(
    request: Request, name: str, context: dict[str, Any], *, status: int = 200
) -> HTMLResponse:
    # An error page is drawn after the request's transaction rolled back, when the
    # caller's rows are expired: it goes without the menu bar.
    caller = request_state.caller(request) if status < 400 else None
    base = {
        "asset": asset_url,
        "me": caller,
        "csrf": getattr(request.state, "console_csrf", ""),
        "nav": service.nav_for(caller) if caller is not None else [],
        "here": request.url.path,
    }
    response = templates.TemplateResponse(
        request,
        name,
        {**base, **context},
        status_code=status,
        headers=page_headers(request.app.state.settings),
    )
    assert isinstance(response, HTMLResponse)
    return response


# A list screen's page number (`?page=`), 1 when absent.
PageNumber = Annotated[int, Query(alias="page", ge=1, le=100_000)]


def paging(
    request: Request, number: int, size: int = service.PAGE_SIZE, param: str = "page"
) -> service.Paging:
    """The page `number` of a list screen, whose links keep the screen's other query
    parameters (its filters) but not a done-notice."""
    query = tuple((k, v) for k, v in request.query_params.multi_items() if k not in (param, "done"))
    return service.Paging(number, size, param=param, query=query)


def see_other(request: Request, name: str, **params: Any) -> RedirectResponse:
    return RedirectResponse(str(request.url_for(name, **params)), 303)


# --- login and logout -------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
async def console_login_page(
    request: Request, session: SessionDep, settings: SettingsDep, wechat: WeChatDep
) -> Response:
    """The login page: a fresh ticket as a mini-program code, polled by console.js."""
    client = request.client.host if request.client else "unknown"
    await request.app.state.ratelimiter.hit_per_minute(
        f"login:{client}", settings.login_rate_per_minute
    )
    new = await console_login.create_ticket(session, gateway=wechat)
    kind = "image/png" if new.code_image.startswith(b"\x89PNG") else "image/jpeg"
    image = f"data:{kind};base64,{base64.b64encode(new.code_image).decode()}"
    dev_admins = await service.dev_admins(session) if settings.app_env == "dev" else []
    response = page(
        request,
        "console/login.html",
        {
            "ticket": new.ticket,
            "image": image,
            "ttl": console_login.TICKET_TTL_S,
            "dev_admins": dev_admins,
        },
    )
    set_login_cookie(response, new.browser_secret, console_login.TICKET_TTL_S + 30)
    return response


@router.post("/logout", include_in_schema=False)
async def console_logout(
    request: Request, session: SessionDep, caller: AnyConsoleCaller
) -> Response:
    raw = request.cookies.get(SESSION_COOKIE)
    assert raw is not None  # the caller dependency found it
    await console_login.end_session(session, raw)
    response = see_other(request, "console_login_page")
    forget_cookie(response, SESSION_COOKIE)
    return response


# --- screens -----------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def console_home(request: Request, session: SessionDep, caller: AnyConsoleCaller) -> Response:
    """首页：待办事项及其数量，只计本人管理范围内的。督导员的待办是其督导范围内待复核、
    逾期和将到期的问题；单位党组织书记（不管理社区）的首页即本单位党员报到情况。"""
    if not caller.is_admin:
        if not caller.paths(problem_service.SUPERVISION_ROLES):
            return see_other(request, "console_unit_members")
        todo = await service.inspector_todo(session, caller=caller)
        return page(request, "console/home.html", {"todo": todo})
    todo = await service.todo(session, settings=request.app.state.settings, caller=caller)
    return page(request, "console/home.html", {"todo": todo})


# The review screens: one page of the oldest 50 awaiting the person, each line with
# "approve" and "return with a reason"; every decision is the API's own review.


def _reviews(request: Request, screen: service.ReviewScreen) -> HTMLResponse:
    done = request.query_params.get("done")
    return page(request, "console/reviews.html", {"screen": screen, "done": done})


def _reviewed(request: Request, name: str, decision: str, view: str = "") -> RedirectResponse:
    response = see_other(request, name)
    response.headers["location"] += f"?view={view}&done={decision}" if view else f"?done={decision}"
    return response


class UndoForm(ConsoleForm):
    """An approval or confirmation taken back: the reason is told to the person."""

    reason: str = Field(min_length=1, max_length=500)


@router.get("/reviews/wishes", response_class=HTMLResponse, include_in_schema=False)
async def console_wish_reviews(
    request: Request,
    session: SessionDep,
    caller: ConsoleCaller,
    cipher: CipherDep,
    page_number: PageNumber = 1,
    view: Literal["pending", "confirmed"] = "pending",
) -> Response:
    """心愿审核：本人管理范围内待审核的微心愿，逐条通过或退回（须填原因）；
    `view=confirmed`：近 7 天内确认、本人可撤回确认的心愿（须填原因）。"""
    screens = {"pending": service.wish_reviews, "confirmed": service.confirmed_wishes}
    return _reviews(
        request,
        await screens[view](
            session, caller=caller, cipher=cipher, paging=paging(request, page_number)
        ),
    )


@router.post("/reviews/wishes/{wish_id}", include_in_schema=False)
async def console_review_wish(
    request: Request,
    session: SessionDep,
    caller: ConsoleCaller,
    wish_id: IdPath,
    form: Annotated[DecisionForm, Form()],
) -> Response:
    """POST /wishes/{wish_id}/review, from a form."""
    wish = await wish_service.get_visible_wish(session, caller, wish_id)
    data = WishReview(approve=form.approve, reason=form.reason or None)
    await wish_service.review_wish(session, caller=caller, wish=wish, data=data)
    return _reviewed(request, "console_wish_reviews", form.decision)


@router.post("/reviews/wishes/{wish_id}/withdraw-confirmation", include_in_schema=False)
async def console_withdraw_wish_confirmation(
    request: Request,
    session: SessionDep,
    caller: ConsoleCaller,
    wish_id: IdPath,
    form: Annotated[UndoForm, Form()],
) -> Response:
    """POST /wishes/{wish_id}/withdraw-confirmation, from a form (409 past the window)."""
    wish = await wish_service.get_visible_wish(session, caller, wish_id)
    data = WishUnconfirm(reason=form.reason)
    await wish_service.unconfirm_wish(session, caller=caller, wish=wish, data=data)
    return _reviewed(request, "console_wish_reviews", "withdraw", "confirmed")


@router.get("/reviews/hours", response_class=HTMLResponse, include_in_schema=False)
async def console_hour_reviews(
    request: Request,
    session: SessionDep,
    caller: ConsoleCaller,
    page_number: PageNumber = 1,
    view: Literal["pending", "approved"] = "pending",
) -> Response:
    """时长审核：本人管理范围内待审核的志愿时长（本人的除外）；`view=approved`：
    30 天内审核通过、本人可撤销的（须填原因）。"""
    screens = {"pending": service.hour_reviews, "approved": service.approved_hours}
    screen = await screens[view](session, caller=caller, paging=paging(request, page_number))
    return _reviews(request, screen)


@router.post("/reviews/hours/{entry_id}", include_in_schema=False)
async def console_review_hours(
    request: Request,
    session: SessionDep,
    caller: ConsoleCaller,
    entry_id: IdPath,
    form: Annotated[DecisionForm, Form()],
) -> Response:
    """POST /volunteer-hours/{entry_id}/review, from a form."""
    entry = await hours_service.get_visible_entry(session, caller, entry_id)
    data = VolunteerHourReview(approve=form.approve, reason=form.reason or None)
    await hours_service.review_entry(session, caller=caller, entry=entry, data=data)
    return _reviewed(request, "console_hour_reviews", form.decision)


@router.post("/reviews/hours/{entry_id}/revoke", include_in_schema=False)
async def console_revoke_hours(
    request: Request,
    session: SessionDep,
    caller: ConsoleCaller,
    entry_id: IdPath,
    form: Annotated[UndoForm, Form()],
) -> Response:
    """POST /volunteer-hours/{entry_id}/revoke, from a form (409 past the window)."""
    entry = await hours_service.get_visible_entry(session, caller, entry_id)
    await hours_service.revoke_entry(session, caller=caller, entry=entry, reason=form.reason)
    return _reviewed(request, "console_hour_reviews", "revoke", "approved")


@router.get("/reviews/articles", response_class=HTMLResponse, include_in_schema=False)
async def console_article_reviews(
    request: Request, session: SessionDep, caller: ConsoleCaller, page_number: PageNumber = 1
) -> Response:
    """稿件审核：等待本人这一级审核的稿件，以及在下级等待、而下级无人审核（由本级代审）的稿件。"""
    screen = await service.article_reviews(
        session, caller=caller, paging=paging(request, page_number)
    )
    return _reviews(request, screen)


@router.post("/reviews/articles/{article_id}", include_in_schema=False)
async def console_review_article(
    request: Request,
    session: SessionDep,
    caller: ConsoleCaller,
    article_id: IdPath,
    form: Annotated[DecisionForm, Form()],
) -> Response:
    """POST /articles/{article_id}/review, from a form."""
    article = await article_service.get_visible_article(session, caller, article_id)
    data = ArticleReview(approve=form.approve, comment=form.reason or None)
    await article_service.review_article(session, caller=caller, article=article, data=data)
    return _reviewed(request, "console_article_reviews", form.decision)


@router.get("/reviews/placements", response_class=HTMLResponse, include_in_schema=False)
async def console_placement_reviews(
    request: Request,
    session: SessionDep,
    caller: OfficeConsoleCaller,
    page_number: PageNumber = 1,
) -> Response:
    """上稿认定：管理范围内待认定的上稿（本人登记的除外），逐条认定或不予认定（须填原因）。"""
    screen = await service.placement_reviews(
        session, caller=caller, paging=paging(request, page_number)
    )
    return _reviews(request, screen)


@router.post("/reviews/placements/{placement_id}", include_in_schema=False)
async def console_verify_placement(
    request: Request,
    session: SessionDep,
    caller: OfficeConsoleCaller,
    placement_id: IdPath,
    form: Annotated[DecisionForm, Form()],
) -> Response:
    """POST /placements/{placement_id}/verify, from a form."""
    placement = await publicity_service.get_visible_placement(session, caller, placement_id)
    data = PlacementVerify(approve=form.approve, note=form.reason or None)
    await publicity_service.verify_placement(session, caller=caller, placement=placement, data=data)
    return _reviewed(request, "console_placement_reviews", form.decision)


@router.get("/publicity", response_class=HTMLResponse, include_in_schema=False)
async def console_publicity(
    request: Request,
    session: SessionDep,
    caller: ConsoleCaller,
    org_id: Annotated[str | None, Query(max_length=10, pattern=r"^\d*$")] = None,
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
    quarter: Annotated[int | None, Query(ge=1, le=4)] = None,
) -> Response:
    """宣传通报：所选组织（默认本人管理的最高一级）各直属下级本季度的投稿、用稿、
    各级上稿、得分和名次，同 GET /stats/publicity；可导出 Excel。"""
    today = local(utcnow()).date()
    year, quarter = year or today.year, quarter or (today.month - 1) // 3 + 1
    picked = int(org_id) if org_id else service.top_org(caller)
    org = await org_in_reach(session, caller, picked) if picked else None
    stats = (
        await publicity_service.publicity_stats(session, org=org, year=year, quarter=quarter)
        if org is not None
        else None
    )
    return page(
        request,
        "console/publicity.html",
        {
            "stats": stats,
            "orgs": await service.orgs_in_reach(session, caller),
            "picked": picked,
            "year": year,
            "quarter": quarter,
            "levels": LEVEL_NAMES,
        },
    )


# --- the roster ------------------------------------------------------------------------


async def _roster_context(session: AsyncSession, caller: Caller) -> dict[str, Any]:
    return {
        "orgs": await service.orgs_in_reach(session, caller),
        "role_labels": service.ROLE_LABELS,
    }


@router.get("/roster", response_class=HTMLResponse, include_in_schema=False)
async def console_roster(
    request: Request,
    session: SessionDep,
    caller: ConsoleCaller,
    name: Annotated[QueryText | None, Query(max_length=50)] = None,
    # Text, as the form's "all" option sends it empty.
    org_id: Annotated[str | None, Query(max_length=10, pattern=r"^\d*$")] = None,
    street_id: Annotated[str | None, Query(max_length=10, pattern=r"^\d*$")] = None,
    unbound: bool = False,
    page_number: PageNumber = 1,
) -> Response:
    """花名册：按姓名搜索、按街道及其社区或单位筛选、只看未绑定微信的；新增、导入、编辑、
    授予和撤销角色。区管理员先选街道，社区和单位的选项即为该街道的。"""
    picked = int(org_id) if org_id else None
    org = await org_in_reach(session, caller, picked) if picked else None
    street = await org_in_reach(session, caller, int(street_id)) if street_id else None
    if street is not None and street.level != OrgLevel.street:
        raise Unprocessable("validation_error", "请选择街道")
    if org is not None and street is not None and not org.path.startswith(street.path):
        # A community of another street, left from before the street changed.
        org, picked = None, None
    people, pages = await service.roster_page(
        session,
        caller=caller,
        org=org,
        name=name or None,
        unbound=unbound,
        paging=paging(request, page_number, service.ROSTER_PAGE),
        street=street,
    )
    context = await _roster_context(session, caller)
    names = {o.id: o.name for o in context["orgs"]}
    streets = [o for o in context["orgs"] if o.level == OrgLevel.street]
    return page(
        request,
        "console/roster.html",
        {
            **context,
            "people": people,
            "total": pages.total,
            "paging": pages,
            "org_names": names,
            "streets": streets,
            # The community and unit picker: the street's, when one is picked.
            "picker": [
                o for o in context["orgs"] if street is None or o.path.startswith(street.path)
            ],
            "filters": {
                "name": name or "",
                "org_id": picked,
                "street_id": street.id if street else None,
                "unbound": unbound,
            },
            "done": request.query_params.get("done"),
        },
    )


@router.post("/roster", include_in_schema=False)
async def console_add_person(
    request: Request,
    session: SessionDep,
    caller: ConsoleCaller,
    cipher: CipherDep,
    form: Annotated[PersonForm, Form()],
) -> Response:
    """POST /users, from a form."""
    data = UserCreate(
        name=form.name,
        phone=form.phone or "",
        community_id=form.community_id,
        unit_id=form.unit_id,
        is_party_member=form.is_party_member,
    )
    user = await user_service.create_user(session, caller=caller, cipher=cipher, data=data)
    assert user.id is not None
    return see_other(request, "console_person", user_id=user.id)


@router.post("/roster/import", response_class=HTMLResponse, include_in_schema=False)
async def console_import_roster(
    request: Request,
    session: SessionDep,
    caller: ConsoleCaller,
    cipher: CipherDep,
    settings: SettingsDep,
    file: UploadFile,
) -> Response:
    """POST /users/import, from a form: the same row-by-row report, as a page."""
    content = await file.read(settings.roster_import_max_bytes + 1)
    if len(content) > settings.roster_import_max_bytes:
        raise PayloadTooLarge(
            "file_too_large", f"文件不能超过 {settings.roster_import_max_bytes // 1024 // 1024} MiB"
        )
    result = await roster_import.import_roster(
        session,
        caller=caller,
        cipher=cipher,
        filename=file.filename or "",
        content=content,
        max_rows=settings.roster_import_max_rows,
    )
    return page(
        request, "console/roster_import.html", {"result": result, "filename": file.filename}
    )


@router.get("/roster/{user_id}", response_class=HTMLResponse, include_in_schema=False)
async def console_person(
    request: Request, session: SessionDep, caller: ConsoleCaller, user_id: IdPath
) -> Response:
    """一个人的花名册信息：编辑，授予和撤销角色。"""
    user = await user_service.get_user_in_reach(session, caller, user_id)
    (person,) = await user_service.to_public(session, [user])
    context = await _roster_context(session, caller)
    return page(
        request,
        "console/person.html",
        {
            **context,
            "person": person,
            "org_names": {o.id: o.name for o in context["orgs"]},
            "roles": list(service.ROLE_LABELS),
            "done": request.query_params.get("done"),
        },
    )


@router.post("/roster/{user_id}", include_in_schema=False)
async def console_edit_person(
    request: Request,
    session: SessionDep,
    caller: ConsoleCaller,
    cipher: CipherDep,
    user_id: IdPath,
    form: Annotated[PersonForm, Form()],
) -> Response:
    """PATCH /users/{user_id}, from a form (an empty phone leaves the phone as it is)."""
    user = await user_service.get_user_in_reach(session, caller, user_id)
    changes: dict[str, Any] = {
        "name": form.name,
        "community_id": form.community_id,
        "unit_id": form.unit_id,
        "is_party_member": form.is_party_member,
    }
    if form.phone:
        changes["phone"] = form.phone
    data = UserUpdate(**changes)
    await user_service.update_user(session, caller=caller, cipher=cipher, user=user, data=data)
    return _done(request, "console_person", "saved", user_id=user_id)


@router.post("/roster/{user_id}/roles", include_in_schema=False)
async def console_grant_role(
    request: Request,
    session: SessionDep,
    caller: ConsoleCaller,
    user_id: IdPath,
    form: Annotated[GrantForm, Form()],
) -> Response:
    """POST /users/{user_id}/roles, from a form."""
    user = await user_service.get_user_in_reach(session, caller, user_id)
    data = RoleGrantCreate(role=form.role, org_id=form.org_id)
    await user_service.grant_role(session, caller=caller, user=user, data=data)
    return _done(request, "console_person", "granted", user_id=user_id)


@router.post("/roster/{user_id}/roles/{role_id}/revoke", include_in_schema=False)
async def console_revoke_role(
    request: Request,
    session: SessionDep,
    caller: ConsoleCaller,
    user_id: IdPath,
    role_id: IdPath,
    form: Annotated[ConsoleForm, Form()],
) -> Response:
    """DELETE /users/{user_id}/roles/{role_id}, from a form."""
    user = await user_service.get_user_in_reach(session, caller, user_id)
    await user_service.revoke_role(session, caller=caller, user=user, role_id=role_id)
    return _done(request, "console_person", "revoked", user_id=user_id)


def _done(request: Request, name: str, what: str, **params: Any) -> RedirectResponse:
    response = see_other(request, name, **params)
    response.headers["location"] += f"?done={what}"
    return response


# --- the problems board ------------------------------------------------------------------


@router.get("/problems", response_class=HTMLResponse, include_in_schema=False)
async def console_problems(
    request: Request,
    session: SessionDep,
    caller: SupervisorConsoleCaller,
    settings: SettingsDep,
    org_id: Annotated[str | None, Query(max_length=10, pattern=r"^\d*$")] = None,
    open_page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    rectified_page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    closed_page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    """问题督办：按状态分栏（各栏分页），待整改和待复核按期限排列，逾期标红；管理员提交整改，
    督导员和上级管理员复核。督导员看其督导范围内的。"""
    picked = int(org_id) if org_id else None
    org = await problem_service.get_supervised_org(session, caller, picked) if picked else None
    numbers = {
        ProblemStatus.open: open_page,
        ProblemStatus.rectified: rectified_page,
        ProblemStatus.closed: closed_page,
    }
    pagings = {
        status: paging(
            request,
            number,
            service.BOARD_PAGE if status != ProblemStatus.closed else 20,
            param=f"{status.value}_page",
        )
        for status, number in numbers.items()
    }
    columns = await service.problems_board(
        session, settings=settings, caller=caller, org=org, pagings=pagings
    )
    orgs = await service.orgs_in_reach(session, caller, problem_service.SUPERVISION_ROLES)
    return page(
        request,
        "console/problems.html",
        {
            "columns": columns,
            "orgs": orgs,
            "org_names": {o.id: o.name for o in orgs},
            "picked": picked,
            "categories": service.CATEGORY_LABELS,
            "actions": await service.board_actions(session, caller, columns),
            "max_photos": RECTIFY_MAX_PHOTOS,
            "done": request.query_params.get("done"),
        },
    )


@router.post("/problems/{problem_id}/rectify", include_in_schema=False)
async def console_rectify_problem(
    request: Request,
    session: SessionDep,
    caller: ConsoleCaller,
    settings: SettingsDep,
    storage: StorageDep,
    wechat: WeChatDep,
    problem_id: IdPath,
    form: Annotated[RectifyForm, Form()],
) -> Response:
    """POST /media for each photo, then POST /problems/{problem_id}/rectify, from one
    form (one to nine photos, as the API takes)."""
    problem = await problem_service.get_visible_problem(session, caller, problem_id)
    photo_ids = []
    for upload in form.photos:
        raw = await upload.read(settings.media_max_bytes + 1)
        photo = await media_service.upload_photo(
            session, caller=caller, storage=storage, settings=settings, wechat=wechat, raw=raw
        )
        assert photo.id is not None
        photo_ids.append(photo.id)
    data = ProblemRectify(photo_ids=photo_ids, note=form.note)
    await problem_service.rectify_problem(session, caller=caller, problem=problem, data=data)
    return _done(request, "console_problems", "rectified")


@router.post("/problems/{problem_id}/verify", include_in_schema=False)
async def console_verify_problem(
    request: Request,
    session: SessionDep,
    caller: SupervisorConsoleCaller,
    problem_id: IdPath,
    form: Annotated[DecisionForm, Form()],
) -> Response:
    """POST /problems/{problem_id}/verify, from a form."""
    problem = await problem_service.get_visible_problem(session, caller, problem_id)
    data = ProblemVerify(approve=form.approve, note=form.reason or None)
    await problem_service.verify_problem(session, caller=caller, problem=problem, data=data)
    return _done(request, "console_problems", "closed" if form.approve else "reopened")


@router.get("/media/{media_id}/thumbnail", include_in_schema=False)
async def console_thumbnail(
    session: SessionDep,
    caller: SupervisorConsoleCaller,
    storage: StorageDep,
    settings: SettingsDep,
    media_id: IdPath,
) -> Response:
    """GET /media/{media_id}/thumbnail for the console: the same visibility rule."""
    media = await media_service.get_visible_media(session, caller, media_id)
    return deliver(media, await media_service.locate(storage, settings, media, thumbnail=True))


# --- dashboards and exports ----------------------------------------------------------------


@router.get("/dashboard", response_class=HTMLResponse, include_in_schema=False)
async def console_dashboard(
    request: Request,
    session: SessionDep,
    reading: ReadingSessionDep,
    caller: ConsoleCaller,
    settings: SettingsDep,
    org_id: Annotated[str | None, Query(max_length=10, pattern=r"^\d*$")] = None,
    month: Annotated[QueryText | None, Query(max_length=7)] = None,
    sort: DashboardSort = DashboardSort.report_in_rate,
    order: SortOrder = SortOrder.desc,
) -> Response:
    """数据看板：与工作台网页（GET /dashboard/view）相同的数字、图表和下级排名，在工作台的
    菜单之内；默认本人管理的最高一级，可逐级下钻；可生成 10 分钟内有效的分享链接。"""
    try:
        checked_month = MONTH.validate_python(month) if month else None
    except ValidationError as exc:
        raise Unprocessable("validation_error", "月份应为 YYYY-MM") from exc
    shown = await service.dashboard_screen(
        session,
        settings=settings,
        caller=caller,
        org_id=int(org_id) if org_id else None,
        month=checked_month,
        sort=sort,
        order=order,
        figures=reading,
    )
    return page(request, "console/dashboard.html", {"page": shown})


@router.get("/dashboard/share", include_in_schema=False)
async def console_dashboard_share(
    request: Request,
    session: SessionDep,
    caller: ConsoleCaller,
    settings: SettingsDep,
    org_id: Annotated[str | None, Query(max_length=10, pattern=r"^\d*$")] = None,
    month: Annotated[QueryText | None, Query(max_length=7)] = None,
) -> Response:
    """The dashboard page's link to share (POST /dashboard/view-links, audited), for
    the org shown (the person's highest by default), opened at once: it works in any
    browser for its ten minutes."""
    try:
        checked_month = MONTH.validate_python(month) if month else None
    except ValidationError as exc:
        raise Unprocessable("validation_error", "月份应为 YYYY-MM") from exc
    target = int(org_id) if org_id else service.top_org(caller)
    token, _ = await dashboard_view_service.create_link(
        session, settings=settings, caller=caller, org_id=target
    )
    params = {"token": token, **({"month": checked_month} if checked_month else {})}
    url = request.url_for("dashboard_view").include_query_params(**params)
    return RedirectResponse(f"{url.path}?{url.query}", 303)


@router.get("/exports", response_class=HTMLResponse, include_in_schema=False)
async def console_exports(request: Request, session: SessionDep, caller: ConsoleCaller) -> Response:
    """台账导出：每种台账一个表单，筛选条件同 GET /exports/{dataset}.xlsx。"""
    orgs = await service.orgs_in_reach(session, caller)
    return page(
        request,
        "console/exports.html",
        {"orgs": orgs, "ledgers": service.LEDGERS, "top": service.top_org(caller)},
    )


@router.get("/exports/{dataset}.xlsx", include_in_schema=False)
async def console_export(
    request: Request,
    session: SessionDep,
    reading: ReadingSessionDep,
    caller: ConsoleCaller,
    dataset: export_service.Dataset,
    org_id: Annotated[int, Query(ge=1, le=MAX_ID)],
    month: Annotated[QueryText | None, Query(max_length=7)] = None,
    year: Annotated[str | None, Query(max_length=4, pattern=r"^\d*$")] = None,
    status: Annotated[QueryText | None, Query(max_length=20)] = None,
    quarter: Annotated[str | None, Query(max_length=1, pattern=r"^[1-4]?$")] = None,
) -> Response:
    """GET /exports/{dataset}.xlsx for the console (a form sends its empty fields)."""
    org = await org_in_reach(session, caller, org_id)
    try:
        checked_month = MONTH.validate_python(month) if month else None
    except ValidationError as exc:
        raise Unprocessable("validation_error", "月份应为 YYYY-MM") from exc
    return await ledger_download(
        request,
        reading,
        caller=caller,
        dataset=dataset,
        org=org,
        month=checked_month,
        year=int(year) if year else None,
        status=status or None,
        quarter=int(quarter) if quarter else None,
    )


# --- tasks -------------------------------------------------------------------------------


def _task_context(orgs: list[service.OrgChoice], settings: Settings) -> dict[str, Any]:
    return {
        # The place picker's map: none unless tiles are configured.
        "map_tiles": settings.console_map_tiles_url,
        "map_attribution": settings.console_map_attribution,
        "orgs": orgs,
        "org_names": {o.id: o.name for o in orgs},
        "categories": service.TASK_CATEGORY_LABELS,
        "statuses": service.TASK_STATUS_LABELS,
    }


@router.get("/tasks", response_class=HTMLResponse, include_in_schema=False)
async def console_tasks(
    request: Request,
    session: SessionDep,
    caller: ConsoleCaller,
    status: Annotated[QueryText | None, Query(max_length=10)] = None,
    page_number: PageNumber = 1,
) -> Response:
    """任务：管理范围内的任务列表（按状态筛选）和发布表单。"""
    picked = TaskStatus(status) if status in set(TaskStatus) else None
    tasks, pages = await service.tasks_page(
        session, caller=caller, status=picked, paging=paging(request, page_number)
    )
    orgs = await service.orgs_in_reach(session, caller)
    return page(
        request,
        "console/tasks.html",
        {
            **_task_context(orgs, request.app.state.settings),
            "tasks": tasks,
            "total": pages.total,
            "status": picked,
            "paging": pages,
        },
    )


@router.post("/tasks", include_in_schema=False)
async def console_create_task(
    request: Request,
    session: SessionDep,
    caller: ConsoleCaller,
    form: Annotated[TaskForm, Form()],
) -> Response:
    """POST /tasks, from a form: times are Beijing time, the place typed in."""
    location = (
        TaskLocationInput(lat=form.lat, lng=form.lng, radius_m=form.radius_m or 200)
        if form.lat is not None and form.lng is not None
        else None
    )
    data = TaskCreate(
        title=form.title,
        description=form.description,
        org_id=form.org_id,
        category=form.category,
        starts_at=form.starts_at.replace(tzinfo=SHANGHAI),
        ends_at=form.ends_at.replace(tzinfo=SHANGHAI),
        location=location,
        capacity=form.capacity,
    )
    task = await task_service.create_task(session, caller=caller, data=data)
    assert task.id is not None
    return _done(request, "console_task", "created", task_id=task.id)


@router.get("/tasks/{task_id}", response_class=HTMLResponse, include_in_schema=False)
async def console_task(
    request: Request,
    session: SessionDep,
    caller: ConsoleCaller,
    task_id: IdPath,
    page_number: PageNumber = 1,
) -> Response:
    """一个任务及其签到名单（分页）。"""
    task = await task_service.get_visible_task(session, caller, task_id)
    shown = await task_service.task_public(session, caller=caller, task=task)
    pages = paging(request, page_number, service.LONG_PAGE)
    check_ins, total = await task_service.list_check_ins(
        session, caller=caller, task=task, offset=pages.offset, limit=pages.size
    )
    orgs = await service.orgs_in_reach(session, caller)
    return page(
        request,
        "console/task.html",
        {
            **_task_context(orgs, request.app.state.settings),
            "task": shown,
            "check_ins": check_ins,
            "total": total,
            "paging": pages.of(total),
            "done": request.query_params.get("done"),
        },
    )


# --- API keys ---------------------------------------------------------------------------


async def _api_keys_page(
    request: Request,
    session: AsyncSession,
    caller: Caller,
    created: ApiKeyCreated | None,
    page_number: int = 1,
) -> HTMLResponse:
    pages = paging(request, page_number)
    keys, total = await api_key_service.list_keys(
        session, caller=caller, issuer_revoked=None, offset=pages.offset, limit=pages.size
    )
    orgs = await service.orgs_in_reach(session, caller)
    return page(
        request,
        "console/api_keys.html",
        {
            "keys": keys,
            "total": total,
            "paging": pages.of(total),
            "created": created,
            "orgs": orgs,
            "org_names": {o.id: o.name for o in orgs},
            "scopes": service.SCOPE_LABELS,
            "done": request.query_params.get("done"),
        },
    )


@router.get("/api-keys", response_class=HTMLResponse, include_in_schema=False)
async def console_api_keys(
    request: Request, session: SessionDep, caller: ConsoleCaller, page_number: PageNumber = 1
) -> Response:
    """API 密钥（区、街道管理员）：列表（分页）、创建、撤销，同 /api-keys。"""
    return await _api_keys_page(request, session, caller, None, page_number)


@router.post("/api-keys", response_class=HTMLResponse, include_in_schema=False)
async def console_create_api_key(
    request: Request,
    session: SessionDep,
    caller: ConsoleCaller,
    form: Annotated[ApiKeyForm, Form()],
) -> Response:
    """POST /api-keys, from a form. The key is shown on this answer alone (no
    redirect, no cache): it is never stored in the clear."""
    data = ApiKeyCreate(
        name=form.name,
        org_id=form.org_id,
        scopes=form.scopes,
        rate_limit_per_minute=form.rate_limit_per_minute,
    )
    created = await api_key_service.create_key(session, caller=caller, data=data)
    return await _api_keys_page(request, session, caller, created)


@router.post("/api-keys/{key_id}/revoke", include_in_schema=False)
async def console_revoke_api_key(
    request: Request,
    session: SessionDep,
    caller: ConsoleCaller,
    key_id: IdPath,
    form: Annotated[ConsoleForm, Form()],
) -> Response:
    """DELETE /api-keys/{key_id}, from a form."""
    await api_key_service.revoke_key(session, caller=caller, key_id=key_id)
    return _done(request, "console_api_keys", "revoked")


# --- the audit log ----------------------------------------------------------------------


@router.get("/audit", response_class=HTMLResponse, include_in_schema=False)
async def console_audit(
    request: Request,
    session: SessionDep,
    caller: ConsoleCaller,
    action: Annotated[QueryText | None, Query(max_length=50)] = None,
    target_type: Annotated[QueryText | None, Query(max_length=30)] = None,
    page_number: PageNumber = 1,
) -> Response:
    """操作日志（区级管理员）：同 GET /audit-log，按动作、对象类型筛选。"""
    pages = paging(request, page_number, service.AUDIT_PAGE)
    entries, total = await audit.list_entries(
        session,
        caller=caller,
        action=action or None,
        actor_id=None,
        target_type=target_type or None,
        target_id=None,
        offset=pages.offset,
        limit=pages.size,
    )
    return page(
        request,
        "console/audit.html",
        {
            "entries": entries,
            "total": total,
            "filters": {"action": action or "", "target_type": target_type or ""},
            "paging": pages.of(total),
        },
    )


# --- units: members' report-ins, pairings, liaisons (issue 18) ----------------------------


@router.get("/units/members", response_class=HTMLResponse, include_in_schema=False)
async def console_unit_members(
    request: Request,
    session: SessionDep,
    caller: PeopleConsoleCaller,
    org_id: Annotated[str | None, Query(max_length=10, pattern=r"^\d*$")] = None,
    month: Annotated[QueryText | None, Query(max_length=7)] = None,
) -> Response:
    """党员报到：单位（或管理范围内的组织）本月党员报到率和尚未报到的党员（手机号打码），
    同 GET /stats/report-ins。单位党组织书记看本单位。"""
    org = await org_in_reach(
        session, caller, int(org_id) if org_id else service.home_org(caller), PEOPLE_ROLES
    )
    try:
        checked_month = MONTH.validate_python(month) if month else None
    except ValidationError as exc:
        raise Unprocessable("validation_error", "月份应为 YYYY-MM") from exc
    figures = await report_in_service.report_in_figures(
        session, caller=caller, org=org, month=checked_month
    )
    missing = figures.not_reported or []
    return page(
        request,
        "console/unit_members.html",
        {
            "figures": figures,
            "missing": missing,
            "communities": await org_names(
                session, {p.community_id for p in missing if p.community_id is not None}
            ),
            "orgs": await service.orgs_in_reach(session, caller, PEOPLE_ROLES),
            "picked": org.id,
        },
    )


def _optional_date(value: Any) -> Any:
    return None if value == "" else value


OptionalDate = Annotated[date | None, BeforeValidator(_optional_date)]


class PairingForm(ConsoleForm):
    unit_id: int = Field(ge=1, le=MAX_ID)
    community_id: int = Field(ge=1, le=MAX_ID)
    starts_on: date
    ends_on: OptionalDate = None
    # One commitment a line, as a textarea sends them.
    commitments: str = Field(default="", max_length=4000)


class PairingEndForm(ConsoleForm):
    note: str = Field(default="", max_length=500)


class LiaisonForm(ConsoleForm):
    # A leader or a unit (one of the two; the service says which is missing).
    user_id: OptionalId = None
    unit_id: OptionalId = None
    org_id: int = Field(ge=1, le=MAX_ID)
    starts_on: date
    ends_on: OptionalDate = None


@router.get("/pairings", response_class=HTMLResponse, include_in_schema=False)
async def console_pairings(
    request: Request, session: SessionDep, caller: PeopleConsoleCaller, page_number: PageNumber = 1
) -> Response:
    """结对共建：管理范围内（单位党组织书记：本单位）的结对，同 GET /pairings；
    区、街道管理员可在此结对和结束结对。"""
    pages = paging(request, page_number)
    pairings, total = await pairing_service.list_pairings(
        session,
        caller=caller,
        unit_id=None,
        community_id=None,
        status=None,
        offset=pages.offset,
        limit=pages.size,
    )
    manages = bool(caller.paths(pairing_service.MANAGER_ROLES))
    return page(
        request,
        "console/pairings.html",
        {
            "pairings": await pairing_service.to_public(session, pairings),
            "total": total,
            "paging": pages.of(total),
            "manages": manages,
            "orgs": await service.orgs_in_reach(session, caller) if manages else [],
            "done": request.query_params.get("done"),
        },
    )


@router.post("/pairings", include_in_schema=False)
async def console_create_pairing(
    request: Request,
    session: SessionDep,
    caller: ConsoleCaller,
    form: Annotated[PairingForm, Form()],
) -> Response:
    """POST /pairings, from a form (commitments one a line)."""
    data = PairingCreate(
        unit_id=form.unit_id,
        community_id=form.community_id,
        starts_on=form.starts_on,
        ends_on=form.ends_on,
        commitments=[line.strip() for line in form.commitments.splitlines() if line.strip()],
    )
    await pairing_service.create_pairing(session, caller=caller, data=data)
    return _done(request, "console_pairings", "created")


@router.post("/pairings/{pairing_id}/end", include_in_schema=False)
async def console_end_pairing(
    request: Request,
    session: SessionDep,
    caller: ConsoleCaller,
    pairing_id: IdPath,
    form: Annotated[PairingEndForm, Form()],
) -> Response:
    """POST /pairings/{pairing_id}/end, from a form (ends today)."""
    pairing = await pairing_service.get_visible_pairing(session, caller, pairing_id)
    data = PairingEnd(note=form.note or None)
    await pairing_service.end_pairing(session, caller=caller, pairing=pairing, data=data)
    return _done(request, "console_pairings", "ended")


@router.get("/liaisons", response_class=HTMLResponse, include_in_schema=False)
async def console_liaisons(
    request: Request, session: SessionDep, caller: ConsoleCaller, page_number: PageNumber = 1
) -> Response:
    """包联：管理范围内街道、社区的包联安排，同 GET /liaisons；区管理员可在此安排。"""
    pages = paging(request, page_number)
    liaisons, total = await liaison_service.list_liaisons(
        session, caller=caller, org=None, offset=pages.offset, limit=pages.size
    )
    assigns = bool(caller.paths(liaison_service.ASSIGNERS))
    return page(
        request,
        "console/liaisons.html",
        {
            "liaisons": await liaison_service.to_public(session, liaisons),
            "total": total,
            "paging": pages.of(total),
            "assigns": assigns,
            "orgs": await service.orgs_in_reach(session, caller) if assigns else [],
            "done": request.query_params.get("done"),
        },
    )


@router.post("/liaisons", include_in_schema=False)
async def console_create_liaison(
    request: Request,
    session: SessionDep,
    caller: ConsoleCaller,
    form: Annotated[LiaisonForm, Form()],
) -> Response:
    """POST /liaisons, from a form."""
    data = LiaisonCreate(
        user_id=form.user_id,
        unit_id=form.unit_id,
        org_id=form.org_id,
        starts_on=form.starts_on,
        ends_on=form.ends_on,
    )
    await liaison_service.create_liaison(session, caller=caller, data=data)
    return _done(request, "console_liaisons", "created")


# --- inspections and residents' reports (issue 21) ----------------------------------------


def _day(value: str | None, default: date) -> date:
    if not value:
        return default
    try:
        return date.fromisoformat(DAY.validate_python(value))
    except ValidationError as exc:
        raise Unprocessable("validation_error", "日期应为 YYYY-MM-DD") from exc


@router.get("/inspections", response_class=HTMLResponse, include_in_schema=False)
async def console_inspections(
    request: Request,
    session: SessionDep,
    caller: SupervisorConsoleCaller,
    org_id: Annotated[str | None, Query(max_length=10, pattern=r"^\d*$")] = None,
    since: Annotated[QueryText | None, Query(alias="from", max_length=10)] = None,
    until: Annotated[QueryText | None, Query(alias="to", max_length=10)] = None,
    page_number: PageNumber = 1,
) -> Response:
    """巡查记录：管理（督导）范围内一段日期（北京时间，默认近 7 天）的巡查，按日分组，
    分页，同 GET /inspections。"""
    pages = paging(request, page_number, service.LONG_PAGE)
    last = _day(until, local(utcnow()).date())
    first = _day(since, last - timedelta(days=service.INSPECTION_DAYS - 1))
    picked = int(org_id) if org_id else None
    org = await inspection_service.get_inspected_org(session, caller, picked) if picked else None
    visits, total = await inspection_service.list_inspections(
        session,
        caller=caller,
        org=org,
        point_id=None,
        since=first,
        until=last,
        offset=pages.offset,
        limit=pages.size,
    )
    shown = await inspection_service.inspections_public(
        session, visits, viewer_id=caller.id, supervisor=inspection_service.supervises(caller)
    )
    days: dict[date, list[InspectionPublic]] = {}
    for visit in shown:
        days.setdefault(local(visit.visited_at).date(), []).append(visit)
    orgs = await service.orgs_in_reach(session, caller, problem_service.SUPERVISION_ROLES)
    return page(
        request,
        "console/inspections.html",
        {
            "days": days,
            "total": total,
            "paging": pages.of(total),
            "since": first.isoformat(),
            "until": last.isoformat(),
            "orgs": orgs,
            "org_names": {o.id: o.name for o in orgs},
            "picked": picked,
            "kinds": service.POINT_KIND_LABELS,
        },
    )


@router.get("/inspections/{inspection_id}.xlsx", include_in_schema=False)
async def console_inspection_sheet(
    session: SessionDep, caller: SupervisorConsoleCaller, inspection_id: IdPath
) -> Response:
    """GET /inspections/{inspection_id}.xlsx: the visit's record (纪实表), its
    supervision team named, for the office to print and sign."""
    visit = await inspection_service.get_visible_inspection(session, caller, inspection_id)
    content = await inspection_service.visit_record_xlsx(
        session, inspection=visit, viewer_id=caller.id
    )
    utf8 = quote(f"巡查纪实表-{visit.id}.xlsx")
    return Response(
        content,
        media_type=inspection_service.XLSX_MEDIA_TYPE,
        headers={
            "Content-Disposition": f'attachment; filename="inspection-{visit.id}.xlsx"; '
            f"filename*=UTF-8''{utf8}",
            "Cache-Control": "no-store",
        },
    )


@router.get("/points/{point_id}", response_class=HTMLResponse, include_in_schema=False)
async def console_point(
    request: Request,
    session: SessionDep,
    caller: SupervisorConsoleCaller,
    point_id: IdPath,
    page_number: PageNumber = 1,
) -> Response:
    """点位档案：点位、最近一次巡查的逐项结果和历次巡查（分页，最近的在前）。"""
    pages = paging(request, page_number, service.LONG_PAGE)
    point = await problem_service.get_visible_point(session, caller, point_id)
    (shown,) = await problem_service.points_public(session, [point])
    visits, total = await inspection_service.list_inspections(
        session,
        caller=caller,
        org=None,
        point_id=point_id,
        since=None,
        until=None,
        offset=pages.offset,
        limit=pages.size,
    )
    history = await inspection_service.inspections_public(
        session, visits, viewer_id=caller.id, supervisor=inspection_service.supervises(caller)
    )
    names = await org_names(session, {point.org_id})
    return page(
        request,
        "console/point.html",
        {
            "point": shown,
            "org_name": names.get(point.org_id, ""),
            "visits": history,
            "latest": history[0] if history and pages.number == 1 else None,
            "total": total,
            "paging": pages.of(total),
            "kinds": service.POINT_KIND_LABELS,
        },
    )


class AcceptForm(ConsoleForm):
    org_id: int = Field(ge=1, le=MAX_ID)
    deadline: OptionalDate = None
    deadline_working_days: OptionalCount = None


class RejectForm(ConsoleForm):
    reason: str = Field(min_length=1, max_length=500)


@router.get("/reports", response_class=HTMLResponse, include_in_schema=False)
async def console_reports(
    request: Request,
    session: SessionDep,
    caller: ConsoleCaller,
    status: Annotated[QueryText | None, Query(max_length=10)] = None,
    page_number: PageNumber = 1,
) -> Response:
    """随手拍受理：管理范围内的随手拍（默认待受理，分页），每条旁列出 50 米内、
    近 7 天可能重复的线索；受理转为督办问题（责任单位和期限），或不予受理（须写原因）。"""
    picked = ReportStatus(status) if status in set(ReportStatus) else ReportStatus.submitted
    pages = paging(request, page_number, service.INBOX_PAGE)
    reports, total = await report_service.list_reports(
        session,
        caller=caller,
        org=None,
        status=picked,
        mine=False,
        offset=pages.offset,
        limit=pages.size,
    )
    orgs = await service.orgs_in_reach(session, caller)
    return page(
        request,
        "console/reports.html",
        {
            "reports": await report_service.reports_public(session, reports, caller=caller),
            "nearby": await service.nearby_of(session, caller=caller, reports=reports),
            "total": total,
            "paging": pages.of(total),
            "status": picked,
            "statuses": service.REPORT_STATUS_LABELS,
            "problem_statuses": service.PROBLEM_STATUS_LABELS,
            "categories": service.CATEGORY_LABELS,
            "orgs": orgs,
            "org_names": {o.id: o.name for o in orgs},
            "today": local(utcnow()).date().isoformat(),
            # The problems' own limit (a deadline within a year); the service decides.
            "latest": (local(utcnow()).date() + timedelta(days=365)).isoformat(),
            "done": request.query_params.get("done"),
        },
    )


@router.post("/reports/{report_id}/accept", include_in_schema=False)
async def console_accept_report(
    request: Request,
    session: SessionDep,
    caller: ConsoleCaller,
    report_id: IdPath,
    form: Annotated[AcceptForm, Form()],
) -> Response:
    """POST /reports/{report_id}/accept, from a form."""
    report = await report_service.get_visible_report(session, caller, report_id)
    data = ReportAccept(
        org_id=form.org_id,
        deadline=form.deadline,
        deadline_working_days=form.deadline_working_days,
    )
    await report_service.accept_report(session, caller=caller, report=report, data=data)
    return _done(request, "console_reports", "accepted")


@router.post("/reports/{report_id}/reject", include_in_schema=False)
async def console_reject_report(
    request: Request,
    session: SessionDep,
    caller: ConsoleCaller,
    report_id: IdPath,
    form: Annotated[RejectForm, Form()],
) -> Response:
    """POST /reports/{report_id}/reject, from a form."""
    report = await report_service.get_visible_report(session, caller, report_id)
    await report_service.reject_report(
        session, caller=caller, report=report, data=ReportReject(reason=form.reason)
    )
    return _done(request, "console_reports", "rejected")


# --- volunteers, teams and the order board (issue 19) --------------------------------------


@router.get("/reviews/volunteers", response_class=HTMLResponse, include_in_schema=False)
async def console_volunteer_reviews(
    request: Request, session: SessionDep, caller: ConsoleCaller, page_number: PageNumber = 1
) -> Response:
    """志愿者审核：本人管理范围内待审核的志愿者登记，逐条通过或退回（须填原因）。"""
    screen = await service.volunteer_reviews(
        session, caller=caller, paging=paging(request, page_number)
    )
    return _reviews(request, screen)


@router.post("/reviews/volunteers/{volunteer_id}", include_in_schema=False)
async def console_review_volunteer(
    request: Request,
    session: SessionDep,
    caller: ConsoleCaller,
    volunteer_id: IdPath,
    form: Annotated[DecisionForm, Form()],
) -> Response:
    """POST /volunteers/{volunteer_id}/review, from a form."""
    volunteer = await volunteer_service.get_visible_volunteer(session, caller, volunteer_id)
    data = VolunteerReview(approve=form.approve, reason=form.reason or None)
    await volunteer_service.review(session, caller=caller, volunteer=volunteer, data=data)
    return _reviewed(request, "console_volunteer_reviews", form.decision)


@router.get("/teams", response_class=HTMLResponse, include_in_schema=False)
async def console_teams(
    request: Request, session: SessionDep, caller: ConsoleCaller, page_number: PageNumber = 1
) -> Response:
    """志愿服务队：本人管理范围内的队伍、队员人数和服务记录（分页）。"""
    teams, pages = await service.teams_page(
        session, caller=caller, paging=paging(request, page_number)
    )
    names = await org_names(session, {t.org_id for t in teams})
    return page(
        request, "console/teams.html", {"teams": teams, "org_names": names, "paging": pages}
    )


class DispatchForm(ConsoleForm):
    team_id: int = Field(ge=1, le=MAX_ID)


@router.get("/service-orders", response_class=HTMLResponse, include_in_schema=False)
async def console_service_orders(
    request: Request,
    session: SessionDep,
    caller: ConsoleCaller,
    cipher: CipherDep,
    page_number: PageNumber = 1,
) -> Response:
    """派单台：本人管理范围内待处理的服务订单（最早的在前，分页），一键受理、派单或改派。"""
    board = await service.order_board(
        session, caller=caller, cipher=cipher, paging=paging(request, page_number)
    )
    done = request.query_params.get("done")
    return page(request, "console/service_orders.html", {"board": board, "done": done})


@router.post("/service-orders/{order_id}/accept", include_in_schema=False)
async def console_accept_order(
    request: Request,
    session: SessionDep,
    caller: ConsoleCaller,
    order_id: IdPath,
    form: Annotated[ConsoleForm, Form()],
) -> Response:
    """POST /service-orders/{order_id}/accept, from a form."""
    order = await order_service.get_visible_order(session, caller, order_id)
    await order_service.accept(session, caller=caller, order=order)
    return _done(request, "console_service_orders", "accepted")


@router.post("/service-orders/{order_id}/dispatch", include_in_schema=False)
async def console_dispatch_order(
    request: Request,
    session: SessionDep,
    caller: ConsoleCaller,
    order_id: IdPath,
    form: Annotated[DispatchForm, Form()],
) -> Response:
    """POST /service-orders/{order_id}/dispatch, from a form: one click per team."""
    order = await order_service.get_visible_order(session, caller, order_id)
    await order_service.dispatch(
        session, caller=caller, order=order, data=OrderDispatch(team_id=form.team_id)
    )
    return _done(request, "console_service_orders", "dispatched")


# --- the console's files ------------------------------------------------------------------


@dataclass(frozen=True)
class Asset:
    path: Path
    media_type: str
    digest: str


_ASSET_FILES = {
    "console.js": ("console/console.js", "text/javascript; charset=utf-8"),
    "console.css": ("console/console.css", "text/css; charset=utf-8"),
    # The dashboard screen draws the dashboard page's charts with its files.
    "dashboard_view.js": ("dashboard_view/dashboard_view.js", "text/javascript; charset=utf-8"),
    "dashboard_view.css": ("dashboard_view/dashboard_view.css", "text/css; charset=utf-8"),
    "echarts.min.js": ("vendor/echarts/echarts.min.js", "text/javascript; charset=utf-8"),
    # The task form's map picker (only when CONSOLE_MAP_TILES_URL names tiles).
    "leaflet.js": ("vendor/leaflet/leaflet.js", "text/javascript; charset=utf-8"),
    "leaflet.css": ("vendor/leaflet/leaflet.css", "text/css; charset=utf-8"),
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
    return f"/console/assets/{static_assets()[name].digest}/{name}"


files = APIRouter(include_in_schema=False)


@files.get("/assets/{digest}/{name}")
async def console_asset(digest: QueryText, name: QueryText) -> FileResponse:
    asset = static_assets().get(name)
    if asset is None:
        raise NotFound("没有这个文件")
    cache_control = "public, max-age=31536000, immutable" if digest == asset.digest else "no-cache"
    return FileResponse(
        asset.path, media_type=asset.media_type, headers={"Cache-Control": cache_control}
    )


# --- the dev stub's login (APP_ENV=dev only) -----------------------------------------------

dev = APIRouter(prefix="/console", route_class=ConsoleRoute, include_in_schema=False)


@dev.post("/dev-login")
async def console_dev_login(
    request: Request,
    session: SessionDep,
    form: Annotated[DevLoginForm, Form()],
) -> Response:
    """`make run` only: confirm the page's ticket as a demo admin, as their phone
    would, and collect the session as the page would."""
    caller = await service.dev_admin(session, form.user_id)
    await console_login.confirm_ticket(session, caller=caller, ticket=form.ticket)
    raw = await console_login.collect_session(
        session, ticket=form.ticket, browser_secret=request.cookies.get(LOGIN_COOKIE)
    )
    assert raw is not None  # confirmed just now
    response = see_other(request, "console_home")
    set_session_cookie(response, raw)
    forget_cookie(response, LOGIN_COOKIE)
    return response


router.include_router(files)


# --- the community shop (积分超市) ---------------------------------------------------------


@router.get("/shop", response_class=HTMLResponse, include_in_schema=False)
async def console_shop(
    request: Request,
    session: SessionDep,
    caller: ConsoleCaller,
    community_id: Annotated[str | None, Query(max_length=10, pattern=r"^\d*$")] = None,
    items_page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    waiting_page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    awards_page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    resident: Annotated[QueryText | None, Query(max_length=50)] = None,
) -> Response:
    """积分超市：库存和上架、待取货的兑换（凭取货码核销）、积分奖励，各自分页。"""
    numbers = {"items_page": items_page, "waiting_page": waiting_page, "awards_page": awards_page}
    pagings = {name: paging(request, number, param=name) for name, number in numbers.items()}
    screen = await service.shop_screen(
        session,
        caller,
        int(community_id) if community_id else None,
        pagings,
        (resident or "").strip(),
    )
    return page(
        request,
        "console/shop.html",
        {
            "screen": screen,
            "shanghai": _shanghai,
            "done": request.query_params.get("done"),
        },
    )


def _to_shop(request: Request, community_id: int, what: str) -> RedirectResponse:
    response = see_other(request, "console_shop")
    response.headers["location"] += f"?community_id={community_id}&done={what}"
    return response


@router.post("/shop/items", include_in_schema=False)
async def console_create_shop_item(
    request: Request,
    session: SessionDep,
    caller: ConsoleCaller,
    form: Annotated[ShopItemForm, Form()],
) -> Response:
    """POST /shop/items, from a form (photos from the mini-program)."""
    data = ShopItemCreate(
        community_id=form.community_id, name=form.name, points=form.points, stock=form.stock
    )
    await shop_service.create_item(session, caller=caller, data=data)
    return _to_shop(request, form.community_id, "item")


@router.post("/shop/redemptions/{redemption_id}/collect", include_in_schema=False)
async def console_collect_redemption(
    request: Request,
    session: SessionDep,
    caller: ConsoleCaller,
    redemption_id: IdPath,
    form: Annotated[CollectForm, Form()],
) -> Response:
    """POST /shop/redemptions/{redemption_id}/collect, from a form."""
    redemption = await shop_service.get_visible_redemption(session, caller, redemption_id)
    await shop_service.collect(
        session, caller=caller, redemption=redemption, pickup_code=form.pickup_code
    )
    return _to_shop(request, redemption.community_id, "collected")


@router.post("/shop/awards", include_in_schema=False)
async def console_award_points(
    request: Request,
    session: SessionDep,
    caller: ConsoleCaller,
    settings: SettingsDep,
    form: Annotated[AwardForm, Form()],
) -> Response:
    """POST /points/awards, from a form."""
    data = AwardCreate(user_id=form.user_id, points=form.points, reason=form.reason)
    entry = await points_service.award(
        session, caller=caller, data=data, cap=settings.points_award_cap
    )
    return _to_shop(request, entry.org_id, "awarded")
