"""``sfn list`` on a real deployment; listing and paging thousands of executions;
retention; the repair of indexes a crash left behind: the runtime's read side
(``queries.py``, ``indexes.py``, ``settle.py``) against a real Redis.

AWS sources: ListExecutions ("Results are sorted by time, with the most recent execution
first"; ``maxResults`` and ``nextToken``, "Keep all other arguments unchanged"); Standard
execution histories kept 90 days after they close (StartExecution: "You can reuse names
after 90 days").
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from statemachine.runtime.api_errors import InvalidToken
from statemachine.runtime.engine import Runtime
from statemachine.runtime.indexes import STATUSES, micros
from statemachine.runtime.queries import list_executions
from statemachine.runtime.store import RedisHistoryStore
from tests.runtime.conftest import Ops

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

FN = "arn:aws:lambda:us-east-1:123456789012:function:"
CHATTY = json.dumps(
    {
        "StartAt": "Talk",
        "States": {"Talk": {"Type": "Task", "Resource": FN + "Chatty", "End": True}},
    }
)
BOOM = json.dumps(
    {"StartAt": "Fail", "States": {"Fail": {"Type": "Task", "Resource": FN + "Boom", "End": True}}}
)


def test_list_filters_and_pages_newest_first(ops: Ops) -> None:
    names = [f"listed-{number}" for number in range(5)]
    for name in names:
        ops.wait(ops.start(CHATTY, {"tag": name}, machine="listed", name=name))
    ops.wait(ops.start(BOOM, {}, machine="listed-boom", name="listed-failed"))

    everything = json.loads(ops.sfn("list", "--state-machine", "listed", "--json").stdout)
    assert [item["name"] for item in everything["executions"]] == list(reversed(names))
    assert "nextToken" not in everything
    first = everything["executions"][0]
    assert set(first) == {
        "executionArn",
        "stateMachineArn",
        "name",
        "status",
        "startDate",
        "stopDate",
    }
    assert first["stateMachineArn"].endswith(":stateMachine:listed")

    page = json.loads(
        ops.sfn("list", "--state-machine", "listed", "--json", "--max-items", "2").stdout
    )
    assert [item["name"] for item in page["executions"]] == names[:2:-1]
    rest = json.loads(
        ops.sfn(
            "list",
            "--state-machine",
            "listed",
            "--json",
            "--next-token",
            page["nextToken"],
            "--max-items",
            "10",
        ).stdout
    )
    assert [item["name"] for item in rest["executions"]] == names[2::-1]

    failed = json.loads(ops.sfn("list", "--status", "FAILED", "--json").stdout)["executions"]
    assert "listed-failed" in [item["name"] for item in failed]
    assert {item["status"] for item in failed} == {"FAILED"}
    later = datetime.now(UTC) + timedelta(seconds=1)
    assert json.loads(ops.sfn("list", "--since", later.isoformat(), "--json").stdout) == {
        "executions": []
    }

    table = ops.sfn("list", "--state-machine", "listed", "--max-items", "2")
    assert "SUCCEEDED" in table.stdout and "listed-4" in table.stdout
    assert "--next-token" in table.stdout
    wrong = ops.sfn("list", "--state-machine", "listed", "--next-token", "garbage")
    assert wrong.returncode == 1
    assert "(InvalidToken) when calling the ListExecutions operation" in wrong.stderr


# -- thousands of executions -----------------------------------------------------------
def seed(store: RedisHistoryStore, count: int, start: datetime) -> list[dict[str, Any]]:
    """``count`` stopped or running executions, written straight into the store (meta and
    indexes, as ``settle`` writes them), in pipelines of 500. Start times repeat in places,
    to exercise the tie-break on the execution id."""
    rng = random.Random(7)
    made = []
    pipe = store.redis.pipeline(transaction=False)
    for number in range(count):
        machine = ("alpha", "beta")[number % 2]
        name = f"n{number:05d}"
        status = rng.choice(STATUSES)
        began = start + timedelta(milliseconds=number // 3 * 7)  # three at each instant
        eid = f"{machine}:{name}"
        meta = {
            "status": status,
            "indexed": status,
            "machine": machine,
            "name": name,
            "start_date": began.isoformat(),
            "last_event_id": "3",
        }
        if status != "RUNNING":
            meta["stop_date"] = (began + timedelta(seconds=1)).isoformat()
        pipe.hset(store.key(eid, "meta"), mapping=meta)
        store.index.record(pipe, eid, machine, micros(began), status, None)
        made.append(
            {"eid": eid, "machine": machine, "name": name, "status": status, "start": micros(began)}
        )
        if len(pipe) >= 500 * 14:
            pipe.execute()
    pipe.execute()
    return made


def page_through(
    store: RedisHistoryStore, size: int, **filters: Any
) -> tuple[list[dict[str, Any]], list[float]]:
    items: list[dict[str, Any]] = []
    timings = []
    token = None
    while True:
        began = time.perf_counter()
        page = list_executions(store, max_items=size, next_token=token, **filters)
        timings.append(time.perf_counter() - began)
        items += page["executions"]
        token = page.get("nextToken")
        if token is None:
            return items, timings


def expected_order(made: list[dict[str, Any]]) -> list[str]:
    return [m["name"] for m in sorted(made, key=lambda m: (m["start"], m["eid"]), reverse=True)]


def test_listing_and_paging_thousands_of_executions(
    fresh_store: Callable[[], RedisHistoryStore],
    ops: Ops,
    record_property: Any,
) -> None:
    store = fresh_store()
    count = 5000
    began = time.perf_counter()
    made = seed(store, count, datetime(2026, 1, 1, tzinfo=UTC))
    measured = {"executions": count, "seed_seconds": round(time.perf_counter() - began, 3)}

    items, timings = page_through(store, 100)
    names = [item["name"] for item in items]
    assert len(names) == count and len(set(names)) == count  # all of them, each once
    assert names == expected_order(made)  # newest first, ties by id
    measured["pages_of_100"] = len(timings)
    measured["page_ms_median"] = round(sorted(timings)[len(timings) // 2] * 1000, 2)
    measured["page_ms_max"] = round(max(timings) * 1000, 2)
    measured["all_pages_seconds"] = round(sum(timings), 3)
    assert max(timings) < 0.5

    for machine, status in [("alpha", None), (None, "FAILED"), ("beta", "RUNNING")]:
        found, _ = page_through(store, 250, machine=machine, status=status)
        wanted = [
            m
            for m in made
            if (machine is None or m["machine"] == machine)
            and (status is None or m["status"] == status)
        ]
        assert [item["name"] for item in found] == expected_order(wanted)
        assert all(item["status"] == (status or item["status"]) for item in found)
    since = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(milliseconds=7 * 1000)
    found, _ = page_through(store, 100, since=since)
    assert [item["name"] for item in found] == expected_order(
        [m for m in made if m["start"] >= micros(since)]
    )

    # New executions arriving between pages come before the first page: the pages read
    # after them still hold each older execution once.
    first = list_executions(store, max_items=1000)
    Runtime(store, _NoTasks()).start(
        json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}),
        {},
        machine="alpha",
        name="newcomer",
    )
    rest, _ = page_through_from(store, first["nextToken"])
    names = [item["name"] for item in first["executions"] + rest]
    assert names == expected_order(made)
    with pytest.raises(InvalidToken):
        list_executions(store, status="FAILED", next_token=first["nextToken"])

    # The CLI on the same prefix: one page, timed end to end (process start included).
    began = time.perf_counter()
    listed = ops.sfn(
        "list", "--json", "--max-items", "100", env={**ops.env, "SFN_PREFIX": store.prefix}
    )
    measured["cli_list_seconds"] = round(time.perf_counter() - began, 3)
    for key, value in measured.items():
        record_property(key, value)
    print("listing:", json.dumps(measured))
    assert listed.returncode == 0, listed.stderr
    assert [item["name"] for item in json.loads(listed.stdout)["executions"]] == (
        ["newcomer", *expected_order(made)[:99]]
    )


def page_through_from(
    store: RedisHistoryStore, token: str
) -> tuple[list[dict[str, Any]], list[float]]:
    items: list[dict[str, Any]] = []
    while token:
        page = list_executions(store, max_items=1000, next_token=token)
        items += page["executions"]
        token = page.get("nextToken")
    return items, []


class _NoTasks:
    def run_task(self, eid: str, command: Any, sent: str = "") -> None:
        raise AssertionError("no tasks here")

    def task_seconds(self, command: Any) -> float:
        return 1


# -- retention -------------------------------------------------------------------------
def test_stopped_executions_expire_with_their_indexes(
    fresh_store: Callable[[], RedisHistoryStore],
) -> None:
    store = fresh_store()
    short = RedisHistoryStore(store.redis, prefix=store.prefix, retention_seconds=1.5)
    runtime = Runtime(short, _NoTasks())
    passes = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
    waits = json.dumps(
        {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 600, "End": True}}}
    )
    done = runtime.start(passes, {}, machine="kept", name="done")
    running = runtime.start(waits, {}, machine="kept", name="running")
    stopped = runtime.start(waits, {}, machine="kept", name="stopped")
    runtime.stop(stopped)
    assert {i["name"] for i in list_executions(short)["executions"]} == {
        "done",
        "running",
        "stopped",
    }
    for eid in (done, stopped):
        ttls = [short.redis.pttl(key) for key in short.keys_of(eid)[:2]]
        assert all(0 < ttl <= 1500 for ttl in ttls), ttls  # meta and history together
    assert short.redis.pttl(short.key(running, "meta")) == -1

    time.sleep(1.7)
    assert not short.exists(done) and not short.exists(stopped)
    # Until the scheduler prunes them, readers skip the index entries of expired ones.
    assert [i["name"] for i in list_executions(short)["executions"]] == ["running"]
    assert runtime.housekeeping() == 2
    assert short.redis.zcard(short.index.key()) == 1
    assert short.redis.zcard(short.index.key(status="SUCCEEDED")) == 0
    assert short.redis.zcard(short.index.expiring_key) == 0
    assert short.exists(running)
    # The name is free again.
    assert runtime.start(passes, {}, machine="kept", name="done") == done


def test_settle_repairs_indexes_after_a_crash(
    fresh_store: Callable[[], RedisHistoryStore],
) -> None:
    """A writer that died between the append and the index update: the scheduler's sweep
    (``Runtime.recover``) brings the indexes in line with the execution."""
    store = fresh_store()
    runtime = Runtime(store, _NoTasks())
    waits = json.dumps(
        {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 600, "End": True}}}
    )
    eid = runtime.start(waits, {}, machine="crash", name="c1")
    settle = store.settle
    store.settle = lambda eid: None  # type: ignore[method-assign]  # the crash
    runtime.stop(eid)
    store.settle = settle  # type: ignore[method-assign]
    assert store.redis.zcard(store.index.key(status="RUNNING")) == 1
    assert [i["status"] for i in list_executions(store)["executions"]] == ["ABORTED"]
    assert list_executions(store, status="RUNNING")["executions"] == []
    runtime.recover()
    assert store.redis.zcard(store.index.key(status="RUNNING")) == 0
    assert [i["name"] for i in list_executions(store, status="ABORTED")["executions"]] == ["c1"]
    assert store.running() == []
