"""SIGTERM drains the server: requests in flight finish, new connections are refused,
and the process exits within the drain bound (`--timeout-graceful-shutdown`, set from
SHUTDOWN_DRAIN_SECONDS by docker/entrypoint.sh and `make run`), cutting what is left.

The server is a real uvicorn process on a migrated SQLite database. A request is held
in flight by its client: it asks `Expect: 100-continue`, and uvicorn answers
`100 Continue` only once the app is running the request and waiting for the body; the
body is then sent (or never sent) when the test decides. Everything is paced by what
the server says on its socket and its log, never by sleeping.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from app.devtools.wechat_stub import StubState
from tests.conftest import ROOT, WECHAT_APPID, WECHAT_SECRET, run_migrations

STARTUP_TIMEOUT_S = 30
# Slack for a loaded machine between the bound and the process being gone.
EXIT_MARGIN_S = 5


@dataclass
class Server:
    process: subprocess.Popen[str]
    port: int = 0
    # Log lines as they come; None once the process has closed its stderr.
    lines: queue.Queue[str | None] = field(default_factory=queue.Queue)
    log: list[str] = field(default_factory=list)

    def wait_for(self, pattern: str, timeout: float) -> str:
        """The first log line from now on matching `pattern`."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no log line like {pattern!r}; log so far:\n" + self.text())
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"the server ended before {pattern!r}:\n" + self.text())
            if re.search(pattern, line):
                return line

    def text(self) -> str:
        return "".join(self.log)


def _read_log(server: Server) -> None:
    assert server.process.stderr is not None
    for line in server.process.stderr:
        server.log.append(line)
        server.lines.put(line)
    server.lines.put(None)


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('drain') / 'app.db'}"
    run_migrations(url)
    return url


@pytest.fixture
def serve(database: str, tmp_path: Path, wechat_stub: tuple[StubState, str]) -> Iterator:
    started: list[Server] = []

    def start(drain_seconds: int) -> Server:
        env = {
            **os.environ,
            "APP_ENV": "test",
            "DATABASE_URL": database,
            "STORAGE_LOCAL_DIR": str(tmp_path / "media"),
            "WECHAT_APPID": WECHAT_APPID,
            "WECHAT_SECRET": WECHAT_SECRET,
            "WECHAT_API_BASE": wechat_stub[1],
        }
        env.pop("REDIS_URL", None)
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "app.main:create_app",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--log-level",
                "info",
                "--timeout-graceful-shutdown",
                str(drain_seconds),
            ],
            cwd=ROOT,
            env=env,
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
        )
        server = Server(process)
        started.append(server)
        threading.Thread(target=_read_log, args=(server,), daemon=True).start()
        # Logged once the app's startup is complete and the socket listens.
        line = server.wait_for(r"Uvicorn running on http://127\.0\.0\.1:\d+", STARTUP_TIMEOUT_S)
        server.port = int(line.split("http://127.0.0.1:", 1)[1].split()[0])
        return server

    yield start
    for server in started:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait(timeout=10)


def begin_login(port: int) -> tuple[socket.socket, bytes]:
    """A WeChat login whose body the server is waiting for; returns the socket and the
    body still to send."""
    body = json.dumps({"code": f"o-drain-{uuid.uuid4().hex}#1"}).encode()
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(
        b"POST /api/v1/auth/wechat-login HTTP/1.1\r\n"
        b"Host: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\n"
        b"Expect: 100-continue\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
    )
    interim = sock.recv(1024)
    assert interim.startswith(b"HTTP/1.1 100 "), interim
    return sock, body


def read_response(sock: socket.socket) -> tuple[int, dict[str, object]]:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
        head, sep, rest = data.partition(b"\r\n\r\n")
        if sep:
            length = re.search(rb"(?i)content-length: (\d+)", head)
            if length and len(rest) >= int(length.group(1)):
                break
    head, _, rest = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(rest)


def connection_refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


def test_sigterm_lets_a_request_in_flight_finish_and_refuses_new_connections(serve):
    drain = 15
    server = serve(drain)
    sock, body = begin_login(server.port)

    sigterm_at = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    # The listener is closed before uvicorn starts waiting on the open connections.
    server.wait_for("Waiting for connections to close", 10)
    assert connection_refused(server.port)

    sock.sendall(body)
    status, answer = read_response(sock)
    sock.close()
    assert status == 200
    assert answer["token_type"] == "bearer"

    server.process.wait(timeout=drain + EXIT_MARGIN_S)
    assert time.monotonic() - sigterm_at < drain
    # The pool was closed by the lifespan after the drain, not under the request.
    log = server.text()
    assert "Cancel" not in log
    assert log.index("Waiting for connections to close") < log.index(
        "Application shutdown complete"
    )


def test_a_request_that_never_finishes_is_cut_at_the_drain_bound(serve):
    drain = 2
    server = serve(drain)
    sock, _never_sent = begin_login(server.port)

    sigterm_at = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    server.process.wait(timeout=drain + EXIT_MARGIN_S)
    elapsed = time.monotonic() - sigterm_at

    assert drain - 0.5 <= elapsed < drain + EXIT_MARGIN_S
    assert "Cancel 1 running task(s), timeout graceful shutdown exceeded" in server.text()
    assert "Application shutdown complete" in server.text()
    # The client is told nothing more: its connection just ends.
    sock.settimeout(5)
    try:
        leftover = sock.recv(65536)
    except ConnectionResetError:
        leftover = b""
    sock.close()
    assert b"200 OK" not in leftover
