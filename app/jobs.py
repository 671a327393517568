"""The job queue (taskiq): delivering subscribe messages, and the scheduled scans.

Without REDIS_URL (the embedded default, `make run`) the broker is taskiq's
in-memory one: jobs run in the app process, on the app's own database sessions and
WeChat client, and the app runs the schedule itself. With REDIS_URL the app only
puts jobs on a Redis stream (taskiq-redis `RedisStreamBroker`: acknowledged, so a
job whose worker died is taken up by another), and separate processes run them:

    taskiq worker app.jobs:worker_broker        # as many as you like, anywhere
    taskiq scheduler app.jobs:scheduler         # one is enough; two do no harm

A scheduled scan runs once per period however many schedulers fire it (its
`job_runs` row, see app/services/notifications/scans.py), and delivering a send
twice sends it once (see app/services/notifications/delivery.py), so duplicates
cost nothing but work.
Retries after WeChat's transient errors are kept in the database (`next_attempt_at`)
and brought back by the minutely sweep, so they outlive any process.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from taskiq import AsyncBroker, InMemoryBroker, TaskiqEvents, TaskiqScheduler, TaskiqState
from taskiq.schedule_sources import LabelScheduleSource

from app.core.config import Settings, get_settings
from app.core.db import create_engine, create_sessionmaker, utcnow, write_transaction
from app.core.storage import Storage, create_storage
from app.core.wechat import WeChatGateway
from app.edge.idempotency import purge_idempotency_records
from app.models.notification import NotificationKind
from app.services import content_check, media
from app.services.notifications import delivery, outbox, scans

logger = logging.getLogger("app.jobs")

SHANGHAI = "Asia/Shanghai"
# Bounded so an idle stream does not grow for ever; a send lost to trimming is
# still pending in the database and the sweep hands it over again.
STREAM_MAXLEN = 100_000


def make_broker(settings: Settings) -> AsyncBroker:
    if not settings.redis_url:
        # Inline: a job handed over runs to its end inside the task that handed it over.
        return InMemoryBroker(await_inplace=True)
    from taskiq_redis import RedisStreamBroker

    return RedisStreamBroker(
        settings.redis_url,
        queue_name=settings.jobs_queue_name,
        consumer_group_name=settings.jobs_queue_name,
        maxlen=STREAM_MAXLEN,
    )


def scan_task(
    scan: scans.Scan, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> Callable[..., Awaitable[dict[str, Any]]]:
    """The task that runs `scan`: a function of its own per scan, as taskiq wants."""

    async def run_scan(now: datetime | None = None) -> dict[str, Any]:
        result = await scans.run(
            scan, sessionmaker=sessionmaker, settings=settings, now=now or utcnow()
        )
        return result.model_dump()

    return run_scan


class Jobs:
    """One process's side of the queue: the broker, the tasks registered on it, and
    the outbox hand-over that `outbox.notify` finds in every session of
    `sessionmaker`."""

    def __init__(
        self,
        settings: Settings,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        wechat: WeChatGateway,
        storage: Storage,
    ):
        outbox.check_templates(settings)
        self.settings = settings
        self.sessionmaker = sessionmaker
        self.wechat = wechat
        self.broker = make_broker(settings)
        self.in_process = isinstance(self.broker, InMemoryBroker)
        self._handing_over: set[asyncio.Task[None]] = set()
        self._scheduler_task: asyncio.Task[None] | None = None

        # taskiq renames and re-exports the functions it registers, so each broker
        # gets functions of its own (closures over this instance), not our methods.
        # Every task takes `now` (None: the clock) so tests and replays pass the time.
        async def deliver_send(send_id: int, now: datetime | None = None) -> str:
            outcome = await delivery.deliver(
                sessionmaker=sessionmaker,
                wechat=wechat,
                settings=settings,
                send_id=send_id,
                now=now or utcnow(),
            )
            return outcome.value

        async def sweep_sends(now: datetime | None = None) -> int:
            async with sessionmaker() as session:
                due = await delivery.due_sends(session, now=now or utcnow())
            for send_id in due:
                await self.deliver.kiq(send_id, now)
            return len(due)

        async def resubmit_media_checks(now: datetime | None = None) -> int:
            return await content_check.resubmit_pending_media_checks(
                sessionmaker=sessionmaker,
                wechat=wechat,
                storage=storage,
                settings=settings,
                now=now or utcnow(),
            )

        async def purge_idempotency() -> int:
            async with write_transaction(sessionmaker) as session:
                return await purge_idempotency_records(session, settings)

        async def sweep_orphan_files(now: datetime | None = None) -> int:
            return await media.sweep_orphan_files(
                sessionmaker=sessionmaker, storage=storage, now=now or utcnow()
            )

        daily = [{"cron": f"0 {settings.reminder_hour} * * *", "cron_offset": SHANGHAI}]
        register = self.broker.register_task
        self.deliver = register(deliver_send, task_name="chuangwen.deliver_send")
        self.sweep = register(
            sweep_sends, task_name="chuangwen.sweep_sends", schedule=[{"cron": "* * * * *"}]
        )
        # Each domain's scans (their `SCANS`: app/services/notifications/scans.py),
        # daily unless the scan names its own schedule.
        self.scans = {
            scan.job: register(
                scan_task(scan, sessionmaker, settings),
                task_name=f"chuangwen.{scan.job}",
                schedule=([{"cron": scan.cron, "cron_offset": SHANGHAI}] if scan.cron else daily),
            )
            for scan in scans.every_scan()
        }
        # Photos WeChat has not taken, or whose verdict never came, stay hidden until
        # this asks again (app/services/content_check.py says when a photo is due).
        self.resubmit_media_checks = register(
            resubmit_media_checks,
            task_name="chuangwen.resubmit_media_checks",
            schedule=[{"cron": "*/5 * * * *"}],
        )
        self.purge_idempotency = register(
            purge_idempotency, task_name="chuangwen.purge_idempotency", schedule=daily
        )
        self.sweep_orphan_files = register(
            sweep_orphan_files, task_name="chuangwen.sweep_orphan_files", schedule=daily
        )
        sessionmaker.configure(info={outbox.OUTBOX_KEY: self})

    # --- the outbox side (outbox.Outbox) -------------------------------------

    def template_for(self, kind: NotificationKind) -> str | None:
        return self.settings.wechat_templates.get(kind.value)

    def enqueue_sends(self, send_ids: list[int]) -> None:
        """Called right after a commit (inside SQLAlchemy's synchronous hook): the
        kicks go on in a task of their own, in a fresh context so nothing of the
        request (its SQLite write turn, its audit address) leaks into the jobs."""
        task = asyncio.get_running_loop().create_task(
            self._kick_sends(send_ids), context=contextvars.Context()
        )
        self._handing_over.add(task)
        task.add_done_callback(self._handing_over.discard)

    async def _kick_sends(self, send_ids: list[int]) -> None:
        for send_id in send_ids:
            try:
                await self.deliver.kiq(send_id)
            except Exception:
                logger.exception("could not queue send %s; the sweep will", send_id)

    async def drain(self) -> None:
        """Wait until every hand-over under way (and, in process, its job) is done."""
        while self._handing_over:
            await asyncio.gather(*list(self._handing_over), return_exceptions=True)

    # --- running ----------------------------------------------------------------------

    @property
    def scheduling(self) -> bool:
        """Whether this process runs the schedule itself (in process, while up)."""
        return self._scheduler_task is not None and not self._scheduler_task.done()

    def scheduler(self) -> TaskiqScheduler:
        return TaskiqScheduler(self.broker, [LabelScheduleSource(self.broker)])

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """The app's lifespan: connect the broker; in process, also run the schedule."""
        await self.broker.startup()
        if self.in_process:
            self._scheduler_task = asyncio.create_task(self._run_schedule())
        try:
            yield
        finally:
            if self._scheduler_task is not None:
                self._scheduler_task.cancel()
                with suppress(asyncio.CancelledError):
                    await self._scheduler_task
                self._scheduler_task = None
            await self.drain()
            await self.broker.shutdown()

    async def _run_schedule(self) -> None:
        from taskiq.cli.scheduler.run import SchedulerLoop

        scheduler = self.scheduler()
        for source in scheduler.sources:
            await source.startup()
        await SchedulerLoop(scheduler).run(skip_first_run=True)


# --- the worker and scheduler processes (taskiq's command line calls these) ---------


def _worker_jobs() -> Jobs:
    settings = get_settings()
    if not settings.redis_url:
        raise SystemExit(
            "REDIS_URL is not set: without Redis the jobs run inside the app process "
            "and there is no queue for a worker to read."
        )
    engine = create_engine(settings)
    jobs = Jobs(
        settings,
        sessionmaker=create_sessionmaker(engine),
        wechat=WeChatGateway(settings),
        storage=create_storage(settings),
    )

    async def dispose(_state: TaskiqState) -> None:
        await jobs.drain()
        await engine.dispose()

    jobs.broker.add_event_handler(TaskiqEvents.WORKER_SHUTDOWN, dispose)
    return jobs


def worker_broker() -> AsyncBroker:
    """`taskiq worker app.jobs:worker_broker`"""
    return _worker_jobs().broker


def scheduler() -> TaskiqScheduler:
    """`taskiq scheduler app.jobs:scheduler`"""
    return _worker_jobs().scheduler()
