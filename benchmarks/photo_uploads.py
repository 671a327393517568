"""Photo uploads over HTTP against the Pillow floor measured in the same run (issue 24).

1. Makes a realistic 12 MP phone JPEG (4032 x 3024, gradients under fine noise so
   it compresses like a photo, ~4 MB at quality 92, EXIF with GPS and an
   orientation tag: a portrait shot, as phones store them).
2. The floor: Pillow alone doing the work an upload must do at the least (decode,
   turn upright, drop the metadata, re-encode at quality 88, a 400 px thumbnail),
   one at a time in this process, half the runs before the server starts and half
   after it stops (the neighbours' load drifts over a run).
3. Starts the app as ONE uvicorn worker in a subprocess on a fresh PostgreSQL
   database (migrated), local storage in a temporary folder, WeChat's check off
   (dev with local storage passes photos at once), then for each
   MEDIA_PHOTO_MAX_EDGE given:
   - a client GETs /healthz every 20 ms all along: p99 of those; first alone for
     PROBE_ALONE_S, which gives the probe's own server CPU per second;
   - one at a time: SERIAL uploads, wall time per upload, p50/p95;
   - 4 at once: CONCURRENT uploads by 4 clients, throughput.
   The client sends one request built once as bytes (nothing in it has to differ:
   no Idempotency-Key) on kept-alive connections, so it takes as little of the two
   cores as it can; its CPU seconds per second are printed, as are the server's CPU
   per upload (from /proc, the probe's share taken off) and the floor's CPU, which
   the neighbours' load does not inflate as it does wall times.
4. Prints a markdown table and the goals: p95 <= 1.5 x floor (median), throughput
   >= 0.7 x cores / floor, /healthz p99 <= 50 ms.

    .venv/bin/python -m benchmarks.photo_uploads \
        --database postgresql://postgres@127.0.0.1:5432/postgres --edges 0 2560
"""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from app.core.config import Settings
from app.core.security import issue_access_token
from app.main import create_app
from app.models.user import User
from benchmarks.checkin_load import (
    JWT_SECRET,
    ROOT,
    _admin,
    cpu_seconds,
    dsn_for,
    migrate,
    stop_server,
    wait_for_port,
)

DATABASE = "chuangwen_bench_photos"
FLOOR_RUNS = 16
SERIAL = 20
CONCURRENT = 24
CLIENTS = 4
HEALTH_EVERY_S = 0.02
PROBE_ALONE_S = 2.0


def realistic_photo(seed: int = 1) -> bytes:
    rng = np.random.default_rng(seed)
    w, h = 4032, 3024
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([x / w * 200, y / h * 180 + 30, (x + y) / (w + h) * 150 + 50], -1)
    # Coarse grain (2 px) and fine grain: a photo's texture, not white noise.
    grain = rng.normal(0, 9, (h // 2, w // 2, 3)).astype(np.float32)
    grain = np.repeat(np.repeat(grain, 2, 0), 2, 1) + rng.normal(0, 3, (h, w, 3))
    pixels = np.clip(base + grain, 0, 255).astype(np.uint8)
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif[0x0112] = 6  # stored sideways: a portrait photo
    exif[0x8825] = {1: "N", 2: (39.0, 54.0, 27.0), 3: "E", 4: (116.0, 23.0, 30.0)}
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=92, exif=exif)
    return out.getvalue()


def pillow_floor_once(raw: bytes) -> None:
    with Image.open(io.BytesIO(raw)) as img:
        ImageOps.exif_transpose(img, in_place=True)
        img.info = {}
        img.save(io.BytesIO(), "JPEG", quality=88)
        thumb = img.copy()
        thumb.thumbnail((400, 400))
        thumb.save(io.BytesIO(), "JPEG", quality=88)


def timed(fn, *args) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    fn(*args)
    return time.perf_counter() - started


def cpu_timed(fn, *args) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Wall and CPU seconds (this process, all threads)."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn(*args)
    return time.perf_counter() - wall, time.process_time() - cpu


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def prepare(url: str) -> tuple[str, str]:
    """A fresh migrated database with one member; their bearer token."""
    await _admin(
        url, f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)", f"CREATE DATABASE {DATABASE}"
    )
    dsn = dsn_for(url, DATABASE)
    await asyncio.to_thread(migrate, dsn)
    settings = Settings(_env_file=None, app_env="dev", database_url=dsn, jwt_secret=JWT_SECRET)  # type: ignore[call-arg]
    app = create_app(settings)
    async with app.state.sessionmaker() as session:
        user = User(name="上传压测")
        session.add(user)
        await session.commit()
        assert user.id is not None
        token = issue_access_token(settings, user.id, user.token_version)
    await app.state.engine.dispose()
    return dsn, token.access_token


def start(dsn: str, port: int, media_dir: str, edge: int) -> subprocess.Popen[bytes]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_", "REDIS_", "APP_", "JWT_", "WECHAT_", "MEDIA_"))
    }
    env.update(
        APP_ENV="dev",
        DATABASE_URL=dsn,
        JWT_SECRET=JWT_SECRET,
        STORAGE_LOCAL_DIR=media_dir,
        UPLOAD_RATE_PER_MINUTE="100000",
        MEDIA_PHOTO_MAX_EDGE=str(edge),
        PYTHONPATH=str(ROOT),
    )
    argv = [sys.executable, "-m", "uvicorn", "--factory", "app.main:create_app"]
    argv += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    argv += ["--no-access-log"]
    # The app's access log (a line per request, ~50 probes a second) to a file.
    log = open(Path(media_dir).parent / f"photo-uploads-{port}.log", "ab")  # noqa: SIM115
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=log)  # noqa: S603
    wait_for_port(port, proc)
    return proc


class Connection:
    """One keep-alive HTTP/1.1 connection sending requests built once as bytes.

    The client shares the two cores with the server: httpx building and parsing
    each request would take CPU the server then lacks. Here a request costs the
    client a socket write of bytes it already holds and the read of a short answer;
    its CPU is measured and printed all the same."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def send(self, request: bytes) -> tuple[int, bytes]:
        self.writer.write(request)
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


def request_bytes(method: str, path: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


HEALTHZ = request_bytes("GET", "/healthz", {})


async def health_probe(port: int, stop: asyncio.Event, out: list[float]) -> None:
    conn = await Connection.open(port)
    try:
        while not stop.is_set():
            started = time.perf_counter()
            status, _ = await conn.send(HEALTHZ)
            assert status == 200
            out.append(time.perf_counter() - started)
            await asyncio.sleep(HEALTH_EVERY_S)
    finally:
        conn.close()


BOUNDARY = "----phone-upload-7d1c2f"


def upload_request(raw: bytes, token: str) -> bytes:
    """The whole request, built once and sent as is every time: no Idempotency-Key,
    so nothing in it has to differ from one upload to the next."""
    head = (
        f"--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="file"; filename="IMG_0001.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    )
    body = head.encode() + raw + f"\r\n--{BOUNDARY}--\r\n".encode()
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
    }
    return request_bytes("POST", "/api/v1/media", headers, body)


async def upload(conn: Connection, request: bytes) -> float:
    started = time.perf_counter()
    status, answer = await conn.send(request)
    took = time.perf_counter() - started
    assert status == 201, answer
    return took


class Meter:
    """CPU seconds of the server process and of this one (the client) over a phase."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.server, self.client = cpu_seconds(pid), time.process_time()
        self.wall = time.perf_counter()

    def read(self) -> tuple[float, float, float]:
        """Server CPU s, client CPU s, wall s since this meter started."""
        return (
            cpu_seconds(self.pid) - self.server,
            time.process_time() - self.client,
            time.perf_counter() - self.wall,
        )


async def measure(port: int, request: bytes, pid: int) -> dict[str, float]:
    health: list[float] = []
    stop = asyncio.Event()
    conn = await Connection.open(port)
    await upload(conn, request)  # warm-up: imports, the first connection
    probe = asyncio.create_task(health_probe(port, stop, health))
    # The probe alone: its own server CPU per second, taken off the uploads' below.
    await asyncio.sleep(0.5)
    meter = Meter(pid)
    await asyncio.sleep(PROBE_ALONE_S)
    probe_server, _, probe_wall = meter.read()
    probe_rate = probe_server / probe_wall
    meter = Meter(pid)
    serial = [await upload(conn, request) for _ in range(SERIAL)]
    serial_server, serial_client, serial_wall = meter.read()
    queue = list(range(CONCURRENT))
    conns = [await Connection.open(port) for _ in range(CLIENTS)]

    async def client(own: Connection) -> None:
        while queue:
            queue.pop()
            await upload(own, request)

    meter = Meter(pid)
    await asyncio.gather(*(client(own) for own in conns))
    burst_server, burst_client, elapsed = meter.read()
    stop.set()
    await probe
    for c in [conn, *conns]:
        c.close()
    return {
        "p50": statistics.median(serial),
        "p95": pct(serial, 95),
        # Server CPU per upload, the probe's share (measured alone) taken off.
        "cpu": (serial_server - probe_rate * serial_wall) / SERIAL,
        "cpu_raw": serial_server / SERIAL,
        "cpu_burst": (burst_server - probe_rate * elapsed) / CONCURRENT,
        "probe_ms_s": probe_rate * 1000,
        "client_serial": serial_client / serial_wall,
        "client_burst": burst_client / elapsed,
        "server_burst": burst_server / elapsed,
        "throughput": CONCURRENT / elapsed,
        "health_p99": pct(health, 99),
        "health_n": len(health),
    }


def floor_runs(raw: bytes, n: int) -> list[tuple[float, float]]:
    """Wall and CPU seconds of `n` floor runs (after one to warm up)."""
    return [cpu_timed(pillow_floor_once, raw) for _ in range(n + 1)][1:]


async def main_async(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.WARNING)
    raw = realistic_photo()
    cores = os.cpu_count() or 1
    # Half the floor runs before the server starts and half after it stops: on a
    # shared machine the neighbours' load drifts over a run.
    runs = floor_runs(raw, FLOOR_RUNS // 2 + 1)
    print(f"photo: 4032x3024 JPEG, {len(raw) / 1e6:.2f} MB; cores {cores}; load {os.getloadavg()}")
    dsn, token = await prepare(args.database)
    request = upload_request(raw, token)
    rows = []
    for edge in args.edges:
        with tempfile.TemporaryDirectory() as media_dir:
            proc = start(dsn, args.port, media_dir, edge)
            try:
                r = await measure(args.port, request, proc.pid)
            finally:
                stop_server(proc)
        r["load"] = os.getloadavg()[0]
        rows.append((edge, r))
    runs += floor_runs(raw, FLOOR_RUNS // 2 + 1)
    await _admin(args.database, f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
    floor = statistics.median(wall for wall, _ in runs)
    floor_cpu = statistics.median(cpu for _, cpu in runs)
    floor_p95 = pct([wall for wall, _ in runs], 95)
    print(
        f"Pillow floor: median {floor * 1000:.0f} ms, p95 {floor_p95 * 1000:.0f} ms,"
        f" CPU {floor_cpu * 1000:.0f} ms"
    )
    ideal = cores / floor
    print()
    print(
        "| MEDIA_PHOTO_MAX_EDGE | one at a time p50 / p95 ms | p95 / floor | server CPU ms "
        "/ floor CPU | 4 at once /s | / ideal | /healthz p99 ms |"
    )
    print("|---|---|---|---|---|---|---|")
    for edge, r in rows:
        print(
            f"| {edge or 'off'} | {r['p50'] * 1000:.0f} / {r['p95'] * 1000:.0f} | "
            f"{r['p95'] / floor:.2f} (goal ≤ 1.5) | "
            f"{r['cpu'] * 1000:.0f} / {floor_cpu * 1000:.0f} = {r['cpu'] / floor_cpu:.2f} | "
            f"{r['throughput']:.2f} | {r['throughput'] / ideal:.2f} (goal ≥ 0.7) | "
            f"{r['health_p99'] * 1000:.1f} (goal ≤ 50; n={r['health_n']:.0f}) |"
        )
    print(f"\nfloor {floor * 1000:.0f} ms; ideal throughput {ideal:.2f}/s on {cores} cores")
    for edge, r in rows:
        print(
            f"edge {edge or 'off'}: server CPU per upload {r['cpu_raw'] * 1000:.0f} ms with the"
            f" probe's share ({r['probe_ms_s']:.0f} ms/s alone), {r['cpu'] * 1000:.0f} without;"
            f" 4 at once {r['cpu_burst'] * 1000:.0f} ms ({r['cpu_burst'] / floor_cpu:.2f} x floor),"
            f" server {r['server_burst']:.2f} CPU s/s; client CPU s/s: one at a time"
            f" {r['client_serial']:.3f}, 4 at once {r['client_burst']:.3f}; load {r['load']:.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--database", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--edges", type=int, nargs="+", default=[0, 2560])
    parser.add_argument("--port", type=int, default=8971)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
