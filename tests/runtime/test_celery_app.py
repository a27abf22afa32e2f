"""The Celery app's settings, the dispatcher's contract and the scheduler loop's resilience;
no worker needed."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import redis
from celery import Celery

from statemachine.interpreter.commands import RunTask
from statemachine.runtime.engine import FIRST_SENT
from statemachine.runtime.scheduler import Scheduler
from workers.celery_app import ConfigurationError, app_from_env, broker_url_for, make_app
from workers.registry import parse_project
from workers.tasks import RUN_HANDLER, CeleryDispatcher

pytestmark = pytest.mark.timeout(30)


def command(**fields: Any) -> RunTask:
    return RunTask.model_validate({"token": "arn:x#5", "state": "S", "resource": "r",
                                   "function": "F", "payload": {}, **fields})


def test_app_settings_make_celery_transport_not_truth() -> None:
    app = make_app(None, "redis://127.0.0.1:6379/3", None)
    conf = app.conf
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_serializer == "json"
    assert list(conf.accept_content) == ["json"]
    assert conf.task_ignore_result is True
    assert conf.broker_transport_options["visibility_timeout"] == 3600
    assert conf.broker_url == "redis://127.0.0.1:6379/3"


def test_app_from_env_reads_the_documented_variables() -> None:
    app = app_from_env({
        "REDIS_URL": "redis://h:1/2", "SFN_BROKER_URL": "redis://b:3/4",
        "SFN_CONFIG": "p/sfn.yaml", "SFN_PREFIX": "px", "SFN_QUEUE": "qx",
        "SFN_SCHEDULER": "0", "SFN_TICK_SECONDS": "0.5", "SFN_VISIBILITY_TIMEOUT": "1200",
    })
    conf = app.conf
    assert conf.broker_url == "redis://b:3/4"
    assert conf.sfn_redis_url == "redis://h:1/2"
    assert conf.sfn_project == "p/sfn.yaml"
    assert (conf.sfn_prefix, conf.task_default_queue) == ("px", "qx")
    assert conf.sfn_scheduler is False
    assert conf.sfn_tick_seconds == 0.5
    assert conf.broker_transport_options["visibility_timeout"] == 1200


def test_the_run_handler_task_is_registered_on_the_app() -> None:
    app = make_app(None, "redis://127.0.0.1:6379/3", None)
    app.finalize()
    assert RUN_HANDLER in app.tasks


def test_broker_url_for_unix_sockets() -> None:
    assert broker_url_for("unix:///tmp/x/redis.sock?db=0") == (
        "redis+socket:///tmp/x/redis.sock?virtual_host=0")
    assert broker_url_for("redis://h:6379/1") == "redis://h:6379/1"


def test_dispatcher_sends_one_message_named_by_the_token() -> None:
    sent: list[dict[str, Any]] = []

    class App:
        def send_task(self, name: str, **options: Any) -> None:
            sent.append({"name": name, **options})

    dispatcher = CeleryDispatcher(App(), None)  # type: ignore[arg-type]
    dispatcher.run_task("m:e", command())
    [message] = sent
    assert message["name"] == RUN_HANDLER
    assert message["task_id"] == "arn:x#5"
    assert message["args"][0] == "m:e"
    assert RunTask.model_validate_json(message["args"][1]) == command()
    assert message["args"][2] == FIRST_SENT  # a first message, without a base
    assert "eta" not in message and "countdown" not in message
    # Not Celery's repr of the arguments (1 KiB of the base in every message's headers).
    assert (message["argsrepr"], message["kwargsrepr"]) == ("('m:e', 'S')", "{}")


def test_dispatcher_task_seconds() -> None:
    project = parse_project({"functions": {"F": {"handler": "m.f", "timeout": 30}}},
                            source="sfn.yaml")
    with_project = CeleryDispatcher(None, project)  # type: ignore[arg-type]
    assert with_project.task_seconds(command()) == 30
    assert with_project.task_seconds(command(timeout_seconds=5)) == 5
    assert with_project.task_seconds(command(timeout_seconds=60)) == 30
    assert with_project.task_seconds(command(function="Other")) == 900
    without = CeleryDispatcher(None, None)  # type: ignore[arg-type]
    assert without.task_seconds(command()) == 900
    assert without.task_seconds(command(timeout_seconds=7)) == 7


def test_scheduler_keeps_ticking_through_redis_errors() -> None:
    ticks: list[int] = []
    ticked_after_errors = threading.Event()

    class FlakyRuntime:
        def tick(self) -> int:
            ticks.append(1)
            if len(ticks) <= 2:
                raise redis.ConnectionError("Redis is restarting")
            ticked_after_errors.set()
            return 0

    scheduler = Scheduler(FlakyRuntime(), interval=0.01).start()  # type: ignore[arg-type]
    try:
        assert ticked_after_errors.wait(5)
    finally:
        scheduler.stop()
    assert not scheduler.running


def test_a_cluster_history_store_needs_a_broker_of_its_own() -> None:
    """kombu's Redis transport does not speak Redis Cluster: SFN_REDIS_CLUSTER=1 without
    SFN_BROKER_URL is refused with what to set, and with it the broker is that URL."""
    env = {"REDIS_URL": "redis://10.0.0.1:7000/0", "SFN_REDIS_CLUSTER": "1"}
    with pytest.raises(ConfigurationError, match="needs SFN_BROKER_URL"):
        app_from_env(env)
    app = app_from_env({**env, "SFN_BROKER_URL": "amqp://guest:guest@127.0.0.1:5672//"})
    assert app.conf.broker_url.startswith("amqp://")


def test_celery_finds_the_module_app_made_on_first_use() -> None:
    """``celery -A workers.celery_app`` reads the module's ``app``; importing the module
    alone builds nothing (so a bad environment is reported by ``sfn``, not by an import)."""
    import workers.celery_app as module

    assert isinstance(module.app, Celery)
    assert module.app is module.app
    with pytest.raises(AttributeError):
        module.apps  # noqa: B018
