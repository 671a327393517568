"""Where photos live: a local folder (the embedded default) or MinIO / S3.

minio's client is synchronous, so its calls run in worker threads.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Protocol

import anyio.to_thread

from app.core.config import Settings


class Storage(Protocol):
    async def check(self) -> None:
        """Raise if the storage cannot be written to right now."""


class LocalStorage:
    def __init__(self, root: str):
        self.root = Path(root)

    async def check(self) -> None:
        def probe() -> None:
            self.root.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(dir=self.root, prefix=".readyz-")
            os.close(fd)
            os.unlink(name)

        await anyio.to_thread.run_sync(probe)


class S3Storage:
    def __init__(self, settings: Settings):
        from minio import Minio

        self.bucket = settings.s3_bucket
        self.client = Minio(
            settings.s3_endpoint,
            access_key=settings.s3_access_key,
            secret_key=settings.s3_secret_key,
            secure=settings.s3_secure,
            region=settings.s3_region or None,
        )

    async def check(self) -> None:
        exists = await anyio.to_thread.run_sync(self.client.bucket_exists, self.bucket)
        if not exists:
            raise RuntimeError(f"bucket {self.bucket!r} does not exist")


def create_storage(settings: Settings) -> Storage:
    if settings.storage_backend == "s3":
        return S3Storage(settings)
    return LocalStorage(settings.storage_local_dir)
