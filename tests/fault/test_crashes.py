"""Workers die, tasks come back: handlers run at least once, transitions exactly once.

DESIGN.md: "Nothing is lost when any process dies: [...] a task whose worker died is
redelivered (acks_late, reject on worker lost) [...] Handlers run at least once; state
transitions happen exactly once." and "a duplicate completion (Celery redelivery) is
recorded once".

Every test runs real ``sfn worker`` processes (prefork) on the session's Redis, under a key
prefix and queue of its own, and compares each execution with the same execution on the
in-process driver: same status and output, ids 1..n, the same event types (so no
transition is recorded twice).
"""

from __future__ import annotations

import json
import os
import signal
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from statemachine.interpreter import inputs
from statemachine.interpreter.commands import RunTask
from statemachine.runtime.engine import RESENT
from statemachine.runtime.results import result_from_store
from tests.fault.conftest import (
    FN,
    Deployment,
    assert_same_transitions,
    kill_group,
    local_run,
    poll,
    types,
)
from tests.fault.handlers import release, runner, runs

pytestmark = [pytest.mark.fault, pytest.mark.timeout(120)]

#: Pass, then a Task held in its handler (``Block``), then another Task.
HOLD = {
    "StartAt": "Prepare",
    "States": {
        "Prepare": {"Type": "Pass", "Next": "Hold"},
        "Hold": {
            "Type": "Task",
            "Resource": FN + "Block",
            "Parameters": {
                "dir.$": "$.dir",
                "key.$": "$.key",
                "value.$": "$.value",
                "hold.$": "$.hold",
            },
            "ResultPath": "$.held",
            "Next": "Twice",
        },
        "Twice": {
            "Type": "Task",
            "Resource": FN + "Double",
            "Parameters": {"value.$": "$.held.value"},
            "End": True,
        },
    },
}


def held_input(folder: Path, key: str, hold: str = "first") -> dict[str, Any]:
    return {"dir": str(folder), "key": key, "value": 5, "hold": hold}


def expected_hold(tmp_path: Path, name: str) -> Any:
    """The in-process run of HOLD, its handler released up front."""
    folder = tmp_path / "local"
    folder.mkdir(exist_ok=True)
    release(folder, "k")
    expected = local_run(HOLD, held_input(folder, "k"), machine="hold", name=name)
    assert expected.output == {"value": 20}
    return expected


def test_worker_killed_in_a_handler_is_recovered_by_the_task_deadline(
    deployment: Deployment,
    tmp_path: Path,
) -> None:
    # Given a worker in the middle of Hold's handler
    expected = expected_hold(tmp_path, "killed")
    first = deployment.worker()
    client = deployment.client()
    eid = client.start(json.dumps(HOLD), held_input(tmp_path, "k"), machine="hold", name="killed")
    poll(lambda: runs(tmp_path, "k") == 1, 30, "the handler to start", deployment.logs)
    # A handler still running START_RECORD_SECONDS after it began has its start recorded on
    # its own (a quicker one's is recorded with its outcome): the history shows it running.
    poll(lambda: types(result_from_store(client.store, eid).events)[-1]
         == "LambdaFunctionStarted", 10, "LambdaFunctionStarted", deployment.logs)

    # When the worker's whole process tree is SIGKILLed (its message stays unacknowledged
    # in the broker, which would return it only after the one-hour visibility timeout),
    # and another worker starts
    kill_group(first.process)
    killed = time.monotonic()
    second = deployment.worker()
    deployment.wait(client, [eid], timeout=60)
    recovered = time.monotonic() - killed

    # Then the scheduler re-dispatched the attempt at its deadline (the function's 3 s
    # timeout plus the grace period), the handler ran again, and every transition is
    # recorded once, as on the in-process driver
    assert "passed its deadline; dispatching it again" in second.text(), deployment.logs()
    assert runs(tmp_path, "k") >= 2
    assert recovered < 3 + deployment.grace + 15, recovered
    assert_same_transitions(client.store, eid, expected)


def test_pool_process_killed_in_a_handler_is_redelivered_at_once(
    deployment: Deployment,
    tmp_path: Path,
) -> None:
    # Given a worker whose pool process is in the middle of Hold's handler, and a grace
    # period so long that the recovery loop cannot be what brings the task back
    deployment.set_grace(600)
    expected = expected_hold(tmp_path, "child")
    deployment.worker()
    client = deployment.client()
    eid = client.start(json.dumps(HOLD), held_input(tmp_path, "k"), machine="hold", name="child")
    pid = poll(lambda: runner(tmp_path, "k", 1), 30, "the handler to start", deployment.logs)

    # When that pool process (not the worker's main process) is SIGKILLed
    os.kill(pid, signal.SIGKILL)

    # Then Celery rejects the message back onto the queue (task_reject_on_worker_lost with
    # acks_late), a new pool process runs the handler again, and the execution completes
    deployment.wait(client, [eid], timeout=30)
    assert runs(tmp_path, "k") == 2
    assert runner(tmp_path, "k", 2) != pid
    assert_same_transitions(client.store, eid, expected)


def test_a_handler_that_kills_its_process_every_time_fails_the_task(
    deployment: Deployment,
    tmp_path: Path,
) -> None:
    """Redelivery after a lost worker must not become an endless loop: a handler whose
    process dies every time it runs fails its task with Lambda's Runtime.ExitError (the
    error Lambda gives when the runtime exits mid-invocation, shown in
    https://repost.aws/knowledge-center/lambda-runtime-error) once it has begun
    MAX_STARTS times, and the state's Retry/Catch see that error."""
    from workers.tasks import MAX_STARTS

    deployment.set_grace(600)  # the redeliveries come from Celery at once, not recovery
    deployment.worker()
    client = deployment.client()
    crashing = {"StartAt": "Crash", "States": {"Crash": {
        "Type": "Task", "Resource": FN + "Crash", "End": True}}}
    eid = client.start(json.dumps(crashing), {"dir": str(tmp_path), "key": "c"},
                       machine="crash", name="crash")
    deployment.wait(client, [eid], timeout=60)

    result = result_from_store(client.store, eid)
    assert runs(tmp_path, "c") == MAX_STARTS
    assert (result.status, result.error) == ("FAILED", "Runtime.ExitError")
    cause = json.loads(result.cause or "")
    assert cause["errorType"] == "Runtime.ExitError"
    assert cause["errorMessage"].endswith("Error: Runtime exited without providing a reason")
    assert types(result.events) == [
        "ExecutionStarted", "TaskStateEntered", "LambdaFunctionScheduled",
        "LambdaFunctionStarted", "LambdaFunctionFailed", "ExecutionFailed"]


def test_a_crashing_handler_in_a_shared_message_runs_max_starts_times(
    deployment: Deployment,
    tmp_path: Path,
) -> None:
    """A large Map's iterations share messages (``Runtime._plan``): when the message is
    delivered again after its process died, only the begin of the first task still
    awaited, the one that was running, is counted; here the second of a message, after a
    sibling whose outcome was recorded. It fails at MAX_STARTS as it would alone."""
    from statemachine.runtime.engine import MESSAGES_AT_LEAST
    from workers.tasks import MAX_STARTS

    deployment.set_grace(600)  # the redeliveries come from Celery at once, not recovery
    deployment.worker()
    client = deployment.client()
    which = {"Type": "Choice", "Default": "Double",
             "Choices": [{"Variable": "$.crash", "IsPresent": True, "Next": "Crash"}]}
    mixed = {"StartAt": "Each", "States": {"Each": {
        "Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 0, "End": True,
        "ItemProcessor": {"StartAt": "Which", "States": {
            "Which": which,
            "Double": {"Type": "Task", "Resource": FN + "Double", "End": True},
            "Crash": {"Type": "Task", "Resource": FN + "Crash", "End": True}}}}}}
    items: list[dict[str, Any]] = [{"value": n} for n in range(2 * MESSAGES_AT_LEAST)]
    items[1] = {"dir": str(tmp_path), "key": "c", "crash": True}
    eid = client.start(json.dumps(mixed), {"items": items}, machine="crash", name="shared")
    deployment.wait(client, [eid], timeout=90)

    result = result_from_store(client.store, eid)
    assert runs(tmp_path, "c") == MAX_STARTS
    assert (result.status, result.error) == ("FAILED", "Runtime.ExitError")


def test_duplicate_deliveries_running_at_once_are_recorded_once(
    deployment: Deployment,
    tmp_path: Path,
) -> None:
    # Given an attempt of Hold whose message was delivered twice (as after a recovery
    # re-dispatch whose original was only slow), both copies running on two processes
    expected = expected_hold(tmp_path, "twice")
    deployment.worker(concurrency=2)
    client = deployment.client()
    eid = client.start(
        json.dumps(HOLD), held_input(tmp_path, "k", hold="all"), machine="hold", name="twice"
    )
    poll(lambda: runs(tmp_path, "k") == 1, 30, "the handler to start", deployment.logs)
    snapshot = client.store.load(eid)
    assert snapshot is not None
    [token] = snapshot.state.tasks
    command = client.store.task(eid, token)
    assert isinstance(command, RunTask)
    client.dispatcher.run_task(eid, command, RESENT)
    poll(lambda: runs(tmp_path, "k") == 2, 30, "the second copy to start", deployment.logs)

    # When both complete, each reporting the same completion
    release(tmp_path, "k")
    deployment.wait(client, [eid], timeout=30)

    # Then the completion is recorded once, and the execution went on once
    got = assert_same_transitions(client.store, eid, expected)
    assert types(got.events).count("LambdaFunctionSucceeded") == 2  # Hold's and Twice's
    assert runs(tmp_path, "k") == 2
    # ... and a third report of it, straight to the runtime, changes nothing either
    late = inputs.TaskSucceeded(time=datetime.now(UTC), token=token, output={"value": -1})
    assert not client.task_finished(eid, token, late)
    assert result_from_store(client.store, eid).events == got.events


#: A 500-item Map of Double tasks, all at once.
MAP = {
    "StartAt": "Each",
    "States": {
        "Each": {
            "Type": "Map",
            "ItemsPath": "$.items",
            "MaxConcurrency": 0,
            "ItemSelector": {"value.$": "$$.Map.Item.Value"},
            "ItemProcessor": {
                "StartAt": "Double",
                "States": {"Double": {"Type": "Task", "Resource": FN + "Double", "End": True}},
            },
            "End": True,
        }
    },
}
#: Two Tasks and a Choice: a small execution.
SMALL = {
    "StartAt": "Double",
    "States": {
        "Double": {"Type": "Task", "Resource": FN + "Double", "Next": "Big?"},
        "Big?": {
            "Type": "Choice",
            "Default": "Again",
            "Choices": [{"Variable": "$.value", "NumericGreaterThan": 10**6, "Next": "Done"}],
        },
        "Again": {"Type": "Task", "Resource": FN + "Double", "Next": "Done"},
        "Done": {"Type": "Succeed"},
    },
}
MAP_ITEMS = 500
SMALL_EXECUTIONS = 200
#: A task attempt's deadline runs from its dispatch, queueing included: with a 2 s grace
#: the hundreds of tasks still queued behind the Map would pass their deadlines and be sent
#: again and again (correct, but three times the work; see the report of issue 3). With
#: 15 s, only the killed worker's attempt waits for its deadline (17 s after dispatch).
MAP_GRACE_SECONDS = 15.0


@pytest.mark.parametrize("map_items", [MAP_ITEMS, 1100], ids=["a message each", "shared"])
def test_worker_killed_during_a_500_item_map_and_200_executions(
    deployment: Deployment, map_items: int
) -> None:
    """Also with 1,100 items, whose tasks go four to a message (``Runtime._plan``)."""
    # Given two workers, a 500-item Map and 200 small executions under way
    deployment.set_grace(MAP_GRACE_SECONDS)
    items = list(range(map_items))
    expected_map = local_run(MAP, {"items": items}, machine="map", name="big")
    expected_small = local_run(SMALL, {"value": 1}, machine="small", name="s-0")
    first = deployment.worker(name="worker-a")
    deployment.worker(name="worker-b")
    client = deployment.client()
    map_eid = client.start(json.dumps(MAP), {"items": items}, machine="map", name="big")
    small = [
        client.start(json.dumps(SMALL), {"value": number}, machine="small", name=f"s-{number}")
        for number in range(SMALL_EXECUTIONS)
    ]
    halfway = len(expected_map.events) // 2
    poll(
        lambda: client.store.events(map_eid, halfway, halfway),
        60,
        "the Map to get halfway",
        deployment.logs,
    )

    # When one worker is SIGKILLed in the middle of it all, and started again
    kill_group(first.process)
    deployment.worker(name="worker-a-again")

    # Then every execution completes with the right output, each transition recorded once
    deployment.wait(client, [map_eid, *small], timeout=90)
    assert_same_transitions(client.store, map_eid, expected_map, ordered=False)
    assert expected_map.output == [{"value": 2 * item} for item in items]
    for number, eid in enumerate(small):
        got = assert_same_transitions(client.store, eid, expected_small, compare_output=False)
        assert got.output == {"value": number * 4}, eid
