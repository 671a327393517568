"""What the app's own stack costs a request before any route does real work.

One uvicorn worker of the real app (`app.main:create_app`, APP_ENV=dev, PostgreSQL)
under `wrk` with 16 connections, 10 s after a 3 s warm-up, for two routes:

- GET /healthz: no token, no SQL; the middleware (metrics, access log, security
  headers, error handling), routing and JSON alone;
- GET /api/v1/me: a bearer token, the caller with their roles (one query) and the
  request transaction, the least a person's request does.

Server CPU per request is read from /proc, as benchmarks/checkin_load.py does. The
check-in load goal ("half the raw INSERT baseline") allows about twice the raw
baseline's CPU a request; this shows how much of that the stack itself takes.

    .venv/bin/python -m benchmarks.stack_floor      # creates and drops chuangwen_load_floor
"""

from __future__ import annotations

import argparse
import asyncio
import re
import subprocess
import sys

from app.core.config import Settings
from app.core.security import issue_access_token
from benchmarks.checkin_load import (
    JWT_SECRET,
    _admin,
    cpu_seconds,
    dsn_for,
    migrate,
    seed,
    server_env,
    stop_server,
    wait_for_port,
)

DATABASE = "chuangwen_load_floor"


def measure(port: int, pid: int, path: str, headers: list[str], seconds: int) -> str:
    url = f"http://127.0.0.1:{port}{path}"
    subprocess.run(["wrk", "-t1", "-c16", "-d3s", *headers, url], capture_output=True, check=True)  # noqa: S603, S607
    before = cpu_seconds(pid)
    out = subprocess.run(  # noqa: S603
        ["wrk", "-t1", "-c16", f"-d{seconds}s", *headers, url],  # noqa: S607
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    cpu = cpu_seconds(pid) - before
    found = re.search(r"(\d+) requests in", out)
    assert found, out
    requests = int(found.group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return (
        f"{requests / seconds:,.0f} req/s, server CPU {cpu * 1000 / requests:.2f} ms a request, "
        f"non-2xx {bad.group(1) if bad else 0}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--port", type=int, default=8111)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()

    dsn = dsn_for(args.postgres, DATABASE)
    drop = f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'
    asyncio.run(_admin(args.postgres, drop, f'CREATE DATABASE "{DATABASE}"'))
    try:
        migrate(dsn)
        seeded = asyncio.run(seed(dsn, members=1, tasks=1))
        settings = Settings(_env_file=None, jwt_secret=JWT_SECRET, access_token_ttl_s=3600)
        token = issue_access_token(settings, seeded.member_ids[0], 0).access_token
        argv = [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(args.port)]
        argv += ["--log-level", "warning", "--no-access-log", "--factory", "app.main:create_app"]
        env = server_env(dsn, seeded.task_org)
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
        try:
            wait_for_port(args.port, proc)
            for name, path, headers in (
                ("GET /healthz", "/healthz", []),
                ("GET /api/v1/me", "/api/v1/me", ["-H", f"Authorization: Bearer {token}"]),
            ):
                print(f"{name}: {measure(args.port, proc.pid, path, headers, args.seconds)}")
        finally:
            stop_server(proc)
    finally:
        asyncio.run(_admin(args.postgres, drop))


if __name__ == "__main__":
    main()
