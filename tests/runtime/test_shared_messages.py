"""Tasks of one large append share messages (``Runtime._plan``, ``workers.tasks``'s
``_run_handlers``).

A message costs the broker, the worker's consumer and its pool about as much CPU as a
no-op handler's whole step, so the tasks one append sends with their base (a Map's
iterations, a Parallel's branches: ``deferred_start``) go ``tasks_per_message`` to a
message, when they still fill ``MESSAGES_AT_LEAST`` messages: a large Map's iterations
then still run on that many worker processes at once, six times AWS's inline Map's 40
(https://docs.aws.amazon.com/step-functions/latest/dg/state-map-inline.html). Each task
in a message runs as it would from its own: begun on its base, its outcome recorded
before the next begins; its deadline counts the time limits of those before it; a
delivery after a lost one counts the begin of the first task still awaited only.
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from statemachine.runtime.engine import MESSAGE_SECONDS, MESSAGES_AT_LEAST, Runtime
from statemachine.runtime.results import result_from_store
from statemachine.runtime.store import RedisHistoryStore
from tests.runtime.conftest import DOUBLE_MAP, PROJECT_FILE, Reads, Recorder
from workers import tasks as worker_tasks
from workers.registry import load_project
from workers.tasks import _run_handlers, _Services


def items(count: int) -> dict[str, Any]:
    return {"items": [{"value": n} for n in range(count)]}


def started(store: RedisHistoryStore, count: int, recorder: Recorder,
            definition: str = DOUBLE_MAP) -> tuple[Runtime, str]:
    runtime = Runtime(store, recorder, grace_seconds=30)
    return runtime, runtime.start(definition, items(count), machine="shared", name="m")


def deadline(store: RedisHistoryStore, eid: str, token: str) -> float:
    score = store.redis.zscore(store.deadlines_key, json.dumps([eid, token]))
    assert score is not None
    return float(score)


def test_a_large_maps_iterations_share_messages_each_with_its_base(fresh_store: Any) -> None:
    store = fresh_store()
    recorder = Recorder(task_seconds=6)
    count = MESSAGES_AT_LEAST * 4 + 3
    _, eid = started(store, count, recorder)
    assert [len(tasks) for tasks in recorder.messages] == [4] * MESSAGES_AT_LEAST + [3]
    assert [command.state for _, command in recorder.sent] == ["Double"] * count
    assert all("reply" in json.loads(note) for note in recorder.notes)
    # in the order the Map started them; each later one's deadline counts the time limits
    # of those before it in its message (6 s each)
    first, *rest = recorder.messages[0]
    assert [c.payload for c in recorder.messages[0]] == [{"value": n} for n in range(4)]
    ahead = [deadline(store, eid, c.token) - deadline(store, eid, first.token) for c in rest]
    assert ahead == pytest.approx([6, 12, 18], abs=0.5)


def test_a_smaller_append_sends_a_message_a_task(fresh_store: Any) -> None:
    recorder = Recorder(task_seconds=6)
    started(fresh_store(), MESSAGES_AT_LEAST * 2 - 1, recorder)
    assert {len(tasks) for tasks in recorder.messages} == {1}


def test_fewer_to_a_message_to_still_fill_the_messages(fresh_store: Any) -> None:
    recorder = Recorder(task_seconds=6)
    started(fresh_store(), MESSAGES_AT_LEAST * 3, recorder)
    assert [len(tasks) for tasks in recorder.messages] == [3] * MESSAGES_AT_LEAST


def test_a_message_holds_at_most_message_seconds_of_time_limits(fresh_store: Any) -> None:
    """Only short handlers gain: a long one's wait for those before it would be long."""
    recorder = Recorder(task_seconds=MESSAGE_SECONDS / 3)
    started(fresh_store(), MESSAGES_AT_LEAST * 4, recorder)
    assert [len(tasks) for tasks in recorder.messages] == [3] * 341 + [1]
    recorder = Recorder(task_seconds=MESSAGE_SECONDS / 2 + 1)
    started(fresh_store(), MESSAGES_AT_LEAST * 4, recorder)
    assert {len(tasks) for tasks in recorder.messages} == {1}


def test_tasks_with_a_timeout_have_messages_of_their_own(fresh_store: Any) -> None:
    """A TimeoutSeconds task's message carries no base: it begins with a read, which its
    timer needs (``deferred_start``)."""
    timed = json.loads(DOUBLE_MAP)
    timed["States"]["Each"]["ItemProcessor"]["States"]["Double"]["TimeoutSeconds"] = 5
    recorder = Recorder(task_seconds=5)
    started(fresh_store(), MESSAGES_AT_LEAST * 4, recorder, json.dumps(timed))
    assert {len(tasks) for tasks in recorder.messages} == {1}


def test_one_task_a_message_when_configured(
    fresh_store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SFN_TASKS_PER_MESSAGE", "1")
    recorder = Recorder(task_seconds=6)
    started(fresh_store(), MESSAGES_AT_LEAST * 4, recorder)
    assert {len(tasks) for tasks in recorder.messages} == {1}


# -- the worker's side -------------------------------------------------------------------


def delivery(redelivered: bool) -> Any:
    """What the worker reads of a Celery task: its delivery info."""
    return SimpleNamespace(app=None,
                           request=SimpleNamespace(delivery_info={"redelivered": redelivered}))


class Deployment:
    """A Map sent in shared messages, and a worker process's services to run them."""

    def __init__(self, store: RedisHistoryStore, monkeypatch: pytest.MonkeyPatch) -> None:
        self.store = store
        self.recorder = Recorder(task_seconds=6)
        self.runtime, self.eid = started(store, MESSAGES_AT_LEAST * 2, self.recorder)
        services = _Services(pid=0, runtime=self.runtime, project=load_project(PROJECT_FILE),
                             flags_redelivery=True)
        monkeypatch.setattr(worker_tasks, "services_for", lambda app: services)
        # a worker process that began another task of it holds the execution's input (too
        # long to be carried)
        store.load_partial(self.eid, ("k:" + self.recorder.sent[-1][1].token,))
        #: What each begin made of a task's begins so far, this one included (MAX_STARTS).
        self.begins: dict[str, int] = {}
        begin = worker_tasks._begin

        def counting(task: Any, runtime: Any, eid: str, command: Any, *more: Any) -> Any:
            starts, base = begin(task, runtime, eid, command, *more)
            self.begins[command.token] = starts
            return starts, base

        monkeypatch.setattr(worker_tasks, "_begin", counting)

    def message(self, number: int) -> list[list[str]]:
        """A message's argument, as ``CeleryDispatcher.run_tasks`` sends it."""
        first = sum(len(tasks) for tasks in self.recorder.messages[:number])
        notes = self.recorder.notes[first:first + len(self.recorder.messages[number])]
        return [[command.model_dump_json(), note]
                for command, note in zip(self.recorder.messages[number], notes, strict=True)]

    def starts(self, token: str) -> int | None:
        """The begins counted in Redis so far (forgotten with the task, once recorded)."""
        count = self.store.redis.hget(self.store._key(self.eid, "starts"), token)
        return None if count is None else int(count)


def test_a_first_delivery_runs_each_task_on_its_base_uncounted(
    fresh_store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployment = Deployment(fresh_store(), monkeypatch)
    reads = Reads(deployment.store, "load_task", "load", "load_partial")
    tasks = deployment.recorder.messages[0]
    assert len(tasks) == 2
    _run_handlers(delivery(False), deployment.eid, deployment.message(0))
    # no begin read and no step read: each began on its base, the second's rebased after
    # the first's outcome
    assert reads.count == 0
    assert deployment.begins == {c.token: 1 for c in tasks}
    assert [deployment.starts(c.token) for c in tasks] == [None, None]
    assert not any(deployment.runtime.awaits_handler(deployment.eid, c.token) for c in tasks)


def test_a_delivery_after_a_lost_one_counts_the_task_that_was_running(
    fresh_store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker process died while the first task ran: given back, the message's first
    task is counted as begun before (MAX_STARTS), the second is not: it had not begun."""
    deployment = Deployment(fresh_store(), monkeypatch)
    first, second = deployment.recorder.messages[0]
    _run_handlers(delivery(True), deployment.eid, deployment.message(0))
    assert deployment.begins == {first.token: 2, second.token: 1}
    assert not deployment.runtime.awaits_handler(deployment.eid, second.token)


def test_a_delivery_after_a_lost_one_skips_what_was_recorded(
    fresh_store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first task's outcome was recorded, then the process died running the second:
    the next delivery skips the first (its handler does not run again) and counts the
    second."""
    deployment = Deployment(fresh_store(), monkeypatch)
    first, second = deployment.recorder.messages[1]
    _run_handlers(delivery(False), deployment.eid, deployment.message(1)[:1])
    events = deployment.store.event_count(deployment.eid)
    deployment.begins.clear()
    _run_handlers(delivery(True), deployment.eid, deployment.message(1))
    assert deployment.begins == {first.token: 0, second.token: 2}
    history = result_from_store(deployment.store, deployment.eid).events
    succeeded = [e for e in history[events:] if e.type == "LambdaFunctionSucceeded"]
    assert len(succeeded) == 1  # the second's, recorded once; the first not again


def test_the_map_ends_as_with_a_message_a_task(
    fresh_store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployment = Deployment(fresh_store(), monkeypatch)
    for number in range(len(deployment.recorder.messages)):
        _run_handlers(delivery(False), deployment.eid, deployment.message(number))
    result = result_from_store(deployment.store, deployment.eid)
    assert result.status == "SUCCEEDED"
    assert result.output == [{"value": 2 * n} for n in range(MESSAGES_AT_LEAST * 2)]
    alone = fresh_store()
    monkeypatch.setenv("SFN_TASKS_PER_MESSAGE", "1")
    other = Deployment(alone, monkeypatch)
    assert {len(tasks) for tasks in other.recorder.messages} == {1}
    for number in range(len(other.recorder.messages)):
        _run_handlers(delivery(False), other.eid, other.message(number))
    types = lambda result: [e.type for e in result.events]  # noqa: E731
    assert types(result_from_store(alone, other.eid)) == types(result)



def test_a_large_map_runs_on_a_worker_in_shared_messages(durable: Any) -> None:
    """The session's ``sfn worker`` takes the shared messages (``sfn.run_handlers``)."""
    count = MESSAGES_AT_LEAST * 2 + 1
    result = durable.run(DOUBLE_MAP, items(count), machine="shared", timeout=120)
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert result.output == [{"value": 2 * n} for n in range(count)]
    assert "sfn.run_handlers" in durable.worker.text()


def test_a_bad_setting_is_named(fresh_store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SFN_TASKS_PER_MESSAGE", "four")
    with pytest.raises(ValueError, match="SFN_TASKS_PER_MESSAGE must be a whole number"):
        Runtime(fresh_store(), Recorder())


def test_a_task_that_fails_in_the_worker_does_not_hold_up_the_others(
    fresh_store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With one message a task, only the failing one would wait for its deadline."""
    deployment = Deployment(fresh_store(), monkeypatch)
    first, second = deployment.recorder.messages[0]
    run_one = worker_tasks._run_one

    def failing(task: Any, services: Any, eid: str, command_json: str, *more: Any) -> Any:
        if first.token in command_json:
            raise ConnectionError("Redis went away")
        return run_one(task, services, eid, command_json, *more)

    monkeypatch.setattr(worker_tasks, "_run_one", failing)
    with pytest.raises(ConnectionError, match="Redis went away"):
        _run_handlers(delivery(False), deployment.eid, deployment.message(0))
    assert deployment.runtime.awaits_handler(deployment.eid, first.token)
    assert not deployment.runtime.awaits_handler(deployment.eid, second.token)
