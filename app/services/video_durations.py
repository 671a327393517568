"""Filling `media.duration_s` for videos stored before the column existed (migration
a7c41e9d2b15 left them NULL): `python -m app.cli backfill-video-durations`.

Each stored file is read back through the storage interface (a local file is opened
where it lies; from S3 the object is fetched, one at a time, so at most one video,
MEDIA_VIDEO_MAX_BYTES, is held in memory) and measured with PyAV in a worker thread,
the very reading the upload does (app/services/videos.py). Rows are taken in batches
by id, each batch read in a short transaction and written in another; the write is
`UPDATE … WHERE id = :id AND duration_s IS NULL`, so running it twice, or next to
uploads that set the value themselves, never overwrites a length already there.
A file missing from storage or unreadable is left NULL and counted, never fatal.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

import anyio
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select

from app.core.db import write_transaction
from app.core.storage import Storage
from app.models.media import Media
from app.services.videos import read_duration_s

log = logging.getLogger(__name__)

BATCH = 100


async def _measure(storage: Storage, key: str) -> float | None:
    where = await storage.locate(key, ttl_s=600)
    if isinstance(where, Path):
        if not where.is_file():
            # Told apart from a file PyAV cannot read: one lost is not one damaged.
            raise FileNotFoundError(key)
        return await anyio.to_thread.run_sync(read_duration_s, str(where))
    data = await storage.get(key)
    return await anyio.to_thread.run_sync(read_duration_s, io.BytesIO(data))


async def backfill_video_durations(
    sessionmaker: async_sessionmaker[AsyncSession], storage: Storage, *, batch: int = BATCH
) -> dict[str, int]:
    """Measure every video whose `duration_s` is NULL; returns how many were filled,
    found already filled meanwhile, missing from storage, or unreadable."""
    done = {"filled": 0, "already_filled": 0, "missing": 0, "unreadable": 0}
    after = 0
    while True:
        async with sessionmaker() as session:
            rows = (
                await session.execute(
                    select(Media.id, Media.storage_key)
                    .where(
                        col(Media.content_type).like("video/%"),
                        col(Media.duration_s).is_(None),
                        col(Media.id) > after,
                    )
                    .order_by(col(Media.id))
                    .limit(batch)
                )
            ).all()
        if not rows:
            return done
        after = rows[-1][0]
        measured: list[tuple[int, float]] = []
        for media_id, key in rows:
            try:
                seconds = await _measure(storage, key)
            except Exception as exc:  # a missing or unreachable file: skip it, go on
                log.warning("video %s not read from storage: %s", media_id, type(exc).__name__)
                done["missing"] += 1
                continue
            if seconds is None:
                log.warning("video %s has no readable duration", media_id)
                done["unreadable"] += 1
                continue
            measured.append((media_id, seconds))
        if measured:
            async with write_transaction(sessionmaker) as session:
                for media_id, seconds in measured:
                    result = await session.execute(
                        update(Media)
                        .where(col(Media.id) == media_id, col(Media.duration_s).is_(None))
                        .values(duration_s=seconds)
                    )
                    filled = result.rowcount == 1  # type: ignore[attr-defined]
                    done["filled" if filled else "already_filled"] += 1
