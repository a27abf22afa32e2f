"""``sfn run`` without ``--local``, ``sfn worker`` and ``sfn scheduler``, run as a user runs
them: subprocesses of the installed console script.

- With ``REDIS_URL`` unset, ``sfn run`` starts an embedded Redis (data in ``.sfn/`` next to
  the project file), a worker and a scheduler in its own process, and stops them all.
- With ``REDIS_URL`` set, it runs on the session's deployment (its ``sfn worker``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis

from statemachine.runtime.engine import Runtime
from statemachine.runtime.results import result_from_store
from statemachine.runtime.store import RedisHistoryStore
from tests.runtime.conftest import Recorder

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

ROOT = Path(__file__).resolve().parents[2]
SFN = Path(sys.executable).parent / "sfn"
HELLO = str(ROOT / "definitions" / "hello.asl.json")


def sfn(*args: str, env: dict[str, str], cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SFN), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=80)


def without_redis_url() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SFN_", "REDIS_"))}
    return {**env, "COLUMNS": "200", "NO_COLOR": "1"}


@pytest.mark.slow
def test_run_without_redis_url_uses_an_embedded_redis_and_worker(tmp_path: Path) -> None:
    project = tmp_path / "sfn.yaml"
    shutil.copy(ROOT / "definitions" / "sfn.yaml", project)  # handlers by dotted path

    started = time.monotonic()
    process = sfn("run", HELLO, "--config", str(project), "--input", '{"name": "Ada"}',
                  "--name", "embedded-1", "--json", "--history",
                  env=without_redis_url(), cwd=tmp_path)
    elapsed = time.monotonic() - started

    assert process.returncode == 0, process.stderr
    shape = json.loads(process.stdout)
    assert shape["status"] == "SUCCEEDED"
    assert json.loads(shape["output"]) == {"message": "Hello, Ada!"}
    assert shape["name"] == "embedded-1"
    assert shape["executionArn"].endswith(":execution:hello:embedded-1")
    assert [event["type"] for event in shape["events"]][-1] == "ExecutionSucceeded"
    # The same DescribeExecution shape as --local, field for field.
    local = sfn("run", HELLO, "--local", "--config", str(project), "--input",
                '{"name": "Ada"}', "--name", "embedded-1", "--json", "--history",
                env=without_redis_url())
    expected = json.loads(local.stdout)
    assert shape.keys() == expected.keys()
    for key in ("executionArn", "stateMachineArn", "name", "status", "input", "output"):
        assert shape[key] == expected[key]
    assert [e["type"] for e in shape["events"]] == [e["type"] for e in expected["events"]]
    # The data stayed next to the project file, and the server is gone.
    data = tmp_path / ".sfn"
    assert (data / "appendonly.aof").stat().st_size > 0
    assert not (data / "redis.json").exists()
    assert "bye bye" in (data / "redis.log").read_text()
    assert elapsed < 30

    # Again, for people: the same folder's data is picked up by a new server.
    again = sfn("run", HELLO, "--config", str(project), env=without_redis_url(), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("SUCCEEDED arn:aws:states:")
    assert ":execution:hello:" in again.stdout
    assert '"message": "Hello, World!"' in again.stdout


@pytest.mark.slow
def test_run_without_redis_url_fails_with_exit_1(tmp_path: Path) -> None:
    project = tmp_path / "sfn.yaml"
    shutil.copy(ROOT / "definitions" / "sfn.yaml", project)
    order = {"orderId": "o-1", "customer": {"id": "c", "email": "e@example.com"},
             "items": [{"sku": "BOOK-001", "quantity": 1}], "payment": {"token": "tok_declined"}}
    process = sfn("run", str(ROOT / "definitions" / "order-processing.asl.json"), "--config",
                  str(project), "--input", json.dumps(order), "--json",
                  env=without_redis_url(), cwd=tmp_path)
    assert process.returncode == 1, process.stderr
    assert json.loads(process.stdout)["error"] == "PaymentDeclined"


def test_run_with_redis_url_uses_the_deployment(durable: Any, sfn_env: dict[str, str]) -> None:
    process = sfn("run", HELLO, "--config", sfn_env["SFN_CONFIG"], "--input",
                  '{"name": "Grace"}', "--name", "via-redis-url", "--json", env=sfn_env)
    assert process.returncode == 0, process.stderr
    shape = json.loads(process.stdout)
    assert shape["status"] == "SUCCEEDED"
    assert json.loads(shape["output"]) == {"message": "Hello, Grace!"}
    # Recorded in the deployment's Redis, under its prefix, and run by its worker.
    stored = result_from_store(durable.runtime.store, "hello:via-redis-url")
    assert stored.describe() == shape
    assert "Task sfn.run_handler[" in durable.worker.text()


def test_run_refuses_an_invalid_definition_before_touching_redis(tmp_path: Path) -> None:
    broken = tmp_path / "broken.asl.json"
    broken.write_text(json.dumps({"StartAt": "Nowhere", "States": {
        "A": {"Type": "Pass", "End": True}}}))
    env = {**without_redis_url(), "REDIS_URL": "redis://127.0.0.1:1/0"}  # nothing there
    process = sfn("run", str(broken), "--json", env=env, cwd=tmp_path)
    assert process.returncode == 2
    assert "$.StartAt" in process.stderr
    assert "Traceback" not in process.stderr


def test_run_with_an_unreachable_redis_exits_2(tmp_path: Path) -> None:
    env = {**without_redis_url(), "REDIS_URL": "redis://127.0.0.1:1/0"}
    process = sfn("run", HELLO, "--config", str(ROOT / "definitions" / "sfn.yaml"),
                  env=env, cwd=tmp_path)
    assert process.returncode == 2
    assert "cannot reach redis://127.0.0.1:1/0" in process.stderr
    assert "Traceback" not in process.stderr



def test_sfn_scheduler_fires_timers_until_sigterm(
    fresh_store: Callable[[], RedisHistoryStore], sfn_env: dict[str, str],
) -> None:
    """The scheduler on its own: an execution waiting on a timer finishes while
    ``sfn scheduler`` runs (no worker serves this prefix), and SIGTERM stops it cleanly."""
    store = fresh_store()
    runtime = Runtime(store, Recorder())
    waits = json.dumps({"StartAt": "Pause", "States": {
        "Pause": {"Type": "Wait", "Seconds": 1, "End": True}}})
    eid = runtime.start(waits, {"x": 1}, machine="waits", name="w1")
    process = subprocess.Popen(
        [str(SFN), "scheduler", "--interval", "0.1"],
        cwd=ROOT, env={**sfn_env, "SFN_PREFIX": store.prefix},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while store.status(eid) == "RUNNING":
            assert time.monotonic() < deadline, "the timer did not fire"
            time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    assert result_from_store(store, eid).output == {"x": 1}
    assert "Traceback" not in err


@pytest.mark.slow
def test_run_on_a_deployment_without_workers_says_so_and_ctrl_c_leaves_it_running(
    redis_url: str, namespace: str, sfn_env: dict[str, str]
) -> None:
    """With REDIS_URL set, ``sfn run`` waits on the deployment's workers: when none has
    begun its task after NO_WORKER_SECONDS it says so (instead of waiting in silence), and
    Ctrl-C stops the waiting, not the execution, which a worker can still run later."""
    lonely = f"{namespace}-noworker"  # no worker serves this queue
    env = {**sfn_env, "SFN_PREFIX": lonely, "SFN_QUEUE": lonely}
    process = subprocess.Popen(
        [str(SFN), "run", HELLO, "--config", env["SFN_CONFIG"], "--input", '{"name": "Ada"}',
         "--name", "lonely"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    try:
        assert process.stderr is not None
        hint = process.stderr.readline()  # blocks until the hint (or the end)
        assert "no worker has begun 1 task(s) of this execution" in hint
        assert f"queue '{lonely}'" in hint
        assert process.poll() is None
        process.send_signal(signal.SIGINT)
        _, rest = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130
    assert "the execution goes on" in rest
    store = RedisHistoryStore(redis.Redis.from_url(redis_url), prefix=lonely)
    assert store.status("hello:lonely") == "RUNNING"
    assert store.unstarted_tasks("hello:lonely") == 1
    store.redis.close()
