"""Fixtures for the durable runtime's tests: a real Redis, a real Celery worker subprocess.

Redis: the server on 127.0.0.1:6379 (database 15) when it answers, else an embedded one
(``EmbeddedRedis``) for the whole session (``SFN_TEST_REDIS_URL`` names another server, or
``embedded`` to force that fallback). Every session uses its own key prefix and
Celery queue, and deletes its keys at the end, so runs never see each other's data.

The worker is ``sfn worker`` (prefork pool, one process), started once per session as a
user would start it, with the scheduler loop inside it. One worker process runs tasks in
the order they were sent, as the in-process driver does, which the comparisons rely on.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

from statemachine.interpreter import inputs
from statemachine.interpreter.commands import RunTask
from statemachine.runtime.embedded import EmbeddedRedis
from statemachine.runtime.engine import Runtime
from statemachine.runtime.execution import ExecutionResult
from statemachine.runtime.results import wait_for_result
from statemachine.runtime.store import RedisHistoryStore
from workers.celery_app import make_app
from workers.registry import Project, load_project
from workers.tasks import CeleryDispatcher

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
PROJECT_FILE = FIXTURES / "sfn.yaml"
SFN = Path(sys.executable).parent / "sfn"
FN = "arn:aws:lambda:us-east-1:123456789012:function:"
#: A Map of no-op-sized Tasks (the project's Double) over ``$.items``, all at once.
DOUBLE_MAP = json.dumps({"StartAt": "Each", "States": {"Each": {
    "Type": "Map",
    "ItemsPath": "$.items",
    "MaxConcurrency": 0,
    "ItemProcessor": {
        "StartAt": "Double",
        "States": {"Double": {"Type": "Task", "Resource": FN + "Double", "End": True}},
    },
    "End": True,
}}})
WORKER_START_SECONDS = 60


class Recorder:
    """A dispatcher that only records what it was asked to run."""

    def __init__(self, task_seconds: float = 60) -> None:
        self.sent: list[tuple[str, RunTask]] = []
        #: The third argument of each task's message (``FIRST_SENT``, a base, ``RESENT``).
        self.notes: list[str] = []
        #: Each message's tasks (one, but for ``run_tasks``).
        self.messages: list[list[RunTask]] = []
        self.seconds = task_seconds

    def run_task(self, eid: str, command: RunTask, sent: str = "") -> None:
        self.run_tasks(eid, [(command, sent)])

    def run_tasks(self, eid: str, tasks: Any) -> None:
        for command, sent in tasks:
            self.sent.append((eid, command))
            self.notes.append(sent)
        self.messages.append([command for command, _ in tasks])

    def task_seconds(self, command: RunTask) -> float:
        return self.seconds


class Reads:
    """Counts the store's reads of an execution: by default a step's fresh reads (``load``,
    ``load_partial``), not a task's begin read (``load_task``), unless named."""

    def __init__(self, store: RedisHistoryStore, *names: str) -> None:
        self.count = 0
        for name in names or ("load", "load_partial"):
            real = getattr(store, name)

            def spied(*args: Any, _real: Any = real, **kwargs: Any) -> Any:
                self.count += 1
                return _real(*args, **kwargs)

            setattr(store, name, spied)


def finish_task(
    runtime: Runtime,
    eid: str,
    command: RunTask,
    output: Any = None,
    *,
    error: str | None = None,
    cause: str | None = None,
    use_base: bool = True,
) -> bool:
    """What a worker does for a quick handler (``workers/tasks.py``): begin the task, then
    record TaskStarted and its outcome in one step (success with ``output``; with
    ``error``, a failure), decided on the begin read when there is one and ``use_base``."""
    starts, base = runtime.begin_task(eid, command)
    assert starts == 1
    at = runtime.clock.now()
    outcome: inputs._Input = (
        inputs.TaskSucceeded(time=at, token=command.token, output=output)
        if error is None
        else inputs.TaskFailed(time=at, token=command.token, error=error, cause=cause)
    )
    return runtime.task_finished(
        eid,
        command.token,
        [inputs.TaskStarted(time=at, token=command.token), outcome],
        base=base if use_base else None,
    )


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # SFN_TEST_REDIS_URL picks another server; "embedded" forces the fallback.
    url = os.environ.get("SFN_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    try:
        if url == "embedded":
            raise redis.ConnectionError("the embedded Redis was asked for")
        with redis.Redis.from_url(url, socket_connect_timeout=0.5) as client:
            client.ping()
    except redis.RedisError:
        server = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
        yield server.start()
        server.stop(force=True)  # every process of the session is done with it
        return
    yield url


@pytest.fixture(scope="session")
def namespace(redis_url: str) -> Iterator[str]:
    """This session's key prefix and queue name; its keys are deleted at the end."""
    name = f"sfntest-{uuid.uuid4().hex[:8]}"
    yield name
    with redis.Redis.from_url(redis_url) as client:
        doomed = [*client.scan_iter(match=f"{name}*", count=1000),
                  *client.scan_iter(match=f"_kombu.binding*.{name}*", count=1000)]
        if doomed:
            client.delete(*doomed)


@pytest.fixture(scope="session")
def project() -> Project:
    return load_project(PROJECT_FILE)


@pytest.fixture(scope="session")
def sfn_env(redis_url: str, namespace: str) -> dict[str, str]:
    """The environment of every process of this session's deployment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SFN_", "REDIS_"))}
    return {
        **env,
        "REDIS_URL": redis_url,
        "SFN_CONFIG": str(PROJECT_FILE),
        "SFN_PREFIX": namespace,
        "SFN_QUEUE": namespace,
        "SFN_TICK_SECONDS": "0.1",
        "COLUMNS": "200",
        "NO_COLOR": "1",
    }


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    log: Path

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


def start_worker(env: dict[str, str], log: Path, *args: str) -> Worker:
    """``sfn worker`` as a subprocess, returned once Celery reports it ready."""
    handle = log.open("wb")
    process = subprocess.Popen(
        [str(SFN), "worker", "--concurrency", "1", "--loglevel", "INFO", *args],
        cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT,
    )
    handle.close()
    worker = Worker(process, log)
    deadline = time.monotonic() + WORKER_START_SECONDS
    while " ready." not in worker.text():
        if process.poll() is not None or time.monotonic() > deadline:
            stop_worker(worker)
            pytest.fail(f"sfn worker did not start:\n{worker.text()}")
        time.sleep(0.05)
    return worker


def stop_worker(worker: Worker) -> None:
    if worker.process.poll() is None:
        worker.process.send_signal(signal.SIGTERM)  # Celery's warm shutdown
        try:
            worker.process.wait(30)
        except subprocess.TimeoutExpired:
            worker.process.kill()
            worker.process.wait()


@pytest.fixture(scope="session")
def worker(sfn_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    started = start_worker(sfn_env, tmp_path_factory.mktemp("worker") / "worker.log")
    yield started
    stop_worker(started)
    assert "Traceback" not in started.text(), started.text()


@dataclass
class Durable:
    """A client of the session's deployment: start executions, wait for their results."""

    runtime: Runtime
    worker: Worker

    def run(self, definition: str, input: Any, *, machine: str, name: str | None = None,
            timeout: float = 60) -> ExecutionResult:
        eid = self.runtime.start(definition, input, machine=machine,
                                 name=name or f"run-{uuid.uuid4().hex[:12]}")
        try:
            return wait_for_result(self.runtime.store, eid, timeout=timeout)
        except TimeoutError:
            pytest.fail(f"{eid} did not finish in {timeout} s; worker log:\n{self.worker.text()}")


@pytest.fixture(scope="session")
def durable(redis_url: str, namespace: str, project: Project,
            worker: Worker) -> Iterator[Durable]:
    app = make_app(None, redis_url, PROJECT_FILE, prefix=namespace, queue=namespace,
                   scheduler=False)
    store = RedisHistoryStore(redis.Redis.from_url(redis_url), prefix=namespace)
    yield Durable(Runtime(store, CeleryDispatcher(app, project)), worker)
    store.redis.close()
    app.pool.force_close_all()
    app.close()


@pytest.fixture
def fresh_store(redis_url: str, namespace: str) -> Iterator[Callable[[], RedisHistoryStore]]:
    """Stores under prefixes of their own (within the session's), for tests without Celery."""
    made: list[RedisHistoryStore] = []

    def make() -> RedisHistoryStore:
        store = RedisHistoryStore(redis.Redis.from_url(redis_url),
                                  prefix=f"{namespace}-{uuid.uuid4().hex[:6]}")
        made.append(store)
        return store

    yield make
    for store in made:
        store.delete_prefix()
        store.redis.close()


# -- operating executions (test_operations.py, test_logs.py) ---------------------------
OPS_PROJECT = FIXTURES / "ops.yaml"


@dataclass
class Ops:
    """A deployment of its own (prefix, queue, a worker with four processes) for the
    operation verbs: ``sfn(...)`` runs the CLI against it, ``runtime`` is a client."""

    env: dict[str, str]
    runtime: Runtime
    worker: Worker

    @property
    def store(self) -> RedisHistoryStore:
        return self.runtime.store

    def sfn(self, *args: str, timeout: float = 60,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(SFN), *args], cwd=ROOT, env=env or self.env,
                              capture_output=True, text=True, timeout=timeout)

    def start(self, definition: str, input: Any, *, machine: str,
              name: str | None = None) -> str:
        return self.runtime.start(definition, input, machine=machine,
                                  name=name or f"run-{uuid.uuid4().hex[:12]}")

    def wait(self, eid: str, timeout: float = 60) -> ExecutionResult:
        try:
            return wait_for_result(self.store, eid, timeout=timeout)
        except TimeoutError:
            pytest.fail(f"{eid} did not finish in {timeout} s; worker log:\n{self.worker.text()}")


@pytest.fixture(scope="session")
def ops(redis_url: str, namespace: str, sfn_env: dict[str, str],
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ops]:
    prefix = f"{namespace}-ops"
    env = {**sfn_env, "SFN_PREFIX": prefix, "SFN_QUEUE": prefix,
           "SFN_CONFIG": str(OPS_PROJECT)}
    started = start_worker(env, tmp_path_factory.mktemp("ops") / "worker.log",
                           "--concurrency", "4")
    project = load_project(OPS_PROJECT)
    app = make_app(None, redis_url, OPS_PROJECT, prefix=prefix, queue=prefix, scheduler=False)
    store = RedisHistoryStore(redis.Redis.from_url(redis_url), prefix=prefix)
    yield Ops(env, Runtime(store, CeleryDispatcher(app, project)), started)
    stop_worker(started)
    store.redis.close()
    app.pool.force_close_all()
    app.close()
    with redis.Redis.from_url(redis_url) as client:
        doomed = list(client.scan_iter(match=f"_kombu.binding*.{prefix}", count=1000))
        if doomed:
            client.delete(*doomed)


def poll(
    condition: Callable[[], Any], timeout: float, what: str, detail: Callable[[], str] = lambda: ""
) -> Any:
    """Return ``condition()``'s first truthy value; fail the test after ``timeout`` s."""
    give_up = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > give_up:
            pytest.fail(f"timed out after {timeout} s waiting for {what}\n{detail()}")
        time.sleep(0.02)
