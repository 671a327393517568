"""Bad input is a 4xx, never a 500: text with control characters, malformed or deeply
nested JSON, months and weeks out of range.

The text rule (app/core/text.py) is checked everywhere at once: the app's routes are
walked, and every string a request body model or a query or path parameter takes,
nested models, lists and dict keys included, must refuse a control character. A new
field that escapes the rule fails here.
"""

from __future__ import annotations

import enum
import re
import types
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import pytest
from fastapi.datastructures import UploadFile
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel, TypeAdapter, ValidationError

from app.core.config import Settings
from app.main import create_app
from app.models.common import StrictInput
from tests.factories.tasks import make_task
from tests.support.openapi import app_document

# NUL (PostgreSQL refuses it), and the ones openpyxl refuses in a cell.
CONTROL_CHARACTERS = ["\x00", "\x01", "\x0b", "\x1f"]


def _app_routes() -> list[APIRoute]:
    app = create_app(Settings(_env_file=None, app_env="test"))  # type: ignore[call-arg]
    routes = [ctx.original_route for ctx in iter_route_contexts(app.routes)]
    return [r for r in routes if isinstance(r, APIRoute)]


def _length_bounds(metadata: list[Any]) -> tuple[int, int | None]:
    low, high = 0, None
    for m in metadata:
        low = max(low, getattr(m, "min_length", None) or 0)
        high = getattr(m, "max_length", None) or high
    return low, high


def _text(bad: str, metadata: list[Any]) -> str:
    """A string around `bad` that fits the field's length limits."""
    low, _ = _length_bounds(metadata)
    return ("a" + bad + "b").ljust(low, "c")


def _valid_sample(tp: Any) -> Any:
    if get_origin(tp) is Literal:
        return get_args(tp)[0]
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return next(iter(tp)).value
    return "x"


def _strings(tp: Any, bad: str, metadata: list[Any]) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """(where, value) for every free-text string `tp` takes: `value` holds a text with
    `bad` in it at `where`, everything else left out."""
    origin = get_origin(tp)
    if origin is Annotated:
        base, *extra = get_args(tp)
        yield from _strings(base, bad, [*metadata, *extra])
    elif origin in (Union, types.UnionType):
        for arg in get_args(tp):
            yield from _strings(arg, bad, metadata)
    elif origin in (list, set, frozenset, tuple):
        for where, value in _strings(get_args(tp)[0], bad, []):
            yield (0, *where), [value]
    elif origin is dict:
        key_type, value_type = get_args(tp)
        for _, key in _strings(key_type, bad, []):
            yield (key,), {key: _valid_sample(value_type)}
        for where, value in _strings(value_type, bad, []):
            yield ("k", *where), {"k": value}
    elif isinstance(tp, type) and issubclass(tp, BaseModel):
        for name, field in tp.model_fields.items():
            for where, value in _strings(field.annotation, bad, list(field.metadata)):
                yield (field.alias or name, *where), {field.alias or name: value}
    elif tp is str:
        yield (), _text(bad, metadata)


def _refused_at(errors: list[Any], where: tuple[Any, ...]) -> bool:
    # The rule may answer for the whole field (a list, a dict) rather than the item.
    return any(
        e["type"] != "missing" and len(e["loc"]) > 0 and tuple(e["loc"]) == where[: len(e["loc"])]
        for e in errors
    )


def _params(dependant: Dependant) -> Iterator[Any]:
    yield from dependant.path_params
    yield from dependant.query_params
    yield from dependant.header_params
    yield from dependant.cookie_params
    for sub in dependant.dependencies:
        yield from _params(sub)


def _body_types() -> Iterator[tuple[str, Any]]:
    for route in _app_routes():
        for param in route.dependant.body_params:
            yield route.path, param.field_info.annotation


def test_every_body_model_is_a_strict_input():
    for path, annotation in _body_types():
        for model in get_args(annotation) or [annotation]:
            if model is type(None) or issubclass(model, UploadFile):
                continue
            assert issubclass(model, StrictInput), f"{path}: {model.__name__} is no StrictInput"


@pytest.mark.parametrize("bad", CONTROL_CHARACTERS, ids=repr)
def test_every_text_a_body_takes_refuses_control_characters(bad):
    checked = 0
    for path, annotation in _body_types():
        adapter = TypeAdapter(annotation)
        for where, payload in _strings(annotation, bad, []):
            try:
                adapter.validate_python(payload)
                errors: list[Any] = []
            except ValidationError as exc:
                errors = exc.errors()
            assert _refused_at(errors, where), f"{path}: {where} takes {bad!r}"
            checked += 1
    # Wish titles, hours activities, org names, ...: the walk found what it should.
    assert checked > 30


@pytest.mark.parametrize("bad", CONTROL_CHARACTERS, ids=repr)
def test_every_text_a_query_or_path_parameter_takes_refuses_control_characters(bad):
    checked = 0
    for route in _app_routes():
        for param in _params(route.dependant):
            annotation = param.field_info.annotation
            for _, value in _strings(annotation, bad, list(param.field_info.metadata)):
                _, errors = param.validate(value, {}, loc=("query", param.alias))
                assert errors, f"{route.path}: parameter {param.alias} takes {bad!r}"
                checked += 1
    assert checked > 10


# --- over HTTP, on both databases --------------------------------------------------------


@pytest.mark.parametrize("bad", CONTROL_CHARACTERS, ids=repr)
async def test_a_control_character_in_a_wish_title_is_422_and_nothing_is_stored(client, world, bad):
    body = {
        "title": f"买{bad}书包",
        "description": "孩子上学需要一个新书包",
        "community_id": world["C1"].id,
        "beneficiary_name": "王小明",
    }
    resp = await client.post("/wishes", json=body, headers=world.headers("community_admin"))
    assert resp.status_code == 422, resp.text
    assert resp.json()["code"] == "validation_error"
    assert resp.json()["errors"] == [
        {"loc": ["body", "title"], "msg": "不能含有控制字符（换行和制表符除外）"}
    ]
    listed = await client.get("/wishes", headers=world.headers("community_admin"))
    assert listed.json()["total"] == 0


@pytest.mark.parametrize("bad", CONTROL_CHARACTERS, ids=repr)
async def test_a_control_character_in_an_hours_activity_or_org_name_is_422(client, world, bad):
    start = datetime.now(UTC) - timedelta(hours=5)
    hours = await client.post(
        "/volunteer-hours",
        json={
            "org_id": world["C1"].id,
            "activity": f"文明{bad}劝导",
            "started_at": start.isoformat(),
            "ended_at": (start + timedelta(hours=1)).isoformat(),
        },
        headers=world.headers("member"),
    )
    org = await client.post(
        "/orgs",
        json={"name": f"新{bad}社区", "level": "community", "parent_id": world["S1"].id},
        headers=world.headers("street_admin"),
    )
    renamed = await client.patch(
        f"/orgs/{world['C1'].id}",
        json={"name": f"东关{bad}"},
        headers=world.headers("street_admin"),
    )
    for resp in (hours, org, renamed):
        assert resp.status_code == 422, resp.text
        assert resp.json()["code"] == "validation_error"


async def test_newline_and_tab_are_still_text(client, world):
    body = {
        "title": "买书包",
        "description": "第一行\n第二行\r\n\t缩进",
        "community_id": world["C1"].id,
        "beneficiary_name": "王小明",
    }
    resp = await client.post("/wishes", json=body, headers=world.headers("community_admin"))
    assert resp.status_code == 201, resp.text
    assert resp.json()["description"] == body["description"]


async def test_a_nul_in_a_free_text_query_parameter_is_422_not_a_database_error(client, world):
    h = world.headers("district_admin")
    for path, params in (
        ("/users", {"name": "王\x00"}),
        ("/audit-log", {"action": "wish.\x00"}),
        ("/audit-log", {"target_type": "\x00"}),
    ):
        resp = await client.get(path, params=params, headers=h)
        assert resp.status_code == 422, (path, resp.text)
        assert resp.json()["code"] == "validation_error"


@pytest.mark.parametrize(
    "month", ["garbage", "0001-01", "9999-12", "2026-13", "2026-1", "2026-01\n"]
)
async def test_a_month_out_of_range_or_malformed_is_422_wherever_a_month_is_taken(
    client, world, month
):
    h = world.headers("district_admin")
    org = world["D"].id
    for method, path, kwargs in (
        ("POST", "/dashboard/view-links", {"json": {"org_id": org, "month": month}}),
        ("GET", "/dashboard", {"params": {"org_id": org, "month": month}}),
        ("GET", "/dashboard/children", {"params": {"org_id": org, "month": month}}),
        ("GET", "/dashboard/view", {"params": {"month": month}}),
        ("GET", "/report-ins", {"params": {"org_id": org, "month": month}}),
        ("GET", "/exports/report-ins.xlsx", {"params": {"org_id": org, "month": month}}),
    ):
        resp = await client.request(method, path, headers=h, **kwargs)
        assert resp.status_code == 422, (path, resp.text)
        assert resp.json()["code"] == "validation_error"


async def test_a_lone_surrogate_in_a_view_link_month_is_422_not_500(client, world):
    resp = await client.post(
        "/dashboard/view-links",
        content=b'{"org_id": %d, "month": "\\ud800"}' % world["D"].id,
        headers={**world.headers("district_admin"), "content-type": "application/json"},
    )
    assert resp.status_code == 422, resp.text
    assert resp.json()["errors"][0]["loc"] == ["body", "month"]


async def test_a_lone_surrogate_in_any_text_is_422_not_500(client, world):
    resp = await client.post(
        "/wishes",
        content=(
            b'{"title": "\\udc00", "description": "x", "beneficiary_name": "y", "community_id": %d}'
            % world["C1"].id
        ),
        headers={**world.headers("community_admin"), "content-type": "application/json"},
    )
    assert resp.status_code == 422, resp.text
    assert resp.json()["errors"][0]["loc"] == ["body", "title"]


# --- malformed JSON ---------------------------------------------------------------------------

MALFORMED = {
    "cut short": b'{"title": "x",',
    "nested deeper than the parser goes": b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "not UTF-8": b'{"title": "\xff"}',
}


def _json_operations() -> Iterator[tuple[str, str]]:
    spec = app_document()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if "application/json" not in operation.get("requestBody", {}).get("content", {}):
                continue
            # The WeChat callback reads its body itself, after checking the signature.
            assert "400" in operation["responses"], (method, path)
            if "malformed_json" in operation["responses"]["400"]["description"]:
                yield method, re.sub(r"\{[^}]+\}", "1", path.removeprefix("/api/v1"))


async def test_deeply_nested_json_to_a_check_in_is_400_not_500(client, world):
    task = await make_task(world.app, world["C1"])
    resp = await client.post(
        f"/tasks/{task.id}/check-ins",
        content=MALFORMED["nested deeper than the parser goes"],
        headers={**world.headers("member"), "content-type": "application/json"},
    )
    assert resp.status_code == 400, resp.text
    assert resp.json()["code"] == "malformed_json"


@pytest.mark.parametrize("how", MALFORMED, ids=list(MALFORMED))
async def test_every_route_answers_malformed_json_with_the_declared_400(client, world, how):
    operations = list(_json_operations())
    assert len(operations) > 25
    for who in ("anonymous", "district_admin"):
        headers = {} if who == "anonymous" else world.headers(who)
        for method, path in operations:
            resp = await client.request(
                method,
                path,
                content=MALFORMED[how],
                headers={**headers, "content-type": "application/json"},
            )
            assert resp.status_code == 400, (who, method, path, resp.text)
            assert resp.json()["code"] == "malformed_json"


async def test_an_upload_that_is_not_a_readable_form_is_the_declared_400(client, world):
    spec = app_document()
    uploads = [
        path.removeprefix("/api/v1")
        for path, operations in spec["paths"].items()
        for operation in operations.values()
        if "multipart/form-data" in operation.get("requestBody", {}).get("content", {})
    ]
    assert sorted(uploads) == ["/documents", "/media", "/users/import"]
    for path in uploads:
        declared = spec["paths"]["/api/v1" + path]["post"]["responses"]["400"]
        assert "bad_request" in declared["description"]
        resp = await client.post(
            path,
            content=b"not a form",
            headers={**world.headers("district_admin"), "content-type": "multipart/form-data"},
        )
        assert resp.status_code == 400, (path, resp.text)
        assert resp.json()["code"] == "bad_request"


# --- JSON types -------------------------------------------------------------------------------


async def test_a_boolean_or_a_string_is_not_taken_for_a_number_or_a_boolean(client, world):
    task = await make_task(world.app, world["C1"])
    member, admin = world.headers("member"), world.headers("street_admin")
    for path, body, headers in (
        (f"/tasks/{task.id}/check-ins", {"lat": 30.0, "lng": False}, member),
        (f"/tasks/{task.id}/check-ins", {"lat": "30.5", "lng": 120.0}, member),
        (
            "/orgs",
            {"name": "新社区", "level": "community", "parent_id": str(world["S1"].id)},
            admin,
        ),
        (
            "/users",
            {
                "name": "新党员",
                "phone": "13811112222",
                "community_id": world["C1"].id,
                "is_party_member": 1,
            },
            admin,
        ),
    ):
        resp = await client.post(path, json=body, headers=headers)
        assert resp.status_code == 422, (path, body, resp.text)
        assert resp.json()["code"] == "validation_error"
