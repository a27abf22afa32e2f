"""The history store on a Redis Cluster: three real redis-server nodes, slots split
between them, the runtime's whole lifecycle through redis-py's ``RedisCluster``.

DESIGN.md: "All keys of one execution share a Redis Cluster hash tag, so executions shard."
Every per-execution key carries ``{<machine>:<name>}``, so each atomic step (a Lua script
over the execution's keys) runs on one shard, and the global sets (timers, deadlines,
indexes) are written beside it, never in the same script or transaction. Celery's broker
is not on the cluster (kombu's Redis transport does not speak Cluster): tasks are handed
over here by a recording dispatcher, as the unit-level runtime tests do.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.cluster import ClusterNode, RedisCluster

from statemachine.interpreter import inputs
from statemachine.local import run_local
from statemachine.runtime.embedded import redis_server_binary
from statemachine.runtime.engine import Runtime
from statemachine.runtime.logs import LogEvent
from statemachine.runtime.queries import list_executions
from statemachine.runtime.results import result_from_store
from statemachine.runtime.store import RedisHistoryStore
from tests.runtime.conftest import Recorder

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[2]
SFN = Path(sys.executable).parent / "sfn"
FN = "arn:aws:lambda:us-east-1:123456789012:function:"
SLOTS = 16384
MAP = {"StartAt": "Each", "States": {"Each": {
    "Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 2,
    "ItemProcessor": {"StartAt": "Double", "States": {
        "Double": {"Type": "Task", "Resource": FN + "Double", "End": True}}},
    "End": True}}}


def free_port() -> int:
    """A free port whose cluster bus port (port + 10000) is valid and free too."""
    while True:
        port = random.randint(20000, 50000)
        try:
            for candidate in (port, port + 10000):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        return port


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    """Three primaries, a third of the slots each (no replicas, nothing on disk)."""
    ports = [free_port() for _ in range(3)]
    processes, logs, handles = [], [], []
    for port in ports:
        folder = tmp_path_factory.mktemp(f"node{port}")
        handles.append((folder / "log").open("w"))
        processes.append(subprocess.Popen(
            [redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1",
             "--cluster-enabled", "yes", "--cluster-config-file", str(folder / "nodes.conf"),
             "--dir", str(folder), "--save", "", "--appendonly", "no"],
            stdout=handles[-1], stderr=subprocess.STDOUT))
        logs.append(folder / "log")
    nodes = [redis.Redis(host="127.0.0.1", port=port) for port in ports]
    try:
        for node, log in zip(nodes, logs, strict=True):
            _until(lambda node=node: _answers(node), "a node to answer", detail=log)
        share = SLOTS // len(nodes)
        for number, node in enumerate(nodes):
            last = SLOTS if number == len(nodes) - 1 else (number + 1) * share
            node.execute_command("CLUSTER ADDSLOTS", *range(number * share, last))
        for port in ports[1:]:
            nodes[0].execute_command("CLUSTER MEET", "127.0.0.1", port)
        _until(lambda: all(n.execute_command("CLUSTER INFO").get("cluster_state") == "ok"
                           for n in nodes), "the cluster to be ok")
        client = RedisCluster(startup_nodes=[ClusterNode("127.0.0.1", p) for p in ports])
        _until(lambda: len(client.get_primaries()) == 3, "the client to see 3 primaries")
        yield client
        client.close()
    finally:
        for node in nodes:
            node.close()
        for process in processes:
            process.kill()
            process.wait()
        for handle in handles:
            handle.close()


def _answers(node: redis.Redis) -> bool:
    try:
        return bool(node.ping())
    except redis.ConnectionError:
        return False


def _until(condition: Any, what: str, timeout: float = 30.0, detail: Path | None = None) -> None:
    give_up = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > give_up:
            shown = detail.read_text(errors="replace")[-2000:] if detail else ""
            pytest.fail(f"timed out waiting for {what}\n{shown}")
        time.sleep(0.05)



def work(runtime: Runtime, recorder: Recorder, fail_index: int | None = None) -> int:
    """Run every task sent so far as a worker would: begin it, record its outcome."""
    done = 0
    while recorder.sent:
        eid, command = recorder.sent.pop(0)
        assert runtime.begin_task(eid, command)[0]
        now = datetime.now(UTC)
        started = inputs.TaskStarted(time=now, token=command.token)
        if command.payload == fail_index:
            outcome: inputs._Input = inputs.TaskFailed(
                time=now, token=command.token, error="Boom", cause="the item was bad")
            recorder.sent.clear()  # the failure aborts its siblings: their results come late
        else:
            outcome = inputs.TaskSucceeded(
                time=now, token=command.token, output=command.payload * 2)
        runtime.task_finished(eid, command.token, [started, outcome])
        done += 1
    return done


def test_the_runtime_runs_on_a_redis_cluster(cluster: RedisCluster) -> None:
    """Start, Map iterations, failure, redrive, stop, listing, logs, re-run and the
    scheduler's tick, on three shards; the same result as the in-process driver."""
    recorder = Recorder()
    store = RedisHistoryStore(cluster, prefix="cl")
    runtime = Runtime(store, recorder)
    text = json.dumps(MAP)

    ok = runtime.start(text, {"items": [1, 2, 3]}, machine="m", name="ok")
    assert work(runtime, recorder) == 3
    result = result_from_store(store, ok)
    local = run_local(text, {"items": [1, 2, 3]}, name="m", execution_name="ok",
                      handlers={"Double": lambda event, context: event * 2})
    assert (result.status, result.output) == ("SUCCEEDED", [2, 4, 6])
    assert [e.type for e in result.events] == [e.type for e in local.events]

    # Every key of one execution hashes to one slot: the hash tag keeps it on one shard.
    slots = {cluster.keyslot(key) for key in cluster.scan_iter(match="cl:{m:ok}:*")}
    assert len(slots) == 1
    # ... and executions spread over the shards.
    names = [f"spread-{n}" for n in range(12)]
    for name in names:
        runtime.start(text, {"items": []}, machine="m", name=name)
    nodes = {cluster.get_node_from_key(f"cl:{{m:{name}}}:meta").name for name in names}
    assert len(nodes) > 1

    failed = runtime.start(text, {"items": [1, 2, 3]}, machine="m", name="failed")
    work(runtime, recorder, fail_index=1)
    assert store.status(failed) == "FAILED"
    runtime.redrive(failed)
    work(runtime, recorder)
    assert (store.status(failed), result_from_store(store, failed).output) == (
        "SUCCEEDED", [2, 4, 6])

    stopped = runtime.start(text, {"items": [1]}, machine="m", name="stopped")
    runtime.stop(stopped, error="Halted", cause="by the test")
    assert store.status(stopped) == "ABORTED"
    recorder.sent.clear()

    listed = list_executions(store, machine="m", max_items=100)["executions"]
    assert {item["name"] for item in listed} >= {"ok", "failed", "stopped", *names}

    store.logs.write([LogEvent(timestamp=1, message="hello", request_id="r", function="Double",
                               execution=ok, state="Double", stream="s")])
    assert [e.message for _, e in store.logs.for_execution(ok).events] == ["hello"]
    assert [e.message for _, e in store.logs.for_function("Double").events] == ["hello"]

    again = runtime.rerun(ok)
    work(runtime, recorder)
    assert result_from_store(store, again).output == [2, 4, 6]
    runtime.tick()  # timers, recovery and housekeeping across the shards


@pytest.mark.slow
def test_sfn_worker_and_run_keep_the_history_on_a_cluster(
    cluster: RedisCluster, redis_url: str, namespace: str
) -> None:
    """A deployment whose history store is a Redis Cluster (SFN_REDIS_CLUSTER=1, REDIS_URL
    naming one node) and whose broker is a plain Redis (SFN_BROKER_URL): a real worker runs
    the task, ``sfn run`` and ``sfn list`` read the cluster. Without a broker URL the
    worker refuses to start, naming what is missing."""
    node = cluster.get_primaries()[0]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SFN_", "REDIS_"))}
    env |= {
        "REDIS_URL": f"redis://{node.host}:{node.port}/0",
        "SFN_REDIS_CLUSTER": "1",
        "SFN_PREFIX": "clrun",
        "SFN_CONFIG": str(ROOT / "definitions" / "sfn.yaml"),
        "SFN_TICK_SECONDS": "0.1",
    }
    refused = subprocess.run([str(SFN), "worker"], env=env, capture_output=True, text=True,
                             timeout=60)
    assert refused.returncode == 2
    assert "SFN_REDIS_CLUSTER=1 needs SFN_BROKER_URL" in refused.stderr

    env |= {"SFN_BROKER_URL": redis_url, "SFN_QUEUE": f"{namespace}-cluster"}
    worker = subprocess.Popen([str(SFN), "worker", "--concurrency", "1", "--loglevel",
                               "WARNING"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        run = subprocess.run(
            [str(SFN), "run", str(ROOT / "definitions" / "hello.asl.json"), "--input",
             '{"name": "Ada"}', "--name", "on-cluster", "--json"],
            env=env, capture_output=True, text=True, timeout=90)
        assert run.returncode == 0, run.stderr
        assert json.loads(json.loads(run.stdout)["output"]) == {"message": "Hello, Ada!"}
        listed = subprocess.run([str(SFN), "list", "--json"], env=env, capture_output=True,
                                text=True, timeout=60)
        assert [e["name"] for e in json.loads(listed.stdout)["executions"]] == ["on-cluster"]
        store = RedisHistoryStore(cluster, prefix="clrun")
        assert store.status("hello:on-cluster") == "SUCCEEDED"
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
