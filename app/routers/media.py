from pathlib import Path

from fastapi import APIRouter, Request, UploadFile
from fastapi.responses import FileResponse, RedirectResponse, Response

from app.core.errors import PROBLEM_JSON, PROBLEM_RESPONSES, Problem
from app.core.storage import Storage
from app.edge.route import UploadRoute
from app.models.media import Media, MediaPublic
from app.routers.deps import (
    CurrentCaller,
    SessionDep,
    SettingsDep,
    StorageDep,
    Visible,
    WeChatDep,
)
from app.services import documents
from app.services import media as service

router = APIRouter(
    prefix="/media", tags=["media"], route_class=UploadRoute, responses=PROBLEM_RESPONSES
)

_PHOTO_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}}},
    307: {"description": "Redirect to a short-lived URL of the image (S3 storage)"},
}


@router.post(
    "",
    status_code=201,
    response_model=MediaPublic,
    responses={
        413: {
            "model": Problem,
            "content": {PROBLEM_JSON: {}},
            "description": "Larger than 10 MiB or too many pixels (`file_too_large`)",
        },
        415: {
            "model": Problem,
            "content": {PROBLEM_JSON: {}},
            "description": "Not a JPEG, PNG or WebP image (`unsupported_media_type`)",
        },
    },
)
async def upload_media(
    request: Request,
    file: UploadFile,
    session: SessionDep,
    caller: CurrentCaller,
    settings: SettingsDep,
    storage: StorageDep,
    wechat: WeChatDep,
) -> MediaPublic:
    """上传一张照片（JPEG、PNG 或 WebP，不超过 10 MiB）；保存时去除 EXIF（含位置信息）。

    照片随即送微信图片安全检测：结果为 pass 之前（`check_status`），只有上传者本人能看到。"""
    await request.app.state.ratelimiter.hit_per_minute(
        f"upload:{caller.id}", settings.upload_rate_per_minute
    )
    # One byte past the cap is enough for the service to know it is too large.
    raw = await file.read(settings.media_max_bytes + 1)
    media = await service.upload_photo(
        session, caller=caller, storage=storage, settings=settings, wechat=wechat, raw=raw
    )
    return to_public(media)


def to_public(media: Media) -> MediaPublic:
    assert media.id is not None
    url = f"/api/v1/media/{media.id}"
    return MediaPublic(
        id=media.id,
        content_type=media.content_type,
        size=media.size,
        width=media.width,
        height=media.height,
        sha256=media.sha256,
        url=url,
        thumbnail_url=f"{url}/thumbnail",
        check_status=media.check_status,
    )


def deliver(media: Media, target: str | Path) -> Response:
    if isinstance(target, Path):
        return FileResponse(
            target, media_type=media.content_type, headers={"Cache-Control": "private"}
        )
    return RedirectResponse(target, status_code=307)


async def attachment(storage: Storage, media: Media) -> Response:
    """An evidence document's bytes as a download, whatever the storage: never shown
    inline, so no browser renders it from our origin (app/services/documents.py)."""
    return Response(
        await storage.get(media.storage_key),
        media_type=media.content_type,
        headers={
            "Content-Disposition": f'attachment; filename="{documents.download_name(media)}"',
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private",
        },
    )


@router.get("/{media_id}", response_class=Response, responses=_PHOTO_RESPONSES)
async def get_media(media: Visible[Media], storage: StorageDep, settings: SettingsDep) -> Response:
    """照片原图：上传者本人随时可见；其他人须能查看其所附记录，且照片已通过微信图片安全检测。"""
    if documents.is_document(media):  # evidence documents only ever go out as downloads
        return await attachment(storage, media)
    return deliver(media, await service.locate(storage, settings, media, thumbnail=False))


@router.get("/{media_id}/thumbnail", response_class=Response, responses=_PHOTO_RESPONSES)
async def get_media_thumbnail(
    media: Visible[Media], storage: StorageDep, settings: SettingsDep
) -> Response:
    """照片缩略图，可见范围同原图。"""
    if documents.is_document(media):
        return await attachment(storage, media)
    return deliver(media, await service.locate(storage, settings, media, thumbnail=True))
