"""Several app nodes: no-lost-writes through nginx, two app processes, one killed.

The province's shape on one machine, every part real:
- PostgreSQL (the local server, a fresh database) behind Debian's PgBouncer in
  transaction mode (DATABASE_POOLER=pgbouncer);
- two uvicorn app processes behind Debian's nginx, round robin;
- Redis: the job queue (two taskiq workers, two schedulers), the rate limits and
  the WeChat access token, shared by every process;
- the WeChat stub standing in for WeChat, counting the tokens it hands out.

The phones of tests/support/no_lost_writes.py write through nginx with retries,
dropped connections and cut-off requests; at 40 % of the run one app process is
SIGKILLed (its whole process group) and restarted while the other serves. Then:
the audit (nothing acknowledged lost, nothing doubled, nothing half-written); no
scheduled job claimed twice for a period; a login budget spent once across both
nodes (rate limits shared); one WeChat access token for every process; a console
session opened on one node used on the other.

    .venv/bin/python -m benchmarks.province_nodes --phones 60

Needs pgbouncer, nginx (`make scale-tools`), PostgreSQL and Redis; docs/PERFORMANCE.md
("Several app nodes") has a run's figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from app.core.config import Settings
from app.core.db import create_engine, create_sessionmaker
from app.core.security import issue_access_token
from app.devtools.wechat_stub import StubState, create_stub_app
from app.models.notification import JobRun, SendStatus, SubscribeGrant, WeChatSend
from app.models.user import User
from app.routers import console as console_cookie
from tests.support.no_lost_writes import (
    JWT_SECRET,
    ROOT,
    RunConfig,
    Server,
    audit,
    fresh_database,
    seed,
    snapshot,
)
from tests.support.no_lost_writes import Load as PhoneLoad
from tests.support.pgbouncer import PgBouncer, free_port
from tests.support.servers import BackgroundServer

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/7")
APPID, SECRET = "wx-province-appid", "wx-province-secret"
LOGIN_BUDGET = 20
TEMPLATE = "tpl-province-wish-claimed"


async def _subscribe_the_admin(engine: Any) -> None:
    """The district admin, who posted every wish, has a WeChat account and subscribed
    to "wish claimed" many times: each claim of the run is a subscribe message that
    a job worker sends through the Redis queue."""
    async with create_sessionmaker(engine)() as session, session.begin():
        admin = (await session.execute(select(User).where(User.name == "区管理员"))).scalar_one()
        admin.openid = "o-province-admin"
        session.add(SubscribeGrant(user_id=admin.id, template_id=TEMPLATE, balance=100_000))


async def subscribe_sends(env: dict[str, Any], timeout_s: float = 60.0) -> dict[str, Any]:
    """Once the workers have sent every message: each sent exactly once to WeChat."""
    stub: StubState = env["stub"]
    sessions = create_sessionmaker(env["engine"])
    deadline = time.monotonic() + timeout_s
    while True:
        async with sessions() as session:
            by_status = dict(
                (
                    await session.execute(
                        select(WeChatSend.status, func.count()).group_by(WeChatSend.status)
                    )
                ).all()
            )
            sent_ids = set(
                (
                    await session.execute(
                        select(WeChatSend.message_id).where(WeChatSend.status == SendStatus.sent)
                    )
                ).scalars()
            )
        if not (by_status.get(SendStatus.pending) or by_status.get(SendStatus.sending)):
            break
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    pages = Counter(str(s["page"]) for s in stub.subscribe_sends)
    received = {int(page.rsplit("=", 1)[1]) for page in pages}
    return {
        "subscribe messages by status": {str(k): v for k, v in by_status.items()},
        "subscribe messages WeChat received": len(stub.subscribe_sends),
        "subscribe messages WeChat received twice": sum(n > 1 for n in pages.values()),
        "sent rows WeChat never received / received without a sent row": (
            len(sent_ids - received),
            len(received - sent_ids),
        ),
    }


class Nginx:
    """nginx round robin over the nodes; a node refusing connections is skipped for
    idempotent requests (nginx's default `proxy_next_upstream error timeout`), never
    for a POST, which the phone retries with its Idempotency-Key."""

    def __init__(self, upstreams: list[int], tmp: Path):
        self.dir = tmp / "nginx"
        self.dir.mkdir()
        self.port = free_port()
        servers = "".join(
            f"    server 127.0.0.1:{p} max_fails=1 fail_timeout=2s;\n" for p in upstreams
        )
        temp = "".join(
            f"  {kind}_temp_path {self.dir / kind};\n"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        (self.dir / "nginx.conf").write_text(
            ("user root;\n" if os.geteuid() == 0 else "")
            + f"daemon off;\nworker_processes 1;\npid {self.dir / 'nginx.pid'};\n"
            f"error_log {self.dir / 'error.log'} warn;\n"
            "events { worker_connections 4096; }\n"
            "http {\n  access_log off;\n" + temp + "  client_max_body_size 20m;\n"
            f"  upstream app {{\n{servers}    keepalive 64;\n  }}\n"
            f"  server {{\n    listen 127.0.0.1:{self.port};\n"
            "    location / {\n      proxy_pass http://app;\n"
            '      proxy_http_version 1.1;\n      proxy_set_header Connection "";\n'
            "      proxy_set_header Host $host;\n"
            "      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
            "      proxy_request_buffering off;\n    }\n  }\n}\n"
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        conf, log = str(self.dir / "nginx.conf"), str(self.dir / "error.log")
        self.proc = subprocess.Popen(  # noqa: S603 (our own command line)
            [NGINX, "-c", conf, "-p", str(self.dir), "-e", log], start_new_session=True
        )

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


class Nodes:
    """The app nodes behind nginx, as the phones' load sees one server: `kill` and
    `start` strike and bring back the first node only; the other serves meanwhile."""

    def __init__(self, env: dict[str, str], tmp: Path, count: int = 2):
        self.nodes = [Server(env, 1, tmp / f"node{i}.log") for i in range(count)]
        self.nginx = Nginx([n.port for n in self.nodes], tmp)
        self.port = self.nginx.port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start_all(self) -> None:
        for node in self.nodes:
            node.start()
        self.nginx.start()

    def start(self) -> None:
        self.nodes[0].start()

    async def wait_ready(self, timeout_s: float = 60.0) -> None:
        for node in self.nodes:
            await node.wait_ready(timeout_s)

    def kill(self) -> None:
        self.nodes[0].kill()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def shutdown(self) -> None:
        self.stop()
        self.nginx.stop()

    def log_errors(self) -> Counter[str]:
        found: Counter[str] = Counter()
        for node in self.nodes:
            found.update(node.log_errors())
        return found


class JobProcesses:
    """taskiq workers and schedulers, each in its own process group."""

    def __init__(self, env: dict[str, str], tmp: Path, workers: int = 2, schedulers: int = 2):
        self.specs = [("worker", "app.jobs:worker_broker")] * workers
        self.specs += [("scheduler", "app.jobs:scheduler")] * schedulers
        self.env, self.tmp = env, tmp
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        for i, (kind, target) in enumerate(self.specs):
            log = (self.tmp / f"{kind}{i}.log").open("ab")
            self.procs.append(
                subprocess.Popen(  # noqa: S603 (our own command line)
                    [sys.executable, "-m", "taskiq", kind, target],
                    cwd=ROOT,
                    env=self.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, 15)
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=15)

    def errors(self) -> list[str]:
        out = []
        for path in self.tmp.glob("*.log"):
            if path.name.startswith(("worker", "scheduler")):
                text = path.read_text(errors="replace")
                out += [
                    f"{path.name}: {line[:200]}"
                    for line in text.splitlines()
                    if "Traceback" in line
                ]
        return out


@contextlib.asynccontextmanager
async def province(cfg: RunConfig) -> AsyncIterator[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="province-") as tmp_name:
        tmp = Path(tmp_name)
        os.chmod(tmp_name, 0o755)  # noqa: S103 (nginx reads its config here)
        stub = StubState(appid=APPID, secret=SECRET, reject_reused_codes=False)
        async with fresh_database(cfg, tmp) as url:
            settings = Settings(
                _env_file=None,
                app_env="test",
                database_url=url,
                storage_local_dir=str(tmp / "media"),
                jwt_secret=JWT_SECRET,
            )
            engine = create_engine(settings)
            with (
                BackgroundServer(create_stub_app(stub)) as wechat,
                PgBouncer(cfg.postgres_admin_url, pool_size=20) as bouncer,
            ):
                seeded = await seed(engine, settings, cfg.phones)
                await _subscribe_the_admin(engine)
                env = {
                    k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "S3_"))
                }
                env.update(
                    APP_ENV="test",
                    DATABASE_URL=bouncer.url(url),
                    DATABASE_POOLER="pgbouncer",
                    DATABASE_POOL_SIZE="10",
                    REDIS_URL=REDIS_URL,
                    JOBS_QUEUE_NAME=f"chuangwen:province:{uuid.uuid4().hex[:8]}",
                    STORAGE_BACKEND="local",
                    STORAGE_LOCAL_DIR=settings.storage_local_dir,
                    JWT_SECRET=JWT_SECRET,
                    LOGIN_RATE_PER_MINUTE=str(LOGIN_BUDGET),
                    UPLOAD_RATE_PER_MINUTE="1000000",
                    WECHAT_APPID=APPID,
                    WECHAT_SECRET=SECRET,
                    WECHAT_API_BASE=wechat.url,
                    WECHAT_DEV_STUB="false",
                    WECHAT_TEMPLATES=f"wish_claimed={TEMPLATE}",
                    WECHAT_MESSAGE_PAGE="pages/messages/index",
                    PYTHONUNBUFFERED="1",
                )
                nodes = Nodes(env, tmp)
                jobs = JobProcesses(env, tmp)
                nodes.start_all()
                jobs.start()
                try:
                    await nodes.wait_ready()
                    yield {
                        "cfg": cfg, "settings": settings, "engine": engine, "nodes": nodes,
                        "jobs": jobs, "seed": seeded, "stub": stub, "tmp": tmp,
                    }  # fmt: skip
                finally:
                    nodes.shutdown()
                    jobs.stop()
            await engine.dispose()


def _cookie(resp: httpx.Response, name: str) -> str:
    """A cookie the answer set (read by hand: the console's are Secure, which a client
    keeps off plain http)."""
    for header in resp.headers.get_list("set-cookie"):
        key, _, rest = header.partition("=")
        if key == name:
            return rest.split(";", 1)[0]
    raise AssertionError(f"no {name} cookie in {resp.headers.get_list('set-cookie')}")


async def shared_state_checks(env: dict[str, Any]) -> dict[str, Any]:
    """The WeChat token, console sessions and rate limits, across both nodes."""
    nodes: Nodes = env["nodes"]
    stub: StubState = env["stub"]
    settings: Settings = env["settings"]
    async with create_sessionmaker(env["engine"])() as session:
        admin = (await session.execute(select(User).where(User.name == "区管理员"))).scalar_one()
    bearer = issue_access_token(settings, admin.id, admin.token_version).access_token
    out: dict[str, Any] = {}
    tokens_before = stub.count("cgi-bin/stable_token") + stub.count("cgi-bin/token")
    async with httpx.AsyncClient(base_url=nodes.url, timeout=10) as client:
        # Two console logins: round robin puts one on each node, and each draws a
        # mini-program code, which takes WeChat's access token: shared through Redis,
        # WeChat hands out one.
        tickets = []
        for _ in range(2):
            resp = await client.post("/api/v1/auth/console-login")
            assert resp.status_code == 200, resp.text
            tickets.append((resp.json()["ticket"], _cookie(resp, console_cookie.LOGIN_COOKIE)))
        tokens = stub.count("cgi-bin/stable_token") + stub.count("cgi-bin/token")
        # The workers' sends drew one already; the nodes' codes draw none of their own.
        out["wechat access tokens issued: whole run / for the nodes' two codes"] = (
            tokens,
            tokens - tokens_before,
        )
        # The admin confirms on one node, the browser collects on the next, and the
        # console session then works on every node (it lives in the database).
        ticket, login_secret = tickets[0]
        confirm = await client.post(
            f"/api/v1/auth/console-login/{ticket}/confirm",
            headers={"Authorization": f"Bearer {bearer}"},
        )
        assert confirm.status_code == 204, confirm.text
        collected = await client.get(
            f"/api/v1/auth/console-login/{ticket}",
            headers={"Cookie": f"{console_cookie.LOGIN_COOKIE}={login_secret}"},
        )
        session_cookie = _cookie(collected, console_cookie.SESSION_COOKIE)
        pages = Counter()
        for _ in range(6):
            page = await client.get(
                "/console/",
                headers={"Cookie": f"{console_cookie.SESSION_COOKIE}={session_cookie}"},
            )
            pages[page.status_code] += 1
        out["console pages on both nodes, by status"] = dict(pages)
        # Logins from one address: round robin alternates the nodes; one budget.
        codes = Counter()
        for i in range(LOGIN_BUDGET + 10):
            resp = await client.post("/api/v1/auth/wechat-login", json={"code": f"province-{i}"})
            codes[resp.status_code] += 1
        out["login budget: answered (incl. 2 console logins) / refused 429"] = (
            2 + sum(codes.values()) - codes[429],
            codes[429],
        )
    return out


async def main_async(cfg: RunConfig) -> dict[str, Any]:
    async with province(cfg) as env:
        nodes: Nodes = env["nodes"]
        load = PhoneLoad(cfg, nodes, env["seed"])  # type: ignore[arg-type]
        began = time.monotonic()
        await load.run()
        seconds = time.monotonic() - began
        shared = await shared_state_checks(env)
        sends = await subscribe_sends(env)
        nodes.stop()
        env["jobs"].stop()
        snap = await snapshot(env["engine"], env["settings"])
        report = audit(
            load.writes,
            snap,
            storage_dir=Path(env["settings"].storage_local_dir),
            seeded_check_ins=env["seed"].seeded_check_ins,
        )
        report.stats = load.stats
        report.other += [f"server error: {e}" for e in load.server_errors]
        report.other += [f"unexpected answer: {e}" for e in load.unexpected]
        report.server_log_errors = [f"{n} x {line}" for line, n in nodes.log_errors().items()]
        sessions = create_sessionmaker(env["engine"])
        async with sessions() as session:
            runs = (
                await session.execute(
                    select(JobRun.job, JobRun.period, func.count()).group_by(
                        JobRun.job, JobRun.period
                    )
                )
            ).all()
        return {
            "seconds": round(seconds, 1),
            "figures": report.figures(),
            "violations": report.violations,
            "job periods claimed twice": [r for r in runs if r[2] > 1],
            "job processes' tracebacks": env["jobs"].errors(),
            **shared,
            **sends,
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--phones", type=int, default=60)
    args = parser.parse_args(argv)
    for tool in (NGINX, "/usr/sbin/pgbouncer"):
        if not Path(tool).exists():
            print(f"{tool} is missing: `make scale-tools` installs it", file=sys.stderr)
            return 2
    cfg = RunConfig(phones=args.phones, database="pgbouncer")
    result = asyncio.run(main_async(cfg))
    print(json.dumps(result, ensure_ascii=False, indent=1, default=str))
    doubled = (
        result["job periods claimed twice"] or result["subscribe messages WeChat received twice"]
    )
    return 1 if result["violations"] or doubled else 0


if __name__ == "__main__":
    sys.exit(main())
