"""The dashboards end to end over HTTP on a seeded city (benchmarks/seed_city.py).

Two ways, one request at a time, round-robin over the same sample of orgs as
benchmarks/dashboard_latency.py, as a district admin with a bearer token:

- `--mode uvicorn` (the default): the real app (`app.main:create_app`) as ONE uvicorn
  worker in a subprocess on loopback, as benchmarks/checkin_load.py runs it, driven
  by a lean blocking-socket HTTP/1.1 client (keep-alive, no parsing beyond the status
  line and Content-Length), so the client's own work stays out of the server's
  process. Per request: the client's wall; the server's wall and CPU (process time)
  from the moment uvicorn hands the request to the app to the last byte of the
  answer, recorded by a thin ASGI wrapper around the app (the only code that is not
  the app's; uvicorn's own parsing and writing are outside it, so the client's wall
  is the one to hold against the goals); and the CPU of PostgreSQL's backends serving
  the database, per request.
- `--mode asgi`: the app in this process through httpx's ASGI transport (no socket).
  Its wall includes httpx's client work, in the same process as the server, about
  1-2 ms a request: higher than the uvicorn figure, kept to compare with earlier
  rounds.

`--app-root DIR` serves the app of another checkout (e.g. main, for a "before" run
alternating with this one); the benchmark's code stays this one's.

Adds one person with the district admin role of every district to the city (the seed
makes no admins) and removes them afterwards.

    .venv/bin/python -m benchmarks.dashboard_http \
        --database postgresql://postgres@127.0.0.1:5432/chuangwen_bench_1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import delete, select
from sqlalchemy.engine import make_url

from app.core.config import Settings
from app.core.security import issue_access_token
from app.core.timeutil import local, month_key
from app.main import create_app
from app.models.org import Org, OrgLevel
from app.models.user import Role, RoleGrant, User
from benchmarks.checkin_load import backends_cpu, stop_server, wait_for_port
from benchmarks.dashboard_latency import fmt, machine

ROOT = Path(__file__).resolve().parent.parent
JWT_SECRET = "dashboard-http-jwt-secret-0123456789abcdef"
TIMINGS_PATH = "/__bench_timings"

# The server's factory: the app wrapped so that each request's wall and process time
# (from the app's call to its last byte sent) are kept; GET /__bench_timings answers
# them and starts afresh. Written to a file of its own so that it runs with any
# checkout's app (`--app-root`).
WRAPPER = """
import json, time
from app.main import create_app as _create_app

PATH = "@PATH@"


def create():
    app = _create_app()
    timings = []

    async def timed(scope, receive, send):
        if scope["type"] != "http":
            return await app(scope, receive, send)
        if scope["path"] == PATH:
            body = json.dumps(timings).encode()
            timings.clear()
            await send({"type": "http.response.start", "status": 200, "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            await app(scope, receive, send)
        finally:
            timings.append((time.perf_counter() - wall, time.process_time() - cpu))

    return timed
""".replace("@PATH@", TIMINGS_PATH)


@dataclass
class Row:
    name: str
    level: str
    orgs: int
    client: list[float] = field(default_factory=list)
    server_wall: list[float] = field(default_factory=list)
    server_cpu: list[float] = field(default_factory=list)
    pg_cpu_per_request: float | None = None


CASES = [
    ("GET /dashboard", "community", "/api/v1/dashboard"),
    ("GET /dashboard", "street", "/api/v1/dashboard"),
    ("GET /dashboard", "district", "/api/v1/dashboard"),
    ("GET /dashboard/children", "street", "/api/v1/dashboard/children"),
    ("GET /dashboard/children", "district", "/api/v1/dashboard/children"),
]


def settings_of(database: str) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        app_env="test",
        database_url=database,
        redis_url=None,
        jwt_secret=JWT_SECRET,
    )


async def add_admin(settings: Settings) -> tuple[int, str, list[Org]]:
    """A district admin of every district, its token, and the city's orgs."""
    app = create_app(settings)
    try:
        async with app.state.sessionmaker() as session:
            orgs = list((await session.execute(select(Org).order_by(Org.id))).scalars())
            admin = User(name="压测管理员")
            session.add(admin)
            await session.flush()
            assert admin.id is not None
            for district in (o for o in orgs if o.level == OrgLevel.district):
                assert district.id is not None
                session.add(
                    RoleGrant(user_id=admin.id, role=Role.district_admin, org_id=district.id)
                )
            await session.commit()
            token = issue_access_token(settings, admin.id, admin.token_version).access_token
            return admin.id, token, orgs
    finally:
        await app.state.engine.dispose()


async def remove_admin(settings: Settings, admin_id: int) -> None:
    app = create_app(settings)
    try:
        async with app.state.sessionmaker() as session:
            await session.execute(delete(RoleGrant).where(RoleGrant.user_id == admin_id))
            await session.execute(delete(User).where(User.id == admin_id))
            await session.commit()
    finally:
        await app.state.engine.dispose()


def sample_of(orgs: list[Org], seed: int) -> dict[str, list[Org]]:
    rng = random.Random(seed)  # noqa: S311 (a sample, not a secret)
    by_level = {lvl: [o for o in orgs if o.level == lvl] for lvl in OrgLevel}
    return {
        "community": rng.sample(
            by_level[OrgLevel.community], min(20, len(by_level[OrgLevel.community]))
        ),
        "street": rng.sample(by_level[OrgLevel.street], min(12, len(by_level[OrgLevel.street]))),
        "district": by_level[OrgLevel.district],
    }


# --- the app in process, through httpx ----------------------------------------------


async def run_asgi(
    settings: Settings, token: str, sample: dict[str, list[Org]], month: str, args: Any
) -> list[Row]:
    app = create_app(settings)
    headers = {"Authorization": f"Bearer {token}"}
    rows = []
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for name, level, path in CASES:
                targets = sample[level]
                row = Row(name, level, len(targets))
                for i in range(args.warmup + args.iterations):
                    org = targets[i % len(targets)]
                    t0, c0 = time.perf_counter(), time.process_time()
                    resp = await client.get(
                        path, params={"org_id": org.id, "month": month}, headers=headers
                    )
                    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
                    if resp.status_code != 200:
                        raise RuntimeError(f"{name} {level}: {resp.status_code} {resp.text}")
                    if i >= args.warmup:
                        row.client.append(wall)
                        row.server_cpu.append(cpu)  # httpx's client work included
                rows.append(row)
    finally:
        await app.state.engine.dispose()
    return rows


# --- the app in a uvicorn worker, a lean client --------------------------------------


class Client:
    """HTTP/1.1 over one keep-alive socket: a request line, the token, and the answer
    read by its Content-Length. About 30 µs of Python a request."""

    def __init__(self, port: int, token: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.auth = f"Authorization: Bearer {token}\r\n".encode()

    def get(self, target: str) -> tuple[int, bytes]:
        self.sock.sendall(
            f"GET {target} HTTP/1.1\r\nHost: bench\r\n".encode() + self.auth + b"\r\n"
        )
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RuntimeError("connection closed")
            data += chunk
        head, body = data.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        length = next(
            int(line.split(":", 1)[1])
            for line in lines
            if line.lower().startswith("content-length:")
        )
        while len(body) < length:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RuntimeError("connection closed")
            body += chunk
        return status, body

    def close(self) -> None:
        self.sock.close()


def run_uvicorn(
    database: str, token: str, sample: dict[str, list[Org]], month: str, args: Any
) -> list[Row]:
    url = make_url(database)
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    app_root = Path(args.app_root or ROOT).resolve()
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "dash_timed_app.py").write_text(WRAPPER)
        log_config = Path(tmp, "log.json")
        log_config.write_text(
            json.dumps(
                {
                    "version": 1,
                    "disable_existing_loggers": False,
                    "handlers": {
                        "stderr": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr"}
                    },
                    "root": {"level": "WARNING", "handlers": ["stderr"]},
                }
            )
        )
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("DATABASE_", "REDIS_", "APP_", "JWT_", "WECHAT_"))
        }
        env.update(
            APP_ENV="dev",
            DATABASE_URL=database,
            JWT_SECRET=JWT_SECRET,
            PYTHONPATH=f"{app_root}:{tmp}",
        )
        argv = [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(args.port)]
        argv += ["--log-level", "warning", "--no-access-log", "--log-config", str(log_config)]
        argv += ["--factory", "dash_timed_app:create"]
        log = Path(tmp, "server.log")
        with log.open("ab") as out:
            proc = subprocess.Popen(argv, cwd=app_root, env=env, stdout=out, stderr=out)  # noqa: S603
        rows = []
        try:
            wait_for_port(args.port, proc, timeout=60)
            client = Client(args.port, token)
            try:
                for name, level, path in CASES:
                    targets = sample[level]
                    row = Row(name, level, len(targets))
                    walls = []
                    for i in range(args.warmup + args.iterations):
                        if i == args.warmup:
                            client.get(TIMINGS_PATH)  # the warm-up's timings dropped
                            pg0 = backends_cpu(dsn)
                        org = targets[i % len(targets)]
                        t0 = time.perf_counter()
                        status, body = client.get(f"{path}?org_id={org.id}&month={month}")
                        wall = time.perf_counter() - t0
                        if status != 200:
                            raise RuntimeError(f"{name} {level}: {status} {body[:500]!r}")
                        if i >= args.warmup:
                            walls.append(wall)
                    pg = backends_cpu(dsn)
                    row.pg_cpu_per_request = (
                        sum(c - pg0.get(pid, 0.0) for pid, c in pg.items()) / args.iterations
                    )
                    _, body = client.get(TIMINGS_PATH)
                    timings = json.loads(body)
                    row.client = walls
                    row.server_wall = [t[0] for t in timings]
                    row.server_cpu = [t[1] for t in timings]
                    rows.append(row)
            finally:
                client.close()
        finally:
            stop_server(proc)
            if proc.returncode not in (0, -signal.SIGINT):
                print(log.read_text(), file=sys.stderr)
    return rows


def mean_ms(values: list[float]) -> str:
    return f"{sum(values) / len(values) * 1000:.1f}" if values else "–"


async def _setup(args: Any) -> tuple[Settings, int, str, list[Org]]:
    settings = settings_of(args.database)
    admin_id, token, orgs = await add_admin(settings)
    return settings, admin_id, token, orgs


def main_sync(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.WARNING)
    now = datetime.now(UTC)
    month = args.month or month_key(local(now).replace(day=1) - timedelta(days=1))
    settings, admin_id, token, orgs = asyncio.run(_setup(args))
    sample = sample_of(orgs, args.seed)
    load_before = os.getloadavg()
    runner: Callable[[], list[Row]]
    if args.mode == "asgi":
        runner = lambda: asyncio.run(run_asgi(settings, token, sample, month, args))  # noqa: E731
    else:
        runner = lambda: run_uvicorn(args.database, token, sample, month, args)  # noqa: E731
    try:
        rows = runner()
    finally:
        asyncio.run(remove_admin(settings, admin_id))
    loads = " / ".join(" ".join(f"{x:.1f}" for x in a) for a in (load_before, os.getloadavg()))
    print(f"Machine: {machine()}. Load average before / after: {loads}.")
    if args.mode == "asgi":
        print(
            f"{args.iterations} requests per row after {args.warmup} of warm-up, month {month}, "
            "in-process over httpx's ASGI transport, one at a time (the client's work is in "
            "both columns)."
        )
        print()
        print("| request | level | orgs | wall p50 / p95 / p99 ms | CPU p50 / p95 ms |")
        print("|---|---|---:|---|---|")
        for r in rows:
            print(
                f"| {r.name} | {r.level} | {r.orgs} | {fmt(r.client)} | "
                f"{fmt(r.server_cpu, (50, 95))} |"
            )
        return
    print(
        f"{args.iterations} requests per row after {args.warmup} of warm-up, month {month}, "
        f"one uvicorn worker (app from {Path(args.app_root or ROOT).resolve()}), a lean "
        "client on loopback, one at a time."
    )
    print()
    print(
        "| request | level | orgs | client wall p50 / p95 / p99 ms | server wall p50 / p95 / "
        "p99 ms | server CPU p50 / p95 ms | PostgreSQL CPU / request ms |"
    )
    print("|---|---|---:|---|---|---|---:|")
    for r in rows:
        pg = f"{r.pg_cpu_per_request * 1000:.1f}" if r.pg_cpu_per_request is not None else "–"
        print(
            f"| {r.name} | {r.level} | {r.orgs} | {fmt(r.client)} | {fmt(r.server_wall)} | "
            f"{fmt(r.server_cpu, (50, 95))} | {pg} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", required=True, help="SQLAlchemy URL of a seeded city")
    parser.add_argument("--mode", choices=("uvicorn", "asgi"), default="uvicorn")
    parser.add_argument("--app-root", help="serve the app of this checkout (uvicorn mode)")
    parser.add_argument("--port", type=int, default=8791)
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--month", help="YYYY-MM; default last month (Shanghai)")
    parser.add_argument("--seed", type=int, default=1)
    main_sync(parser.parse_args())


if __name__ == "__main__":
    main()
