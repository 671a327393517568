"""Writers of people's homes take their turn before the triggers move the sums.

Moving someone (or creating, importing, removing people) changes several rows of
people_counts in one transaction: the roster's and every reported month's and kept
year's of the old home and of the new. Two such transactions taking rows in opposite
orders would deadlock, so on PostgreSQL each first takes one transaction-level
advisory lock: roster changes queue behind each other (they are rare admin actions),
while report-ins and wish claims, which touch one row each, never wait for it. The
users trigger takes the same lock (migration d4f3b1a5c004) for any other writer;
taking it here first, before the users row is locked, keeps the order the same for
every path through the app. SQLite has one writer at a time anyway.
"""

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

# The key of the advisory lock; the users trigger names the same number.
ROSTER_LOCK = 7_020_501


async def take_roster_turn(session: AsyncSession) -> None:
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(select(func.pg_advisory_xact_lock(ROSTER_LOCK)))
