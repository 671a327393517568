"""Property-based fuzzing of the whole API from its own OpenAPI document.

Schemathesis generates requests for every operation, valid and invalid alike, and
sends them as four callers: the district admin, and in turn anonymous, a member
and a community admin. No check may fail: no 5xx (bad input is a 4xx, integer ids and
numbers are bounded so the database never overflows); every status, content type,
header and body is one the document declares for the operation, problem+json errors
included; and a request the document says is invalid is refused.

SQLite only, on an app and database of its own: the database behaviour on
PostgreSQL is covered by the rest of the suite, and this run is about the HTTP
contract. The example budget is small and derandomized so CI is deterministic and
the file stays well under two minutes.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    allow_header_conformance,
    content_type_conformance,
    missing_required_header,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from app.core.config import Settings
from app.devtools.wechat_stub import StubState, create_stub_app
from app.main import create_app
from tests.conftest import WECHAT_APPID, WECHAT_SECRET, make_settings, run_migrations
from tests.factories.world import World, build_world
from tests.support.servers import BackgroundServer

ROLES = ["anonymous", "member", "community_admin", "district_admin"]
# Every check of Schemathesis 4 that needs no configuration of ours. Left out:
# - positive_data_acceptance: the contract refuses schema-valid requests with 422
#   for business rules (a photo not yours, an end before the start); only a list of
#   expected statuses would make it mean anything.
# - ignored_auth, object_level_authorization: work from security schemes and
#   several configured identities, which the document does not declare.
# - use_after_free, ensure_resource_availability: stateful links, not run here.
CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    negative_data_rejection,
    missing_required_header,
    allow_header_conformance,
    unsupported_method,
]


def _seed(application: FastAPI) -> World:
    async def seed() -> World:
        world = await build_world(application)
        # The engine's connections belong to this loop; the fuzzing runs on another.
        await application.state.engine.dispose()
        return world

    # A loop of its own in a thread: pytest-asyncio's session loop may be running.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, seed()).result()


@pytest.fixture(scope="module")
def fuzz_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    url = f"sqlite:///{tmp / 'fuzz.db'}"
    run_migrations(url)
    # A real stub, so the routes that call WeChat answer its refusals (4xx), not 503.
    stub = StubState(appid=WECHAT_APPID, secret=WECHAT_SECRET)
    with BackgroundServer(create_stub_app(stub)) as server:
        application = create_app(make_settings(url, tmp, server.url))
        yield _seed(application)


@pytest.fixture(scope="module")
def callers(fuzz_world: World) -> dict[str, dict[str, str]]:
    return {role: {} if role == "anonymous" else fuzz_world.headers(role) for role in ROLES}


# The operations are collected at import time from an app that only serves its
# document (no database is touched); requests go to the fixture's seeded app.
schema = schemathesis.openapi.from_asgi(
    "/openapi.json",
    create_app(Settings(_env_file=None, app_env="test")),  # type: ignore[call-arg]
).exclude(
    # /metrics: Prometheus text, not JSON: nothing to validate, and its counters only
    # grow. logout-all takes no input and would end the callers' tokens for every case
    # after it (tests/routers/test_auth_identity.py covers it).
    path=["/metrics", "/api/v1/auth/logout-all"],
)


# Every case goes to the district admin, whose reach lets it through to every
# handler and query, and to one of the other callers in turn: sending every case
# as all four would quadruple a run whose coverage phase alone makes ~4000 cases.
_others = itertools.cycle(["anonymous", "member", "community_admin"])


# Five generated requests per operation keep the breadth run near two minutes of the
# suite; `SCHEMATHESIS_MAX_EXAMPLES=100 make test` goes deeper before a release.
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "5"))


@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    # Shrinking a failure is slow and the report names the request anyway.
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
@schema.parametrize()
def test_api_answers_within_its_contract(
    case: schemathesis.Case, fuzz_world: World, callers: dict[str, dict[str, str]]
):
    for role in ("district_admin", next(_others)):
        try:
            case.call_and_validate(app=fuzz_world.app, headers=callers[role], checks=CHECKS)
        except Exception as exc:
            exc.add_note(f"caller: {role}")
            raise
