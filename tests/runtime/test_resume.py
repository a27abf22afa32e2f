"""A task's first message carries its base (``Appended.bases``), so that its first delivery
can begin without the begin read's round trip (``Runtime.resume_task``, ``workers.tasks``'s
``_begin``).

The base stands for a begin read made right after the append that sent the task: these
tests hold it to exactly what that read returns, for each shape of workflow, and check each
reason a worker must read instead: the execution stopped or a task stopped being awaited
since the message was sent (a stop, an aborted iteration: ``epoch``), the message is old
(its recorded deadline would not cover the handler), it was delivered again, or this
process does not hold the execution's input. The start count stays exact: a first
message's first delivery is not counted, every other delivery is, one more than the count.
"""

from __future__ import annotations

import json
import time
from types import SimpleNamespace
from typing import Any

import pytest

from statemachine.interpreter import inputs
from statemachine.interpreter.commands import RunTask
from statemachine.runtime.engine import CURRENT_SECONDS, FIRST_SENT, RESENT, Runtime
from statemachine.runtime.results import result_from_store
from statemachine.runtime.store import EPOCH, RedisHistoryStore
from tests.runtime.conftest import DOUBLE_MAP, FN, Reads, Recorder, finish_task
from workers.tasks import _begin


def _task(name: str, next_state: str | None = None) -> dict[str, Any]:
    state: dict[str, Any] = {"Type": "Task", "Resource": FN + name}
    state.update({"Next": next_state} if next_state else {"End": True})
    return state


def _map(processor: dict[str, Any], items_path: str = "$.items", **more: Any) -> dict[str, Any]:
    return {"Type": "Map", "ItemsPath": items_path, "MaxConcurrency": 0,
            "ItemProcessor": processor, **more}


ITEMS = {"items": [{"value": 1}, {"value": 2}, {"value": 3}]}
SHAPES: dict[str, tuple[dict[str, Any], Any]] = {
    "chain": ({"StartAt": "P", "States": {
        "P": {"Type": "Pass", "Next": "A"}, "A": _task("Double", "B"), "B": _task("Double")}},
        {"value": 1}),
    "map": (json.loads(DOUBLE_MAP), ITEMS),
    "parallel": ({"StartAt": "Both", "States": {"Both": {"Type": "Parallel", "End": True,
        "Branches": [{"StartAt": "L", "States": {"L": _task("Double")}},
                     {"StartAt": "R", "States": {"R": _task("Double")}}]}}}, {"value": 1}),
    "nested map": ({"StartAt": "Outer", "States": {"Outer": {**_map({
        "StartAt": "Inner", "States": {"Inner": {**_map(
            {"StartAt": "Leaf", "States": {"Leaf": _task("Double")}}, "$.inner"),
            "End": True}}}), "End": True}}},
        {"items": [{"inner": [{"value": 1}, {"value": 2}]}, {"inner": [{"value": 3}]}]}),
    "after a map": ({"StartAt": "Each", "States": {
        "Each": {**_map({"StartAt": "D", "States": {"D": _task("Double")}}), "Next": "Last"},
        "Last": {"Type": "Pass", "Parameters": {"value.$": "$[0].value"}, "Next": "Once"},
        "Once": _task("Double")}}, ITEMS),
}


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


def begin_read(store: RedisHistoryStore, eid: str, token: str) -> list[Any]:
    """The reply of the begin read's script itself (``load_task``), for a reader holding no
    input."""
    reply = store._load_partial(keys=store._partial_keys(eid), args=["chain", "", "k:" + token])
    return [_text(item) for item in reply]


def assert_base_is_the_begin_read(
    store: RedisHistoryStore, eid: str, command: RunTask, note: str
) -> None:
    sent = json.loads(note)
    assert sent["first"] is True
    carried, read = sent["reply"], begin_read(store, eid, command.token)
    assert carried[:5] == read[:5]  # last event id, head, version, status, last time
    assert carried[6] == read[6]  # start date
    # the input, kept apart: the read returns its text, the base the same or "" (the
    # worker holds it); for the tasks the start sends, short inputs are carried
    assert read[5] is not None and carried[5] in ("", read[5])
    as_pairs = lambda items: dict(zip(items[::2], items[1::2], strict=True))  # noqa: E731
    assert as_pairs(carried[7:]) == as_pairs(read[7:])
    assert list(as_pairs(carried[7:])) == list(as_pairs(read[7:]))  # the digest's order
    member = json.dumps([eid, command.token])
    assert sent["deadline"] == store.redis.zscore(store.deadlines_key, member)


@pytest.mark.parametrize("shape", SHAPES)
def test_each_first_message_carries_what_its_begin_read_would_return(
    fresh_store: Any, shape: str
) -> None:
    """Checked right after the step that sent each task (a sibling's outcome changes its
    Map's counters later, which the rebase guard allows for), through the whole
    execution: tasks sent by the start, by an outcome, by a Map's start inside a Map, by
    a Map's end."""
    store = fresh_store()
    recorder = Recorder()
    runtime = Runtime(store, recorder)
    definition, input = SHAPES[shape]
    eid = runtime.start(json.dumps(definition), input, machine="resume", name="shape")
    checked = finished = 0

    def check_the_new() -> None:
        nonlocal checked
        for (_, command), note in list(zip(recorder.sent, recorder.notes, strict=True))[checked:]:
            assert_base_is_the_begin_read(store, eid, command, note)
        checked = len(recorder.sent)

    check_the_new()
    while finished < len(recorder.sent):
        _, command = recorder.sent[finished]
        finished += 1
        assert finish_task(runtime, eid, command, {"value": 0})
        check_the_new()
    assert store.status(eid) == "SUCCEEDED"
    assert checked >= 2


class Started:
    def __init__(self, store: RedisHistoryStore, definition: str, input: Any) -> None:
        self.store = store
        self.recorder = Recorder()
        self.runtime = Runtime(store, self.recorder, grace_seconds=30)
        self.eid = self.runtime.start(definition, input, machine="resume", name="one")
        # a worker that began another task of it holds the execution's input
        store.load_partial(self.eid, ("k:" + self.recorder.sent[0][1].token,))

    def message(self, index: int) -> tuple[RunTask, str]:
        return self.recorder.sent[index][1], self.recorder.notes[index]

    def other_process(self) -> Runtime:
        """A runtime that read nothing yet (another worker process's), on the same store."""
        return Runtime(self.store, Recorder(), grace_seconds=30)


def delivery(redelivered: bool = False) -> Any:
    """What ``_begin`` reads of a Celery task: its delivery info."""
    return SimpleNamespace(request=SimpleNamespace(delivery_info={"redelivered": redelivered}))


def test_the_first_delivery_begins_on_the_base_without_a_read_or_a_count(fresh_store: Any) -> None:
    started = Started(fresh_store(), DOUBLE_MAP, ITEMS)
    command, note = started.message(1)
    store = started.store
    reads = Reads(store, "load_task")
    starts, base = _begin(delivery(), started.runtime, started.eid, command, note)
    assert starts == 1 and base is not None and reads.count == 0
    assert store.redis.hget(store._key(started.eid, "starts"), command.token) is None
    assert base.state.awaits_handler(command.token)


@pytest.mark.parametrize(
    ("note", "redelivered", "starts", "counted"),
    [
        ("base", True, 2, 1),  # Celery gave it back (its worker died): counted, plus the first
        (RESENT, False, 2, 1),  # the recovery loop sent it again
        (FIRST_SENT, False, 1, None),  # a first message without a base (from the outbox)
        (None, False, 1, 1),  # a message from before they said which is the first
    ],
)
def test_every_other_delivery_reads_and_is_counted_one_more_than_the_count(
    fresh_store: Any, note: str | None, redelivered: bool, starts: int, counted: int | None
) -> None:
    """MAX_STARTS counts the handler's begins exactly: the first message's first delivery,
    which may begin without a read, is never counted, so every other is counted and the
    count is one short of the begins (tests/fault's crashing handler checks the total)."""
    started = Started(fresh_store(), DOUBLE_MAP, ITEMS)
    command, base_note = started.message(0)
    sent = base_note if note == "base" else note
    store = started.store
    reads = Reads(store, "load_task")
    got, base = _begin(delivery(redelivered), started.runtime, started.eid, command, sent)
    assert (got, reads.count) == (starts, 1) and base is not None
    count = store.redis.hget(store._key(started.eid, "starts"), command.token)
    assert (int(count) if count is not None else None) == counted


def test_an_uncounted_begin_still_counts_the_begins_before_it(fresh_store: Any) -> None:
    """The recovery loop re-sent a task whose first message was late (its begin counted),
    then the first message is delivered: too old to begin on its base, it reads, is not
    counted itself, and says this is the second begin (MAX_STARTS)."""
    started = Started(fresh_store(), DOUBLE_MAP, ITEMS)
    command, note = started.message(0)
    runtime, eid = started.runtime, started.eid
    # the re-send's begin is counted, and taken as the second (the first message's first
    # delivery, never counted, is taken to have begun)
    assert _begin(delivery(), runtime, eid, command, RESENT)[0] == 2
    old = json.loads(note) | {"deadline": time.time()}
    starts, base = _begin(delivery(), runtime, eid, command, json.dumps(old))
    assert starts == 2 and base is not None  # it is that delivery: 1 counted + itself


def test_a_stopped_executions_queued_message_reads_and_skips_its_handler(
    fresh_store: Any,
) -> None:
    """StopExecution sets the epoch: a message sent before it is no longer current once
    a worker process's view of the epoch is (at most CURRENT_SECONDS old), and the begin
    read then finds the task no longer awaited."""
    started = Started(fresh_store(), DOUBLE_MAP, ITEMS)
    command, note = started.message(2)
    runtime = started.runtime
    assert runtime.resume_task(started.eid, command, json.loads(note)) is not None
    runtime.stop(started.eid)
    aborted = started.store.event_count(started.eid)
    assert started.store.meta(started.eid, EPOCH) == {EPOCH: str(aborted)}
    time.sleep(CURRENT_SECONDS * 1.5)
    assert runtime.resume_task(started.eid, command, json.loads(note)) is None
    assert _begin(delivery(), runtime, started.eid, command, note) == (0, None)


def test_an_aborted_iterations_message_is_not_current(fresh_store: Any) -> None:
    """An iteration fails and its Map, failing, is caught: the other iterations are
    aborted (MapIterationAborted), and their queued messages are no longer current, though
    the execution runs on."""
    definition = {"StartAt": "Each", "States": {
        "Each": {**_map({"StartAt": "D", "States": {"D": _task("Double")}}),
                 "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}], "End": True},
        "Caught": {"Type": "Pass", "Next": "Wait"},
        "Wait": {"Type": "Wait", "Seconds": 600, "End": True}}}
    started = Started(fresh_store(), json.dumps(definition), ITEMS)
    failing, _ = started.message(0)
    command, note = started.message(1)
    assert finish_task(started.runtime, started.eid, failing, error="Boom", cause="no")
    result = result_from_store(started.store, started.eid)
    assert result.status == "RUNNING"
    assert "MapIterationAborted" in [event.type for event in result.events]
    runtime = started.other_process()
    assert runtime.resume_task(started.eid, command, json.loads(note)) is None
    assert _begin(delivery(), runtime, started.eid, command, note) == (0, None)


def test_a_siblings_outcome_leaves_the_message_current_and_the_outcome_is_rebased(
    fresh_store: Any,
) -> None:
    """The common case: other iterations' outcomes change nothing a queued iteration's
    message stands for but the Map's counters; its outcome, decided on the base it carried,
    is appended after theirs."""
    started = Started(fresh_store(), DOUBLE_MAP, ITEMS)
    first, _ = started.message(0)
    assert finish_task(started.runtime, started.eid, first, {"value": 2})
    assert started.store.meta(started.eid, EPOCH) == {}  # an outcome disturbs nothing
    runtime = started.other_process()
    reads = Reads(started.store, "load", "load_partial", "load_task")
    for index in (1, 2):
        command, note = started.message(index)
        starts, base = _begin(delivery(), runtime, started.eid, command, note)
        assert starts == 1 and base is not None
        value = command.payload["value"] * 2
        started_at = runtime.clock.now()
        assert runtime.task_finished(started.eid, command.token, [
            inputs.TaskStarted(time=started_at, token=command.token),
            inputs.TaskSucceeded(time=started_at, token=command.token, output={"value": value}),
        ], base=base)
        if index == 1:  # begun on its base, rebased after the first: no read at all
            assert reads.count == 0
    assert reads.count  # the last ends the Map: decided again, on a fresh read of what it needs
    result = result_from_store(started.store, started.eid)
    assert result.status == "SUCCEEDED"
    assert result.output == [{"value": 2}, {"value": 4}, {"value": 6}]


def test_an_old_message_reads_to_record_a_new_deadline(fresh_store: Any) -> None:
    """The deadline recorded when a task was sent (its time limit plus the grace period)
    must cover the handler from when it begins; once less than half the grace is left of
    it, the begin read records a new one."""
    started = Started(fresh_store(), DOUBLE_MAP, ITEMS)
    command, note = started.message(0)
    sent = json.loads(note)
    runtime = started.runtime
    limit = runtime.clock.now().timestamp() + 60  # Recorder's task_seconds
    assert runtime.resume_task(started.eid, command, {**sent, "deadline": limit + 16}) is not None
    assert runtime.resume_task(started.eid, command, {**sent, "deadline": limit + 14}) is None


def test_a_process_without_a_long_input_reads(fresh_store: Any) -> None:
    """A base leaves a long execution input out; a worker process that does not hold it yet
    reads, and the begin read hands it over for the next."""
    started = Started(fresh_store(), DOUBLE_MAP, {**ITEMS, "padding": "x" * 5000})
    command, note = started.message(0)
    assert json.loads(note)["reply"][5] == ""
    elsewhere = RedisHistoryStore(started.store.redis, prefix=started.store.prefix)
    runtime = Runtime(elsewhere, Recorder(), grace_seconds=30)
    assert runtime.resume_task(started.eid, command, json.loads(note)) is None
    starts, base = _begin(delivery(), runtime, started.eid, command, note)
    assert starts == 1 and base is not None
    following, following_note = started.message(1)
    assert runtime.resume_task(started.eid, following, json.loads(following_note)) is not None


def test_the_tasks_a_start_sends_carry_a_short_input(fresh_store: Any) -> None:
    """No worker has read a new execution: the tasks its start sends carry its input when
    it is short, so even the first begins without a read."""
    started = Started(fresh_store(), DOUBLE_MAP, ITEMS)
    command, note = started.message(0)
    assert json.loads(json.loads(note)["reply"][5]) == ITEMS
    elsewhere = RedisHistoryStore(started.store.redis, prefix=started.store.prefix)
    runtime = Runtime(elsewhere, Recorder(), grace_seconds=30)
    base = runtime.resume_task(started.eid, command, json.loads(note))
    assert base is not None and base.state.input == ITEMS


def test_a_begun_tasks_start_shows_though_it_was_not_counted(fresh_store: Any) -> None:
    """``unstarted_tasks`` (``sfn run``'s "no worker has begun" hint) takes a task as begun
    when it is counted or its TaskStarted is recorded (a slow handler's, after
    START_RECORD_SECONDS): a first delivery begins uncounted."""
    started = Started(fresh_store(), DOUBLE_MAP, ITEMS)
    store, runtime, eid = started.store, started.runtime, started.eid
    assert store.unstarted_tasks(eid) == 3
    command, note = started.message(0)
    assert _begin(delivery(), runtime, eid, command, note)[0] == 1  # uncounted
    runtime.apply(eid, inputs.TaskStarted(time=runtime.clock.now(), token=command.token))
    assert store.unstarted_tasks(eid) == 2
    counted, _ = started.message(1)
    assert _begin(delivery(), runtime, eid, counted, RESENT)[0] == 2
    assert store.unstarted_tasks(eid) == 1


def test_a_callback_answer_disturbs_no_other_task(fresh_store: Any) -> None:
    """SendTaskSuccess ends its own task (its ``k:`` field goes) and no other: the epoch
    stays, and a sibling branch's queued message stays current."""
    callback = {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                "Parameters": {"FunctionName": FN + "Double",
                               "Payload": {"value": 1, "token.$": "$$.Task.Token"}},
                "End": True}
    definition = {"StartAt": "Both", "States": {"Both": {"Type": "Parallel", "End": True,
        "Branches": [{"StartAt": "Ask", "States": {"Ask": callback}},
                     {"StartAt": "Plain", "States": {"Plain": _task("Double")}}]}}}
    started = Started(fresh_store(), json.dumps(definition), {"value": 1})
    asked = next(c for _, c in started.recorder.sent if c.resource.endswith("TaskToken"))
    index = next(i for i, (_, c) in enumerate(started.recorder.sent) if c is not asked)
    plain, note = started.message(index)
    assert finish_task(started.runtime, started.eid, asked, {"submitted": True})
    started.runtime.send_task_success(asked.token, {"answer": 42})
    assert started.store.meta(started.eid, EPOCH) == {}
    assert started.other_process().resume_task(started.eid, plain, json.loads(note)) is not None


def test_a_broker_that_does_not_flag_redeliveries_counts_every_begin(fresh_store: Any) -> None:
    """Only kombu's Redis transport and AMQP mark a message given back as redelivered; with
    another broker a later delivery would pass for the first, uncounted forever, so every
    begin reads and counts (the old way)."""
    started = Started(fresh_store(), DOUBLE_MAP, ITEMS)
    command, note = started.message(0)
    for expected in (1, 2):
        starts, base = _begin(delivery(), started.runtime, started.eid, command, note,
                              flags_redelivery=False)
        assert starts == expected and base is not None


def test_a_first_message_delivered_twice_unflagged_has_its_outcome_recorded_once(
    fresh_store: Any,
) -> None:
    """A broker that delivers a first message twice without flagging the second (a publish
    retried after a lost reply) gets the handler run twice, at least once as Lambda's are;
    the second outcome, decided on the same stale base, meets a history that moved on and
    a task no longer awaited: it is read again and recorded nowhere."""
    started = Started(fresh_store(), DOUBLE_MAP, ITEMS)
    runtime, eid = started.runtime, started.eid
    command, note = started.message(0)
    outcomes = []
    for _ in range(2):
        starts, base = _begin(delivery(), runtime, eid, command, note)
        assert starts == 1 and base is not None
        at = runtime.clock.now()
        outcomes.append(runtime.task_finished(eid, command.token, [
            inputs.TaskStarted(time=at, token=command.token),
            inputs.TaskSucceeded(time=at, token=command.token, output={"value": 2}),
        ], base=base))
    assert outcomes == [True, False]
    events = result_from_store(started.store, eid).events
    assert [e.type for e in events].count("LambdaFunctionSucceeded") == 1
