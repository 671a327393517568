"""WeChat content security: texts others will read (msg_sec_check v2) and photos
(media_check_async v2, the verdict pushed to our callback), against the stub WeChat
over HTTP, S3 on moto's server, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
import os
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from app.core.config import Settings, to_async_url
from app.core.db import utcnow
from app.devtools.wechat_stub import media_check_push, signed_push
from app.edge.access import caller_for_person
from app.main import create_app
from app.models.media import Media, MediaCheckStatus
from app.models.wish import WishStatus
from app.services import wishes as wish_service
from tests.conftest import (
    POSTGRES_ADMIN_URL,
    WECHAT_APPID,
    _admin,
    _postgres_available,
    empty_all_tables,
    forget_wechat_token,
    make_settings,
    run_migrations,
)
from tests.core.test_storage import S3_BUCKET, S3_PUBLIC, s3_overrides, s3_server  # noqa: F401
from tests.factories.media import make_media
from tests.factories.videos import mp4
from tests.factories.wishes import insert_wish
from tests.factories.world import World, build_world
from tests.routers.test_media import jpeg

CHECK = "wxa/msg_sec_check"
MEDIA_CHECK = "wxa/media_check_async"
CALLBACK = "/wechat/callback"
TOKEN = "callback-token-for-tests"
# An EncodingAESKey is 43 characters of base64 (32 bytes without the final "=").
AES_KEY = base64.b64encode(b"k" * 32).decode().rstrip("=")


# --- apps: image checks on (S3 + push token), and the same in safe mode ---------------


async def _app_with(database_url, tmp_path_factory, wechat_stub, s3, **extra):
    settings = make_settings(
        database_url,
        tmp_path_factory.mktemp("content-security"),
        wechat_stub[1],
        **s3_overrides(s3),
        wechat_callback_token=TOKEN,
        **extra,
    )
    return create_app(settings)


@pytest.fixture(scope="session")
async def checked_app(request, database_url, tmp_path_factory, wechat_stub) -> AsyncIterator:
    s3 = request.getfixturevalue("s3_server")
    application = await _app_with(database_url, tmp_path_factory, wechat_stub, s3)
    yield application
    await application.state.engine.dispose()


@pytest.fixture(scope="session")
async def safe_app(request, database_url, tmp_path_factory, wechat_stub) -> AsyncIterator:
    s3 = request.getfixturevalue("s3_server")
    application = await _app_with(
        database_url, tmp_path_factory, wechat_stub, s3, wechat_callback_aes_key=AES_KEY
    )
    yield application
    await application.state.engine.dispose()


@pytest.fixture
async def cworld(checked_app: FastAPI, safe_app: FastAPI, wechat_stub) -> AsyncIterator[World]:
    wechat_stub[0].reset()
    forget_wechat_token(checked_app)
    world = await build_world(checked_app)
    yield world
    await empty_all_tables(checked_app)
    forget_wechat_token(checked_app)


def _client(application: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=application)
    return httpx.AsyncClient(transport=transport, base_url="http://test/api/v1")


@pytest.fixture
async def cclient(checked_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(checked_app) as c:
        yield c


@pytest.fixture
async def safe_client(safe_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(safe_app) as c:
        yield c


# --- helpers --------------------------------------------------------------------------


async def upload(client, world, who="member") -> dict:
    resp = await client.post(
        "/media", files={"file": ("p.jpg", jpeg(), "image/jpeg")}, headers=world.headers(who)
    )
    assert resp.status_code == 201, resp.text
    return resp.json()


async def report_in_with(client, world, photo_id: int) -> None:
    resp = await client.post(
        "/report-ins",
        json={"note": "来报到", "photo_ids": [photo_id]},
        headers=world.headers("member"),
    )
    assert resp.status_code == 201, resp.text


async def admin_sees(client, world, photo_id: int) -> tuple[int, list[int]]:
    """(GET /media/{id} status, the photo ids on the member's report-in) for the admin."""
    got = await client.get(f"/media/{photo_id}", headers=world.headers("community_admin"))
    listed = await client.get("/report-ins", headers=world.headers("community_admin"))
    (item,) = listed.json()["items"]
    return got.status_code, item["photo_ids"]


async def row(application: FastAPI, media_id: int) -> Media:
    async with application.state.sessionmaker() as session:
        media = await session.get(Media, media_id)
        assert media is not None
        return media


async def push(client, message: dict, *, token=TOKEN, fmt="json", **kw) -> httpx.Response:
    query, body, content_type = signed_push(message, token=token, fmt=fmt, **kw)
    return await client.post(
        CALLBACK, params=query, content=body, headers={"content-type": content_type}
    )


def verdict(trace_id: str, suggest: str | None, **kw) -> dict:
    return media_check_push(appid=WECHAT_APPID, trace_id=trace_id, suggest=suggest, **kw)


async def resubmit(application: FastAPI, *, after: timedelta) -> int:
    # Through the scheduled job, as the scheduler runs it (in process: inline).
    task = await application.state.jobs.resubmit_media_checks.kiq(utcnow() + after)
    result = await task.wait_result()
    assert not result.is_err, result.error
    return int(result.return_value)


# --- texts: wishes --------------------------------------------------------------------


def wish_body(world, description="帮独居老人修好漏水的水龙头") -> dict:
    return {
        "title": "修水龙头",
        "description": description,
        "community_id": world["C1"].id,
        "beneficiary_name": "李大爷",
    }


@pytest.mark.parametrize("who", ["community_admin", "member"])
async def test_a_risky_wish_is_refused_and_nothing_is_stored(client, world, stub, who):
    stub.content_verdicts["赌博"] = "risky"
    resp = await client.post(
        "/wishes", json=wish_body(world, "帮忙组织赌博"), headers=world.headers(who)
    )
    assert resp.status_code == 422
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.json()["code"] == "content_rejected"
    listed = await client.get("/wishes", headers=world.headers("community_admin"))
    assert listed.json()["total"] == 0
    (call,) = [c for p, c in stub.calls if p == CHECK]
    assert (call["version"], call["scene"]) == (2, 3)
    assert call["openid"] == world.user(who).openid
    assert (call["title"], call["content"]) == ("修水龙头", "帮忙组织赌博")


async def test_a_clean_wish_of_an_admin_opens_at_once(client, world, stub):
    resp = await client.post(
        "/wishes", json=wish_body(world), headers=world.headers("community_admin")
    )
    assert resp.status_code == 201
    assert resp.json()["status"] == "open"
    assert stub.count(CHECK) == 1


async def test_an_admin_wish_wechat_wants_a_person_to_see_waits_for_review(client, world, stub):
    stub.content_verdicts["水龙头"] = "review"
    resp = await client.post(
        "/wishes", json=wish_body(world), headers=world.headers("community_admin")
    )
    assert resp.status_code == 201
    wish = resp.json()
    assert wish["status"] == "pending_review"
    # Members of the district do not see it until an admin approves it.
    seen = await client.get(f"/wishes/{wish['id']}", headers=world.headers("member"))
    assert seen.status_code == 404
    history = await client.get(
        f"/wishes/{wish['id']}/history", headers=world.headers("street_admin")
    )
    assert history.json()[0]["note"] == "微信内容安全检测建议人工复核"
    approved = await client.post(
        f"/wishes/{wish['id']}/review",
        json={"approve": True},
        headers=world.headers("street_admin"),
    )
    assert approved.json()["status"] == "open"


async def test_wechat_down_when_a_wish_is_posted_is_503_and_nothing_is_stored(client, world, stub):
    stub.forced_errors[CHECK] = [-1]
    resp = await client.post(
        "/wishes", json=wish_body(world), headers=world.headers("community_admin")
    )
    assert resp.status_code == 503
    assert resp.json()["code"] == "wechat_unavailable"
    listed = await client.get("/wishes", headers=world.headers("community_admin"))
    assert listed.json()["total"] == 0


async def test_a_risky_fulfilment_note_is_refused_and_the_wish_stays_claimed(client, world, stub):
    wish = await insert_wish(
        world.app,
        community=world["C1"],
        poster=world.user("community_admin"),
        status=WishStatus.claimed,
        claimant=world.user("member"),
    )
    photo = await make_media(world.app, world.user("member"))
    stub.content_verdicts["色情"] = "risky"
    resp = await client.post(
        f"/wishes/{wish.id}/fulfill",
        json={"photo_ids": [photo.id], "note": "附色情图片"},
        headers=world.headers("member"),
    )
    assert resp.status_code == 422
    assert resp.json()["code"] == "content_rejected"
    seen = await client.get(f"/wishes/{wish.id}", headers=world.headers("member"))
    assert seen.json()["status"] == "claimed"
    assert seen.json()["photo_ids"] == []
    (call,) = [c for p, c in stub.calls if p == CHECK]
    assert call["scene"] == 2


async def test_a_clean_fulfilment_note_goes_through(client, world, stub):
    wish = await insert_wish(
        world.app,
        community=world["C1"],
        poster=world.user("community_admin"),
        status=WishStatus.claimed,
        claimant=world.user("member"),
    )
    photo = await make_media(world.app, world.user("member"))
    resp = await client.post(
        f"/wishes/{wish.id}/fulfill",
        json={"photo_ids": [photo.id], "note": "书包已送到"},
        headers=world.headers("member"),
    )
    assert resp.status_code == 200
    assert resp.json()["status"] == "fulfilled"
    assert stub.count(CHECK) == 1


async def test_with_checks_off_nothing_is_asked_of_wechat(client, world, stub, monkeypatch):
    monkeypatch.setattr(world.app.state.settings, "content_check_enabled", False)
    stub.content_verdicts["赌博"] = "risky"
    resp = await client.post(
        "/wishes", json=wish_body(world, "赌博"), headers=world.headers("community_admin")
    )
    assert resp.status_code == 201
    assert resp.json()["status"] == "open"
    photo = await client.post(
        "/media", files={"file": ("p.jpg", jpeg(), "image/jpeg")}, headers=world.headers("member")
    )
    assert photo.json()["check_status"] == "pass"
    assert stub.count(CHECK) == stub.count(MEDIA_CHECK) == 0


async def test_dev_with_local_storage_passes_photos_at_once(client, world, stub):
    # The shared test app: WeChat configured, but no push token and local storage.
    photo = await client.post(
        "/media", files={"file": ("p.jpg", jpeg(), "image/jpeg")}, headers=world.headers("member")
    )
    assert photo.json()["check_status"] == "pass"
    await report_in_with(client, world, photo.json()["id"])
    assert await admin_sees(client, world, photo.json()["id"]) == (200, [photo.json()["id"]])
    assert stub.count(MEDIA_CHECK) == 0


# --- photos ----------------------------------------------------------------------------


async def test_a_photo_is_hidden_from_others_until_wechat_passes_it(cclient, cworld, stub):
    photo = await upload(cclient, cworld)
    assert photo["check_status"] == "pending"
    (submitted,) = stub.media_checks
    (call,) = [c for p, c in stub.calls if p == MEDIA_CHECK]
    assert (call["version"], call["media_type"], call["scene"]) == (2, 2, 3)
    assert call["openid"] == cworld.user("member").openid
    # WeChat gets a presigned URL of the stored image, on the public S3 host.
    url = urlsplit(submitted["media_url"])
    media = await row(cworld.app, photo["id"])
    assert f"{url.scheme}://{url.netloc}" == S3_PUBLIC
    assert url.path == f"/{S3_BUCKET}/{media.storage_key}"
    async with httpx.AsyncClient() as http:
        fetched = await http.get(
            f"http://{cworld.app.state.settings.s3_endpoint}{url.path}?{url.query}"
        )
    assert fetched.content == await cworld.app.state.storage.get(media.storage_key)
    assert media.check_trace_id == submitted["trace_id"]

    await report_in_with(cclient, cworld, photo["id"])
    assert await admin_sees(cclient, cworld, photo["id"]) == (404, [])
    # The uploader sees their own photo all along.
    own = await cclient.get(f"/media/{photo['id']}", headers=cworld.headers("member"))
    assert own.status_code == 307

    resp = await push(cclient, verdict(submitted["trace_id"], "pass"))
    assert resp.status_code == 200
    assert resp.text == "success"
    assert await admin_sees(cclient, cworld, photo["id"]) == (307, [photo["id"]])
    media = await row(cworld.app, photo["id"])
    assert media.check_status == MediaCheckStatus.passed
    assert media.checked_at is not None


async def test_a_video_is_checked_by_its_poster(cclient, cworld, stub):
    """WeChat checks images, not videos: it gets the poster's URL."""
    resp = await cclient.post(
        "/media",
        files={"file": ("v.mp4", mp4(), "video/mp4")},
        headers=cworld.headers("member"),
    )
    assert resp.status_code == 201, resp.text
    assert resp.json()["check_status"] == "pending"
    (submitted,) = stub.media_checks
    media = await row(cworld.app, resp.json()["id"])
    assert urlsplit(submitted["media_url"]).path == f"/{S3_BUCKET}/{media.thumbnail_key}"
    assert media.check_trace_id == submitted["trace_id"]


@pytest.mark.parametrize("suggest", ["risky", "review"])
async def test_a_photo_wechat_does_not_pass_stays_hidden_for_good(cclient, cworld, stub, suggest):
    photo = await upload(cclient, cworld)
    await report_in_with(cclient, cworld, photo["id"])
    trace_id = stub.media_checks[0]["trace_id"]
    assert (await push(cclient, verdict(trace_id, suggest))).text == "success"
    # A later "pass" for the same check changes nothing.
    assert (await push(cclient, verdict(trace_id, "pass"))).text == "success"
    assert (await row(cworld.app, photo["id"])).check_status == suggest
    assert await admin_sees(cclient, cworld, photo["id"]) == (404, [])
    district = await cclient.get(f"/media/{photo['id']}", headers=cworld.headers("district_admin"))
    assert district.status_code == 404
    # Nor does the job submit it again.
    assert await resubmit(cworld.app, after=timedelta(hours=2)) == 0


async def test_a_bad_signature_is_refused_and_changes_nothing(cclient, cworld, stub):
    photo = await upload(cclient, cworld)
    trace_id = stub.media_checks[0]["trace_id"]
    stale = int((utcnow() - timedelta(minutes=10)).timestamp())
    for kw in ({"token": "not-our-token"}, {"timestamp": stale}):
        resp = await push(cclient, verdict(trace_id, "pass"), **kw)
        assert resp.status_code == 403
        assert resp.headers["content-type"].startswith("application/problem+json")
        assert resp.json()["code"] == "invalid_signature"
    unsigned = await cclient.post(CALLBACK, json=verdict(trace_id, "pass"))
    assert unsigned.status_code == 403
    # A bearer token is no substitute for WeChat's signature.
    with_login = await cclient.post(
        CALLBACK, json=verdict(trace_id, "pass"), headers=cworld.headers("district_admin")
    )
    assert with_login.status_code == 403
    media = await row(cworld.app, photo["id"])
    assert (media.check_status, media.checked_at) == (MediaCheckStatus.pending, None)


async def test_wechat_verifies_the_url_with_a_signed_echo(cclient, cworld):
    query, _, _ = signed_push({}, token=TOKEN)
    ok = await cclient.get(CALLBACK, params={**query, "echostr": "echo-1234"})
    assert ok.status_code == 200
    assert ok.text == "echo-1234"
    bad_query, _, _ = signed_push({}, token="not-our-token")
    bad = await cclient.get(CALLBACK, params={**bad_query, "echostr": "echo-1234"})
    assert bad.status_code == 403
    assert bad.json()["code"] == "invalid_signature"


async def test_a_repeated_push_is_harmless(cclient, cworld, stub):
    photo = await upload(cclient, cworld)
    trace_id = stub.media_checks[0]["trace_id"]
    assert (await push(cclient, verdict(trace_id, "pass"))).text == "success"
    first = await row(cworld.app, photo["id"])
    again = await push(cclient, verdict(trace_id, "pass"))
    assert (again.status_code, again.text) == (200, "success")
    second = await row(cworld.app, photo["id"])
    assert (second.check_status, second.checked_at) == (MediaCheckStatus.passed, first.checked_at)


async def test_a_push_for_an_unknown_trace_id_is_acknowledged_and_ignored(cclient, cworld, stub):
    photo = await upload(cclient, cworld)
    resp = await push(cclient, verdict("trace-nobody-sent", "pass"))
    assert (resp.status_code, resp.text) == (200, "success")
    other = await push(cclient, {"MsgType": "event", "Event": "user_enter_tempsession"})
    assert (other.status_code, other.text) == (200, "success")
    assert (await row(cworld.app, photo["id"])).check_status == MediaCheckStatus.pending


async def test_xml_pushes_are_understood_too(cclient, cworld, stub):
    photo = await upload(cclient, cworld)
    trace_id = stub.media_checks[0]["trace_id"]
    resp = await push(cclient, verdict(trace_id, "pass"), fmt="xml")
    assert (resp.status_code, resp.text) == (200, "success")
    assert (await row(cworld.app, photo["id"])).check_status == MediaCheckStatus.passed


async def test_a_signed_push_we_cannot_read_is_400(cclient, cworld):
    query, _, _ = signed_push({}, token=TOKEN)
    resp = await cclient.post(CALLBACK, params=query, content=b"not a message")
    assert resp.status_code == 400
    assert resp.json()["code"] == "invalid_push"


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_safe_mode_pushes_are_decrypted_and_plaintext_ones_refused(
    cclient, safe_client, cworld, stub, fmt
):
    photo = await upload(cclient, cworld)
    trace_id = stub.media_checks[0]["trace_id"]
    plaintext = await push(safe_client, verdict(trace_id, "pass"), fmt=fmt)
    assert plaintext.status_code == 403
    wrong_appid = await push(
        safe_client, verdict(trace_id, "pass"), fmt=fmt, aes_key=AES_KEY, appid="wx-someone-else"
    )
    assert wrong_appid.status_code == 403
    assert (await row(cworld.app, photo["id"])).check_status == MediaCheckStatus.pending
    resp = await push(
        safe_client, verdict(trace_id, "pass"), fmt=fmt, aes_key=AES_KEY, appid=WECHAT_APPID
    )
    assert (resp.status_code, resp.text) == (200, "success")
    assert (await row(cworld.app, photo["id"])).check_status == MediaCheckStatus.passed


async def test_wechat_down_at_upload_leaves_the_photo_pending_and_the_job_submits_it_later(
    cclient, cworld, stub
):
    stub.forced_errors[MEDIA_CHECK] = [-1]
    photo = await upload(cclient, cworld)
    assert photo["check_status"] == "pending"
    media = await row(cworld.app, photo["id"])
    assert media.check_trace_id is None and media.check_requested_at is not None
    assert stub.media_checks == []
    await report_in_with(cclient, cworld, photo["id"])
    assert await admin_sees(cclient, cworld, photo["id"]) == (404, [])

    # Not yet: the retry waits a few minutes.
    assert await resubmit(cworld.app, after=timedelta(minutes=1)) == 0
    assert await resubmit(cworld.app, after=timedelta(minutes=6)) == 1
    (submitted,) = stub.media_checks
    assert (await row(cworld.app, photo["id"])).check_trace_id == submitted["trace_id"]
    # Submitted once is enough until the verdict is overdue.
    assert await resubmit(cworld.app, after=timedelta(minutes=12)) == 0

    assert (await push(cclient, verdict(submitted["trace_id"], "pass"))).text == "success"
    assert await admin_sees(cclient, cworld, photo["id"]) == (307, [photo["id"]])


async def test_a_verdict_that_never_comes_is_asked_for_again(cclient, cworld, stub):
    photo = await upload(cclient, cworld)
    first = stub.media_checks[0]["trace_id"]
    assert await resubmit(cworld.app, after=timedelta(minutes=30)) == 0
    assert await resubmit(cworld.app, after=timedelta(minutes=61)) == 1
    second = stub.media_checks[1]["trace_id"]
    assert (await row(cworld.app, photo["id"])).check_trace_id == second
    # The old check's verdict now names nothing we wait for; the new one decides.
    assert (await push(cclient, verdict(first, "pass"))).text == "success"
    assert (await row(cworld.app, photo["id"])).check_status == MediaCheckStatus.pending
    assert (await push(cclient, verdict(second, "pass"))).text == "success"
    assert (await row(cworld.app, photo["id"])).check_status == MediaCheckStatus.passed


async def test_a_check_wechat_could_not_make_is_submitted_again(cclient, cworld, stub):
    photo = await upload(cclient, cworld)
    trace_id = stub.media_checks[0]["trace_id"]
    failed = verdict(trace_id, None, errcode=-1008)
    assert (await push(cclient, failed)).text == "success"
    media = await row(cworld.app, photo["id"])
    assert (media.check_status, media.check_trace_id) == (MediaCheckStatus.pending, None)
    assert await resubmit(cworld.app, after=timedelta(minutes=6)) == 1


async def test_two_runs_of_the_job_at_once_record_one_trace_id(cclient, cworld, stub):
    stub.forced_errors[MEDIA_CHECK] = [-1]
    photo = await upload(cclient, cworld)
    runs = await asyncio.gather(
        resubmit(cworld.app, after=timedelta(minutes=6)),
        resubmit(cworld.app, after=timedelta(minutes=6)),
    )
    # Both may have asked WeChat; only one trace id is recorded.
    assert sorted(runs) == [0, 1]
    media = await row(cworld.app, photo["id"])
    assert media.check_trace_id in {c["trace_id"] for c in stub.media_checks}


async def test_photos_on_records_hide_from_others_but_not_from_their_uploader(cclient, cworld):
    """The lists of records leave unchecked photos out for everyone but the uploader."""
    pending = await make_media(
        cworld.app, cworld.user("member"), check_status=MediaCheckStatus.pending
    )
    passed = await make_media(cworld.app, cworld.user("member"))
    wish = await insert_wish(
        cworld.app,
        community=cworld["C1"],
        poster=cworld.user("community_admin"),
        status=WishStatus.claimed,
        claimant=cworld.user("member"),
    )
    resp = await cclient.post(
        f"/wishes/{wish.id}/fulfill",
        json={"photo_ids": [pending.id, passed.id], "note": "书包已送到"},
        headers=cworld.headers("member"),
    )
    assert resp.json()["photo_ids"] == [pending.id, passed.id]
    for who in ("community_admin", "district_admin"):
        seen = await cclient.get(f"/wishes/{wish.id}", headers=cworld.headers(who))
        assert seen.json()["photo_ids"] == [passed.id], who
    async with cworld.app.state.sessionmaker() as session:
        caller = await caller_for_person(session, cworld.user("member"))
        stored = await session.get(type(wish), wish.id)
        (mine,) = await wish_service.to_public(
            session, caller=caller, cipher=cworld.app.state.cipher, wishes=[stored]
        )
    assert mine.photo_ids == [pending.id, passed.id]


# --- the migration ------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request, tmp_path: Path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'upgrade.db'}"
        return
    if reason := _postgres_available():
        pytest.skip(reason)
    name = f"chuangwen_cs_{uuid.uuid4().hex[:10]}"
    _admin(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_photos_stored_before_checks_existed_stay_visible_after_the_upgrade(empty_url):
    run_migrations(empty_url, "a1c0e8d2f001")
    engine = create_async_engine(to_async_url(empty_url), poolclass=NullPool)
    now = utcnow()
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO users (id, name, is_party_member, created_at, updated_at)"
                    " VALUES (1, '老用户', false, :now, :now)"
                ),
                {"now": now if conn.dialect.name == "postgresql" else now.isoformat()},
            )
            await conn.execute(
                text(
                    "INSERT INTO media (id, uploader_id, storage_key, thumbnail_key, content_type,"
                    " size, width, height, sha256, phash, created_at) VALUES (1, 1, :k, :t,"
                    " 'image/jpeg', 1, 1, 1, :h, :p, :now)"
                ),
                {
                    "k": os.urandom(16).hex() + ".jpg",
                    "t": os.urandom(16).hex() + "-thumb.jpg",
                    "h": "0" * 64,
                    "p": "0" * 16,
                    "now": now if conn.dialect.name == "postgresql" else now.isoformat(),
                },
            )
        run_migrations(empty_url, "b2d1f9e3a002")
        async with engine.connect() as conn:
            status = (await conn.execute(text("SELECT check_status FROM media"))).scalar_one()
        assert status == "pass"
    finally:
        await engine.dispose()


# --- settings -----------------------------------------------------------------------------

PROD = {
    "app_env": "prod",
    "jwt_secret": "x" * 40,
    "pii_key": "y" * 40,
    "wechat_appid": "wx123",
    "wechat_secret": "s3cret",
    "wechat_callback_token": TOKEN,
}


def test_production_refuses_image_checks_on_local_storage():
    with pytest.raises(ValidationError, match="STORAGE_BACKEND=s3"):
        Settings(_env_file=None, **PROD)
    Settings(_env_file=None, **PROD, storage_backend="s3", s3_endpoint="minio:9000")


def test_an_encoding_aes_key_that_is_not_one_is_refused():
    with pytest.raises(ValidationError, match="wechat_callback_aes_key"):
        Settings(_env_file=None, wechat_callback_aes_key="too-short")
    Settings(_env_file=None, wechat_callback_aes_key=AES_KEY)


async def test_a_photo_wechat_found_risky_cannot_be_attached_to_a_record(cclient, cworld, stub):
    photo = await upload(cclient, cworld)
    await push(cclient, verdict(stub.media_checks[0]["trace_id"], "risky"))
    resp = await cclient.post(
        "/report-ins", json={"photo_ids": [photo["id"]]}, headers=cworld.headers("member")
    )
    assert resp.status_code == 422
    assert resp.json()["code"] == "photo_rejected"
