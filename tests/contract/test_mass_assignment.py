"""Mass assignment: no request body takes a field its model does not name.

Every JSON body model forbids unknown fields (app/models/common.StrictInput), so a
client cannot slip `status`, `user_id`, `org_id` or a counter into a create or an
update: it is a 422, not silently ignored and never stored. This walks the route
table, so a route added later with a lax body model fails here.
"""

from __future__ import annotations

import types
import typing
from pathlib import Path

from fastapi.datastructures import UploadFile
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel

from app.main import create_app
from tests.conftest import make_settings


def body_models() -> dict[str, type[BaseModel]]:
    app = create_app(make_settings("sqlite:///:memory:", Path("/tmp"), "http://127.0.0.1:9/"))
    found: dict[str, type[BaseModel]] = {}
    for ctx in iter_route_contexts(app.routes):
        route = ctx.original_route
        if not isinstance(route, APIRoute):
            continue
        for param in route.dependant.body_params:
            annotation = param.field_info.annotation
            # `Model | None` for an optional body: the model is what matters.
            if (
                isinstance(annotation, types.UnionType)
                or typing.get_origin(annotation) is typing.Union
            ):
                candidates = [a for a in typing.get_args(annotation) if a is not type(None)]
            else:
                candidates = [annotation]
            for model in candidates:
                if isinstance(model, type) and issubclass(model, UploadFile):
                    continue  # a file upload (multipart), not a JSON object
                assert isinstance(model, type) and issubclass(model, BaseModel), (
                    f"{sorted(ctx.methods)} {ctx.path}: body {annotation!r} is not a model"
                )
                found[f"{sorted(ctx.methods)[0]} {ctx.path}"] = model
    return found


def test_every_json_body_refuses_fields_it_does_not_name():
    models = body_models()
    assert len(models) >= 25, "the route walk found too few bodies to be looking right"
    lax = {
        route: m.__name__ for route, m in models.items() if m.model_config.get("extra") != "forbid"
    }
    assert not lax, f"bodies that would take unknown fields: {lax}"


def test_no_body_names_a_field_only_the_server_sets():
    # Fields the server owns on every record; a body naming one would let a client
    # set it. (A create may name the org it files under: that is checked for reach.)
    server_owned = {"id", "status", "created_at", "updated_at", "claimed_by_id", "uploader_id"}
    offending = {
        route: sorted(server_owned & set(model.model_fields))
        for route, model in body_models().items()
        if server_owned & set(model.model_fields)
    }
    assert not offending, f"bodies naming server-owned fields: {offending}"


async def test_a_status_slipped_into_a_wish_is_refused_and_nothing_is_stored(client, world):
    resp = await client.post(
        "/wishes",
        json={
            "title": "修理轮椅",
            "description": "轮椅刹车坏了",
            "community_id": world["C1"].id,
            "beneficiary_name": "王奶奶",
            "status": "confirmed",
        },
        headers=world.headers("member"),
    )

    assert resp.status_code == 422
    listed = await client.get("/wishes", headers=world.headers("community_admin"))
    assert listed.json()["total"] == 0
