"""Peak memory of the app while a ~100 MiB video is uploaded (issue 23: streamed, never
held whole in memory).

1. Makes an MP4 just under MEDIA_VIDEO_MAX_BYTES with PyAV: H.264 (lossless, of
   noise, so it is big in few frames) and AAC.
2. Starts the app as ONE uvicorn worker (benchmarks/photo_uploads.py: fresh
   PostgreSQL database, local storage in a temporary folder).
3. Uploads a small video (warm-up), notes the server's resident memory, resets its
   high-water mark (/proc/PID/clear_refs), uploads the big one streamed from disk
   while /healthz is asked every 20 ms, and reads the high-water mark again.

    .venv/bin/python -m benchmarks.video_upload_memory
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import av
import httpx
import numpy as np

from benchmarks.checkin_load import _admin
from benchmarks.photo_uploads import DATABASE, health_probe, pct, prepare, start, stop_server

BOUNDARY = "----video-upload-5e0a"
TARGET_BYTES = 95 * 1024 * 1024


def make_video(path: Path, target: int) -> None:
    rng = np.random.default_rng(7)
    with av.open(str(path), "w", format="mp4") as out:
        video = out.add_stream("libx264", rate=30, options={"qp": "0", "preset": "ultrafast"})
        video.width, video.height, video.pix_fmt = 1280, 720, "yuv420p"
        sound = out.add_stream("aac", rate=8000)
        frames = written = 0
        while written < target:
            pixels = rng.integers(0, 256, (720, 1280, 3), np.uint8)
            packets = video.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24"))
            written += sum(p.size for p in packets)
            out.mux(packets)
            frames += 1
        out.mux(video.encode())
        samples = np.zeros((1, 8000 * frames // 30), np.float32)
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
        frame.sample_rate, frame.pts = 8000, 0
        out.mux(sound.encode(frame))
        out.mux(sound.encode())


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


async def body(path: Path) -> AsyncIterator[bytes]:
    yield (
        f"--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="file"; filename="VID_0001.mp4"\r\n'
        "Content-Type: video/mp4\r\n\r\n"
    ).encode()
    with path.open("rb") as f:
        while chunk := await asyncio.to_thread(f.read, 1024 * 1024):
            yield chunk
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


async def post(base: str, path: Path, token: str) -> tuple[float, dict[str, object]]:
    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=base, timeout=600) as c:
        resp = await c.post(
            "/api/v1/media",
            content=body(path),
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
            },
        )
    assert resp.status_code == 201, resp.text
    return time.perf_counter() - started, resp.json()


async def main_async(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        small, big = Path(tmp) / "small.mp4", Path(tmp) / "big.mp4"
        make_video(small, 1)
        make_video(big, TARGET_BYTES)
        size = big.stat().st_size
        dsn, token = await prepare(args.database)
        base = f"http://127.0.0.1:{args.port}"
        proc = start(dsn, args.port, str(Path(tmp) / "media"), 0)
        try:
            await post(base, small, token)
            rss = status_kib(proc.pid, "VmRSS")
            # Resets VmHWM, the high-water mark.
            await asyncio.to_thread(Path(f"/proc/{proc.pid}/clear_refs").write_text, "5")
            health: list[float] = []
            stop = asyncio.Event()
            probe = asyncio.create_task(health_probe(base, stop, health))
            took, answer = await post(base, big, token)
            stop.set()
            await probe
            peak = status_kib(proc.pid, "VmHWM")
        finally:
            stop_server(proc)
        await _admin(args.database, f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
    mib = 1024
    print(f"load {os.getloadavg()}")
    print(f"video: {size / 2**20:.1f} MiB, stored {int(str(answer['size'])) / 2**20:.1f} MiB")
    print(
        f"upload took {took:.1f} s; /healthz p99 {pct(health, 99) * 1000:.1f} ms (n={len(health)})"
    )
    print(
        f"server RSS before {rss / mib:.0f} MiB, peak during {peak / mib:.0f} MiB: "
        f"+{(peak - rss) / mib:.0f} MiB for a {size / 2**20:.0f} MiB upload"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--database", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--port", type=int, default=8973)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
