"""Tiny MP4s made with PyAV (the app's own video library): a few frames, no binaries
kept in the repository."""

from __future__ import annotations

import io
import struct
import tempfile
from pathlib import Path

import av
import numpy as np

# Where and when a phone says the video was shot: what must not survive an upload.
LOCATION = "+39.9042+116.4074/"
SHOT_AT = "2026-01-02T03:04:05Z"


def mp4(
    *,
    codec: str = "libx264",
    frames: int = 5,
    fps: int = 5,
    size: tuple[int, int] = (64, 48),
    audio: bool = True,
    faststart: bool = False,
) -> bytes:
    """An MP4 tagged like a phone's (location, creation time), frames of changing grey."""
    # A file, not a BytesIO: faststart moves the index to the front by reopening it.
    tmp = tempfile.TemporaryDirectory()
    path = Path(tmp.name) / "clip.mp4"
    options = {"movflags": "+faststart"} if faststart else {}
    with tmp, av.open(str(path), "w", format="mp4", options=options) as out:
        out.metadata["location"] = LOCATION
        out.metadata["creation_time"] = SHOT_AT
        video = out.add_stream(codec, rate=fps)
        video.width, video.height = size
        video.pix_fmt = "yuv420p"
        video.metadata["creation_time"] = SHOT_AT
        sound = out.add_stream("aac", rate=8000) if audio else None
        for i in range(frames):
            pixels = np.full((size[1], size[0], 3), (i * 40) % 256, np.uint8)
            out.mux(video.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
        out.mux(video.encode())
        if sound is not None:
            samples = np.zeros((1, 8000 * frames // fps), np.float32)
            frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 8000, 0
            out.mux(sound.encode(frame))
            out.mux(sound.encode())
        out.close()
        return path.read_bytes()


def tags_of(data: bytes) -> dict[str, str]:
    """Every tag of the file: the container's and each stream's."""
    with av.open(io.BytesIO(data)) as c:
        tags = dict(c.metadata)
        for s in c.streams:
            tags |= {f"{s.type}:{k}": v for k, v in s.metadata.items()}
        return tags


def packets_of(data: bytes) -> list[tuple[str, bytes]]:
    """The coded packets (what a re-encode would change), stream type and bytes."""
    with av.open(io.BytesIO(data)) as c:
        return [(p.stream.type, bytes(p)) for p in c.demux() if p.size]


def portrait(data: bytes) -> bytes:
    """`data` (one track, no audio) as a phone stores a portrait video: landscape
    frames and a track matrix that turns them 90° clockwise for display."""
    out = bytearray(data)
    matrix = out.index(b"tkhd") + 4 + 40  # version 0: the matrix after 40 bytes
    out[matrix : matrix + 36] = struct.pack(">9I", 0, 0x10000, 0, 0xFFFF0000, 0, 0, 0, 0, 1 << 30)
    return bytes(out)
