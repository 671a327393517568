from fastapi import APIRouter, Request, UploadFile
from fastapi.responses import Response

from app.core.errors import PROBLEM_JSON, PROBLEM_RESPONSES, NotFound, Problem
from app.edge.route import UploadRoute
from app.models.media import Media, MediaPublic
from app.routers.deps import CurrentCaller, SessionDep, SettingsDep, StorageDep, Visible
from app.routers.media import attachment, to_public
from app.services import documents as service

# /documents: evidence documents (PDF, docx, xlsx), stored as media, sent only as downloads.
router = APIRouter(
    prefix="/documents", tags=["media"], route_class=UploadRoute, responses=PROBLEM_RESPONSES
)


@router.post(
    "",
    status_code=201,
    response_model=MediaPublic,
    responses={
        413: {"model": Problem, "content": {PROBLEM_JSON: {}}, "description": "`file_too_large`"},
        415: {
            "model": Problem,
            "content": {PROBLEM_JSON: {}},
            "description": "Not a PDF, docx or xlsx by its bytes, or with macros",
        },
    },
)
async def upload_document(
    request: Request,
    file: UploadFile,
    session: SessionDep,
    caller: CurrentCaller,
    settings: SettingsDep,
    storage: StorageDep,
) -> MediaPublic:
    """上传证明文档（PDF、Word .docx、Excel .xlsx，不超过 10 MiB），按文件内容识别类型
    （与扩展名无关）；带宏的文档不收。原样保存，只作为附件下载，服务器不打开、不预览。
    返回的 id 用于 `media_ids`。"""
    await request.app.state.ratelimiter.hit_per_minute(
        f"upload:{caller.id}", settings.upload_rate_per_minute
    )
    raw = await file.read(settings.media_max_bytes + 1)
    media = await service.upload_document(
        session, caller=caller, storage=storage, settings=settings, raw=raw
    )
    return to_public(media)


@router.get(
    "/{media_id}",
    response_class=Response,
    responses={200: {"content": {t: {} for t in service.DOCUMENT_TYPES}}},
)
async def get_document(media: Visible[Media], storage: StorageDep) -> Response:
    """下载证明文档（附件形式）：上传者本人，及能查看其所附记录的人。"""
    if not service.is_document(media):
        raise NotFound()
    return await attachment(storage, media)
