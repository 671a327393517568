"""How fast the reused-photo lookup is at city scale (issue 21: p95 under 20 ms at 1M).

Fills `photo_prints` of a scratch database with N random 64-bit hashes in one
district, then times `photo_reuse.matches` for random probes (half of them near a
stored hash, found by the hash and then by the fine print). Random hashes spread
evenly over the band values, the kindest case; real photos' hashes cluster, which
lengthens the busiest bands.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench_reuse \\
        python -m benchmarks.photo_reuse --rows 1000000
(the database must exist and be empty; the script runs the migrations.
`--probe-only` times a database seeded before, without seeding it again; with
`--hash-only` the probes bring no fine print: the lookup without its second step.)

`--real-photos DIR` instead measures the threshold (`MAX_DISTANCE`) on real camera
photographs, hashed as an upload is (`media.process_image`): each photo against itself
recompressed, resized and both (must match), and against a second view of its scene
(must not): the frame panned by 0.5-5 % and, where DIR holds one, a stereo pair
(`motorcycle_left.png` / `motorcycle_right.png`); by the 64-bit hash and by the fine
check on the candidates it finds (`FINE_LIMIT`). scikit-image's wheel ships such
photos (`skimage/data/`, no network needed); unzip it, no install:

    pip download --no-deps scikit-image -d /tmp/sk
    unzip -q /tmp/sk/*.whl 'skimage/data/*' -d /tmp/sk
    python -m benchmarks.photo_reuse --real-photos /tmp/sk/skimage/data
(findings: docs/DESIGN.md "Reused photos".)
"""

from __future__ import annotations

import argparse
import asyncio
import io
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.config import Settings
from app.core.db import create_engine, create_sessionmaker
from app.services import photo_reuse
from app.services.media import process_image

# Camera photographs among scikit-image's bundled data (the rest are drawings, scans,
# micrographs or single textures).
REAL_PHOTOS = (
    "astronaut.png",
    "coffee.png",
    "chelsea.png",
    "rocket.jpg",
    "camera.png",
    "coins.png",
    "motorcycle_left.png",
    "brick.png",
    "grass.png",
    "gravel.png",
)
STEREO_PAIR = ("motorcycle_left.png", "motorcycle_right.png")
# Every print's photo has this fine print and every probe brings it: a near hash is
# read back and compared too (the second query of a lookup that finds candidates).
FINE = bytes(
    random.Random(23).getrandbits(8)  # noqa: S311 (made up)
    for _ in range(photo_reuse.FINE_EDGE**2)
)


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
                "size, width, height, sha256, phash, fine_print, check_status, created_at) "
                "VALUES (1, 1, 'k', 't', "
                "'image/jpeg', 1, 1, 1, 's', '0000000000000000', :fine, 'pass', now())"
            ),
            {"fine": FINE},
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


async def main(rows: int, probes: int, probe_only: bool, hash_only: bool) -> None:
    engine = create_engine(Settings())
    sessions = create_sessionmaker(engine)
    if probe_only:
        async with sessions() as session:
            found_rows = await session.execute(text("SELECT phash FROM photo_prints"))
            stored = [int(p, 16) for (p,) in found_rows.all()]
    else:
        stored = await seed(sessions, rows)
    rnd = random.Random(22)  # noqa: S311 (made-up hashes, not secrets)
    fine = None if hash_only else FINE
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
            found += len(
                await photo_reuse.matches(session, district_id=1, phash=f"{h:016x}", fine=fine)
            )
            timings.append((time.perf_counter() - t0) * 1000)
    timings.sort()
    p95 = timings[int(len(timings) * 0.95)]
    print(
        f"rows={len(stored)} probes={probes} hash_only={hash_only} found={found} "
        f"p50={statistics.median(timings):.2f}ms p95={p95:.2f}ms max={timings[-1]:.2f}ms"
    )
    await engine.dispose()


def _prints(img: object) -> tuple[int, bytes]:
    """The hash and the fine print, taken as an upload takes them."""
    from PIL import Image

    assert isinstance(img, Image.Image)
    buffer = io.BytesIO()
    img.save(buffer, "PNG")
    processed = process_image(buffer.getvalue(), max_pixels=50_000_000, thumbnail_px=256)
    assert processed.fine_print is not None
    return int(processed.phash, 16), processed.fine_print


def _jpeg(img: object, quality: int) -> object:
    from PIL import Image

    assert isinstance(img, Image.Image)
    buffer = io.BytesIO()
    img.convert("RGB").save(buffer, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def _compare(a: tuple[int, bytes], b: tuple[int, bytes]) -> tuple[int, float, bool]:
    """Hash distance, fine difference, and whether the two are a match by both rules."""
    d = (a[0] ^ b[0]).bit_count()
    fine = photo_reuse.fine_difference(a[1], b[1])
    return d, fine, d <= photo_reuse.MAX_DISTANCE and fine <= photo_reuse.FINE_LIMIT


def calibrate(folder: Path) -> None:
    """Distances on real photos: what must match and what must not, per photo, by the
    64-bit hash alone and with the fine check."""
    from PIL import Image

    def scaled(img: Image.Image, factor: float) -> Image.Image:
        size = (round(img.width * factor), round(img.height * factor))
        return img.resize(size, Image.Resampling.LANCZOS)

    same = {
        "jpeg q85": lambda i: _jpeg(i, 85),
        "jpeg q60": lambda i: _jpeg(i, 60),
        "jpeg q30": lambda i: _jpeg(i, 30),
        "1080 px q80 (chat app)": lambda i: _jpeg(scaled(i, 1080 / max(i.size)), 80),
        "half size": lambda i: scaled(i, 0.5),
        "0.6x q50 twice (forwarded)": lambda i: _jpeg(_jpeg(scaled(i, 0.6), 50), 50),
        "2x q70 (upscaled)": lambda i: _jpeg(scaled(i, 2), 70),
        "brighter 10% q80": lambda i: _jpeg(i.point(lambda v: min(255, int(v * 1.1))), 80),
        "jpeg q15 (harsh)": lambda i: _jpeg(i, 15),
        "0.3x q40 (harsh)": lambda i: _jpeg(scaled(i, 0.3), 40),
    }
    limit, fine_limit = photo_reuse.MAX_DISTANCE, photo_reuse.FINE_LIMIT
    photos = {
        n: Image.open(folder / n).convert("RGB") for n in REAL_PHOTOS if (folder / n).exists()
    }
    prints = {n: _prints(i) for n, i in photos.items()}
    print(f"MAX_DISTANCE={limit} FINE_LIMIT={fine_limit}; {len(photos)} photos")
    print("the same photo (must match): hash bits, 1 - correlation of the fine prints")
    for label, change in same.items():
        d = {n: _compare(prints[n], _prints(change(i))) for n, i in photos.items()}
        missed = [n for n, v in d.items() if not v[2]]
        bits = [v[0] for v in d.values()]
        fine = [v[1] for v in d.values()]
        print(
            f"  {label:28} bits max {max(bits):2} mean {statistics.mean(bits):.1f}"
            f"  fine max {max(fine):.4f}  missed {missed}"
        )
    print("a second view of the scene (should not match):")
    for shift in (0.005, 0.01, 0.02, 0.03, 0.05):
        d = {}
        for n, i in photos.items():
            w, h = i.size
            cw, ch = int(w * 0.9), int(h * 0.9)
            dx, dy = int(w * shift), int(h * shift / 2)
            d[n] = _compare(
                _prints(i.crop((0, 0, cw, ch))), _prints(i.crop((dx, dy, dx + cw, dy + ch)))
            )
        by_hash = [n for n, v in d.items() if v[0] <= limit]
        flagged = [n for n, v in d.items() if v[2]]
        fine = [v[1] for v in d.values()]
        print(
            f"  panned {shift:.1%}: bits min {min(v[0] for v in d.values()):2}"
            f"  fine min {min(fine):.4f}  within the hash {len(by_hash)}/{len(d)}"
            f"  flagged {flagged}"
        )
    left, right = (folder / n for n in STEREO_PAIR)
    if left.exists() and right.exists():
        bits, fine, flagged = _compare(
            _prints(Image.open(left).convert("RGB")), _prints(Image.open(right).convert("RGB"))
        )
        print(f"  stereo pair {STEREO_PAIR}: bits {bits} fine {fine:.4f} flagged {flagged}")
    others = [_compare(prints[a], prints[b]) for a in prints for b in prints if a < b]
    print(
        f"different photos: bits min {min(v[0] for v in others)}"
        f"  fine min {min(v[1] for v in others):.4f} (of {len(others)} pairs)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--probes", type=int, default=400)
    parser.add_argument("--probe-only", action="store_true", help="time a database seeded before")
    parser.add_argument(
        "--hash-only", action="store_true", help="probe without a fine print (the 64-bit rule)"
    )
    parser.add_argument("--real-photos", type=Path, help="measure the threshold on photos in DIR")
    args = parser.parse_args()
    if args.real_photos is not None:
        calibrate(args.real_photos)
        sys.exit(0)
    if not args.probe_only:
        subprocess.run([sys.executable, "-m", "alembic", "upgrade", "head"], check=True)
    asyncio.run(main(args.rows, args.probes, args.probe_only, args.hash_only))
