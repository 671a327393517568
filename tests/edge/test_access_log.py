"""The access log names route templates, never URLs: query strings and path values
can carry names, ids and link tokens."""

from __future__ import annotations

import logging

import pytest


@pytest.fixture
def access_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="chuangwen.access")
    return caplog


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "chuangwen.access"]


async def test_a_search_by_name_is_logged_by_its_route_without_the_name(client, world, access_log):
    resp = await client.get(
        "/users", params={"name": "张秘书长"}, headers=world.headers("district_admin")
    )

    assert resp.status_code == 200
    [line] = lines(access_log)
    assert " GET /api/v1/users 200 " in line
    assert "张秘书长" not in access_log.text
    assert "%E5%BC%A0" not in access_log.text


async def test_a_record_is_logged_by_its_template_not_its_id(client, world, access_log):
    c1 = world["C1"].id
    resp = await client.get(f"/orgs/{c1}", headers=world.headers("district_admin"))

    assert resp.status_code == 200
    [line] = lines(access_log)
    assert " GET /api/v1/orgs/{org_id} 200 " in line


async def test_an_unknown_path_is_logged_without_what_the_client_typed(client, access_log):
    resp = await client.get("/no-such-thing/13912345678")

    assert resp.status_code == 404
    [line] = lines(access_log)
    assert " GET <unmatched> 404 " in line
    assert "13912345678" not in access_log.text


async def test_a_dashboard_link_token_never_reaches_the_log(client, world, access_log):
    link = await client.post(
        "/dashboard/view-links",
        json={"org_id": world["C1"].id},
        headers=world.headers("community_admin"),
    )
    assert link.status_code == 201, link.text
    token = link.json()["url"].split("token=")[1].split("&")[0]

    page = await client.get(link.json()["url"], headers={"Accept": "text/html"})
    assert page.status_code == 200

    assert token not in access_log.text
    assert any(" GET /api/v1/dashboard/view " in line for line in lines(access_log))
