"""Photo uploads (POST /media) and who may fetch them (GET /media/{id}), on both
storages: a local folder and S3 (moto's server)."""

from __future__ import annotations

import asyncio
import hashlib
import io
import struct
import threading
import zlib
from collections.abc import AsyncIterator
from datetime import timedelta
from functools import partial
from urllib.parse import parse_qs, urlsplit

import anyio.to_thread
import httpx
import imagehash
import pytest
from fastapi import FastAPI
from PIL import Image, ImageCms
from sqlalchemy import func, select

from app.core.db import utcnow
from app.core.scope import Caller
from app.main import create_app
from app.models.media import Media
from app.services import media as media_service
from app.services.photos import attach_photos, register_record_type
from tests.conftest import empty_all_tables, make_settings
from tests.core.test_storage import S3_BUCKET, S3_PUBLIC, s3_overrides, s3_server  # noqa: F401
from tests.factories.media import make_media
from tests.factories.videos import LOCATION, mp4, packets_of, portrait, tags_of
from tests.factories.world import World, build_world

GPS_IFD = 0x8825
ORIENTATION = 0x0112


def jpeg(size=(64, 48), color=(200, 30, 30), **save) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "JPEG", **save)
    return out.getvalue()


def encoded(fmt: str, size=(64, 48), mode="RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, (10, 120, 200, 128)[: len(mode)]).save(out, fmt)
    return out.getvalue()


def gps_exif() -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif[GPS_IFD] = {1: "N", 2: (39.0, 54.0, 27.0), 3: "E", 4: (116.0, 23.0, 30.0)}
    return exif


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims its size in the header and holds next to no pixel data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 16))
        + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="session", params=["local", "s3"])
async def media_app(
    request: pytest.FixtureRequest, database_url, tmp_path_factory, wechat_stub
) -> AsyncIterator[FastAPI]:
    # Small video limits keep the refusals' tests small; the photo cap stays the
    # body's cap.
    overrides: dict[str, object] = {
        "media_video_max_bytes": 1024 * 1024,
        "media_video_max_seconds": 3,
    }
    if request.param == "s3":
        overrides |= s3_overrides(request.getfixturevalue("s3_server"))
    settings = make_settings(
        database_url, tmp_path_factory.mktemp("media-app"), wechat_stub[1], **overrides
    )
    application = create_app(settings)
    yield application
    await application.state.engine.dispose()


@pytest.fixture
async def mworld(media_app: FastAPI) -> AsyncIterator[World]:
    world = await build_world(media_app)
    yield world
    await empty_all_tables(media_app)


@pytest.fixture
async def mclient(media_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=media_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test/api/v1") as c:
        yield c


def is_s3(app: FastAPI) -> bool:
    return app.state.settings.storage_backend == "s3"


async def upload(client, world, data: bytes, who="member", name="photo.jpg", ctype="image/jpeg"):
    return await client.post(
        "/media", files={"file": (name, data, ctype)}, headers=world.headers(who)
    )


async def row(app: FastAPI, media_id: int) -> Media:
    async with app.state.sessionmaker() as session:
        media = await session.get(Media, media_id)
        assert media is not None
        return media


async def stored(app: FastAPI, media_id: int, *, thumbnail=False) -> bytes:
    media = await row(app, media_id)
    return await app.state.storage.get(media.thumbnail_key if thumbnail else media.storage_key)


async def fetch(client, world, path: str, who="member") -> httpx.Response:
    """GET a photo route and follow it to the bytes, wherever the storage keeps them."""
    resp = await client.get(path.removeprefix("/api/v1"), headers=world.headers(who))
    if resp.status_code != 307:
        return resp
    location = urlsplit(resp.headers["location"])
    # Signed for the public host; moto (which ignores signatures) stands in for it.
    endpoint = world.app.state.settings.s3_endpoint
    async with httpx.AsyncClient() as http:
        return await http.get(f"http://{endpoint}{location.path}?{location.query}")


async def test_upload_answers_201_with_the_photo_description(mclient, mworld):
    data = jpeg((120, 80))
    resp = await upload(mclient, mworld, data)
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert set(body) == {
        "id",
        "content_type",
        "size",
        "width",
        "height",
        "duration_s",
        "sha256",
        "url",
        "thumbnail_url",
        "check_status",
    }
    assert body["duration_s"] is None  # a photo has no length
    # This app checks no images (no push token): the photo is shown at once.
    assert body["check_status"] == "pass"
    assert body["content_type"] == "image/jpeg"
    assert (body["width"], body["height"]) == (120, 80)
    assert body["sha256"] == hashlib.sha256(data).hexdigest()
    assert body["url"] == f"/api/v1/media/{body['id']}"
    assert body["thumbnail_url"] == f"/api/v1/media/{body['id']}/thumbnail"
    assert body["size"] == len(await stored(mworld.app, body["id"]))


async def test_gps_and_all_exif_are_gone_from_the_stored_photo(mclient, mworld):
    xmp = b'<x:xmpmeta><rdf:Description exif:GPSLatitude="39,54.45N"/></x:xmpmeta>'
    data = jpeg((200, 100), exif=gps_exif(), xmp=xmp)
    with Image.open(io.BytesIO(data)) as original:  # the test photo really carries GPS
        assert original.getexif().get_ifd(GPS_IFD)
    resp = await upload(mclient, mworld, data)
    assert resp.status_code == 201, resp.text
    for thumbnail in (False, True):
        kept = await stored(mworld.app, resp.json()["id"], thumbnail=thumbnail)
        with Image.open(io.BytesIO(kept)) as img:
            assert not img.getexif()
            assert "exif" not in img.info
            assert "xmp" not in img.info
        assert b"Exif\x00" not in kept
        assert b"GPSLatitude" not in kept
        assert b"PhoneMaker" not in kept


async def test_orientation_is_applied_to_the_pixels(mclient, mworld):
    exif = Image.Exif()
    exif[ORIENTATION] = 6  # the camera was turned: displayed rotated 90° clockwise
    img = Image.new("RGB", (80, 40), (255, 0, 0))
    img.paste((0, 0, 255), (0, 0, 40, 40))  # left half blue
    out = io.BytesIO()
    img.save(out, "JPEG", exif=exif, quality=95)
    resp = await upload(mclient, mworld, out.getvalue())
    assert resp.status_code == 201, resp.text
    assert (resp.json()["width"], resp.json()["height"]) == (40, 80)
    with Image.open(io.BytesIO(await stored(mworld.app, resp.json()["id"]))) as upright:
        assert upright.size == (40, 80)
        # Turned clockwise, the blue left half ends up on top.
        pixel = upright.convert("RGB").getpixel((20, 10))
        assert isinstance(pixel, tuple)
        assert pixel[2] > 200 and pixel[0] < 60


async def test_the_colour_profile_is_kept(mclient, mworld):
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    resp = await upload(mclient, mworld, jpeg(icc_profile=icc))
    assert resp.status_code == 201, resp.text
    for thumbnail in (False, True):
        kept = await stored(mworld.app, resp.json()["id"], thumbnail=thumbnail)
        with Image.open(io.BytesIO(kept)) as img:
            assert img.info.get("icc_profile") == icc


@pytest.mark.parametrize(
    ("name", "data", "ctype"),
    [
        ("scan.jpg", b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n", "image/jpeg"),
        (
            "logo.jpg",
            b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect/></svg>',
            "image/svg+xml",
        ),
        ("anim.jpg", encoded("GIF"), "image/jpeg"),
        ("cut.jpg", jpeg((300, 300))[:400], "image/jpeg"),
        ("empty.jpg", b"", "image/jpeg"),
    ],
    ids=["pdf-named-jpg", "svg", "gif", "truncated-jpeg", "empty"],
)
async def test_anything_but_a_jpeg_png_or_webp_is_415(mclient, mworld, name, data, ctype):
    resp = await upload(mclient, mworld, data, name=name, ctype=ctype)
    assert resp.status_code == 415, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.json()["code"] == "unsupported_media_type"
    async with mworld.app.state.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Media)) == 0


@pytest.mark.parametrize(
    "size",
    [(20_000, 20_000), (7_000, 7_000)],
    ids=["beyond-pillows-own-limit", "beyond-our-cap-only"],
)
async def test_a_decompression_bomb_is_refused_before_decoding(mclient, mworld, size):
    resp = await upload(mclient, mworld, png_header_only(*size), name="b.png", ctype="image/png")
    assert resp.status_code == 413, resp.text
    assert resp.json()["code"] == "file_too_large"


@pytest.mark.parametrize(("fmt", "ctype"), [("PNG", "image/png"), ("WEBP", "image/webp")])
async def test_png_and_webp_are_accepted_and_stay_what_they_are(mclient, mworld, fmt, ctype):
    resp = await upload(
        mclient, mworld, encoded(fmt, mode="RGBA"), name="x.bin", ctype="text/plain"
    )
    assert resp.status_code == 201, resp.text
    assert resp.json()["content_type"] == ctype
    with Image.open(io.BytesIO(await stored(mworld.app, resp.json()["id"]))) as img:
        assert img.format == fmt
        assert img.mode == "RGBA"


def mpo(exif: Image.Exif) -> bytes:
    """A multi-picture JPEG as phone cameras write it: the photo, then a second
    picture (another lens, a depth map) in the same file."""
    first = Image.new("RGB", (120, 80), (200, 30, 30))
    second = Image.new("RGB", (120, 80), (30, 30, 200))
    out = io.BytesIO()
    first.save(out, "MPO", save_all=True, append_images=[second], exif=exif)
    return out.getvalue()


async def test_a_multi_picture_jpeg_from_a_phone_camera_is_stored_as_its_first_picture(
    mclient, mworld
):
    data = mpo(gps_exif())
    with Image.open(io.BytesIO(data)) as original:  # really an MPO of two pictures
        assert (original.format, getattr(original, "n_frames", 1)) == ("MPO", 2)
    resp = await upload(mclient, mworld, data)
    assert resp.status_code == 201, resp.text
    assert resp.json()["content_type"] == "image/jpeg"
    assert (resp.json()["width"], resp.json()["height"]) == (120, 80)
    for thumbnail in (False, True):
        kept = await stored(mworld.app, resp.json()["id"], thumbnail=thumbnail)
        with Image.open(io.BytesIO(kept)) as img:
            assert img.format == "JPEG"
            assert getattr(img, "n_frames", 1) == 1
            assert not img.getexif()
            pixel = img.convert("RGB").getpixel((5, 5))
            assert isinstance(pixel, tuple) and pixel[0] > 150 and pixel[2] < 80  # the red one
        assert b"Exif\x00" not in kept and b"PhoneMaker" not in kept


async def test_the_thumbnail_is_smaller_and_kept_in_proportion(mclient, mworld):
    resp = await upload(mclient, mworld, jpeg((1600, 1200)))
    assert resp.status_code == 201, resp.text
    thumb = await fetch(mclient, mworld, resp.json()["thumbnail_url"])
    assert thumb.status_code == 200
    with Image.open(io.BytesIO(thumb.content)) as img:
        assert img.size == (400, 300)


def picture(kind: str) -> bytes:
    """A photo with structure (a flat colour hashes to all zeros whatever it is)."""
    img = (
        Image.effect_mandelbrot((320, 240), (-2.0, -1.2, 1.0, 1.2), 60)
        if kind == "fractal"
        else Image.linear_gradient("L").resize((320, 240))
    )
    out = io.BytesIO()
    img.convert("RGB").save(out, "JPEG", quality=90)
    return out.getvalue()


async def test_the_same_photo_twice_has_the_same_hashes(mclient, mworld):
    data = picture("fractal")
    first = await upload(mclient, mworld, data)
    second = await upload(mclient, mworld, data, who="community_admin")
    other = await upload(mclient, mworld, picture("gradient"))
    assert first.status_code == second.status_code == other.status_code == 201
    assert first.json()["id"] != second.json()["id"]
    assert first.json()["sha256"] == second.json()["sha256"]
    a, b, c = [await row(mworld.app, r.json()["id"]) for r in (first, second, other)]
    with Image.open(io.BytesIO(data)) as original:
        assert a.phash == str(imagehash.phash(original))
    assert len(a.phash) == 16
    assert a.phash == b.phash != c.phash
    assert a.storage_key != b.storage_key


async def test_storage_keys_are_random_and_ignore_the_file_name(mclient, mworld):
    resp = await upload(mclient, mworld, jpeg(), name="../../etc/passwd.jpg")
    assert resp.status_code == 201, resp.text
    media = await row(mworld.app, resp.json()["id"])
    assert "passwd" not in media.storage_key and "/" not in media.storage_key
    assert len(media.storage_key.split(".")[0]) == 32


def multipart(data: bytes, boundary: str) -> tuple[bytes, dict[str, str]]:
    body = (
        (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="file"; filename="p.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


async def test_a_retried_upload_with_a_new_boundary_replays_the_first_answer(mclient, mworld):
    data = jpeg()
    answers = []
    for boundary in ("first-boundary-1111", "retry-boundary-2222"):
        body, headers = multipart(data, boundary)
        headers |= mworld.headers("member") | {"Idempotency-Key": "upload-1"}
        answers.append(await mclient.post("/media", content=body, headers=headers))
    assert [a.status_code for a in answers] == [201, 201]
    assert answers[1].json() == answers[0].json()
    assert answers[1].headers.get("Idempotent-Replayed") == "true"
    async with mworld.app.state.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Media)) == 1


async def test_the_same_key_with_another_photo_is_refused(mclient, mworld):
    headers = mworld.headers("member") | {"Idempotency-Key": "upload-2"}
    first_body, first_type = multipart(jpeg(color=(1, 2, 3)), "b-one")
    other_body, other_type = multipart(jpeg(color=(200, 2, 3)), "b-two")
    assert (
        await mclient.post("/media", content=first_body, headers=headers | first_type)
    ).status_code == 201
    again = await mclient.post("/media", content=other_body, headers=headers | other_type)
    assert again.status_code == 422
    assert again.json()["code"] == "idempotency_key_reused"


async def test_anonymous_upload_is_401(mclient, mworld):
    resp = await mclient.post("/media", files={"file": ("p.jpg", jpeg(), "image/jpeg")})
    assert resp.status_code == 401
    assert resp.json()["code"] == "not_authenticated"


async def test_a_request_without_a_file_is_422(mclient, mworld):
    resp = await mclient.post("/media", data={"note": "x"}, headers=mworld.headers("member"))
    assert resp.status_code == 422
    assert resp.json()["code"] == "validation_error"


@pytest.mark.parametrize("idempotent", [False, True], ids=["plain", "with-idempotency-key"])
async def test_a_body_over_the_limit_is_413(mclient, mworld, idempotent):
    cap = mworld.app.state.settings.media_max_bytes
    headers = mworld.headers("member")
    if idempotent:
        headers |= {"Idempotency-Key": "too-big"}
    # Starts like a JPEG: refused for its size, not its type.
    data = jpeg() + b"\0" * cap
    resp = await mclient.post(
        "/media", files={"file": ("p.jpg", data, "image/jpeg")}, headers=headers
    )
    assert resp.status_code == 413
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.json()["code"] == "file_too_large"


async def test_a_file_just_over_the_cap_in_a_small_envelope_is_413(mclient, mworld):
    cap = mworld.app.state.settings.media_max_bytes
    resp = await upload(mclient, mworld, jpeg() + b"\0" * (cap - len(jpeg()) + 1))
    assert resp.status_code == 413
    assert resp.json()["code"] == "file_too_large"


@pytest.mark.parametrize("idempotent", [False, True], ids=["plain", "with-idempotency-key"])
async def test_an_oversized_stream_is_cut_off_without_reading_it_all(mclient, mworld, idempotent):
    """No Content-Length: the count on the stream is what stops it."""
    chunk = b"\0" * (1024 * 1024)
    cap_chunks = mworld.app.state.settings.media_max_bytes // len(chunk)
    sent = 0

    async def body():
        nonlocal sent
        yield (
            b'--bb\r\nContent-Disposition: form-data; name="file"; filename="p.jpg"\r\n'
            b"Content-Type: image/jpeg\r\n\r\n" + jpeg()
        )
        for _ in range(cap_chunks * 5):
            sent += 1
            yield chunk
        yield b"\r\n--bb--\r\n"

    headers = mworld.headers("member") | {"Content-Type": "multipart/form-data; boundary=bb"}
    if idempotent:
        headers |= {"Idempotency-Key": "stream"}
    resp = await mclient.post("/media", content=body(), headers=headers)
    assert resp.status_code == 413
    assert resp.json()["code"] == "file_too_large"
    assert sent <= cap_chunks + 1


async def test_an_oversized_declared_length_is_refused_before_reading(mclient, mworld):
    sent = 0

    async def body():
        nonlocal sent
        sent += 1
        yield b"--bb\r\n"

    headers = mworld.headers("member") | {
        "Content-Type": "multipart/form-data; boundary=bb",
        "Content-Length": str(mworld.app.state.settings.media_max_bytes * 2),
    }
    resp = await mclient.post("/media", content=body(), headers=headers)
    assert resp.status_code == 413
    assert resp.json()["code"] == "file_too_large"
    assert sent == 0


async def test_the_uploader_fetches_the_stored_bytes(mclient, mworld):
    resp = await upload(mclient, mworld, jpeg((90, 60)))
    media_id = resp.json()["id"]
    got = await fetch(mclient, mworld, resp.json()["url"])
    assert got.status_code == 200
    assert got.content == await stored(mworld.app, media_id)
    thumb = await fetch(mclient, mworld, resp.json()["thumbnail_url"])
    assert thumb.content == await stored(mworld.app, media_id, thumbnail=True)
    if not is_s3(mworld.app):
        assert got.headers["content-type"] == "image/jpeg"


async def test_s3_answers_with_a_short_lived_url_on_the_public_host(mclient, mworld):
    if not is_s3(mworld.app):
        pytest.skip("S3 storage only")
    resp = await upload(mclient, mworld, jpeg())
    media = await row(mworld.app, resp.json()["id"])
    for path, key in (
        (resp.json()["url"], media.storage_key),
        (resp.json()["thumbnail_url"], media.thumbnail_key),
    ):
        redirect = await mclient.get(path.removeprefix("/api/v1"), headers=mworld.headers("member"))
        assert redirect.status_code == 307
        location = urlsplit(redirect.headers["location"])
        assert f"{location.scheme}://{location.netloc}" == S3_PUBLIC
        assert location.path == f"/{S3_BUCKET}/{key}"
        query = parse_qs(location.query)
        assert query["X-Amz-Expires"] == [str(mworld.app.state.settings.media_url_ttl_s)]
        assert "/us-east-1/s3/aws4_request" in query["X-Amz-Credential"][0]
        assert query["X-Amz-Signature"]


async def test_someone_elses_unattached_photo_is_404(mclient, mworld):
    resp = await upload(mclient, mworld, jpeg(), who="member")
    for path in (resp.json()["url"], resp.json()["thumbnail_url"]):
        for who in ("community_admin", "district_admin", "other_street_admin"):
            other = await mclient.get(path.removeprefix("/api/v1"), headers=mworld.headers(who))
            assert other.status_code == 404, who
            assert other.json()["code"] == "not_found"


async def test_readyz_checks_the_storage(mclient, mworld):
    resp = await mclient.get("http://test/readyz")
    assert resp.status_code == 200
    assert resp.json()["checks"]["storage"] == "ok"


async def test_a_missing_photo_is_404_and_anonymous_is_401(mclient, mworld):
    assert (await mclient.get("/media/999999", headers=mworld.headers("member"))).status_code == 404
    resp = await upload(mclient, mworld, jpeg())
    assert (await mclient.get(f"/media/{resp.json()['id']}")).status_code == 401


# A record type of this test only, whose visibility rule the test controls.
_may_see_test_record: set[int] = set()


async def _can_see_test_record(session, caller: Caller, record_id: int) -> bool:
    return caller.id in _may_see_test_record


register_record_type("media_test_record", _can_see_test_record)


async def test_a_photo_on_a_record_you_may_see_is_visible(mclient, mworld):
    resp = await upload(mclient, mworld, jpeg())
    media = await row(mworld.app, resp.json()["id"])
    async with mworld.app.state.sessionmaker() as session, session.begin():
        await attach_photos(session, media=[media], record_type="media_test_record", record_id=7)
    viewer, stranger = mworld.user("community_admin"), mworld.user("other_street_admin")
    _may_see_test_record.add(viewer.id)
    try:
        for path in (resp.json()["url"], resp.json()["thumbnail_url"]):
            seen = await mclient.get(
                path.removeprefix("/api/v1"), headers=mworld.headers("community_admin")
            )
            assert seen.status_code == (307 if is_s3(mworld.app) else 200)
            hidden = await mclient.get(
                path.removeprefix("/api/v1"), headers=mworld.headers("other_street_admin")
            )
            assert hidden.status_code == 404
        assert stranger.id not in _may_see_test_record
    finally:
        _may_see_test_record.discard(viewer.id)


async def test_other_requests_are_answered_while_a_photo_is_processed(mclient, mworld, monkeypatch):
    """The image work runs in a worker thread: held there, the event loop still serves."""
    entered, release = threading.Event(), threading.Event()
    real_phash = imagehash.phash

    def held_phash(image):
        entered.set()
        # Were this on the event loop, the request below could never run and this
        # would time out, failing the upload.
        assert release.wait(timeout=20)
        return real_phash(image)

    monkeypatch.setattr(imagehash, "phash", held_phash)
    uploading = asyncio.create_task(upload(mclient, mworld, jpeg()))
    try:
        assert await anyio.to_thread.run_sync(entered.wait, 20)
        me = await mclient.get("/me", headers=mworld.headers("member"))
        assert me.status_code == 200
        assert not uploading.done()
    finally:
        release.set()
    assert (await uploading).status_code == 201


async def test_an_upload_holds_no_database_connection_while_the_photo_is_stored(
    mclient, mworld, media_app
):
    # Decoding and storing a photo (and WeChat's check) take long; a connection held
    # meanwhile is one a burst of uploads would take from every other request.
    storage = media_app.state.storage
    pool = media_app.state.engine.sync_engine.pool
    if not hasattr(pool, "checkedout"):
        pytest.skip("this database has no connection pool to watch (SQLite)")
    held: list[int] = []
    original_put = storage.put

    async def watched_put(key: str, data: bytes, content_type: str) -> None:
        held.append(pool.checkedout())
        await original_put(key, data, content_type)

    storage.put = watched_put
    try:
        resp = await upload(mclient, mworld, jpeg())
    finally:
        del storage.put

    assert resp.status_code == 201, resp.text
    assert held == [0, 0]


async def test_files_no_photo_row_names_are_removed_a_day_after_they_were_stored(
    media_app, mclient, mworld
):
    """A request that stored a photo's files and then failed (its row never written)
    leaves files nobody can see or delete: the daily sweep removes them."""
    storage = media_app.state.storage
    sweep = partial(
        media_service.sweep_orphan_files,
        sessionmaker=media_app.state.sessionmaker,
        storage=storage,
    )
    # The storage outlives each test's rows: what earlier tests left is removed first.
    await sweep(now=utcnow() + timedelta(days=30))
    resp = await upload(mclient, mworld, jpeg())
    assert resp.status_code == 201, resp.text
    kept = await row(media_app, resp.json()["id"])
    # A video's poster is a JPEG under the key of an MP4: still named by its row.
    video = await upload(mclient, mworld, mp4(), name="v.mp4", ctype="video/mp4")
    kept_video = await row(media_app, video.json()["id"])
    orphans = ["ab" * 16 + ".jpg", "ab" * 16 + "-thumb.jpg", "cd" * 16 + ".png"]
    for key in orphans:
        await storage.put(key, jpeg(), "image/jpeg")

    async def stored() -> set[str]:
        far = utcnow() + timedelta(days=30)
        return {k async for batch in storage.stored_before(far) for k in batch}

    named = {kept.storage_key, kept.thumbnail_key, kept_video.storage_key, kept_video.thumbnail_key}
    assert await stored() == {*named, *orphans}
    # Stored just now: a request could still be about to write their row.
    assert await sweep(now=utcnow()) == 0
    assert await sweep(now=utcnow() + timedelta(days=1, minutes=1)) == 3
    assert await stored() == named
    got = await mclient.get(f"/media/{kept.id}", headers=mworld.headers("member"))
    assert got.status_code in (200, 307)
    # Twice at once, or again: nothing more to do, and no error.
    assert await sweep(now=utcnow() + timedelta(days=2)) == 0


async def test_a_photo_whose_file_is_gone_is_404_not_500(client, world):
    """A row whose file was lost (a restore without the media folder): missing to the
    reader, on the API and the console alike (both locate it through the service)."""
    uploader = world.user("member")
    media = await make_media(world.app, uploader)  # a row with no file behind it
    for path in (f"/media/{media.id}", f"/media/{media.id}/thumbnail"):
        resp = await client.get(path, headers=world.headers("member"))
        assert resp.status_code == 404, (path, resp.text)
        assert resp.json()["code"] == "not_found"


# --- short videos ----------------------------------------------------------------------


async def test_a_short_video_is_stored_without_where_and_when_it_was_shot(mclient, mworld):
    """Told from its bytes (not its name or part type), remuxed: the same coded
    packets in a container without the phone's tags, a JPEG poster as thumbnail."""
    data = mp4()
    assert tags_of(data)["location"] == LOCATION
    resp = await upload(mclient, mworld, data, name="clip.bin", ctype="application/octet-stream")
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert (body["content_type"], body["width"], body["height"]) == ("video/mp4", 64, 48)
    # Five frames at five a second: the length read at upload, kept on the row.
    assert body["duration_s"] == pytest.approx(1.0, abs=0.05)
    assert (await row(mworld.app, body["id"])).duration_s == body["duration_s"]
    assert body["sha256"] == hashlib.sha256(data).hexdigest()
    got = await fetch(mclient, mworld, body["url"])
    assert got.status_code == 200
    assert body["size"] == len(got.content)
    tags = tags_of(got.content)
    assert not {k for k in tags if "location" in k or "creation_time" in k}, tags
    assert packets_of(got.content) == packets_of(data)  # not re-encoded
    poster = await fetch(mclient, mworld, body["thumbnail_url"])
    with Image.open(io.BytesIO(poster.content)) as img:
        assert (img.format, img.size) == ("JPEG", (64, 48))
    if not is_s3(mworld.app):
        assert got.headers["content-type"] == "video/mp4"
        assert poster.headers["content-type"] == "image/jpeg"


async def test_a_portrait_phone_video_is_described_and_postered_upright(mclient, mworld):
    resp = await upload(mclient, mworld, portrait(mp4(audio=False)), name="v.mp4")
    assert resp.status_code == 201, resp.text
    assert (resp.json()["width"], resp.json()["height"]) == (48, 64)
    poster = await fetch(mclient, mworld, resp.json()["thumbnail_url"])
    with Image.open(io.BytesIO(poster.content)) as img:
        assert img.size == (48, 64)


async def test_bad_videos_are_refused_and_nothing_is_stored(mclient, mworld):
    storage = mworld.app.state.storage
    cap = mworld.app.state.settings.media_video_max_bytes
    far = utcnow() + timedelta(days=30)
    before = {k async for batch in storage.stored_before(far) for k in batch}
    whole = mp4(faststart=True)  # its index first: a cut-off copy still opens
    cases = {
        "not H.264": (mp4(codec="mpeg4"), 415, "unsupported_media_type"),
        "an ftyp box, then a zip": (whole[:32] + b"PK\3\4" * 64, 422, "invalid_video"),
        "cut off": (whole[: len(whole) - 300], 422, "invalid_video"),
        "longer than allowed": (mp4(frames=4, fps=1), 422, "video_too_long"),
        "larger than allowed": (whole + b"\0" * cap, 413, "file_too_large"),
    }
    for case, (data, status, code) in cases.items():
        resp = await upload(mclient, mworld, data, name="v.mp4", ctype="video/mp4")
        assert (resp.status_code, resp.json()["code"]) == (status, code), case
    after = {k async for batch in storage.stored_before(far) for k in batch}
    assert after == before
    async with mworld.app.state.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Media)) == 0


def test_a_photo_scaled_to_the_long_edge_keeps_the_hashes_of_the_original():
    """MEDIA_PHOTO_MAX_EDGE: stored smaller and upright, hashed as the whole upload
    (reuse detection compares it with photos stored before, at full size)."""
    exif = Image.Exif()
    exif[ORIENTATION] = 6  # stored sideways, shown upright
    gradient = Image.linear_gradient("L").resize((300, 200)).convert("RGB")
    out = io.BytesIO()
    gradient.save(out, "JPEG", exif=exif)
    raw = out.getvalue()
    whole = media_service.process_image(raw, max_pixels=10**6, thumbnail_px=40)
    scaled = media_service.process_image(raw, max_pixels=10**6, thumbnail_px=40, max_edge=150)
    assert ((whole.width, whole.height), (scaled.width, scaled.height)) == ((200, 300), (100, 150))
    assert (scaled.sha256, scaled.phash) == (whole.sha256, whole.phash)
    with Image.open(io.BytesIO(scaled.thumbnail)) as thumb:
        assert thumb.size == (27, 40)


def test_a_sideways_photo_and_its_thumbnail_are_both_stored_upright():
    """The thumbnail is scaled from the decoded pixels beside the re-encode and turned
    upright on its own (app/services/media._aside)."""
    exif = Image.Exif()
    exif[ORIENTATION] = 6  # displayed rotated 90° clockwise
    img = Image.new("RGB", (900, 600), (255, 0, 0))
    img.paste((0, 0, 255), (0, 0, 450, 600))  # left half blue: on top once turned
    out = io.BytesIO()
    img.save(out, "JPEG", exif=exif, quality=95)
    processed = media_service.process_image(out.getvalue(), max_pixels=10**6, thumbnail_px=400)
    assert (processed.width, processed.height) == (600, 900)
    for data, size in ((processed.data, (600, 900)), (processed.thumbnail, (267, 400))):
        with Image.open(io.BytesIO(data)) as upright:
            assert upright.size == size
            top, bottom = upright.getpixel((size[0] // 2, 10)), upright.getpixel((10, size[1] - 10))
            assert isinstance(top, tuple) and isinstance(bottom, tuple)
            assert top[2] > 200 and top[0] < 60 and bottom[0] > 200 and bottom[2] < 60


def test_a_photo_within_the_thumbnail_size_is_its_own_thumbnail():
    processed = media_service.process_image(picture("fractal"), max_pixels=10**6, thumbnail_px=400)
    assert processed.thumbnail == processed.data
