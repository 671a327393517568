"""CPU per request of the app's shared pipeline, in process, for a busy machine.

The HTTP load run (benchmarks/checkin_load.py) measures throughput, which on a
machine shared with test suites swings with whatever else runs. This drives the
real app (`app.main.create_app`: middleware, routing, dependencies, the request's
session, the answer) by calling it as an ASGI server would (`asgi_request`: one
scope, the body in one message, the answer collected), on uvloop, no socket, C
requests at a time, and reports the process's CPU time per request
(time.process_time: the app and asyncpg; PostgreSQL's backends are other
processes), so two versions of the code can be compared in the same conditions,
alternately. httpx's ASGI transport, used before round 10, cost a fifth of a
check-in's profile by itself (URL parsing, header models, an import probe of
`trio` per request); every token is checked once before the run, as a phone's is
on its first request, so the figures are the app's steady state.

Workloads: `checkin` (POST /tasks/{id}/check-ins, a distinct (member, task) pair and
a fresh Idempotency-Key each), `task` (GET /tasks/{id}), `wishes` (GET
/wishes?status=open), `dashboard` (GET /dashboard of the community, as its admin).

    .venv/bin/python -m benchmarks.pipeline_cpu --seed            # (re)creates chuangwen_load_cpu
    .venv/bin/python -m benchmarks.pipeline_cpu --requests 1500   # every workload, one table
    .venv/bin/python -m benchmarks.pipeline_cpu --profile task    # cProfile, top 40 by tottime
    valgrind --tool=callgrind --dump-before=sched_yield .venv/bin/python \
        -m benchmarks.pipeline_cpu --marks --requests 300           # instructions per batch

Check-ins consume (member, task) pairs: --seed again after about members × tasks of them.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import logging
import os
import pstats
import time
import uuid
from collections.abc import Awaitable, Callable

import asyncpg
import uvloop
from starlette.types import ASGIApp, Message

from app.core.config import Settings
from app.core.security import claims_of_token, issue_access_token
from app.main import create_app
from benchmarks.checkin_load import BODY, JWT_SECRET, _admin, dsn_for, migrate, seed

DATABASE = "chuangwen_load_cpu"


async def seeded(dsn: str) -> tuple[list[int], list[int], int, int]:
    """Members, task ids, the community's admin and the community."""
    conn = await asyncpg.connect(dsn)
    try:
        community = await conn.fetchval("SELECT id FROM orgs WHERE level = 'community'")
        admin = await conn.fetchval(
            "SELECT user_id FROM role_grants WHERE role = 'community_admin' AND org_id = $1",
            community,
        )
        if admin is None:
            admin = await conn.fetchval(
                "INSERT INTO users (name, is_party_member, created_at, updated_at) VALUES"
                " ('压测管理员', false, now(), now()) RETURNING id"
            )
            await conn.execute(
                "INSERT INTO role_grants (user_id, role, org_id, created_at)"
                " VALUES ($1, 'community_admin', $2, now())",
                admin,
                community,
            )
        members = [
            r["id"]
            for r in await conn.fetch(
                "SELECT id FROM users WHERE community_id = $1 ORDER BY id", community
            )
        ]
        tasks = [r["id"] for r in await conn.fetch("SELECT id FROM tasks ORDER BY id")]
        # Pairs already used by an earlier run are skipped by the check-in workload.
        used = await conn.fetchval("SELECT count(*) FROM check_ins")
    finally:
        await conn.close()
    return members, tasks, admin, community, used  # type: ignore[return-value]


class Answer:
    """What `asgi_request` collected: the status and the body."""

    __slots__ = ("body", "status_code")

    def __init__(self, status_code: int, body: bytes) -> None:
        self.status_code = status_code
        self.body = body

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")


async def asgi_request(
    app: ASGIApp,
    method: str,
    path: str,
    *,
    query: bytes = b"",
    headers: list[tuple[bytes, bytes]],
    body: bytes = b"",
) -> Answer:
    """One request through the app as uvicorn hands it over (HTTP/1.1, the body in
    one message), without a client library's own work per request."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": [(b"host", b"cpu"), *headers, (b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 5000),
        "server": ("cpu", 80),
    }
    sent = False
    status = 0
    chunks: list[bytes] = []
    answered = asyncio.Event()

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        # Asked again (a disconnect watcher): the client hangs up once it has the
        # answer, as httpx's transport did.
        await answered.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                answered.set()

    await app(scope, receive, send)
    return Answer(status, b"".join(chunks))


def app_settings(dsn: str) -> Settings:
    """The app's settings for an in-process run on `dsn`: the demo's environment, no
    Redis, tokens that outlive the run (also benchmarks/route_cpu.py)."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        app_env="dev",
        database_url=dsn,
        redis_url=None,
        jwt_secret=JWT_SECRET,
        access_token_ttl_s=24 * 3600,
    )


async def run(args: argparse.Namespace) -> None:
    dsn = dsn_for(args.postgres, args.database)
    members, tasks, admin, community, used = await seeded(dsn)
    settings = app_settings(dsn)
    app = create_app(settings)
    tokens = {m: issue_access_token(settings, m, 0).access_token for m in members}
    admin_token = issue_access_token(settings, admin, 0).access_token
    # Checked once now, as each phone's token is on its first request and then kept
    # (app.core.security.claims_of_token): the run measures the steady state.
    for token in [*tokens.values(), admin_token]:
        claims_of_token(settings, token)
    auth = {m: f"Bearer {t}".encode() for m, t in tokens.items()}
    admin_auth = f"Bearer {admin_token}".encode()
    counter = {"n": used + args.offset}

    def checkin(i: int) -> Awaitable[Answer]:
        n = counter["n"]
        counter["n"] += 1
        member = members[(n // len(tasks)) % len(members)]
        task = tasks[n % len(tasks)]
        return asgi_request(
            app,
            "POST",
            f"/api/v1/tasks/{task}/check-ins",
            body=BODY.encode(),
            headers=[
                (b"authorization", auth[member]),
                (b"content-type", b"application/json"),
                (b"idempotency-key", uuid.uuid4().hex.encode()),
            ],
        )

    def task(i: int) -> Awaitable[Answer]:
        member = members[i % len(members)]
        return asgi_request(
            app,
            "GET",
            f"/api/v1/tasks/{tasks[i % len(tasks)]}",
            headers=[(b"authorization", auth[member])],
        )

    def wishes(i: int) -> Awaitable[Answer]:
        member = members[i % len(members)]
        return asgi_request(
            app,
            "GET",
            "/api/v1/wishes",
            query=b"status=open",
            headers=[(b"authorization", auth[member])],
        )

    def dashboard(i: int) -> Awaitable[Answer]:
        return asgi_request(
            app,
            "GET",
            "/api/v1/dashboard",
            query=f"org_id={community}".encode(),
            headers=[(b"authorization", admin_auth)],
        )

    workloads: dict[str, Callable[[int], Awaitable[Answer]]] = {
        "checkin": checkin,
        "task": task,
        "wishes": wishes,
        "dashboard": dashboard,
    }
    chosen = [args.profile] if args.profile else args.workloads
    gc.freeze()
    rows = []
    for name in chosen:
        make = workloads[name]

        async def batch(start: int, count: int, make=make, name=name) -> None:
            next_i = start
            stop = start + count

            async def worker() -> None:
                nonlocal next_i
                while next_i < stop:
                    i = next_i
                    next_i += 1
                    resp = await make(i)
                    if resp.status_code >= 300:
                        raise RuntimeError(f"{name}: {resp.status_code} {resp.text}")

            await asyncio.gather(*(worker() for _ in range(args.concurrency)))

        await batch(0, args.warmup)
        profiler = cProfile.Profile(time.process_time) if args.profile else None
        if args.marks:
            os.sched_yield()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        if profiler:
            profiler.enable()
        await batch(args.warmup, args.requests)
        if profiler:
            profiler.disable()
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        if args.marks:
            os.sched_yield()
        rows.append((name, cpu / args.requests * 1000, wall / args.requests * 1000))
        if profiler:
            stats = pstats.Stats(profiler)
            if args.dump:
                stats.dump_stats(args.dump)
            stats.sort_stats(args.sort).print_stats(args.top)
            if args.callers:
                stats.print_callers(args.callers)
    await app.state.engine.dispose()
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"load {load}; {args.requests} requests after {args.warmup}, {args.concurrency} at a time"
    )
    print("| workload | CPU ms/req | wall ms/req |")
    print("|---|---:|---:|")
    for name, cpu_ms, wall_ms in rows:
        print(f"| {name} | {cpu_ms:.2f} | {wall_ms:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    # Two helpers measuring at once each need their own pairs to check in.
    parser.add_argument("--database", default=DATABASE)
    parser.add_argument("--seed", action="store_true", help="drop, migrate and seed the database")
    parser.add_argument("--members", type=int, default=2000)
    parser.add_argument("--tasks", type=int, default=500)
    parser.add_argument(
        "--workloads", nargs="+", default=["checkin", "task", "wishes", "dashboard"]
    )
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--offset", type=int, default=0, help="skip this many check-in pairs")
    parser.add_argument("--profile", help="one workload under cProfile")
    parser.add_argument("--sort", default="tottime")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--dump", help="also write the profile's stats to this file")
    parser.add_argument("--callers", help="also who calls the functions matching this")
    # Instructions do not depend on the machine's load: under
    # `valgrind --tool=callgrind --dump-before=sched_yield`, each measured batch is
    # the cost file between two marks (callgrind.out.PID.N: N = 2, 4, ... per workload).
    parser.add_argument(
        "--marks", action="store_true", help="call sched_yield before and after each batch"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("chuangwen.access").setLevel(logging.WARNING)
    if args.seed:
        asyncio.run(
            _admin(
                args.postgres,
                f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)',
                f'CREATE DATABASE "{args.database}"',
            )
        )
        dsn = dsn_for(args.postgres, args.database)
        migrate(dsn)
        asyncio.run(seed(dsn, args.members, args.tasks))
        return
    uvloop.run(run(args))


if __name__ == "__main__":
    main()
