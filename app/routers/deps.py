"""Dependencies every router shares: the session, the caller, scoped loaders, paging."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Generic, TypeVar

from fastapi import Depends, Path, Query, Request
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.errors import Forbidden, Unauthorized
from app.core.scope import Caller, load_caller_for_token
from app.core.security import PiiCipher
from app.core.storage import Storage
from app.core.wechat import WeChatGateway
from app.edge import request_state
from app.edge.transaction import get_session
from app.models.api_key import ApiScope
from app.models.org import Org
from app.models.user import MAX_ID, User
from app.services import api_keys as api_key_service
from app.services import orgs as org_service
from app.services import users as user_service

T = TypeVar("T")


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


SessionDep = Annotated[AsyncSession, Depends(get_session)]
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
    caller = await load_caller_for_token(session, claims) if claims else None
    if caller is None:
        raise Unauthorized("not_authenticated", "请先登录")
    request_state.keep_caller(request, caller)
    return caller


CurrentCaller = Annotated[Caller, Depends(get_caller)]


def person_or_key(
    scope: ApiScope, *, admins_only: bool = False
) -> Callable[..., Awaitable[Caller]]:
    """A dependency for read routes that third-party systems may call with `X-API-Key`.

    The key acts as an admin of its org's subtree (see Caller) and must carry
    `scope`; each call counts against the key's per-minute limit. With
    `admins_only`, a person must hold an admin role, as for GET /users.
    """

    async def dependency(request: Request) -> Caller:
        raw = request.headers.get("x-api-key")
        if not raw or request.headers.get("authorization"):
            person = await get_caller(request)
            if admins_only and not person.is_admin:
                raise Forbidden("forbidden", "只有管理员可以进行此操作")
            return person
        cached = request_state.caller(request)
        if cached is None:
            found = await api_key_service.caller_for_key(request_state.session(request), raw)
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


async def get_admin(caller: CurrentCaller) -> Caller:
    if not caller.is_admin:
        raise Forbidden("forbidden", "只有管理员可以进行此操作")
    return caller


AdminCaller = Annotated[Caller, Depends(get_admin)]

IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]


async def get_org_in_scope(org_id: IdPath, session: SessionDep, caller: OrgsReader) -> Org:
    return await org_service.get_visible_org(session, caller, org_id)


async def get_user_in_scope(user_id: IdPath, session: SessionDep, caller: AdminCaller) -> User:
    return await user_service.get_user_in_reach(session, caller, user_id)


ScopedOrg = Annotated[Org, Depends(get_org_in_scope)]
ScopedUser = Annotated[User, Depends(get_user_in_scope)]


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
