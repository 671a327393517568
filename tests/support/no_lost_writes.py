"""No lost writes: many phones, random retries, dropped connections, one kill -9.

A real uvicorn server of the app runs on a fresh database built by the Alembic
migrations. Simulated phones (one party member each, one httpx client each) do
what members do: upload photos, report in for the month, check out of a task
they checked in to earlier, check in to another and out again, claim micro-wishes
and log volunteer hours, using their photos on those records. Every write carries
an Idempotency-Key. Faults, chosen at random per attempt:

- a retry of the same request with the same key after its response arrived
  (the answer must be the first one again, `Idempotent-Replayed: true`);
- a dropped connection: the client sends the whole request and hangs up before
  the answer (a read timeout of 1 ms to 1.5 s), then retries at once, often while
  the first attempt is still being served;
- a truncated request: part of the request is written to a raw socket, which is
  then closed;
- once mid-run (or at each `--kill-at` fraction of the run) the whole server is
  SIGKILLed, while requests are in flight, and started again; phones keep retrying
  with backoff until it answers.

Then the database is audited with SQL (see `audit`): every acknowledged write is
there exactly once, every key produced one record, nothing half-written, and a
write never acknowledged is either wholly there or wholly absent. Exit status 1
on any violation.

    .venv/bin/python -m tests.support.no_lost_writes --phones 200 --database postgresql

tests/contract/test_no_lost_writes.py runs a small version on both databases.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import io
import json
import math
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import asyncpg  # type: ignore[import-untyped]
import httpx
from alembic.config import Config
from PIL import Image
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from alembic import command
from app.core.config import Settings
from app.core.db import create_engine, create_sessionmaker, utcnow
from app.core.security import PiiCipher, issue_access_token
from app.models.idempotency import IdempotencyRecord
from app.models.media import Media, MediaAttachment
from app.models.org import OrgLevel
from app.models.report_in import (
    ReportIn,
)
from app.models.task import (
    CheckIn,
    Task,
    TaskCategory,
)
from app.models.user import Role, RoleGrant, User
from app.models.volunteer_hours import HourSource, VolunteerHour
from app.models.wish import Wish, WishAction, WishEvent, WishStatus
from app.services.orgs import insert_org
from tests.support.pgbouncer import PgBouncer

ROOT = Path(__file__).resolve().parents[2]
API = "/api/v1"
PLACE = (23.1291, 113.2644)  # the tasks' place; phones check in from there
JWT_SECRET = "no-lost-writes-jwt-secret-0123456789abcdef"

Kind = Literal["upload", "report_in", "check_in", "check_out", "claim", "hours"]

# 4xx answers that are a correct refusal of that write, not a fault of the server.
EXPECTED_REFUSALS: dict[str, frozenset[str]] = {
    "upload": frozenset(),
    "report_in": frozenset(),
    "check_in": frozenset({"task_full"}),
    "check_out": frozenset(),
    "claim": frozenset({"wish_already_claimed"}),
    "hours": frozenset(),
}
# The media_attachments.record_type of the record each kind writes photos onto.
RECORD_TYPES = {
    "report_in": "report_in",
    "check_in": "check_in",
    "check_out": "check_in",
    "hours": "volunteer_hour",
}


@dataclass
class RunConfig:
    phones: int = 200
    # pgbouncer: PostgreSQL through PgBouncer in transaction mode (DATABASE_POOLER).
    database: Literal["sqlite", "postgresql", "pgbouncer"] = "postgresql"
    # The port of a running PgBouncer for `pgbouncer` (the test session's); none: one
    # is started for the run.
    pooler_port: int | None = None
    workers: int = 1
    seed: int = 20261122
    # Fractions of the planned writes done at which the server is SIGKILLed.
    kill_at: tuple[float, ...] = (0.4,)
    drop_rate: float = 0.08
    truncate_rate: float = 0.03
    replay_rate: float = 0.15
    think_s: float = 0.3
    # A phone gives a write up after this long without a definite answer.
    give_up_s: float = 180.0
    postgres_admin_url: str = os.environ.get(
        "TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    keep: bool = False
    json_output: bool = False


@dataclass
class Write:
    """One logical write of one phone: every attempt of it carries the same key."""

    kind: Kind
    user_id: int
    key: str
    method: str
    path: str
    json_body: dict[str, Any] | None = None
    photo: bytes | None = None
    photo_ids: list[int] = field(default_factory=list)
    # Natural keys, for finding the record without its id.
    task_id: int | None = None
    wish_id: int | None = None
    started_at: datetime | None = None
    sha256: str | None = None
    sends: int = 0
    ids: set[int] = field(default_factory=set)
    acked: bool = False
    # The first acknowledgement was a replay: an earlier attempt had committed and its
    # answer was lost (dropped connection or kill).
    acked_by_replay: bool = False
    in_flight_at_kill: bool = False
    refused: str | None = None
    answer: dict[str, Any] | None = None

    @property
    def principal(self) -> str:
        return f"user:{self.user_id}"


@dataclass
class Stats:
    phones: int = 0
    writes_planned: int = 0
    requests: int = 0
    retries: int = 0
    replays: int = 0
    dropped: int = 0
    truncated: int = 0
    timeouts: int = 0
    transport_errors: int = 0
    kills: int = 0
    # 502/504 from a load balancer in front of several nodes, retried.
    gateway_errors: int = 0
    # Writes with a request in flight when the server was killed, by what became of them.
    killed_committed: int = 0
    killed_redone: int = 0
    killed_refused: int = 0
    acked_by_replay: int = 0
    in_flight_at_kills: list[int] = field(default_factory=list)
    server_errors: int = 0
    unavailable: int = 0
    acknowledged: int = 0
    refused: int = 0
    unresolved: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass
class Report:
    stats: Stats
    audited: int = 0
    present_unacknowledged: int = 0
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    half_written: list[str] = field(default_factory=list)
    other: list[str] = field(default_factory=list)
    server_log_errors: list[str] = field(default_factory=list)

    @property
    def violations(self) -> list[str]:
        return self.lost + self.duplicated + self.half_written + self.other + self.server_log_errors

    def figures(self) -> dict[str, Any]:
        s = self.stats
        return {
            "phones": s.phones,
            "seconds": round(s.seconds, 1),
            "logical writes": s.writes_planned,
            "requests sent": s.requests,
            "retries (same key)": s.retries,
            "replays after an answer": s.replays,
            "dropped connections": s.dropped,
            "truncated requests": s.truncated,
            "client timeouts": s.timeouts,
            "connection errors (kill)": s.transport_errors,
            "gateway 502/504 (a node killed), retried": s.gateway_errors,
            "kills": s.kills,
            "requests in flight at kill": s.in_flight_at_kills,
            "writes in flight at kill: committed before it (answered by replay)": (
                s.killed_committed
            ),
            "writes in flight at kill: not committed, done again": s.killed_redone,
            "writes in flight at kill: refused on retry": s.killed_refused,
            "writes first acknowledged by a replay": s.acked_by_replay,
            "server errors (500)": s.server_errors,
            "503 service_unavailable, retried": s.unavailable,
            "acknowledged writes": s.acknowledged,
            "refused as expected (4xx)": s.refused,
            "unresolved": s.unresolved,
            "by kind": s.by_kind,
            "writes audited": self.audited,
            "committed but never acknowledged": self.present_unacknowledged,
            "lost": len(self.lost),
            "duplicated": len(self.duplicated),
            "half-written": len(self.half_written),
            "other violations": len(self.other),
            "errors in the server log": len(self.server_log_errors),
        }

    def __str__(self) -> str:
        lines = [f"{k}: {v}" for k, v in self.figures().items()]
        for title, items in (
            ("LOST", self.lost),
            ("DUPLICATED", self.duplicated),
            ("HALF-WRITTEN", self.half_written),
            ("OTHER", self.other),
            ("SERVER LOG", self.server_log_errors),
        ):
            lines += [f"{title}: {item}" for item in items[:20]]
            if len(items) > 20:
                lines.append(f"{title}: ... and {len(items) - 20} more")
        return "\n".join(lines)


# --- database and server ----------------------------------------------------------


def run_migrations(database_url: str) -> None:
    """`alembic upgrade head`, as an operator runs it."""
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.attributes["database_url"] = database_url
    cfg.attributes["configure_logger"] = False
    command.upgrade(cfg, "head")


async def _postgres_admin(admin_url: str, sql: str) -> None:
    url = make_url(admin_url)
    conn = await asyncpg.connect(
        host=url.host,
        port=url.port or 5432,
        user=url.username,
        password=url.password,
        database=url.database,
        timeout=5,
    )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def fresh_database(cfg: RunConfig, tmp: Path) -> AsyncIterator[str]:
    """A new, migrated database; dropped afterwards unless `cfg.keep`."""
    if cfg.database == "sqlite":
        url = f"sqlite:///{tmp / 'reliability.db'}"
        await asyncio.to_thread(run_migrations, url)
        yield url
        return
    name = f"chuangwen_nlw_{uuid.uuid4().hex[:10]}"
    await _postgres_admin(cfg.postgres_admin_url, f'CREATE DATABASE "{name}"')
    url = make_url(cfg.postgres_admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        await asyncio.to_thread(run_migrations, url)
        yield url
    finally:
        if cfg.keep:
            print(f"kept database {name}", file=sys.stderr)
        else:
            await _postgres_admin(
                cfg.postgres_admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
            )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`uvicorn --factory app.main:create_app` in its own process group, so a kill
    takes every worker with it, as when the machine's OOM killer or an operator's
    `kill -9` strikes."""

    def __init__(self, env: dict[str, str], workers: int, log_path: Path):
        self.env = env
        self.workers = workers
        self.log_path = log_path
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.starts += 1
        with self.log_path.open("ab") as log:
            log.write(f"--- start {self.starts} ---\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "--factory",
                    "app.main:create_app",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--workers",
                    str(self.workers),
                    "--log-level",
                    "warning",
                    "--no-access-log",
                ],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    async def wait_ready(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        async with httpx.AsyncClient(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.proc is not None and self.proc.poll() is not None:
                    raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(self.url + "/readyz")).status_code == 200:
                        return
                await asyncio.sleep(0.1)
        raise RuntimeError(f"server not ready after {timeout_s} s:\n{self.tail()}")

    def tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    def kill(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def log_errors(self) -> Counter[str]:
        """The errors in the server's log, each as "where: exception", counted."""
        if not self.log_path.exists():
            return Counter()
        found: Counter[str] = Counter()
        where = ""
        in_traceback = False
        for line in self.log_path.read_text(errors="replace").splitlines():
            if "unhandled error on" in line:
                where = line.split("unhandled error on", 1)[1].strip()
            elif line.startswith("Traceback"):
                in_traceback = True
            elif in_traceback and line and not line.startswith(" "):
                in_traceback = False
                found[f"{where or 'ASGI'}: {line.strip()[:200]}"] += 1
                where = ""
            elif (
                not in_traceback
                and any(m in line for m in ("ERROR", "CRITICAL"))
                and "Exception in ASGI application" not in line
                # The log line of a 503 (counted from the phones' side).
                and "database unavailable" not in line
            ):
                found[line.strip()[:200]] += 1
        return found


def _id(value: int | None) -> int:
    assert value is not None, "flushed rows have ids"
    return value


# --- seed -------------------------------------------------------------------------


@dataclass
class Member:
    user_id: int
    community_id: int
    token: str
    task_a: int  # checked in 45 minutes ago (seeded): the phone checks out
    tasks_b: list[int]  # tasks to check in to (with capacity) and out of


@dataclass
class Seed:
    members: list[Member]
    wish_ids: list[int]
    seeded_check_ins: int


async def seed(engine: AsyncEngine, settings: Settings, phones: int) -> Seed:
    """A district, one street, a community per 20 phones; each community has a task
    its members checked in to 45 minutes ago and two tasks with fewer seats than
    members; open wishes about as many as phones."""
    now = utcnow()
    sessionmaker = create_sessionmaker(engine)
    n_communities = max(2, math.ceil(phones / 20))
    async with sessionmaker() as session, session.begin():
        district = await insert_org(session, name="文明区", level=OrgLevel.district, parent=None)
        street = await insert_org(session, name="东关街道", level=OrgLevel.street, parent=district)
        communities = [
            await insert_org(
                session, name=f"第{i + 1}社区", level=OrgLevel.community, parent=street
            )
            for i in range(n_communities)
        ]
        admin = User(name="区管理员", community_id=communities[0].id, is_party_member=True)
        session.add(admin)
        await session.flush()
        assert admin.id is not None and district.id is not None
        session.add(RoleGrant(user_id=admin.id, role=Role.district_admin, org_id=district.id))

        people = [
            User(
                name=f"党员{i:04d}",
                community_id=communities[i % n_communities].id,
                is_party_member=True,
            )
            for i in range(phones)
        ]
        session.add_all(people)
        await session.flush()

        per_community = Counter(p.community_id for p in people)
        tasks: dict[int, tuple[Task, list[Task]]] = {}
        for c in communities:
            assert c.id is not None
            members_here = per_community[c.id]

            def task(
                title: str, capacity: int | None, org_id: int = c.id, seated: int = members_here
            ) -> Task:
                return Task(
                    org_id=org_id,
                    title=title,
                    description="负载测试任务",
                    category=TaskCategory.sanitation,
                    starts_at=now - timedelta(hours=2),
                    ends_at=now + timedelta(hours=10),
                    lat=PLACE[0],
                    lng=PLACE[1],
                    radius_m=500,
                    capacity=capacity,
                    checked_in_count=seated if capacity is None else 0,
                )

            # Fewer seats than takers, so some check-ins are refused as task_full.
            seats = max(1, math.ceil(members_here * 0.4))
            a, b1, b2 = task("清洁家园", None), task("文明劝导", seats), task("交通劝导", seats)
            session.add_all([a, b1, b2])
            tasks[c.id] = (a, [b1, b2])
        await session.flush()

        for p in people:
            assert p.community_id is not None
            session.add(
                CheckIn(
                    task_id=_id(tasks[p.community_id][0].id),
                    user_id=_id(p.id),
                    checked_in_at=now - timedelta(minutes=45),
                    check_in_lat=PLACE[0],
                    check_in_lng=PLACE[1],
                )
            )

        wishes = [
            Wish(
                title=f"心愿{i:04d}",
                description="负载测试心愿",
                community_id=_id(communities[i % n_communities].id),
                beneficiary_name="王小明",
                status=WishStatus.open,
                created_by_id=admin.id,
            )
            for i in range(phones)
        ]
        session.add_all(wishes)
        await session.flush()
        for w in wishes:
            session.add(
                WishEvent(
                    wish_id=_id(w.id),
                    action=WishAction.create,
                    to_status=WishStatus.open,
                    actor_id=admin.id,
                )
            )

    members = []
    for p in people:
        assert p.id is not None and p.community_id is not None
        a, bs = tasks[p.community_id]
        assert a.id is not None
        members.append(
            Member(
                user_id=p.id,
                community_id=p.community_id,
                token=issue_access_token(settings, p.id, 0).access_token,
                task_a=a.id,
                tasks_b=[b.id for b in bs if b.id is not None],
            )
        )
    return Seed(members, [w.id for w in wishes if w.id is not None], seeded_check_ins=phones)


# --- phones -----------------------------------------------------------------------


def make_jpeg(rng: random.Random) -> bytes:
    """A small photo of noise: every one different, so each upload has its own sha256."""
    img = Image.frombytes("RGB", (24, 24), rng.randbytes(24 * 24 * 3))
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=85)
    return out.getvalue()


def _answer_id(kind: Kind, body: dict[str, Any]) -> int:
    return int(body["check_in_id"] if kind == "check_out" else body["id"])


class Load:
    def __init__(self, cfg: RunConfig, server: Server, seed_data: Seed):
        self.cfg = cfg
        self.server = server
        self.seed = seed_data
        self.rng = random.Random(cfg.seed)
        self.stats = Stats(phones=len(seed_data.members))
        self.writes: list[Write] = []
        self.done = 0
        self.progress = asyncio.Event()
        self.in_flight = 0
        self.in_flight_writes: set[int] = set()
        self.server_errors: list[str] = []
        self.unexpected: list[str] = []

    # One request ------------------------------------------------------------------

    def _request_args(self, w: Write) -> dict[str, Any]:
        args: dict[str, Any] = {"headers": {"Idempotency-Key": w.key}}
        if w.photo is not None:
            args["files"] = {"file": ("photo.jpg", w.photo, "image/jpeg")}
        elif w.json_body is not None:
            args["json"] = w.json_body
        return args

    async def _truncated(self, client: httpx.AsyncClient, w: Write, rng: random.Random) -> None:
        """Part of the request on a raw socket, then hang up."""
        request = client.build_request(w.method, w.path, **self._request_args(w))
        body = request.read()
        head = f"{request.method} {request.url.raw_path.decode()} HTTP/1.1\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in request.headers.items()) + "\r\n"
        raw = head.encode() + body
        cut = rng.randrange(1, len(raw))
        with contextlib.suppress(OSError):
            _, writer = await asyncio.open_connection("127.0.0.1", self.server.port)
            writer.write(raw[:cut])
            await writer.drain()
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def perform(self, client: httpx.AsyncClient, w: Write, rng: random.Random) -> None:
        """Send `w` until it has a definite answer, faults and all."""
        self.writes.append(w)
        deadline = time.monotonic() + self.cfg.give_up_s
        failures = 0
        while time.monotonic() < deadline:
            if w.sends:
                self.stats.retries += 1
            w.sends += 1
            self.stats.requests += 1
            roll = rng.random()
            if roll < self.cfg.truncate_rate:
                self.stats.truncated += 1
                await self._truncated(client, w, rng)
                continue
            drop = roll < self.cfg.truncate_rate + self.cfg.drop_rate
            # Half hang up at once (the request is likely still queued), half after up
            # to 1.5 s (likely while it is served, or after it committed).
            patience = rng.choice([rng.uniform(0.001, 0.03), rng.uniform(0.03, 1.5)])
            timeout = httpx.Timeout(30.0, read=patience) if drop else httpx.Timeout(60.0)
            self.in_flight += 1
            self.in_flight_writes.add(id(w))
            try:
                resp = await client.request(
                    w.method, w.path, timeout=timeout, **self._request_args(w)
                )
            except httpx.TimeoutException:
                if drop:
                    self.stats.dropped += 1
                else:
                    self.stats.timeouts += 1
                # Phones retry at once or nearly: often while the first is still served.
                await asyncio.sleep(rng.choice([0, 0, rng.uniform(0, 0.3)]))
                continue
            except httpx.TransportError:
                # Refused or reset: the server is down (killed) or was restarted.
                self.stats.transport_errors += 1
                failures += 1
                await asyncio.sleep(min(2.0, 0.1 * 2**failures) * rng.uniform(0.5, 1.0))
                continue
            finally:
                self.in_flight -= 1
                self.in_flight_writes.discard(id(w))
            if _from_gateway(resp):
                # A load balancer's 502/504: the app process it chose died or hung
                # up mid-request (several nodes behind nginx). No answer from the
                # app, as with a reset connection: the phone retries.
                self.stats.gateway_errors += 1
                failures += 1
                await asyncio.sleep(min(2.0, 0.1 * 2**failures) * rng.uniform(0.5, 1.0))
                continue
            if resp.status_code == 503 and _problem_code(resp) == "service_unavailable":
                # Overloaded (no pooled connection came free in time): "try later",
                # as designed. The phone does.
                self.stats.unavailable += 1
                failures += 1
                await asyncio.sleep(min(2.0, 0.1 * 2**failures) * rng.uniform(0.5, 1.0))
                continue
            if resp.status_code >= 500 or resp.status_code == 429:
                self.stats.server_errors += resp.status_code >= 500
                self.server_errors.append(
                    f"{w.kind} {w.method} {w.path} -> {resp.status_code} {resp.text[:300]}"
                )
                failures += 1
                await asyncio.sleep(min(2.0, 0.1 * 2**failures))
                continue
            if resp.status_code >= 400:
                code = _problem_code(resp)
                w.refused = code
                if code not in EXPECTED_REFUSALS[w.kind]:
                    self.unexpected.append(
                        f"{w.kind} {w.key} {w.path} -> {resp.status_code} {resp.text[:300]}"
                    )
                return
            body = resp.json()
            w.acked = True
            w.acked_by_replay = resp.headers.get("idempotent-replayed") == "true"
            w.answer = body
            w.ids.add(_answer_id(w.kind, body))
            if rng.random() < self.cfg.replay_rate:
                await self._replay(client, w, resp.status_code)
            return
        # Out of time without a definite answer: the audit still checks all-or-nothing.

    async def _replay(self, client: httpx.AsyncClient, w: Write, first_status: int) -> None:
        self.stats.replays += 1
        self.stats.requests += 1
        self.stats.retries += 1
        w.sends += 1
        try:
            again = await client.request(w.method, w.path, **self._request_args(w))
        except httpx.TransportError:
            self.stats.transport_errors += 1
            return
        if _from_gateway(again):
            self.stats.gateway_errors += 1
            return
        if again.status_code != first_status or again.headers.get("idempotent-replayed") != "true":
            self.unexpected.append(
                f"replay of {w.kind} {w.key}: {again.status_code} "
                f"(first {first_status}), replayed={again.headers.get('idempotent-replayed')}"
            )
            return
        w.ids.add(_answer_id(w.kind, again.json()))

    # One phone --------------------------------------------------------------------

    def _key(self, kind: str) -> str:
        return f"{kind}-{uuid.uuid4()}"

    def _some_photos(self, rng: random.Random, photos: list[int]) -> list[int]:
        if not photos or rng.random() < 0.5:
            return []
        return rng.sample(photos, min(len(photos), rng.randint(1, 2)))

    async def phone(self, m: Member, rng: random.Random, plan: list[str]) -> None:
        headers = {"Authorization": f"Bearer {m.token}"}
        limits = httpx.Limits(max_connections=2, max_keepalive_connections=2)
        async with httpx.AsyncClient(
            base_url=self.server.url + API, headers=headers, limits=limits
        ) as client:
            photos: list[int] = []
            tried_wishes: set[int] = set()

            async def upload() -> None:
                data = make_jpeg(rng)
                w = Write(
                    kind="upload",
                    user_id=m.user_id,
                    key=self._key("upload"),
                    method="POST",
                    path="/media",
                    photo=data,
                    sha256=hashlib.sha256(data).hexdigest(),
                )
                await self.perform(client, w, rng)
                if w.acked:
                    photos.append(next(iter(w.ids)))

            def attendance(task_id: int, kind: Kind) -> Write:
                body: dict[str, Any] = {"lat": PLACE[0], "lng": PLACE[1]}
                if ids := self._some_photos(rng, photos):
                    body["photo_ids"] = ids
                path = (
                    f"/tasks/{task_id}/check-ins"
                    if kind == "check_in"
                    else (f"/tasks/{task_id}/check-out")
                )
                return Write(
                    kind=kind,
                    user_id=m.user_id,
                    key=self._key(kind),
                    method="POST",
                    path=path,
                    json_body=body,
                    photo_ids=ids,
                    task_id=task_id,
                )

            async def report_in() -> None:
                body: dict[str, Any] = {"note": "到社区报到", "lat": PLACE[0], "lng": PLACE[1]}
                if ids := self._some_photos(rng, photos):
                    body["photo_ids"] = ids
                await self.perform(
                    client,
                    Write(
                        kind="report_in",
                        user_id=m.user_id,
                        key=self._key("report_in"),
                        method="POST",
                        path="/report-ins",
                        json_body=body,
                        photo_ids=ids,
                    ),
                    rng,
                )

            async def check_out_a() -> None:
                await self.perform(client, attendance(m.task_a, "check_out"), rng)

            async def attend_b() -> None:
                task_id = rng.choice(m.tasks_b)
                w = attendance(task_id, "check_in")
                await self.perform(client, w, rng)
                if not w.acked:
                    return
                await asyncio.sleep(rng.uniform(0, self.cfg.think_s * 3))
                await self.perform(client, attendance(task_id, "check_out"), rng)

            async def claim() -> None:
                # A wish once per phone: its natural key is (wish, claimant).
                wish_id = rng.choice([i for i in self.seed.wish_ids if i not in tried_wishes])
                tried_wishes.add(wish_id)
                await self.perform(
                    client,
                    Write(
                        kind="claim",
                        user_id=m.user_id,
                        key=self._key("claim"),
                        method="POST",
                        path=f"/wishes/{wish_id}/claim",
                        wish_id=wish_id,
                    ),
                    rng,
                )

            hour_slots = iter(range(1, 100))

            async def hours() -> None:
                day = next(hour_slots)
                start = (utcnow() - timedelta(days=day)).replace(
                    hour=1, minute=0, second=0, microsecond=0
                )
                end = start + timedelta(minutes=rng.choice([30, 60, 90, 120]))
                body: dict[str, Any] = {
                    "org_id": m.community_id,
                    "activity": "文明劝导",
                    "started_at": start.isoformat(),
                    "ended_at": end.isoformat(),
                }
                if ids := self._some_photos(rng, photos):
                    body["photo_ids"] = ids
                await self.perform(
                    client,
                    Write(
                        kind="hours",
                        user_id=m.user_id,
                        key=self._key("hours"),
                        method="POST",
                        path="/volunteer-hours",
                        json_body=body,
                        photo_ids=ids,
                        started_at=start,
                    ),
                    rng,
                )

            actions: dict[str, Callable[[], Awaitable[None]]] = {
                "upload": upload,
                "report_in": report_in,
                "check_out_a": check_out_a,
                "attend_b": attend_b,
                "claim": claim,
                "hours": hours,
            }
            for step in plan:
                await asyncio.sleep(rng.uniform(0, self.cfg.think_s))
                await actions[step]()
                self.done += 1
                self.progress.set()

    @staticmethod
    def plan(rng: random.Random) -> list[str]:
        """A phone's steps: a photo first (to use on records), then the rest in any order."""
        steps = ["report_in", "check_out_a", "attend_b"]
        steps += ["claim"] * rng.randint(1, 2)
        steps += ["hours"] * rng.randint(1, 3)
        steps += ["upload"] * rng.randint(0, 2)
        rng.shuffle(steps)
        return ["upload", *steps]

    async def chaos(self, planned: int) -> None:
        """SIGKILL the server when the run reaches each `kill_at`, then restart it."""
        for fraction in self.cfg.kill_at:
            while self.done < fraction * planned:
                self.progress.clear()
                await self.progress.wait()
            # Strike while requests are being served, not in a lull between them.
            for _ in range(1000):  # at most ~5 s
                if self.in_flight >= max(2, len(self.seed.members) // 8):
                    break
                await asyncio.sleep(0.005)
            self.stats.in_flight_at_kills.append(self.in_flight)
            for w in self.writes:
                if id(w) in self.in_flight_writes:
                    w.in_flight_at_kill = True
            self.server.kill()
            self.stats.kills += 1
            await asyncio.sleep(self.rng.uniform(0.5, 1.5))
            self.server.start()
            await self.server.wait_ready()

    async def run(self) -> None:
        began = time.monotonic()
        phones = []
        planned = 0
        for m in self.seed.members:
            rng = random.Random(self.rng.random())
            plan = self.plan(rng)
            planned += len(plan)
            phones.append(self.phone(m, rng, plan))
        chaos = asyncio.create_task(self.chaos(planned))
        await asyncio.gather(*phones)
        await chaos
        self.stats.seconds = time.monotonic() - began
        self.stats.writes_planned = len(self.writes)
        self.stats.acknowledged = sum(w.acked for w in self.writes)
        self.stats.refused = sum(w.refused is not None for w in self.writes)
        self.stats.unresolved = sum(not w.acked and w.refused is None for w in self.writes)
        self.stats.by_kind = dict(Counter(w.kind for w in self.writes))
        self.stats.acked_by_replay = sum(w.acked_by_replay for w in self.writes)
        killed = [w for w in self.writes if w.in_flight_at_kill]
        self.stats.killed_committed = sum(w.acked_by_replay for w in killed)
        self.stats.killed_redone = sum(w.acked and not w.acked_by_replay for w in killed)
        self.stats.killed_refused = sum(w.refused is not None for w in killed)


def _from_gateway(resp: httpx.Response) -> bool:
    """A 502 or 504 of a load balancer (not the app's problem+json): its upstream
    gave no answer."""
    return resp.status_code in (502, 504) and "problem+json" not in resp.headers.get(
        "content-type", ""
    )


def _problem_code(resp: httpx.Response) -> str:
    try:
        return str(resp.json().get("code"))
    except ValueError:
        return f"http_{resp.status_code}"


# --- audit ------------------------------------------------------------------------


@dataclass
class Snapshot:
    """Every row the run could have touched, read after the server stopped."""

    media: list[Media]
    attachments: list[MediaAttachment]
    report_ins: list[ReportIn]
    check_ins: list[CheckIn]
    tasks: list[Task]
    hours: list[VolunteerHour]
    wishes: list[Wish]
    wish_events: list[WishEvent]
    idempotency: list[IdempotencyRecord]
    # The answers kept under the idempotency records (sealed at rest), by record id;
    # None for one that cannot be opened.
    answers: dict[int | None, dict[str, Any] | None]


async def snapshot(engine: AsyncEngine, settings: Settings) -> Snapshot:
    async with create_sessionmaker(engine)() as s:

        async def rows(model: Any) -> list[Any]:
            return list((await s.execute(select(model))).scalars())

        idempotency = await rows(IdempotencyRecord)
        cipher = PiiCipher(settings.pii_key)
        return Snapshot(
            media=await rows(Media),
            attachments=await rows(MediaAttachment),
            report_ins=await rows(ReportIn),
            check_ins=await rows(CheckIn),
            tasks=await rows(Task),
            hours=await rows(VolunteerHour),
            wishes=await rows(Wish),
            wish_events=await rows(WishEvent),
            idempotency=idempotency,
            answers={
                r.id: json.loads(opened) if (opened := cipher.decrypt(r.response_body)) else None
                for r in idempotency
            },
        )


def _by(rows: list[Any], *attrs: str) -> dict[Any, list[Any]]:
    out: dict[Any, list[Any]] = defaultdict(list)
    for r in rows:
        out[tuple(getattr(r, a) for a in attrs) if len(attrs) > 1 else getattr(r, attrs[0])].append(
            r
        )
    return out


def audit(
    writes: list[Write], snap: Snapshot, *, storage_dir: Path, seeded_check_ins: int
) -> Report:
    """Check the database against what the phones were told.

    For each write, its record is found by natural key (never only by the id the
    phone got): the uploader and sha256 of a photo, the member of a report-in, the
    (task, member) of a check-in, the claimant's event on a wish, the member and
    start of an hour entry. Then:
    - acknowledged: exactly one record, whose id is the one every answer carried;
    - never acknowledged: no record or one, and the idempotency record exists
      exactly when the record does (all or nothing);
    - photos attached to a record are exactly those sent by its present writes;
    and across the tables: seats counted equal check-ins, each check-out with minutes
    has one ledger credit and nothing else has one, a claimed wish has exactly one
    claim event by its claimant, every attachment and idempotency record points to
    something that exists, every photo row has its files, and no table holds a row
    that no write accounts for.
    """
    report = Report(stats=Stats())
    lost, dup, half, other = report.lost, report.duplicated, report.half_written, report.other

    media_by_nat = _by(snap.media, "uploader_id", "sha256")
    media_by_id = {m.id: m for m in snap.media}
    reports_by_user = _by(snap.report_ins, "user_id")
    check_in_by_nat = _by(snap.check_ins, "task_id", "user_id")
    check_in_by_id = {c.id: c for c in snap.check_ins}
    manual_hours = [h for h in snap.hours if h.source == HourSource.manual]
    hours_by_nat = _by(manual_hours, "user_id", "started_at")
    claim_events = [e for e in snap.wish_events if e.action == WishAction.claim]
    claims_by_nat = _by(claim_events, "wish_id", "actor_id")
    wish_by_id = {w.id: w for w in snap.wishes}
    idem = _by(snap.idempotency, "principal", "key")
    expected_photos: dict[tuple[str, int], set[int]] = defaultdict(set)
    present_count: Counter[str] = Counter()

    for w in writes:
        report.audited += 1
        label = f"{w.kind} key={w.key} user={w.user_id}"
        found: list[Any]
        if w.kind == "upload":
            found = media_by_nat.get((w.user_id, w.sha256), [])
        elif w.kind == "report_in":
            found = reports_by_user.get(w.user_id, [])
        elif w.kind == "check_in":
            found = check_in_by_nat.get((w.task_id, w.user_id), [])
        elif w.kind == "check_out":
            found = [
                c
                for c in check_in_by_nat.get((w.task_id, w.user_id), [])
                if c.checked_out_at is not None
            ]
        elif w.kind == "claim":
            found = claims_by_nat.get((w.wish_id, w.user_id), [])
        else:
            found = hours_by_nat.get((w.user_id, w.started_at), [])
        ids = {(r.wish_id if w.kind == "claim" else r.id) for r in found}
        records = idem.get((w.principal, w.key), [])

        if len(found) > 1:
            dup.append(f"{label}: {len(found)} records {sorted(ids)}")
        if len(w.ids) > 1:
            dup.append(f"{label}: answers carried several ids {sorted(w.ids)}")
        if len(records) > 1:
            dup.append(f"{label}: {len(records)} idempotency records")
        if w.acked and not found:
            lost.append(f"{label}: acknowledged with id {sorted(w.ids)}, not in the database")
        elif w.acked and ids != w.ids:
            lost.append(f"{label}: acknowledged id {sorted(w.ids)}, database has {sorted(ids)}")
        if bool(found) != bool(records):
            half.append(
                f"{label}: record {'present' if found else 'absent'} but idempotency record "
                f"{'present' if records else 'absent'}"
            )
        for r in records:
            stored = snap.answers[r.id]
            if stored is None:
                half.append(f"{label}: idempotency record's answer cannot be opened")
            elif {_answer_id(w.kind, stored)} != ids:
                half.append(f"{label}: idempotency record answers id {_answer_id(w.kind, stored)}")
        if found and not w.acked:
            report.present_unacknowledged += 1
        if w.refused and found:
            other.append(f"{label}: refused ({w.refused}) yet written")
        if found:
            present_count[w.kind] += 1
            if w.kind in RECORD_TYPES:
                expected_photos[(RECORD_TYPES[w.kind], next(iter(ids)))].update(w.photo_ids)
        if w.kind == "claim" and found:
            wish = wish_by_id.get(w.wish_id)
            if wish is None or wish.claimed_by_id != w.user_id or wish.status != WishStatus.claimed:
                half.append(f"{label}: claim event but the wish is not claimed by this member")
        answered = (w.answer or {}).get("minutes")
        if w.kind == "check_out" and found and w.acked and found[0].minutes != answered:
            other.append(f"{label}: answered {answered} minutes, stored {found[0].minutes}")

    # Photos on records: exactly what the present writes sent.
    actual_photos: dict[tuple[str, int], set[int]] = defaultdict(set)
    for a in snap.attachments:
        actual_photos[(a.record_type, a.record_id)].add(a.media_id)
    for target in set(expected_photos) | set(actual_photos):
        want, got = expected_photos.get(target, set()), actual_photos.get(target, set())
        if want - got:
            half.append(f"{target}: photos {sorted(want - got)} sent but not attached")
        if got - want:
            other.append(f"{target}: photos {sorted(got - want)} attached but never sent")

    # Companions across tables.
    owners: dict[str, dict[int, int]] = {
        "report_in": {r.id: r.user_id for r in snap.report_ins if r.id is not None},
        "check_in": {c.id: c.user_id for c in snap.check_ins if c.id is not None},
        "volunteer_hour": {h.id: h.user_id for h in snap.hours if h.id is not None},
    }
    for a in snap.attachments:
        media = media_by_id.get(a.media_id)
        owner = owners.get(a.record_type, {}).get(a.record_id)
        if media is None or owner is None:
            half.append(f"attachment {a.id}: points to a missing photo or record")
        elif media.uploader_id != owner:
            other.append(f"attachment {a.id}: photo of {media.uploader_id} on a record of {owner}")
    for m in snap.media:
        for key in (m.storage_key, m.thumbnail_key):
            if not (storage_dir / key[:2] / key).is_file():
                half.append(f"media {m.id}: file {key} missing from storage")

    seats = Counter(c.task_id for c in snap.check_ins)
    for t in snap.tasks:
        if t.checked_in_count != seats[_id(t.id)]:
            half.append(
                f"task {t.id}: checked_in_count {t.checked_in_count}, check-ins {seats[_id(t.id)]}"
            )
    credits = _by([h for h in snap.hours if h.source == HourSource.check_in], "source_id")
    for c in snap.check_ins:
        n = len(credits.get(c.id, []))
        due = 1 if c.checked_out_at is not None and (c.minutes or 0) > 0 else 0
        if c.checked_out_at is not None and c.minutes is None:
            half.append(f"check-in {c.id}: checked out without minutes")
        if n != due:
            half.append(f"check-in {c.id}: {n} ledger credits, {due} due")
        elif n and credits[c.id][0].minutes != c.minutes:
            half.append(
                f"check-in {c.id}: credit of {credits[c.id][0].minutes} for {c.minutes} min"
            )
    for source_id in credits:
        if source_id not in check_in_by_id:
            half.append(f"ledger credit for missing check-in {source_id}")
    claims_by_wish = _by(claim_events, "wish_id")
    for wish in snap.wishes:
        events = claims_by_wish.get(wish.id, [])
        if wish.status == WishStatus.claimed:
            if [e.actor_id for e in events] != [wish.claimed_by_id]:
                half.append(
                    f"wish {wish.id}: claimed by {wish.claimed_by_id}, claim events {len(events)}"
                )
        elif wish.status == WishStatus.open and (events or wish.claimed_by_id is not None):
            half.append(f"wish {wish.id}: open but has a claimant or claim events")

    # No row that no write accounts for.
    known = {(w.principal, w.key) for w in writes}
    for r in snap.idempotency:
        if (r.principal, r.key) not in known:
            other.append(f"idempotency record {r.principal} {r.key} for a request never sent")
    totals = {
        "upload": len(snap.media),
        "report_in": len(snap.report_ins),
        "check_in": len(snap.check_ins) - seeded_check_ins,
        "check_out": sum(c.checked_out_at is not None for c in snap.check_ins),
        "claim": len(claim_events),
        "hours": len(manual_hours),
    }
    for kind, total in totals.items():
        if total != present_count[kind]:
            other.append(f"{kind}: {total} rows, {present_count[kind]} writes account for them")
    if len(snap.idempotency) != sum(present_count.values()):
        other.append(
            f"{len(snap.idempotency)} idempotency records for {sum(present_count.values())} writes"
        )
    return report


# --- the run ----------------------------------------------------------------------


@dataclass
class Environment:
    cfg: RunConfig
    tmp: Path
    settings: Settings
    engine: AsyncEngine
    server: Server
    seed: Seed

    @property
    def storage_dir(self) -> Path:
        return Path(self.settings.storage_local_dir)


@contextlib.asynccontextmanager
async def environment(cfg: RunConfig) -> AsyncIterator[Environment]:
    """A migrated database, seeded, and a running server; all gone afterwards."""
    with tempfile.TemporaryDirectory(prefix="no-lost-writes-") as tmp_name:
        tmp = Path(tmp_name)
        async with fresh_database(cfg, tmp) as url:
            settings = Settings(
                _env_file=None,
                app_env="test",
                database_url=url,
                storage_local_dir=str(tmp / "media"),
                jwt_secret=JWT_SECRET,
                redis_url=None,
            )
            engine = create_engine(settings)
            try:
                seed_data = await seed(engine, settings, cfg.phones)
                env = {
                    k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "S3_"))
                }
                env.update(
                    APP_ENV="test",
                    DATABASE_URL=url,
                    STORAGE_BACKEND="local",
                    STORAGE_LOCAL_DIR=settings.storage_local_dir,
                    JWT_SECRET=JWT_SECRET,
                    LOGIN_RATE_PER_MINUTE="1000000",
                    UPLOAD_RATE_PER_MINUTE="1000000",
                    WECHAT_APPID="",
                    WECHAT_SECRET="",
                    PYTHONUNBUFFERED="1",
                )
                env.pop("REDIS_URL", None)
                with contextlib.ExitStack() as stack:
                    if cfg.database == "pgbouncer":
                        env.update(
                            DATABASE_URL=pooled_url(cfg, url, stack), DATABASE_POOLER="pgbouncer"
                        )
                    server = Server(env, cfg.workers, tmp / "server.log")
                    server.start()
                    try:
                        await server.wait_ready()
                        yield Environment(cfg, tmp, settings, engine, server, seed_data)
                    finally:
                        server.stop()
                        if cfg.keep:
                            print((tmp / "server.log").read_text(errors="replace")[-5000:])
            finally:
                await engine.dispose()


def pooled_url(cfg: RunConfig, url: str, stack: contextlib.ExitStack) -> str:
    """`url` through the PgBouncer at `cfg.pooler_port`, or through one started now
    (stopped with `stack`)."""
    if cfg.pooler_port is not None:
        return make_url(url).set(port=cfg.pooler_port).render_as_string(hide_password=False)
    bouncer = stack.enter_context(PgBouncer(cfg.postgres_admin_url))
    return bouncer.url(url)


async def run_and_audit(env: Environment) -> tuple[Load, Report]:
    load = Load(env.cfg, env.server, env.seed)
    await load.run()
    # Stop serving before reading: nothing may change under the audit.
    env.server.stop()
    snap = await snapshot(env.engine, env.settings)
    report = audit(
        load.writes,
        snap,
        storage_dir=env.storage_dir,
        seeded_check_ins=env.seed.seeded_check_ins,
    )
    report.stats = load.stats
    report.other += [f"server error: {e}" for e in load.server_errors]
    report.other += [f"unexpected answer: {e}" for e in load.unexpected]
    report.server_log_errors = [f"{n} x {line}" for line, n in env.server.log_errors().items()]
    return load, report


async def main_async(cfg: RunConfig) -> Report:
    async with environment(cfg) as env:
        _, report = await run_and_audit(env)
        return report


def parse_args(argv: list[str] | None = None) -> RunConfig:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--phones", type=int, default=200)
    parser.add_argument(
        "--database", choices=["sqlite", "postgresql", "pgbouncer"], default="postgresql"
    )
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seed", type=int, default=RunConfig.seed)
    parser.add_argument(
        "--kill-at",
        type=float,
        nargs="*",
        default=[0.4],
        help="fractions of the run at which the server is SIGKILLed and restarted",
    )
    parser.add_argument("--drop-rate", type=float, default=RunConfig.drop_rate)
    parser.add_argument("--truncate-rate", type=float, default=RunConfig.truncate_rate)
    parser.add_argument("--replay-rate", type=float, default=RunConfig.replay_rate)
    parser.add_argument("--think", type=float, default=RunConfig.think_s, help="seconds")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL database")
    a = parser.parse_args(argv)
    cfg = RunConfig(
        phones=a.phones,
        database=a.database,
        workers=a.workers,
        seed=a.seed,
        kill_at=tuple(a.kill_at),
        drop_rate=a.drop_rate,
        truncate_rate=a.truncate_rate,
        replay_rate=a.replay_rate,
        think_s=a.think,
        keep=a.keep,
    )
    cfg.json_output = a.json
    return cfg


def main(argv: list[str] | None = None) -> int:
    cfg = parse_args(argv)
    report = asyncio.run(main_async(cfg))
    if cfg.json_output:
        print(json.dumps({"config": asdict(cfg), **report.figures()}, ensure_ascii=False, indent=1))
    print(report)
    return 1 if report.violations else 0


if __name__ == "__main__":
    sys.exit(main())
