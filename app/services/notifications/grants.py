"""Grants: how many subscribe messages of each template a person still allows.

They come from the mini-program's `wx.requestSubscribeMessage` result; delivery
takes one per message sent (delivery.py).
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.core.config import Settings
from app.core.db import dialect_insert, utcnow
from app.models.notification import NotificationKind, SubscribeGrant, Subscriptions, TemplateGrant


def _kinds_by_template(settings: Settings) -> dict[str, list[NotificationKind]]:
    out: dict[str, list[NotificationKind]] = {}
    for kind, template in settings.wechat_templates.items():
        out.setdefault(template, []).append(NotificationKind(kind))
    return {t: sorted(kinds) for t, kinds in sorted(out.items())}


async def subscriptions(
    session: AsyncSession, *, user_id: int, settings: Settings
) -> Subscriptions:
    templates = _kinds_by_template(settings)
    balances = dict(
        (
            await session.execute(
                select(SubscribeGrant.template_id, SubscribeGrant.balance).where(
                    col(SubscribeGrant.user_id) == user_id,
                    col(SubscribeGrant.template_id).in_(list(templates)),
                )
            )
        ).all()
    )
    return Subscriptions(
        templates=[
            TemplateGrant(template_id=t, kinds=kinds, balance=balances.get(t, 0))
            for t, kinds in templates.items()
        ]
    )


async def record_choices(
    session: AsyncSession, *, user_id: int, results: Mapping[str, str], settings: Settings
) -> Subscriptions:
    """What the person chose in wx.requestSubscribeMessage: each "accept" of a template
    we send allows one more message of it. Other templates and choices count nothing."""
    known = set(settings.wechat_templates.values())
    now = utcnow()
    for template in sorted(t for t, choice in results.items() if choice == "accept"):
        if template not in known:
            continue
        await session.execute(
            dialect_insert(session, SubscribeGrant)
            .values(user_id=user_id, template_id=template, balance=1, updated_at=now)
            .on_conflict_do_update(
                index_elements=["user_id", "template_id"],
                set_={"balance": col(SubscribeGrant.balance) + 1, "updated_at": now},
            )
        )
    return await subscriptions(session, user_id=user_id, settings=settings)
