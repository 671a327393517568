"""Latency of the dashboards and ledger exports on a seeded city (benchmarks/seed_city.py).

Calls the real service functions (app.services.dashboard, app.services.exports),
each in a fresh session as a request gets it, round-robin over a fixed sample of
orgs, and prints a markdown table of p50/p95/p99 in milliseconds:

- wall: the whole service call, from opening the session to the answer (Python,
  the driver, the connection from the pool or, on SQLite, a new connection);
- statements: the summed time of its SQL statements as the client sees them
  (SQLAlchemy `before_cursor_execute` → `after_cursor_execute`: the round trip,
  the server's work and fetching the rows);
- server (PostgreSQL only): the summed planning + execution time that
  `EXPLAIN (ANALYZE, TIMING OFF)` reports for the same statements with the same
  parameters, i.e. time spent inside the database alone.

Exports stream through a server-side cursor while openpyxl writes in a worker
thread, so only their wall time means anything.

    .venv/bin/python -m benchmarks.dashboard_latency \
        --database postgresql://postgres@127.0.0.1:5432/chuangwen_bench_1
    .venv/bin/python -m benchmarks.dashboard_latency --database sqlite:///var/bench/city-1.db
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.core.config import Settings
from app.core.db import _PgStatement, create_engine, create_sessionmaker, dialect_of, ids_value
from app.core.scope import LEVEL_ADMIN_ROLE, Caller, Grant
from app.core.timeutil import local, month_key
from app.models.dashboard import DashboardSort, SortOrder
from app.models.org import Org, OrgLevel
from app.models.report import ReportStatus
from app.models.report_in import (
    ReportIn,
)
from app.models.task import (
    CheckIn,
)
from app.models.user import User
from app.models.volunteer_hours import VolunteerHour
from app.services import console, dashboard, exports, inspections, pairings, report_ins, reports

DISTRICT_AFTER_DAYS = 7


@dataclass
class Case:
    name: str
    level: str
    orgs: list[Org]
    call: Callable[[AsyncSession, Org], Awaitable[int]]
    size: str = ""
    wall: list[float] = field(default_factory=list)
    # This process's CPU (process time) per call: the Python side, whatever the load.
    cpu: list[float] = field(default_factory=list)
    statements: list[float] = field(default_factory=list)
    server: list[float] = field(default_factory=list)
    # Server time of each statement, by what it reads (see `label`).
    per_statement: dict[str, list[float]] = field(default_factory=dict)
    queries: int = 0


class Clock:
    """Sums the time of every SQL statement; records them for EXPLAIN when asked.

    Statements compiled once (app.core.db.Statement) run on the asyncpg connection,
    past SQLAlchemy's cursor events: they are timed and recorded by wrapping the
    compiled statement's `rows`, with their generic-plan flag."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.total = 0.0
        self.count = 0
        self.record: list[tuple[str, Any]] | None = None
        self._began: dict[int, float] = {}
        sync = engine.sync_engine
        event.listen(sync, "before_cursor_execute", self._before)
        event.listen(sync, "after_cursor_execute", self._after)
        clock, rows = self, _PgStatement.rows

        async def timed_rows(
            statement: _PgStatement, session: Any, params: Any, **kwargs: Any
        ) -> Any:
            if clock.record is not None:
                clock.record.append((statement.sql, _Driver(statement, statement.args(params))))
            began = time.perf_counter()
            try:
                return await rows(statement, session, params, **kwargs)
            finally:
                clock.total += time.perf_counter() - began
                clock.count += 1

        _PgStatement.rows = timed_rows  # type: ignore[method-assign]

    def _before(self, _conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if self.record is not None:
            self.record.append((statement, params))
        self._began[id(cursor)] = time.perf_counter()

    def _after(self, _conn: Any, cursor: Any, *_: Any) -> None:
        self.total += time.perf_counter() - self._began.pop(id(cursor))
        self.count += 1

    def reset(self) -> None:
        self.total, self.count = 0.0, 0


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


def fmt(values: list[float], ps: tuple[int, ...] = (50, 95, 99)) -> str:
    if not values:
        return "–"
    return " / ".join(f"{percentile(values, p) * 1000:.1f}" for p in ps)


@dataclass
class _Driver:
    """A statement run on the asyncpg connection, with its positional arguments."""

    statement: _PgStatement
    args: list[Any]


def _literal(value: Any) -> str:
    """An argument written into EXECUTE (typed by the prepared statement)."""
    if value is None:
        return "NULL"
    if isinstance(value, list):
        return "'{" + ",".join(str(v) for v in value) + "}'"
    return "'" + str(value).replace("'", "''") + "'"


LABELS = [
    # (what the statement reads, a fragment only its SQL contains), first match wins
    # The console's: the home's unbound count, the unit members' list of those not
    # reported (both UNION ALLs of the two homes, as users.people_in reads them).
    ("unbound people", "users.openid IS NULL"),
    ("not reported", "EXISTS (SELECT report_ins.id"),
    ("figures (one statement)", "UNION ALL"),
    ("people", "people_counts"),
    ("record counts", "fact_counts"),
    ("children", "orgs.parent_id ="),
    ("subtree ids", "orgs.path >="),
    ("the org", "FROM orgs"),
    ("wishes overdue", "wishes.deadline <"),
    ("problems due", "problems.deadline_at"),
]


def label(statement: str) -> str:
    return next((name for name, part in LABELS if part in statement), "other")


async def explain_times(
    session: AsyncSession, statements: list[tuple[str, Any]]
) -> dict[str, float]:
    """Planning + execution time in seconds of each statement, by label."""
    times: dict[str, float] = {}
    conn = await session.connection()
    raw = (await conn.get_raw_connection()).driver_connection
    assert raw is not None
    for statement, params in statements:
        if isinstance(params, _Driver):
            # As the app runs it: a prepared statement, on its generic plan if so made.
            mode = "force_generic_plan" if params.statement.generic_plan else "auto"
            await raw.execute(f"SET plan_cache_mode = {mode}")
            prepared = await raw.prepare(statement)
            await prepared.fetch(*params.args)  # the generic plan is made on first use
            name = prepared._state.name
            arguments = ", ".join(_literal(a) for a in params.args)
            executed = f"EXECUTE {name}({arguments})" if params.args else f"EXECUTE {name}"
            plan = await raw.fetchval("EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) " + executed)
            await raw.execute("SET plan_cache_mode = auto")
            plan = json.loads(plan) if isinstance(plan, str) else plan
            times[label(statement)] = (
                plan[0]["Planning Time"] + plan[0]["Execution Time"]
            ) / 1000 + times.get(label(statement), 0.0)
            continue
        result = await conn.exec_driver_sql(
            "EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) " + statement, params
        )
        plan = result.scalar_one()
        plan = json.loads(plan) if isinstance(plan, str) else plan
        # Added up per label, as above: several statements may share one.
        times[label(statement)] = (
            plan[0]["Planning Time"] + plan[0]["Execution Time"]
        ) / 1000 + times.get(label(statement), 0.0)
    return times


async def run_case(
    case: Case,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: Clock,
    *,
    iterations: int,
    explain: int,
    postgres: bool,
) -> None:
    for org in case.orgs[:3]:  # warm the caches and the statement cache
        async with sessionmaker() as session:
            await case.call(session, org)
    for i in range(iterations):
        org = case.orgs[i % len(case.orgs)]
        clock.reset()
        began, cpu = time.perf_counter(), time.process_time()
        async with sessionmaker() as session:
            await case.call(session, org)
        case.wall.append(time.perf_counter() - began)
        case.cpu.append(time.process_time() - cpu)
        case.statements.append(clock.total)
        case.queries = clock.count
    if not postgres:
        return
    for i in range(explain):
        org = case.orgs[i % len(case.orgs)]
        clock.record = []
        async with sessionmaker() as session:
            await case.call(session, org)
        statements, clock.record = clock.record, None
        async with sessionmaker() as session:
            times = await explain_times(session, statements)
        case.server.append(sum(times.values()))
        for name, seconds in times.items():
            case.per_statement.setdefault(name, []).append(seconds)


def machine() -> str:
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            mem = f"{int(f.readline().split()[1]) / 2**20:.0f} GiB RAM, "
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores, {mem}{platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}"
    )


async def describe(
    sessionmaker: async_sessionmaker[AsyncSession], engine: AsyncEngine, month: str
) -> list[str]:
    lines = []
    async with sessionmaker() as session:
        if engine.dialect.name == "postgresql":
            version = (await session.execute(select(func.version()))).scalar_one()
            version = " ".join(str(version).split()[:2])
        else:
            version = "SQLite " + str(
                (await session.execute(select(func.sqlite_version()))).scalar_one()
            )
        counts = {}
        for name, model in (
            ("people", User),
            ("check-ins", CheckIn),
            ("hour entries", VolunteerHour),
            ("report-ins", ReportIn),
        ):
            counts[name] = (
                await session.execute(select(func.count()).select_from(model))
            ).scalar_one()
    lines.append(f"- machine: {machine()}")
    lines.append(f"- database: {version}; month {month}")
    lines.append("- data: " + ", ".join(f"{v:,} {k}" for k, v in counts.items()))
    return lines


async def main_async(args: argparse.Namespace) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        app_env="test",
        database_url=args.database,
        redis_url=None,
    )
    engine = create_engine(settings)
    sessionmaker = create_sessionmaker(engine)
    clock = Clock(engine)
    postgres = engine.dialect.name == "postgresql"
    now = datetime.now(UTC)
    month = args.month or month_key(local(now).replace(day=1) - timedelta(days=1))
    year = int(month[:4])

    async with sessionmaker() as session:
        orgs = list((await session.execute(select(Org).order_by(Org.id))).scalars())
    rng = random.Random(args.seed)  # noqa: S311 (a sample, not a secret)
    by_level = {lvl: [o for o in orgs if o.level == lvl] for lvl in OrgLevel}
    sample = {
        "community": rng.sample(
            by_level[OrgLevel.community], min(20, len(by_level[OrgLevel.community]))
        ),
        "street": rng.sample(by_level[OrgLevel.street], min(12, len(by_level[OrgLevel.street]))),
        "district": by_level[OrgLevel.district],
        # Issue 18: a unit's dashboard (its members, wherever they live) is held to the
        # community dashboard's budget.
        "unit": rng.sample(by_level[OrgLevel.unit], min(20, len(by_level[OrgLevel.unit]))),
    }
    children = {o.id: sum(1 for c in orgs if c.parent_id == o.id) for o in orgs}
    if args.parts:
        rows = await part_buffers(sessionmaker, sample["district"], month)
        await engine.dispose()
        print(f"District figures of {month}, p50 over {len(sample['district'])} districts:")
        print()
        print("| part | buffers | execution ms (TIMING OFF) |")
        print("|---|---:|---:|")
        for part, touched, took in rows:
            print(f"| {part} | {touched:,} | {took:.2f} |")
        return

    def board(session: AsyncSession, org: Org) -> Awaitable[Any]:
        return dashboard.dashboard(
            session,
            org=org,
            month=month,
            district_after_days=DISTRICT_AFTER_DAYS,
            now=now,
        )

    def ranking(session: AsyncSession, org: Org) -> Awaitable[Any]:
        return dashboard.ranking(
            session,
            org=org,
            month=month,
            sort=DashboardSort.report_in_rate,
            order=SortOrder.desc,
            district_after_days=DISTRICT_AFTER_DAYS,
            now=now,
        )

    def export(
        dataset: exports.Dataset, **period: Any
    ) -> Callable[[AsyncSession, Org], Awaitable[int]]:
        async def call(session: AsyncSession, org: Org) -> int:
            ledger = await exports.export_ledger(
                session,
                dataset=dataset,
                org=org,
                district_after_days=settings.problem_district_escalation_days,
                now=now,
                **period,
            )
            exports.remove_ledger(ledger.path)
            rows_seen.setdefault(f"export {dataset.value}", []).append(ledger.rows)
            return ledger.rows

        return call

    rows_seen: dict[str, list[int]] = {}

    # The console's heaviest screens, as an admin of the org sees them (issue 17): the
    # to-do counts of the home screen and the roster's first page.
    def admin_of(org: Org) -> Caller:
        assert org.id is not None
        grant = Grant(0, LEVEL_ADMIN_ROLE[org.level], org.id, org.path, org.level)
        return Caller(user=User(id=0, name="benchmark"), grants=[grant])

    def console_home(session: AsyncSession, org: Org) -> Awaitable[Any]:
        return console.todo(session, settings=settings, caller=admin_of(org))

    def console_roster(session: AsyncSession, org: Org) -> Awaitable[Any]:
        return console.roster_page(
            session,
            caller=admin_of(org),
            org=None,
            name=None,
            unbound=True,
            paging=console.Paging(1, console.ROSTER_PAGE),
        )

    # The screens of units (issue 18) and inspections (issue 21), first pages as the
    # console asks them (app/routers/console.py).
    async def console_inspections(session: AsyncSession, org: Org) -> Any:
        today = local(datetime.now(UTC)).date()
        caller = admin_of(org)
        visits, _ = await inspections.list_inspections(
            session,
            caller=caller,
            org=None,
            point_id=None,
            since=today - timedelta(days=console.INSPECTION_DAYS - 1),
            until=today,
            offset=0,
            limit=console.LONG_PAGE,
        )
        return await inspections.inspections_public(session, visits, viewer_id=0)

    async def console_reports(session: AsyncSession, org: Org) -> Any:
        caller = admin_of(org)
        found, _ = await reports.list_reports(
            session,
            caller=caller,
            org=None,
            status=ReportStatus.submitted,
            mine=False,
            offset=0,
            limit=console.INBOX_PAGE,
        )
        await reports.reports_public(session, found, caller=caller)
        return await console.nearby_of(session, caller=caller, reports=found)

    async def console_pairings(session: AsyncSession, org: Org) -> Any:
        found, _ = await pairings.list_pairings(
            session,
            caller=admin_of(org),
            unit_id=None,
            community_id=None,
            status=None,
            offset=0,
            limit=console.PAGE_SIZE,
        )
        return await pairings.to_public(session, found)

    async def console_unit_members(session: AsyncSession, org: Org) -> Any:
        return await report_ins.report_in_figures(
            session, caller=admin_of(org), org=org, month=month
        )

    async def as_int(aw: Awaitable[Any]) -> int:
        await aw
        return 0

    cases = [
        Case("GET /dashboard", "community", sample["community"], lambda s, o: as_int(board(s, o))),
        Case("GET /dashboard", "street", sample["street"], lambda s, o: as_int(board(s, o))),
        Case("GET /dashboard", "district", sample["district"], lambda s, o: as_int(board(s, o))),
        Case("GET /dashboard", "unit", sample["unit"], lambda s, o: as_int(board(s, o))),
        Case(
            "GET /dashboard/children",
            "street",
            sample["street"],
            lambda s, o: as_int(ranking(s, o)),
            size=f"{min(children[o.id] for o in sample['street'])}–"
            f"{max(children[o.id] for o in sample['street'])} children",
        ),
        Case(
            "GET /dashboard/children",
            "district",
            sample["district"],
            lambda s, o: as_int(ranking(s, o)),
            size=f"{min(children[o.id] for o in sample['district'])}–"
            f"{max(children[o.id] for o in sample['district'])} children",
        ),
    ]
    cases += [
        Case("console home", level, sample[level], lambda s, o: as_int(console_home(s, o)))
        for level in ("community", "street", "district")
    ]
    cases += [
        Case("console roster", level, sample[level], lambda s, o: as_int(console_roster(s, o)))
        for level in ("street", "district")
    ]

    def screen_case(name: str, level: str, screen: Callable[..., Awaitable[Any]]) -> Case:
        return Case(f"console {name}", level, sample[level], lambda s, o: as_int(screen(s, o)))

    cases += [
        screen_case(name, level, screen)
        for name, screen in (
            ("inspections", console_inspections),
            ("reports inbox", console_reports),
            ("pairings", console_pairings),
            ("unit members", console_unit_members),
        )
        for level in ("street", "district")
    ]
    export_cases = [
        Case("export members", "community", sample["community"], export(exports.Dataset.members)),
        Case(
            "export report-ins",
            "street",
            sample["street"],
            export(exports.Dataset.report_ins, month=month),
        ),
        Case(
            "export volunteer-hours",
            "community",
            sample["community"],
            export(exports.Dataset.volunteer_hours, year=year),
        ),
        Case("export wishes", "street", sample["street"], export(exports.Dataset.wishes)),
        Case(
            "export pairings",
            "district",
            sample["district"],
            export(exports.Dataset.pairings, year=year),
        ),
        Case(
            "export problems",
            "street",
            sample["street"],
            export(exports.Dataset.problems, year=year),
        ),
    ]

    if args.only:
        # Only the calls named (`--only "GET /dashboard"`), and no exports: a shorter
        # run, to alternate with another checkout's on a busy machine.
        cases = [c for c in cases if any(c.name.startswith(o) for o in args.only)]
        export_cases = []
    header = await describe(sessionmaker, engine, month)
    load_before = os.getloadavg()[0]
    began = time.perf_counter()
    for case in cases:
        await run_case(
            case,
            sessionmaker,
            clock,
            iterations=args.iterations,
            explain=min(args.iterations, args.explain) if postgres else 0,
            postgres=postgres,
        )
        print(f"  {case.name} {case.level}: done", file=sys.stderr)
    for case in export_cases:
        await run_case(
            case,
            sessionmaker,
            clock,
            iterations=args.export_iterations,
            explain=0,
            postgres=False,
        )
        print(f"  {case.name} {case.level}: done", file=sys.stderr)
    took = time.perf_counter() - began
    await engine.dispose()

    print("\n".join(header))
    print(
        f"- {args.iterations} calls per dashboard row ({args.explain if postgres else 0} under "
        f"EXPLAIN ANALYZE), {args.export_iterations} per export, over {len(sample['community'])} "
        f"communities / {len(sample['street'])} streets / {len(sample['district'])} districts; "
        f"load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after; {took:.0f} s"
    )
    print()
    print(
        "| call | org | queries | wall p50 / p95 / p99 ms | CPU p50 / p95 ms "
        "| statements p50 / p95 / p99 ms | server (EXPLAIN ANALYZE) p50 / p95 / p99 ms |"
    )
    print("|---|---|---|---|---|---|---|")
    for case in cases:
        org = f"{case.level}{' (' + case.size + ')' if case.size else ''}"
        print(
            f"| {case.name} | {org} | {case.queries} | {fmt(case.wall)} | "
            f"{fmt(case.cpu, (50, 95))} | {fmt(case.statements)} | {fmt(case.server)} |"
        )
    if postgres:
        print()
        print("Server time per statement (EXPLAIN ANALYZE), p50 / p95 ms:")
        print()
        names = [n for n, _ in LABELS if any(n in case.per_statement for case in cases)]
        heads = [f"{case.name.removeprefix('GET ')} {case.level}" for case in cases]
        print("| statement reads | " + " | ".join(heads) + " |")
        print("|---|" + "---|" * len(cases))
        for name in names:
            cells = [fmt(case.per_statement.get(name, []), (50, 95)) for case in cases]
            print(f"| {name} | " + " | ".join(cells) + " |")
    print()
    print("| export | org | rows | wall p50 / p95 / p99 ms |")
    print("|---|---|---|---|")
    for case in export_cases:
        rows = rows_seen[case.name]
        print(f"| {case.name} | {case.level} | {min(rows):,}–{max(rows):,} | {fmt(case.wall)} |")


async def part_buffers(
    sessionmaker: async_sessionmaker[AsyncSession], orgs: list[Org], month: str
) -> list[tuple[str, int, float]]:
    """Per part of the figures' statement (app/services/dashboard.py `_parts`), and for
    the whole statement: the shared buffers it touches and its execution time, p50 over
    `orgs`' dashboards, each run alone on its generic plan as the app runs the whole
    (EXPLAIN (ANALYZE, TIMING OFF, BUFFERS)). Buffers do not move with the machine's
    load: the measure to compare checkouts by on a busy machine (`--parts`)."""
    seen: dict[str, list[tuple[int, float]]] = {}
    async with sessionmaker() as session:
        dialect = dialect_of(session)
        raw = (await (await session.connection()).get_raw_connection()).driver_connection
        assert raw is not None
        await raw.execute("SET plan_cache_mode = force_generic_plan")
        for org in orgs:
            assert org.id is not None
            subtree = await dashboard._subtree(session, org)
            buckets = dashboard._buckets_of(subtree, [org.id])
            params = dashboard._params(buckets, subtree, month, datetime.now(UTC), 7)
            for name in ("ids", "place_ids", "unit_ids", "above"):
                params[name] = ids_value(params[name], dialect)
            for part in ("(all)", *dashboard.FIGURE_PARTS):
                names = dashboard.FIGURE_PARTS if part == "(all)" else (part,)
                statement = dashboard._statement(dialect, False, names)[0].statement
                pg = _PgStatement.of(statement, dialect, None)
                for _ in range(3):  # the last of three: warm caches, the plan made
                    plan = await raw.fetchval(
                        "EXPLAIN (ANALYZE, TIMING OFF, BUFFERS, FORMAT JSON) " + pg.sql,
                        *pg.args(params),
                    )
                found = (json.loads(plan) if isinstance(plan, str) else plan)[0]
                top = found["Plan"]
                touched = top.get("Shared Hit Blocks", 0) + top.get("Shared Read Blocks", 0)
                seen.setdefault(part, []).append((touched, found["Execution Time"]))
    out = []
    for part, values in seen.items():
        out.append(
            (
                part,
                int(percentile([float(b) for b, _ in values], 50)),
                percentile([t for _, t in values], 50),
            )
        )
    return sorted(out, key=lambda row: (row[0] != "(all)", -row[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", required=True, help="SQLAlchemy URL of a seeded city")
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--explain", type=int, default=60, help="calls under EXPLAIN ANALYZE")
    parser.add_argument("--export-iterations", type=int, default=20)
    parser.add_argument("--month", help="YYYY-MM; default last month (Shanghai)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--only", action="append", help="run only the calls whose name starts so (repeatable)"
    )
    parser.add_argument(
        "--parts",
        action="store_true",
        help="only the buffers of each part of a district's figures (PostgreSQL)",
    )
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
