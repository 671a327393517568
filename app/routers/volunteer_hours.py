from typing import Annotated

from fastapi import APIRouter, Query

from app.core.errors import PROBLEM_RESPONSES
from app.core.timeutil import current_year
from app.edge.route import AppRoute
from app.models.org import Org
from app.models.user import MAX_ID
from app.models.volunteer_hours import (
    HoursGroupBy,
    HoursSummary,
    HourStatus,
    HoursTotals,
    VolunteerHour,
    VolunteerHourCreate,
    VolunteerHourEventPublic,
    VolunteerHourPublic,
    VolunteerHourReview,
    VolunteerHourRevoke,
)
from app.routers.deps import (
    AdminCaller,
    CurrentCaller,
    OrgInReach,
    Page,
    PageDep,
    SessionDep,
    Visible,
    page_of,
)
from app.services import volunteer_hours as service

# /volunteer-hours and /me/volunteer-hours/summary.
router = APIRouter(tags=["volunteer-hours"], route_class=AppRoute, responses=PROBLEM_RESPONSES)

YearQuery = Annotated[int | None, Query(ge=2000, le=2100, description="北京时间的年份")]


@router.post("/volunteer-hours", status_code=201, response_model=VolunteerHourPublic)
async def log_volunteer_hours(
    data: VolunteerHourCreate, session: SessionDep, caller: CurrentCaller
) -> VolunteerHourPublic:
    """手工登记一段志愿服务，待管理员审核。

    结束早于开始 `invalid_time_range`、尚未结束 `in_future`、超过 24 小时 `too_long`、
    与本人其他未驳回的记录重叠 `overlapping_entry`、组织不是本人社区（或其上级）或单位
    `invalid_org`，均为 422。
    """
    entry = await service.log_entry(session, caller=caller, data=data)
    (public,) = await service.to_public(session, [entry], viewer_id=caller.id)
    return public


@router.get("/volunteer-hours", response_model=Page[VolunteerHourPublic])
async def list_volunteer_hours(
    session: SessionDep,
    caller: CurrentCaller,
    paging: PageDep,
    user_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    status: HourStatus | None = None,
    year: YearQuery = None,
) -> Page[VolunteerHourPublic]:
    """本人的记录，以及（管理员）组织在管理范围内的记录。`user_id` 是在此范围内的筛选：
    范围外的人得到空列表。"""
    items, total = await service.list_entries(
        session,
        caller=caller,
        user_id=user_id,
        status=status,
        year=year,
        offset=paging.offset,
        limit=paging.page_size,
    )
    return page_of(items, total, paging)


@router.get("/volunteer-hours/totals", response_model=HoursTotals)
async def volunteer_hours_totals(
    session: SessionDep,
    org: Annotated[Org, OrgInReach(AdminCaller)],
    year: YearQuery = None,
    group_by: HoursGroupBy = HoursGroupBy.user,
) -> HoursTotals:
    """组织（含下级）当年已审核通过的志愿时长，按人或按组织汇总。"""
    return await service.totals(session, org=org, year=year or current_year(), group_by=group_by)


@router.get("/volunteer-hours/{entry_id}", response_model=VolunteerHourPublic)
async def get_volunteer_hours(
    entry: Visible[VolunteerHour], session: SessionDep, caller: CurrentCaller
) -> VolunteerHourPublic:
    (public,) = await service.to_public(session, [entry], viewer_id=caller.id)
    return public


@router.post("/volunteer-hours/{entry_id}/review", response_model=VolunteerHourPublic)
async def review_volunteer_hours(
    entry: Visible[VolunteerHour],
    data: VolunteerHourReview,
    session: SessionDep,
    caller: CurrentCaller,
) -> VolunteerHourPublic:
    """审核待审核的记录（通过，或驳回并填写原因）。不能审核自己的记录。"""
    entry = await service.review_entry(session, caller=caller, entry=entry, data=data)
    (public,) = await service.to_public(session, [entry], viewer_id=caller.id)
    return public


@router.post("/volunteer-hours/{entry_id}/revoke", response_model=VolunteerHourPublic)
async def revoke_volunteer_hours(
    entry: Visible[VolunteerHour],
    data: VolunteerHourRevoke,
    session: SessionDep,
    caller: CurrentCaller,
) -> VolunteerHourPublic:
    """撤销已审核通过的记录（审核通过后发现不实、重复等）：状态改为已驳回并填写原因，
    时长不再计入，所得积分以冲正分录扣回（至多扣至余额为零），并通知本人。

    可审核该记录的管理员（不能是本人）在审核通过后 30 天内可撤销；超过期限
    `revoke_window_closed`、记录不是已通过（含已撤销过）`invalid_volunteer_hour_state`，
    均为 409。
    """
    entry = await service.revoke_entry(session, caller=caller, entry=entry, reason=data.reason)
    (public,) = await service.to_public(session, [entry], viewer_id=caller.id)
    return public


@router.get("/volunteer-hours/{entry_id}/history", response_model=list[VolunteerHourEventPublic])
async def volunteer_hours_history(
    entry: Visible[VolunteerHour], session: SessionDep
) -> list[VolunteerHourEventPublic]:
    """记录的审核经过：通过、驳回、撤销，谁、何时、原因。"""
    return await service.history(session, entry)


@router.get("/me/volunteer-hours/summary", response_model=HoursSummary)
async def my_volunteer_hours_summary(
    session: SessionDep, caller: CurrentCaller, year: YearQuery = None
) -> HoursSummary:
    """本人某年（默认今年）已审核通过和待审核的志愿时长（分钟）。"""
    return await service.summary(session, caller=caller, year=year or current_year())
