"""Wishes straight in the database, in any state, with the history that leads there."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI

from app.core.db import utcnow
from app.models.org import Org
from app.models.user import User
from app.models.wish import Wish, WishAction, WishEvent, WishStatus
from app.services import wishes
from app.services.wish_quota import rederive_latest_claim
from tests.factories.lifecycle import paths_from

# The events that lead to each state, for wishes put straight into the database.
PATH_TO = paths_from(wishes.LIFECYCLE, WishStatus.pending_review)


async def insert_wish(
    app: FastAPI,
    *,
    community: Org,
    poster: User,
    status: WishStatus = WishStatus.open,
    claimant: User | None = None,
    admin: User | None = None,
    title: str = "给孩子买一个书包",
    beneficiary_name: str = "王小明",
) -> Wish:
    """A wish in `status` with the history that would have led there."""
    now = utcnow()
    claimed = status in (WishStatus.claimed, WishStatus.fulfilled, WishStatus.confirmed)
    assert claimant is not None or not claimed
    async with app.state.sessionmaker() as session, session.begin():
        wish = Wish(
            title=title,
            description="孩子上学需要一个新书包",
            community_id=community.id,
            beneficiary_name=beneficiary_name,
            status=status,
            created_by_id=poster.id,
            claimed_by_id=claimant.id if claimed and claimant else None,
            claimed_at=now - timedelta(hours=2) if claimed else None,
            fulfilled_at=now - timedelta(hours=1)
            if status in (WishStatus.fulfilled, WishStatus.confirmed)
            else None,
            fulfil_note="已送到"
            if status in (WishStatus.fulfilled, WishStatus.confirmed)
            else None,
            confirmed_at=now if status == WishStatus.confirmed else None,
        )
        session.add(wish)
        await session.flush()
        previous = WishStatus.pending_review
        session.add(
            WishEvent(
                wish_id=wish.id, action=WishAction.create, to_status=previous, actor_id=poster.id
            )
        )
        for action, to in PATH_TO[status]:
            by_claimant = action in (WishAction.claim, WishAction.fulfill)
            actor = claimant if by_claimant else (admin or poster)
            assert actor is not None
            session.add(
                WishEvent(
                    wish_id=wish.id,
                    action=action,
                    from_status=previous,
                    to_status=to,
                    actor_id=actor.id,
                )
            )
            previous = to
        # As the wishes service does after a claim: the yearly quota's row.
        await rederive_latest_claim(session, wish.id)
        return wish
