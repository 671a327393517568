"""GET /metrics: Prometheus text with route templates, statuses, latency and business gauges."""

import httpx
from prometheus_client.parser import text_string_to_metric_families

from app.main import create_app
from app.models.wish import WishStatus
from tests.factories.wishes import insert_wish


def samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    return [
        (s.name, s.labels, s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]


async def test_requests_are_counted_by_route_template_and_status(client, world):
    await client.get(f"/orgs/{world['C1'].id}", headers=world.headers("member"))
    await client.get(f"/orgs/{world['C3'].id}", headers=world.headers("member"))
    resp = await client.get("http://test/metrics")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain")
    counted = {
        (labels["handler"], labels["status"]): value
        for name, labels, value in samples(resp.text)
        if name == "http_requests_total"
    }
    # Ids never become labels: both calls land on the template.
    assert counted[("/api/v1/orgs/{org_id}", "200")] >= 1
    assert counted[("/api/v1/orgs/{org_id}", "404")] >= 1
    assert not any(str(world["C1"].id) in handler.split("/")[-1] for handler, _ in counted)
    assert "http_request_duration_seconds" in resp.text


async def test_business_gauges_count_what_is_in_the_database(client, world):
    for _ in range(2):
        await insert_wish(
            world.app,
            community=world["C1"],
            poster=world.user("community_admin"),
            status=WishStatus.open,
        )
    world.app.state.business_gauges._refreshed = 0.0
    text = (await client.get("http://test/metrics")).text
    wishes = {
        labels["status"]: value
        for name, labels, value in samples(text)
        if name == "chuangwen_wishes"
    }
    assert wishes["open"] == 2
    people = [v for name, _, v in samples(text) if name == "chuangwen_roster_people"]
    assert people == [len(world.on_roster())]


async def test_metrics_token_is_required_when_configured(db):
    app = create_app(db.state.settings.model_copy(update={"metrics_token": "s3cret-metrics"}))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        assert (await c.get("/metrics")).status_code == 401
        wrong = await c.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        ok = await c.get("/metrics", headers={"Authorization": "Bearer s3cret-metrics"})
        assert ok.status_code == 200
    await app.state.engine.dispose()
