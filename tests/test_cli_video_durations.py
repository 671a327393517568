"""`python -m app.cli backfill-video-durations`: videos stored before `media.duration_s`
existed get their length read back from local storage, once; nothing else is touched."""

import json
import os
import subprocess
import sys

import pytest
from sqlalchemy import update

from app.models.media import Media
from tests.conftest import ROOT
from tests.factories.videos import mp4

pytestmark = pytest.mark.usefixtures("counts_stay_exact")


def backfill(settings) -> dict[str, int]:
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "APP_ENV": "test",
        "STORAGE_BACKEND": "local",
        "STORAGE_LOCAL_DIR": settings.storage_local_dir,
    }
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "backfill-video-durations", "--batch", "1"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


async def uploaded(client, world, data: bytes, name: str, ctype: str) -> int:
    resp = await client.post(
        "/media", files={"file": (name, data, ctype)}, headers=world.headers("member")
    )
    assert resp.status_code == 201, resp.text
    return resp.json()["id"]


async def test_old_videos_get_their_length_once_and_lost_files_are_counted(client, world):
    app = world.app
    old = await uploaded(client, world, mp4(), "old.mp4", "video/mp4")
    lost = await uploaded(client, world, mp4(frames=10), "lost.mp4", "video/mp4")
    known = await uploaded(client, world, mp4(frames=10), "known.mp4", "video/mp4")
    async with app.state.sessionmaker() as s, s.begin():
        # As a row written before the column existed.
        await s.execute(
            update(Media).where(Media.id.in_([old, lost])).values(duration_s=None)  # type: ignore[union-attr]
        )
        lost_key = (await s.get(Media, lost)).storage_key
    await app.state.storage.delete(lost_key)

    first = backfill(app.state.settings)
    again = backfill(app.state.settings)

    assert first == {"filled": 1, "already_filled": 0, "missing": 1, "unreadable": 0}
    assert again == {"filled": 0, "already_filled": 0, "missing": 1, "unreadable": 0}
    async with app.state.sessionmaker() as s:
        lengths = {m: (await s.get(Media, m)).duration_s for m in (old, lost, known)}
    assert lengths[old] == pytest.approx(1.0, abs=0.05)
    assert lengths[lost] is None
    assert lengths[known] == pytest.approx(2.0, abs=0.05)
