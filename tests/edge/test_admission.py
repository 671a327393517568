"""A request takes nothing others share until its body is in (app/edge/admission.py).

Against a real uvicorn server on 127.0.0.1, since the stall is a socket's: bodies
are declared and not sent, or sent a few bytes at a time. A stalled request asks
`Expect: 100-continue`, which uvicorn answers only once the app reads the body: so
each stalled request is known to be inside the app, waiting, before the rest of the
test goes on.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import re
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from fastapi import FastAPI
from PIL import Image

from app.main import create_app
from tests.factories.tasks import PLACE, make_task
from tests.factories.users import auth, make_user
from tests.support.servers import AppServer

HERE = {"lat": PLACE[0], "lng": PLACE[1]}
# Well within, not a benchmark: a request that waited for a stalled one waits seconds.
PROMPT_S = 2.0


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (30, 120, 200)).save(out, "JPEG")
    return out.getvalue()


def multipart(data: bytes, boundary: str = "admission-test") -> tuple[str, bytes]:
    body = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="file"; filename="photo.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    body += data + f"\r\n--{boundary}--\r\n".encode()
    return f"multipart/form-data; boundary={boundary}", body


@contextmanager
def served(db: FastAPI, tmp_path, **overrides: object) -> Iterator[tuple[FastAPI, str]]:
    settings = db.state.settings.model_copy(
        update={"storage_local_dir": str(tmp_path / "media"), **overrides}
    )
    app = create_app(settings)
    with AppServer(app) as server:
        yield app, server.url.rstrip("/")


def begin(
    url: str, path: str, headers: dict[str, str], content_type: str, length: int
) -> socket.socket:
    """A POST whose body the app is now waiting for: headers sent, `100 Continue` heard."""
    host, port = url.removeprefix("http://").split(":")
    # Generous: on a loaded 2-core machine the first interim answer has taken over 5 s;
    # the test is whether it comes at all, not how fast.
    sock = socket.create_connection((host, int(port)), timeout=20)
    head = f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\n"
    head += f"Content-Length: {length}\r\nExpect: 100-continue\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    sock.sendall(head.encode() + b"\r\n")
    try:
        interim = sock.recv(1024)
    except TimeoutError:
        sock.close()
        raise AssertionError(f"{path}: the app never began reading the body") from None
    assert interim.startswith(b"HTTP/1.1 100 "), interim
    return sock


def answer(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
        head, sep, rest = data.partition(b"\r\n\r\n")
        length = re.search(rb"(?i)\r\ncontent-length: (\d+)", head)
        if sep and length and len(rest) >= int(length.group(1)):
            break
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, rest


async def test_fifty_stalled_bodies_hold_nothing_while_reads_and_writes_go_on(db, world, tmp_path):
    task = await make_task(db, world["C1"])
    other = await make_user(db, "另一党员", community=world["C1"], party=True)
    idle_timeout_s = 4.0
    with served(db, tmp_path, body_read_timeout_s=idle_timeout_s) as (app, url):
        photo_type, _ = multipart(b"")
        stalls = [
            ("/api/v1/users", world.headers("community_admin"), "application/json"),
            (f"/api/v1/tasks/{task.id}/check-ins", world.headers("member"), "application/json"),
            ("/api/v1/media", world.headers("member"), photo_type),
            ("/api/v1/users/import", world.headers("community_admin"), photo_type),
            ("/api/v1/auth/wechat-login", {}, "application/json"),
        ]
        stalled: list[socket.socket] = []
        try:
            for i in range(50):
                path, headers, content_type = stalls[i % len(stalls)]
                sock = begin(url, path, headers, content_type, length=100)
                # 7 of the 100 bytes declared; an upload's body is parsed as it comes
                # (a JSON start would be refused at once), so its own first bytes.
                sock.sendall(b"--admis" if path == "/api/v1/media" else b'{"name"')
                stalled.append(sock)
            all_stalled = time.monotonic()

            async with httpx.AsyncClient(base_url=url + "/api/v1", timeout=10) as c:
                new_person = {
                    "name": "照常登记",
                    "phone": "13822220001",
                    "community_id": world["C1"].id,
                    "is_party_member": True,
                }
                other_headers = auth(db, other)
                requests = [
                    ("GET", "/me", world.headers("member"), None, 200),
                    ("GET", f"/tasks/{task.id}", world.headers("member"), None, 200),
                    ("POST", "/users", world.headers("community_admin"), new_person, 201),
                    ("POST", f"/tasks/{task.id}/check-ins", other_headers, HERE, 201),
                    ("GET", "/users", world.headers("community_admin"), None, 200),
                ]
                for method, path, headers, body, status in requests:
                    started = time.monotonic()
                    resp = await c.request(method, path, json=body, headers=headers)
                    took = time.monotonic() - started
                    assert resp.status_code == status, (path, resp.text)
                    assert took < PROMPT_S, f"{method} {path} took {took:.1f} s"
                photo_type, photo = multipart(jpeg())
                started = time.monotonic()
                uploaded = await c.post(
                    "/media",
                    content=photo,
                    headers=world.headers("member") | {"Content-Type": photo_type},
                )
                assert uploaded.status_code == 201, uploaded.text
                assert time.monotonic() - started < PROMPT_S
            # All of that happened while the fifty were still waiting for their bodies.
            assert time.monotonic() - all_stalled < idle_timeout_s

            for sock in stalled:
                status, headers, content = answer(sock)
                assert status == 408
                assert headers["content-type"].startswith("application/problem+json")
                assert json.loads(content)["code"] == "request_timeout"
                assert headers["connection"] == "close"
                assert sock.recv(1024) == b""  # and the server let the connection go
        finally:
            for sock in stalled:
                sock.close()
        assert _nothing_held(app)


def _nothing_held(app: FastAPI) -> bool:
    lock = getattr(app.state, "sqlite_write_lock", None)
    turns = getattr(app.state, "connection_turns", None)
    settings = app.state.settings
    return (lock is None or not lock.locked()) and (
        turns is None or turns._value == settings.database_pool_size
    )


async def test_a_photo_uploaded_slowly_is_stored_and_keeps_no_one_waiting(db, world, tmp_path):
    """A phone on a bad network: the body comes in pieces, each gap shorter than the
    read timeout, the whole longer. The upload is let in, parsed from the body read
    ahead (multipart included), and writes go on while it trickles.

    The gaps are a small part of the timeout (0.2 of 1.5 s) and many (twelve, 2.4 s
    in all: longer than the write may take, so the write is answered before the body
    is in), and the write is made beside the trickle rather than inside a gap: on a
    loaded 2-core machine a write took most of a second, which made one gap of 0.6 s
    longer than the 1 s timeout and the test fail with a 408 the server was right to
    give."""
    idle_timeout_s, gap_s, gaps = 1.5, 0.2, 12
    assert gaps * gap_s > PROMPT_S
    with served(db, tmp_path, body_read_timeout_s=idle_timeout_s) as (_, url):
        content_type, body = multipart(jpeg())
        sock = begin(url, "/api/v1/media", world.headers("member"), content_type, len(body))
        try:
            step = -(-len(body) // (gaps + 1))
            pieces = [body[i : i + step] for i in range(0, len(body), step)]
            assert len(pieces) == gaps + 1
            sent = [time.monotonic()]
            sock.sendall(pieces[0])

            async def trickle() -> None:
                for piece in pieces[1:]:
                    await asyncio.sleep(gap_s)
                    sock.sendall(piece)
                    sent.append(time.monotonic())

            async def write_meanwhile() -> None:
                async with httpx.AsyncClient(base_url=url + "/api/v1", timeout=PROMPT_S) as c:
                    person = {
                        "name": "上传中登记",
                        "phone": "13822220002",
                        "community_id": world["C1"].id,
                    }
                    created = await c.post(
                        "/users", json=person, headers=world.headers("community_admin")
                    )
                    assert created.status_code == 201, created.text
                # Answered while the upload was still coming in.
                assert len(sent) < len(pieces)

            await asyncio.gather(trickle(), write_meanwhile())
            status, _, content = answer(sock)
            # The premise, as the client kept it: every gap under the timeout, the
            # whole body over it.
            longest = max(b - a for a, b in itertools.pairwise(sent))
            assert longest < idle_timeout_s, f"the client itself paused {longest:.1f} s"
            assert sent[-1] - sent[0] > idle_timeout_s
            assert status == 201, content
            assert json.loads(content)["size"] > 0
        finally:
            sock.close()
