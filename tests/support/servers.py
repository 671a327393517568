"""Run an ASGI app on a real 127.0.0.1 port in a background thread (stub servers, the app)."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import uvicorn
from fastapi import FastAPI


class BackgroundServer:
    def __init__(self, app: Any):
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.run(self.server.serve())

    def __enter__(self) -> BackgroundServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("stub server did not start")
            time.sleep(0.01)
        return self

    @property
    def url(self) -> str:
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


class AppServer(BackgroundServer):
    """The app over HTTP. Its engine's connections belong to the server thread's loop,
    so they are closed there, once the server has stopped. (Not through the app's
    lifespan, which would also start the in-process job schedule.)"""

    def __init__(self, app: FastAPI):
        super().__init__(app)
        self.app = app

    def _run(self) -> None:
        async def serve() -> None:
            try:
                await self.server.serve()
            finally:
                await self.app.state.engine.dispose()

        asyncio.run(serve())
