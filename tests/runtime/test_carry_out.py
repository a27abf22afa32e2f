"""An append carries out its own commands on one Redis; a top-level task's begin read is
the base its outcome is decided on (commit e57ed5e).

On a single Redis (``store.carries``) the append script records each RunTask in the
execution's ``tasks`` hash with its deadline in the global deadlines set, sets or cancels
timers, and forgets the task whose outcome it records, all in the same atomic step as the
events: the outbox stays empty and the writer only sends the tasks afterwards. On a Redis
Cluster the commands wait in the outbox for ``Runtime.carry_out``, as before.
``Runtime.begin_task`` returns the snapshot it read for a task of the top-level machine,
and ``task_finished(..., base=...)`` decides on it; a base gone stale must never decide.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from statemachine.interpreter import inputs
from statemachine.interpreter.commands import Command, RunTask
from statemachine.runtime.clock import FakeClock
from statemachine.runtime.engine import Runtime
from statemachine.runtime.logs import LogEvent
from statemachine.runtime.results import result_from_store
from statemachine.runtime.store import COUNTERS, RedisHistoryStore
from tests.runtime.conftest import DOUBLE_MAP, Recorder, finish_task

pytestmark = pytest.mark.timeout(60)

FN = "arn:aws:lambda:us-east-1:123456789012:function:"
T0 = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
FAR = datetime(2100, 1, 1, tzinfo=UTC)
GRACE = 7  # seconds; Recorder.task_seconds is 60

ONE_TASK = json.dumps(
    {
        "StartAt": "Greet",
        "States": {"Greet": {"Type": "Task", "Resource": FN + "Hello", "End": True}},
    }
)
TWO_TASKS = json.dumps(
    {
        "StartAt": "First",
        "States": {
            "First": {
                "Type": "Task",
                "Resource": FN + "Hello",
                "TimeoutSeconds": 300,
                "Next": "Second",
            },
            "Second": {"Type": "Task", "Resource": FN + "Hello", "End": True},
        },
    }
)
# A task whose outcome decide takes on the begin read alone (no TimeoutSeconds timer to
# read, and the execution does not end): the base is what the outcome is decided on.
TASK_THEN_TASK = json.dumps(
    {
        "StartAt": "First",
        "States": {
            "First": {"Type": "Task", "Resource": FN + "Hello", "Next": "Second"},
            "Second": {"Type": "Task", "Resource": FN + "Hello", "End": True},
        },
    }
)
WAIT_THEN_TASK = json.dumps(
    {
        "StartAt": "Pause",
        "States": {
            "Pause": {"Type": "Wait", "Seconds": 600, "Next": "Greet"},
            "Greet": {"Type": "Task", "Resource": FN + "Hello", "End": True},
        },
    }
)
MAP = DOUBLE_MAP
SUCCEEDED_TYPES = {"TaskSucceeded", "LambdaFunctionSucceeded"}


class Spy(Runtime):
    """A Runtime that notes every ``carry_out`` call with the outbox as it was then."""

    def __init__(self, store: RedisHistoryStore, dispatcher: Any, **kwargs: Any) -> None:
        super().__init__(store, dispatcher, **kwargs)
        self.carried: list[tuple[list[Command], list[Command], str | None]] = []

    def carry_out(
        self,
        eid: str,
        commands: Sequence[Command],
        finished: str | None = None,
        logs: Sequence[LogEvent] = (),
    ) -> None:
        self.carried.append((list(commands), self.store.outbox(eid), finished))
        super().carry_out(eid, commands, finished=finished, logs=logs)


class Unreachable(Recorder):
    """A dispatcher whose broker is down: the writer dies after its append, before sending."""

    def run_task(self, eid: str, command: RunTask, sent: str = "") -> None:
        raise ConnectionError("broker unreachable")


def epoch(moment: datetime) -> float:
    return moment.timestamp()


def deadline_tokens(store: RedisHistoryStore, eid: str) -> list[str]:
    return [token for owner, token in store.due_deadlines(FAR, 1000) if owner == eid]


def deadline_of(store: RedisHistoryStore, eid: str, token: str) -> float | None:
    score = store.redis.zscore(store.deadlines_key, json.dumps([eid, token]))
    return None if score is None else float(score)


def types(store: RedisHistoryStore, eid: str) -> list[str]:
    return [event.type for event in store.events(eid)]


def drive(runtime: Runtime, recorder: Recorder, eid: str) -> None:
    """Finish every task sent, in order, each with output {"n": <its position>}."""
    done = 0
    while done < len(recorder.sent):
        owner, command = recorder.sent[done]
        assert owner == eid
        assert finish_task(runtime, eid, command, {"n": done})
        done += 1


# -- the append carries out its commands (one Redis) ---------------------------------------


def test_start_records_the_task_and_its_deadline_in_the_append_and_leaves_no_outbox(
    fresh_store: Callable[[], RedisHistoryStore],
) -> None:
    """On one Redis, Runtime.start's append records the RunTask in ``tasks`` and its deadline
    (clock + task seconds + grace) in the deadlines set inside the script: the outbox is
    never used (no carry_out at all) and the task is sent exactly once."""
    store = fresh_store()
    assert store.carries
    recorder = Recorder()
    runtime = Spy(store, recorder, clock=FakeClock(T0), grace_seconds=GRACE)
    eid = runtime.start(ONE_TASK, {"name": "Ada"}, machine="carry", name="c1")

    [(owner, command)] = recorder.sent
    assert owner == eid
    assert runtime.carried == []  # nothing was left for carry_out to do
    assert store.outbox(eid) == []
    assert store.redis.exists(store.key(eid, "outbox")) == 0
    assert store.task(eid, command.token) == command
    assert deadline_tokens(store, eid) == [command.token]
    assert deadline_of(store, eid, command.token) == epoch(T0 + timedelta(seconds=60 + GRACE))


def test_a_wait_states_timer_is_set_in_the_append_and_its_firing_sends_the_next_task(
    fresh_store: Callable[[], RedisHistoryStore],
) -> None:
    """A Wait state's StartTimer lands in the timers set, due at clock + Seconds, with an
    empty outbox and nothing sent; once it fires, the next Task is recorded with its
    deadline and sent once, still without the outbox."""
    store = fresh_store()
    recorder = Recorder()
    clock = FakeClock(T0)
    runtime = Spy(store, recorder, clock=clock, grace_seconds=GRACE)
    eid = runtime.start(WAIT_THEN_TASK, {}, machine="carry", name="w1")

    assert store.outbox(eid) == []
    assert recorder.sent == []
    [(owner, timer_id)] = store.due_timers(FAR, 1000)
    assert owner == eid
    assert store.due_timers(T0 + timedelta(seconds=599), 1000) == []
    assert store.due_timers(T0 + timedelta(seconds=600), 1000) == [(eid, timer_id)]

    clock.advance(601)
    assert runtime.fire_due_timers() == 1
    [(_, command)] = recorder.sent
    assert command.state == "Greet"
    assert store.due_timers(FAR, 1000) == []
    assert store.outbox(eid) == []
    assert store.task(eid, command.token) == command
    assert deadline_of(store, eid, command.token) == epoch(T0 + timedelta(seconds=601 + 60 + GRACE))
    assert runtime.carried == []


def test_stopping_cancels_the_timer_in_the_append(
    fresh_store: Callable[[], RedisHistoryStore],
) -> None:
    """StopExecution's CancelTimer is carried out by the append script: the timer leaves
    the timers set and nothing goes through the outbox."""
    store = fresh_store()
    runtime = Spy(store, Recorder(), clock=FakeClock(T0))
    eid = runtime.start(WAIT_THEN_TASK, {}, machine="carry", name="w2")
    assert [owner for owner, _ in store.due_timers(FAR, 1000)] == [eid]
    runtime.stop(eid)
    assert store.status(eid) == "ABORTED"
    assert store.due_timers(FAR, 1000) == []
    assert store.outbox(eid) == []
    assert runtime.carried == []


def test_a_writer_that_dies_before_sending_loses_nothing(
    fresh_store: Callable[[], RedisHistoryStore],
) -> None:
    """The append records the task with its deadline before any send: if the writer dies
    right after (the broker is unreachable), recovery with a clock past that deadline sends
    the task again exactly once, a second sweep sends nothing more, and the execution then
    completes normally."""
    store = fresh_store()
    with pytest.raises(ConnectionError):
        Runtime(store, Unreachable(), clock=FakeClock(T0), grace_seconds=GRACE).start(
            ONE_TASK, {"name": "Ada"}, machine="carry", name="lost"
        )
    eid = "carry:lost"
    assert store.status(eid) == "RUNNING"
    assert store.outbox(eid) == []  # nothing for the outbox sweep: only the deadline saves it
    [token] = deadline_tokens(store, eid)
    recorded = store.task(eid, token)
    assert isinstance(recorded, RunTask) and recorded.state == "Greet"
    due = T0 + timedelta(seconds=60 + GRACE)

    recorder = Recorder()
    clock = FakeClock(due - timedelta(seconds=1))
    recovery = Runtime(store, recorder, clock=clock, grace_seconds=GRACE)
    assert recovery.recover() == 0  # not yet due
    assert recorder.sent == []
    clock.advance(2)
    assert recovery.recover() == 1
    assert recorder.sent == [(eid, recorded)]
    assert recovery.recover() == 0  # the claim moved the deadline on: not sent twice
    assert Runtime(store, recorder, clock=clock, grace_seconds=GRACE).recover() == 0
    assert len(recorder.sent) == 1

    assert finish_task(recovery, eid, recorded, {"message": "Hi"})
    result = result_from_store(store, eid)
    assert result.status == "SUCCEEDED"
    assert result.output == {"message": "Hi"}
    assert deadline_tokens(store, eid) == []


def test_task_finished_forgets_the_task_and_records_the_next_in_the_same_append(
    fresh_store: Callable[[], RedisHistoryStore],
) -> None:
    """Recording a task's outcome removes it from ``tasks``, ``starts`` and the deadlines
    set, cancels its TimeoutSeconds timer, and records the next task with its deadline,
    all in the append (no carry_out); the finished task's token is gone for recovery."""
    store = fresh_store()
    recorder = Recorder()
    runtime = Spy(store, recorder, clock=FakeClock(T0), grace_seconds=GRACE)
    eid = runtime.start(TWO_TASKS, {"x": 1}, machine="carry", name="f1")
    [(_, first)] = recorder.sent
    # The state's TimeoutSeconds timer was set along with the task.
    assert store.due_timers(FAR, 1000) == [(eid, f"{first.token}:timeout")]

    assert finish_task(runtime, eid, first, {"n": 0})

    assert store.task(eid, first.token) is None
    assert store.redis.hget(store.key(eid, "starts"), first.token) is None
    assert first.token not in deadline_tokens(store, eid)
    assert store.due_timers(FAR, 1000) == []
    [_, (_, second)] = recorder.sent
    assert second.state == "Second" and second.payload == {"n": 0}
    assert store.task(eid, second.token) == second
    assert deadline_tokens(store, eid) == [second.token]
    assert store.outbox(eid) == []

    assert finish_task(runtime, eid, second, {"n": 1})
    assert store.task(eid, second.token) is None
    assert deadline_tokens(store, eid) == []
    assert store.redis.hlen(store.key(eid, "tasks")) == 0
    assert store.redis.hlen(store.key(eid, "starts")) == 0
    assert runtime.carried == []
    assert store.status(eid) == "SUCCEEDED"


def test_finishing_an_execution_never_expires_the_global_sets(
    fresh_store: Callable[[], RedisHistoryStore],
) -> None:
    """The carrying append passes the global deadlines and timers sets as keys too; the
    retention that expires a finished execution's own keys must not touch them (other
    executions' deadlines and timers live there)."""
    store = fresh_store()
    store.retention_seconds = 3600.0
    recorder = Recorder()
    runtime = Runtime(store, recorder, clock=FakeClock(T0))
    waiting = runtime.start(WAIT_THEN_TASK, {}, machine="carry", name="other-wait")
    pending = runtime.start(ONE_TASK, {}, machine="carry", name="other-task")
    eid = runtime.start(ONE_TASK, {}, machine="carry", name="done")
    [command] = [c for owner, c in recorder.sent if owner == eid]
    assert finish_task(runtime, eid, command, {"ok": True})

    assert store.status(eid) == "SUCCEEDED"
    assert 0 < store.redis.pttl(store.key(eid, "meta")) <= 3_600_000  # retention applies
    assert store.redis.pttl(store.deadlines_key) == -1
    assert store.redis.pttl(store.timers_key) == -1
    assert [owner for owner, _ in store.due_deadlines(FAR, 1000)] == [pending]
    assert [owner for owner, _ in store.due_timers(FAR, 1000)] == [waiting]


# -- a Redis Cluster: the commands go through the outbox -----------------------------------


def test_without_carrying_the_commands_wait_in_the_outbox_and_the_outcome_is_the_same(
    fresh_store: Callable[[], RedisHistoryStore],
) -> None:
    """With ``store.carries`` False (a Redis Cluster) each append leaves its commands in the
    outbox until Runtime.carry_out takes them (recording the task and deadline, then
    sending it once); the finished task is forgotten there. The execution completes with
    the same status, output and event types as on the carrying path."""
    held = fresh_store()
    held.carries = False
    recorder = Recorder()
    runtime = Spy(held, recorder, clock=FakeClock(T0), grace_seconds=GRACE)
    eid = runtime.start(TWO_TASKS, {"x": 1}, machine="cluster", name="c1")

    [(commands, outbox, finished)] = runtime.carried
    [(_, first)] = recorder.sent
    assert finished is None
    assert first in commands
    assert outbox == commands  # they were in the outbox until carried out
    assert held.outbox(eid) == []
    assert held.task(eid, first.token) == first
    assert deadline_of(held, eid, first.token) == epoch(T0 + timedelta(seconds=60 + GRACE))

    drive(runtime, recorder, eid)
    # The outcome's step carried out the next task from the outbox and forgot the first.
    assert runtime.carried[1][2] == first.token
    assert [c for c in runtime.carried[1][1] if isinstance(c, RunTask)] == [recorder.sent[1][1]]
    assert held.task(eid, first.token) is None
    assert deadline_tokens(held, eid) == []
    assert held.outbox(eid) == []
    cluster = result_from_store(held, eid)

    store = fresh_store()
    assert store.carries
    other = Recorder()
    carrying = Spy(store, other, clock=FakeClock(T0), grace_seconds=GRACE)
    same = carrying.start(TWO_TASKS, {"x": 1}, machine="cluster", name="c1")
    drive(carrying, other, same)
    assert carrying.carried == []
    single = result_from_store(store, same)

    assert cluster.status == single.status == "SUCCEEDED"
    assert cluster.output == single.output == {"n": 1}
    assert [e.type for e in cluster.events] == [e.type for e in single.events]
    assert [c.payload for _, c in recorder.sent] == [c.payload for _, c in other.sent]


# -- the begin read as the outcome's base --------------------------------------------------


def test_begin_task_gives_a_base_holding_the_head_and_the_chain_of_frames(
    fresh_store: Callable[[], RedisHistoryStore],
) -> None:
    """Every task's begin read comes back as a base to decide its outcome on: the
    execution's head and the task's chain of frames (for a Map iteration's task, its
    iteration and the Map frame with its counters)."""
    store = fresh_store()
    recorder = Recorder()
    runtime = Runtime(store, recorder)
    top = runtime.start(ONE_TASK, {"name": "Ada"}, machine="base", name="top")
    [(_, command)] = recorder.sent
    starts, base = runtime.begin_task(top, command)
    assert starts == 1
    assert base is not None
    assert base.head
    assert base.last_event_id == store.event_count(top)
    assert base.state.awaits_handler(command.token)

    mapped = Recorder()
    runtime = Runtime(store, mapped)
    eid = runtime.start(MAP, {"items": [1, 2]}, machine="base", name="map")
    assert len(mapped.sent) == 2
    for _, item in mapped.sent:
        starts, base = runtime.begin_task(eid, item)
        assert starts == 1
        assert base is not None and base.head
        assert base.state.awaits_handler(item.token)
        counters = [field for field, value in base.fields.items()
                    if field.startswith(COUNTERS) and value is not None]
        assert [base.fields[field] for field in counters] == ["2,0,0"]
    # A second begin (a redelivery while the first attempt runs) counts.
    assert runtime.begin_task(eid, mapped.sent[0][1])[0] == 2


def test_a_stale_base_after_a_stop_records_nothing(
    fresh_store: Callable[[], RedisHistoryStore],
) -> None:
    """Begin a top-level task, stop the execution, then report the outcome on the begin
    base (one decide can take whole): the conditional append conflicts, the step reads
    again and finds the execution stopped, so task_finished returns False, the execution
    stays ABORTED with no success event after the abort, nothing more is sent, and the
    task is forgotten."""
    store = fresh_store()
    recorder = Recorder()
    runtime = Runtime(store, recorder)
    eid = runtime.start(TASK_THEN_TASK, {"name": "Ada"}, machine="stale", name="stop")
    [(_, command)] = recorder.sent
    starts, base = runtime.begin_task(eid, command)
    assert starts == 1 and base is not None

    runtime.stop(eid)
    before = types(store, eid)
    assert before[-1] == "ExecutionAborted"
    now = runtime.clock.now()
    assert not runtime.task_finished(
        eid,
        command.token,
        [
            inputs.TaskStarted(time=now, token=command.token),
            inputs.TaskSucceeded(time=now, token=command.token, output={"message": "Hi"}),
        ],
        base=base,
    )

    assert store.status(eid) == "ABORTED"
    after = types(store, eid)
    assert after == before
    assert not SUCCEEDED_TYPES & set(after[after.index("ExecutionAborted") :])
    assert result_from_store(store, eid).status == "ABORTED"
    assert len(recorder.sent) == 1  # the Second state was never scheduled
    assert store.task(eid, command.token) is None
    assert deadline_tokens(store, eid) == []


def test_a_duplicate_delivery_on_a_stale_base_is_recorded_once(
    fresh_store: Callable[[], RedisHistoryStore],
) -> None:
    """A task delivered twice (Celery redelivery) begins on two workers before either
    reports: each holds a base. The first outcome is recorded and schedules the next state;
    the second, decided on its now stale base, conflicts, reads again, finds the task no
    longer awaited and changes nothing: one success, one next task."""
    store = fresh_store()
    recorder = Recorder()
    runtime = Runtime(store, recorder)
    eid = runtime.start(TASK_THEN_TASK, {}, machine="stale", name="dup")
    [(_, command)] = recorder.sent
    first_starts, first_base = runtime.begin_task(eid, command)
    second_starts, second_base = runtime.begin_task(eid, command)
    assert (first_starts, second_starts) == (1, 2)
    assert first_base is not None and second_base is not None

    def report(base: Any, output: Any) -> bool:
        now = runtime.clock.now()
        return runtime.task_finished(
            eid,
            command.token,
            [
                inputs.TaskStarted(time=now, token=command.token),
                inputs.TaskSucceeded(time=now, token=command.token, output=output),
            ],
            base=base,
        )

    assert report(first_base, {"winner": 1})
    before = types(store, eid)
    assert not report(second_base, {"winner": 2})
    assert types(store, eid) == before
    assert before.count("LambdaFunctionSucceeded") == 1
    assert before.count("LambdaFunctionStarted") == 1
    [_, (_, second)] = recorder.sent
    assert second.state == "Second" and second.payload == {"winner": 1}
    assert store.task(eid, second.token) == second


def test_a_stale_base_after_the_task_timed_out_records_nothing(
    fresh_store: Callable[[], RedisHistoryStore],
) -> None:
    """The state's TimeoutSeconds timer fires between begin and finish (the other writer of
    a top-level task's execution): the late outcome on the stale base is not recorded;
    the execution fails with States.Timeout and the next state never runs."""
    store = fresh_store()
    recorder = Recorder()
    clock = FakeClock(T0)
    runtime = Runtime(store, recorder, clock=clock)
    eid = runtime.start(TWO_TASKS, {"x": 1}, machine="stale", name="timeout")
    [(_, command)] = recorder.sent
    _, base = runtime.begin_task(eid, command)
    assert base is not None

    clock.advance(301)
    assert runtime.fire_due_timers() == 1
    before = types(store, eid)
    assert store.status(eid) == "FAILED"
    assert not runtime.task_finished(
        eid,
        command.token,
        [
            inputs.TaskStarted(time=clock.now(), token=command.token),
            inputs.TaskSucceeded(time=clock.now(), token=command.token, output={"n": 0}),
        ],
        base=base,
    )
    assert types(store, eid) == before
    assert not SUCCEEDED_TYPES & set(before)
    assert len(recorder.sent) == 1
    result = result_from_store(store, eid)
    assert result.status == "FAILED"
    assert result.error == "States.Timeout"


def test_an_outcome_decided_on_the_base_needs_no_read_and_records_what_a_read_would(
    fresh_store: Callable[[], RedisHistoryStore],
) -> None:
    """Two executions of the same definition, each task finished after begin_task: one on
    the begin base, one with base=None. On the base the first outcome is decided without
    reading the execution again; both record the same event types and output, and send the
    same next tasks."""
    store = fresh_store()
    with_base, without_base = Recorder(), Recorder()
    based = Runtime(store, with_base)
    fresh = Runtime(store, without_base)
    one = based.start(TASK_THEN_TASK, {"x": 1}, machine="same", name="based")
    two = fresh.start(TASK_THEN_TASK, {"x": 1}, machine="same", name="fresh")

    reads: list[str] = []
    for name in ("load", "load_partial", "load_more"):
        real = getattr(store, name)

        def counted(*args: Any, _real: Any = real, _name: str = name, **kwargs: Any) -> Any:
            reads.append(_name)
            return _real(*args, **kwargs)

        setattr(store, name, counted)

    _, command = with_base.sent[0]
    assert finish_task(based, one, command, {"n": 0}, use_base=True)
    assert reads == []  # decided on the begin read
    _, command = without_base.sent[0]
    assert finish_task(fresh, two, command, {"n": 0}, use_base=False)
    assert reads  # without a base the step reads
    for runtime, recorder, eid in ((based, with_base, one), (fresh, without_base, two)):
        _, command = recorder.sent[1]
        assert finish_task(runtime, eid, command, {"n": 1}, use_base=runtime is based)

    first, second = result_from_store(store, one), result_from_store(store, two)
    assert first.status == second.status == "SUCCEEDED"
    assert first.output == second.output == {"n": 1}
    assert [e.type for e in first.events] == [e.type for e in second.events]
    assert "LambdaFunctionSucceeded" in [e.type for e in first.events]
    assert [c.payload for _, c in with_base.sent] == [c.payload for _, c in without_base.sent]



def test_nothing_to_do_on_a_stale_base_is_checked_on_a_fresh_read(
    fresh_store: Callable[[], RedisHistoryStore],
) -> None:
    """A base on which an outcome changes nothing (read before its task was scheduled, so
    the task is known to be absent there) is not taken at its word: the step reads again
    and records the outcome, instead of dropping it as stale."""
    store = fresh_store()
    recorder = Recorder()
    runtime = Runtime(store, recorder)
    # A first execution tells which event schedules the second task (decide is
    # deterministic: the same definition and input give the same ids).
    probe = runtime.start(TASK_THEN_TASK, {"name": "Ada"}, machine="stale", name="probe")
    assert finish_task(runtime, probe, recorder.sent[0][1], {"n": 1})
    second_id = recorder.sent[1][1].token.rsplit("#", 1)[1]

    recorder.sent.clear()
    eid = runtime.start(TASK_THEN_TASK, {"name": "Ada"}, machine="stale", name="early")
    arn = recorder.sent[0][1].token.rsplit("#", 1)[0]
    early = store.load_partial(eid, [f"k:{arn}#{second_id}"])  # that task: not yet there
    assert early is not None and early.fields[f"k:{arn}#{second_id}"] is None
    assert finish_task(runtime, eid, recorder.sent[0][1], {"n": 1})
    second = recorder.sent[1][1]
    assert second.token == f"{arn}#{second_id}"
    assert runtime.begin_task(eid, second)[0] == 1
    now = runtime.clock.now()
    assert runtime.task_finished(
        eid,
        second.token,
        [
            inputs.TaskStarted(time=now, token=second.token),
            inputs.TaskSucceeded(time=now, token=second.token, output={"n": 2}),
        ],
        base=early,
    )
    assert store.status(eid) == "SUCCEEDED"
