"""Peak memory of a ledger export: many roster rows, one GET /exports/members.xlsx.

tracemalloc counts every Python allocation in the process (the request, the
database driver, openpyxl in its worker thread, the response body in the client),
so the peak covers the whole export. tests/routers/test_exports.py runs it at 1,000
and 4,000 rows on both databases (the peak must not grow); the volume proof is this
module run alone (docs/PERFORMANCE.md):

    .venv/bin/python -m tests.support.export_memory --rows 100000
"""

from __future__ import annotations

import argparse
import asyncio
import io
import tempfile
import time
import tracemalloc
import zipfile
from dataclasses import dataclass
from pathlib import Path

import httpx
from fastapi import FastAPI
from sqlalchemy import insert

from app.core.config import Settings
from app.core.db import metadata, utcnow
from app.core.security import issue_access_token
from app.main import create_app
from app.models.org import Org, OrgLevel
from app.models.user import Role, RoleGrant, User
from app.services.orgs import insert_org

BATCH = 5000


@dataclass(frozen=True)
class Measurement:
    rows: int
    peak_bytes: int
    seconds: float
    file_bytes: int

    def __str__(self) -> str:
        return (
            f"{self.rows} rows: peak {self.peak_bytes / 2**20:.1f} MiB (tracemalloc), "
            f"{self.seconds:.1f} s, file {self.file_bytes / 2**20:.1f} MiB"
        )


async def seed_members(app: FastAPI, community: Org, count: int) -> None:
    """`count` roster rows in `community`, inserted in bulk (no API, no encryption)."""
    now = utcnow()
    async with app.state.sessionmaker() as session, session.begin():
        for start in range(0, count, BATCH):
            await session.execute(
                insert(User),
                [
                    {
                        "name": f"党员{n:06d}",
                        "phone_masked": f"139****{n % 10000:04d}",
                        "community_id": community.id,
                        "is_party_member": n % 3 != 0,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for n in range(start, min(start + BATCH, count))
                ],
            )


def count_data_rows(content: bytes) -> int:
    """Rows below the header. Reading 100,000 rows back with openpyxl takes longer than
    writing them, so the sheet's <row> elements are counted instead."""
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return archive.read("xl/worksheets/sheet1.xml").count(b"<row ") - 3


async def measure_members_export(
    client: httpx.AsyncClient, headers: dict[str, str], org_id: int
) -> tuple[Measurement, bytes]:
    """Export the members ledger of `org_id` under tracemalloc; the content is returned
    for the caller to check."""
    tracemalloc.start()
    try:
        began = time.perf_counter()
        resp = await client.get("/exports/members.xlsx", params={"org_id": org_id}, headers=headers)
        seconds = time.perf_counter() - began
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert resp.status_code == 200, resp.text[:300]
    rows = count_data_rows(resp.content)
    return Measurement(rows, peak, seconds, len(resp.content)), resp.content


async def _standalone(rows: int) -> Measurement:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            _env_file=None,
            app_env="test",
            database_url=f"sqlite:///{Path(tmp) / 'bench.db'}",
            storage_local_dir=str(Path(tmp) / "media"),
            redis_url=None,
        )
        app = create_app(settings)
        async with app.state.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        async with app.state.sessionmaker() as session, session.begin():
            district = await insert_org(
                session, name="文明区", level=OrgLevel.district, parent=None
            )
            street = await insert_org(
                session, name="东关街道", level=OrgLevel.street, parent=district
            )
            community = await insert_org(
                session, name="东关社区", level=OrgLevel.community, parent=street
            )
            admin = User(name="街道管理员", community_id=community.id)
            session.add(admin)
            await session.flush()
            assert admin.id is not None and street.id is not None
            session.add(RoleGrant(user_id=admin.id, role=Role.street_admin, org_id=street.id))
        await seed_members(app, community, rows)
        headers = {
            "Authorization": f"Bearer {issue_access_token(settings, admin.id, 0).access_token}"
        }
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://b/api/v1") as client:
            measurement, _ = await measure_members_export(client, headers, street.id)
        await app.state.engine.dispose()
        return measurement


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    print(asyncio.run(_standalone(parser.parse_args().rows)))


if __name__ == "__main__":
    main()
