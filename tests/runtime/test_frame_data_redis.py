"""A step reads a frame's ancestors without their data; an execution's end is published.

Commit 32ccfea: the durable store keeps each frame's data (``input``, ``effective_input``) in
a ``d:<frame id>`` field of the ``state`` hash, and a partial read (``load_partial``) takes
the frame it was asked for with its data but that frame's ancestors without theirs: a Map
iteration's step no longer reads the Map's input. Reaching an unread frame's data raises
``Incomplete`` and ``Runtime.step`` reads again with it; a frame read without its data may
not be set aside whole in the head (``halted``) until it is read (``require_data``).

Commit fd5f118: the append that stops an execution publishes its new status on
``<prefix>:{<eid>}:stopped``, and ``RedisHistoryStore.wait_stopped`` blocks on it.

Tasks are driven by hand through a ``Recorder`` dispatcher, as a worker records a quick
handler (``begin_task``, then TaskStarted and the outcome in one step), and every run is
compared with the in-process driver (``run_local``) given the same handlers.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from statemachine.interpreter import inputs
from statemachine.interpreter.state import Incomplete
from statemachine.local import run_local
from statemachine.runtime.engine import Runtime
from statemachine.runtime.results import result_from_store, wait_for_result
from statemachine.runtime.store import RedisHistoryStore, Snapshot, fields_of, require_data
from tests.runtime.conftest import Recorder, finish_task

pytestmark = pytest.mark.timeout(120)

FN = "arn:aws:lambda:us-east-1:123456789012:function:"
BIG_ITEMS = 500
TEXT = 200  # characters per item


def now() -> datetime:
    return datetime.now(UTC)


def types(events: list[Any]) -> list[str]:
    return [event.type for event in events]


def drive(
    runtime: Runtime, recorder: Recorder, eid: str, handler: Callable[[Any], Any], start: int = 0
) -> None:
    """Succeed every task sent from ``recorder.sent[start]`` on, in the order sent (tasks
    sent meanwhile included), each with ``handler(payload)``: the in-process driver's
    order."""
    done = start
    while done < len(recorder.sent):
        owner, command = recorder.sent[done]
        assert owner == eid
        assert finish_task(runtime, eid, command, handler(command.payload))
        done += 1


def partial_reads(store: RedisHistoryStore) -> list[Snapshot]:
    """Record every partial snapshot the store reads from now on (a step's, or a task's
    begin read, which its outcome is decided on)."""
    seen: list[Snapshot] = []
    real = store._partial

    def spied(*args: Any, **kwargs: Any) -> Snapshot | None:
        snapshot = real(*args, **kwargs)
        if snapshot is not None and snapshot.lookups is not None:
            seen.append(snapshot)
        return snapshot

    store._partial = spied  # type: ignore[method-assign]
    return seen


def asked_more(store: RedisHistoryStore) -> list[str | None]:
    """Record every field a step asked to read again for (None: everything)."""
    fields: list[str | None] = []
    real = store.load_more

    def spied(snapshot: Snapshot, field: str | None) -> Snapshot | None:
        fields.append(field)
        return real(snapshot, field)

    store.load_more = spied  # type: ignore[method-assign]
    return fields


def state_fields(store: RedisHistoryStore, eid: str) -> dict[str, bytes]:
    raw = store.redis.hgetall(store.key(eid, "state"))
    return {key.decode(): value for key, value in raw.items()}


def assert_no_orphan_data(store: RedisHistoryStore, eid: str) -> None:
    """Every frame's data field belongs to a frame still stored: a frame that ended took
    its ``d:`` along."""
    fields = state_fields(store, eid)
    orphans = [f for f in fields if f.startswith("d:") and "f:" + f[2:] not in fields]
    assert orphans == []


# -- a large Map: an iteration's step does not read the Map's input -----------------------

# The Map's input is a task's output (not the execution's input, which the head carries).
LOAD_THEN_MAP = json.dumps(
    {
        "StartAt": "Load",
        "States": {
            "Load": {"Type": "Task", "Resource": FN + "Load", "Next": "Each"},
            "Each": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "MaxConcurrency": 0,
                "ItemProcessor": {
                    "StartAt": "Measure",
                    "States": {
                        "Measure": {"Type": "Task", "Resource": FN + "Measure", "End": True}
                    },
                },
                "End": True,
            },
        },
    }
)


def big_items() -> list[dict[str, Any]]:
    return [{"id": n, "text": chr(ord("a") + n % 26) * TEXT} for n in range(BIG_ITEMS)]


def load(event: Any, context: Any = None) -> Any:
    return {"items": big_items()}


def measure(event: Any, context: Any = None) -> Any:
    return {"id": event["id"], "chars": len(event["text"]), "first": event["text"][0]}


def test_an_iteration_step_reads_a_small_part_of_a_large_map(
    fresh_store: Callable[[], RedisHistoryStore],
) -> None:
    """A Map over 500 items of 200 characters each (its input over 100 KB, the output of a
    Task before it): the partial read for one iteration's task holds that iteration's frame
    with its data but no ``d:`` of the root frame (where the Map's input is), and what it
    reads (the fields and the head) is a small fraction of the Map's input. The root's
    ``d:`` stays as it was through the iterations' steps. Completing every iteration gives
    the in-process driver's output and events, and leaves no frame data behind."""
    store = fresh_store()
    recorder = Recorder()
    runtime = Runtime(store, recorder)
    eid = runtime.start(LOAD_THEN_MAP, {"source": "big"}, machine="bigmap", name="b1")
    [(_, first)] = recorder.sent
    assert finish_task(runtime, eid, first, load(first.payload))
    assert len(recorder.sent) == 1 + BIG_ITEMS
    map_input = len(json.dumps(load(None)))
    assert map_input > 100_000
    root_data = store.redis.hget(store.key(eid, "state"), "d:")
    assert root_data is not None and len(root_data) > map_input  # the Map's input is here

    _, command = recorder.sent[1 + 250]
    snapshot = store.load_partial(eid, ["k:" + command.token])
    assert snapshot is not None
    [iteration] = [f[2:] for f in snapshot.fields if f.startswith("f:/")]
    assert set(snapshot.fields) == {
        "k:" + command.token, "f:" + iteration, "d:" + iteration, "f:", "c:" + iteration, "c:"
    }
    assert snapshot.fields["c:"] == f"{BIG_ITEMS},0,0"  # the Map frame's counters
    assert "d:" not in snapshot.fields
    assert snapshot.state.frames[""].data_field == "d:"
    assert snapshot.state.frames[iteration].input == big_items()[250]
    size = sum(len(value or "") for value in snapshot.fields.values())
    assert size < map_input / 50
    assert len(snapshot.head) < map_input / 50

    reads = partial_reads(store)
    drive(runtime, recorder, eid, measure, start=1)
    # Every step's partial read held no d: but its iteration's (the last step, which ends
    # the Map, then read everything).
    assert len(reads) >= BIG_ITEMS
    assert all("d:" not in read.fields for read in reads)

    result = result_from_store(store, eid)
    local = run_local(LOAD_THEN_MAP, {"source": "big"}, handlers={"Load": load, "Measure": measure})
    assert local.status == result.status == "SUCCEEDED"
    assert result.output == local.output
    assert result.output[250] == {"id": 250, "chars": TEXT, "first": "q"}
    assert types(result.events) == types(local.events)
    assert_no_orphan_data(store, eid)


def test_iteration_steps_leave_the_map_input_untouched(
    fresh_store: Callable[[], RedisHistoryStore],
) -> None:
    """Each iteration's step but the last changes the root frame's counters (``c:``)
    without reading its data: the root's ``d:`` holds the same bytes after them as before,
    and no step's write touches it, nor the root frame's own field (``f:``)."""
    store = fresh_store()
    recorder = Recorder()
    runtime = Runtime(store, recorder)
    eid = runtime.start(LOAD_THEN_MAP, {"source": "big"}, machine="bigmap", name="b2")
    [(_, first)] = recorder.sent
    assert finish_task(runtime, eid, first, load(first.payload))
    key = store.key(eid, "state")
    before = store.redis.hget(key, "d:")
    frame = store.redis.hget(key, "f:")
    counters = store.redis.hget(key, "c:")

    writes: list[set[str]] = []
    append = store.append

    def counting(*args: Any, **kwargs: Any) -> Any:
        base, state = args[1], args[2]
        writes.append({f for f, v in fields_of(state).items() if base.fields.get(f) != v})
        return append(*args, **kwargs)

    store.append = counting  # type: ignore[method-assign]
    for _, command in recorder.sent[1:11]:
        assert finish_task(runtime, eid, command, measure(command.payload))
    assert store.redis.hget(key, "d:") == before
    assert store.redis.hget(key, "f:") == frame
    assert store.redis.hget(key, "c:") != counters  # the counters did change
    assert all("d:" not in written and "f:" not in written for written in writes)
    assert all("c:" in written for written in writes)


# -- ResultPath / OutputPath need the Map state's input after the Map ends -----------------

RESULT_PATH = json.dumps(
    {
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "MaxConcurrency": 0,
                "ResultPath": "$.summary.results",
                "OutputPath": "$.summary",
                "ItemProcessor": {
                    "StartAt": "Double",
                    "States": {"Double": {"Type": "Task", "Resource": FN + "Double", "End": True}},
                },
                "Next": "Merge",
            },
            "Merge": {"Type": "Pass", "ResultPath": "$.checked", "Result": True, "End": True},
        },
    }
)


def double(event: Any, context: Any = None) -> Any:
    return {"value": event * 2}


def test_result_and_output_paths_use_the_map_input_that_no_iteration_step_read(
    fresh_store: Callable[[], RedisHistoryStore],
) -> None:
    """ResultPath "$.summary.results" merges the results into the Map state's input and
    OutputPath "$.summary" keeps the part of that input the Map never iterated over: the
    output is the in-process driver's, although no iteration's step read the root's data
    (the Map's input) and each left it as stored."""
    store = fresh_store()
    recorder = Recorder()
    runtime = Runtime(store, recorder)
    items = list(range(12))
    data = {"items": items, "summary": {"note": "kept", "count": len(items)}, "other": "x"}
    eid = runtime.start(RESULT_PATH, data, machine="paths", name="p1")
    assert len(recorder.sent) == len(items)

    key = store.key(eid, "state")
    stored = store.redis.hget(key, "d:")
    assert stored is not None and b'"note":"kept"' in stored

    reads = partial_reads(store)
    for _, command in recorder.sent[:-1]:
        assert finish_task(runtime, eid, command, double(command.payload))
    assert reads and all("d:" not in read.fields for read in reads)
    assert all(read.state.frames[""].data_field == "d:" for read in reads)
    assert store.redis.hget(key, "d:") == stored
    _, last = recorder.sent[-1]
    assert finish_task(runtime, eid, last, double(last.payload))  # ends the Map

    result = result_from_store(store, eid)
    local = run_local(RESULT_PATH, data, handlers={"Double": double})
    assert result.status == local.status == "SUCCEEDED"
    assert (
        result.output
        == local.output
        == {
            "note": "kept",
            "count": len(items),
            "results": [{"value": n * 2} for n in items],
            "checked": True,
        }
    )
    assert types(result.events) == types(local.events)
    assert_no_orphan_data(store, eid)


# One iteration at a time: each step that ends an iteration starts the next, whose
# ItemSelector reads the Map state's effective input (a root frame field read without it).
SELECTED = json.dumps(
    {
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "MaxConcurrency": 1,
                "ItemSelector": {"tag.$": "$.tag", "value.$": "$$.Map.Item.Value"},
                "ItemProcessor": {
                    "StartAt": "Label",
                    "States": {"Label": {"Type": "Task", "Resource": FN + "Label", "End": True}},
                },
                "ResultPath": "$.labels",
                "End": True,
            }
        },
    }
)


def label(event: Any, context: Any = None) -> Any:
    return f"{event['tag']}-{event['value']}"


def test_a_step_that_needs_the_map_input_reads_it_again_and_decides_again(
    fresh_store: Callable[[], RedisHistoryStore],
) -> None:
    """With MaxConcurrency 1, the step that ends an iteration starts the next one, whose
    ItemSelector reads the Map's input ("$.tag"): the root frame was read without it, so
    the step reads again with ``d:`` and decides again. The labels carry the tag (not a
    null from data that was never read) and the run is the in-process driver's."""
    store = fresh_store()
    recorder = Recorder()
    runtime = Runtime(store, recorder)
    data = {"tag": "t", "items": ["a", "b", "c", "d"]}
    eid = runtime.start(SELECTED, data, machine="selected", name="s1")
    assert len(recorder.sent) == 1

    more = asked_more(store)
    drive(runtime, recorder, eid, label)
    assert [c.payload for _, c in recorder.sent] == [
        {"tag": "t", "value": item} for item in data["items"]
    ]
    assert "d:" in more  # the root's data was read when a step needed it

    result = result_from_store(store, eid)
    local = run_local(SELECTED, data, handlers={"Label": label})
    assert result.status == local.status == "SUCCEEDED"
    assert result.output == local.output == {**data, "labels": ["t-a", "t-b", "t-c", "t-d"]}
    assert types(result.events) == types(local.events)


# -- a nested Map fails and is redriven ----------------------------------------------------

NESTED = json.dumps(
    {
        "StartAt": "Outer",
        "States": {
            "Outer": {
                "Type": "Map",
                "ItemsPath": "$.lists",
                "MaxConcurrency": 0,
                "ItemProcessor": {
                    "StartAt": "Inner",
                    "States": {
                        "Inner": {
                            "Type": "Map",
                            "ItemsPath": "$.items",
                            "MaxConcurrency": 0,
                            "ItemSelector": {"tag.$": "$.tag", "n.$": "$$.Map.Item.Value"},
                            "ItemProcessor": {
                                "StartAt": "Work",
                                "States": {
                                    "Work": {"Type": "Task", "Resource": FN + "Work", "End": True}
                                },
                            },
                            # The outer iteration's output is its input with the results:
                            # a redriven iteration that lost its input could not give it.
                            "ResultPath": "$.done",
                            "End": True,
                        }
                    },
                },
                "End": True,
            }
        },
    }
)
LISTS = {
    "lists": [
        {"tag": "a", "items": [1, 2], "pad": "a" * 300},
        {"tag": "b", "items": [3, 4, 5], "pad": "b" * 300},
        {"tag": "c", "items": [6], "pad": "c" * 300},
    ]
}
BROKEN = 4  # the item whose task fails first


def work(event: Any, context: Any = None) -> Any:
    return {"seen": f"{event['tag']}-{event['n']}"}


class Flaky:
    """``work``, but item ``BROKEN`` raises while ``broken``; every call is noted."""

    def __init__(self) -> None:
        self.broken = True
        self.calls: list[Any] = []

    def __call__(self, event: Any, context: Any = None) -> Any:
        self.calls.append(event["n"])
        if self.broken and event["n"] == BROKEN:
            raise RuntimeError(f"item {BROKEN} is broken")
        return work(event)


def test_a_failed_nested_map_redriven_runs_again_what_failed_with_its_input(
    fresh_store: Callable[[], RedisHistoryStore],
) -> None:
    """An outer Map over three lists, an inner Map over each list's items; the task of item
    4 (list "b") fails with no Retry or Catch: its inner Map fails, so its outer iteration
    does, and the execution FAILS (list "a" had finished; item 5 and list "c" are aborted).
    Redriven, only item 4's, item 5's and item 6's iterations run again (AWS reruns failed
    and aborted iterations only; items 1, 2 and 3 succeeded and are kept), each with its
    own input, and the outer iteration of "b" ends with its original input and the
    results (ResultPath "$.done"): the output is what a run that never failed gives, and
    the history is the in-process driver's for the same fail-then-redrive sequence."""
    store = fresh_store()
    recorder = Recorder()
    runtime = Runtime(store, recorder)
    eid = runtime.start(NESTED, LISTS, machine="nested", name="n1")
    assert [c.payload["n"] for _, c in recorder.sent] == [1, 2, 3, 4, 5, 6]

    for _, command in recorder.sent[:3]:
        assert finish_task(runtime, eid, command, work(command.payload))
    _, broken = recorder.sent[3]
    # (This step reads the whole state: aborting item 5 lists the inner Map's iterations,
    # so the outer iteration set aside has its data here; require_data is tested below.)
    assert finish_task(runtime, eid, broken, error="RuntimeError", cause=f"item {BROKEN} is broken")
    assert store.status(eid) == "FAILED"
    for _, aborted in recorder.sent[4:]:  # no longer awaited: a worker skips them
        assert runtime.begin_task(eid, aborted) == (0, None)
        late = inputs.TaskSucceeded(time=now(), token=aborted.token, output={})
        assert not runtime.task_finished(eid, aborted.token, late)
    assert len(recorder.sent) == 6

    # The failed and aborted outer iterations were set aside whole, with their data.
    halted = store.load(eid)
    assert halted is not None
    outer = {
        frame.input["tag"]: frame for frame in halted.state.halted.values() if frame.parent == ""
    }
    assert sorted(outer) == ["b", "c"]
    assert outer["b"].input == LISTS["lists"][1]
    assert all(frame.data_field is None for frame in halted.state.halted.values())
    failed_events = types(store.events(eid))

    runtime.redrive(eid)
    assert store.status(eid) == "RUNNING"
    again = recorder.sent[6:]
    assert [c.payload for _, c in again] == [
        {"tag": "b", "n": 4},
        {"tag": "b", "n": 5},
        {"tag": "c", "n": 6},
    ]
    drive(runtime, recorder, eid, work, start=6)
    assert len(recorder.sent) == 9

    result = result_from_store(store, eid)
    never_failed = run_local(NESTED, LISTS, handlers={"Work": work})
    assert never_failed.status == result.status == "SUCCEEDED"
    assert result.output == never_failed.output
    assert result.output[1] == {
        **LISTS["lists"][1],
        "done": [{"seen": "b-3"}, {"seen": "b-4"}, {"seen": "b-5"}],
    }

    flaky = Flaky()
    local_failed = run_local(NESTED, LISTS, handlers={"Work": flaky})
    assert local_failed.status == "FAILED"
    assert types(local_failed.events) == failed_events
    flaky.broken = False
    local = local_failed.redrive()
    assert flaky.calls[-3:] == [4, 5, 6]  # the same three ran again in-process
    assert local.status == "SUCCEEDED"
    assert local.output == result.output
    assert types(result.events) == types(local.events)
    assert result.redrive_count == local.redrive_count == 1
    assert_no_orphan_data(store, eid)


def test_a_frame_read_without_its_data_is_not_set_aside_until_it_is_read(
    fresh_store: Callable[[], RedisHistoryStore],
) -> None:
    """``require_data``: a partial read for an inner task takes the outer iteration's frame
    (an ancestor) without its data; set aside in ``halted`` (written whole, in the head),
    it would be written without its input, so require_data raises Incomplete naming its
    ``d:``. Read again with that field, the frame holds its input and passes. The state
    as read writes no ``d:`` for the frames read without theirs (``fields_of``)."""
    store = fresh_store()
    recorder = Recorder()
    runtime = Runtime(store, recorder)
    eid = runtime.start(NESTED, LISTS, machine="nested", name="n2")
    _, command = recorder.sent[3]  # item 4, in list "b"
    snapshot = store.load_partial(eid, ["k:" + command.token])
    assert snapshot is not None
    frames = snapshot.state.frames
    [inner_id] = [f[2:] for f in snapshot.fields if f.startswith("f:/") and f.count("/") == 2]
    inner = frames[inner_id]
    assert inner.input == {"tag": "b", "n": 4}  # the task's own frame, with its data
    assert inner.parent is not None
    outer = frames[inner.parent]
    assert outer.data_field == "d:" + outer.id
    assert frames[""].data_field == "d:"
    written = fields_of(snapshot.state)
    assert "d:" + inner.id in written
    assert "d:" + outer.id not in written and "d:" not in written
    require_data(snapshot.state)  # nothing set aside yet

    snapshot.state.halted[outer.id] = frames.pop(outer.id)
    with pytest.raises(Incomplete) as raised:
        require_data(snapshot.state)
    assert raised.value.field == "d:" + outer.id

    more = store.load_more(snapshot, raised.value.field)
    assert more is not None
    assert "d:" + outer.id in more.fields
    whole = more.state.frames[outer.id]
    assert whole.data_field is None
    assert whole.input == LISTS["lists"][1]
    more.state.halted[outer.id] = more.state.frames.pop(outer.id)
    require_data(more.state)
    head = json.loads(more.state.model_dump_json(exclude_defaults=True))
    assert head["halted"][outer.id]["input"] == LISTS["lists"][1]


# -- wait_stopped --------------------------------------------------------------------------

TWO_TASKS = json.dumps(
    {
        "StartAt": "First",
        "States": {
            "First": {"Type": "Task", "Resource": FN + "Hello", "Next": "Second"},
            "Second": {"Type": "Task", "Resource": FN + "Hello", "End": True},
        },
    }
)


@pytest.fixture
def subscriber(fresh_store: Callable[[], RedisHistoryStore]) -> Iterator[Any]:
    """A store, and a way to listen on one execution's ``stopped`` channel."""
    store = fresh_store()
    opened: list[Any] = []

    def listen(eid: str) -> Any:
        pubsub = store.redis.pubsub()
        opened.append(pubsub)
        pubsub.subscribe(store.key(eid, "stopped"))
        confirmed = pubsub.get_message(timeout=10)  # listening from here on
        assert confirmed is not None and confirmed["type"] == "subscribe"
        return pubsub

    yield store, listen
    for pubsub in opened:
        pubsub.close()


def messages(pubsub: Any, quiet: float = 0.5) -> list[str]:
    """Every message published to the subscriber, waiting until none comes for ``quiet``
    s."""
    got: list[str] = []
    while True:
        message = pubsub.get_message(timeout=quiet)
        if message is None:
            return got
        assert message["type"] == "message"
        got.append(message["data"].decode())


def test_wait_stopped_times_out_with_running(
    fresh_store: Callable[[], RedisHistoryStore],
) -> None:
    """Nothing happens to a running execution: wait_stopped blocks for its timeout (0.3 s)
    and returns RUNNING."""
    store = fresh_store()
    runtime = Runtime(store, Recorder())
    eid = runtime.start(TWO_TASKS, {}, machine="wait", name="idle")
    began = time.monotonic()
    assert store.wait_stopped(eid, 0.3) == "RUNNING"
    waited = time.monotonic() - began
    assert 0.29 <= waited < 10


def test_wait_stopped_is_none_for_an_execution_not_stored(
    fresh_store: Callable[[], RedisHistoryStore],
) -> None:
    """An execution that is not stored: None at once, not after the timeout."""
    store = fresh_store()
    began = time.monotonic()
    assert store.wait_stopped("wait:nobody", 30) is None
    assert time.monotonic() - began < 10


class Watched:
    """A PubSub whose ``get_message`` results are noted; ``listening`` is set once a call
    begins after an earlier one returned (the subscription confirmed, the status read
    RUNNING: the waiter blocks on the channel)."""

    def __init__(self, inner: Any, got: list[Any], listening: threading.Event) -> None:
        self._inner = inner
        self._got = got
        self._listening = listening

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def get_message(self, *args: Any, **kwargs: Any) -> Any:
        if self._got:  # the first call takes the subscription's confirmation
            self._listening.set()
        message = self._inner.get_message(*args, **kwargs)
        self._got.append(message)
        return message


@pytest.mark.parametrize("how", ["finished", "stopped"])
def test_a_waiter_wakes_on_the_stop_message_and_it_is_published_once(
    subscriber: Any, how: str
) -> None:
    """A thread waits (30 s timeout) on a running execution while another thread ends it,
    by finishing its last task (SUCCEEDED) or by StopExecution (ABORTED): the waiter
    returns that status, woken by the message on the ``stopped`` channel (not by its
    once-a-second status read), and a subscriber listening since before the start receives
    exactly one message, with that status: neither the start nor the first task's step
    (the execution still RUNNING) publishes."""
    store, listen = subscriber
    recorder = Recorder()
    runtime = Runtime(store, recorder)
    eid = f"wait:{how}"
    pubsub = listen(eid)
    runtime.start(TWO_TASKS, {}, machine="wait", name=how)
    _, first = recorder.sent[0]
    assert finish_task(runtime, eid, first, {"n": 1})
    assert store.status(eid) == "RUNNING"

    got: list[Any] = []
    listening = threading.Event()
    real = store.redis.pubsub
    watched = lambda **kw: Watched(real(**kw), got, listening)  # noqa: E731
    store.redis.pubsub = watched
    returned: list[str | None] = []
    waiter = threading.Thread(target=lambda: returned.append(store.wait_stopped(eid, 30)))
    waiter.start()
    assert listening.wait(10)

    def end() -> None:
        if how == "finished":
            _, second = recorder.sent[1]
            assert finish_task(runtime, eid, second, {"n": 2})
        else:
            runtime.stop(eid)

    ender = threading.Thread(target=end)
    ender.start()
    ender.join(30)
    waiter.join(30)
    assert not waiter.is_alive()
    status = "SUCCEEDED" if how == "finished" else "ABORTED"
    assert store.status(eid) == status
    assert returned == [status]
    woke = [m for m in got if m is not None]
    assert [m["data"].decode() for m in woke] == [status]
    assert messages(pubsub) == [status]
    assert wait_for_result(store, eid, timeout=5).status == status


INPUT_ECHO = {
    "StartAt": "Work",
    "States": {
        "Work": {"Type": "Task", "Resource": FN + "Work", "ResultPath": "$.work", "Next": "Echo"},
        "Echo": {
            "Type": "Pass",
            "Parameters": {"original.$": "$$.Execution.Input", "work.$": "$.work"},
            "End": True,
        },
    },
}


def test_the_execution_input_is_kept_apart_from_the_head_in_its_own_key_order(
    fresh_store: Callable[[], RedisHistoryStore],
) -> None:
    """A step no longer reads and parses the execution's input with the snapshot's head
    (a Map over it would have every iteration's step do so): it is stored once in ``meta``
    (``state_input``), in the input's own key order, and the head leaves it out. What the
    workflow sees of it (``$$.Execution.Input``) and the output's key order are unchanged,
    and the same as the in-process driver's."""
    store = fresh_store()
    recorder = Recorder()
    runtime = Runtime(store, recorder)
    original = {"zeta": 1, "alpha": {"y": [1, 2], "b": "x"}, "mid": None}
    eid = runtime.start(json.dumps(INPUT_ECHO), original, machine="apart", name="a1")
    meta = store.meta(eid)
    assert meta is not None
    assert meta["state_input"] == json.dumps(original, separators=(",", ":"))
    assert "input" not in json.loads(meta["state"])
    [(_, command)] = recorder.sent
    assert finish_task(runtime, eid, command, {"done": True})
    result = result_from_store(store, eid)
    local = run_local(json.dumps(INPUT_ECHO), original,
                      handlers={"Work": lambda event, context: {"done": True}})
    assert result.status == local.status == "SUCCEEDED"
    assert json.dumps(result.output) == json.dumps(local.output)
    assert list(result.output["original"]) == ["zeta", "alpha", "mid"]
    assert result.input == original


def test_an_execution_whose_head_holds_its_input_keeps_it_there(
    fresh_store: Callable[[], RedisHistoryStore],
) -> None:
    """An execution started before the input was kept apart has it in the head and no
    ``state_input``: its steps still see the input, and its appends keep the input in the
    head (writing a head without it would lose it)."""
    store = fresh_store()
    recorder = Recorder()
    runtime = Runtime(store, recorder)
    original = {"keep": "me", "n": 7}
    eid = runtime.start(json.dumps(INPUT_ECHO), original, machine="apart", name="old")
    meta_key = store.key(eid, "meta")
    head = json.loads(store.redis.hget(meta_key, "state"))
    head["input"] = original
    store.redis.hset(meta_key, "state", json.dumps(head))
    store.redis.hdel(meta_key, "state_input")

    [(_, command)] = recorder.sent
    assert finish_task(runtime, eid, command, {"done": 1})
    result = result_from_store(store, eid)
    assert result.status == "SUCCEEDED"
    assert result.output == {"original": original, "work": {"done": 1}}
    assert json.loads(store.redis.hget(meta_key, "state"))["input"] == original


def test_a_step_does_not_read_the_execution_input_again_but_a_new_execution_does(
    fresh_store: Callable[[], RedisHistoryStore],
) -> None:
    """A store keeps each execution's input parsed after its first partial read, and later
    reads leave it out of the reply (a Map over a large input would otherwise move it at
    every step). An execution started again under the same name (after the first was
    deleted, as expiry does) has another start date: its steps see its own input."""
    store = fresh_store()
    recorder = Recorder()
    runtime = Runtime(store, recorder)
    first = {"who": "first", "pad": "x" * 5000}
    eid = runtime.start(json.dumps(INPUT_ECHO), first, machine="apart", name="again")
    [(_, command)] = recorder.sent
    replies: list[int] = []
    script = store._load_partial

    def measured(*args: Any, **kwargs: Any) -> Any:
        reply = script(*args, **kwargs)
        replies.append(sum(len(item) for item in reply if isinstance(item, bytes)))
        return reply

    store._load_partial = measured  # type: ignore[method-assign]
    lookups = ["k:" + command.token]
    assert store.load_partial(eid, lookups) is not None
    assert store.load_partial(eid, lookups) is not None
    assert replies[0] - replies[1] > 5000  # the input, read once (the frame's data stays)
    store._load_partial = script  # type: ignore[method-assign]

    store.redis.delete(*store.keys_of(eid))
    time.sleep(0.01)  # another start date
    recorder.sent.clear()
    second = {"who": "second"}
    assert runtime.start(json.dumps(INPUT_ECHO), second, machine="apart", name="again") == eid
    [(_, command)] = recorder.sent
    assert finish_task(runtime, eid, command, {"done": 2})
    result = result_from_store(store, eid)
    assert result.output == {"original": second, "work": {"done": 2}}
