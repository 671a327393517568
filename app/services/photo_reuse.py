"""Reused photos: a photo on a new visit or report that nearly matches a photo on another
record of the same district marks the new record `possible_reuse` for admins.

The perceptual hash (imagehash pHash, 64 bits) each upload stores changes little when
a photo is recompressed, resized or stripped of metadata, and a lot between two shots
of one street. MAX_DISTANCE is where the two meet (tests/services/test_photo_reuse.py
measures both on generated street-like images; `benchmarks/photo_reuse.py
--real-photos` on real camera photographs, findings in docs/DESIGN.md "Reused photos":
recompressed or resized copies reach 4 bits, so 4 is the least that matches them).
Within 4 bits are also retakes from the same spot with the frame a few percent off
(and a stereo pair), so a candidate the hash finds is a match only when the photos'
48 x 48 grey pictures (`fine_print`, kept on the media row) agree too: a copy is the
same frame, pixel for pixel at that size, a retake is not (FINE_LIMIT). Photos
without one (uploaded before it was kept, video posters) keep the hash's rule alone.
The lookup is multi-index hashing: the hash's five bands are indexed
(with the district) in `photo_prints`; any hash within MAX_DISTANCE shares a whole
band with it (app/models/photo_reuse.py), so a lookup probes each band's value
exactly and checks the whole distance of the few candidates. Its speed at 1M
photos: benchmarks/photo_reuse.py.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable, Sequence

from PIL import Image
from sqlalchemy import and_, or_
from sqlalchemy import select as sa_select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.core.db import dialect_insert, table_of, utcnow
from app.models.media import Media
from app.models.photo_reuse import BAND_WIDTHS, BANDS, PhotoPrint, PossibleReuse, ReuseRef

_BAND_COLUMNS = [col(getattr(PhotoPrint, f"b{i}")) for i in range(BANDS)]

# Exact band probes find every match up to BANDS - 1 bits (pigeonhole).
MAX_DISTANCE = 4
assert MAX_DISTANCE < BANDS

# The fine check: the grey picture the hash is taken from, scaled to FINE_EDGE x
# FINE_EDGE, compared by correlation at the same position (no alignment: a copy is
# the same frame; being off by a fraction of a pixel is what a retake is). On real
# photographs, as an upload takes them (docs/DESIGN.md "Reused photos"), 1 -
# correlation is at most 0.0013 for copies as phones and chat apps make them and
# 0.0047 for the harshest (JPEG quality 15; 0.3x at quality 40); at least 0.024 for
# the frame panned by 1 %, 0.32 for the stereo pair, 0.77 for different photos.
# 0.01 (a correlation of 0.99) sits between the harshest copy and the nearest
# retake with a factor of two to each.
FINE_EDGE = 48
FINE_LIMIT = 0.01


def fine_print(grey: Image.Image) -> bytes:
    """The grey ("L") upright picture as FINE_EDGE x FINE_EDGE bytes, row by row."""
    assert grey.mode == "L"
    return grey.resize((FINE_EDGE, FINE_EDGE), Image.Resampling.LANCZOS).tobytes()


def fine_difference(a: bytes, b: bytes) -> float:
    """1 - the correlation of two fine prints: 0 for the same picture (also brighter
    or with more contrast), 1 for unrelated ones. A flat picture (one grey) has no
    correlation: 0, the hash's rule decides alone. Exact integer sums: 2,304 pixels
    take about a millisecond, and only candidates within MAX_DISTANCE are compared."""
    n = len(a)
    if n != len(b) or n == 0:
        return 0.0
    sa, sb = sum(a), sum(b)
    var_a = n * sum(map(operator.mul, a, a)) - sa * sa
    var_b = n * sum(map(operator.mul, b, b)) - sb * sb
    if var_a == 0 or var_b == 0:
        return 0.0
    cov = n * sum(map(operator.mul, a, b)) - sa * sb
    return 1.0 - cov / math.sqrt(var_a * var_b)


def bands_of(phash: str) -> list[int]:
    """The hash's bands, high bits first."""
    value, out, shift = int(phash, 16), [], 64
    for width in BAND_WIDTHS:
        shift -= width
        out.append((value >> shift) & ((1 << width) - 1))
    return out


def distance(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


async def matches(
    session: AsyncSession,
    *,
    district_id: int,
    phash: str,
    fine: bytes | None = None,
    exclude: tuple[str, int] | None = None,
) -> list[tuple[str, int, int]]:
    """(record type, record id, distance) of the district's prints within MAX_DISTANCE
    of `phash` whose photos' fine prints, where both have one, are within FINE_LIMIT
    of `fine`; nearest first. Plain columns, not ORM rows: a lookup at city scale
    reads a few hundred candidates to keep a handful; only those few have their fine
    prints read (one more query, by primary key)."""
    probe = or_(
        *(
            and_(col(PhotoPrint.district_id) == district_id, column == band)
            for column, band in zip(_BAND_COLUMNS, bands_of(phash), strict=True)
        )
    )
    rows = await session.execute(
        sa_select(
            col(PhotoPrint.phash),
            col(PhotoPrint.record_type),
            col(PhotoPrint.record_id),
            col(PhotoPrint.media_id),
        ).where(probe)
    )
    wanted = int(phash, 16)
    near = []
    for other, record_type, record_id, media_id in rows.all():
        if exclude is not None and (record_type, record_id) == exclude:
            continue
        d = (int(other, 16) ^ wanted).bit_count()
        if d <= MAX_DISTANCE:
            near.append((record_type, record_id, d, media_id))
    prints: dict[int, bytes | None] = {}
    if fine is not None and near:
        found = await session.execute(
            sa_select(col(Media.id), col(Media.fine_print)).where(
                col(Media.id).in_({m[3] for m in near})
            )
        )
        prints = {media_id: other_fine for media_id, other_fine in found.all() if media_id}
    out = [
        (record_type, record_id, d)
        for record_type, record_id, d, media_id in near
        if fine is None
        or (other_fine := prints.get(media_id)) is None
        or fine_difference(fine, other_fine) <= FINE_LIMIT
    ]
    return sorted(out, key=lambda m: (m[2], m[0], m[1]))


async def fingerprint(
    session: AsyncSession,
    *,
    media: Sequence[Media],
    record_type: str,
    record_id: int,
    district_id: int,
) -> None:
    """Print the record's photos and mark the record if any nearly matches a photo on
    another record of the district (MAX_DISTANCE, then FINE_LIMIT). The same upload on
    two records is a match too (distance 0): a photo taken once stands for one visit
    or one report."""
    now = utcnow()
    found: dict[tuple[str, int], int] = {}
    for m in media:
        assert m.id is not None
        for other_type, other_id, d in await matches(
            session,
            district_id=district_id,
            phash=m.phash,
            fine=m.fine_print,
            exclude=(record_type, record_id),
        ):
            key = (other_type, other_id)
            found[key] = min(d, found.get(key, d))
    for m in media:
        b = bands_of(m.phash)
        await session.execute(
            dialect_insert(session, table_of(PhotoPrint))
            .values(
                media_id=m.id,
                record_type=record_type,
                record_id=record_id,
                district_id=district_id,
                phash=m.phash,
                b0=b[0],
                b1=b[1],
                b2=b[2],
                b3=b[3],
                b4=b[4],
                created_at=now,
            )
            .on_conflict_do_nothing()
        )
    for (other_type, other_id), d in found.items():
        await session.execute(
            dialect_insert(session, table_of(PossibleReuse))
            .values(
                record_type=record_type,
                record_id=record_id,
                other_record_type=other_type,
                other_record_id=other_id,
                distance=d,
                created_at=now,
            )
            .on_conflict_do_nothing()
        )


async def reuses_of(
    session: AsyncSession, record_type: str, record_ids: Iterable[int | None]
) -> dict[int, list[ReuseRef]]:
    ids = {i for i in record_ids if i is not None}
    out: dict[int, list[ReuseRef]] = {}
    if not ids:
        return out
    rows = await session.execute(
        select(PossibleReuse)
        .where(PossibleReuse.record_type == record_type, col(PossibleReuse.record_id).in_(ids))
        .order_by(col(PossibleReuse.distance), col(PossibleReuse.id))
    )
    for r in rows.scalars():
        out.setdefault(r.record_id, []).append(
            ReuseRef(
                record_type=r.other_record_type, record_id=r.other_record_id, distance=r.distance
            )
        )
    return out
