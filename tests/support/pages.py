"""A list read page by page against the items it should hold: the lists' scenario tests
(GET /articles, GET /problems) ask every page of every filter so."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from app.models.org import Org


async def newest_first(world: Any, model: Any) -> tuple[list[Any], dict[int, str]]:
    """Every record of `model`, the newest first, and every org's path by id."""
    async with world.app.state.sessionmaker() as session:
        records = list((await session.execute(select(model))).scalars())
        paths = dict((await session.execute(select(Org.id, Org.path))).all())
    return sorted(records, key=lambda r: -r.id), paths


async def alone(client: Any, url: str, ids: list[int], headers: dict[str, str]) -> dict:
    """Each record as it reads alone (`url` a format of its id), its history left out."""
    out = {}
    for record_id in ids:
        resp = await client.get(url.format(record_id), headers=headers)
        assert resp.status_code == 200, (url, record_id, resp.text)
        out[record_id] = {k: v for k, v in resp.json().items() if k != "history"}
    return out


async def check_pages(
    client: Any, url: str, params: dict, headers: dict[str, str], expected: list[dict], who: str
) -> int:
    """`url` with `params` holds `expected`, in order: the whole list on one page of
    100, then pages of 4 up to two past the end. The number of items checked."""
    checked = 0
    pages = [(1, 100)] + [(n, 4) for n in range(1, len(expected) // 4 + 3)]
    for page, size in pages:
        query = {**params, "page": page, "page_size": size}
        resp = await client.get(url, params=query, headers=headers)
        assert resp.status_code == 200, (who, query, resp.text)
        shown = expected[(page - 1) * size : page * size]
        assert resp.json() == {
            "items": shown,
            "total": len(expected),
            "page": page,
            "page_size": size,
        }, (who, query)
        checked += len(shown)
    return checked


async def check_refused(
    client: Any, url: str, invalid: list[dict], headers: dict[str, str]
) -> None:
    """Each of `invalid` is 422 `validation_error`; an org that does not exist, 404."""
    for params in invalid:
        resp = await client.get(url, params=params, headers=headers)
        assert resp.status_code == 422, params
        assert resp.json()["code"] == "validation_error", params
    unknown = await client.get(url, params={"org_id": 999_999}, headers=headers)
    assert unknown.status_code == 404
