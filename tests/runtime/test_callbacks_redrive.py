"""Callbacks, redrive and re-run on the durable runtime: a real Redis and a real
``sfn worker`` subprocess (its own prefix, queue and project file, ``recovery.yaml``).

- Callbacks are answered from a second process (``fixtures/answer.py``, the Python API in
  a process of its own), as a person's script or another service would.
- Redrive after failures inside a Task, a Parallel branch and a Map iteration: each
  handler counts its runs in files, and is "fixed" between the runs by removing a flag
  file; what succeeded must not run again. Each history is checked against AWS's
  documented sequence (ExecutionRedriven after the failure, the unfinished states entered
  again) and against ``run_local``'s for the same handlers (one interpreter).
- Re-run (beyond AWS) of an execution, from its start and from a state.

AWS: https://docs.aws.amazon.com/step-functions/latest/dg/redrive-executions.html,
https://docs.aws.amazon.com/step-functions/latest/dg/connect-to-resource.html#connect-wait-token
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis

from statemachine.cli.timeline import build_rows
from statemachine.local import run_local
from statemachine.runtime.api_errors import (
    ExecutionDoesNotExist,
    ExecutionNotRedrivable,
    InvalidToken,
    TaskDoesNotExist,
    TaskTimedOut,
    ValidationException,
)
from statemachine.runtime.engine import Runtime
from statemachine.runtime.execution import ExecutionResult
from statemachine.runtime.queries import describe_execution
from statemachine.runtime.results import result_from_store, wait_for_result
from statemachine.runtime.store import RedisHistoryStore
from tests.runtime.conftest import FIXTURES, ROOT, Worker, start_worker, stop_worker
from workers.celery_app import make_app
from workers.registry import load_project
from workers.tasks import CeleryDispatcher

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

PROJECT = FIXTURES / "recovery.yaml"
ANSWER = FIXTURES / "answer.py"
FN = "arn:aws:lambda:us-east-1:123456789012:function:"
CALLBACK = "arn:aws:states:::lambda:invoke.waitForTaskToken"
ARN = "arn:aws:states:us-east-1:123456789012:execution:"


@dataclass
class Deployment:
    env: dict[str, str]
    runtime: Runtime
    worker: Worker

    @property
    def store(self) -> RedisHistoryStore:
        return self.runtime.store

    def start(self, definition: dict[str, Any], input: Any, machine: str) -> str:
        return self.runtime.start(
            json.dumps(definition), input, machine=machine, name=f"run-{uuid.uuid4().hex[:10]}"
        )

    def wait(self, eid: str, timeout: float = 60) -> ExecutionResult:
        try:
            return wait_for_result(self.store, eid, timeout=timeout)
        except TimeoutError:
            pytest.fail(f"{eid} still running after {timeout} s:\n{self.worker.text()}")

    def answer(self, verb: str, token: str, *args: str) -> subprocess.CompletedProcess[str]:
        """Answer from a process of its own, through the Python API."""
        return subprocess.run(
            [sys.executable, str(ANSWER), verb, token, *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )


# Session-scoped, as the other deployments of tests/runtime: closing a Celery app's pool
# closes kombu's pool for that broker, which later tests' apps share.
@pytest.fixture(scope="session")
def deployment(
    redis_url: str,
    namespace: str,
    sfn_env: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Deployment]:
    prefix = f"{namespace}-rec"
    env = {
        **sfn_env,
        "SFN_PREFIX": prefix,
        "SFN_QUEUE": prefix,
        "SFN_CONFIG": str(PROJECT),
        "PYTHONPATH": str(ROOT),
    }
    # One worker process: tasks run one at a time in the order they were sent, as run_local
    # runs them, so which branch or iteration was in flight at a failure is the same.
    worker = start_worker(env, tmp_path_factory.mktemp("recovery") / "worker.log")
    app = make_app(None, redis_url, PROJECT, prefix=prefix, queue=prefix, scheduler=False)
    store = RedisHistoryStore(redis.Redis.from_url(redis_url), prefix=prefix)
    yield Deployment(env, Runtime(store, CeleryDispatcher(app, load_project(PROJECT))), worker)
    stop_worker(worker)
    store.redis.close()
    # Not app.pool.force_close_all(): kombu shares that pool among every app on the same
    # broker URL, so closing it breaks the other runtime tests' dispatchers.
    app.close()
    assert "Traceback" not in worker.text(), worker.text()


def counted(key: str, **fields: Any) -> dict[str, Any]:
    """A Task of the Counted handler for ``key``, told the folder and the redrive count."""
    return {
        "Type": "Task",
        "Resource": FN + "Counted",
        "Parameters": {
            "dir.$": "$$.Execution.Input.dir",
            "key": key,
            "redrives.$": "$$.Execution.RedriveCount",
        },
        **fields,
    }


class Calls:
    """The counter files of one test (a folder per driver)."""

    def __init__(self, folder: Path, *broken: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        for key in broken:
            (folder / f"broken-{key}").touch()

    def fix(self, key: str) -> None:
        (self.folder / f"broken-{key}").unlink()

    def counts(self) -> dict[str, int]:
        return {
            path.name.removeprefix("calls-"): len(path.read_text().splitlines())
            for path in sorted(self.folder.glob("calls-*"))
        }

    def redrive_counts(self, key: str) -> list[str]:
        return (self.folder / f"calls-{key}").read_text().splitlines()


def shape(events: list[Any]) -> list[tuple[int, int, str]]:
    return [(e.id, e.previous_event_id, e.type) for e in events]


def redrive_both(
    deployment: Deployment,
    tmp_path: Path,
    definition: dict[str, Any],
    input: dict[str, Any],
    broken: str,
    machine: str,
) -> tuple[ExecutionResult, ExecutionResult, Calls, ExecutionResult]:
    """Fail, fix, redrive: on the Redis runtime and with run_local. Returns the durable
    failure, the durable redriven result, the durable counters, the local redriven one."""
    durable_calls = Calls(tmp_path / "durable", broken)
    eid = deployment.start(definition, {**input, "dir": str(durable_calls.folder)}, machine)
    failed = deployment.wait(eid)
    assert failed.status == "FAILED", failed.describe()
    durable_calls.fix(broken)
    deployment.runtime.redrive(eid)
    redriven = deployment.wait(eid)
    local_calls = Calls(tmp_path / "local", broken)
    local = run_local(
        definition, {**input, "dir": str(local_calls.folder)}, project=PROJECT, name=machine
    )
    local_calls.fix(broken)
    local = local.redrive()
    assert local_calls.counts() == durable_calls.counts()
    return failed, redriven, durable_calls, local


def after_failure(failed: ExecutionResult, redriven: ExecutionResult) -> list[Any]:
    """The events the redrive appended; checks the first one is AWS's ExecutionRedriven."""
    assert shape(redriven.events[: len(failed.events)]) == shape(failed.events)
    redrive = redriven.events[len(failed.events)]
    assert (redrive.type, redrive.previous_event_id, redrive.details) == (
        "ExecutionRedriven",
        failed.events[-1].id,
        {"redriveCount": 1},
    )
    return redriven.events[len(failed.events) + 1 :]


# -- redrive ------------------------------------------------------------------------------
def test_redrive_after_a_task_failed(deployment: Deployment, tmp_path: Path) -> None:
    """The failed Task is scheduled again with the input it had; the Task before it is not
    run again; ``$$.Execution.RedriveCount`` is 1 in the redriven attempt; DescribeExecution
    shows redriveCount and redriveDate.
    https://docs.aws.amazon.com/step-functions/latest/dg/redrive-executions.html"""
    definition = {
        "StartAt": "A",
        "States": {
            "A": counted("A", ResultPath="$.a", Next="B"),
            "B": counted("B", ResultPath="$.b", End=True),
        },
    }
    failed, redriven, calls, local = redrive_both(
        deployment, tmp_path, definition, {"order": 7}, "B", "redrive-task"
    )
    assert redriven.status == "SUCCEEDED"
    assert calls.counts() == {"A": 1, "B": 2}
    assert calls.redrive_counts("B") == ["0", "1"]
    assert [e.type for e in after_failure(failed, redriven)] == [
        "TaskStateEntered",
        "LambdaFunctionScheduled",
        "LambdaFunctionStarted",
        "LambdaFunctionSucceeded",
        "TaskStateExited",
        "ExecutionSucceeded",
    ]
    assert shape(redriven.events) == shape(local.events)
    assert redriven.output["b"] == {"key": "B", "redrives": 1}
    eid = redriven.execution_arn.removeprefix(ARN)
    described = describe_execution(deployment.store, eid, datetime.now(UTC))
    assert described["redriveCount"] == 1 and described["status"] == "SUCCEEDED"
    assert "redriveDate" in described
    assert result_from_store(deployment.store, eid).describe()["redriveCount"] == 1


def test_redrive_after_a_parallel_branch_failed(deployment: Deployment, tmp_path: Path) -> None:
    """Only the failed branch and the one aborted with it run again; the branch that
    succeeded keeps its output ("Reschedules and redrives only those branches that failed
    or aborted"). Waits order the branches whatever order the tasks are dispatched in: K0
    succeeds at once, K1 fails after 1 s, K2 is still waiting then and is aborted.
    https://docs.aws.amazon.com/step-functions/latest/dg/redrive-executions.html#redrive-behavior-states"""

    def branch(key: str, pause: int | None) -> dict[str, Any]:
        if pause is None:
            return {"StartAt": key, "States": {key: counted(key, End=True)}}
        return {
            "StartAt": f"Pause{key}",
            "States": {
                f"Pause{key}": {"Type": "Wait", "Seconds": pause, "Next": key},
                key: counted(key, End=True),
            },
        }

    definition = {
        "StartAt": "P",
        "States": {
            "P": {
                "Type": "Parallel",
                "End": True,
                "Branches": [branch("K0", None), branch("K1", 1), branch("K2", 3)],
            }
        },
    }
    failed, redriven, calls, local = redrive_both(
        deployment, tmp_path, definition, {}, "K1", "redrive-parallel"
    )
    assert [e.type for e in failed.events].count("WaitStateAborted") == 1
    assert redriven.status == "SUCCEEDED"
    assert calls.counts() == {"K0": 1, "K1": 2, "K2": 1}
    assert redriven.output == [
        {"key": "K0", "redrives": 0},
        {"key": "K1", "redrives": 1},
        {"key": "K2", "redrives": 1},
    ]
    appended = after_failure(failed, redriven)
    assert [e.details["name"] for e in appended if e.type.endswith("StateEntered")] == [
        "K1",
        "PauseK2",
        "K2",
    ]
    assert [e.type for e in appended][-3:] == [
        "ParallelStateSucceeded",
        "ParallelStateExited",
        "ExecutionSucceeded",
    ]
    assert shape(redriven.events) == shape(local.events)
    # sfn history's timeline: the first attempt as it ended, the redrive, what ran again
    rows = build_rows(redriven.events, redriven.status)
    assert [(row.name, row.label, row.outcome) for row in rows] == [
        ("P", "", "ok"),
        ("K0", "branch 1", "ok"),
        ("PauseK1", "branch 2", "ok"),
        ("PauseK2", "branch 3", "aborted"),
        ("K1", "branch 2", "failed"),
        ("(redriven)", "", "redrive 1"),
        ("K1", "branch 2", "ok"),
        ("PauseK2", "branch 3", "ok"),
        ("K2", "branch 3", "ok"),
    ]


def test_redrive_after_a_map_iteration_failed(deployment: Deployment, tmp_path: Path) -> None:
    """Only the failed iteration and the one aborted with it run again, then the item never
    started; the iteration that succeeded is not run again ("Reschedules and redrives only
    those iterations that failed or aborted"). With MaxConcurrency 2: M1 succeeds at once,
    M3 starts and waits 3 s, M2 fails after 1 s (aborting M3), M4 never starts.
    https://docs.aws.amazon.com/step-functions/latest/dg/redrive-executions.html#redrive-behavior-states"""
    work = {
        "Type": "Task",
        "Resource": FN + "Counted",
        "End": True,
        "Parameters": {
            "dir.$": "$.dir",
            "key.$": "$.key",
            "redrives.$": "$$.Execution.RedriveCount",
        },
    }
    definition = {
        "StartAt": "M",
        "States": {
            "M": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "MaxConcurrency": 2,
                "End": True,
                "ItemSelector": {
                    "key.$": "$$.Map.Item.Value.key",
                    "dir.$": "$.dir",
                    "pause.$": "$$.Map.Item.Value.pause",
                },
                "ItemProcessor": {
                    "StartAt": "Paused",
                    "States": {
                        "Paused": {
                            "Type": "Choice",
                            "Default": "Work",
                            "Choices": [
                                {"Variable": "$.pause", "NumericGreaterThan": 0, "Next": "Pause"}
                            ],
                        },
                        "Pause": {"Type": "Wait", "SecondsPath": "$.pause", "Next": "Work"},
                        "Work": work,
                    },
                },
            }
        },
    }
    items = [
        {"key": "M1", "pause": 0},
        {"key": "M2", "pause": 1},
        {"key": "M3", "pause": 3},
        {"key": "M4", "pause": 0},
    ]
    failed, redriven, calls, local = redrive_both(
        deployment, tmp_path, definition, {"items": items}, "M2", "redrive-map"
    )
    assert [e.type for e in failed.events].count("MapIterationAborted") == 1
    assert redriven.status == "SUCCEEDED"
    assert calls.counts() == {"M1": 1, "M2": 2, "M3": 1, "M4": 1}
    assert [item["key"] for item in redriven.output] == ["M1", "M2", "M3", "M4"]
    appended = after_failure(failed, redriven)
    assert [e.details["index"] for e in appended if e.type == "MapIterationStarted"] == [3]
    assert [e.details["name"] for e in appended if e.type.endswith("StateEntered")][:2] == [
        "Work",
        "Pause",
    ]  # M2 at its failed Task, M3 at the Wait it was aborted in
    assert [e.type for e in appended][-3:] == [
        "MapStateSucceeded",
        "MapStateExited",
        "ExecutionSucceeded",
    ]
    assert shape(redriven.events) == shape(local.events)


def test_refused_redrives_change_nothing(deployment: Deployment, tmp_path: Path) -> None:
    """ExecutionNotRedrivable for a SUCCEEDED or RUNNING execution, ExecutionDoesNotExist
    for none. https://docs.aws.amazon.com/step-functions/latest/apireference/API_RedriveExecution.html"""
    calls = Calls(tmp_path)
    done = deployment.start(
        {"StartAt": "A", "States": {"A": counted("A", End=True)}},
        {"dir": str(calls.folder)},
        "redrive-refused",
    )
    deployment.wait(done)
    before = deployment.store.events(done)
    with pytest.raises(ExecutionNotRedrivable, match="SUCCEEDED"):
        deployment.runtime.redrive(done)
    waiting = deployment.start(asking(), {"dir": str(calls.folder), "key": "r"}, "redrive-refused")
    token_of(calls.folder, "r")
    with pytest.raises(ExecutionNotRedrivable, match="RUNNING"):
        deployment.runtime.redrive(waiting)
    with pytest.raises(ExecutionDoesNotExist):
        deployment.runtime.redrive("redrive-refused:nobody")
    assert deployment.store.events(done) == before
    assert deployment.store.meta(done, "redrive_count") == {}
    deployment.runtime.stop(waiting)


# -- callbacks ----------------------------------------------------------------------------
def asking(**fields: Any) -> dict[str, Any]:
    return {
        "StartAt": "Ask",
        "States": {
            "Ask": {
                "Type": "Task",
                "Resource": CALLBACK,
                "ResultPath": "$.answer",
                "Parameters": {
                    "FunctionName": "Ask",
                    "Payload": {"token.$": "$$.Task.Token", "dir.$": "$.dir", "key.$": "$.key"},
                },
                "Next": "Done",
                **fields,
            },
            "Done": {"Type": "Pass", "End": True},
        },
    }


def token_of(folder: Path, key: str, timeout: float = 30) -> str:
    path = folder / f"token-{key}"
    give_up = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < give_up, f"no token for {key}"
        time.sleep(0.02)
    return path.read_text()


def test_a_callback_answered_from_another_process(deployment: Deployment, tmp_path: Path) -> None:
    """The handler's return is TaskSubmitted; SendTaskSuccess from another process completes
    the task with its output; the same token again is TaskTimedOut ("Provided task does not
    exist anymore") and changes nothing. Sequence as AWS recorded it (LocalStack
    tests/aws/services/stepfunctions/v2/callback/test_callback.snapshot.json)."""
    eid = deployment.start(
        asking(HeartbeatSeconds=20, TimeoutSeconds=60),
        {"dir": str(tmp_path), "key": "k1"},
        "callbacks",
    )
    token = token_of(tmp_path, "k1")
    assert token.startswith(f"{ARN}callbacks:{eid.partition(':')[2]}#")
    # DescribeExecution (beyond AWS) names the task and its token while it can be answered
    described = describe_execution(deployment.store, eid, datetime.now(UTC))
    assert described["awaitingCallbacks"] == [{"stateName": "Ask", "taskToken": token}]
    heartbeat = deployment.answer("heartbeat", token)
    assert heartbeat.stdout.strip() == "ok", heartbeat.stderr
    answered = deployment.answer("success", token, '{"approved": true}')
    assert answered.stdout.strip() == "ok", answered.stderr
    result = deployment.wait(eid)
    assert result.status == "SUCCEEDED"
    assert result.output["answer"] == {"approved": True}
    assert "awaitingCallbacks" not in describe_execution(deployment.store, eid, datetime.now(UTC))
    assert [e.type for e in result.events] == [
        "ExecutionStarted",
        "TaskStateEntered",
        "TaskScheduled",
        "TaskStarted",
        "TaskSubmitted",
        "TaskSucceeded",
        "TaskStateExited",
        "PassStateEntered",
        "PassStateExited",
        "ExecutionSucceeded",
    ]
    submitted = result.events[4].details or {}
    assert json.loads(submitted["output"])["Payload"] == {"asked": "k1"}
    assert submitted["resource"] == "invoke.waitForTaskToken"
    local_folder = tmp_path / "local"
    local_folder.mkdir()
    local = run_local(
        asking(HeartbeatSeconds=20, TimeoutSeconds=60),
        {"dir": str(local_folder), "key": "k1"},
        project=PROJECT,
        name="callbacks",
        callbacks={"Ask": {"Return": {"approved": True}}},
    )
    assert shape(local.events) == shape(result.events)  # one interpreter
    again = deployment.answer("success", token, "{}")
    assert again.returncode == 3
    assert again.stdout.startswith("TaskTimedOut Task Timed Out: 'Provided task does not")
    assert len(deployment.store.events(eid)) == len(result.events)
    with pytest.raises(TaskDoesNotExist):
        deployment.runtime.send_task_success(token.rpartition("#")[0] + "#2", "{}")
    with pytest.raises(InvalidToken):
        deployment.runtime.send_task_heartbeat("nonsense")


def test_a_callback_failure_from_another_process(deployment: Deployment, tmp_path: Path) -> None:
    eid = deployment.start(asking(), {"dir": str(tmp_path), "key": "k2"}, "callbacks")
    token = token_of(tmp_path, "k2")
    failed = deployment.answer("failure", token, "Rejected", "the reviewer said no")
    assert failed.stdout.strip() == "ok", failed.stderr
    result = deployment.wait(eid)
    assert (result.status, result.error, result.cause) == (
        "FAILED",
        "Rejected",
        "the reviewer said no",
    )
    assert [e.type for e in result.events][-2:] == ["TaskFailed", "ExecutionFailed"]


def test_a_callback_nobody_answers_times_out(deployment: Deployment, tmp_path: Path) -> None:
    """TimeoutSeconds covers the wait for the callback (the scheduler's durable timer); an
    answer after it is refused with TaskTimedOut. LocalStack test_callback.snapshot.json,
    test_sqs_wait_for_task_token_timeout."""
    eid = deployment.start(
        asking(TimeoutSeconds=2), {"dir": str(tmp_path), "key": "k3"}, "callbacks"
    )
    token = token_of(tmp_path, "k3")
    result = deployment.wait(eid, timeout=30)
    assert (result.status, result.error) == ("FAILED", "States.Timeout")
    assert [e.type for e in result.events][-3:] == [
        "TaskSubmitted",
        "TaskTimedOut",
        "ExecutionFailed",
    ]
    with pytest.raises(TaskTimedOut):
        deployment.runtime.send_task_success(token, "{}")


# -- re-run -------------------------------------------------------------------------------
RERUN = {
    "StartAt": "Setup",
    "States": {
        "Setup": {"Type": "Pass", "Assign": {"label": "from-setup"}, "Next": "A"},
        "A": counted("A", ResultPath="$.a", Next="B"),
        "B": {
            "Type": "Task",
            "Resource": FN + "Counted",
            "ResultPath": "$.b",
            "End": True,
            "Parameters": {
                "dir.$": "$$.Execution.Input.dir",
                "key": "B",
                "label.$": "$label",
                "seen.$": "$.a",
            },
        },
    },
}


def test_rerun_from_a_state(deployment: Deployment, tmp_path: Path) -> None:
    """Beyond AWS: a new execution that begins at B with the input B got (the last time it
    was entered) and the variables as they were then; A does not run again; both
    executions record the link."""
    calls = Calls(tmp_path, "B")
    original = deployment.start(RERUN, {"dir": str(tmp_path)}, "rerun")
    failed = deployment.wait(original)
    assert failed.status == "FAILED"
    calls.fix("B")
    rerun = deployment.runtime.rerun(original, from_state="B")
    result = deployment.wait(rerun)
    assert result.status == "SUCCEEDED", result.describe()
    assert calls.counts() == {"A": 1, "B": 2}
    entered = [e for e in failed.events if e.type == "TaskStateEntered"]
    assert result.events[1].type == "TaskStateEntered"
    assert result.events[1].details == entered[-1].details  # B's input, as it was
    assert result.input == failed.input  # $$.Execution.Input stays the original's
    assert deployment.store.meta(rerun, "rerun_of", "rerun_from_state") == {
        "rerun_of": failed.execution_arn,
        "rerun_from_state": "B",
    }
    assert deployment.store.reruns(original) == [result.execution_arn]
    assert rerun.startswith("rerun:" + failed.name + "-rerun-")
    # DescribeExecution shows the links both ways, beside AWS's fields
    now = datetime.now(UTC)
    described = describe_execution(deployment.store, rerun, now)
    assert (described["rerunOf"], described["rerunFromState"]) == (failed.execution_arn, "B")
    assert "reruns" not in described
    described = describe_execution(deployment.store, original, now)
    assert described["reruns"] == [result.execution_arn]
    assert "rerunOf" not in described and "rerunFromState" not in described

    whole = deployment.runtime.rerun(original)
    assert deployment.wait(whole).status == "SUCCEEDED"
    assert calls.counts() == {"A": 2, "B": 3}
    assert deployment.store.reruns(original) == [result.execution_arn, f"{ARN}{whole}"]
    described = describe_execution(deployment.store, whole, datetime.now(UTC))
    assert described["rerunOf"] == failed.execution_arn
    assert "rerunFromState" not in described  # from the start
    assert describe_execution(deployment.store, original, datetime.now(UTC))["reruns"] == [
        result.execution_arn,
        f"{ARN}{whole}",
    ]

    given = deployment.runtime.rerun(
        original, from_state="B", input={"a": {"given": True}}, name="given-input"
    )
    assert given == "rerun:given-input"
    assert deployment.wait(given).output["b"] == {"key": "B", "redrives": None}


def test_rerun_refusals(deployment: Deployment, tmp_path: Path) -> None:
    calls = Calls(tmp_path, "A")
    original = deployment.start(RERUN, {"dir": str(tmp_path)}, "rerun")
    deployment.wait(original)
    with pytest.raises(ValidationException, match="never entered"):
        deployment.runtime.rerun(original, from_state="B")
    with pytest.raises(ValidationException, match="not a state of the top-level machine"):
        deployment.runtime.rerun(original, from_state="Nowhere")
    with pytest.raises(ExecutionDoesNotExist):
        deployment.runtime.rerun("rerun:nobody")
    assert deployment.store.reruns(original) == []
    assert calls.counts() == {"A": 1}
