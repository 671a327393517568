"""Every route that only shows figures reads them where the replica setting says
(app/routers/deps.get_reading_session): a new domain's statistics, dashboard figures or
ledger cannot quietly load the primary of a province."""

from __future__ import annotations

from pathlib import Path

from fastapi.dependencies.models import Dependant
from fastapi.routing import iter_route_contexts

from app.main import API_PREFIX, create_app
from app.routers.deps import get_reading_session
from tests.conftest import make_settings

FIGURES = (f"{API_PREFIX}/stats/", f"{API_PREFIX}/dashboard", f"{API_PREFIX}/exports/")


def _calls(dependant: Dependant) -> set[object]:
    found = {dependant.call}
    for sub in dependant.dependencies:
        found |= _calls(sub)
    return found


def test_statistics_dashboards_and_ledgers_read_through_the_reading_session():
    app = create_app(make_settings("sqlite:///:memory:", Path("/tmp"), "http://127.0.0.1:9/"))
    figures = [
        ctx
        for ctx in iter_route_contexts(app.routes)
        if "GET" in (ctx.methods or ()) and (ctx.path or "").startswith(FIGURES)
    ]
    assert len(figures) > 10
    primary_only = [
        c.path
        for c in figures
        if get_reading_session not in _calls(c.dependant) and "/assets/" not in c.path
    ]
    assert primary_only == []
