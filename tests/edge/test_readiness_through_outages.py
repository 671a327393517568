"""/readyz and the API while the database or the storage goes away, and after it is back.

The database outage is real: the app reaches PostgreSQL through a TCP relay that the
test stops (refusing new connections and cutting the pooled ones) and starts again on
the same port. The storage outage is the local media folder becoming unusable.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from app.core.security import issue_access_token
from app.main import create_app
from tests.conftest import make_settings


class Relay:
    """A TCP relay to PostgreSQL that can be switched off and on again."""

    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self.port = 0
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in list(self.writers):
            writer.transport.abort()
        self.writers.clear()
        await self.server.wait_closed()
        self.server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self.writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self.writers -= {writer, up_writer}


@pytest.fixture
async def relayed_app(database_url: str, tmp_path: Path, wechat_stub) -> AsyncIterator:
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        pytest.skip("a database outage is a network matter: PostgreSQL only")
    relay = Relay(url.host or "127.0.0.1", url.port or 5432)
    await relay.start()
    relayed = url.set(host="127.0.0.1", port=relay.port).render_as_string(hide_password=False)
    settings = make_settings(relayed, tmp_path, wechat_stub[1])
    app = create_app(settings)
    try:
        yield app, relay
    finally:
        if relay.server is not None:
            await relay.stop()
        await app.state.engine.dispose()


async def test_readyz_fails_while_the_database_is_away_and_recovers_after(db, relayed_app):
    app, relay = relayed_app
    token = issue_access_token(app.state.settings, 1, 0).access_token
    me = {"Authorization": f"Bearer {token}"}
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        assert (await c.get("/readyz")).status_code == 200
        # A pooled connection exists now; the outage cuts it.
        await relay.stop()

        down = await c.get("/readyz")
        assert down.status_code == 503
        assert down.json()["checks"] == {"database": "unavailable", "storage": "ok"}
        during = await c.get("/api/v1/me", headers=me)
        assert during.status_code == 503
        assert during.headers["content-type"].startswith("application/problem+json")
        assert during.json()["code"] == "service_unavailable"
        assert "Traceback" not in during.text

        await relay.start()
        up = await c.get("/readyz")
        assert up.status_code == 200, up.text
        # Nobody with id 1 exists: a 401 shows the database answered again.
        after = await c.get("/api/v1/me", headers=me)
        assert after.status_code == 401


async def test_readyz_fails_while_the_storage_is_unusable_and_recovers_after(db, tmp_path):
    media = tmp_path / "media"
    app = create_app(db.state.settings.model_copy(update={"storage_local_dir": str(media)}))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as c:
        assert (await c.get("/readyz")).status_code == 200
        # The volume is gone and something else sits at its path.
        shutil.rmtree(media)
        media.write_bytes(b"not a folder")

        down = await c.get("/readyz")
        assert down.status_code == 503
        assert down.headers["content-type"].startswith("application/problem+json")
        assert down.json()["checks"] == {"database": "ok", "storage": "unavailable"}

        media.unlink()
        assert (await c.get("/readyz")).status_code == 200
    await app.state.engine.dispose()
