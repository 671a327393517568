"""Uploads: photos checked by their bytes, re-encoded without EXIF, stored with a
thumbnail; short videos remuxed without metadata, with a poster (app/services/videos.py).

Phone photos carry GPS in their EXIF (and sometimes XMP): whereabouts of a person,
so nothing of the uploaded metadata survives except the colour profile. The
sha256 of the upload and a perceptual hash are kept so later reports can flag the
same photo used for several records.

Every upload also goes to WeChat's image check (app/services/content_check.py; a
video's poster, WeChat checks no video): until WeChat says `pass`, only the uploader
sees it.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import secrets
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO

import anyio
import anyio.to_thread
import imagehash
from PIL import ExifTags, Image
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select
from starlette.datastructures import UploadFile

from app.core.config import Settings
from app.core.db import utcnow
from app.core.errors import NotFound, PayloadTooLarge, UnsupportedMediaType
from app.core.scope import Caller
from app.core.storage import Storage
from app.core.wechat import WeChatGateway
from app.models.media import Media
from app.services import content_check, photo_reuse, videos
from app.services.photos import can_see_media

logger = logging.getLogger(__name__)

# A thumbnail is stored under its photo's key with this before the extension.
THUMB_SUFFIX = "-thumb"

# Pillow format name -> (content type, file extension, encoder options).
FORMATS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "JPEG": ("image/jpeg", "jpg", {"quality": 88}),
    "PNG": ("image/png", "png", {}),
    "WEBP": ("image/webp", "webp", {"quality": 88}),
}

# Decoding holds a few hundred MB at the pixel cap; a few at a time keeps memory
# bounded and leaves the default worker threads free for everything else.
_image_work = anyio.CapacityLimiter(max(1, min(4, os.cpu_count() or 1)))
# A remux is mostly file IO; two at a time keep a burst of videos from taking every
# worker thread.
_video_work = anyio.CapacityLimiter(2)

# Every extension a stored file may have (the orphan sweep maps a thumbnail's key
# back to its upload's with each).
EXTENSIONS = {ext for _, ext, _ in FORMATS.values()} | {videos.EXTENSION}


@dataclass(frozen=True)
class ProcessedImage:
    format: str
    data: bytes
    thumbnail: bytes
    width: int
    height: int
    sha256: str
    phash: str
    fine_print: bytes | None = None


def _encode(img: Image.Image, fmt: str, icc: bytes | None) -> bytes:
    out = io.BytesIO()
    options = dict(FORMATS[fmt][2])
    if icc:
        options["icc_profile"] = icc
    img.save(out, format=fmt, **options)
    return out.getvalue()


def _bounded(size: tuple[int, int], edge: int) -> tuple[int, int] | None:
    """`size` scaled so its long edge is `edge`, or None when it is within it already."""
    w, h = size
    if edge <= 0 or max(w, h) <= edge:
        return None
    scale = edge / max(w, h)
    return max(1, round(w * scale)), max(1, round(h * scale))


# The hash's 32 x 32 picture is taken from a copy first reduced by a whole factor to
# at least this short edge (a box filter over the decoded pixels, no second decode).
_HASH_SOURCE_EDGE = 256

# EXIF orientation -> the transposition that shows the picture upright (as
# ImageOps.exif_transpose, which applies it to one image; here the same one is
# applied to the stored image, the thumbnail and the hash's grey copy, each made
# from the decoded pixels as they were stored).
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_TURNED = {Image.Transpose.TRANSPOSE, Image.Transpose.TRANSVERSE}
_TURNED |= {Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_270}


def _upright_method(img: Image.Image) -> Image.Transpose | None:
    return _UPRIGHT.get(img.getexif().get(ExifTags.Base.Orientation, 1))


def _turned(img: Image.Image, method: Image.Transpose | None) -> Image.Image:
    return img.transpose(method) if method is not None else img


def _hash_source(img: Image.Image, method: Image.Transpose | None) -> Image.Image:
    """The upright grey picture the hash and the fine print are taken from: reduced
    by a whole factor and converted before it is turned upright (the fewest pixels
    are moved)."""
    factor = min(img.size) // _HASH_SOURCE_EDGE
    small = img.reduce(factor) if factor > 1 else img
    return _turned(small.convert("L"), method)


def perceptual_prints(img: Image.Image) -> tuple[str, bytes]:
    """The perceptual hash and the fine print (photo_reuse.fine_print: 48 x 48 grey,
    resized from the same reduced copy, well under a millisecond more)."""
    grey = _hash_source(img, _upright_method(img))
    return str(imagehash.phash(grey)), photo_reuse.fine_print(grey)


def perceptual_hash(img: Image.Image) -> str:
    """imagehash's DCT hash of the upright picture, as 16 hex digits.

    Not of the full-size pixels: imagehash scales to 32 x 32 with LANCZOS, whose
    window at 12 MP is ~250 source pixels wide, 70 ms of an upload's CPU; reduced
    first by a whole factor (box filter, then LANCZOS from ~370 x 280), 19 ms. On
    eight real photographs made 12 MP phone JPEGs (docs/PERFORMANCE.md "Photo
    uploads") the two hashes are equal in seven and 2 bits apart in the eighth, a
    mostly black picture: hashes stored before this change still match
    (photo_reuse.MAX_DISTANCE)."""
    return str(imagehash.phash(_hash_source(img, _upright_method(img))))


@dataclass(frozen=True)
class _Aside:
    phash: str
    fine_print: bytes
    thumbnail: bytes | None
    sha256: str


def _aside(
    raw: bytes,
    img: Image.Image,
    method: Image.Transpose | None,
    thumb_size: tuple[int, int] | None,
    fmt: str,
    icc: bytes | None,
) -> _Aside:
    """What an upload needs besides the stored image, none of it made from it: the
    hashes and the thumbnail, each from the decoded pixels (only read here), then
    turned upright. `thumb_size` is in the decoded picture's orientation (None: the
    caller makes the thumbnail)."""
    grey = _hash_source(img, method)
    thumbnail = None
    if thumb_size is not None:
        thumb = _turned(img.resize(thumb_size, Image.Resampling.BICUBIC, reducing_gap=2.0), method)
        thumb.info = {}
        thumbnail = _encode(thumb, fmt, icc)
    return _Aside(
        phash=str(imagehash.phash(grey)),
        fine_print=photo_reuse.fine_print(grey),
        thumbnail=thumbnail,
        sha256=hashlib.sha256(raw).hexdigest(),
    )


def _give_way() -> None:
    """An aside thread gives way to the event loop when the cores are busy: the
    second core it takes is the one other requests were answered on (/healthz p99
    37 -> 46 ms in the benchmark without this). Niceness +5 for this thread alone
    (Linux sets it per thread); lowering one's own priority is always allowed."""
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 5)


# One photo's work in two threads: the stored image (turned upright and re-encoded,
# the longest part) in the caller's, the hashes and the thumbnail here. Pillow,
# libjpeg and hashlib release the GIL, so on an idle core an upload takes the time
# of its longer half; on busy cores it costs the same CPU as in one thread. As many
# as photos processed at once (_image_work).
_aside_pool = ThreadPoolExecutor(
    max_workers=int(_image_work.total_tokens),
    thread_name_prefix="photo-aside",
    initializer=_give_way,
)


def process_image(
    raw: bytes, *, max_pixels: int, thumbnail_px: int, max_edge: int = 0
) -> ProcessedImage:
    """Blocking (Pillow): run in a worker thread.

    Where the time goes at 12 MP (benchmarks/photo_uploads.py): decoding, turning
    upright, encoding; so every pixel is touched as few times as it can be (no
    full-size copy: the thumbnail and the hash's grey copy are reduced from the
    decoded pixels, with `max_edge` the photo is scaled before it is turned), and
    what does not need the stored image is made beside it (`_aside`)."""
    try:
        img = Image.open(io.BytesIO(raw), formats=list(FORMATS))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise PayloadTooLarge("file_too_large", "照片像素过多") from exc
    except Exception as exc:
        raise UnsupportedMediaType(
            "unsupported_media_type", "只能上传 JPEG、PNG 或 WebP 照片"
        ) from exc
    with img:
        # Phone cameras write multi-picture JPEGs (MPO: the photo, then pictures from
        # another lens or a depth map); the photo is the JPEG the file starts with,
        # the frame Pillow opens it at, and it is stored as that JPEG alone.
        fmt = "JPEG" if img.format == "MPO" else img.format or ""
        width, height = img.size
        # Image.open has read the header only: refuse bombs before any pixel is decoded.
        if width * height > max_pixels:
            raise PayloadTooLarge("file_too_large", "照片像素过多")
        try:
            img.load()
            icc = img.info.get("icc_profile")
            method = _upright_method(img)
            scaled = _bounded(img.size, max_edge)
            # Upright, the stored image's size and its thumbnail's.
            stored_size = scaled or img.size
            if method in _TURNED:
                stored_size = stored_size[::-1]
            thumb_size = _bounded(stored_size, thumbnail_px)
            # The thumbnail beside the re-encode, from the decoded pixels (sizes in
            # their orientation); from the stored image when it is scaled down
            # (MEDIA_PHOTO_MAX_EDGE: fewer pixels to read than the upload's).
            aside_thumb = None
            if thumb_size is not None and not scaled:
                aside_thumb = thumb_size[::-1] if method in _TURNED else thumb_size
            # Of the whole upright picture as uploaded: a photo stored scaled down
            # still matches one stored before (app/services/photo_reuse.py).
            aside = _aside_pool.submit(_aside, raw, img, method, aside_thumb, fmt, icc)
            thumbnail: bytes | None = None
            try:
                stored: Image.Image = img
                if scaled:
                    stored = img.resize(scaled, Image.Resampling.LANCZOS, reducing_gap=3.0)
                # Scaled first, turned after: fewer pixels to move. A new image:
                # `img` is being read beside this.
                stored = _turned(stored, method)
                # Whatever metadata the file carried (EXIF, XMP, text chunks) stays
                # behind (`_aside` reads no metadata: it was given the orientation).
                stored.info = {}
                data = _encode(stored, fmt, icc)
                if thumb_size is None:
                    # Within the thumbnail's size: the same encoding of the same image.
                    thumbnail = data
                elif scaled:
                    thumb = stored.resize(thumb_size, Image.Resampling.BICUBIC, reducing_gap=2.0)
                    thumbnail = _encode(thumb, fmt, icc)
            except BaseException:
                # Never close the image while the other half still reads it.
                wait([aside])
                raise
            side = aside.result()
            thumbnail = side.thumbnail or thumbnail
            assert thumbnail is not None  # made above or beside
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise PayloadTooLarge("file_too_large", "照片像素过多") from exc
        except Exception as exc:
            # Truncated or malformed files fail in many ways inside the decoders.
            raise UnsupportedMediaType("unsupported_media_type", "无法读取这张照片") from exc
        return ProcessedImage(
            format=fmt,
            data=data,
            thumbnail=thumbnail,
            width=stored.width,
            height=stored.height,
            sha256=side.sha256,
            phash=side.phash,
            fine_print=side.fine_print,
        )


async def store_photo(storage: Storage, *, uploader_id: int, image: ProcessedImage) -> Media:
    """A processed photo's files written, and its row (not yet added to a session):
    for an upload, and for the demo's photos (app/devtools)."""
    content_type, ext, _ = FORMATS[image.format]
    # Random, never derived from the file name or the uploader: keys cannot be guessed.
    token = secrets.token_hex(16)
    media = Media(
        uploader_id=uploader_id,
        storage_key=f"{token}.{ext}",
        thumbnail_key=f"{token}{THUMB_SUFFIX}.{ext}",
        content_type=content_type,
        size=len(image.data),
        width=image.width,
        height=image.height,
        sha256=image.sha256,
        phash=image.phash,
        fine_print=image.fine_print,
    )
    await storage.put(media.storage_key, image.data, content_type)
    await storage.put(media.thumbnail_key, image.thumbnail, content_type)
    return media


async def upload_photo(
    session: AsyncSession,
    *,
    caller: Caller,
    storage: Storage,
    settings: Settings,
    wechat: WeChatGateway,
    raw: bytes,
) -> Media:
    """Store an uploaded photo and submit it to WeChat's image check. `size`, `width`
    and `height` describe the stored image (what GET serves); `sha256` identifies the
    bytes as uploaded. A check WeChat does not take now leaves the photo pending for
    a later try; the upload itself succeeds."""
    if len(raw) > settings.media_max_bytes:
        raise PayloadTooLarge(
            "file_too_large", f"照片不能超过 {settings.media_max_bytes / 1024 / 1024:g} MB"
        )
    # Nothing is written yet: end the transaction that loaded the caller so its
    # connection (and on SQLite the write lock) goes back while the image is decoded,
    # stored and sent to WeChat; a burst of uploads would otherwise hold the whole pool.
    await session.commit()
    image = await anyio.to_thread.run_sync(
        partial(
            process_image,
            raw,
            max_pixels=settings.media_max_pixels,
            thumbnail_px=settings.media_thumbnail_px,
            max_edge=settings.media_photo_max_edge,
        ),
        limiter=_image_work,
    )
    media = await store_photo(storage, uploader_id=caller.id, image=image)
    # Submitted before the row is written: no database lock is held while WeChat answers.
    await content_check.start_media_check(
        content_check.media_checker(settings, wechat),
        storage,
        media=media,
        openid=caller.user.openid,
        now=utcnow(),
    )
    session.add(media)
    await session.flush()
    return media


async def upload_media(
    session: AsyncSession,
    *,
    caller: Caller,
    storage: Storage,
    settings: Settings,
    wechat: WeChatGateway,
    file: UploadFile,
) -> Media:
    """A photo or a short video, told apart by the bytes (never the file's name or
    the part's content type)."""
    head = await file.read(12)
    await file.seek(0)
    if videos.is_video(head):
        return await upload_video(
            session, caller=caller, storage=storage, settings=settings, wechat=wechat, file=file
        )
    # One byte past the cap is enough to know it is too large.
    raw = await file.read(settings.media_max_bytes + 1)
    return await upload_photo(
        session, caller=caller, storage=storage, settings=settings, wechat=wechat, raw=raw
    )


def _remux(
    src: BinaryIO, max_seconds: float, thumbnail_px: int
) -> tuple[videos.ProcessedVideo, BinaryIO]:
    """Blocking: the checked, remuxed video in a temporary file (the caller closes it)."""
    dst = tempfile.TemporaryFile()  # noqa: SIM115 (handed to the caller)
    try:
        return videos.process_video(
            src, dst, max_seconds=max_seconds, thumbnail_px=thumbnail_px
        ), dst
    except BaseException:
        dst.close()
        raise


async def store_video(
    storage: Storage, *, uploader_id: int, src: BinaryIO, max_seconds: float, thumbnail_px: int
) -> Media:
    """Check and remux `src` (an MP4 in a seekable file) into storage without its
    metadata, with its poster as the thumbnail: the Media row, not yet added."""
    video, remuxed = await anyio.to_thread.run_sync(
        partial(_remux, src, max_seconds, thumbnail_px), limiter=_video_work
    )
    try:
        token = secrets.token_hex(16)
        media = Media(
            uploader_id=uploader_id,
            storage_key=f"{token}.{videos.EXTENSION}",
            thumbnail_key=f"{token}{THUMB_SUFFIX}.{videos.POSTER_EXTENSION}",
            content_type=videos.CONTENT_TYPE,
            size=video.size,
            width=video.width,
            height=video.height,
            duration_s=video.duration_s,
            sha256=video.sha256,
            phash=video.phash,
        )
        await storage.put_file(media.storage_key, remuxed, videos.CONTENT_TYPE)
    finally:
        await anyio.to_thread.run_sync(remuxed.close)
    await storage.put(media.thumbnail_key, video.poster, videos.POSTER_CONTENT_TYPE)
    return media


async def upload_video(
    session: AsyncSession,
    *,
    caller: Caller,
    storage: Storage,
    settings: Settings,
    wechat: WeChatGateway,
    file: UploadFile,
) -> Media:
    """Store an uploaded MP4 without its metadata, its poster as the thumbnail, and
    submit the poster to WeChat's image check. Streamed from the upload's spooled
    file to a remuxed temporary file to storage: never held whole in memory."""
    size = (
        file.size
        if file.size is not None
        else await anyio.to_thread.run_sync(lambda: file.file.seek(0, io.SEEK_END))
    )
    videos.check_size(size, settings.media_video_max_bytes)
    await session.commit()  # no connection held meanwhile (see upload_photo)
    await file.seek(0)
    media = await store_video(
        storage,
        uploader_id=caller.id,
        src=file.file,
        max_seconds=settings.media_video_max_seconds,
        thumbnail_px=settings.media_thumbnail_px,
    )
    await content_check.start_media_check(
        content_check.media_checker(settings, wechat),
        storage,
        media=media,
        openid=caller.user.openid,
        now=utcnow(),
    )
    session.add(media)
    await session.flush()
    return media


def thumbnail_type(media: Media) -> str:
    """A photo's thumbnail is of its own format; a video's is its JPEG poster."""
    if media.content_type == videos.CONTENT_TYPE:
        return videos.POSTER_CONTENT_TYPE
    return media.content_type


async def get_visible_media(session: AsyncSession, caller: Caller, media_id: int) -> Media:
    media = await session.get(Media, media_id)
    if media is None or not await can_see_media(session, caller, media):
        raise NotFound()
    return media


async def locate(
    storage: Storage, settings: Settings, media: Media, *, thumbnail: bool
) -> str | Path:
    key = media.thumbnail_key if thumbnail else media.storage_key
    target = await storage.locate(key, ttl_s=settings.media_url_ttl_s)
    if isinstance(target, Path) and not await anyio.Path(target).exists():
        # A row whose file is gone (a lost disk, a restore without the media folder):
        # the photo is missing for the reader, not a server error.
        logger.warning("photo %s has no file %s", media.id, key)
        raise NotFound()
    return target


# A photo's files are stored before its row is written, in the same request. A
# request that fails after storing them (the database gone, the commit failing, the
# process killed) leaves files no row names, which nobody can see or ever delete:
# personal data kept for nothing. A day after they were written no request can still
# be about to name them.
ORPHAN_GRACE = timedelta(days=1)


async def sweep_orphan_files(
    *, sessionmaker: async_sessionmaker[AsyncSession], storage: Storage, now: datetime
) -> int:
    """Daily: delete stored files, written more than ORPHAN_GRACE ago, that no media
    row names. Safe to run twice at once: a file already gone is no error."""
    removed = 0
    async for keys in storage.stored_before(now - ORPHAN_GRACE):
        # A thumbnail's key is its upload's with THUMB_SUFFIX and maybe another
        # extension (a video's poster): one lookup on the unique storage_key finds
        # the rows of both.
        photos = set(keys)
        for key in keys:
            if THUMB_SUFFIX + "." in key:
                token = key.split(THUMB_SUFFIX + ".", 1)[0]
                photos.update(f"{token}.{ext}" for ext in EXTENSIONS)
        async with sessionmaker() as session:
            rows = await session.execute(
                select(Media.storage_key, Media.thumbnail_key).where(
                    col(Media.storage_key).in_(photos)
                )
            )
            named = {key for row in rows for key in row}
        for key in keys:
            if key not in named:
                await storage.delete(key)
                removed += 1
    if removed:
        logger.info("removed %d stored photo files that no media row names", removed)
    return removed
