from typing import Annotated

from fastapi import APIRouter, Query

from app.core.errors import PROBLEM_RESPONSES
from app.edge.route import AppRoute
from app.models.audit import AuditEntryPublic
from app.models.common import QueryText
from app.models.user import MAX_ID
from app.routers.deps import CurrentCaller, Page, PageDep, SessionDep, page_of
from app.services import audit as service

router = APIRouter(tags=["audit"], route_class=AppRoute, responses=PROBLEM_RESPONSES)


@router.get("/audit-log", response_model=Page[AuditEntryPublic])
async def list_audit_log(
    session: SessionDep,
    caller: CurrentCaller,
    paging: PageDep,
    action: Annotated[QueryText | None, Query(max_length=50)] = None,
    actor_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    target_type: Annotated[QueryText | None, Query(max_length=30)] = None,
    target_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> Page[AuditEntryPublic]:
    """管理操作日志（区级管理员，本区范围），新的在前。日志只能查看，不能修改或删除。"""
    items, total = await service.list_entries(
        session,
        caller=caller,
        action=action,
        actor_id=actor_id,
        target_type=target_type,
        target_id=target_id,
        offset=paging.offset,
        limit=paging.page_size,
    )
    return page_of(items, total, paging)
