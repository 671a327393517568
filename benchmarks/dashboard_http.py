"""The dashboards end to end over HTTP on a seeded city (benchmarks/seed_city.py).

Drives the real app (`app.main.create_app`, its middleware, routing, dependencies,
the request's session and the JSON answer) in-process through httpx's ASGI transport:
no socket, one request at a time, round-robin over the same sample of orgs as
benchmarks/dashboard_latency.py, as a district admin with a bearer token. Wall time
per request as the client sees it (httpx's own work included, ~0.1 ms), p50/p95/p99.

Adds one person with the district admin role of every district to the city (the seed
makes no admins) and removes them afterwards.

    .venv/bin/python -m benchmarks.dashboard_http \
        --database postgresql://postgres@127.0.0.1:5432/chuangwen_bench_1
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import time
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import delete, select

from app.core.config import Settings
from app.core.security import issue_access_token
from app.core.timeutil import local, month_key
from app.main import create_app
from app.models.org import Org, OrgLevel
from app.models.user import Role, RoleGrant, User
from benchmarks.dashboard_latency import fmt, machine


async def main_async(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.WARNING)
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        app_env="test",
        database_url=args.database,
        redis_url=None,
        jwt_secret="dashboard-http-jwt-secret-0123456789abcdef",  # noqa: S106 (its own)
    )
    app = create_app(settings)
    sessionmaker = app.state.sessionmaker
    now = datetime.now(UTC)
    month = args.month or month_key(local(now).replace(day=1) - timedelta(days=1))
    async with sessionmaker() as session:
        orgs = list((await session.execute(select(Org).order_by(Org.id))).scalars())
        admin = User(name="压测管理员")
        session.add(admin)
        await session.flush()
        assert admin.id is not None
        for district in (o for o in orgs if o.level == OrgLevel.district):
            assert district.id is not None
            session.add(RoleGrant(user_id=admin.id, role=Role.district_admin, org_id=district.id))
        await session.commit()
    token = issue_access_token(settings, admin.id, admin.token_version).access_token
    rng = random.Random(args.seed)  # noqa: S311 (a sample, not a secret)
    by_level = {lvl: [o for o in orgs if o.level == lvl] for lvl in OrgLevel}
    sample = {
        "community": rng.sample(
            by_level[OrgLevel.community], min(20, len(by_level[OrgLevel.community]))
        ),
        "street": rng.sample(by_level[OrgLevel.street], min(12, len(by_level[OrgLevel.street]))),
        "district": by_level[OrgLevel.district],
    }
    cases = [
        ("GET /dashboard", "community", "/api/v1/dashboard"),
        ("GET /dashboard", "street", "/api/v1/dashboard"),
        ("GET /dashboard", "district", "/api/v1/dashboard"),
        ("GET /dashboard/children", "street", "/api/v1/dashboard/children"),
        ("GET /dashboard/children", "district", "/api/v1/dashboard/children"),
    ]
    load_before = os.getloadavg()
    lines = [
        "| request | level | orgs | wall p50 / p95 / p99 ms |",
        "|---|---|---:|---|",
    ]
    headers = {"Authorization": f"Bearer {token}"}
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for name, level, path in cases:
                targets = sample[level]
                walls: list[float] = []
                for i in range(args.warmup + args.iterations):
                    org = targets[i % len(targets)]
                    t0 = time.perf_counter()
                    resp = await client.get(
                        path, params={"org_id": org.id, "month": month}, headers=headers
                    )
                    wall = time.perf_counter() - t0  # seconds, as fmt takes them
                    if resp.status_code != 200:
                        raise RuntimeError(f"{name} {level}: {resp.status_code} {resp.text}")
                    if i >= args.warmup:
                        walls.append(wall)
                lines.append(f"| {name} | {level} | {len(targets)} | {fmt(walls)} |")
    finally:
        async with sessionmaker() as session:
            await session.execute(delete(RoleGrant).where(RoleGrant.user_id == admin.id))
            await session.execute(delete(User).where(User.id == admin.id))
            await session.commit()
        await app.state.engine.dispose()
    loads = " / ".join(" ".join(f"{x:.1f}" for x in a) for a in (load_before, os.getloadavg()))
    print(f"Machine: {machine()}. Load average before / after: {loads}.")
    print(
        f"{args.iterations} requests per row after {args.warmup} of warm-up, month {month}, "
        "in-process over httpx's ASGI transport, one at a time."
    )
    print()
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", required=True, help="SQLAlchemy URL of a seeded city")
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--month", help="YYYY-MM; default last month (Shanghai)")
    parser.add_argument("--seed", type=int, default=1)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
