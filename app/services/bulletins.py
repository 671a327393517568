"""The weekly supervision bulletin (周通报): per child org, what was found, rectified,
closed, and what is overdue at the week's end; as JSON and as a ledger sheet.

The numbers come from one grouped query: each problem falls into the bucket of the
child org whose subtree holds its responsible org (or the org's own bucket for
problems held by the org itself), and conditional sums count each bucket.
"""

from __future__ import annotations

import io
from datetime import date, datetime, timedelta

import anyio
from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, Side
from openpyxl.utils import get_column_letter
from sqlalchemy import ColumnElement, and_, case, exists, func, or_
from sqlalchemy import select as sa_select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col, select

from app.core import xlsx
from app.core.db import utcnow
from app.core.timeutil import day_start, parse_week, week_of
from app.models.org import Org
from app.models.problem import (
    BulletinCounts,
    BulletinRow,
    InspectionCounts,
    Problem,
    ProblemAction,
    ProblemEvent,
    WeeklyBulletin,
)
from app.services import inspections
from app.services.problems import RESPONSIBLE_LEVELS

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
HEADERS = ("单位", "发现问题", "已整改", "已销号", "逾期未整改")
INSPECTION_HEADERS = (
    "单位",
    "巡查点位",
    "巡查次数",
    "达标率",
    "未通过项",
    "当场提交问题",
    "受理随手拍",
    "受理用时中位数（小时）",
)
WEEKDAYS = "一二三四五六日"


def _has_event(action: ProblemAction, start: datetime | None, end: datetime) -> ColumnElement[bool]:
    conditions = [
        col(ProblemEvent.problem_id) == col(Problem.id),
        col(ProblemEvent.action) == action,
        col(ProblemEvent.at) < end,
    ]
    if start is not None:
        conditions.append(col(ProblemEvent.at) >= start)
    return exists().where(*conditions)


def _count(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


async def weekly_bulletin(
    session: AsyncSession,
    *,
    org: Org,
    week: str | None,
    liaison_quota: int,
    now: datetime | None = None,
) -> WeeklyBulletin:
    """The bulletin of `org`, which the route has found in the caller's admin reach
    (`OrgInReach`)."""
    now = now or utcnow()
    week = week or week_of(now)
    monday = parse_week(week)
    start, end = day_start(monday), day_start(monday + timedelta(days=7))
    # The current week has not ended: overdue as of now rather than a forecast.
    cutoff = min(end, now)

    bucket = aliased(Org)
    held_by = aliased(Org)
    in_bucket = or_(
        and_(
            col(bucket.parent_id) == org.id,
            # Paths hold only digits and "/", so a prefix LIKE is exact.
            col(held_by.path).startswith(col(bucket.path)),
        ),
        and_(col(bucket.id) == org.id, col(held_by.id) == org.id),
    )
    found = and_(col(Problem.created_at) >= start, col(Problem.created_at) < end)
    overdue = and_(
        col(Problem.created_at) < cutoff,
        col(Problem.deadline_at) <= cutoff,
        ~_has_event(ProblemAction.close, None, cutoff),
    )
    rows = await session.execute(
        sa_select(
            col(bucket.id),
            _count(found),
            _count(_has_event(ProblemAction.rectify, start, end)),
            _count(_has_event(ProblemAction.close, start, end)),
            _count(overdue),
        )
        .select_from(Problem)
        .join(held_by, col(held_by.id) == col(Problem.org_id))
        .join(bucket, in_bucket)
        .where(col(Problem.created_at) < end)
        .group_by(col(bucket.id))
    )
    counts = {
        r[0]: BulletinCounts(found=r[1], rectified=r[2], closed=r[3], overdue=r[4]) for r in rows
    }

    children = list(
        (
            await session.execute(
                select(Org).where(Org.parent_id == org.id).order_by(col(Org.level), col(Org.id))
            )
        ).scalars()
    )
    buckets = ([org] if org.level in RESPONSIBLE_LEVELS else []) + children
    zero = BulletinCounts(found=0, rectified=0, closed=0, overdue=0)
    out_rows = []
    for b in buckets:
        assert b.id is not None
        c = counts.get(b.id, zero)
        name = f"{b.name}（本级）" if b.id == org.id else b.name
        out_rows.append(BulletinRow(org_id=b.id, org_name=name, **c.model_dump()))
    totals = BulletinCounts(
        found=sum(r.found for r in out_rows),
        rectified=sum(r.rectified for r in out_rows),
        closed=sum(r.closed for r in out_rows),
        overdue=sum(r.overdue for r in out_rows),
    )
    assert org.id is not None
    return WeeklyBulletin(
        org_id=org.id,
        org_name=org.name,
        week=week,
        starts_on=monday,
        ends_on=monday + timedelta(days=6),
        rows=out_rows,
        totals=totals,
        inspections=await inspections.weekly_stats(
            session, org=org, week=week, quota=liaison_quota, now=now
        ),
    )


# --- the ledger sheet -------------------------------------------------------------------


def _chinese_date(d: date) -> str:
    return f"{d.year}年{d.month}月{d.day}日（周{WEEKDAYS[d.weekday()]}）"


def _render(bulletin: WeeklyBulletin) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = bulletin.week
    year, week = bulletin.week.split("-W")
    thin = Side(style="thin")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    last_col = get_column_letter(len(HEADERS))

    ws.append(xlsx.row(ws, [f"{bulletin.org_name}问题督办周通报（{year}年第{int(week)}周）"]))
    ws.merge_cells(f"A1:{last_col}1")
    ws["A1"].font = Font(bold=True, size=16)
    ws["A1"].alignment = Alignment(horizontal="center", vertical="center")
    ws.row_dimensions[1].height = 30

    period = f"统计时间：{_chinese_date(bulletin.starts_on)}至{_chinese_date(bulletin.ends_on)}"
    ws.append(xlsx.row(ws, [period]))
    ws.merge_cells(f"A2:{last_col}2")
    ws["A2"].alignment = Alignment(horizontal="center")

    ws.append(xlsx.row(ws, HEADERS))
    for cell in ws[3]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(horizontal="center", vertical="center")
        cell.border = border

    for r in bulletin.rows:
        ws.append(xlsx.row(ws, [r.org_name, r.found, r.rectified, r.closed, r.overdue]))
    t = bulletin.totals
    ws.append(xlsx.row(ws, ["合计", t.found, t.rectified, t.closed, t.overdue]))
    for row in ws.iter_rows(min_row=4, max_row=ws.max_row):
        for cell in row:
            cell.border = border
            if cell.column > 1:
                cell.alignment = Alignment(horizontal="center")
    for cell in ws[ws.max_row]:
        cell.font = Font(bold=True)

    ws.freeze_panes = "A4"
    ws.column_dimensions["A"].width = 28
    for i in range(2, len(HEADERS) + 1):
        ws.column_dimensions[get_column_letter(i)].width = 14
    ws.print_title_rows = "3:3"
    _render_inspections(wb, bulletin, border)

    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def _render_inspections(wb: Workbook, bulletin: WeeklyBulletin, border: Border) -> None:
    """The week's inspections on a sheet of their own: one row a child org, 合计, and
    the liaisons' visits against their quota."""
    ws = wb.create_sheet("督导巡查")
    last_col = get_column_letter(len(INSPECTION_HEADERS))
    year, week = bulletin.week.split("-W")
    ws.append(xlsx.row(ws, [f"{bulletin.org_name}督导巡查周统计（{year}年第{int(week)}周）"]))
    ws.merge_cells(f"A1:{last_col}1")
    ws["A1"].font = Font(bold=True, size=16)
    ws["A1"].alignment = Alignment(horizontal="center", vertical="center")
    ws.append(xlsx.row(ws, INSPECTION_HEADERS))
    for cell in ws[2]:
        cell.font = Font(bold=True)
    seen = bulletin.inspections
    lines: list[tuple[str, InspectionCounts]] = [(r.org_name, r) for r in seen.rows]
    for name, c in [*lines, ("合计", seen.totals)]:
        rate = f"{c.pass_rate:.0%}" if c.pass_rate is not None else "—"
        hours = c.report_hours_to_accept
        values = [
            name,
            c.points_inspected,
            c.visits,
            rate,
            c.items_failed,
            c.problems_opened,
            c.reports_accepted,
            hours if hours is not None else "—",
        ]
        ws.append(xlsx.row(ws, values))
    for row in ws.iter_rows(min_row=2, max_row=ws.max_row):
        for cell in row:
            cell.border = border
            if cell.column > 1:
                cell.alignment = Alignment(horizontal="center")
    for cell in ws[ws.max_row]:
        cell.font = Font(bold=True)
    if seen.liaison_visits:
        ws.append([])
        ws.append(xlsx.row(ws, ["包联领导或单位", "包联组织", "本周巡查", "应巡查", "是否落后"]))
        for v in seen.liaison_visits:
            who = v.user_name if v.unit_id is None else f"{v.unit_name}（单位）"
            values = [who, v.org_name, v.visits, v.quota, "是" if v.behind else "否"]
            ws.append(xlsx.row(ws, values))
    ws.column_dimensions["A"].width = 28
    for i in range(2, len(INSPECTION_HEADERS) + 1):
        ws.column_dimensions[get_column_letter(i)].width = 14


async def bulletin_xlsx(bulletin: WeeklyBulletin) -> bytes:
    # openpyxl is blocking; keep it off the event loop.
    return await anyio.to_thread.run_sync(_render, bulletin)


def xlsx_filename(bulletin: WeeklyBulletin) -> str:
    return f"{bulletin.org_name}周通报-{bulletin.week}.xlsx"
