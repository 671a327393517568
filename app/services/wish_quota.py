"""Who kept a wish claim in which year: the `wish_quota_claims` rows.

The rule is `kept_claimers` below: a claim counts unless the first event
that moves the wish out of `claimed` after it is a release or a cancellation. Only
the wish's latest claim can change its standing (a claim, a release or a
cancellation of a claimed wish all concern it; an older claim was settled by the
event that ended it), so after each such event the row of that claim's claimant and
year is re-derived from the history, with the claimant's users row locked: two
transitions touching the same person's year queue, and the later one derives from
what the earlier committed. Triggers carry the row into people_counts
(app/models/people_counts.py).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, exists, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col

from app.core.db import table_of
from app.core.timeutil import local, year_bounds
from app.models.people_counts import WishQuotaClaim
from app.models.user import User
from app.models.wish import WishAction, WishEvent, WishStatus
from app.services.people_counts import lock_roster_shared


def kept_claimers(year: int) -> Any:
    """Ids of people who claimed a wish in this Shanghai year and did not give it up.

    A claim counts when it led to fulfilment (then confirmation) or is still held;
    a claim later released or cancelled does not, otherwise pressing "claim" and
    "release" a second later would tick the yearly box without helping anyone. A
    claim is undone when the first event that moves the wish out of `claimed` after
    it is a release or a cancellation.
    """
    start, end = year_bounds(year)
    claim = aliased(WishEvent)
    ending = aliased(WishEvent)
    reclaim = aliased(WishEvent)
    undone = exists().where(
        col(ending.wish_id) == col(claim.wish_id),
        col(ending.id) > col(claim.id),
        col(ending.from_status) == WishStatus.claimed,
        col(ending.action).in_([WishAction.release, WishAction.cancel]),
        ~exists()
        .where(
            col(reclaim.wish_id) == col(claim.wish_id),
            col(reclaim.action) == WishAction.claim,
            col(reclaim.id) > col(claim.id),
            col(reclaim.id) < col(ending.id),
        )
        .correlate(claim, ending),
    )
    return select(col(claim.actor_id)).where(
        col(claim.action) == WishAction.claim,
        col(claim.at) >= start,
        col(claim.at) < end,
        ~undone,
    )


async def rederive_latest_claim(session: AsyncSession, wish_id: int) -> None:
    """Bring the quota row of the wish's latest claim in line with its history.

    Call after the event that may change it has been written (it is flushed here)."""
    await session.flush()
    latest = (
        await session.execute(
            select(col(WishEvent.actor_id), col(WishEvent.at))
            .where(col(WishEvent.wish_id) == wish_id, col(WishEvent.action) == WishAction.claim)
            .order_by(col(WishEvent.id).desc())
            .limit(1)
        )
    ).first()
    if latest is None:
        return
    user_id, at = latest
    await rederive(session, user_id=user_id, year=local(at).year)


async def rederive(session: AsyncSession, *, user_id: int, year: int) -> None:
    await lock_roster_shared(session)  # before the person's row: app/services/people_counts.py
    await session.execute(select(col(User.id)).where(col(User.id) == user_id).with_for_update())
    kept_claims = kept_claimers(year)
    kept = (
        await session.execute(
            select(exists(kept_claims.where(kept_claims.selected_columns[0] == user_id)))
        )
    ).scalar_one()
    table = table_of(WishQuotaClaim)
    if kept:
        insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        await session.execute(
            insert(table).values(user_id=user_id, year=year).on_conflict_do_nothing()
        )
    else:
        await session.execute(delete(table).where(table.c.user_id == user_id, table.c.year == year))
