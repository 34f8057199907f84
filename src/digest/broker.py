"""The broker: Celery tasks over Redis (or RabbitMQ) carrying batches of deliveries, and the
rate limit every worker shares, kept in Redis.

Delivery of tasks is at least once on purpose (late acknowledgement; Redis hands a task whose
worker vanished to another after `visibility_timeout`): a batch may run twice, and the ledger,
not the queue, keeps each message from being sent twice.
"""

import math
import time
from collections.abc import Sequence

import redis
from celery import Celery
from kombu.exceptions import KombuError
from kombu.utils.url import maybe_sanitize_url

from digest.config import CelerySettings
from digest.errors import ConfigError, SendingError

TASK = "digest.deliver_batch"
REDIS_SCHEMES = ("redis://", "rediss://")


def celery_app(settings: CelerySettings) -> Celery:
    """The Celery application both sides use: `digest send` to enqueue, workers to consume."""
    app = Celery("digest", broker=settings.broker_url, set_as_current=False)
    transport: dict[str, object] = {"visibility_timeout": settings.visibility_timeout}
    if settings.broker_url.startswith(REDIS_SCHEMES):
        transport |= {
            "global_keyprefix": f"{settings.key_prefix}:",
            # Abandoned tasks are looked for this often (kombu's default is every 100 s).
            "unacked_restore_interval": max(1, min(10, settings.visibility_timeout / 10)),
            "unacked_restore_throttle": 1,
        }
    app.conf.update(
        task_default_queue=settings.queue,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        # One task at a time per worker process: a killed process strands one batch, no more.
        worker_prefetch_multiplier=1,
        broker_transport_options=transport,
        broker_connection_retry_on_startup=True,
    )
    return app


class Publisher:
    """Enqueues batches of delivery ids for the workers."""

    def __init__(self, settings: CelerySettings) -> None:
        self._app = celery_app(settings)
        self._queue = settings.queue
        self._where = maybe_sanitize_url(settings.broker_url)

    def publish(self, edition_id: int, token: str, delivery_ids: Sequence[int]) -> None:
        try:
            self._app.send_task(
                TASK, args=[edition_id, token, list(delivery_ids)], queue=self._queue
            )
        except (KombuError, OSError) as exc:
            raise SendingError(f"broker {self._where}: cannot enqueue: {exc}") from None

    def close(self) -> None:
        self._app.close()


# The next free slot, in microseconds of the Redis server's clock, so that workers on machines
# whose clocks disagree still share one schedule.
_NEXT_SLOT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local slot = math.max(tonumber(redis.call('GET', KEYS[1]) or 0), now)
local after = slot + tonumber(ARGV[1])
redis.call('SET', KEYS[1], after, 'PX', math.ceil((after - now) / 1000) + 1000)
return slot - now
"""


class SharedRateLimit:
    """At most `per_second` and `per_hour` messages across every worker (0: no limit): each
    message takes the next free slot from Redis and waits for it."""

    def __init__(self, settings: CelerySettings, per_second: float, per_hour: int) -> None:
        url = settings.rate_limit_url
        if url is None:
            raise ConfigError("celery.redis_url: a Redis URL is needed for a shared rate limit")
        intervals = [1 / per_second] if per_second else []
        if per_hour:
            intervals.append(3600 / per_hour)
        self._interval_us = math.ceil(max(intervals) * 1e6) if intervals else 0
        self._key = f"{settings.key_prefix}:rate"
        self._client = redis.Redis.from_url(url)
        self._next_slot = self._client.register_script(_NEXT_SLOT)
        self._where = maybe_sanitize_url(url)

    def wait(self) -> None:
        if not self._interval_us:
            return
        try:
            delay_us = int(self._next_slot(keys=[self._key], args=[self._interval_us]))
        except redis.RedisError as exc:
            raise SendingError(f"rate limit at {self._where}: {exc}") from None
        if delay_us > 0:
            time.sleep(delay_us / 1e6)
