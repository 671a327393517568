"""The console's service menu (服务清单, issue 19): the items the admin's orgs offer for
ordering, a form to add one and a button to withdraw one. Beside app/routers/console.py,
with its machinery (caller, pages, forms); the actions are the API's own
(POST /service-items, POST /service-items/{id}/withdraw), through the same service,
so they are checked and audited the same way."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import Field

from app.core.scope import org_in_reach
from app.models.service_order import ServiceItemCreate
from app.models.user import MAX_ID
from app.routers.console import (
    ConsoleCaller,
    ConsoleForm,
    ConsoleRoute,
    OptionalId,
    PageNumber,
    _done,
    page,
    paging,
)
from app.routers.deps import IdPath, SessionDep
from app.services import console as console_service
from app.services import service_orders as order_service
from app.services.orgs import org_names

router = APIRouter(prefix="/console", tags=["console"], route_class=ConsoleRoute)


class ServiceItemForm(ConsoleForm):
    org_id: int = Field(ge=1, le=MAX_ID)
    title: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=2000)
    service_type: str = Field(min_length=1, max_length=20)
    team_id: OptionalId = None


@router.get("/service-items", response_class=HTMLResponse, include_in_schema=False)
async def console_service_items(
    request: Request, session: SessionDep, caller: ConsoleCaller, page_number: PageNumber = 1
) -> Response:
    """服务清单：管理范围内各组织发布的服务项目（在架的在前，分页），可发布新项目
    （同 POST /service-items）或下架（同 POST /service-items/{id}/withdraw）。"""
    pages = paging(request, page_number)
    items, total = await order_service.items_in_reach(
        session, caller=caller, limit=pages.size, offset=pages.offset
    )
    teams = await console_service.teams_in_reach(session, caller=caller)
    return page(
        request,
        "console/service_items.html",
        {
            "items": [order_service.item_public(i) for i in items],
            "total": total,
            "paging": pages.of(total),
            "teams": teams,
            "team_names": {t.id: t.name for t in teams},
            "orgs": await console_service.orgs_in_reach(session, caller),
            "org_names": await org_names(session, {i.org_id for i in items}),
            "done": request.query_params.get("done"),
        },
    )


@router.post("/service-items", include_in_schema=False)
async def console_create_service_item(
    request: Request,
    session: SessionDep,
    caller: ConsoleCaller,
    form: Annotated[ServiceItemForm, Form()],
) -> Response:
    """POST /service-items, from a form."""
    data = ServiceItemCreate(
        org_id=form.org_id,
        title=form.title,
        description=form.description,
        service_type=form.service_type,
        team_id=form.team_id,
    )
    org = await org_in_reach(session, caller, data.org_id)
    await order_service.create_item(session, caller=caller, org=org, data=data)
    return _done(request, "console_service_items", "created")


@router.post("/service-items/{item_id}/withdraw", include_in_schema=False)
async def console_withdraw_service_item(
    request: Request,
    session: SessionDep,
    caller: ConsoleCaller,
    item_id: IdPath,
    form: Annotated[ConsoleForm, Form()],
) -> Response:
    """POST /service-items/{item_id}/withdraw, from a form (withdrawn twice: 409)."""
    item = await order_service.get_item_in_reach(session, caller, item_id)
    await order_service.withdraw_item(session, caller=caller, item=item)
    return _done(request, "console_service_items", "withdrawn")
