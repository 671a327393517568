"""The console's screens without a browser: what a browser is shown when something
is refused, and the screens' filters (the browser flows are test_console_pages.py;
who reaches which screen is the authorization matrix's)."""

from __future__ import annotations

from tests.factories.console import console_headers
from tests.factories.users import make_user

HTML = {"Accept": "text/html"}


async def test_a_record_out_of_reach_is_a_not_found_page_with_no_menu(client, world):
    headers = {**await console_headers(world.app, world.user("other_community_admin")), **HTML}
    resp = await client.get(
        f"http://test/console/roster/{world.user('member').id}", headers=headers
    )
    assert resp.status_code == 404 and 'data-code="not_found"' in resp.text
    assert "text/html" in resp.headers["content-type"]
    resp = await client.post(
        f"http://test/console/roster/{world.user('member').id}/roles",
        headers=headers,
        data={"role": "info_officer", "org_id": str(world["C1"].id)},
    )
    assert resp.status_code == 404 and "<nav>" not in resp.text


async def test_a_bad_form_is_a_page_saying_so(client, world):
    headers = {**await console_headers(world.app, world.user("community_admin")), **HTML}
    resp = await client.post(
        f"http://test/console/roster/{world.user('member').id}/roles",
        headers=headers,
        data={"role": "king", "org_id": "x"},
    )
    assert resp.status_code == 422 and 'data-code="validation_error"' in resp.text


async def test_the_roster_filters_by_org_and_by_not_bound(client, world):
    headers = {**await console_headers(world.app, world.user("street_admin")), **HTML}
    unbound = await make_user(world.app, "未绑定者", community=world["C2"], openid=None)
    resp = await client.get(
        "http://test/console/roster",
        params={"org_id": str(world["C2"].id), "unbound": "true"},
        headers=headers,
    )
    assert resp.status_code == 200
    assert f'data-person="{unbound.id}"' in resp.text
    assert f'data-person="{world.user("member").id}"' not in resp.text
    # An org outside reach is missing, as on the API.
    resp = await client.get(
        "http://test/console/roster", params={"org_id": str(world["C3"].id)}, headers=headers
    )
    assert resp.status_code == 404
