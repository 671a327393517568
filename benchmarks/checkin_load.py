"""HTTP load run of the check-in and two reads against baselines, one command, a table.

    .venv/bin/python -m benchmarks.checkin_load            # needs `wrk` (apt-get install wrk)

What it does, all on this machine (loopback only, every run bounded in time):

1. Creates the PostgreSQL database `chuangwen_load` afresh (dropped first if it is
   there; no other database is touched), migrates it with the real Alembic
   migrations, and seeds one district > street > community, `--members` members of
   that community and `--tasks` active tasks at the district with room for everyone,
   plus `bench_check_ins`, a copy of `check_ins` for the raw-INSERT baseline.
2. Starts each target as ONE uvicorn worker in a subprocess (log level warning, no
   access log): the bare ASGI app (benchmarks/baseline_bare_asgi.py), the raw asyncpg
   INSERT endpoint (benchmarks/baseline_raw_insert.py) and the real app
   (`uvicorn --factory app.main:create_app`, APP_ENV=dev); for the reads, the raw
   asyncpg SELECT app (benchmarks/baseline_raw_select.py) and the real app again.
3. Drives each with wrk (one thread, C connections, closed loop) and a Lua script
   that makes every request a distinct (member, task) check-in: its own bearer
   token, path, body and a fresh Idempotency-Key; the reads (`GET /tasks/{id}`,
   `GET /wishes?status=open`) go round the members' tokens and the tasks. A
   warm-up run comes first.
4. Counts non-2xx answers and socket errors (a real run with any is reported as
   INVALID), checks the rows in the database against the answers, and reports
   req/s, p50/p95/p99 and the CPU seconds each process used.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from importlib import metadata
from pathlib import Path

import asyncpg
from alembic.config import Config
from sqlalchemy.engine import make_url

from alembic import command
from app.core.config import Settings
from app.core.db import utcnow
from app.core.security import issue_access_token

ROOT = Path(__file__).resolve().parent.parent
JWT_SECRET = "load-run-jwt-secret-0123456789abcdef0123"
TASK_LAT, TASK_LNG, TASK_RADIUS_M = 30.0, 120.0, 500
# About 140 m from the task's place: inside the geofence, so every check-in is accepted.
BODY = '{"lat":30.001,"lng":120.001}'
CLK_TCK = os.sysconf("SC_CLK_TCK")
# Open wishes seeded for the read GET /wishes?status=open (a page shows 20).
WISHES = 200

LUA = r"""
-- Every request a distinct (member, task) check-in. args: members file, task id of
-- the first task, number of tasks, first request number, number of threads, tag,
-- "wrap" where pairs may repeat (the bare app stores nothing), and the workload:
-- "checkin", or a read: "task" (GET /tasks/{id}), "wishes" (GET /wishes?status=open).
local threads = {}
local next_index = 0
local body = '@BODY@'

function setup(thread)
  thread:set("tindex", next_index)
  next_index = next_index + 1
  table.insert(threads, thread)
end

local members = {}
local first_task, ntasks, start, nthreads, tag, wrap, kind
local count = 0
maxn = -1

function init(args)
  for line in io.lines(args[1]) do
    local id, token = line:match("^(%d+) (%S+)$")
    table.insert(members, {id = id, auth = "Bearer " .. token})
  end
  first_task = tonumber(args[2])
  ntasks = tonumber(args[3])
  start = tonumber(args[4])
  nthreads = tonumber(args[5])
  tag = args[6]
  wrap = args[7]
  kind = args[8]
end

function request()
  local n = start + tindex + count * nthreads
  count = count + 1
  maxn = n
  -- Consecutive requests go to different tasks, so concurrent check-ins rarely
  -- queue on one task's row (that case is measured separately with --tasks 1).
  local task = first_task + n % ntasks
  if kind ~= "checkin" then
    -- Reads repeat freely: each member's token in turn.
    local r = members[n % #members + 1]
    local path = "/api/v1/wishes?status=open"
    if kind == "task" then path = "/api/v1/tasks/" .. task end
    return wrk.format("GET", path, {["Authorization"] = r.auth, ["X-Bench-User"] = r.id})
  end
  local m = members[math.floor(n / ntasks) + 1]
  if m == nil then
    if wrap ~= "wrap" then
      error("out of (member, task) pairs: seed more members")
    end
    m = members[math.floor(n / ntasks) % #members + 1]
  end
  return wrk.format("POST", "/api/v1/tasks/" .. task .. "/check-ins", {
    ["Authorization"] = m.auth,
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = tag .. "-" .. n,
    ["X-Bench-User"] = m.id,
  }, body)
end

function done(summary, latency, requests)
  local top = -1
  for _, t in ipairs(threads) do
    local v = t:get("maxn")
    if v ~= nil and v > top then top = v end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"duration_us":%d,"status_errors":%d,"connect":%d,"read":%d,' ..
    '"write":%d,"timeout":%d,"p50":%d,"p95":%d,"p99":%d,"max":%d,"mean":%.1f,"maxn":%d}\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max,
    latency.mean, top))
end
"""


@dataclass(frozen=True)
class Target:
    name: str
    label: str
    argv: list[str]
    port: int
    # What wrk sends: "checkin", or a read ("task", "wishes"; see LUA).
    workload: str = "checkin"


@dataclass
class Result:
    target: str
    connections: int
    requests: int
    seconds: float
    errors: int
    error_kinds: dict[str, int]
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


# --- database -----------------------------------------------------------------------


def admin_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def dsn_for(url: str, database: str) -> str:
    return make_url(admin_url(url)).set(database=database).render_as_string(hide_password=False)


async def _admin(url: str, *sql: str) -> None:
    conn = await asyncpg.connect(admin_url(url), timeout=5)
    try:
        for statement in sql:
            await conn.execute(statement)
    finally:
        await conn.close()


def migrate(dsn: str) -> None:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.attributes["database_url"] = dsn
    cfg.attributes["configure_logger"] = False
    # env.py runs its own event loop: give it a thread without one.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(command.upgrade, cfg, "head").result()


BENCH_TABLE = """
CREATE TABLE bench_check_ins (LIKE check_ins INCLUDING DEFAULTS INCLUDING CONSTRAINTS
                              INCLUDING INDEXES)
"""
# LIKE copies no foreign keys: take them over one by one, so an insert checks as much.
CHECK_INS_FOREIGN_KEYS = """
SELECT pg_get_constraintdef(oid) FROM pg_constraint
WHERE conrelid = 'check_ins'::regclass AND contype = 'f'
"""


@dataclass(frozen=True)
class Seeded:
    member_ids: list[int]
    first_task: int
    task_org: int


async def seed(dsn: str, members: int, tasks: int) -> Seeded:
    """The members, the first of `tasks` consecutive task ids and the tasks' org."""
    now = utcnow()
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            org_sql = (
                "INSERT INTO orgs (name, level, parent_id, path, created_at, updated_at)"
                " VALUES ($1, $2, $3, '', $4, $4) RETURNING id"
            )
            path = "/"
            parent = None
            tree = (("压测区", "district"), ("压测街道", "street"), ("压测社区", "community"))
            for name, level in tree:
                org_id = await conn.fetchval(org_sql, name, level, parent, now)
                path += f"{org_id}/"
                await conn.execute("UPDATE orgs SET path = $1 WHERE id = $2", path, org_id)
                if level == "district":
                    district = org_id
                parent = org_id
            community = parent
            member_ids = [
                r["id"]
                for r in await conn.fetch(
                    "INSERT INTO users (name, community_id, is_party_member, created_at,"
                    " updated_at) SELECT '压测成员' || lpad(g::text, 5, '0'), $1, true, $2, $2"
                    " FROM generate_series(1, $3) AS g RETURNING id",
                    community,
                    now,
                    members,
                )
            ]
            task_ids = [
                r["id"]
                for r in await conn.fetch(
                    "INSERT INTO tasks (org_id, title, description, category, starts_at,"
                    " ends_at, lat, lng, radius_m, capacity, checked_in_count, created_at,"
                    " updated_at) SELECT $1, '压测任务' || g, '', 'sanitation', $2, $3, $4,"
                    " $5, $6, $7, 0, $2, $2 FROM generate_series(1, $8) AS g RETURNING id",
                    district,
                    now - timedelta(hours=1),
                    now + timedelta(hours=23),
                    TASK_LAT,
                    TASK_LNG,
                    TASK_RADIUS_M,
                    members,  # room for every member, so "full" never answers
                    tasks,
                )
            ]
            # Open wishes of the community, which every member sees (GET /wishes).
            await conn.execute(
                "INSERT INTO wishes (title, description, community_id, beneficiary_name,"
                " status, created_by_id, created_at, updated_at) SELECT '压测心愿' || g,"
                " '需要帮助', $1, '王阿姨', 'open', $2, $3::timestamptz - g * interval '1 minute',"
                " $3 FROM generate_series(1, $4) AS g",
                community,
                member_ids[0],
                now,
                WISHES,
            )
            await conn.execute(BENCH_TABLE)
            for (definition,) in await conn.fetch(CHECK_INS_FOREIGN_KEYS):
                await conn.execute(f"ALTER TABLE bench_check_ins ADD {definition}")
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    assert task_ids == list(range(task_ids[0], task_ids[0] + tasks)), "task ids not consecutive"
    return Seeded(member_ids, task_ids[0], district)


async def row_counts(dsn: str) -> dict[str, int]:
    conn = await asyncpg.connect(dsn)
    try:
        return {
            table: await conn.fetchval(f"SELECT count(*) FROM {table}")  # noqa: S608
            for table in ("check_ins", "idempotency_records", "bench_check_ins")
        } | {"checked_in_count": await conn.fetchval("SELECT sum(checked_in_count) FROM tasks")}
    finally:
        await conn.close()


async def server_version(url: str) -> str:
    conn = await asyncpg.connect(admin_url(url), timeout=5)
    try:
        version: str = await conn.fetchval("SHOW server_version")
    finally:
        await conn.close()
    return version


def describe_machine(url: str) -> str:
    server = asyncio.run(server_version(url))
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "unknown CPU",
    )
    mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    versions = ", ".join(
        f"{name} {metadata.version(name)}"
        for name in ("uvicorn", "fastapi", "sqlalchemy", "asyncpg", "uvloop", "httptools")
    )
    return (
        f"{os.cpu_count()} x {cpu}, {mem_kib / 2**20:.0f} GiB, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}, PostgreSQL {server} "
        f"on localhost, {versions}"
    )


# --- processes ----------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


async def _backend_pids(dsn: str) -> set[int]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await conn.close()
    return {r["pid"] for r in rows}


def backends_cpu(dsn: str) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend serving the load database (not
    other databases on the same server, nor the server's own background writers)."""
    return {pid: cpu_seconds(pid) for pid in asyncio.run(_backend_pids(dsn))}


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent not idle since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / CLK_TCK


# The app's start (imports, routes, compiled statements) takes a few seconds on a quiet
# machine and passed 30 s on one shared with other helpers' test suites and valgrind.
def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server on port {port} exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"server on port {port} did not start")


def start_server(target: Target, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        proc = subprocess.Popen(target.argv, cwd=ROOT, env=env, stdout=out, stderr=out)  # noqa: S603
    try:
        wait_for_port(target.port, proc)
    except RuntimeError:
        # A server that starts after its deadline would otherwise hold the port (and
        # answer the next run's requests) after this run gave up.
        proc.kill()
        proc.wait()
        raise
    return proc


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@dataclass
class Run:
    stats: dict[str, float]
    cpu: dict[str, float]


def run_wrk(
    *,
    port: int,
    connections: int,
    seconds: float,
    threads: int,
    script: Path,
    members_file: Path,
    first_task: int,
    tasks: int,
    start: int,
    tag: str,
    server_pid: int,
    wrap: bool,
    dsn: str,
    workload: str = "checkin",
) -> Run:
    argv = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{round(seconds)}s",
        "--timeout",
        "5s",
        "-s",
        str(script),
        f"http://127.0.0.1:{port}",
        "--",
        str(members_file),
        str(first_task),
        str(tasks),
        str(start),
        str(threads),
        tag,
        "wrap" if wrap else "once",
        workload,
    ]
    server0, pg0, busy0 = cpu_seconds(server_pid), backends_cpu(dsn), machine_busy_seconds()
    wall0 = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # noqa: S603
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - wall0
    assert proc.stdout is not None and proc.stderr is not None
    out, err = proc.stdout.read().decode(), proc.stderr.read().decode()
    if proc.returncode != 0 or "BENCH " not in out:
        raise RuntimeError(f"wrk failed ({proc.returncode}):\n{out}\n{err}")
    stats = json.loads(out.split("BENCH ", 1)[1].splitlines()[0])
    cpu = {
        "server": cpu_seconds(server_pid) - server0,
        # Backends opened during the run count whole; one closed during it is lost.
        "postgres": sum(cpu - pg0.get(pid, 0.0) for pid, cpu in backends_cpu(dsn).items()),
        "wrk": usage.ru_utime + usage.ru_stime,
        "machine": machine_busy_seconds() - busy0,
        "wall": wall,
    }
    return Run(stats=stats, cpu=cpu)


# --- the run ------------------------------------------------------------------------


# Warnings and errors only, the app's loggers included: with no handler of its own
# configured, create_app would log at INFO, and its access log a line per request.
LOG_CONFIG = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr"}},
    "root": {"level": "WARNING", "handlers": ["stderr"]},
}


def targets(names: list[str], base_port: int, log_config: Path) -> list[Target]:
    uvicorn = [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--log-level", "warning"]
    uvicorn += ["--no-access-log", "--log-config", str(log_config)]
    table = {
        "bare": Target(
            "bare",
            "bare ASGI (same JSON)",
            [*uvicorn, "--port", str(base_port), "benchmarks.baseline_bare_asgi:app"],
            base_port,
        ),
        "raw": Target(
            "raw",
            "FastAPI + one asyncpg INSERT",
            [
                *uvicorn,
                "--port",
                str(base_port + 1),
                "--factory",
                "benchmarks.baseline_raw_insert:create_app",
            ],
            base_port + 1,
        ),
        "real": Target(
            "real",
            "real check-in (auth, scope, idempotency, insert)",
            [*uvicorn, "--port", str(base_port + 2), "--factory", "app.main:create_app"],
            base_port + 2,
        ),
    }
    raw_select = [*uvicorn, "--factory", "benchmarks.baseline_raw_select:create_app"]
    real = [*uvicorn, "--factory", "app.main:create_app"]
    for name, label, argv, workload in (
        ("raw-task", "raw SELECT: GET /tasks/{id}", raw_select, "task"),
        ("real-task", "real GET /tasks/{id}", real, "task"),
        ("raw-wishes", "raw SELECT: GET /wishes?status=open", raw_select, "wishes"),
        ("real-wishes", "real GET /wishes?status=open", real, "wishes"),
    ):
        port = base_port + len(table)
        table[name] = Target(name, label, [*argv, "--port", str(port)], port, workload)
    return [table[n] for n in names]


def server_env(dsn: str, task_org: int) -> dict[str, str]:
    # The pool's size may be set for a run (DATABASE_POOL_SIZE, DATABASE_MAX_OVERFLOW);
    # no other setting of the caller's environment reaches the servers.
    keep = {"DATABASE_POOL_SIZE", "DATABASE_MAX_OVERFLOW"}
    env = {
        k: v
        for k, v in os.environ.items()
        if k in keep or not k.startswith(("DATABASE_", "REDIS_", "APP_", "JWT_", "WECHAT_"))
    }
    env.update(
        APP_ENV="dev",
        DATABASE_URL=dsn,
        BENCH_DATABASE_URL=dsn,
        BENCH_TASK_ORG=str(task_org),
        JWT_SECRET=JWT_SECRET,
        PYTHONPATH=str(ROOT),
    )
    return env


def markdown(results: list[Result], labels: dict[str, str], cores: int) -> str:
    lines = [
        "| target | clients | req/s | p50 ms | p95 ms | p99 ms | max ms | errors "
        "| server CPU ms/req | CPU s/s: server · postgres backends · wrk · whole machine |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        c = r.cpu
        w = c["wall"]
        lines.append(
            f"| {labels[r.target]} | {r.connections} | {r.rps:,.0f} | {r.p50_ms:.1f} "
            f"| {r.p95_ms:.1f} | {r.p99_ms:.1f} | {r.max_ms:.0f} | {r.errors} "
            f"| {c['server'] * 1000 / max(r.requests, 1):.2f} "
            f"| {c['server'] / w:.2f} · {c['postgres'] / w:.2f} · {c['wrk'] / w:.2f} · "
            f"{c['machine'] / w:.2f} of {cores} |"
        )
    return "\n".join(lines)


def verdict(results: list[Result]) -> list[str]:
    by = {(r.target, r.connections): r for r in results}
    out = []
    for c in sorted({r.connections for r in results}):
        raw, real = by.get(("raw", c)), by.get(("real", c))
        if raw and real:
            out.append(
                f"{c} clients: real/raw throughput {real.rps / raw.rps:.0%} "
                f"(goal ≥ 40%), real p99 {real.p99_ms:.0f} ms"
                + (" (goal ≤ 100 ms)" if c == 64 else "")
            )
        for read in ("task", "wishes"):
            raw, real = by.get((f"raw-{read}", c)), by.get((f"real-{read}", c))
            if raw and real:
                out.append(
                    f"{c} clients, {real.target}: real/raw throughput "
                    f"{real.rps / raw.rps:.0%} (goal ≥ 40%)"
                )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
        help="a server where the load database may be created",
    )
    parser.add_argument("--database", default="chuangwen_load")
    parser.add_argument(
        "--targets",
        nargs="+",
        default=["bare", "raw", "real", "raw-task", "real-task", "raw-wishes", "real-wishes"],
    )
    parser.add_argument("--connections", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--duration", type=float, default=20, help="seconds per measured run")
    parser.add_argument("--warmup", type=float, default=5, help="seconds of warm-up per target")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--members", type=int, default=2000)
    parser.add_argument("--tasks", type=int, default=500)
    parser.add_argument("--port", type=int, default=8101, help="first of seven ports")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install -y wrk")
    if not args.database.startswith("chuangwen_load"):
        sys.exit("the load database's name must start with chuangwen_load (it is dropped)")

    dsn = dsn_for(args.postgres, args.database)
    machine = describe_machine(args.postgres)
    load_before = os.getloadavg()
    asyncio.run(
        _admin(
            args.postgres,
            f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)',
            f'CREATE DATABASE "{args.database}"',
        )
    )
    work = Path(tempfile.mkdtemp(prefix="checkin_load_"))
    try:
        migrate(dsn)
        seeded = asyncio.run(seed(dsn, args.members, args.tasks))
        settings = Settings(_env_file=None, jwt_secret=JWT_SECRET, access_token_ttl_s=24 * 3600)
        members_file = work / "members.txt"
        members_file.write_text(
            "".join(
                f"{m} {issue_access_token(settings, m, 0).access_token}\n"
                for m in seeded.member_ids
            )
        )
        script = work / "checkin.lua"
        script.write_text(LUA.replace("@BODY@", BODY))
        env = server_env(dsn, seeded.task_org)
        results: list[Result] = []
        log_config = work / "logging.json"
        log_config.write_text(json.dumps(LOG_CONFIG))
        chosen = targets(args.targets, args.port, log_config)
        for target in chosen:
            log = work / f"{target.name}.log"
            proc = start_server(target, env, log)
            # Each target writes to its own table (or none): pairs start afresh.
            start = 0
            try:
                runs = [(0, args.warmup, max(args.connections))] + [
                    (c, args.duration, c) for c in args.connections
                ]
                for measured_c, seconds, c in runs:
                    run = run_wrk(
                        port=target.port,
                        connections=c,
                        seconds=seconds,
                        threads=args.threads,
                        script=script,
                        members_file=members_file,
                        first_task=seeded.first_task,
                        tasks=args.tasks,
                        start=start,
                        tag=f"{target.name}-{c}-{start}",
                        server_pid=proc.pid,
                        wrap=target.name == "bare",
                        dsn=dsn,
                        workload=target.workload,
                    )
                    s = run.stats
                    start = int(s["maxn"]) + 1
                    if measured_c == 0:
                        continue
                    kinds = {
                        "non-2xx" if k == "status_errors" else k: int(s[k])
                        for k in ("status_errors", "connect", "read", "write", "timeout")
                        if int(s[k])
                    }
                    errors = sum(kinds.values())
                    results.append(
                        Result(
                            target=target.name,
                            connections=c,
                            requests=int(s["requests"]),
                            seconds=s["duration_us"] / 1e6,
                            errors=errors,
                            error_kinds=kinds,
                            p50_ms=s["p50"] / 1000,
                            p95_ms=s["p95"] / 1000,
                            p99_ms=s["p99"] / 1000,
                            max_ms=s["max"] / 1000,
                            cpu=run.cpu,
                        )
                    )
                    print(
                        f"  {target.name:11} c={c:3}: {results[-1].rps:7.0f} req/s, "
                        f"p99 {results[-1].p99_ms:6.1f} ms, errors {errors}",
                        file=sys.stderr,
                    )
            finally:
                stop_server(proc)
            server_log = log.read_text(errors="replace").strip()
            if server_log:
                print(f"--- {target.name} server log (last lines):", file=sys.stderr)
                print("\n".join(server_log.splitlines()[-10:]), file=sys.stderr)

        counts = asyncio.run(row_counts(dsn))
        labels = {t.name: t.label for t in chosen}
        cores = os.cpu_count() or 0
        loads = " / ".join(
            " ".join(f"{x:.1f}" for x in avg) for avg in (load_before, os.getloadavg())
        )
        print(f"Machine: {machine}. Load average (1, 5, 15 min) before / after: {loads}.")
        print(
            f"Each run {args.duration:.0f} s after a {args.warmup:.0f} s warm-up, wrk "
            f"{args.threads} thread(s), {args.members:,} members x {args.tasks} tasks."
        )
        print()
        print(markdown(results, labels, cores))
        print()
        for line in verdict(results):
            print(f"- {line}")
        answered = {t: sum(r.requests for r in results if r.target == t) for t in ("raw", "real")}
        print(
            f"- rows: check_ins {counts['check_ins']:,}, idempotency_records "
            f"{counts['idempotency_records']:,}, sum(tasks.checked_in_count) "
            f"{counts['checked_in_count'] or 0:,}, bench_check_ins {counts['bench_check_ins']:,} "
            f"(answers in the measured runs: real {answered['real']:,}, raw {answered['raw']:,}; "
            "the rows also count warm-ups and requests in flight when a run stopped)"
        )
        invalid = [r for r in results if r.errors]
        if invalid:
            print(
                "- INVALID (errors must be 0): "
                + ", ".join(
                    f"{r.target} c={r.connections} "
                    + ", ".join(f"{n} {kind}" for kind, n in r.error_kinds.items())
                    for r in invalid
                )
                + " (wrk gives up on a request after 5 s: a timeout)"
            )
        if args.json:
            args.json.write_text(
                json.dumps([r.__dict__ | {"rps": r.rps} for r in results], indent=2)
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if not args.keep:
            asyncio.run(
                _admin(args.postgres, f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
            )


if __name__ == "__main__":
    main()
