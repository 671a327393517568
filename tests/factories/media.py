"""Photo rows as an upload leaves them, without a file behind them."""

from __future__ import annotations

import itertools

from fastapi import FastAPI

from app.models.media import Media, MediaAttachment, MediaCheckStatus
from app.models.user import User

_serials = itertools.count(1)


async def make_media(
    app: FastAPI,
    uploader: User,
    *,
    sha256: str | None = None,
    phash: str = "0" * 16,
    fine_print: bytes | None = None,
    check_status: MediaCheckStatus = MediaCheckStatus.passed,
) -> Media:
    """A photo row as an upload would leave it (no file behind it: for record tests),
    by default one WeChat's image check has passed."""
    n = next(_serials)
    async with app.state.sessionmaker() as session, session.begin():
        media = Media(
            uploader_id=uploader.id,
            storage_key=f"{n:032x}.jpg",
            thumbnail_key=f"{n:032x}-thumb.jpg",
            content_type="image/jpeg",
            size=1000,
            width=10,
            height=10,
            sha256=sha256 or f"{n:064d}",
            phash=phash,
            fine_print=fine_print,
            check_status=check_status,
        )
        session.add(media)
        return media


async def attach_media(app: FastAPI, record_type: str, record_id: int, media: list[Media]) -> None:
    """Photos on a record, in the order given, as attach_photos leaves them."""
    async with app.state.sessionmaker() as session, session.begin():
        for m in media:
            assert m.id is not None
            session.add(
                MediaAttachment(media_id=m.id, record_type=record_type, record_id=record_id)
            )


async def passed_and_pending(app: FastAPI, uploader: User) -> list[Media]:
    """Two photos of one uploader: one WeChat's check is still on (shown to them alone),
    then one it passed."""
    pending = await make_media(app, uploader, check_status=MediaCheckStatus.pending)
    return [pending, await make_media(app, uploader)]
