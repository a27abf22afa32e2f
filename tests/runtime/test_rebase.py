"""Map iterations' outcomes decided on reads their siblings made stale (store._rebasing).

A worker decides its task's outcome on the read it made when the task began. In a Map,
siblings' outcomes are appended meanwhile; an outcome that only ends its own iteration
(and is not the Map's last) is still appended on that read: its events get the next ids,
their references move with them, their timestamps are no earlier than the siblings', and
the Map frame's counters change by one. Anything else is decided again on a fresh read.

Whatever the order, the history must be one AWS could give: ids numbered sequentially from
one, each previousEventId an earlier event, timestamps in order (HistoryEvent,
https://docs.aws.amazon.com/step-functions/latest/apireference/API_HistoryEvent.html:
"id: The id of the event. Events are numbered sequentially, starting at one.").
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from statemachine.interpreter import inputs
from statemachine.interpreter.commands import RunTask
from statemachine.interpreter.events import HistoryEvent
from statemachine.local import run_local
from statemachine.runtime import store as store_module
from statemachine.runtime.engine import Runtime
from statemachine.runtime.results import result_from_store
from statemachine.runtime.store import RedisHistoryStore, Snapshot
from tests.runtime.conftest import Recorder

pytestmark = pytest.mark.timeout(60)

FN = "arn:aws:lambda:us-east-1:123456789012:function:"


def map_of(tolerated: int | None = None) -> str:
    state: dict[str, Any] = {
        "Type": "Map",
        "ItemsPath": "$.items",
        "MaxConcurrency": 0,
        "ItemProcessor": {
            "StartAt": "Double",
            "States": {"Double": {"Type": "Task", "Resource": FN + "Double", "End": True}},
        },
        "End": True,
    }
    if tolerated is not None:
        state["ToleratedFailureCount"] = tolerated
    return json.dumps({"StartAt": "Each", "States": {"Each": state}})


def double(event: Any, context: Any = None) -> Any:
    return event * 2


class Reads:
    """Counts the store's fresh reads (a step's own, not a task's begin read)."""

    def __init__(self, store: RedisHistoryStore) -> None:
        self.count = 0
        for name in ("load", "load_partial"):
            real = getattr(store, name)

            def spied(*args: Any, _real: Any = real, **kwargs: Any) -> Snapshot | None:
                self.count += 1
                return _real(*args, **kwargs)

            setattr(store, name, spied)


def begin_all(runtime: Runtime, eid: str, commands: list[RunTask]) -> list[Snapshot]:
    bases = []
    for command in commands:
        starts, base = runtime.begin_task(eid, command)
        assert starts == 1 and base is not None
        bases.append(base)
    return bases


def succeed(
    runtime: Runtime, eid: str, command: RunTask, base: Snapshot | None, at: Any = None
) -> bool:
    at = at or runtime.clock.now()
    return runtime.task_finished(
        eid,
        command.token,
        [inputs.TaskStarted(time=at, token=command.token),
         inputs.TaskSucceeded(time=at, token=command.token, output=double(command.payload))],
        base=base,
    )


def assert_well_formed(events: list[HistoryEvent]) -> None:
    assert [event.id for event in events] == list(range(1, len(events) + 1))
    assert all(0 <= event.previous_event_id < event.id for event in events)
    stamps = [event.timestamp for event in events]
    assert stamps == sorted(stamps)


def test_outcomes_decided_on_one_read_are_appended_without_reading_again(
    fresh_store: Callable[[], RedisHistoryStore],
) -> None:
    """Twenty iterations begin (each reads the execution), then finish in order, each
    decided on its own begin read: every one but the last is appended on it (no read
    again); the last ends the Map and is decided again on fresh reads. The history is the
    in-process driver's, event for event (types and previousEventIds)."""
    store = fresh_store()
    recorder = Recorder()
    runtime = Runtime(store, recorder)
    items = list(range(20))
    eid = runtime.start(map_of(), {"items": items}, machine="rebase", name="order")
    commands = [command for _, command in recorder.sent]
    bases = begin_all(runtime, eid, commands)
    reads = Reads(store)
    for command, base in zip(commands[:-1], bases[:-1], strict=True):
        assert succeed(runtime, eid, command, base)
    assert reads.count == 0
    assert succeed(runtime, eid, commands[-1], bases[-1])
    assert reads.count > 0

    result = result_from_store(store, eid)
    local = run_local(map_of(), {"items": items}, handlers={"Double": double})
    assert result.status == local.status == "SUCCEEDED"
    assert result.output == local.output == [n * 2 for n in items]
    assert_well_formed(result.events)
    assert [(e.type, e.previous_event_id) for e in result.events] == [
        (e.type, e.previous_event_id) for e in local.events
    ]
    state = store.redis.hgetall(store.key(eid, "state"))
    assert not any(field.startswith(b"c:/") for field in state)  # no iteration's counters
    assert state[b"c:"] == b"0,20,0"  # the Map frame's: none running, all 20 finished


def test_outcomes_in_another_order_than_they_began(
    fresh_store: Callable[[], RedisHistoryStore],
) -> None:
    """Iterations finishing in reverse order, on their begin reads: each outcome's events
    come after the ones appended before it, its previousEventIds point into its own
    iteration (its TaskScheduled, then its own new events), and the Map's output keeps the
    items' order."""
    store = fresh_store()
    recorder = Recorder()
    runtime = Runtime(store, recorder)
    items = list(range(8))
    eid = runtime.start(map_of(), {"items": items}, machine="rebase", name="reverse")
    commands = [command for _, command in recorder.sent]
    bases = begin_all(runtime, eid, commands)
    for command, base in reversed(list(zip(commands, bases, strict=True))):
        assert succeed(runtime, eid, command, base)

    result = result_from_store(store, eid)
    assert result.status == "SUCCEEDED"
    assert result.output == [n * 2 for n in items]
    events = result.events
    assert_well_formed(events)
    by_id = {event.id: event for event in events}
    for event in events:
        if event.type == "LambdaFunctionStarted":
            assert by_id[event.previous_event_id].type == "LambdaFunctionScheduled"
        if event.type == "LambdaFunctionSucceeded":
            assert by_id[event.previous_event_id].type == "LambdaFunctionStarted"
            assert event.previous_event_id == event.id - 1
        if event.type == "MapIterationSucceeded":
            assert by_id[event.previous_event_id].type == "TaskStateExited"
    exits = [e.details for e in events if e.type == "MapIterationSucceeded"]
    assert [d["index"] for d in exits if d] == list(reversed(items))


def test_a_duplicate_outcome_on_a_stale_read_is_recorded_once(
    fresh_store: Callable[[], RedisHistoryStore],
) -> None:
    """The same outcome reported twice on the same begin read, siblings' in between: the
    second finds its task no longer awaited and records nothing."""
    store = fresh_store()
    recorder = Recorder()
    runtime = Runtime(store, recorder)
    eid = runtime.start(map_of(), {"items": [1, 2, 3]}, machine="rebase", name="twice")
    commands = [command for _, command in recorder.sent]
    bases = begin_all(runtime, eid, commands)
    assert succeed(runtime, eid, commands[0], bases[0])
    assert succeed(runtime, eid, commands[1], bases[1])
    count = store.event_count(eid)
    assert not succeed(runtime, eid, commands[0], bases[0])
    assert store.event_count(eid) == count
    assert succeed(runtime, eid, commands[2], bases[2])
    result = result_from_store(store, eid)
    assert result.output == [2, 4, 6]
    assert [e.type for e in result.events].count("LambdaFunctionSucceeded") == 3


def test_no_outcome_is_appended_after_the_map_failed(
    fresh_store: Callable[[], RedisHistoryStore],
) -> None:
    """One iteration fails (no tolerance: the Map and the execution fail, the others are
    aborted); a sibling's success decided on its earlier read is not appended."""
    store = fresh_store()
    recorder = Recorder()
    runtime = Runtime(store, recorder)
    eid = runtime.start(map_of(), {"items": [1, 2, 3]}, machine="rebase", name="failed")
    commands = [command for _, command in recorder.sent]
    bases = begin_all(runtime, eid, commands)
    assert succeed(runtime, eid, commands[0], bases[0])
    at = runtime.clock.now()
    assert runtime.task_finished(
        eid, commands[1].token,
        [inputs.TaskStarted(time=at, token=commands[1].token),
         inputs.TaskFailed(time=at, token=commands[1].token, error="Boom", cause="no")],
        base=bases[1],
    )
    count = store.event_count(eid)
    assert not succeed(runtime, eid, commands[2], bases[2])
    assert store.event_count(eid) == count
    result = result_from_store(store, eid)
    assert result.status == "FAILED" and result.error == "Boom"
    assert_well_formed(result.events)


def test_no_outcome_is_appended_after_the_execution_stopped(
    fresh_store: Callable[[], RedisHistoryStore],
) -> None:
    store = fresh_store()
    recorder = Recorder()
    runtime = Runtime(store, recorder)
    eid = runtime.start(map_of(), {"items": [1, 2, 3]}, machine="rebase", name="stopped")
    commands = [command for _, command in recorder.sent]
    bases = begin_all(runtime, eid, commands)
    assert succeed(runtime, eid, commands[0], bases[0])
    runtime.stop(eid)
    count = store.event_count(eid)
    assert not succeed(runtime, eid, commands[1], bases[1])
    assert store.event_count(eid) == count
    assert store.status(eid) == "ABORTED"


def test_a_tolerated_failure_is_decided_again_on_a_fresh_read(
    fresh_store: Callable[[], RedisHistoryStore],
) -> None:
    """A failure changes the Map's failed count and may cross its threshold: it is not
    appended on a stale read but decided again; within ToleratedFailureCount the Map
    carries on and succeeds with the failure's error output in its place."""
    store = fresh_store()
    recorder = Recorder()
    runtime = Runtime(store, recorder)
    eid = runtime.start(map_of(tolerated=1), {"items": [1, 2, 3]}, machine="rebase",
                        name="tolerated")
    commands = [command for _, command in recorder.sent]
    bases = begin_all(runtime, eid, commands)
    assert succeed(runtime, eid, commands[0], bases[0])
    reads = Reads(store)
    at = runtime.clock.now()
    assert runtime.task_finished(
        eid, commands[1].token,
        [inputs.TaskStarted(time=at, token=commands[1].token),
         inputs.TaskFailed(time=at, token=commands[1].token, error="Boom", cause="no")],
        base=bases[1],
    )
    assert reads.count == 1
    assert succeed(runtime, eid, commands[2], bases[2])
    result = result_from_store(store, eid)
    assert result.status == "SUCCEEDED"
    assert result.output[0] == 2 and result.output[2] == 6
    assert result.output[1] == {"Error": "Boom", "Cause": "no"}
    assert_well_formed(result.events)


def test_timestamps_of_a_rebased_outcome_are_no_earlier_than_its_siblings(
    fresh_store: Callable[[], RedisHistoryStore],
) -> None:
    """An outcome timed before a sibling's that was appended first gets the sibling's
    time: a history's timestamps never go backwards."""
    store = fresh_store()
    recorder = Recorder()
    runtime = Runtime(store, recorder)
    eid = runtime.start(map_of(), {"items": [1, 2, 3]}, machine="rebase", name="times")
    commands = [command for _, command in recorder.sent]
    bases = begin_all(runtime, eid, commands)
    early = runtime.clock.now()
    late = early + timedelta(seconds=5)
    assert succeed(runtime, eid, commands[1], bases[1], at=late)
    assert succeed(runtime, eid, commands[0], bases[0], at=early)
    events = store.events(eid)
    assert_well_formed(events)
    assert events[-1].timestamp == late
    assert store.meta(eid, "last_time") == {"last_time": late.isoformat(timespec="microseconds")}


def test_an_outcome_that_would_pass_the_history_limit_is_decided_again(
    fresh_store: Callable[[], RedisHistoryStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rebased ids must stay within the history's limit (25,000 events, which the
    interpreter enforces); when they would not, the outcome is decided again on a fresh
    read (here the limit the script checks is lowered to what the history already
    holds)."""
    store = fresh_store()
    recorder = Recorder()
    runtime = Runtime(store, recorder)
    eid = runtime.start(map_of(), {"items": [1, 2, 3]}, machine="rebase", name="limit")
    commands = [command for _, command in recorder.sent]
    bases = begin_all(runtime, eid, commands)
    assert succeed(runtime, eid, commands[0], bases[0])
    monkeypatch.setattr(store_module, "MAX_HISTORY_EVENTS", store.event_count(eid) + 1)
    reads = Reads(store)
    assert succeed(runtime, eid, commands[1], bases[1])
    assert reads.count == 1
    monkeypatch.undo()
    assert succeed(runtime, eid, commands[2], bases[2])
    result = result_from_store(store, eid)
    assert result.output == [2, 4, 6]
    assert_well_formed(result.events)
