"""Factories for indicators (网上资料申报) and evidence documents."""

from __future__ import annotations

import io
import itertools
from datetime import date, timedelta

from fastapi import FastAPI
from openpyxl import Workbook

from app.core.db import utcnow
from app.core.timeutil import local
from app.models.indicator import Indicator, IndicatorAction, IndicatorEvent, IndicatorStatus
from app.models.org import Org
from app.models.user import User

_codes = itertools.count(1)


def xlsx_bytes() -> bytes:
    out = io.BytesIO()
    Workbook().save(out)
    return out.getvalue()


PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"


async def insert_indicator(
    app: FastAPI,
    *,
    org: Org,
    owner: User,
    creator: User,
    status: IndicatorStatus = IndicatorStatus.pending,
    due_on: date | None = None,
    title: str = "建立志愿服务站点台账",
) -> Indicator:
    """An item in `status` (pending or submitted; others straight in) with its first history row."""
    now = utcnow()
    async with app.state.sessionmaker() as session, session.begin():
        indicator = Indicator(
            org_id=org.id,
            code=f"3.{next(_codes)}",
            title=title,
            owner_id=owner.id,
            due_on=due_on or local(now).date() + timedelta(days=10),
            status=status,
            evidence_note="台账已上传" if status != IndicatorStatus.pending else None,
            submitted_at=now if status != IndicatorStatus.pending else None,
            created_by_id=creator.id,
            created_at=now,
            updated_at=now,
        )
        session.add(indicator)
        await session.flush()
        session.add(
            IndicatorEvent(
                indicator_id=indicator.id,
                action=IndicatorAction.create,
                to_status=IndicatorStatus.pending,
                actor_id=creator.id,
                at=now,
            )
        )
        return indicator
