"""`celery -A digest.tasks worker`: processes that deliver the batches `digest send` queues
when [delivery] engine = "celery".

Settings come from the same places as the command line's ($DIGEST_CONFIG, ./config.toml,
then DIGEST_* variables). Each worker process keeps its own SMTP connections and rendered
variants from one batch to the next. A batch delivered twice, or handed on after its worker
was killed, sends nothing twice: the ledger decides, not the queue.
"""

from functools import cache

from celery.signals import worker_process_shutdown, worker_shutdown

from digest.broker import TASK, celery_app
from digest.config import load_settings
from digest.errors import ConfigError
from digest.service.app import App
from digest.service.workers import Worker

try:
    settings = load_settings()
except ConfigError as exc:
    raise SystemExit(f"error: {exc}") from None

app = celery_app(settings.celery)


@cache
def _worker() -> Worker:
    # Made on the first task, so in the process that runs tasks (a prefork child), never
    # inherited across a fork: each process has its own connections and lease owner name.
    return Worker(App.open(settings))


@app.task(name=TASK)
def deliver_batch(edition_id: int, token: str, delivery_ids: list[int]) -> dict[str, int]:
    """Deliver one batch of an edition's deliveries; the outcomes, by state."""
    return dict(_worker().deliver(edition_id, token, delivery_ids))


@worker_process_shutdown.connect
@worker_shutdown.connect
def _close(**_: object) -> None:
    if _worker.cache_info().currsize:
        _worker().close()
        _worker.cache_clear()
