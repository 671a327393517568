"""Head counts of the roster kept by the database, for the dashboards.

The dashboards' people figures (members, party members, party members who reported
in a month, party members who kept a wish claim in a year) are rules about each
person's *current* home. Counting them person by person costs about 10 µs a party
member, which a district of 100,000 members cannot afford on every call
(docs/PERFORMANCE.md). `people_counts` holds them summed per home pair instead,
kept exact by triggers on users, report_ins and wish_quota_claims (migration
d4f3b1a5c004): whatever writes those tables, in whatever order, the sums follow,
in the same transaction.

A row is keyed by a period and a home pair (community_id, unit_id), 0 standing for
"none" so that the key has no NULLs.

The counting rules (stated here only; each trigger of migration d4f3b1a5c004 names
the one it keeps). Everyone counts at their *current* home pair, and only while on
the roster (a community or a unit: an unbound WeChat account is on nobody's), so a
move or a change of party membership carries their reports and claims along:
- members, party_members (period ''): the people of the pair, and those of them
  with is_party_member (trigger on users);
- reported (period 'YYYY-MM', the Shanghai month): the pair's party members who
  reported in (报到) that month, to whichever community: their report_ins rows, one
  a person a month (triggers on report_ins and, for moves, users);
- claimed (period 'YYYY'): the pair's party members who kept a wish claim in that
  Shanghai year: their wish_quota_claims rows, which hold the rule of who kept a
  claim (app/services/wish_quota.kept_claimers) (triggers on wish_quota_claims and,
  for moves, users).
The pair, not each org alone, is the key because someone whose community and unit
both lie in a subtree counts once for it, and once for each of two children that
hold one each (app/services/dashboard.py).

`wish_quota_claims` says who kept a claim in which year. The rule looks at a wish's
whole history, so the wishes service re-derives the row of the claimant and year
that a claim, release or cancellation touches (app/services/wish_quota.py); the
triggers carry it into the counts.

The dashboards do not read this table: a trigger carries every change of a pair
into fact_counts, summed per org (app/models/fact_counts.py), so that a subtree's
figures cost a few rows per org rather than one per pair (migration f6b5d3c7e006).
"""

from sqlalchemy import Column, ForeignKey, Index, Integer, PrimaryKeyConstraint, String
from sqlmodel import Field, SQLModel

# The key's stand-in for "no community" / "no unit".
NO_ORG = 0


class PeopleCount(SQLModel, table=True):
    __tablename__ = "people_counts"
    __table_args__ = (
        # Led by the org, not the period: a subtree's rows are then found by its ids
        # (PostgreSQL chose a period-led key's whole period for a street of a large
        # city, 8.5 ms against 0.8). The second index finds those inside by their
        # unit alone.
        PrimaryKeyConstraint("community_id", "period", "unit_id"),
        Index("ix_people_counts_unit_period", "unit_id", "period", "community_id"),
    )

    period: str = Field(sa_column=Column(String(7), nullable=False))
    community_id: int = Field(sa_column=Column(Integer, nullable=False))
    unit_id: int = Field(sa_column=Column(Integer, nullable=False))
    members: int = Field(sa_column=Column(Integer, nullable=False))
    party_members: int = Field(sa_column=Column(Integer, nullable=False))
    reported: int = Field(sa_column=Column(Integer, nullable=False))
    claimed: int = Field(sa_column=Column(Integer, nullable=False))


class WishQuotaClaim(SQLModel, table=True):
    """A person who kept a wish claim in a Shanghai year."""

    __tablename__ = "wish_quota_claims"
    __table_args__ = (PrimaryKeyConstraint("user_id", "year"),)

    user_id: int = Field(
        sa_column=Column(Integer, ForeignKey("users.id", ondelete="RESTRICT"), nullable=False)
    )
    year: int = Field(sa_column=Column(Integer, nullable=False))
