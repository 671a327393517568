from typing import Annotated

from fastapi import APIRouter

from app.core.errors import PROBLEM_RESPONSES
from app.edge.access import reads_with_caller
from app.edge.route import AppRoute
from app.models.org import Org
from app.models.task import (
    AttendanceInput,
    CheckInPublic,
    CheckOutPublic,
    Task,
    TaskCreate,
    TaskPublic,
    TaskStatus,
)
from app.routers.deps import (
    AdminCaller,
    CurrentCaller,
    InReach,
    Page,
    PageDep,
    SessionDep,
    TasksReader,
    Visible,
    org_filter,
    page_of,
)
from app.services import tasks as service

# /tasks, /tasks/{id}/check-ins and /tasks/{id}/check-out; /report-ins: routers/report_ins.py.
router = APIRouter(tags=["tasks"], route_class=AppRoute, responses=PROBLEM_RESPONSES)


@router.post("/tasks", status_code=201, response_model=TaskPublic)
async def create_task(data: TaskCreate, session: SessionDep, caller: AdminCaller) -> TaskPublic:
    """发布任务（该组织或其上级的管理员）；该组织整棵子树的成员可以参加。"""
    task = await service.create_task(session, caller=caller, data=data)
    return await service.task_public(session, caller=caller, task=task)


@router.get("/tasks", response_model=Page[TaskPublic])
async def list_tasks(
    session: SessionDep,
    caller: TasksReader,
    paging: PageDep,
    org: Annotated[Org | None, org_filter(TasksReader, service.get_org_of_tasks)],
    status: TaskStatus | None = None,
) -> Page[TaskPublic]:
    """成员看到本社区及其上级（街道、区）的任务；管理员还看到管理范围内的全部任务。"""
    tasks, total = await service.list_tasks(
        session,
        caller=caller,
        status=status,
        org=org,
        offset=paging.offset,
        limit=paging.page_size,
    )
    return page_of(tasks, total, paging)


@router.get("/tasks/{task_id}", response_model=TaskPublic)
@reads_with_caller(Task, "task_id")
async def get_task(task: Visible[Task], session: SessionDep, caller: TasksReader) -> TaskPublic:
    return await service.task_public(session, caller=caller, task=task)


@router.post("/tasks/{task_id}/check-ins", status_code=201, response_model=CheckInPublic)
@reads_with_caller(Task, "task_id")
async def check_in(
    task: Visible[Task], data: AttendanceInput, session: SessionDep, caller: CurrentCaller
) -> CheckInPublic:
    """在任务时间内、任务地点范围内签到；每人每个任务一次，满员即止。"""
    record = await service.check_in(session, caller=caller, task=task, data=data)
    return service.new_check_in_public(
        task, record, user_name=caller.user.name, photo_ids=data.photo_ids
    )


@router.post("/tasks/{task_id}/check-out", response_model=CheckOutPublic)
async def check_out(
    task: InReach[Task], data: AttendanceInput, session: SessionDep, caller: CurrentCaller
) -> CheckOutPublic:
    """签退并计入志愿时长（自动审核通过）；任务结束后签退只计到结束时间。"""
    record = await service.check_out(session, caller=caller, task=task, data=data)
    assert record.id is not None and record.checked_out_at is not None
    return CheckOutPublic(
        check_in_id=record.id, minutes=record.minutes or 0, checked_out_at=record.checked_out_at
    )


@router.get("/tasks/{task_id}/check-ins", response_model=Page[CheckInPublic])
async def list_check_ins(
    task: Visible[Task], session: SessionDep, caller: CurrentCaller, paging: PageDep
) -> Page[CheckInPublic]:
    """签到名单（任务所属组织或其上级的管理员）。"""
    items, total = await service.list_check_ins(
        session, caller=caller, task=task, offset=paging.offset, limit=paging.page_size
    )
    return page_of(items, total, paging)
