"""Baseline 1 for the check-in load run: a bare ASGI app, no framework, no database.

It answers every request with 201 and the same JSON a real check-in returns, so the
difference to the real route is everything FastAPI, the database and our code add;
this is the ceiling of one uvicorn worker with this HTTP stack on this machine.
Started by benchmarks/checkin_load.py:

    uvicorn benchmarks.baseline_bare_asgi:app --port 8102
"""

from __future__ import annotations

import json
from typing import Any

BODY = json.dumps(
    {
        "id": 1,
        "task_id": 1,
        "user_id": 1,
        "user_name": "压测成员00001",
        "checked_in_at": "2026-11-22T08:00:00.123456Z",
        "checked_out_at": None,
        "minutes": None,
        "check_in_distance_m": 147.1,
        "check_out_distance_m": None,
        "photo_ids": [],
    },
    ensure_ascii=False,
    separators=(",", ":"),
).encode()

HEADERS = [
    (b"content-type", b"application/json"),
    (b"content-length", str(len(BODY)).encode()),
]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    # Read the body as a real route would, then answer.
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 201, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
