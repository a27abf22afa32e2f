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
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any, NamedTuple

import pytest

from statemachine.interpreter import inputs
from statemachine.interpreter.commands import RunTask
from statemachine.interpreter.context import context_time
from statemachine.interpreter.events import HistoryEvent
from statemachine.local import run_local
from statemachine.runtime import store as store_module
from statemachine.runtime.engine import Runtime
from statemachine.runtime.results import result_from_store
from statemachine.runtime.store import RedisHistoryStore, Snapshot
from tests.runtime.conftest import DOUBLE_MAP, FN, Ops, Reads, Recorder

pytestmark = pytest.mark.timeout(60)

def map_of(tolerated: int | None = None) -> str:
    definition = json.loads(DOUBLE_MAP)
    if tolerated is not None:
        definition["States"]["Each"]["ToleratedFailureCount"] = tolerated
    return json.dumps(definition)


def double(event: Any, context: Any = None) -> Any:
    return event * 2


class Begun(NamedTuple):
    store: RedisHistoryStore
    runtime: Runtime
    eid: str
    commands: list[RunTask]
    bases: list[Snapshot]


def begin_map(store: RedisHistoryStore, definition: str, items: list[Any], name: str) -> Begun:
    """An execution of ``definition`` over ``items`` whose tasks have all begun (each
    with its begin read, the base its outcome is decided on) and none has finished."""
    recorder = Recorder()
    runtime = Runtime(store, recorder)
    eid = runtime.start(definition, {"items": items}, machine="rebase", name=name)
    commands = [command for _, command in recorder.sent]
    return Begun(store, runtime, eid, commands, begin_all(runtime, eid, commands))


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
    items = list(range(20))
    store, runtime, eid, commands, bases = begin_map(fresh_store(), map_of(), items, "order")
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
    items = list(range(8))
    store, runtime, eid, commands, bases = begin_map(fresh_store(), map_of(), items, "reverse")
    for command, base in reversed(list(zip(commands, bases, strict=True))):
        assert succeed(runtime, eid, command, base)

    result = result_from_store(store, eid)
    assert result.status == "SUCCEEDED"
    assert result.output == [n * 2 for n in items]
    events = result.events
    assert_well_formed(events)
    assert_iterations_chained(events)
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
    store, runtime, eid, commands, bases = begin_map(
        fresh_store(), map_of(), [1, 2, 3], "twice"
    )
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
    store, runtime, eid, commands, bases = begin_map(
        fresh_store(), map_of(), [1, 2, 3], "failed"
    )
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
    store, runtime, eid, commands, bases = begin_map(
        fresh_store(), map_of(), [1, 2, 3], "stopped"
    )
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
    store, runtime, eid, commands, bases = begin_map(
        fresh_store(), map_of(tolerated=1), [1, 2, 3], "tolerated"
    )
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
    store, runtime, eid, commands, bases = begin_map(
        fresh_store(), map_of(), [1, 2, 3], "times"
    )
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
    store, runtime, eid, commands, bases = begin_map(
        fresh_store(), map_of(), [1, 2, 3], "limit"
    )
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


def test_an_outcome_whose_own_iteration_moved_on_since_its_read_is_decided_again(
    fresh_store: Callable[[], RedisHistoryStore],
) -> None:
    """A slow handler's TaskStarted is recorded on its own while the handler runs
    (workers/tasks.py), and its outcome, TaskStarted again then the success, is still
    decided on the begin read: the iteration's own frame changed since that read (it has
    started), so the outcome is not appended on it, a sibling's outcome in between or not,
    but decided again on a fresh read, and the history records each task's start once."""
    store, runtime, eid, commands, bases = begin_map(
        fresh_store(), map_of(), [1, 2, 3], "slow"
    )
    at = runtime.clock.now()
    assert runtime.apply(eid, inputs.TaskStarted(time=at, token=commands[0].token))
    assert succeed(runtime, eid, commands[1], bases[1])
    reads = Reads(store)
    assert succeed(runtime, eid, commands[0], bases[0], at=at)
    assert reads.count > 0
    assert succeed(runtime, eid, commands[2], bases[2])

    result = result_from_store(store, eid)
    assert result.status == "SUCCEEDED"
    assert result.output == [2, 4, 6]
    assert_well_formed(result.events)
    types = [event.type for event in result.events]
    assert types.count("LambdaFunctionStarted") == 3
    assert types.count("LambdaFunctionSucceeded") == 3


def test_branches_of_a_parallel_after_a_caught_map_are_decided_again(
    fresh_store: Callable[[], RedisHistoryStore],
) -> None:
    """Only a Map iteration's outcome is appended on a stale read. A Parallel branch's
    changes its frame's counters by one more finished (not also one fewer running), and
    the frame may still hold the item count of a Map state it ran before (here five items,
    a Map that failed and was caught), which is no bound for the Parallel's three
    branches: each branch's outcome on its begin read is decided again, and the last one
    ends the Parallel and the execution."""

    def task(name: str, path: str = "$") -> dict[str, Any]:
        state = {"Type": "Task", "Resource": FN + "Double", "InputPath": path, "End": True}
        return {"StartAt": name, "States": {name: state}}

    definition = json.dumps({"StartAt": "Each", "States": {
        "Each": {
            "Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 0,
            "ItemProcessor": task("Double"),
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": None, "Next": "Both"}],
            "Next": "Both",
        },
        "Both": {
            "Type": "Parallel",
            "Branches": [task(f"Branch{n}", f"$.items[{n}]") for n in range(3)],
            "End": True,
        },
    }})
    store = fresh_store()
    recorder = Recorder()
    runtime = Runtime(store, recorder)
    eid = runtime.start(definition, {"items": [1, 2, 3, 4, 5]}, machine="rebase",
                        name="parallel")
    first = recorder.sent[0][1]
    at = runtime.clock.now()
    assert runtime.task_finished(
        eid, first.token,
        [inputs.TaskStarted(time=at, token=first.token),
         inputs.TaskFailed(time=at, token=first.token, error="Boom", cause="no")],
    )
    branches = [command for _, command in recorder.sent[5:]]
    assert len(branches) == 3
    bases = begin_all(runtime, eid, branches)
    reads = Reads(store)
    for command, base in zip(branches, bases, strict=True):
        assert succeed(runtime, eid, command, base)
    assert reads.count >= 2  # the second and third branches read again

    result = result_from_store(store, eid)
    assert result.status == "SUCCEEDED"
    assert result.output == [2, 4, 6]
    assert_well_formed(result.events)


def test_a_rebased_step_returns_its_events_as_they_were_appended(
    fresh_store: Callable[[], RedisHistoryStore],
) -> None:
    """The events a step returns carry the ids they were appended with: an outcome
    appended after a sibling's, on its begin read, comes back renumbered and retimed as it
    is in the history (its previousEventIds into its own batch moved with it), and the state
    it returns is at the history's last event id (``RedisHistoryStore.append``)."""
    store, runtime, eid, commands, bases = begin_map(
        fresh_store(), map_of(), [1, 2, 3], "returned"
    )
    assert succeed(runtime, eid, commands[1], bases[1])
    reads = Reads(store)
    at = runtime.clock.now() - timedelta(seconds=5)  # before the sibling's: retimed
    token = commands[0].token
    decision = runtime.step(
        eid,
        [inputs.TaskStarted(time=at, token=token),
         inputs.TaskSucceeded(time=at, token=token, output=2)],
        base=bases[0],
        finished=token,
    )
    assert reads.count == 0  # appended on the begin read, after the sibling's events
    assert decision is not None and decision.events

    stored = store.events(eid)
    assert_well_formed(stored)
    assert decision.events == stored[-len(decision.events):]
    assert decision.events[0].id > bases[0].last_event_id + 1  # moved past the sibling's
    assert decision.state.last_event_id == stored[-1].id
    assert store.meta(eid, "last_event_id") == {"last_event_id": str(stored[-1].id)}


def test_iterations_drawing_random_values_are_decided_again(
    fresh_store: Callable[[], RedisHistoryStore],
) -> None:
    """States.UUID() draws from a generator seeded by the execution and its position in
    the history, so a replay draws the same; decisions made on the same read would draw
    the same values. An outcome that drew is decided again on a fresh read instead of
    being appended on its begin read: every iteration gets an identifier of its own."""
    definition = json.loads(map_of())
    task = definition["States"]["Each"]["ItemProcessor"]["States"]["Double"]
    task["ResultSelector"] = {"value.$": "$", "id.$": "States.UUID()"}
    store, runtime, eid, commands, bases = begin_map(
        fresh_store(), json.dumps(definition), [1, 2, 3, 4], "uuids"
    )
    reads = Reads(store)
    for command, base in zip(commands, bases, strict=True):
        assert succeed(runtime, eid, command, base)
    assert reads.count >= len(commands) - 1  # all but the first read again
    result = result_from_store(store, eid)
    assert result.status == "SUCCEEDED"
    assert [item["value"] for item in result.output] == [2, 4, 6, 8]
    assert len({item["id"] for item in result.output}) == 4
    assert_well_formed(result.events)


def test_a_caught_failure_names_its_own_iterations_event(
    fresh_store: Callable[[], RedisHistoryStore],
) -> None:
    """An outcome that enters another state of its iteration, which fails and is caught:
    T2's Arguments fail to evaluate, and the cause of States.Runtime names the event id T2
    was entered at (caught, it ends up in the iteration's output). Text holds no ids a
    rebase could move: such an outcome is decided again on a fresh read (a failure draws,
    for a retry's jitter), so every cause names its own iteration's TaskStateEntered."""
    definition = json.dumps({"QueryLanguage": "JSONata", "StartAt": "Each", "States": {"Each": {
        "Type": "Map", "Items": "{% $states.input.items %}",
        "ItemProcessor": {"StartAt": "T1", "States": {
            "T1": {"Type": "Task", "Resource": FN + "Double", "Next": "T2"},
            "T2": {"Type": "Task", "Resource": FN + "Double",
                   "Arguments": "{% $number('abc') %}",
                   "Catch": [{"ErrorEquals": ["States.ALL"],
                              "Output": {"err": "{% $states.errorOutput %}"}, "Next": "Done"}],
                   "Next": "Done"},
            "Done": {"Type": "Pass", "End": True}}},
        "End": True}}})
    store, runtime, eid, commands, bases = begin_map(
        fresh_store(), definition, [1, 2, 3], "entered"
    )
    for command, base in zip(commands, bases, strict=True):
        assert succeed(runtime, eid, command, base)
    result = result_from_store(store, eid)
    assert result.status == "SUCCEEDED"
    assert_well_formed(result.events)
    by_id = {event.id: event for event in result.events}
    named = [int(re.search(r"event id #(\d+)", item["err"]["Cause"]).group(1))  # type: ignore[union-attr]
             for item in result.output]
    assert len(set(named)) == 3
    for number in named:
        entered = by_id[number]
        assert entered.type == "TaskStateEntered" and entered.details == {
            **(entered.details or {}), "name": "T2"}


def test_an_iteration_entering_a_state_is_decided_again(
    fresh_store: Callable[[], RedisHistoryStore],
) -> None:
    """An outcome that enters another state computes with its own time: here a Pass after
    the Task outputs $$.State.EnteredTime. Timed before a sibling's outcome that was
    appended first, it is not appended on its read with its timestamps moved past the
    sibling's (the entered time in its output would stay behind) but decided again on a
    fresh read: the output's entered time is its PassStateEntered event's timestamp."""
    definition = json.loads(map_of())
    processor = definition["States"]["Each"]["ItemProcessor"]
    processor["States"]["Double"] = {"Type": "Task", "Resource": FN + "Double", "Next": "Stamp"}
    processor["States"]["Stamp"] = {
        "Type": "Pass", "Parameters": {"entered.$": "$$.State.EnteredTime"}, "End": True}
    store, runtime, eid, commands, bases = begin_map(
        fresh_store(), json.dumps(definition), [1, 2, 3], "stamped"
    )
    early = runtime.clock.now()
    assert succeed(runtime, eid, commands[1], bases[1], at=early + timedelta(seconds=5))
    assert succeed(runtime, eid, commands[0], bases[0], at=early)
    assert succeed(runtime, eid, commands[2], bases[2], at=early + timedelta(seconds=6))
    result = result_from_store(store, eid)
    assert result.status == "SUCCEEDED"
    assert_well_formed(result.events)
    entered = [event for event in result.events if event.type == "PassStateEntered"]
    assert {item["entered"] for item in result.output} == {
        context_time(event.timestamp) for event in entered}  # the context's milliseconds


@pytest.mark.timeout(180)
def test_concurrent_maps_on_four_worker_processes_keep_well_formed_histories(ops: Ops) -> None:
    """Real workers (four processes) finishing three Maps' iterations at once, most of
    them appended after siblings' on their begin reads: every history is well formed,
    records each iteration once, and gives each item's output in its place."""
    definition = json.dumps({"StartAt": "Each", "States": {"Each": {
        "Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 0,
        "ItemSelector": {"item.$": "$$.Map.Item.Value"},
        "ItemProcessor": {"StartAt": "Quick", "States": {
            "Quick": {"Type": "Task", "Resource": FN + "Quick", "End": True}}},
        "End": True}}})
    count = 60
    eids = [ops.start(definition, {"items": list(range(count))}, machine="rebase-live")
            for _ in range(3)]
    for eid in eids:
        result = ops.wait(eid, timeout=150)
        assert result.status == "SUCCEEDED"
        assert result.output == [{"item": n} for n in range(count)]
        assert_well_formed(result.events)
        types = [event.type for event in result.events]
        assert types.count("LambdaFunctionSucceeded") == count
        assert types.count("MapIterationSucceeded") == count
        assert_iterations_chained(result.events)


def assert_iterations_chained(events: list[HistoryEvent]) -> None:
    """Each iteration's events link back, by previousEventId, to its own
    MapIterationStarted (a rebase that left a reference unshifted would point into a
    sibling's events, of the same types)."""
    by_id = {event.id: event for event in events}
    chain = ["TaskStateExited", "LambdaFunctionSucceeded", "LambdaFunctionStarted",
             "LambdaFunctionScheduled", "TaskStateEntered", "MapIterationStarted"]
    for event in events:
        if event.type == "MapIterationSucceeded":
            step = event
            for expected in chain:
                step = by_id[step.previous_event_id]
                assert step.type == expected
            assert step.details == event.details  # {"index": i, "name": ...}
