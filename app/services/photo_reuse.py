"""Reused photos: a photo on a new visit or report that nearly matches a photo on another
record of the same district marks the new record `possible_reuse` for admins.

The perceptual hash (imagehash pHash, 64 bits) each upload stores changes little when
a photo is recompressed, resized or stripped of metadata, and a lot between two shots
of one street. MAX_DISTANCE is where the two meet (tests/services/test_photo_reuse.py
measures both on generated street-like images; `benchmarks/photo_reuse.py
--real-photos` on real camera photographs, findings in docs/DESIGN.md "Reused photos":
recompressed or resized copies reach 4 bits, so 4 is the least that matches them).
The lookup is multi-index hashing: the hash's five bands are indexed
(with the district) in `photo_prints`; any hash within MAX_DISTANCE shares a whole
band with it (app/models/photo_reuse.py), so a lookup probes each band's value
exactly and checks the whole distance of the few candidates. Its speed at 1M
photos: benchmarks/photo_reuse.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

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
    session: AsyncSession, *, district_id: int, phash: str, exclude: tuple[str, int] | None = None
) -> list[tuple[str, int, int]]:
    """(record type, record id, distance) of the district's prints within MAX_DISTANCE
    of `phash`, nearest first. Plain columns, not ORM rows: a lookup at city scale
    reads a few hundred candidates to keep a handful."""
    probe = or_(
        *(
            and_(col(PhotoPrint.district_id) == district_id, column == band)
            for column, band in zip(_BAND_COLUMNS, bands_of(phash), strict=True)
        )
    )
    rows = await session.execute(
        sa_select(
            col(PhotoPrint.phash), col(PhotoPrint.record_type), col(PhotoPrint.record_id)
        ).where(probe)
    )
    wanted = int(phash, 16)
    out = []
    for other, record_type, record_id in rows.all():
        if exclude is not None and (record_type, record_id) == exclude:
            continue
        d = (int(other, 16) ^ wanted).bit_count()
        if d <= MAX_DISTANCE:
            out.append((record_type, record_id, d))
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
    another record of the district. The same upload on two records is a match too
    (distance 0): a photo taken once stands for one visit or one report."""
    now = utcnow()
    found: dict[tuple[str, int], int] = {}
    for m in media:
        assert m.id is not None
        for other_type, other_id, d in await matches(
            session, district_id=district_id, phash=m.phash, exclude=(record_type, record_id)
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
