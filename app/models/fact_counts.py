"""Counts of the dashboards' records kept by the database, per org.

A dashboard of a district read every record of its subtree that it counted: in a
city of ten times the data, 42,000 check-ins and 8,000 hour entries of a month,
tens of thousands of wishes and problems by state (docs/PERFORMANCE.md).
`fact_counts` holds those numbers summed per org instead, kept exact by triggers
on check_ins, volunteer_hours, report_ins, wishes, problems and articles
(migration e5a4c2b6d005) and pairings (d1e5a7c9b024), in the writing transaction,
whatever code path writes; the dashboards read one row per (org, fact, part) in
one statement.

A row is keyed by org, period, fact and part:
- period '' holds snapshots (wishes and problems by their status now), 'YYYY-MM'
  a Shanghai month (records counted by the month of their date);
- fact names the metric as GET /dashboard does (`check_ins`, `wishes_open`, ...);
- part spreads one org's count of a month over several rows, so that writers
  touching the same org at once seldom wait for one row's lock: a check-in's row is
  its task's (a check-in already takes its task's seat, so nobody waits who would
  not have waited anyway); approved minutes are spread by the person's id modulo
  MINUTE_PARTS. Everything else is written seldom enough for part 0.

The counting rules (stated here only; each trigger of migrations e5a4c2b6d005,
f6b5d3c7e006 and d1e5a7c9b024 names the ones it keeps), one a fact, each the kept
form of the metric of the same name in app/services/dashboard.py:
- members, party_members (period ''), party_members_reported ('YYYY-MM'),
  wish_quota_claimed ('YYYY'): the people figures, carried over from people_counts
  (migration f6b5d3c7e006). A home pair's people count +1 at their community, +1 at
  their unit and -1 at the lowest org holding both, so that any subtree's sum counts
  each person once and each child of a ranking everyone with a home in it;
- check_ins: check-ins by the month of checked_in_at, at their task's org;
- approved_volunteer_minutes: minutes of approved entries by the month of
  started_at, at the entry's org (an entry revoked after approval leaves it, and
  with the same rule a team's minutes: app/services/teams.py);
- report_ins: reports by month, at the community reported to;
- wishes_<status>, problems_<status>: records by current status, at their
  community / org;
- problems_found / problems_found_closed: problems by the month they were filed,
  and those of them closed now;
- articles_submitted / articles_published: articles by the month first submitted /
  published;
- service_order_minutes: of approved_volunteer_minutes, the entries credited for
  service orders (source 'service_order'), by the same month, org and part: a
  team's minutes (app/services/teams.py);
- pairings_active (period ''): active pairings, at their community; and
  unit_pairings_active, the same at their unit. A place's figure counts the
  pairings of its communities, a unit's those of its own subtree (units), so a
  district holding both counts each pairing once.
Rows whose count returned to 0 stay (a later write reuses them).
"""

from sqlalchemy import BigInteger, Column, Integer, PrimaryKeyConstraint, String
from sqlmodel import Field, SQLModel

# Approved minutes of one org and month are spread over this many rows.
MINUTE_PARTS = 16


class FactCount(SQLModel, table=True):
    __tablename__ = "fact_counts"
    # Led by the org: a subtree's rows are found by its ids, a range per org.
    __table_args__ = (PrimaryKeyConstraint("org_id", "period", "fact", "part"),)

    org_id: int = Field(sa_column=Column(Integer, nullable=False))
    period: str = Field(sa_column=Column(String(7), nullable=False))
    fact: str = Field(sa_column=Column(String(40), nullable=False))
    part: int = Field(sa_column=Column(Integer, nullable=False))
    n: int = Field(sa_column=Column(BigInteger, nullable=False))
