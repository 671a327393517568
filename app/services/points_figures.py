"""GET /stats/points: issued, spent and outstanding per child org (the dashboard's
credits_* figures, by the same queries) and each community's top earners of the month.
Apart from app/services/points.py, which the domains that grant points import."""

from __future__ import annotations

from sqlalchemy import case, func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.core.db import table_of
from app.core.scope import Caller, path_within
from app.core.timeutil import month_bounds
from app.models.org import Org, OrgLevel
from app.models.points import (
    AccountKind,
    CommunityTopEarners,
    PointsAccount,
    PointsEntry,
    PointsFlow,
    PointsStats,
    TopEarner,
)
from app.services import dashboard
from app.services.users import user_names
from app.services.wishes import mask_name

# How many of a community's earners GET /stats/points names.
TOP_EARNERS = 3


async def _top_earners(
    session: AsyncSession, *, caller: Caller, org: Org, month: str
) -> list[CommunityTopEarners]:
    """Per community of the subtree: the residents who earned most there in the month
    (what came to them from an issuing account, less what went back on reversals).
    Names whole for admins; an API key (a big screen) reads them masked, without ids."""
    start, end = month_bounds(month)
    communities = (
        await session.execute(
            select(Org)
            .where(path_within(col(Org.path), org.path), Org.level == OrgLevel.community)
            .order_by(col(Org.id))
        )
    ).scalars()
    by_id = {c.id: c for c in communities}
    if not by_id:
        return []
    source = table_of(PointsAccount).alias("source")
    target = table_of(PointsAccount).alias("target")
    amount = col(PointsEntry.amount)
    earned = func.sum(
        case(
            (source.c.kind == AccountKind.issuing, amount),
            (target.c.kind == AccountKind.issuing, -amount),
            else_=0,
        )
    )
    rows = await session.execute(
        select(col(PointsEntry.org_id), col(PointsEntry.user_id), earned)
        .select_from(PointsEntry)
        .join(source, source.c.id == col(PointsEntry.from_account_id))
        .join(target, target.c.id == col(PointsEntry.to_account_id))
        .where(
            col(PointsEntry.org_id).in_(list(by_id)),
            col(PointsEntry.created_at) >= start,
            col(PointsEntry.created_at) < end,
        )
        .group_by(col(PointsEntry.org_id), col(PointsEntry.user_id))
    )
    per: dict[int, list[tuple[int, int]]] = {}
    for org_id, user_id, total in rows.all():
        if int(total or 0) > 0:
            per.setdefault(org_id, []).append((user_id, int(total)))
    tops = {
        org_id: sorted(found, key=lambda f: (-f[1], f[0]))[:TOP_EARNERS]
        for org_id, found in per.items()
    }
    names = await user_names(session, (u for found in tops.values() for u, _ in found))
    whole = caller.sees_personal_data
    out = []
    for org_id, found in tops.items():
        community = by_id[org_id]
        earners = [
            TopEarner(
                user_id=user_id if whole else None,
                name=names.get(user_id, "") if whole else mask_name(names.get(user_id, "") or "?"),
                earned=total,
            )
            for user_id, total in found
        ]
        out.append(CommunityTopEarners(org_id=org_id, org_name=community.name, earners=earners))
    return sorted(out, key=lambda c: c.org_id)


async def stats(session: AsyncSession, *, caller: Caller, org: Org, month: str) -> PointsStats:
    """Issued, spent and outstanding for the org and each direct child (the dashboard's
    credits_* figures, counted by the same queries), and each community's top earners."""
    assert org.id is not None
    children = list(
        (
            await session.execute(select(Org).where(Org.parent_id == org.id).order_by(col(Org.id)))
        ).scalars()
    )
    # The org and its children apart: a row counts in one bucket only.
    flows = await dashboard.credits_of_buckets(
        session, await dashboard.subtrees(session, org, [org]), month
    )
    if children:
        flows |= await dashboard.credits_of_buckets(
            session, await dashboard.subtrees(session, org, children), month
        )

    def flow(o: Org) -> PointsFlow:
        assert o.id is not None
        issued, spent, outstanding = flows.get(o.id, (0, 0, 0))
        return PointsFlow(
            org_id=o.id, org_name=o.name, issued=issued, spent=spent, outstanding=outstanding
        )

    return PointsStats(
        **flow(org).model_dump(),
        month=month,
        children=[flow(c) for c in children],
        top_earners=await _top_earners(session, caller=caller, org=org, month=month),
    )
