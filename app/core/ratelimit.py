"""Rate limits on the `limits` library: shared through Redis when REDIS_URL is set
(several workers, one budget), in-process otherwise."""

from __future__ import annotations

import math
import time

from limits import RateLimitItemPerMinute, storage
from limits.aio.strategies import MovingWindowRateLimiter

from app.core.config import Settings
from app.core.errors import AppError


class TooManyRequests(AppError):
    status = 429
    title = "请求过于频繁"

    def __init__(self, retry_after_s: int):
        super().__init__("rate_limited", f"请求过于频繁，请 {retry_after_s} 秒后再试")
        self.retry_after_s = retry_after_s

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_s)}


class RateLimiter:
    def __init__(self, settings: Settings):
        uri = "async+" + settings.redis_url if settings.redis_url else "async+memory://"
        options = {"implementation": "redispy"} if settings.redis_url else {}
        self._storage = storage.storage_from_string(uri, **options)
        self._limiter = MovingWindowRateLimiter(self._storage)

    async def hit_per_minute(self, key: str, limit: int) -> None:
        """Count one call against `limit` a minute for `key`; 429 past it."""
        item = RateLimitItemPerMinute(limit)
        if await self._limiter.hit(item, "chuangwen", key):
            return
        stats = await self._limiter.get_window_stats(item, "chuangwen", key)
        raise TooManyRequests(max(1, math.ceil(stats.reset_time - time.time())))
