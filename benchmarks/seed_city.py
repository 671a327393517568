"""Seed a whole city for the dashboard benchmarks, in a fresh database of its own.

At `--scale 1`: 10 districts, 60 streets, 300 communities and 200 units, each unit
paired with a community of its street or district (and a third with an earlier,
ended pairing too: 结对共建, loaded once the chain reaches head); 100,000
people (a quarter of them party members, one in eight attached to a unit), about
1,000,000 check-ins at 36,500 tasks, 200,000 volunteer-hour entries, a report-in
by most party members in most months, wishes with their claim history, problems
and articles, all spread over the 24 months before today with realistic states.
`--scale 10` multiplies people and every kind of record by ten on the same org
tree (a denser city, so one district's dashboard covers ten times the rows);
`--scale 10 --wide` multiplies the districts instead (100 districts, each as busy
as at scale 1).

The database is built by the real Alembic migrations. The rows are loaded at the
revision before the dashboard-facts migration and the rest of the chain runs
afterwards, so the migration's backfill of the existing rows is timed as well.
PostgreSQL is loaded with COPY (asyncpg `copy_records_to_table`), SQLite with
batched `executemany` in one transaction.

    .venv/bin/python -m benchmarks.seed_city --scale 1
    .venv/bin/python -m benchmarks.seed_city --scale 10
    .venv/bin/python -m benchmarks.seed_city --scale 1 --sqlite var/bench/city-1.db

It drops and recreates the database it is given (`chuangwen_bench_1`,
`chuangwen_bench_10`, `chuangwen_bench_10_wide` by default).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from alembic.config import Config
from sqlalchemy.engine import make_url

from alembic import command
from app.core.timeutil import month_key

ROOT = Path(__file__).resolve().parent.parent
# The revision before the dashboard-facts migration: rows go in here, then the rest
# of the chain (with its backfill) runs on them.
LOAD_REVISION = "b2d1f9e3a002"
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DAYS = 730
SQLITE_BATCH = 20_000

DISTRICTS, STREETS_PER_DISTRICT, COMMUNITIES_PER_STREET = 10, 6, 5
UNITS_UNDER_DISTRICT, UNITS_UNDER_STREET = 8, 2

PEOPLE = 100_000
TASKS_PER_DISTRICT_DAY = 5
CHECK_INS = 1_000_000
HOURS = 200_000
WISHES_PER_COMMUNITY_YEAR = 25
PROBLEMS_PER_DISTRICT_MONTH = 100
ARTICLES_PER_DISTRICT_MONTH = 50

TASK_CATEGORIES = ["sanitation", "traffic", "persuasion", "publicity", "culture", "care", "other"]
PROBLEM_CATEGORIES = ["sanitation", "illegal_parking", "street_vending", "illegal_ads", "other"]
PLACE = (34.26, 108.94)


@dataclass
class Org:
    id: int
    level: str
    path: str
    parent_id: int | None
    district_id: int
    street_id: int | None


@dataclass
class Table:
    name: str
    columns: tuple[str, ...]
    rows: Iterable[tuple[Any, ...]]


@dataclass
class City:
    """The generated city: every table's rows in load order, produced lazily."""

    scale: float
    seed: int
    # False: ten times the people and records on the same tree (each org gets busier);
    # True: ten times the districts, each as busy as at scale 1.
    wide: bool = False
    now: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))
    orgs: list[Org] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)  # noqa: S311 (made-up people, not secrets)
        self.density = 1.0 if self.wide else self.scale
        self.district_count = max(1, round(DISTRICTS * self.scale)) if self.wide else DISTRICTS
        self.start = (self.now - timedelta(days=DAYS)).replace(hour=0, minute=0, second=0)
        self._build_tree()
        self._build_people()

    def n(self, base: int) -> int:
        """A city-wide count at this scale."""
        return max(1, round(base * self.scale))

    def per_org(self, base: int) -> int:
        """A count per district or community at this scale."""
        return max(1, round(base * self.density))

    # --- the org tree -------------------------------------------------------------

    def _add(self, level: str, parent: Org | None) -> Org:
        org_id = len(self.orgs) + 1
        org = Org(
            id=org_id,
            level=level,
            path=f"{parent.path if parent else '/'}{org_id}/",
            parent_id=parent.id if parent else None,
            district_id=parent.district_id if parent else org_id,
            street_id=org_id if level == "street" else (parent.street_id if parent else None),
        )
        self.orgs.append(org)
        return org

    def _build_tree(self) -> None:
        self.districts: list[Org] = []
        self.streets: list[Org] = []
        self.communities: list[Org] = []
        self.units: list[Org] = []
        for _ in range(self.district_count):
            district = self._add("district", None)
            self.districts.append(district)
            for _ in range(STREETS_PER_DISTRICT):
                street = self._add("street", district)
                self.streets.append(street)
                self.communities += [
                    self._add("community", street) for _ in range(COMMUNITIES_PER_STREET)
                ]
                self.units += [self._add("unit", street) for _ in range(UNITS_UNDER_STREET)]
            self.units += [self._add("unit", district) for _ in range(UNITS_UNDER_DISTRICT)]
        self.by_id = {o.id: o for o in self.orgs}
        self.pools: dict[tuple[int, str], list[Org]] = {}
        for o in self.orgs:
            self.pools.setdefault((o.district_id, o.level), []).append(o)

    def org_rows(self) -> Table:
        names = {"district": "区", "street": "街道", "community": "社区", "unit": "单位"}
        return Table(
            "orgs",
            ("id", "name", "code", "level", "parent_id", "path", "created_at", "updated_at"),
            (
                (
                    o.id,
                    f"{names[o.level]}{o.id:04d}",
                    None,
                    o.level,
                    o.parent_id,
                    o.path,
                    self.start,
                    self.start,
                )
                for o in self.orgs
            ),
        )

    # --- people -------------------------------------------------------------------

    def _build_people(self) -> None:
        rng = self.rng
        weights = [rng.uniform(0.4, 1.6) for _ in self.communities]
        units_of_district: dict[int, list[Org]] = {}
        for u in self.units:
            units_of_district.setdefault(u.district_id, []).append(u)
        self.people: list[tuple[int, int | None, int | None, bool]] = []
        self.in_community: dict[int, list[int]] = {c.id: [] for c in self.communities}
        self.party_in_community: dict[int, list[int]] = {c.id: [] for c in self.communities}
        homes = rng.choices(self.communities, weights, k=self.n(PEOPLE))
        for user_id, home in enumerate(homes, start=1):
            if rng.random() < 0.01:  # a WeChat account never bound to the roster
                self.people.append((user_id, None, None, False))
                continue
            party = rng.random() < 0.25
            unit = None
            if rng.random() < (0.4 if party else 0.01):
                pool = units_of_district[home.district_id] if rng.random() < 0.8 else self.units
                unit = rng.choice(pool).id
            self.people.append((user_id, home.id, unit, party))
            self.in_community[home.id].append(user_id)
            if party:
                self.party_in_community[home.id].append(user_id)
        self.in_org: dict[int, list[int]] = {}
        for c in self.communities:
            for holder in (c.id, c.street_id, c.district_id):
                assert holder is not None
                self.in_org.setdefault(holder, []).extend(self.in_community[c.id])
        self.everyone = [p[0] for p in self.people]

    def user_rows(self) -> Table:
        def rows() -> Iterator[tuple[Any, ...]]:
            for user_id, community, unit, party in self.people:
                bound = community is None or user_id % 3 != 0
                yield (
                    user_id,
                    f"居民{user_id:07d}",
                    f"139****{user_id % 10_000:04d}" if community else None,
                    community,
                    unit,
                    party,
                    f"openid-{user_id}" if bound else None,
                    self.start,
                    self.start,
                )

        return Table(
            "users",
            (
                "id",
                "name",
                "phone_masked",
                "community_id",
                "unit_id",
                "is_party_member",
                "openid",
                "created_at",
                "updated_at",
            ),
            rows(),
        )

    # --- helpers ------------------------------------------------------------------

    def moment(self, days_ago_max: int = DAYS, days_ago_min: int = 1) -> datetime:
        """A daytime instant (08:00-20:00 Shanghai) in the past."""
        day = self.now - timedelta(days=self.rng.randint(days_ago_min, days_ago_max))
        return day.replace(hour=0, minute=0, second=0) + timedelta(
            minutes=self.rng.randrange(0, 12 * 60)
        )

    def pick_org(self, shares: Sequence[tuple[str, float]], district: Org) -> Org:
        levels = [lvl for lvl, _ in shares]
        level = self.rng.choices(levels, [w for _, w in shares])[0]
        return self.rng.choice(self.pools[(district.id, level)])

    # --- tasks, check-ins and the hours they credit -------------------------------

    TASK_COLUMNS = (
        "id",
        "org_id",
        "title",
        "description",
        "category",
        "starts_at",
        "ends_at",
        "lat",
        "lng",
        "radius_m",
        "capacity",
        "checked_in_count",
        "created_by_id",
        "created_at",
        "updated_at",
    )
    CHECK_IN_COLUMNS = (
        "id",
        "task_id",
        "user_id",
        "checked_in_at",
        "check_in_lat",
        "check_in_lng",
        "checked_out_at",
        "check_out_lat",
        "check_out_lng",
        "minutes",
        "created_at",
    )
    HOUR_COLUMNS = (
        "id",
        "user_id",
        "org_id",
        "activity",
        "started_at",
        "ended_at",
        "minutes",
        "source",
        "source_id",
        "status",
        "reviewed_by_id",
        "reviewed_at",
        "review_reason",
        "created_at",
    )

    def check_ins(
        self, tasks: list[tuple[Any, ...]], hours: list[tuple[Any, ...]]
    ) -> Iterator[Any]:
        """Check-ins, streamed (ten million at scale 10); the tasks they belong to and
        the ledger credits of some check-outs are collected on the way."""
        rng = self.rng
        n_tasks = self.district_count * DAYS * self.per_org(TASKS_PER_DISTRICT_DAY)
        per_task = self.n(CHECK_INS) / n_tasks
        credit_share = 0.7 * self.n(HOURS) / self.n(CHECK_INS)
        shares = (("community", 0.6), ("street", 0.3), ("district", 0.1))
        check_in_id = 0
        for task_id in range(1, n_tasks + 1):
            org = self.pick_org(shares, self.districts[task_id % self.district_count])
            starts = self.moment()
            ends = starts + timedelta(hours=rng.choice((2, 3, 4)))
            pool = self.in_org.get(org.id, [])
            k = min(len(pool), max(1, round(rng.expovariate(1 / per_task))))
            for user_id in rng.sample(pool, k):
                checked_in = starts + timedelta(minutes=rng.randrange(0, 60))
                out = min(ends, checked_in + timedelta(minutes=rng.randrange(30, 240)))
                minutes = (out - checked_in) // timedelta(minutes=1)
                check_in_id += 1
                yield (
                    check_in_id,
                    task_id,
                    user_id,
                    checked_in,
                    *PLACE,
                    out,
                    *PLACE,
                    minutes,
                    checked_in,
                )
                if minutes > 0 and rng.random() < credit_share:
                    hours.append(
                        (
                            len(hours) + 1,
                            user_id,
                            org.id,
                            "任务签到",
                            checked_in,
                            out,
                            minutes,
                            "check_in",
                            check_in_id,
                            "approved",
                            None,
                            None,
                            None,
                            out,
                        )
                    )
            tasks.append(
                (
                    task_id,
                    org.id,
                    f"任务{task_id}",
                    "志愿服务",
                    rng.choice(TASK_CATEGORIES),
                    starts,
                    ends,
                    *PLACE,
                    300,
                    None,
                    k,
                    None,
                    starts - timedelta(days=3),
                    starts - timedelta(days=3),
                )
            )

    def _add_other_hours(self, hours: list[tuple[Any, ...]]) -> None:
        """Hand-logged entries (pending, approved or rejected) and wish credits, up to
        the ledger's total."""
        rng = self.rng
        bound = [p for p in self.people if p[1] is not None]
        wish_credits = self.n(HOURS) // 10
        for n in range(max(0, self.n(HOURS) - len(hours))):
            user_id, community, unit, _ = rng.choice(bound)
            assert community is not None
            home = self.by_id[community]
            started = self.moment()
            minutes = rng.randrange(30, 240)
            ended = started + timedelta(minutes=minutes)
            if n < wish_credits:
                hours.append(
                    (
                        len(hours) + 1,
                        user_id,
                        community,
                        "微心愿",
                        started,
                        ended,
                        minutes,
                        "wish",
                        n + 1,
                        "approved",
                        None,
                        None,
                        None,
                        ended,
                    )
                )
                continue
            holder = rng.choices([community, home.street_id, unit or community], [7, 2, 1])[0]
            status = rng.choices(["approved", "pending", "rejected"], [65, 20, 15])[0]
            reviewed = ended + timedelta(days=1) if status != "pending" else None
            hours.append(
                (
                    len(hours) + 1,
                    user_id,
                    holder,
                    "自行登记",
                    started,
                    ended,
                    minutes,
                    "manual",
                    None,
                    status,
                    None,
                    reviewed,
                    "不符合" if status == "rejected" else None,
                    ended,
                )
            )

    # --- report-ins ---------------------------------------------------------------

    def report_in_rows(self) -> Table:
        rng = self.rng
        months = sorted({month_key(self.start + timedelta(days=d)) for d in range(0, DAYS, 10)})
        months = [m for m in months if m <= month_key(self.now)]

        def rows() -> Iterator[tuple[Any, ...]]:
            record_id = 0
            for user_id, community, _, party in self.people:
                if not party or community is None:
                    continue
                diligence = rng.uniform(0.3, 0.95)
                for month in months:
                    if rng.random() >= diligence:
                        continue
                    year, mon = int(month[:4]), int(month[5:])
                    at = datetime(year, mon, rng.randint(1, 27), rng.randint(0, 11), tzinfo=UTC)
                    if at >= self.now:
                        continue
                    record_id += 1
                    yield (record_id, user_id, community, month, at, *PLACE, None, at)

        return Table(
            "report_ins",
            (
                "id",
                "user_id",
                "community_id",
                "month",
                "reported_at",
                "lat",
                "lng",
                "note",
                "created_at",
            ),
            rows(),
        )

    # --- wishes and their history -------------------------------------------------

    def wish_tables(self) -> tuple[Table, Table]:
        rng = self.rng
        wishes: list[tuple[Any, ...]] = []
        events: list[tuple[Any, ...]] = []

        def event(
            wish_id: int, action: str, frm: str | None, to: str, actor: int, at: datetime
        ) -> None:
            events.append((len(events) + 1, wish_id, action, frm, to, actor, None, at))

        per_community = self.per_org(WISHES_PER_COMMUNITY_YEAR) * DAYS // 365
        for community in self.communities:
            locals_ = self.in_community[community.id] or self.everyone
            party = self.party_in_community[community.id] or locals_
            for _ in range(per_community):
                wish_id = len(wishes) + 1
                created = self.moment()
                age_days = (self.now - created).days
                weights = [1, 4, 1, 3, 70, 10, 11] if age_days > 60 else [10, 30, 25, 10, 15, 5, 5]
                status = rng.choices(
                    [
                        "pending_review",
                        "open",
                        "claimed",
                        "fulfilled",
                        "confirmed",
                        "rejected",
                        "cancelled",
                    ],
                    weights,
                )[0]
                poster = rng.choice(locals_)
                claimant = None
                claimed_at = fulfilled_at = confirmed_at = None
                event(wish_id, "create", None, "pending_review", poster, created)
                if status == "rejected":
                    event(wish_id, "reject", "pending_review", "rejected", poster, created)
                elif status != "pending_review":
                    event(wish_id, "approve", "pending_review", "open", poster, created)
                    at = created + timedelta(hours=rng.randint(1, 240))
                    if rng.random() < 0.1:  # claimed and given up again by someone
                        other = rng.choice(party)
                        event(wish_id, "claim", "open", "claimed", other, at)
                        event(wish_id, "release", "claimed", "open", other, at + timedelta(hours=1))
                        at += timedelta(hours=2)
                    if status in ("claimed", "fulfilled", "confirmed"):
                        claimant, claimed_at = rng.choice(party), min(at, self.now)
                        event(wish_id, "claim", "open", "claimed", claimant, claimed_at)
                    if status in ("fulfilled", "confirmed"):
                        assert claimant is not None and claimed_at is not None
                        fulfilled_at = min(
                            self.now, claimed_at + timedelta(days=rng.randint(1, 20))
                        )
                        event(wish_id, "fulfill", "claimed", "fulfilled", claimant, fulfilled_at)
                    if status == "confirmed":
                        assert fulfilled_at is not None
                        confirmed_at = min(self.now, fulfilled_at + timedelta(days=1))
                        event(wish_id, "confirm", "fulfilled", "confirmed", poster, confirmed_at)
                    if status == "cancelled":
                        event(wish_id, "cancel", "open", "cancelled", poster, min(at, self.now))
                deadline = (created + timedelta(days=rng.choice((14, 30, 60)))).date()
                wishes.append(
                    (
                        wish_id,
                        f"心愿{wish_id}",
                        "一个小心愿",
                        community.id,
                        "张*",
                        None,
                        None,
                        deadline if rng.random() < 0.8 else None,
                        status,
                        poster,
                        claimant,
                        claimed_at,
                        fulfilled_at,
                        None,
                        confirmed_at,
                        created,
                        created,
                    )
                )
        return (
            Table(
                "wishes",
                (
                    "id",
                    "title",
                    "description",
                    "community_id",
                    "beneficiary_name",
                    "beneficiary_phone_cipher",
                    "beneficiary_phone_masked",
                    "deadline",
                    "status",
                    "created_by_id",
                    "claimed_by_id",
                    "claimed_at",
                    "fulfilled_at",
                    "fulfil_note",
                    "confirmed_at",
                    "created_at",
                    "updated_at",
                ),
                wishes,
            ),
            Table(
                "wish_events",
                ("id", "wish_id", "action", "from_status", "to_status", "actor_id", "note", "at"),
                events,
            ),
        )

    # --- problems and articles ----------------------------------------------------

    def problem_rows(self) -> Table:
        rng = self.rng
        shares = (("community", 0.7), ("street", 0.2), ("unit", 0.1))
        count = self.district_count * 24 * self.per_org(PROBLEMS_PER_DISTRICT_MONTH)

        def rows() -> Iterator[tuple[Any, ...]]:
            for problem_id in range(1, count + 1):
                org = self.pick_org(shares, self.districts[problem_id % self.district_count])
                created = self.moment()
                deadline = (created + timedelta(days=7)).date()
                # deadline_at: the start of the next Shanghai day, in UTC.
                deadline_at = datetime.combine(deadline, datetime.min.time(), UTC) + timedelta(
                    hours=16
                )
                age = (self.now - created).days
                closed_share = 0.95 if age > 30 else 0.3
                status = rng.choices(
                    ["closed", "rectified", "open"],
                    [closed_share, (1 - closed_share) / 2, (1 - closed_share) / 2],
                )[0]
                rectified_at = (
                    min(self.now, created + timedelta(days=rng.randint(1, 10)))
                    if status != "open"
                    else None
                )
                closed_at = (
                    min(self.now, rectified_at + timedelta(days=1))
                    if status == "closed" and rectified_at
                    else None
                )
                yield (
                    (
                        problem_id,
                        org.id,
                        None,
                        rng.choice(PROBLEM_CATEGORIES),
                        "发现问题",
                        *PLACE,
                        deadline,
                        deadline_at,
                        status,
                        rng.choice(self.everyone),
                        rectified_at,
                        "已整改" if rectified_at else None,
                        None,
                        closed_at,
                        created,
                        closed_at or rectified_at or created,
                    )
                )

        return Table(
            "problems",
            (
                "id",
                "org_id",
                "point_id",
                "category",
                "description",
                "lat",
                "lng",
                "deadline",
                "deadline_at",
                "status",
                "reported_by_id",
                "rectified_at",
                "rectify_note",
                "rectified_by_id",
                "closed_at",
                "created_at",
                "updated_at",
            ),
            rows(),
        )

    def article_rows(self) -> Table:
        rng = self.rng
        shares = (("community", 0.6), ("street", 0.25), ("district", 0.05), ("unit", 0.1))
        count = self.district_count * 24 * self.per_org(ARTICLES_PER_DISTRICT_MONTH)

        def rows() -> Iterator[tuple[Any, ...]]:
            for article_id in range(1, count + 1):
                org = self.pick_org(shares, self.districts[article_id % self.district_count])
                created = self.moment()
                status = rng.choices(
                    ["draft", "in_review", "returned", "published"], [10, 10, 10, 70]
                )[0]
                submitted = created + timedelta(hours=1) if status != "draft" else None
                published = (
                    min(self.now, created + timedelta(days=rng.randint(1, 5)))
                    if status == "published"
                    else None
                )
                yield (
                    (
                        article_id,
                        f"稿件{article_id}",
                        "正文",
                        org.id,
                        rng.choice(self.everyone),
                        status,
                        org.id if status == "in_review" else None,
                        False,
                        False,
                        submitted,
                        submitted,
                        published,
                        created,
                        published or created,
                    )
                )

        return Table(
            "articles",
            (
                "id",
                "title",
                "body",
                "org_id",
                "author_id",
                "status",
                "review_org_id",
                "content_flagged",
                "needs_human_review",
                "first_submitted_at",
                "submitted_at",
                "published_at",
                "created_at",
                "updated_at",
            ),
            rows(),
        )

    PAIRING_COLUMNS = (
        "id",
        "unit_id",
        "community_id",
        "status",
        "starts_on",
        "ends_on",
        "commitments",
        "created_by_id",
        "created_at",
        "updated_at",
    )

    def pairing_rows(self) -> Table:
        """Each unit paired with a community of its street (a unit under a street) or
        district; a third of them had another pairing before, ended a year ago."""
        rng = random.Random(self.seed + 18)  # noqa: S311
        by_parent: dict[int, list[Org]] = {}
        for c in self.communities:
            by_parent.setdefault(c.street_id or 0, []).append(c)
            by_parent.setdefault(-c.district_id, []).append(c)
        today = self.now.date()
        commitments = '["每月组织一次党员志愿服务", "认领微心愿"]'

        def rows() -> Iterator[tuple[Any, ...]]:
            pairing_id = 0
            for u in self.units:
                pool = by_parent[u.street_id] if u.street_id else by_parent[-u.district_id]
                first, *rest = rng.sample(pool, min(2, len(pool)))
                since = today - timedelta(days=rng.randint(30, 600))
                if rest and rng.random() < 1 / 3:
                    pairing_id += 1
                    old = since - timedelta(days=400)
                    ended = since - timedelta(days=1)
                    yield (
                        pairing_id,
                        u.id,
                        rest[0].id,
                        "ended",
                        old,
                        ended,
                        commitments,
                        1,
                        self.now,
                        self.now,
                    )
                pairing_id += 1
                yield (
                    pairing_id,
                    u.id,
                    first.id,
                    "active",
                    since,
                    None,
                    commitments,
                    1,
                    self.now,
                    self.now,
                )

        return Table("pairings", self.PAIRING_COLUMNS, rows())

    def tables(self) -> Iterator[Table]:
        yield self.org_rows()
        yield self.user_rows()
        # Foreign keys are not checked while loading, so check-ins may stream first.
        tasks: list[tuple[Any, ...]] = []
        hours: list[tuple[Any, ...]] = []
        yield Table("check_ins", self.CHECK_IN_COLUMNS, self.check_ins(tasks, hours))
        yield Table("tasks", self.TASK_COLUMNS, tasks)
        self._add_other_hours(hours)
        yield Table("volunteer_hours", self.HOUR_COLUMNS, hours)
        del tasks, hours  # two million rows at scale 10: not kept for the rest
        yield self.report_in_rows()
        wishes, events = self.wish_tables()
        yield wishes
        yield events
        yield self.problem_rows()
        yield self.article_rows()


# --- loading ------------------------------------------------------------------------


def run_migrations(database_url: str, revision: str) -> float:
    """`alembic upgrade` as an operator runs it; in a thread, since env.py owns a loop."""
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.attributes["database_url"] = database_url
    cfg.attributes["configure_logger"] = False
    began = time.perf_counter()
    with ThreadPoolExecutor(1) as pool:
        pool.submit(command.upgrade, cfg, revision).result()
    return time.perf_counter() - began


def _counted(rows: Iterable[tuple[Any, ...]], counts: dict[str, int], name: str) -> Iterator[Any]:
    for row in rows:
        counts[name] = counts.get(name, 0) + 1
        yield row


async def load_postgres(city: City, admin_url: str, name: str) -> str:
    admin = make_url(admin_url)
    url = admin.set(database=name).render_as_string(hide_password=False)
    conn = await asyncpg.connect(admin.set(drivername="postgresql").render_as_string(False))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    print(f"migrate to {LOAD_REVISION}: {run_migrations(url, LOAD_REVISION):.1f} s")
    conn = await asyncpg.connect(make_url(url).set(drivername="postgresql").render_as_string(False))
    try:
        # The generated rows are consistent; skipping the per-row foreign-key
        # triggers makes COPY several times faster.
        await conn.execute("SET session_replication_role = replica")
        for table in city.tables():
            began = time.perf_counter()
            await conn.copy_records_to_table(
                table.name,
                records=_counted(table.rows, city.counts, table.name),
                columns=list(table.columns),
            )
            await conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "  # noqa: S608
                f"(SELECT coalesce(max(id), 0) + 1 FROM {table.name}), false)"
            )
            took = time.perf_counter() - began
            print(f"  {table.name}: {city.counts.get(table.name, 0):,} rows, {took:.1f} s")
        await conn.execute("SET session_replication_role = DEFAULT")
    finally:
        await conn.close()
    return url


def _sqlite_value(value: Any) -> Any:
    # As SQLAlchemy's SQLite DateTime and Date store them (naive UTC text), so the
    # app's comparisons on these columns see what it would have written itself.
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, date):
        return value.isoformat()
    return value


def load_sqlite(city: City, path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    url = f"sqlite:///{path}"
    print(f"migrate to {LOAD_REVISION}: {run_migrations(url, LOAD_REVISION):.1f} s")
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=OFF")
        db.execute("BEGIN")
        for table in city.tables():
            began = time.perf_counter()
            sql = (
                f"INSERT INTO {table.name} ({', '.join(table.columns)}) "  # noqa: S608
                f"VALUES ({', '.join('?' * len(table.columns))})"
            )
            batch: list[tuple[Any, ...]] = []
            for row in _counted(table.rows, city.counts, table.name):
                batch.append(tuple(_sqlite_value(v) for v in row))
                if len(batch) >= SQLITE_BATCH:
                    db.executemany(sql, batch)
                    batch.clear()
            db.executemany(sql, batch)
            took = time.perf_counter() - began
            print(f"  {table.name}: {city.counts.get(table.name, 0):,} rows, {took:.1f} s")
        db.execute("COMMIT")
    finally:
        db.close()
    return url


async def load_at_head(city: City, url: str) -> None:
    table = city.pairing_rows()
    rows = list(_counted(table.rows, city.counts, table.name))
    if url.startswith("sqlite"):
        db = sqlite3.connect(make_url(url).database or "")
        try:
            placeholders = ", ".join("?" * len(table.columns))
            db.executemany(
                f"INSERT INTO {table.name} ({', '.join(table.columns)}) "  # noqa: S608
                f"VALUES ({placeholders})",
                [tuple(_sqlite_value(v) for v in row) for row in rows],
            )
            db.commit()
        finally:
            db.close()
    else:
        conn = await asyncpg.connect(
            make_url(url).set(drivername="postgresql").render_as_string(False)
        )
        try:
            await conn.copy_records_to_table(table.name, records=rows, columns=list(table.columns))
            await conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "  # noqa: S608
                f"(SELECT coalesce(max(id), 0) + 1 FROM {table.name}), false)"
            )
        finally:
            await conn.close()
    print(f"  {table.name}: {city.counts.get(table.name, 0):,} rows")


async def analyze(url: str) -> None:
    if url.startswith("sqlite"):
        db = sqlite3.connect(make_url(url).database or "")
        db.execute("ANALYZE")
        db.close()
        return
    conn = await asyncpg.connect(make_url(url).set(drivername="postgresql").render_as_string(False))
    try:
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


async def seed(args: argparse.Namespace) -> None:
    began = time.perf_counter()
    city = City(scale=args.scale, seed=args.seed, wide=args.wide)
    print(
        f"city at scale {args.scale:g}: {len(city.orgs)} orgs, {len(city.people):,} people "
        f"({time.perf_counter() - began:.1f} s to lay out)"
    )
    if args.sqlite:
        url = load_sqlite(city, Path(args.sqlite))
    else:
        name = args.database or (
            f"chuangwen_bench_{args.scale:g}{'_wide' if args.wide else ''}".replace(".", "_")
        )
        url = await load_postgres(city, args.postgres_url, name)
    print(f"migrate to head (backfills the loaded rows): {run_migrations(url, 'head'):.1f} s")
    # Tables of later revisions than the load's go in at head.
    await load_at_head(city, url)
    step = time.perf_counter()
    await analyze(url)
    print(f"analyze: {time.perf_counter() - step:.1f} s")
    print(f"seeded {url} in {time.perf_counter() - began:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1: the issue's city; 10: 10x")
    parser.add_argument(
        "--wide",
        action="store_true",
        help="scale the number of districts instead of the people per org",
    )
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--postgres-url", default=ADMIN_URL, help="a maintenance database URL")
    parser.add_argument("--database", help="PostgreSQL database name (dropped and recreated)")
    parser.add_argument("--sqlite", help="seed this SQLite file instead (replaced)")
    asyncio.run(seed(parser.parse_args()))


if __name__ == "__main__":
    main()
