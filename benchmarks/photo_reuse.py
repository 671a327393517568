"""How fast the reused-photo lookup is at city scale (issue 21: p95 under 20 ms at 1M).

Fills `photo_prints` of a scratch database with N random 64-bit hashes in one
district, then times `photo_reuse.matches` for random probes (half of them near a
stored hash). Random hashes spread evenly over the band values, the kindest case;
real photos' hashes cluster, which lengthens the busiest bands.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench_reuse \\
        python -m benchmarks.photo_reuse --rows 1000000
(the database must exist and be empty; the script runs the migrations.
`--probe-only` times a database seeded before, without seeding it again.)
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import subprocess
import sys
import time

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.config import Settings
from app.core.db import create_engine, create_sessionmaker
from app.services import photo_reuse


async def seed(sessions: async_sessionmaker[AsyncSession], rows: int) -> list[int]:
    rnd = random.Random(21)  # noqa: S311 (made-up hashes, not secrets)
    stored: list[int] = []
    async with sessions() as session, session.begin():
        await session.execute(
            text(
                "INSERT INTO orgs (id, level, path, name, created_at, updated_at) "
                "VALUES (1, 'district', '/1/', 'bench', now(), now())"
            )
        )
        await session.execute(
            text(
                "INSERT INTO users (id, name, is_party_member, token_version, created_at, "
                "updated_at) VALUES (1, 'bench', false, 0, now(), now())"
            )
        )
        await session.execute(
            text(
                "INSERT INTO media (id, uploader_id, storage_key, thumbnail_key, content_type, "
                "size, width, height, sha256, phash, check_status, created_at) "
                "VALUES (1, 1, 'k', 't', "
                "'image/jpeg', 1, 1, 1, 's', '0000000000000000', 'pass', now())"
            )
        )
    batch = 20_000
    for start in range(0, rows, batch):
        values = []
        for i in range(start, min(rows, start + batch)):
            h = rnd.getrandbits(64)
            stored.append(h)
            b = photo_reuse.bands_of(f"{h:016x}")
            values.append({"r": i + 1, "p": f"{h:016x}", **{f"b{j}": v for j, v in enumerate(b)}})
        async with sessions() as session, session.begin():
            await session.execute(
                text(
                    "INSERT INTO photo_prints (media_id, record_type, record_id, district_id, "
                    "phash, b0, b1, b2, b3, b4, created_at) VALUES "
                    "(1, 'report', :r, 1, :p, :b0, :b1, :b2, :b3, :b4, now())"
                ),
                values,
            )
    async with sessions() as session:
        await session.execute(text("ANALYZE photo_prints"))
    return stored


async def main(rows: int, probes: int, probe_only: bool) -> None:
    engine = create_engine(Settings())
    sessions = create_sessionmaker(engine)
    if probe_only:
        async with sessions() as session:
            found_rows = await session.execute(text("SELECT phash FROM photo_prints"))
            stored = [int(p, 16) for (p,) in found_rows.all()]
    else:
        stored = await seed(sessions, rows)
    rnd = random.Random(22)  # noqa: S311 (made-up hashes, not secrets)
    timings = []
    found = 0
    async with sessions() as session:
        for n in range(probes):
            if n % 2:
                h = rnd.choice(stored)
                for bit in rnd.sample(range(64), 3):
                    h ^= 1 << bit
            else:
                h = rnd.getrandbits(64)
            t0 = time.perf_counter()
            found += len(await photo_reuse.matches(session, district_id=1, phash=f"{h:016x}"))
            timings.append((time.perf_counter() - t0) * 1000)
    timings.sort()
    p95 = timings[int(len(timings) * 0.95)]
    print(
        f"rows={len(stored)} probes={probes} found={found} "
        f"p50={statistics.median(timings):.2f}ms p95={p95:.2f}ms max={timings[-1]:.2f}ms"
    )
    await engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--probes", type=int, default=400)
    parser.add_argument("--probe-only", action="store_true", help="time a database seeded before")
    args = parser.parse_args()
    if not args.probe_only:
        subprocess.run([sys.executable, "-m", "alembic", "upgrade", "head"], check=True)
    asyncio.run(main(args.rows, args.probes, args.probe_only))
