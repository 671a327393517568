"""The WeChat gateway against the stub over HTTP: tokens, sharing through Redis, failures."""

import uuid

import pytest
import redis as redis_lib

from app.core.errors import ServiceUnavailable, Unauthorized
from app.core.wechat import WeChatGateway
from app.devtools.wechat_stub import StubState, create_stub_app
from tests.conftest import WECHAT_APPID, WECHAT_SECRET, make_settings
from tests.support.servers import BackgroundServer

REDIS_URL = "redis://127.0.0.1:6379/15"


def redis_or_skip():
    try:
        client = redis_lib.Redis.from_url(REDIS_URL, socket_timeout=1)
        client.ping()
        return client
    except redis_lib.RedisError as exc:
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {type(exc).__name__}")


@pytest.fixture
def fresh_stub():
    state = StubState(appid=WECHAT_APPID, secret=WECHAT_SECRET)
    with BackgroundServer(create_stub_app(state)) as server:
        yield state, server.url


def gateway(tmp_path, base, **overrides):
    return WeChatGateway(make_settings("sqlite://", tmp_path, base, **overrides))


async def test_two_workers_share_one_stable_token_through_redis(tmp_path, fresh_stub):
    client = redis_or_skip()
    state, base = fresh_stub
    appid = f"{WECHAT_APPID}"
    client.delete(f"chuangwen:wechat:{appid}:{appid}_access_token")
    worker_a = gateway(tmp_path, base, redis_url=REDIS_URL)
    worker_b = gateway(tmp_path, base, redis_url=REDIS_URL)
    try:
        assert await worker_a.phone_number(f"13812340001#{uuid.uuid4().hex}") == "13812340001"
        assert await worker_b.phone_number(f"13812340002#{uuid.uuid4().hex}") == "13812340002"
        # The second worker used the token the first stored; nobody invalidated anybody.
        assert state.count("cgi-bin/stable_token") == 1
    finally:
        client.delete(f"chuangwen:wechat:{appid}:{appid}_access_token")


async def test_without_redis_each_worker_keeps_its_token_in_memory(tmp_path, fresh_stub):
    state, base = fresh_stub
    gw = gateway(tmp_path, base)
    await gw.phone_number("13812340003#1")
    await gw.phone_number("13812340004#1")
    assert state.count("cgi-bin/stable_token") == 1


async def test_stable_token_is_asked_without_force_refresh(tmp_path, fresh_stub):
    state, base = fresh_stub
    await gateway(tmp_path, base).phone_number("13812340005#1")
    (token_call,) = [c for p, c in state.calls if p == "cgi-bin/stable_token"]
    assert token_call["force_refresh"] is False
    assert token_call["grant_type"] == "client_credential"


async def test_wrong_app_secret_is_a_login_failure_not_a_crash(tmp_path, fresh_stub):
    _, base = fresh_stub
    gw = gateway(tmp_path, base, wechat_secret="wrong")
    with pytest.raises(Unauthorized):
        await gw.code_to_session("o-x#1")


async def test_wechat_unreachable_is_service_unavailable(tmp_path):
    gw = gateway(tmp_path, "http://127.0.0.1:9/", wechat_timeout_s=1)
    with pytest.raises(ServiceUnavailable) as info:
        await gw.code_to_session("o-x#1")
    assert info.value.code == "wechat_unavailable"


async def test_unconfigured_wechat_is_service_unavailable(tmp_path):
    gw = gateway(tmp_path, "http://127.0.0.1:9/", wechat_appid="", wechat_secret="")
    with pytest.raises(ServiceUnavailable) as info:
        await gw.code_to_session("o-x#1")
    assert info.value.code == "wechat_not_configured"
