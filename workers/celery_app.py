"""The Celery application that runs Task states: ``make_app`` and the module-level ``app``.

Start a worker the standard way (the environment configures it)::

    REDIS_URL=redis://127.0.0.1:6379/0 SFN_CONFIG=definitions/sfn.yaml \\
        celery -A workers.celery_app worker --loglevel INFO

or with ``sfn worker --config definitions/sfn.yaml``, which builds the same app.

Environment (read once, when this module is imported):

- ``REDIS_URL``: the Redis holding histories, timers and the outbox
  (default ``redis://127.0.0.1:6379/0``).
- ``SFN_BROKER_URL``: Celery's broker (default: the same Redis; a ``unix://`` Redis URL
  becomes kombu's ``redis+socket://``).
- ``SFN_CONFIG``: the project file registering the functions (default ``./sfn.yaml``
  when it exists).
- ``SFN_PREFIX``: the key prefix of the history store (default ``sfn``);
  ``SFN_QUEUE``: the Celery queue (default ``sfn``).
- ``SFN_SCHEDULER``: ``0`` to not run the scheduler loop inside workers (then run
  ``sfn scheduler`` somewhere); ``SFN_TICK_SECONDS``: its period (default 0.25).
- ``SFN_VISIBILITY_TIMEOUT``: see below (default 3600).

Why these settings (DESIGN.md, "Known pitfalls": Celery over Redis is transport, not
truth):

- ``task_acks_late`` + ``task_reject_on_worker_lost``: a message is acknowledged after the
  handler ran and its result was recorded, and returned to the queue if the worker process
  dies; so a crash re-runs the handler (at least once) and never loses the task.
- ``worker_prefetch_multiplier = 1``: a worker reserves one message per process, so a
  slow handler does not hold others' tasks hostage.
- JSON only: messages carry an execution id and a command as JSON text; no pickle.
- No result backend: a handler's result goes into the execution's history through
  ``Runtime.task_finished``; nothing ever waits on a Celery result.
- Never ETA or countdown: with the Redis transport an ETA message sits unacknowledged in
  the worker and is re-delivered after ``visibility_timeout`` (celery#7950). Timers live
  in the history store's sorted set and are fired by the scheduler.
- ``visibility_timeout`` (seconds): how long a delivered but unacknowledged message waits
  before kombu gives it to another worker. It must be longer than any handler may run
  (Lambda's limit is 900 s) or a long handler would run twice at once. The recovery loop
  already re-dispatches an attempt whose deadline (its timeout plus a grace period, from
  the history store) passed without a result, typically much sooner; this is the backstop
  for a message kombu itself lost track of. Kept at kombu's default of one hour.

Where the scheduler runs: a daemon thread in each worker's main process, started by the
``worker_ready`` signal and stopped by ``worker_shutdown`` (see
``statemachine/runtime/scheduler.py`` for why several at once is safe). With the prefork
pool the thread lives in the parent, which forks its children before it is ready, so no
child inherits it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from celery import Celery
from celery.signals import worker_ready, worker_shutdown

from statemachine.runtime.scheduler import TICK_SECONDS, Scheduler
from statemachine.runtime.store import is_cluster
from workers.registry import DEFAULT_PROJECT_FILE
from workers.tasks import RUN_HANDLER, runtime_for

log = logging.getLogger(__name__)

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_PREFIX = "sfn"
DEFAULT_QUEUE = "sfn"
#: kombu's own default; see the module docstring.
VISIBILITY_TIMEOUT = 3600

#: Schedulers started by ``worker_ready``, by app, so ``worker_shutdown`` stops the right one.
_schedulers: dict[int, Scheduler] = {}


def broker_url_for(redis_url: str) -> str:
    """Celery's broker URL for the Redis at ``redis_url`` (kombu spells Unix sockets
    ``redis+socket://``, redis-py ``unix://``)."""
    if redis_url.startswith("unix://"):
        path, _, query = redis_url.removeprefix("unix://").partition("?")
        db = dict(part.partition("=")[::2] for part in query.split("&") if part).get("db", "0")
        return f"redis+socket://{path}?virtual_host={db}"
    return redis_url


def make_app(
    broker_url: str | None,
    redis_url: str,
    project_path: str | Path | None,
    *,
    prefix: str = DEFAULT_PREFIX,
    queue: str = DEFAULT_QUEUE,
    scheduler: bool = True,
    tick_seconds: float = TICK_SECONDS,
    visibility_timeout: int = VISIBILITY_TIMEOUT,
    broker_options: dict[str, Any] | None = None,
) -> Celery:
    """A Celery app whose workers run the project's functions for Task states.

    Args:
        broker_url: Celery's broker; None to use ``redis_url``.
        redis_url: the history store's Redis.
        project_path: the project file (``sfn.yaml``); None for a project with no
            functions (every Task then fails with ``Lambda.ResourceNotFoundException``).
        prefix: the history store's key prefix.
        queue: the queue tasks are sent to and workers consume.
        scheduler: run the scheduler loop in each worker (``worker_ready``).
        tick_seconds: the scheduler's period.
        visibility_timeout: kombu's Redis ``visibility_timeout`` (see the module docstring).
        broker_options: more ``broker_transport_options`` (e.g. ``global_keyprefix``).
    """
    app = Celery("sfn", broker=broker_url or broker_url_for(redis_url), include=["workers.tasks"])
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_backend=None,
        task_ignore_result=True,
        task_default_queue=queue,
        broker_transport_options={"visibility_timeout": visibility_timeout,
                                  **(broker_options or {})},
        # Celery 6's default; with late acks a task cut off from the broker could not be
        # acknowledged anyway, and it will be delivered again.
        worker_cancel_long_running_tasks_on_connection_loss=True,
        broker_connection_retry_on_startup=True,
        sfn_redis_url=redis_url,
        sfn_project=str(project_path) if project_path is not None else None,
        sfn_prefix=prefix,
        sfn_scheduler=scheduler,
        sfn_tick_seconds=tick_seconds,
    )
    return app


class ConfigurationError(ValueError):
    """The environment configures an impossible deployment."""


def app_from_env(
    environ: Mapping[str, str] | None = None, *, project_path: str | Path | None = None
) -> Celery:
    """``make_app`` configured from the environment variables listed above;
    ``project_path``, when given, wins over ``SFN_CONFIG``."""
    env = os.environ if environ is None else environ
    if is_cluster(env) and not env.get("SFN_BROKER_URL"):
        raise ConfigurationError(
            "SFN_REDIS_CLUSTER=1 needs SFN_BROKER_URL: Celery's Redis transport does not "
            "work on a Redis Cluster; point the broker at RabbitMQ or a plain Redis"
        )
    project = project_path or env.get("SFN_CONFIG") or (
        DEFAULT_PROJECT_FILE if Path(DEFAULT_PROJECT_FILE).exists() else None
    )
    return make_app(
        env.get("SFN_BROKER_URL") or None,
        env.get("REDIS_URL") or DEFAULT_REDIS_URL,
        project,
        prefix=env.get("SFN_PREFIX") or DEFAULT_PREFIX,
        queue=env.get("SFN_QUEUE") or DEFAULT_QUEUE,
        scheduler=env.get("SFN_SCHEDULER", "1").lower() not in {"0", "false", "no", "off"},
        tick_seconds=float(env.get("SFN_TICK_SECONDS") or TICK_SECONDS),
        visibility_timeout=int(env.get("SFN_VISIBILITY_TIMEOUT") or VISIBILITY_TIMEOUT),
    )


def _start_scheduler(sender: Any = None, **_: Any) -> None:
    app = getattr(sender, "app", None)
    if app is None or not app.conf.get("sfn_scheduler") or id(app) in _schedulers:
        return
    scheduler = Scheduler(runtime_for(app), interval=app.conf.get("sfn_tick_seconds"))
    _schedulers[id(app)] = scheduler.start()
    log.info("scheduler started (every %.2f s)", scheduler.interval)


def _stop_scheduler(sender: Any = None, **_: Any) -> None:
    app = getattr(sender, "app", None)
    scheduler = _schedulers.pop(id(app), None) if app is not None else None
    if scheduler is not None:
        scheduler.stop()


# Connected by call rather than as decorators, so the functions keep their types.
worker_ready.connect(_start_scheduler)
worker_shutdown.connect(_stop_scheduler)

_app: Celery | None = None


def __getattr__(name: str) -> Any:
    """``app``: the app ``celery -A workers.celery_app worker`` finds, made from the
    environment on first use, so that importing this module never fails on a bad one
    (``sfn`` reports a ConfigurationError as a usage error)."""
    global _app
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if _app is None:
        _app = app_from_env()
    return _app

__all__ = ["RUN_HANDLER", "app_from_env", "broker_url_for", "make_app"]  # and `app`, made on use
