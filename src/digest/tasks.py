"""`celery -A digest.tasks worker`: processes that deliver the batches `digest send` queues
when [delivery] engine = "celery".

Settings come from the same places as the command line's ($DIGEST_CONFIG, ./config.toml,
then DIGEST_* variables). Each worker process keeps its own SMTP connections and rendered
variants from one batch to the next. A batch delivered twice, or handed on after its worker
was killed, sends nothing twice: the ledger decides, not the queue. Every worker also looks,
as often as a sender renews its leases, for rows a killed worker left behind, and queues them
again: a broker that keeps a dead worker's task for its visibility timeout (Redis: an hour by
default) then holds up nobody.
"""

from functools import cache
from typing import Any, ClassVar

from celery import bootsteps
from celery.signals import worker_process_shutdown, worker_shutdown
from celery.utils.log import get_logger
from sqlalchemy.exc import SQLAlchemyError

from digest.broker import TASK, celery_app
from digest.config import load_settings
from digest.errors import ConfigError, DigestError
from digest.service.app import App
from digest.service.workers import Worker, requeue_abandoned

try:
    settings = load_settings()
except ConfigError as exc:
    raise SystemExit(f"error: {exc}") from None

app = celery_app(settings.celery)
log = get_logger(__name__)


@cache
def _worker() -> Worker:
    # Made on the first task, so in the process that runs tasks (a prefork child), never
    # inherited across a fork: each process has its own connections and lease owner name.
    return Worker(App.open(settings))


class _Requeue(bootsteps.StartStopStep):
    """A timer in the worker's main process that runs `requeue_abandoned`. It opens its own
    database and broker connections each time, so none is ever inherited by a forked pool
    process."""

    requires: ClassVar = {"celery.worker.components:Timer"}

    def start(self, worker: Any) -> None:
        self.timer = worker.timer.call_repeatedly(
            settings.delivery.lease_seconds / 3, self.requeue, priority=10
        )

    def stop(self, worker: Any) -> None:
        self.timer.cancel()

    @staticmethod
    def requeue() -> None:
        scratch = App.open(settings)
        try:
            requeue_abandoned(scratch)
        except (DigestError, SQLAlchemyError) as exc:  # the next round tries again
            log.warning("cannot queue abandoned deliveries again: %s", exc)
        finally:
            scratch.close()


app.steps["worker"].add(_Requeue)


@app.task(name=TASK)
def deliver_batch(edition_id: int, token: str, delivery_ids: list[int]) -> dict[str, int]:
    """Deliver one batch of an edition's deliveries; the outcomes, by state."""
    outcomes = _worker().deliver(edition_id, token, delivery_ids)
    return {state.value: n for state, n in outcomes.items()}


@worker_process_shutdown.connect
@worker_shutdown.connect
def _close(**_: object) -> None:
    if _worker.cache_info().currsize:
        _worker().close()
        _worker.cache_clear()
