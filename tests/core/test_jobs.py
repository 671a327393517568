"""The job queue itself: which broker a process gets, what the schedule says, a job
travelling through Redis to a worker, and the app running its own schedule."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis.asyncio
from sqlmodel import select
from taskiq import InMemoryBroker
from taskiq.cli.scheduler.run import is_cron_task_now
from taskiq.receiver import Receiver
from taskiq.schedule_sources import LabelScheduleSource
from taskiq_redis import RedisStreamBroker

from app import jobs as jobs_module
from app.core.config import get_settings
from app.core.db import create_engine, create_sessionmaker, utcnow
from app.core.storage import create_storage
from app.core.wechat import WeChatGateway
from app.jobs import Jobs
from app.main import create_app
from app.models.idempotency import IdempotencyRecord
from app.models.notification import SendStatus
from tests.conftest import make_settings
from tests.routers import test_notifications as base
from tests.routers.test_notifications import TPL_WISH, insert_grant, insert_send, sends

napp = base.napp
env = base.env

REDIS_URL = "redis://127.0.0.1:6379/15"


def offline_jobs(tmp_path: Path, **overrides: object) -> Jobs:
    settings = make_settings(
        f"sqlite:///{tmp_path / 'unused.db'}", tmp_path, "http://127.0.0.1:9/", **overrides
    )
    engine = create_engine(settings)
    return Jobs(
        settings,
        sessionmaker=create_sessionmaker(engine),
        wechat=WeChatGateway(settings),
        storage=create_storage(settings),
    )


async def redis_or_skip() -> redis.asyncio.Redis:
    client = redis.asyncio.Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except redis.exceptions.ConnectionError as exc:
        await client.aclose()
        pytest.skip(f"Redis not reachable: {exc}")
    return client


def test_without_redis_jobs_run_in_the_app_and_no_worker_can_start(
    tmp_path, monkeypatch: pytest.MonkeyPatch
):
    assert isinstance(offline_jobs(tmp_path).broker, InMemoryBroker)

    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.chdir(tmp_path)  # no ./.env
    get_settings.cache_clear()
    try:
        with pytest.raises(SystemExit, match="REDIS_URL"):
            jobs_module.worker_broker()
    finally:
        get_settings.cache_clear()


def test_with_redis_a_worker_and_a_scheduler_read_one_stream(
    tmp_path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("REDIS_URL", REDIS_URL)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'worker.db'}")
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    try:
        broker = jobs_module.worker_broker()
        scheduler = jobs_module.scheduler()
    finally:
        get_settings.cache_clear()
    assert isinstance(broker, RedisStreamBroker)
    assert broker.queue_name == "chuangwen:jobs"
    assert "chuangwen.deliver_send" in broker.get_all_tasks()
    assert isinstance(scheduler.broker, RedisStreamBroker)


def test_with_an_unknown_kind_in_the_templates_the_app_refuses_to_start(tmp_path):
    with pytest.raises(ValueError, match="wish_claimd"):
        offline_jobs(tmp_path, wechat_templates={"wish_claimd": "tpl"})


async def test_the_scans_run_daily_at_the_reminder_hour_in_shanghai_and_the_sweep_every_minute(
    tmp_path,
):
    jobs = offline_jobs(tmp_path, reminder_hour=8)
    source = LabelScheduleSource(jobs.broker)
    await source.startup()
    schedules = {s.task_name: s for s in await source.get_schedules()}

    assert set(schedules) == {
        "chuangwen.sweep_sends",
        "chuangwen.problem_scan",
        "chuangwen.article_urgent_scan",
        "chuangwen.indicator_scan",
        "chuangwen.report_in_reminders",
        "chuangwen.service_order_scan",
        "chuangwen.shop_reservations_expire",
        "chuangwen.wish_quota_reminders",
        "chuangwen.purge_idempotency",
        "chuangwen.resubmit_media_checks",
        "chuangwen.sweep_orphan_files",
    }
    sweep, scan = schedules["chuangwen.sweep_sends"], schedules["chuangwen.problem_scan"]
    eight_in_shanghai = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
    assert is_cron_task_now(scan.cron or "", eight_in_shanghai, scan.cron_offset)
    assert not is_cron_task_now(
        scan.cron or "", eight_in_shanghai.replace(hour=8), scan.cron_offset
    )
    assert is_cron_task_now(sweep.cron or "", eight_in_shanghai.replace(minute=37))
    photos = schedules["chuangwen.resubmit_media_checks"]
    assert is_cron_task_now(photos.cron or "", eight_in_shanghai.replace(minute=35))
    assert not is_cron_task_now(photos.cron or "", eight_in_shanghai.replace(minute=37))
    # Urgent articles cannot wait for the morning: every quarter hour.
    urgent = schedules["chuangwen.article_urgent_scan"]
    assert is_cron_task_now(urgent.cron or "", eight_in_shanghai.replace(minute=45))
    assert not is_cron_task_now(urgent.cron or "", eight_in_shanghai.replace(minute=46))


async def test_the_daily_purge_drops_idempotency_records_past_their_ttl_and_keeps_the_rest(env):
    ttl = timedelta(hours=env.app.state.settings.idempotency_ttl_h)
    async with env.app.state.sessionmaker() as session, session.begin():
        for key, age in (
            ("old", ttl + timedelta(minutes=1)),
            ("fresh", ttl - timedelta(minutes=1)),
        ):
            session.add(
                IdempotencyRecord(
                    principal="user:1",
                    key=key,
                    request_hash="0" * 64,
                    status_code=201,
                    response_body="{}",
                    created_at=utcnow() - age,
                )
            )
    task = await env.jobs.purge_idempotency.kiq()
    result = await task.wait_result()
    assert not result.is_err, result.error
    assert result.return_value == 1
    async with env.app.state.sessionmaker() as session:
        keys = (await session.execute(select(IdempotencyRecord.key))).scalars().all()
    assert keys == ["fresh"]


async def test_the_app_runs_its_own_schedule_while_it_is_up(tmp_path):
    settings = make_settings(f"sqlite:///{tmp_path / 'app.db'}", tmp_path, "http://127.0.0.1:9/")
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        assert app.state.jobs.scheduling
    assert not app.state.jobs.scheduling


async def test_with_redis_a_job_travels_on_the_stream_to_a_worker_that_sends_once(env):
    client = await redis_or_skip()
    queue = f"chuangwen:test:{uuid.uuid4().hex[:8]}"
    settings = env.app.state.settings.model_copy(
        update={"redis_url": REDIS_URL, "jobs_queue_name": queue}
    )
    # The worker's side: its own sessionmaker (on the test database) and broker.
    worker = Jobs(
        settings,
        sessionmaker=create_sessionmaker(env.app.state.engine),
        wechat=env.app.state.wechat,
        storage=env.app.state.storage,
    )
    secretary = env.user("community_admin")
    await insert_grant(env.app, secretary, TPL_WISH, 1)
    send_id = await insert_send(env.app, secretary)
    try:
        await worker.broker.startup()
        now = utcnow()
        await worker.deliver.kiq(send_id, now)
        await worker.deliver.kiq(send_id, now)  # handed over twice: a retry, a sweep
        assert await client.xlen(queue) == 2

        receiver = Receiver(worker.broker, run_startup=False)
        handled = 0
        async for message in worker.broker.listen():
            await receiver.callback(message, raise_err=True)
            handled += 1
            if handled == 2:
                break
    finally:
        await worker.broker.shutdown()
        await client.delete(queue)
        await client.aclose()

    (send,) = await sends(env.app)
    assert send.status == SendStatus.sent
    assert len(env.sends_to(secretary)) == 1
