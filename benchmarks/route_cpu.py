"""CPU per request of the mini-program's and the offices' GET routes, in process, on a
seeded city (benchmarks/seed_city.py), as one person of the city sees them.

The load run and `pipeline_cpu` measure three requests closely; this surveys every
GET route of the API without a path parameter (or the ones named), as a party member
of the city's first community or the first community, street or district admin, and prints the
process's CPU (the app and asyncpg; PostgreSQL's backends are other processes) and
the wall time per request, slowest first. Requests go through `pipeline_cpu`'s
`asgi_request`, as an ASGI server hands them over. A route answering other than 200 to
that person is left out. Compare two versions of the code with `--app-root`-less runs
from each worktree, alternately, on a quiet machine; on a busy one, CPU still compares.

    .venv/bin/python -m benchmarks.seed_city --scale 1 --database chuangwen_bench_1
    .venv/bin/python -m benchmarks.route_cpu --database chuangwen_bench_1 --as member
    .venv/bin/python -m benchmarks.route_cpu --database chuangwen_bench_1 /api/v1/tasks
"""

from __future__ import annotations

import argparse
import gc
import logging
import time

import asyncpg
import uvloop
from fastapi.routing import iter_route_contexts

from app.core.security import claims_of_token, issue_access_token
from app.main import create_app
from benchmarks.checkin_load import dsn_for
from benchmarks.pipeline_cpu import app_settings, asgi_request

# Not surveyed: ledgers (files, measured in dashboard_latency), the scrape, WeChat's push.
SKIPPED = ("/export", ".xlsx", "/metrics", "/wechat/")

_MEMBER = (
    "SELECT id, token_version FROM users WHERE community_id ="
    " (SELECT min(id) FROM orgs WHERE level = 'community')"
    " AND is_party_member AND unit_id IS NOT NULL ORDER BY id LIMIT 1"
)
_ADMINS = {"community_admin": "community", "street_admin": "street", "district_admin": "district"}


async def person(dsn: str, who: str) -> tuple[int, int]:
    """The member, or the admin of the first org of the level (seed_city grants no
    roles: the admin is added once, as pipeline_cpu adds its own)."""
    conn = await asyncpg.connect(dsn)
    try:
        if who == "member":
            row = await conn.fetchrow(_MEMBER)
            if row is None:
                raise SystemExit("no member in the database: seed a city with seed_city")
            return int(row[0]), int(row[1])
        org = await conn.fetchval("SELECT min(id) FROM orgs WHERE level = $1", _ADMINS[who])
        admin = await conn.fetchval(
            "SELECT user_id FROM role_grants WHERE role = $1 AND org_id = $2", who, org
        )
        if admin is None:
            admin = await conn.fetchval(
                "INSERT INTO users (name, is_party_member, created_at, updated_at)"
                " VALUES ('压测管理员', false, now(), now()) RETURNING id"
            )
            await conn.execute(
                "INSERT INTO role_grants (user_id, role, org_id, created_at)"
                " VALUES ($1, $2, $3, now())",
                admin,
                who,
                org,
            )
        version = await conn.fetchval("SELECT token_version FROM users WHERE id = $1", admin)
        return int(admin), int(version)
    finally:
        await conn.close()


async def run(args: argparse.Namespace) -> None:
    dsn = dsn_for(args.postgres, args.database)
    user_id, version = await person(dsn, args.who)
    settings = app_settings(dsn)
    app = create_app(settings)
    token = issue_access_token(settings, user_id, version).access_token
    claims_of_token(settings, token)  # checked once, as a phone's token on its first request
    headers = [(b"authorization", f"Bearer {token}".encode())]
    paths = args.paths or sorted(
        {
            path
            for ctx in iter_route_contexts(app.routes)
            if (path := ctx.path or "")
            and ctx.methods
            and "GET" in ctx.methods
            and path.startswith("/api/v1/")
            and "{" not in path
            and not any(s in path for s in SKIPPED)
        }
    )
    rows = []
    async with app.router.lifespan_context(app):
        gc.freeze()
        for target in paths:
            path, _, query = target.partition("?")
            first = await asgi_request(app, "GET", path, query=query.encode(), headers=headers)
            if first.status_code != 200:
                continue
            for _ in range(args.warmup):
                await asgi_request(app, "GET", path, query=query.encode(), headers=headers)
            cpu0, wall0 = time.process_time(), time.perf_counter()
            for _ in range(args.requests):
                await asgi_request(app, "GET", path, query=query.encode(), headers=headers)
            cpu = (time.process_time() - cpu0) / args.requests * 1000
            wall = (time.perf_counter() - wall0) / args.requests * 1000
            rows.append((cpu, wall, target, len(first.body)))
    await app.state.engine.dispose()
    print(f"as {args.who} (user {user_id}), {args.requests} requests each after {args.warmup}")
    print("| route | CPU ms/req | wall ms/req | answer bytes |")
    print("|---|---:|---:|---:|")
    for cpu, wall, target, size in sorted(rows, reverse=True):
        print(f"| GET {target} | {cpu:.2f} | {wall:.2f} | {size:,} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", help="routes (with a query: /api/v1/tasks?status=x)")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--database", default="chuangwen_bench_1")
    parser.add_argument("--as", dest="who", choices=["member", *_ADMINS], default="member")
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=20)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    uvloop.run(run(args))


if __name__ == "__main__":
    main()
