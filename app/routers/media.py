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
    200: {"content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}, "video/mp4": {}}},
    307: {"description": "Redirect to a short-lived URL of the file (S3 storage)"},
}


@router.post(
    "",
    status_code=201,
    response_model=MediaPublic,
    responses={
        413: {
            "model": Problem,
            "content": {PROBLEM_JSON: {}},
            "description": "A photo over 10 MiB or with too many pixels, a video over "
            "100 MiB (`file_too_large`)",
        },
        415: {
            "model": Problem,
            "content": {PROBLEM_JSON: {}},
            "description": "Not a JPEG, PNG or WebP image, nor an MP4 of H.264 video and "
            "AAC audio (`unsupported_media_type`)",
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
    或上传一段短视频（MP4：H.264 画面、AAC 声音，不超过 100 MiB、300 秒）：不重新编码，
    去除拍摄地点、时间与设备信息，缩略图为视频封面（JPEG）。视频损坏或不完整为 422
    `invalid_video`，超过时长为 422 `video_too_long`。

    随即送微信图片安全检测（视频送封面）：结果为 pass 之前（`check_status`），
    只有上传者本人能看到。"""
    await request.app.state.ratelimiter.hit_per_minute(
        f"upload:{caller.id}", settings.upload_rate_per_minute
    )
    media = await service.upload_media(
        session, caller=caller, storage=storage, settings=settings, wechat=wechat, file=file
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
        duration_s=media.duration_s,
        sha256=media.sha256,
        url=url,
        thumbnail_url=f"{url}/thumbnail",
        check_status=media.check_status,
    )


def deliver(media: Media, target: str | Path, *, thumbnail: bool = False) -> Response:
    if isinstance(target, Path):
        return FileResponse(
            target,
            media_type=service.thumbnail_type(media) if thumbnail else media.content_type,
            headers={"Cache-Control": "private"},
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
    return deliver(
        media, await service.locate(storage, settings, media, thumbnail=True), thumbnail=True
    )
