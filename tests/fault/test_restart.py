"""Everything stops, everything starts again: durable timers and a durable Redis.

DESIGN.md: "a timer due while everything was down fires on restart", "Wait states, retry
backoff and timeouts hold no worker (durable timers in Redis [...])", and the issue's
"Redis restarted (AOF on) mid-run -> nothing lost".
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis

from statemachine.interpreter.commands import StartTimer
from statemachine.runtime.execution import ExecutionResult
from statemachine.runtime.results import result_from_store
from tests.fault.conftest import (
    FN,
    Deployment,
    RedisServer,
    assert_same_transitions,
    kill_group,
    local_run,
    poll,
    types,
)
from tests.fault.test_crashes import MAP, SMALL

pytestmark = [pytest.mark.fault, pytest.mark.timeout(120)]

WAIT_SECONDS = 3
#: A Wait, then a Task.
WAIT = {
    "StartAt": "Nap",
    "States": {
        "Nap": {"Type": "Wait", "SecondsPath": "$.seconds", "Next": "Double"},
        "Double": {"Type": "Task", "Resource": FN + "Double", "End": True},
    },
}
#: A Task whose first attempt fails, retried after WAIT_SECONDS of backoff.
RETRY = {
    "StartAt": "Try",
    "States": {
        "Try": {
            "Type": "Task",
            "Resource": FN + "Flaky",
            "Parameters": {"value.$": "$.value", "attempt.$": "$$.State.RetryCount"},
            "Retry": [{"ErrorEquals": ["Boom"], "IntervalSeconds": WAIT_SECONDS, "MaxAttempts": 2}],
            "End": True,
        }
    },
}
#: What an execution's last event is while it waits on a timer.
WAITING = {"WaitStateEntered", "LambdaFunctionFailed"}


def last_type(result: ExecutionResult) -> str:
    return result.events[-1].type


def test_timers_due_while_every_process_was_down_fire_on_restart(
    deployment: Deployment,
) -> None:
    # Given a worker and a separate scheduler (the workers' own loop off), with executions
    # waiting on Wait states (3 s, and 12 s: due after the restart) and on retry backoff
    deployment.worker(scheduler=False)
    deployment.scheduler()
    client = deployment.client()
    cases: list[tuple[dict[str, Any], dict[str, Any], str]] = [
        *[(WAIT, {"seconds": WAIT_SECONDS, "value": n}, f"wait-{n}") for n in range(4)],
        (WAIT, {"seconds": 4 * WAIT_SECONDS, "value": 4}, "wait-long"),
        *[(RETRY, {"value": n}, f"retry-{n}") for n in range(4)],
    ]
    eids = {
        name: client.start(json.dumps(definition), payload, machine="timers", name=name)
        for definition, payload, name in cases
    }

    def all_waiting() -> bool:
        return all(
            last_type(result_from_store(client.store, eid)) in WAITING for eid in eids.values()
        )

    poll(all_waiting, 30, "every execution to wait on a timer", deployment.logs)

    # When every process is SIGKILLed, and stays down until the short timers are due
    for process in deployment.processes:
        kill_group(process.process)
    frozen = {eid: result_from_store(client.store, eid).events for eid in eids.values()}
    short = {eid for name, eid in eids.items() if name != "wait-long"}

    def short_timers_due() -> bool:
        # A process killed between its append and carrying out the commands leaves the
        # timer in the execution's outbox, not yet in the timer set: the restart's sweep
        # must set it (due by then) too, so both count.
        now = datetime.now(UTC)
        due = {eid for eid, _ in client.store.due_timers(now, 1000)}
        due |= {
            eid for eid in short
            if any(isinstance(c, StartTimer) and c.fire_at <= now
                   for c in client.store.outbox(eid))
        }
        return short <= due

    poll(short_timers_due, 30, "the short timers to come due")
    # nothing fired them while everything was down
    assert {eid: result_from_store(client.store, eid).events for eid in eids.values()} == frozen

    # ... and then the worker and the scheduler start again
    restarted = datetime.now(UTC)
    deployment.worker(scheduler=False, name="worker-again")
    deployment.scheduler(name="scheduler-again")

    # Then every execution completes as on the in-process driver, each timer fired once,
    # and none fired early
    deployment.wait(client, eids.values(), timeout=60)
    for definition, payload, name in cases:
        expected = local_run(definition, payload, machine="timers", name=name)
        got = assert_same_transitions(client.store, eids[name], expected)
        waited = [e for e in got.events if e.type in WAITING][-1]
        fired = got.events[waited.id]  # the event after it: the timer's
        seconds = payload.get("seconds", WAIT_SECONDS)
        assert fired.timestamp - waited.timestamp >= timedelta(seconds=seconds), name
        assert fired.timestamp >= restarted, name
    assert result_from_store(client.store, eids["retry-0"]).output == {"value": 0, "attempts": 2}


def test_redis_killed_and_restarted_mid_run_loses_nothing(
    redis_server: RedisServer,
    deployment: Deployment,
) -> None:
    # Given a Redis of this test's own, append-only with an fsync per write, two workers
    # on it, and a mix of executions under way: a 200-item Map, 40 small executions,
    # Waits and retries
    server = redis_server
    deployment.redis_url = server.url
    deployment.worker(name="worker-a")
    deployment.worker(name="worker-b")
    client = deployment.client()
    items = list(range(200))
    cases: list[tuple[dict[str, Any], Any, str]] = [
        (MAP, {"items": items}, "map"),
        *[(SMALL, {"value": n}, f"small-{n}") for n in range(40)],
        *[(WAIT, {"seconds": 1, "value": n}, f"wait-{n}") for n in range(10)],
        *[(RETRY, {"value": n}, f"retry-{n}") for n in range(10)],
    ]
    eids = {
        name: client.start(json.dumps(definition), payload, machine="aof", name=name)
        for definition, payload, name in cases
    }
    expected_map = local_run(MAP, {"items": items}, machine="aof", name="map")
    third = len(expected_map.events) // 3
    poll(
        lambda: client.store.events(eids["map"], third, third),
        60,
        "the Map to get a third of the way",
        deployment.logs,
    )

    # When Redis is SIGKILLed mid-run and started again on the same port and folder
    server.kill()
    time.sleep(1.0)  # the workers and the client lose their connections meanwhile
    server.start()

    # Then every execution completes, as on the in-process driver
    deployment.wait(client, eids.values(), timeout=90)
    assert_same_transitions(client.store, eids["map"], expected_map, ordered=False)
    for definition, payload, name in cases[1:]:
        expected = local_run(definition, payload, machine="aof", name=name)
        assert_same_transitions(client.store, eids[name], expected)
    assert types(result_from_store(client.store, eids["map"]).events).count(
        "MapIterationSucceeded"
    ) == len(items)


def test_redis_aof_keeps_a_history_across_a_kill(redis_server: RedisServer) -> None:
    """The premise of the test above: what Redis acknowledged is there after a SIGKILL."""
    client = redis.Redis.from_url(redis_server.url)
    client.rpush("history", *[f"event-{n}" for n in range(100)])
    redis_server.kill()
    redis_server.start()
    assert client.lrange("history", 0, -1) == [f"event-{n}".encode() for n in range(100)]
    client.close()
