"""Short videos: MP4 (H.264 video, AAC audio) remuxed without metadata, with a poster.

Phone videos carry where and when they were shot (the container's `location` and
`creation_time`, Apple's metadata tracks) and the device. The upload is remuxed with
PyAV (FFmpeg's libraries, bundled in its wheel: no system package to install):
only the video and audio tracks are copied, packet for packet, into a fresh MP4
that carries none of the source's tags. Nothing is re-encoded, so a 100 MiB video
costs a read and a write, not minutes of CPU.

Everything here blocks (FFmpeg, file IO): the caller runs it in a worker thread.
The upload is read from its spooled temporary file and the remux written to
another one: neither is ever held whole in memory.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from typing import Any, BinaryIO

import av
import imagehash

from app.core.errors import PayloadTooLarge, Unprocessable, UnsupportedMediaType

CONTENT_TYPE = "video/mp4"
EXTENSION = "mp4"
POSTER_CONTENT_TYPE = "image/jpeg"
POSTER_EXTENSION = "jpg"

# The poster is the frame this far in (or the middle of a shorter video): the very
# first frame of a phone video is often dark or blurred.
POSTER_AT_S = 1.0
_CHUNK = 1024 * 1024


def is_video(head: bytes) -> bool:
    """ISO base media files (MP4, and QuickTime from phones) start with an `ftyp` box."""
    return head[4:8] == b"ftyp"


@dataclass(frozen=True)
class ProcessedVideo:
    width: int
    height: int
    duration_s: float
    sha256: str
    size: int  # of the remuxed file
    poster: bytes  # JPEG
    phash: str  # of the poster: a reused video matches like a reused photo


def _unsupported(detail: str = "只能上传 H.264/AAC 编码的 MP4 视频") -> UnsupportedMediaType:
    return UnsupportedMediaType("unsupported_media_type", detail)


def _damaged() -> Unprocessable:
    return Unprocessable("invalid_video", "视频文件不完整或已损坏")


def _sha256(src: BinaryIO) -> str:
    h = hashlib.sha256()
    src.seek(0)
    while chunk := src.read(_CHUNK):
        h.update(chunk)
    src.seek(0)
    return h.hexdigest()


def _poster(frame: av.VideoFrame, thumbnail_px: int) -> tuple[bytes, str, int]:
    """The frame as a JPEG, upright, its perceptual hash, and the rotation applied."""
    img = frame.to_image()
    # Phones record a portrait video as landscape frames and a display matrix
    # saying how to turn them (degrees counterclockwise, as PIL's rotate takes them).
    rotation = int(frame.rotation or 0)
    if rotation:
        img = img.rotate(rotation, expand=True)
    img.thumbnail((thumbnail_px, thumbnail_px))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=85)
    return out.getvalue(), str(imagehash.phash(img)), rotation


def process_video(
    src: BinaryIO, dst: BinaryIO, *, max_seconds: float, thumbnail_px: int
) -> ProcessedVideo:
    """Check `src` (an upload's file), remux its video and audio into `dst` (a
    writable, seekable file) and take its poster. Blocking: run in a worker thread."""
    if not is_video(src.read(12)):
        raise _unsupported()
    sha256 = _sha256(src)
    try:
        container = av.open(src, mode="r")
    except av.FFmpegError as exc:
        # An `ftyp` box and nothing readable after it: cut off, or not really MP4.
        raise _damaged() from exc
    with container:
        if "mp4" not in container.format.name:
            raise _unsupported()
        videos, audios = list(container.streams.video), list(container.streams.audio)
        if len(videos) != 1 or len(audios) > 1:
            raise _unsupported("视频须有且只有一条画面轨道、至多一条声音轨道")
        video = videos[0]
        if video.codec_context.name != "h264" or any(a.codec_context.name != "aac" for a in audios):
            raise _unsupported()
        duration_s = _duration_s(container, video)
        if duration_s is None or not video.width or not video.height:
            raise _damaged()
        if duration_s > max_seconds:
            raise Unprocessable("video_too_long", f"视频不能超过 {max_seconds:g} 秒")
        kept = [video, *audios]
        poster_at = min(POSTER_AT_S, duration_s / 2)
        poster: tuple[bytes, str, int] | None = None
        counts = dict.fromkeys((s.index for s in kept), 0)
        try:
            # No tags are copied: the new container starts empty, and streams made
            # from a template take the codec parameters only (rotation included).
            with av.open(dst, mode="w", format="mp4") as out:
                streams = {s.index: out.add_stream_from_template(s) for s in kept}
                for packet in container.demux(kept):
                    if packet.dts is None:
                        continue  # the demuxer's empty packet at the end of a stream
                    counts[packet.stream.index] += 1
                    if poster is None and packet.stream is video:
                        for frame in video.codec_context.decode(packet):
                            if frame.time is not None and frame.time >= poster_at:
                                poster = _poster(frame, thumbnail_px)
                                break
                    packet.stream = streams[packet.stream.index]
                    out.mux(packet)
                if poster is None:
                    # Shorter than its poster time after all: the last frame.
                    for frame in video.codec_context.decode(None):
                        poster = _poster(frame, thumbnail_px)
        except av.FFmpegError as exc:
            raise _damaged() from exc
        # A file cut off inside its media data still opens (its index comes first):
        # fewer packets than its index lists is a truncated upload.
        if poster is None or any(s.frames and counts[s.index] < s.frames for s in kept):
            raise _damaged()
        width, height = video.width, video.height
        if poster[2] % 180:
            # Described as it is shown (the remux keeps the display matrix).
            width, height = height, width
    size = dst.seek(0, io.SEEK_END)
    dst.seek(0)
    return ProcessedVideo(
        width=width,
        height=height,
        duration_s=duration_s,
        sha256=sha256,
        size=size,
        poster=poster[0],
        phash=poster[1],
    )


def _duration_s(container: Any, video: Any) -> float | None:
    if video.duration is not None and video.time_base is not None:
        return float(video.duration * video.time_base)
    if container.duration is not None:
        return float(container.duration / av.time_base)
    return None


def check_size(size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise PayloadTooLarge("file_too_large", f"视频不能超过 {max_bytes / 1024 / 1024:g} MB")


def read_duration_s(src: str | BinaryIO) -> float | None:
    """The length of a stored video (a path or a file), read as at upload, or None when
    PyAV cannot read one. Blocking: run in a worker thread."""
    try:
        with av.open(src, mode="r") as container:
            if not container.streams.video:
                return None
            return _duration_s(container, container.streams.video[0])
    except av.FFmpegError:
        return None
