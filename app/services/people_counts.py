"""Writers of people's homes take the roster lock before the triggers move the sums.

Moving someone (or creating, importing, removing people) changes several rows of
people_counts in one transaction: the roster's and every reported month's and kept
year's of the old home and of the new, and through them several rows of
fact_counts. Two such transactions taking rows in opposite orders would deadlock,
so on PostgreSQL each first takes one transaction-level advisory lock
(`lock_roster`): roster changes queue behind each other (they are rare admin
actions). A report-in or a wish claim moves one pair of people_counts and up to
three rows of fact_counts (the community's, the unit's, the org holding both:
migration f6b5d3c7e006), in one ordered statement, so they never deadlock with each
other; they take the same lock *shared* (`lock_roster_shared`): side by side with
each other, never while a roster change holds it. Each takes the lock before
locking the person's users row, the order every path through the app keeps; the
triggers take the lock again as a net for other writers. SQLite has one writer at
a time anyway.
"""

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

# The key of the advisory lock; the users trigger names the same number.
ROSTER_LOCK = 7_020_501


async def lock_roster(session: AsyncSession) -> None:
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(select(func.pg_advisory_xact_lock(ROSTER_LOCK)))


async def lock_roster_shared(session: AsyncSession) -> None:
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(select(func.pg_advisory_xact_lock_shared(ROSTER_LOCK)))
