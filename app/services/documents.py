"""Evidence documents (PDF, Word .docx, Excel .xlsx) for the indicators' materials.

Stored as photos are, as a `media` row and a file in the storage (local or S3), so
attaching them to records and who may see them follow app/services/photos.py. What
differs from a photo:
- the type is read from the bytes (the `filetype` library's signatures, a maintained
  library, rather than signatures of our own), never from the name or the client's
  content type; an Office file must also open as the OOXML package it claims to be
  and carry no macros (vbaProject.bin);
- the file is kept byte for byte: nothing here opens, converts, previews or renders
  it, and it is only ever sent as a download (Content-Disposition: attachment, with
  nosniff), so neither this server nor the browser ever runs it;
- WeChat's content check takes images only, so a document is not held back for it;
  it is seen by those who may see the record it is attached to (the org's admins
  and the item's owner), as a photo that passed would be.
"""

from __future__ import annotations

import hashlib
import io
import secrets
import zipfile
from dataclasses import dataclass

import anyio
import filetype
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.errors import PayloadTooLarge, UnsupportedMediaType
from app.core.scope import Caller
from app.core.storage import Storage
from app.models.media import Media, MediaCheckStatus

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Content type -> (file extension, the OOXML part the package must hold, if any).
DOCUMENT_TYPES: dict[str, tuple[str, str | None]] = {
    "application/pdf": ("pdf", None),
    DOCX: ("docx", "word/document.xml"),
    XLSX: ("xlsx", "xl/workbook.xml"),
}
REFUSED = "证明材料只能是 PDF、Word（.docx）或 Excel（.xlsx）文件"


def is_document(media: Media) -> bool:
    return media.content_type in DOCUMENT_TYPES


def content_type_of(raw: bytes) -> str:
    """The document's type from its bytes; 415 `unsupported_media_type` for anything
    else, an Office file that is not a whole package, or one with macros."""
    kind = filetype.guess(raw)
    mime = kind.mime if kind is not None else None
    if mime not in DOCUMENT_TYPES:
        raise UnsupportedMediaType("unsupported_media_type", REFUSED)
    part = DOCUMENT_TYPES[mime][1]
    if part is not None:
        try:
            with zipfile.ZipFile(io.BytesIO(raw)) as package:
                names = set(package.namelist())
        except zipfile.BadZipFile:
            raise UnsupportedMediaType("unsupported_media_type", REFUSED) from None
        if part not in names or "[Content_Types].xml" not in names:
            raise UnsupportedMediaType("unsupported_media_type", REFUSED)
        if any(n.lower().endswith("vbaproject.bin") for n in names):
            raise UnsupportedMediaType("unsupported_media_type", "不接受带宏的文档")
    return mime


@dataclass(frozen=True)
class Checked:
    content_type: str
    sha256: str


def _check(raw: bytes) -> Checked:
    return Checked(content_type_of(raw), hashlib.sha256(raw).hexdigest())


async def check(raw: bytes) -> Checked:
    """Type and digest of a document, read once, in a worker thread: an upload may be
    megabytes of zip to open and hash."""
    return await anyio.to_thread.run_sync(_check, raw)


async def store_document(
    storage: Storage, *, uploader_id: int, raw: bytes, checked: Checked | None = None
) -> Media:
    """A document's file written, and its row (not yet added to a session): for an
    upload (already `checked`), and for the demo's evidence (app/devtools)."""
    checked = checked or await check(raw)
    key = f"{secrets.token_hex(16)}.{DOCUMENT_TYPES[checked.content_type][0]}"
    await storage.put(key, raw, checked.content_type)
    return Media(
        uploader_id=uploader_id,
        storage_key=key,
        thumbnail_key=key,  # no thumbnail: nothing renders a document
        content_type=checked.content_type,
        size=len(raw),
        width=0,
        height=0,
        sha256=checked.sha256,
        phash="",
        check_status=MediaCheckStatus.passed,
    )


async def upload_document(
    session: AsyncSession, *, caller: Caller, storage: Storage, settings: Settings, raw: bytes
) -> Media:
    if len(raw) > settings.media_max_bytes:
        raise PayloadTooLarge(
            "file_too_large", f"文件不能超过 {settings.media_max_bytes / 1024 / 1024:g} MB"
        )
    checked = await check(raw)  # refused before anything is let go or written
    # As for photos: nothing is written yet, so the connection goes back while storing.
    await session.commit()
    media = await store_document(storage, uploader_id=caller.id, raw=raw, checked=checked)
    session.add(media)
    await session.flush()
    return media


def download_name(media: Media) -> str:
    return f"evidence-{media.id}.{DOCUMENT_TYPES[media.content_type][0]}"
