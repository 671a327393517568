from functools import partial
from typing import Annotated
from urllib.parse import quote

import anyio
from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import Receive, Scope, Send

from app.core.errors import PROBLEM_RESPONSES, NotFound
from app.core.scope import Caller
from app.edge.route import StreamingRoute
from app.models.common import Month, QueryText
from app.models.org import Org
from app.models.user import MAX_ID, PEOPLE_ROLES
from app.routers.deps import OrgInReach, PeopleCaller, ReadingSessionDep, get_settings
from app.services import audit
from app.services import exports as service
from app.services.bulletins import XLSX_MEDIA_TYPE

# /exports/{dataset}.xlsx: the ledgers (台账).
# The ledgers stream through a server-side cursor, which needs a transaction to read in.
router = APIRouter(tags=["exports"], route_class=StreamingRoute, responses=PROBLEM_RESPONSES)


class LedgerResponse(FileResponse):
    """Sends the temporary ledger file and removes it however the sending ends.

    A plain BackgroundTask would not run when a client hangs up mid-download (the
    send raises first), and with the server-side `pathsend` extension the server
    would read the file after we had removed it; so the file is always sent by us
    and removed in `finally`.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        extensions = {
            k: v for k, v in scope.get("extensions", {}).items() if k != "http.response.pathsend"
        }
        try:
            await super().__call__({**scope, "extensions": extensions}, receive, send)
        finally:
            await anyio.to_thread.run_sync(partial(service.remove_ledger, str(self.path)))


@router.get(
    "/exports/{dataset}.xlsx",
    response_class=Response,
    responses={200: {"content": {XLSX_MEDIA_TYPE: {}}, "description": "台账（Excel）"}},
)
async def export_ledger(
    dataset: service.Dataset,
    request: Request,
    session: ReadingSessionDep,
    caller: PeopleCaller,
    org: Annotated[Org, OrgInReach(PeopleCaller, PEOPLE_ROLES)],
    month: Annotated[
        Month | None,
        Query(
            description=(
                "report-ins、household-visits：YYYY-MM，默认本月（北京时间）；"
                "inspections：按巡查时间"
            )
        ),
    ] = None,
    year: Annotated[
        int | None,
        Query(
            ge=2000,
            le=2100,
            description=(
                "volunteer-hours：按开始时间，默认今年；wishes、problems：按创建时间，"
                "inspections：按巡查时间，默认全部"
            ),
        ),
    ] = None,
    status: Annotated[
        QueryText | None,
        Query(
            max_length=20,
            description="volunteer-hours、wishes、problems、indicators 等：按状态筛选",
        ),
    ] = None,
    quarter: Annotated[
        int | None, Query(ge=1, le=4, description="publicity：季度，默认本季度（北京时间）")
    ] = None,
    survey_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="survey-responses：哪份问卷（必填）")
    ] = None,
) -> Response:
    """导出台账：members 花名册、report-ins 党员报到、volunteer-hours 志愿服务时长、
    wishes 微心愿、problems 问题督办、pairings 结对共建（year，默认今年）、inspections 督导巡查、
    publicity 宣传工作季度通报（year、quarter，默认本季度：各直属下级的投稿、用稿、
    各级上稿、得分、名次）。
    survey-responses 问卷答卷（survey_id；只列答卷人的社区和单位，不列姓名）、
    household-visits 入户调查（month，默认本月）、scores 月度综合评分排名（month，默认本月：
    各直属下级的各项指标、得分、名次、较上月变化及当月点评）、
    indicators 网上资料申报（现状，可按 status 筛选：各项指标的责任人、截止日期、状态、
    是否逾期、证明材料数、提交和审核时间）。
    reports 随手拍（month 或 year 按上报时间，默认全部；status：submitted、accepted、rejected；
    含处理用时和受理后的问题，上报人只显示打码手机号）。

    单位管理员只能导出本单位的 members、report-ins（本单位全部党员及本月报到情况，
    未报到者在前）和 pairings。

    只限管理员（不接受 API Key）；手机号一律打码，受助人只显示姓氏；时间为北京时间。
    未知的台账类型为 422 `validation_error`；不适用于该台账的筛选条件为 422
    `invalid_filter`，状态值不对为 422 `invalid_status`；组织不在管理范围内为 404。
    """
    return await ledger_download(
        request,
        session,
        caller=caller,
        dataset=dataset,
        org=org,
        month=month,
        year=year,
        status=status,
        quarter=quarter,
        survey_id=survey_id,
    )


async def ledger_download(
    request: Request,
    session: AsyncSession,
    *,
    caller: Caller,
    dataset: service.Dataset,
    org: Org,
    month: str | None,
    year: int | None,
    status: str | None,
    quarter: int | None = None,
    survey_id: int | None = None,
) -> Response:
    """A ledger as a download, its making in the audit log: for GET /exports/… and
    for the console's exports screen alike."""
    # A unit's secretary reaches their unit by membership: its people and pairings,
    # never a place's ledgers (as missing, like an org outside reach).
    if dataset not in service.UNIT_DATASETS and not caller.reaches(org):
        raise NotFound()
    ledger = await service.export_ledger(
        session,
        dataset=dataset,
        org=org,
        month=month,
        year=year,
        status=status,
        quarter=quarter,
        survey_id=survey_id,
        district_after_days=(await get_settings(request)).problem_district_escalation_days,
    )
    # Exports carry personal data out of the system: each one is in the audit log.
    await audit.record_in_own_transaction(
        request.app.state.sessionmaker,
        caller=caller,
        action=f"export.{dataset.value}",
        target_type="export",
        target_id=None,
        org_id=org.id,
        month=month,
        year=year,
        status=status,
        quarter=quarter,
        survey_id=survey_id,
    )
    return LedgerResponse(
        ledger.path,
        media_type=XLSX_MEDIA_TYPE,
        headers={
            "Content-Disposition": (
                f'attachment; filename="{ledger.ascii_filename}"; '
                f"filename*=UTF-8''{quote(ledger.filename)}"
            )
        },
    )
