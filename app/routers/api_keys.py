from typing import Annotated

from fastapi import APIRouter, Query, Response

from app.core.errors import PROBLEM_RESPONSES
from app.edge.idempotency import replays_without
from app.edge.route import AppRoute
from app.models.api_key import ApiKeyCreate, ApiKeyCreated, ApiKeyPublic
from app.routers.deps import CurrentCaller, IdPath, Page, PageDep, SessionDep, page_of
from app.services import api_keys as service

REDACTED_KEY = "（密钥只显示一次；请撤销这把密钥后重新创建）"

router = APIRouter(
    prefix="/api-keys", tags=["api-keys"], route_class=AppRoute, responses=PROBLEM_RESPONSES
)


@router.post("", status_code=201, response_model=ApiKeyCreated)
@replays_without(key=REDACTED_KEY)
async def create_api_key(
    data: ApiKeyCreate, session: SessionDep, caller: CurrentCaller
) -> ApiKeyCreated:
    """为第三方系统创建密钥（区、街道管理员）。完整密钥只在这次响应中出现。

    带 Idempotency-Key 重发时返回同一把密钥的信息，但密钥本身不再显示：
    它从不以明文存入数据库。若第一次响应没有收到，请撤销后重新创建。
    """
    return await service.create_key(session, caller=caller, data=data)


@router.get("", response_model=Page[ApiKeyPublic])
async def list_api_keys(
    session: SessionDep,
    caller: CurrentCaller,
    paging: PageDep,
    issuer_revoked: Annotated[
        bool | None,
        Query(description="true：只列签发人已不再担任签发角色的密钥；false：只列其余密钥"),
    ] = None,
) -> Page[ApiKeyPublic]:
    """管理范围内的密钥，不含密钥本身。

    密钥属于组织，签发人离任后照常可用；签发人已不再担任可签发该密钥的角色
    （`issuer_active: false`）且未撤销的密钥排在最前，供本单位复核。
    """
    keys, total = await service.list_keys(
        session,
        caller=caller,
        issuer_revoked=issuer_revoked,
        offset=paging.offset,
        limit=paging.page_size,
    )
    return page_of(keys, total, paging)


@router.delete("/{key_id}", status_code=204, response_class=Response)
async def revoke_api_key(key_id: IdPath, session: SessionDep, caller: CurrentCaller) -> Response:
    """撤销密钥，立即生效。"""
    await service.revoke_key(session, caller=caller, key_id=key_id)
    return Response(status_code=204)
