"""Photo uploads over HTTP against the Pillow floor measured in the same run (issue 24).

1. Makes a realistic 12 MP phone JPEG (4032 x 3024, gradients under fine noise so
   it compresses like a photo, ~4 MB at quality 92, EXIF with GPS and an
   orientation tag: a portrait shot, as phones store them).
2. The floor: Pillow alone doing the work an upload must do at the least (decode,
   turn upright, drop the metadata, re-encode at quality 88, a 400 px thumbnail),
   FLOOR_RUNS times in this process, one at a time.
3. Starts the app as ONE uvicorn worker in a subprocess on a fresh PostgreSQL
   database (migrated), local storage in a temporary folder, WeChat's check off
   (dev with local storage passes photos at once), then for each
   MEDIA_PHOTO_MAX_EDGE given:
   - one at a time: SERIAL uploads, wall time per upload, p50/p95;
   - 4 at once: CONCURRENT uploads by 4 clients, throughput;
   - all along, a client GETs /healthz every 20 ms: p99 of those.
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

import httpx
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
FLOOR_RUNS = 15
SERIAL = 20
CONCURRENT = 24
CLIENTS = 4
HEALTH_EVERY_S = 0.02


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
    proc = subprocess.Popen(argv, cwd=ROOT, env=env)  # noqa: S603
    wait_for_port(port, proc)
    return proc


async def health_probe(base: str, stop: asyncio.Event, out: list[float]) -> None:
    async with httpx.AsyncClient(base_url=base) as c:
        while not stop.is_set():
            started = time.perf_counter()
            resp = await c.get("/healthz")
            assert resp.status_code == 200
            out.append(time.perf_counter() - started)
            await asyncio.sleep(HEALTH_EVERY_S)


BOUNDARY = "----phone-upload-7d1c2f"


def multipart(raw: bytes) -> bytes:
    """Built once: the client's own multipart encoding is not what is measured."""
    head = (
        f"--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="file"; filename="IMG_0001.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    )
    return head.encode() + raw + f"\r\n--{BOUNDARY}--\r\n".encode()


async def upload(c: httpx.AsyncClient, body: bytes, token: str) -> float:
    started = time.perf_counter()
    resp = await c.post(
        "/api/v1/media",
        content=body,
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
        },
    )
    took = time.perf_counter() - started
    assert resp.status_code == 201, resp.text
    return took


async def measure(base: str, raw: bytes, token: str, pid: int) -> dict[str, float]:
    health: list[float] = []
    stop = asyncio.Event()
    probe = asyncio.create_task(health_probe(base, stop, health))
    async with httpx.AsyncClient(base_url=base, timeout=60) as c:
        await upload(c, raw, token)  # warm-up: imports, the first connection
        cpu_before = cpu_seconds(pid)
        serial = [await upload(c, raw, token) for _ in range(SERIAL)]
        # Server CPU per upload (the /healthz probes included: ~1 ms each).
        server_cpu = (cpu_seconds(pid) - cpu_before) / SERIAL
        queue = list(range(CONCURRENT))
        started = time.perf_counter()

        async def client() -> None:
            async with httpx.AsyncClient(base_url=base, timeout=60) as own:
                while queue:
                    queue.pop()
                    await upload(own, raw, token)

        await asyncio.gather(*(client() for _ in range(CLIENTS)))
        elapsed = time.perf_counter() - started
    stop.set()
    await probe
    return {
        "p50": statistics.median(serial),
        "cpu": server_cpu,
        "p95": pct(serial, 95),
        "throughput": CONCURRENT / elapsed,
        "health_p99": pct(health, 99),
        "health_n": len(health),
    }


async def main_async(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.WARNING)
    raw = realistic_photo()
    runs = [cpu_timed(pillow_floor_once, raw) for _ in range(FLOOR_RUNS + 1)][1:]
    floor_runs = [wall for wall, _ in runs]
    floor = statistics.median(floor_runs)
    floor_cpu = statistics.median(cpu for _, cpu in runs)
    cores = os.cpu_count() or 1
    print(f"photo: 4032x3024 JPEG, {len(raw) / 1e6:.2f} MB; cores {cores}; load {os.getloadavg()}")
    print(
        f"Pillow floor: median {floor * 1000:.0f} ms, p95 {pct(floor_runs, 95) * 1000:.0f} ms,"
        f" CPU {floor_cpu * 1000:.0f} ms"
    )
    dsn, token = await prepare(args.database)
    rows = []
    for edge in args.edges:
        with tempfile.TemporaryDirectory() as media_dir:
            proc = start(dsn, args.port, media_dir, edge)
            try:
                r = await measure(f"http://127.0.0.1:{args.port}", multipart(raw), token, proc.pid)
            finally:
                stop_server(proc)
        rows.append((edge, r))
    await _admin(args.database, f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
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
            f"{r['cpu'] * 1000:.0f} / {floor_cpu * 1000:.0f} | {r['throughput']:.2f} | "
            f"{r['throughput'] / ideal:.2f} (goal ≥ 0.7) | "
            f"{r['health_p99'] * 1000:.1f} (goal ≤ 50; n={r['health_n']:.0f}) |"
        )
    print(f"\nfloor {floor * 1000:.0f} ms; ideal throughput {ideal:.2f}/s on {cores} cores")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--database", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--edges", type=int, nargs="+", default=[0, 2560])
    parser.add_argument("--port", type=int, default=8971)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
