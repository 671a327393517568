"""The two storage backends behind one interface: a local folder, and S3 spoken over
HTTP to moto's server (which does not verify presigned signatures, so the URL's host,
expiry and query are checked here)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from minio import Minio
from moto.server import ThreadedMotoServer

from app.core import storage as storage_module
from app.core.storage import LocalStorage, S3Storage, Storage, create_storage
from tests.conftest import make_settings

S3_BUCKET = "chuangwen-test"
S3_ACCESS_KEY = "test-access-key"
S3_SECRET_KEY = "test-secret-key"
S3_PUBLIC = "http://files.example.test"


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """A moto S3 server on a free port with the bucket created; yields host:port."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"{host}:{port}"
    Minio(endpoint, access_key=S3_ACCESS_KEY, secret_key=S3_SECRET_KEY, secure=False).make_bucket(
        S3_BUCKET
    )
    yield endpoint
    server.stop()


def s3_overrides(endpoint: str, **extra: object) -> dict[str, object]:
    values: dict[str, object] = {
        "storage_backend": "s3",
        "s3_endpoint": endpoint,
        "s3_access_key": S3_ACCESS_KEY,
        "s3_secret_key": S3_SECRET_KEY,
        "s3_bucket": S3_BUCKET,
        "s3_secure": False,
        "s3_region": "us-east-1",
        "s3_public_endpoint": S3_PUBLIC,
    }
    values.update(extra)
    return values


def build(tmp_path: Path, **overrides: object) -> Storage:
    return create_storage(make_settings("sqlite://", tmp_path, "http://127.0.0.1:9/", **overrides))


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    if request.param == "local":
        return build(tmp_path)
    return build(tmp_path, **s3_overrides(request.getfixturevalue("s3_server")))


KEY = "0123456789abcdef0123456789abcdef.jpg"
_KEY_SHAPE = re.compile(r"[0-9a-f]+(-thumb)?\.[a-z0-9]+")


async def test_stored_bytes_read_back_the_same(storage):
    await storage.check()
    await storage.put(KEY, b"\xff\xd8photo", "image/jpeg")
    assert await storage.get(KEY) == b"\xff\xd8photo"


async def test_keys_that_we_did_not_generate_are_refused(storage):
    for key in ("../escape.jpg", "a/b.jpg", "photo.jpg", "0123456789abcdef/../x.jpg"):
        with pytest.raises(ValueError):
            await storage.put(key, b"x", "image/jpeg")


async def test_local_storage_hands_out_the_file_inside_its_root(tmp_path):
    storage = build(tmp_path)
    assert isinstance(storage, LocalStorage)
    await storage.put(KEY, b"bytes", "image/jpeg")
    target = await storage.locate(KEY, ttl_s=60)
    assert isinstance(target, Path)
    assert target.read_bytes() == b"bytes"
    assert target.resolve().is_relative_to((tmp_path / "media").resolve())


async def test_local_check_creates_the_folder(tmp_path):
    storage = build(tmp_path)
    await storage.check()
    assert (tmp_path / "media").is_dir()


async def test_s3_url_is_signed_for_the_public_host_with_the_ttl(s3_server, tmp_path):
    storage = build(tmp_path, **s3_overrides(s3_server))
    await storage.put(KEY, b"public bytes", "image/jpeg")
    url = await storage.locate(KEY, ttl_s=120)
    assert isinstance(url, str)
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc) == ("http", "files.example.test")
    assert parts.path == f"/{S3_BUCKET}/{KEY}"
    query = parse_qs(parts.query)
    assert query["X-Amz-Expires"] == ["120"]
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-Credential"][0].startswith(f"{S3_ACCESS_KEY}/")
    assert "/us-east-1/s3/aws4_request" in query["X-Amz-Credential"][0]
    assert query["X-Amz-SignedHeaders"] == ["host"]
    assert len(query["X-Amz-Signature"][0]) == 64
    # The same path and query reach the object (moto does not check the signature).
    async with httpx.AsyncClient() as http:
        resp = await http.get(f"http://{s3_server}{parts.path}?{parts.query}")
    assert resp.status_code == 200
    assert resp.content == b"public bytes"


async def test_s3_signing_needs_no_network(tmp_path):
    # Nothing listens on port 9: asking the server for the bucket's region would fail.
    storage = build(tmp_path, **s3_overrides("127.0.0.1:9"))
    url = await storage.locate(KEY, ttl_s=60)
    assert isinstance(url, str)
    assert urlsplit(url).netloc == "files.example.test"


async def test_s3_without_public_endpoint_signs_for_the_internal_host(s3_server, tmp_path):
    storage = build(tmp_path, **s3_overrides(s3_server, s3_public_endpoint=""))
    url = await storage.locate(KEY, ttl_s=60)
    assert isinstance(url, str)
    assert urlsplit(url).netloc == s3_server


async def test_s3_public_endpoint_may_be_given_without_a_scheme(s3_server, tmp_path):
    storage = build(
        tmp_path, **s3_overrides(s3_server, s3_public_endpoint="files.example.test:9000")
    )
    url = await storage.locate(KEY, ttl_s=60)
    assert isinstance(url, str)
    assert url.startswith("http://files.example.test:9000/")


async def test_s3_check_fails_when_the_bucket_is_missing(s3_server, tmp_path):
    storage = build(tmp_path, **s3_overrides(s3_server, s3_bucket="no-such-bucket"))
    assert isinstance(storage, S3Storage)
    with pytest.raises(RuntimeError, match="does not exist"):
        await storage.check()


async def test_listing_finds_our_objects_written_before_the_cutoff_in_batches(storage, monkeypatch):
    monkeypatch.setattr(storage_module, "LIST_BATCH", 2)
    keys = [f"{i:02d}" * 16 + ".jpg" for i in range(5)]
    for key in keys:
        await storage.put(key, b"x", "image/jpeg")
    if isinstance(storage, LocalStorage):
        # Files that are not ours: a write in progress, something an operator left.
        (storage.root / "ab").mkdir(parents=True, exist_ok=True)
        (storage.root / "ab" / ".upload-123").write_bytes(b"half")
        (storage.root / "ab" / "notes.txt").write_text("hello")
    later = datetime.now(UTC) + timedelta(minutes=5)
    batches = [batch async for batch in storage.stored_before(later)]
    listed = [k for batch in batches for k in batch]
    # The session's S3 bucket also holds what other tests stored.
    assert set(keys) <= set(listed) and len(listed) == len(set(listed))
    assert all(_KEY_SHAPE.fullmatch(k) for k in listed)
    assert {len(b) for b in batches[:-1]} <= {2} and 1 <= len(batches[-1]) <= 2
    earlier = datetime.now(UTC) - timedelta(minutes=5)
    assert not set(keys) & {k async for b in storage.stored_before(earlier) for k in b}


async def test_a_deleted_object_is_gone_and_deleting_it_again_is_no_error(storage):
    await storage.put(KEY, b"photo", "image/jpeg")
    await storage.delete(KEY)
    later = datetime.now(UTC) + timedelta(minutes=5)
    assert KEY not in {k async for batch in storage.stored_before(later) for k in batch}
    await storage.delete(KEY)
    with pytest.raises(ValueError):
        await storage.delete("../etc/passwd")
