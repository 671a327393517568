"""The sums the database keeps for the dashboards, rebuilt from the rows in Python.

`people_counts`, `wish_quota_claims` (app/models/people_counts.py) and `fact_counts`
(app/models/fact_counts.py) are derived data kept by triggers. Tests end by
rebuilding them here from the rows they count, by the rules of
app/services/dashboard.py written out once more, and comparing: modules that write
the counted tables do so after every test (the `counts_stay_exact` fixture).
"""

from collections import defaultdict
from itertools import takewhile

from sqlalchemy import select
from sqlmodel import col

from app.core.scope import path_ids
from app.core.timeutil import local, month_key
from app.models.article import Article
from app.models.fact_counts import MINUTE_PARTS, FactCount
from app.models.org import Org
from app.models.pairing import Pairing, PairingStatus
from app.models.people_counts import NO_ORG, PeopleCount, WishQuotaClaim
from app.models.problem import Problem, ProblemStatus
from app.models.report_in import (
    ReportIn,
)
from app.models.task import (
    CheckIn,
)
from app.models.user import User
from app.models.volunteer_hours import HourSource, HourStatus, VolunteerHour
from app.models.wish import Wish, WishEvent
from app.services.wish_quota import kept_claimers

Key = tuple[str, int, int]


async def rebuilt(app) -> tuple[dict[Key, list[int]], set[tuple[int, int]]]:
    """people_counts and wish_quota_claims as they should be, from the rows."""
    async with app.state.sessionmaker() as s:
        users = {u.id: u for u in (await s.execute(select(User))).scalars()}
        reports = (await s.execute(select(ReportIn.user_id, ReportIn.month))).all()
        years = {local(at).year for (at,) in (await s.execute(select(col(WishEvent.at)))).all()}
        kept: set[tuple[int, int]] = set()
        for year in years:
            kept |= {(uid, year) for (uid,) in (await s.execute(kept_claimers(year))).all()}
    counts: dict[Key, list[int]] = defaultdict(lambda: [0, 0, 0, 0])

    def add(period: str, user: User, column: int) -> None:
        if user.community_id is None and user.unit_id is None:
            return
        counts[(period, user.community_id or NO_ORG, user.unit_id or NO_ORG)][column] += 1

    for user in users.values():
        add("", user, 0)
        if user.is_party_member:
            add("", user, 1)
    for user_id, month in reports:
        if users[user_id].is_party_member:
            add(month, users[user_id], 2)
    for user_id, year in kept:
        if users[user_id].is_party_member:
            add(str(year), users[user_id], 3)
    return dict(counts), kept


async def kept_up(app) -> tuple[dict[Key, list[int]], set[tuple[int, int]]]:
    async with app.state.sessionmaker() as s:
        rows = (await s.execute(select(PeopleCount))).scalars().all()
        claims = (await s.execute(select(WishQuotaClaim))).scalars().all()
    counts = {
        (r.period, r.community_id, r.unit_id): [r.members, r.party_members, r.reported, r.claimed]
        for r in rows
        if (r.members, r.party_members, r.reported, r.claimed) != (0, 0, 0, 0)
    }
    return counts, {(c.user_id, c.year) for c in claims}


async def assert_people_are_exact(app) -> None:
    assert await kept_up(app) == await rebuilt(app)


FactKey = tuple[int, str, str, int]


async def facts_rebuilt(app) -> dict[FactKey, int]:
    """fact_counts as it should be, from the rows."""
    counts: dict[FactKey, int] = defaultdict(int)
    async with app.state.sessionmaker() as s:
        for c in (await s.execute(select(CheckIn))).scalars():
            counts[(c.org_id, month_key(c.checked_in_at), "check_ins", c.task_id)] += 1
        for h in (await s.execute(select(VolunteerHour))).scalars():
            if h.status == HourStatus.approved:
                key = (h.org_id, month_key(h.started_at), "approved_volunteer_minutes")
                counts[(*key, h.user_id % MINUTE_PARTS)] += h.minutes
                if h.source == HourSource.service_order:
                    key = (h.org_id, month_key(h.started_at), "service_order_minutes")
                    counts[(*key, h.user_id % MINUTE_PARTS)] += h.minutes
        for pairing in (await s.execute(select(Pairing))).scalars():
            if pairing.status == PairingStatus.active:
                counts[(pairing.community_id, "", "pairings_active", 0)] += 1
                counts[(pairing.unit_id, "", "unit_pairings_active", 0)] += 1
        for r in (await s.execute(select(ReportIn))).scalars():
            counts[(r.community_id, r.month, "report_ins", 0)] += 1
        for w in (await s.execute(select(Wish))).scalars():
            counts[(w.community_id, "", f"wishes_{w.status}", 0)] += 1
        for p in (await s.execute(select(Problem))).scalars():
            counts[(p.org_id, "", f"problems_{p.status}", 0)] += 1
            counts[(p.org_id, month_key(p.created_at), "problems_found", 0)] += 1
            if p.status == ProblemStatus.closed:
                counts[(p.org_id, month_key(p.created_at), "problems_found_closed", 0)] += 1
        for a in (await s.execute(select(Article))).scalars():
            if a.first_submitted_at is not None:
                key = (a.org_id, month_key(a.first_submitted_at), "articles_submitted", 0)
                counts[key] += 1
            if a.published_at is not None:
                counts[(a.org_id, month_key(a.published_at), "articles_published", 0)] += 1
    for key, n in (await people_facts_rebuilt(app)).items():
        counts[key] += n
    return {k: n for k, n in counts.items() if n}


PEOPLE_FACTS = ("members", "party_members", "party_members_reported", "wish_quota_claimed")


async def people_facts_rebuilt(app) -> dict[FactKey, int]:
    """The people figures per org: each home pair's people at their community and
    their unit, less at the lowest org holding both (counted there twice)."""
    pairs, _ = await rebuilt(app)
    async with app.state.sessionmaker() as s:
        paths = dict((await s.execute(select(Org.id, Org.path))).all())

    def lowest_common(community_id: int, unit_id: int) -> int | None:
        zipped = zip(path_ids(paths[community_id]), path_ids(paths[unit_id]), strict=False)
        common = [a for a, _ in takewhile(lambda ab: ab[0] == ab[1], zipped)]
        return common[-1] if common else None

    counts: dict[FactKey, int] = defaultdict(int)
    for (period, community_id, unit_id), numbers in pairs.items():
        for fact, n in zip(PEOPLE_FACTS, numbers, strict=True):
            if community_id != NO_ORG:
                counts[(community_id, period, fact, 0)] += n
            if unit_id != NO_ORG:
                counts[(unit_id, period, fact, 0)] += n
            both = None
            if community_id != NO_ORG and unit_id != NO_ORG:
                both = lowest_common(community_id, unit_id)
            if both is not None:
                counts[(both, period, fact, 0)] -= n
    return counts


async def facts_kept(app) -> dict[FactKey, int]:
    async with app.state.sessionmaker() as s:
        rows = (await s.execute(select(FactCount))).scalars().all()
    return {(r.org_id, r.period, r.fact, r.part): r.n for r in rows if r.n}


async def assert_facts_are_exact(app) -> None:
    assert await facts_kept(app) == await facts_rebuilt(app)


async def assert_counts_are_exact(app) -> None:
    """Every sum the database keeps for the dashboards equals its rebuild."""
    await assert_people_are_exact(app)
    await assert_facts_are_exact(app)
