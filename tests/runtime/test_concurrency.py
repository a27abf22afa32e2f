"""Transitions happen exactly once: duplicates are recorded once, races never fork history.

DESIGN.md: "Each append is atomic and conditional on the execution's last event id: two
workers finishing at once can never both advance the same frame; a duplicate completion
(Celery redelivery) is recorded once."
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from statemachine.interpreter import inputs
from statemachine.interpreter.commands import RunTask
from statemachine.local import run_local
from statemachine.runtime.engine import Runtime
from statemachine.runtime.results import result_from_store
from statemachine.runtime.store import RedisHistoryStore, fields_of
from tests.runtime.conftest import Recorder

pytestmark = pytest.mark.timeout(90)

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
FN = "arn:aws:lambda:us-east-1:123456789012:function:"
HELLO = (ROOT / "definitions" / "hello.asl.json").read_text(encoding="utf-8")



def now() -> datetime:
    return datetime.now(UTC)


def types(events: list[Any]) -> list[str]:
    return [event.type for event in events]


def assert_chain(events: list[Any]) -> None:
    """Ids 1..n, each once, and every previous id points back into the history."""
    assert [event.id for event in events] == list(range(1, len(events) + 1))
    for event in events:
        assert 0 <= event.previous_event_id < event.id


def test_duplicate_completion_is_recorded_once(
    fresh_store: Callable[[], RedisHistoryStore],
) -> None:
    recorder = Recorder()
    runtime = Runtime(fresh_store(), recorder)
    eid = runtime.start(HELLO, {"name": "Ada"}, machine="hello", name="dup")
    [(_, command)] = recorder.sent
    token = command.token

    assert runtime.apply(eid, inputs.TaskStarted(time=now(), token=token))
    assert not runtime.apply(eid, inputs.TaskStarted(time=now(), token=token))
    done = inputs.TaskSucceeded(time=now(), token=token, output={"message": "Hi"})
    assert runtime.task_finished(eid, token, done)
    assert not runtime.task_finished(eid, token, done)
    failed = inputs.TaskFailed(time=now(), token=token, error="Late", cause="too late")
    assert not runtime.task_finished(eid, token, failed)

    result = result_from_store(runtime.store, eid)
    assert result.status == "SUCCEEDED"
    assert result.output == {"message": "Hi"}
    assert types(result.events).count("LambdaFunctionStarted") == 1
    assert types(result.events).count("LambdaFunctionSucceeded") == 1
    assert "LambdaFunctionFailed" not in types(result.events)
    assert_chain(result.events)


def test_redelivered_message_after_the_end_changes_nothing(durable: Any) -> None:
    """The same run_handler message delivered again (as after a worker loss) is skipped by
    the worker: the attempt is no longer awaited, and the handler does not run again."""
    result = durable.run(HELLO, {"name": "Ada"}, machine="hello")
    eid = f"hello:{result.name}"
    command = RunTask.model_validate(
        {"token": f"{result.execution_arn}#3", "state": "Greet", "function": "Hello",
         "resource": FN + "Hello", "payload": {"name": "Ada"}})
    durable.runtime.dispatcher.run_task(eid, command)
    deadline = time.monotonic() + 10
    while f"task {command.token} of {eid} is no longer awaited" not in durable.worker.text():
        assert time.monotonic() < deadline, durable.worker.text()
        time.sleep(0.05)
    again = result_from_store(durable.runtime.store, eid)
    assert again.events == result.events


MAP_ITEMS = 24
MAP = {"StartAt": "Each", "States": {"Each": {
    "Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 0,
    "ItemSelector": {"value.$": "$$.Map.Item.Value"},
    "ItemProcessor": {"StartAt": "Double", "States": {
        "Double": {"Type": "Task", "Resource": FN + "Double", "End": True}}},
    "End": True}}}


@pytest.mark.slow
def test_concurrent_completions_from_processes_and_threads_never_fork_history(
    fresh_store: Callable[[], RedisHistoryStore], redis_url: str, tmp_path: Path,
) -> None:
    """4 processes x 4 threads each apply every one of 24 completions (each completion
    16 times, all at once). Every change must be made by exactly one of them, and the
    history must stay one chain of unique, contiguous ids."""
    store = fresh_store()
    recorder = Recorder()
    runtime = Runtime(store, recorder)
    items = list(range(MAP_ITEMS))
    text = json.dumps(MAP)
    eid = runtime.start(text, {"items": items}, machine="hammer", name="h1")
    jobs = [[command.token, {"value": command.payload["value"] * 2}]
            for _, command in recorder.sent]
    assert len(jobs) == MAP_ITEMS
    job_file = tmp_path / "jobs.json"
    job_file.write_text(json.dumps(jobs))

    processes = [
        subprocess.Popen(
            [sys.executable, str(FIXTURES / "hammer.py"), redis_url, store.prefix, eid,
             str(job_file), "4", str(number)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for number in range(4)
    ]
    time.sleep(1.0)  # let every process load and wait at the line
    store.redis.set(f"{store.prefix}:go", "1")
    changes = conflicts = 0
    for process in processes:
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        changed, refused = out.split()
        changes, conflicts = changes + int(changed), conflicts + int(refused)

    result = result_from_store(store, eid)
    assert_chain(result.events)
    counts = Counter(types(result.events))
    assert counts["LambdaFunctionStarted"] == MAP_ITEMS
    assert counts["LambdaFunctionSucceeded"] == MAP_ITEMS
    # Each of the 2 x 24 inputs changed the execution exactly once, whoever won; and the
    # writers did collide (appends refused for a stale last event id), so this was a race.
    assert changes == 2 * MAP_ITEMS
    assert conflicts > 0
    assert result.status == "SUCCEEDED"
    assert result.output == [{"value": value * 2} for value in items]
    # The same events as the in-process driver's, in an order the race chose.
    local = run_local(text, {"items": items},
                      handlers={"Double": lambda event, context: {"value": event["value"] * 2}})
    assert counts == Counter(types(local.events))


class Held(Runtime):
    """Appends as on a Redis Cluster, where commands wait in the outbox (the deadline and
    timer sets are on other shards), and leaves them there, as a writer that died just
    after its append would."""

    def __init__(self, store: RedisHistoryStore, dispatcher: Any) -> None:
        store.carries = False
        super().__init__(store, dispatcher)

    def carry_out(self, eid: str, commands: Any, finished: str | None = None) -> None:
        pass


def test_concurrent_flushes_send_each_task_once(
    fresh_store: Callable[[], RedisHistoryStore],
) -> None:
    """Eight flushes of one outbox at once (the appending writer, other writers, every
    scheduler's sweep do this): every task is sent exactly once, and every one has a
    deadline for the recovery loop."""
    store = fresh_store()
    eid = Held(store, Recorder()).start(json.dumps(MAP), {"items": list(range(MAP_ITEMS))},
                                        machine="flush", name="f1")
    assert len(store.outbox(eid)) == MAP_ITEMS
    recorder = Recorder()
    barrier = threading.Barrier(8)

    def flush() -> None:
        runtime = Runtime(store, recorder)
        barrier.wait()
        runtime.flush(eid)

    threads = [threading.Thread(target=flush) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    tokens = [command.token for _, command in recorder.sent]
    assert len(tokens) == MAP_ITEMS
    assert len(set(tokens)) == MAP_ITEMS
    assert store.outbox(eid) == []
    later = now().replace(year=2100)
    deadlines = [token for owner, token in store.due_deadlines(later, 1000) if owner == eid]
    assert sorted(deadlines) == sorted(tokens)


def test_a_map_iteration_step_reads_and_writes_only_its_frames(
    fresh_store: Callable[[], RedisHistoryStore],
) -> None:
    """The snapshot is split per frame, so one iteration's step costs the same whatever
    the Map's size: it reads the task, the iteration's frame and its ancestors (not the
    other iterations, nor the Map's input), and writes back only what changed. Completing
    every iteration that way (TaskStarted and the outcome in one step, as a worker records
    a quick handler) gives the in-process driver's result and events."""
    recorder = Recorder()
    store = fresh_store()
    runtime = Runtime(store, recorder)
    items = list(range(MAP_ITEMS))
    eid = runtime.start(json.dumps(MAP), {"items": items}, machine="split", name="s1")
    assert len(recorder.sent) == MAP_ITEMS
    frames = [f for f in store.redis.hkeys(store.key(eid, "state")) if f.startswith(b"f:")]
    assert len(frames) == MAP_ITEMS + 1  # the root, and one per iteration

    _, command = recorder.sent[5]
    snapshot = store.load_partial(eid, ["k:" + command.token])
    assert snapshot is not None
    [iteration] = [f[2:] for f in snapshot.fields if f.startswith("f:/")]
    # The iteration's frame with its data, its ancestors' without theirs (the root's "d:"
    # holds the Map state's input, as large as the Map), and the frames' counters.
    assert set(snapshot.fields) == {
        "k:" + command.token, "f:" + iteration, "d:" + iteration, "f:", "c:" + iteration, "c:"}
    # An entry the interpreter asked for (a Map item) is read alone, not taken for a frame.
    [item] = [f.decode() for f in store.redis.hkeys(store.key(eid, "state"))
              if f.startswith(b"i:") and f.endswith(b"|5")]
    more = store.load_more(snapshot, item)
    assert more is not None and set(more.fields) == {*snapshot.fields, item}

    writes: list[set[str]] = []
    append = store.append

    def counting(*args: Any, **kwargs: Any) -> Any:
        base, state = args[1], args[2]
        writes.append({f for f, v in fields_of(state).items() if base.fields.get(f) != v})
        return append(*args, **kwargs)

    store.append = counting  # type: ignore[method-assign]
    for _, sent in recorder.sent:
        started = inputs.TaskStarted(time=now(), token=sent.token)
        done = inputs.TaskSucceeded(time=now(), token=sent.token,
                                    output={"value": sent.payload["value"] * 2})
        assert runtime.task_finished(eid, sent.token, [started, done])
    # Each step but the last (which ends the Map) wrote the root frame's counters ("c:")
    # and that iteration's result, and nothing else: not the root frame ("f:"), the Map's
    # input ("d:") nor its items ("i:"), nor the other results; the iteration's frame and
    # task entry are deleted. So a step costs the same in a Map of 24 items as in one of
    # 24,000.
    run = next(f for f in writes[0] if f.startswith("r:")).rsplit("|", 1)[0]  # "r:|<run>"
    assert writes[:-1] == [
        {"c:", f"{run}|{index}"} for index in range(MAP_ITEMS - 1)]

    result = result_from_store(store, eid)
    assert result.status == "SUCCEEDED"
    assert result.output == [{"value": value * 2} for value in items]
    local = run_local(json.dumps(MAP), {"items": items},
                      handlers={"Double": lambda event, context: {"value": event["value"] * 2}})
    assert Counter(types(result.events)) == Counter(types(local.events))
    # The Map's results and items went with it: only the root frame is left (with the
    # counters of its last Map).
    assert sorted(store.redis.hkeys(store.key(eid, "state"))) == [b"c:", b"d:", b"f:"]


def test_history_timestamps_never_go_backwards(
    fresh_store: Callable[[], RedisHistoryStore],
) -> None:
    """A worker reports an outcome timed when its handler returned (or began), and another
    may have recorded later events meanwhile, or run on a machine whose clock is ahead: the
    events are recorded no earlier than the history's last one, as AWS's histories never go
    backwards."""
    recorder = Recorder()
    runtime = Runtime(fresh_store(), recorder)
    eid = runtime.start(HELLO, {"name": "Ada"}, machine="hello", name="clock")
    [(_, command)] = recorder.sent
    late = now()
    early = datetime(2000, 1, 1, tzinfo=UTC)  # a worker whose clock is far behind
    assert runtime.task_finished(eid, command.token, [
        inputs.TaskStarted(time=early, token=command.token),
        inputs.TaskSucceeded(time=early, token=command.token, output={"message": "Hi"})])
    result = result_from_store(runtime.store, eid)
    stamps = [event.timestamp for event in result.events]
    assert stamps == sorted(stamps)
    assert stamps[-1] >= late.replace(microsecond=0) - timedelta(seconds=5)


def test_the_recovery_sweep_carries_out_every_open_outbox(
    fresh_store: Callable[[], RedisHistoryStore],
) -> None:
    """Writers that died between their append and carrying out its commands leave them in
    the outbox; one recovery pass (it reads every open execution's outbox in one round
    trip) sends each task once and empties them all."""
    store = fresh_store()
    held = Held(store, Recorder())
    eids = [held.start(HELLO, {"name": f"n{n}"}, machine="hello", name=f"held-{n}")
            for n in range(5)]
    assert all(store.outbox(eid) for eid in eids)
    recorder = Recorder()
    Runtime(store, recorder).recover()
    assert sorted(eid for eid, _ in recorder.sent) == sorted(eids)
    assert not any(store.outbox(eid) for eid in eids)
    Runtime(store, recorder).recover()  # nothing left: nothing sent twice
    assert len(recorder.sent) == len(eids)
