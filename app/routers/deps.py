"""Dependencies every router shares: the session, the caller, what it reaches, paging."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Annotated, Any, Generic, TypeVar

from fastapi import Depends, Path, Query, Request
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.errors import Forbidden, Unauthorized
from app.core.scope import Caller, org_in_reach
from app.core.security import PiiCipher
from app.core.storage import Storage
from app.core.wechat import WeChatGateway
from app.edge import request_state
from app.edge.access import caller_for_key, caller_for_token, record_named
from app.edge.transaction import get_session
from app.models.api_key import ApiScope
from app.models.article import Article
from app.models.indicator import Indicator
from app.models.inspection import Inspection, InspectionTeam
from app.models.media import Media
from app.models.org import Org
from app.models.pairing import Liaison, Pairing
from app.models.points import Redemption
from app.models.problem import Point, Problem
from app.models.publicity import ArticleColumn, Placement
from app.models.report import Report
from app.models.service_order import ServiceItem, ServiceOrder
from app.models.survey import Survey
from app.models.task import Task
from app.models.team import Team
from app.models.user import ADMIN_ROLES, MAX_ID, PEOPLE_ROLES, Role, User
from app.models.volunteer import Volunteer
from app.models.volunteer_hours import VolunteerHour
from app.models.wish import Wish
from app.services import articles as article_service
from app.services import indicators as indicator_service
from app.services import inspection_teams as team_service
from app.services import inspections as inspection_service
from app.services import liaisons as liaison_service
from app.services import media as media_service
from app.services import orgs as org_service
from app.services import pairings as pairing_service
from app.services import problems as problem_service
from app.services import publicity as publicity_service
from app.services import reports as report_service
from app.services import service_orders as order_service
from app.services import shop as shop_service
from app.services import surveys as survey_service
from app.services import tasks as task_service
from app.services import teams as volunteer_team_service
from app.services import users as user_service
from app.services import volunteer_hours as hours_service
from app.services import volunteers as volunteer_service
from app.services import wishes as wish_service

T = TypeVar("T")
M = TypeVar("M")


# Plain accessors are `async def` on purpose: FastAPI runs sync dependencies in the
# thread pool, a hop per dependency per request for nothing.


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_cipher(request: Request) -> PiiCipher:
    cipher: PiiCipher = request.app.state.cipher
    return cipher


async def get_wechat(request: Request) -> WeChatGateway:
    gateway: WeChatGateway = request.app.state.wechat
    return gateway


async def get_storage(request: Request) -> Storage:
    storage: Storage = request.app.state.storage
    return storage


async def get_reading_session(request: Request) -> AsyncIterator[AsyncSession]:
    """For dashboards, rankings, statistics and exports: a session on the read replica
    when it is in use (app/core/replica.py), else the request's own. Who is calling
    and which org they ask about are still read on the primary (SessionDep)."""
    route = request.scope.get("route")
    in_transaction = bool(getattr(route, "reads_in_transaction", False))
    async with request.app.state.replica.session(in_transaction=in_transaction) as replica:
        yield replica if replica is not None else request_state.session(request)


SessionDep = Annotated[AsyncSession, Depends(get_session)]
# Figures that may be REPLICA_MAX_LAG_S old; never for anything that decides a write.
ReadingSessionDep = Annotated[AsyncSession, Depends(get_reading_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
CipherDep = Annotated[PiiCipher, Depends(get_cipher)]
WeChatDep = Annotated[WeChatGateway, Depends(get_wechat)]
StorageDep = Annotated[Storage, Depends(get_storage)]


# The caller dependencies take the session and settings from the request, as
# get_session and get_settings do, rather than depending on them: each dependency a
# route resolves costs it CPU, and these two run on nearly every request.


async def get_caller(request: Request) -> Caller:
    """The person behind the bearer token. API keys are not accepted here."""
    cached = request_state.caller(request)
    if cached is not None and not cached.is_api_key:
        return cached
    claims = request_state.token_claims(request, request.app.state.settings)
    # Roles are read from the database on every request (a revoke bites at once),
    # together with the user and their home community in one query (with the
    # Idempotency-Key lookup on creating POSTs, by app.edge.idempotency).
    session = request_state.session(request)
    caller = await caller_for_token(session, claims, record_named(request)) if claims else None
    if caller is None:
        raise Unauthorized("not_authenticated", "请先登录")
    request_state.keep_caller(request, caller)
    return caller


CurrentCaller = Annotated[Caller, Depends(get_caller)]


def person_or_key(
    scope: ApiScope, *, admins_only: bool = False, unit_admins: bool = False
) -> Callable[..., Awaitable[Caller]]:
    """A dependency for read routes that third-party systems may call with `X-API-Key`.

    The key acts as an admin of its org's subtree (see Caller) and must carry
    `scope`; each call counts against the key's per-minute limit. With
    `admins_only`, a person must hold an admin role; with `unit_admins` as well, a
    unit's party secretary counts as one (figures about people: their unit's).
    """

    async def dependency(request: Request) -> Caller:
        raw = request.headers.get("x-api-key")
        if not raw or request.headers.get("authorization"):
            person = await get_caller(request)
            admitted = person.reaches_people if unit_admins else person.is_admin
            if admins_only and not admitted:
                raise Forbidden("forbidden", "只有管理员可以进行此操作")
            return person
        cached = request_state.caller(request)
        if cached is None:
            found = await caller_for_key(request_state.session(request), raw)
            if found is None:
                raise Unauthorized("not_authenticated", "API 密钥无效或已撤销")
            cached, key = found
            await request.app.state.ratelimiter.hit_per_minute(
                f"api-key:{key.id}", key.rate_limit_per_minute
            )
            request_state.keep_caller(request, cached)
        if scope.value not in (cached.api_key_scopes or ()):
            raise Forbidden("insufficient_scope", f"该 API 密钥没有 {scope.value} 权限")
        return cached

    return dependency


OrgsReader = Annotated[Caller, Depends(person_or_key(ApiScope.read_orgs))]
TasksReader = Annotated[Caller, Depends(person_or_key(ApiScope.read_tasks))]
WishesReader = Annotated[Caller, Depends(person_or_key(ApiScope.read_wishes))]
ProblemsReader = Annotated[Caller, Depends(person_or_key(ApiScope.read_problems))]
ArticlesReader = Annotated[Caller, Depends(person_or_key(ApiScope.read_articles))]
StatsReader = Annotated[Caller, Depends(person_or_key(ApiScope.read_stats, admins_only=True))]
# Figures about people (report-in rates, dashboards): admins, and units' secretaries
# for their unit (with OrgInReach(..., PEOPLE_ROLES)).
PeopleStatsReader = Annotated[
    Caller,
    Depends(person_or_key(ApiScope.read_stats, admins_only=True, unit_admins=True)),
]


async def get_admin(caller: CurrentCaller) -> Caller:
    if not caller.is_admin:
        raise Forbidden("forbidden", "只有管理员可以进行此操作")
    return caller


AdminCaller = Annotated[Caller, Depends(get_admin)]


async def get_people_admin(caller: CurrentCaller) -> Caller:
    """An admin of a place, or a unit's party secretary (who reaches its members)."""
    if not caller.reaches_people:
        raise Forbidden("forbidden", "只有管理员可以进行此操作")
    return caller


# Routes about people and what they did: place admins, and unit admins for their members.
PeopleCaller = Annotated[Caller, Depends(get_people_admin)]

IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]


# --- the vocabulary of reach -------------------------------------------------------------
# Every "this org, if in reach", "this record, if visible" and "?org_id=" of a route is
# one of the dependencies below, so no route repeats the check and none can forget it.
# Out of reach answers 404, as missing: whether it exists is not the caller's to learn.
# Each takes the caller through the route's own caller dependency (`reader`), which
# FastAPI resolves once per request however many parts ask, and the session from the
# request, as the caller dependencies do (one dependency fewer to resolve each).

CallerDep = Any  # an Annotated[Caller, Depends(...)] above: CurrentCaller, TasksReader, ...
Find = Callable[[AsyncSession, Caller, int], Awaitable[M]]


def _dependency(
    params: dict[str, Any], body: Callable[..., Awaitable[T]]
) -> Callable[..., Awaitable[T]]:
    """`body` with the signature FastAPI reads: `params` (name → annotation, default)."""
    body.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=a, default=d)
            for name, (a, d) in params.items()
        ]
    )
    return body


_REQUIRED = inspect.Parameter.empty


def record(id_name: str, find: Find[M], reader: CallerDep) -> Any:
    """`Annotated[M, Depends(...)]`: the record named by the path parameter `id_name`,
    as `find` gives it to the caller (it raises NotFound when they may not see it)."""

    async def load(*, request: Request, caller: Caller, **ids: int) -> M:
        return await find(request_state.session(request), caller, ids[id_name])

    params = {
        id_name: (IdPath, _REQUIRED),
        "request": (Request, _REQUIRED),
        "caller": (reader, _REQUIRED),
    }
    return Depends(_dependency(params, load))


# Visible[M]: the record, if the caller may see it: a person, or an API key with the
# domain's read scope where the domain has one. InReach[M]: the record, if the person
# calling (never a key) may act on it. A new domain adds its line to each it uses.
_VISIBLE: dict[type, Any] = {
    Org: record("org_id", org_service.get_visible_org, OrgsReader),
    Task: record("task_id", task_service.get_visible_task, TasksReader),
    Wish: record("wish_id", wish_service.get_visible_wish, WishesReader),
    Point: record("point_id", problem_service.get_visible_point, ProblemsReader),
    Problem: record("problem_id", problem_service.get_visible_problem, ProblemsReader),
    Inspection: record("inspection_id", inspection_service.get_visible_inspection, ProblemsReader),
    Article: record("article_id", article_service.get_visible_article, ArticlesReader),
    # Columns are the writers' choice list: people only.
    ArticleColumn: record("column_id", publicity_service.get_visible_column, CurrentCaller),
    Placement: record("placement_id", publicity_service.get_visible_placement, CurrentCaller),
    VolunteerHour: record("entry_id", hours_service.get_visible_entry, CurrentCaller),
    Media: record("media_id", media_service.get_visible_media, CurrentCaller),
    # Admins see the people their roles reach; a unit's party secretary its members.
    User: record("user_id", user_service.get_visible_user, PeopleCaller),
    Pairing: record("pairing_id", pairing_service.get_visible_pairing, PeopleCaller),
    Report: record("report_id", report_service.get_visible_report, CurrentCaller),
    InspectionTeam: record("team_id", team_service.get_visible_team, CurrentCaller),
    Volunteer: record("volunteer_id", volunteer_service.get_visible_volunteer, CurrentCaller),
    Team: record("team_id", volunteer_team_service.get_visible_team, CurrentCaller),
    ServiceOrder: record("order_id", order_service.get_visible_order, CurrentCaller),
    Redemption: record("redemption_id", shop_service.get_visible_redemption, CurrentCaller),
    Survey: record("survey_id", survey_service.get_visible_survey, CurrentCaller),
    Indicator: record("indicator_id", indicator_service.get_visible_indicator, CurrentCaller),
}
_IN_REACH: dict[type, Any] = {
    # Admins act on the people their roles reach.
    User: record("user_id", user_service.get_user_in_reach, AdminCaller),
    # Writes are a person's: an API key is 401 here before any record is looked up.
    Article: record("article_id", article_service.get_visible_article, CurrentCaller),
    ArticleColumn: record("column_id", publicity_service.get_visible_column, CurrentCaller),
    # A member acts on a wish by claiming it, on a task by attending it.
    Wish: record("wish_id", wish_service.get_claimable_wish, CurrentCaller),
    Task: record("task_id", task_service.get_task_for_attendee, CurrentCaller),
    # Liaisons are the district's arrangement: admins over the org act on them.
    Liaison: record("liaison_id", liaison_service.get_liaison_in_reach, AdminCaller),
    # A menu item is its org's admins' (and those above).
    ServiceItem: record("item_id", order_service.get_item_in_reach, AdminCaller),
}

if TYPE_CHECKING:
    # What a route receives is the record itself.
    Visible = Annotated[M, "visible"]
    InReach = Annotated[M, "in reach"]
else:

    class Visible:
        def __class_getitem__(cls, model: type) -> Any:
            return Annotated[model, _VISIBLE[model]]

    class InReach:
        def __class_getitem__(cls, model: type) -> Any:
            return Annotated[model, _IN_REACH[model]]


def OrgInReach(reader: CallerDep, roles: Iterable[Role] = ADMIN_ROLES) -> Any:
    """`Annotated[Org, OrgInReach(...)]`: the org of the required `?org_id=`, if
    `roles` of the caller reach it: the org a report, ledger or dashboard covers."""
    wanted = tuple(roles)

    async def load(*, request: Request, caller: Caller, org_id: int) -> Org:
        return await org_in_reach(request_state.session(request), caller, org_id, wanted)

    described = Query(ge=1, le=MAX_ID, description="该组织及其全部下级，须在管理范围内")
    org_id = Annotated[int, described]
    params = {
        "org_id": (org_id, _REQUIRED),
        "request": (Request, _REQUIRED),
        "caller": (reader, _REQUIRED),
    }
    return Depends(_dependency(params, load))


def org_filter(
    reader: CallerDep,
    find: Find[Org] = org_in_reach,
    *,
    param: str = "org_id",
    description: str = "该组织及其下级",
) -> Any:
    """`Annotated[Org | None, org_filter(...)]`: the one rule of `?org_id=` on lists
    (and of a list's other org parameter, such as `?community_id=` of GET /wishes).

    Absent, None: the list is all the caller may see. Present, the org, which must be
    one whose records of this list the caller may see (`find`; by default, an org their
    admin roles reach), else 404 as for a record out of reach; the list is then
    limited to that org."""

    async def load(*, request: Request, caller: Caller, **named: int | None) -> Org | None:
        org_id = named[param]
        if org_id is None:
            return None
        return await find(request_state.session(request), caller, org_id)

    org_id = Annotated[int | None, Query(ge=1, le=MAX_ID, description=description)]
    params = {
        param: (org_id, None),
        "request": (Request, _REQUIRED),
        "caller": (reader, _REQUIRED),
    }
    return Depends(_dependency(params, load))


async def org_of_people(session: AsyncSession, caller: Caller, org_id: int) -> Org:
    """`find` for lists of what people did (`org_filter`): an org in admin reach, or a
    unit the caller is party secretary of (or one below it)."""
    return await org_in_reach(session, caller, org_id, PEOPLE_ROLES)


class PageParams(BaseModel):
    page: int
    page_size: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size


async def get_page(
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=100)] = 20,
) -> PageParams:
    return PageParams(page=page, page_size=page_size)


PageDep = Annotated[PageParams, Depends(get_page)]


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    page: int
    page_size: int


def page_of(items: list[T], total: int, params: PageParams) -> Page[T]:
    return Page[T](items=items, total=total, page=params.page, page_size=params.page_size)
