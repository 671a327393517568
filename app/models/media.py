from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

from app.core.db import UTCDateTime
from app.models.common import NEVER_REUSED_IDS, created_at_field


class MediaCheckStatus(StrEnum):
    """Where a photo stands in WeChat's image check (media_check_async v2).

    Only `pass` photos are shown to anyone but their uploader: `pending` waits for
    the verdict, `risky` is hidden for good, `review` (WeChat's "a person should
    look") stays hidden too, since nobody here moderates photos.
    """

    pending = "pending"
    passed = "pass"
    risky = "risky"
    review = "review"


_CHECK_STATUSES = ", ".join(f"'{s.value}'" for s in MediaCheckStatus)


class Media(SQLModel, table=True):
    """An uploaded photo, re-encoded without EXIF, with its thumbnail."""

    __tablename__ = "media"
    __table_args__ = (
        CheckConstraint(f"check_status IN ({_CHECK_STATUSES})", name="check_status"),
        NEVER_REUSED_IDS,
    )

    id: int | None = Field(default=None, primary_key=True)
    uploader_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("users.id", ondelete="RESTRICT"), nullable=False, index=True
        )
    )
    storage_key: str = Field(sa_column=Column(String(200), nullable=False, unique=True))
    thumbnail_key: str = Field(sa_column=Column(String(200), nullable=False))
    # Long enough for the Office types (app/services/documents.py).
    content_type: str = Field(sa_column=Column(String(100), nullable=False))
    size: int = Field(sa_column=Column(Integer, nullable=False))
    width: int = Field(sa_column=Column(Integer, nullable=False))
    height: int = Field(sa_column=Column(Integer, nullable=False))
    # A video's length as PyAV read it at upload (app/services/videos.py), the very
    # value its duration limit was checked against; None for photos and documents.
    duration_s: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    # Of the bytes as uploaded: the same file sent again is the same photo.
    sha256: str = Field(sa_column=Column(String(64), nullable=False, index=True))
    # Perceptual hash (imagehash.phash, 16 hex digits): the same picture re-saved
    # or resized still matches, a cheap signal of reused photos.
    phash: str = Field(sa_column=Column(String(16), nullable=False, index=True))
    # The picture the hash is taken from, 48 x 48 grey (2,304 bytes,
    # app/services/photo_reuse.fine_print): tells a copy of a photo from a retake a
    # few percent off, which the 64-bit hash cannot. None for documents, videos and
    # photos uploaded before it was kept: those are compared by the hash alone.
    fine_print: bytes | None = Field(
        default=None, sa_column=Column(LargeBinary, nullable=True), repr=False
    )
    # The WeChat image check (app/services/content_check.py). A photo nobody decided
    # on is hidden: the default is `pending`, never `pass`.
    check_status: MediaCheckStatus = Field(
        default=MediaCheckStatus.pending,
        sa_column=Column(String(10), nullable=False, index=True),
    )
    # WeChat's id of the submitted check, which its verdict push names; None while
    # the photo still has to be submitted (WeChat was down, or checks are off).
    check_trace_id: str | None = Field(
        default=None, sa_column=Column(String(100), nullable=True, unique=True)
    )
    # The last time the photo was sent to WeChat, or tried to be.
    check_requested_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    checked_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    created_at: datetime = created_at_field()


class MediaAttachment(SQLModel, table=True):
    """A photo used on a record (check-in, wish, problem...); whoever may see the
    record may see the photo."""

    __tablename__ = "media_attachments"
    __table_args__ = (
        UniqueConstraint("media_id", "record_type", "record_id"),
        Index("ix_media_attachments_record", "record_type", "record_id"),
        NEVER_REUSED_IDS,
    )

    id: int | None = Field(default=None, primary_key=True)
    media_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("media.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    record_type: str = Field(sa_column=Column(String(30), nullable=False))
    record_id: int = Field(sa_column=Column(Integer, nullable=False))
    created_at: datetime = created_at_field()


class MediaPublic(SQLModel):
    id: int
    content_type: str
    size: int
    width: int
    height: int = Field(description="照片的像素宽高；视频为显示时的宽高（已按旋转信息换算）")
    duration_s: float | None = Field(
        default=None,
        description="视频时长（秒，上传时读取，时长上限即按此值检查）；照片和文件为 null",
    )
    sha256: str
    url: str
    thumbnail_url: str
    check_status: MediaCheckStatus = Field(
        description="微信图片安全检测：pending 检测中（仅上传者可见）、pass 通过、"
        "risky 未通过、review 待人工复核；只有 pass 的照片对其他人可见"
    )
