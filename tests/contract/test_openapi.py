"""openapi/openapi.json is generated from the app and committed; it must not drift."""

import json

from app.cli import OPENAPI_PATH
from tests.support.openapi import app_document


def current_spec():
    return app_document()


def test_committed_openapi_matches_the_app():
    committed = json.loads(OPENAPI_PATH.read_text())
    assert committed == json.loads(json.dumps(current_spec())), (
        "openapi/openapi.json is stale: run `make openapi` and commit it"
    )


def test_operation_ids_are_unique_and_readable():
    ids = [op["operationId"] for path in current_spec()["paths"].values() for op in path.values()]
    assert len(ids) == len(set(ids))
    assert all(i.isidentifier() and i.islower() for i in ids)


def test_every_api_route_documents_the_problem_shape():
    spec = current_spec()
    for path, ops in spec["paths"].items():
        if not path.startswith("/api/v1"):
            continue
        for method, op in ops.items():
            assert "application/problem+json" in op["responses"]["422"]["content"], (method, path)
