"""The ``sfn`` console script, run as a user runs it: a subprocess from the repository root.

Exit status: 0 when the execution SUCCEEDED (or the definition is valid), 1 when it did
not (or ``validate`` found problems), 2 for a usage error: bad ``--input`` JSON, a missing
file or a definition that cannot be run. Errors name the argument and never show a
traceback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SFN = Path(sys.executable).parent / "sfn"
CONFIG = "definitions/sfn.yaml"
EXAMPLES = ["hello", "order-processing", "fan-out", "enrichment", "poll", "invoices"]
DESCRIBE_KEYS = {
    "executionArn",
    "stateMachineArn",
    "name",
    "status",
    "startDate",
    "stopDate",
    "input",
    "inputDetails",
}
ORDER = {
    "orderId": "ord-2001",
    "customer": {"id": "cus-42", "email": "ada@example.com"},
    "items": [{"sku": "BOOK-001", "quantity": 2}, {"sku": "PEN-007", "quantity": 3}],
    "payment": {"token": "tok_flaky_gateway"},
}


def sfn(*args: str) -> subprocess.CompletedProcess[str]:
    # A wide terminal, so that messages are not wrapped in the middle of a location.
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(
        [str(SFN), *args], cwd=ROOT, capture_output=True, text=True, timeout=120, env=env
    )


def described(process: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    shape = json.loads(process.stdout)
    assert isinstance(shape, dict)
    return shape


def broken_copy(tmp_path: Path) -> Path:
    """order-processing with a misspelt Next and a function the project does not register."""
    definition = json.loads((ROOT / "definitions/order-processing.asl.json").read_text())
    definition["States"]["CheckStock"]["Next"] = "RouteOrdr"
    definition["States"]["ChargePayment"]["Resource"] = (
        "arn:aws:lambda:us-east-1:123456789012:function:ChargeCard"
    )
    path = tmp_path / "broken.asl.json"
    path.write_text(json.dumps(definition, indent=2))
    return path


def assert_usage_error(process: subprocess.CompletedProcess[str], argument: str) -> None:
    assert process.returncode == 2, process.stderr
    assert process.stdout == ""
    assert f"Invalid value for {argument}" in process.stderr
    assert "Traceback" not in process.stderr


# -- run ----------------------------------------------------------------------------------


def test_run_prints_describe_execution_json() -> None:
    """``--json`` prints DescribeExecution's shape: input and output are JSON text
    (https://docs.aws.amazon.com/step-functions/latest/apireference/API_DescribeExecution.html).
    """
    process = sfn(
        "run",
        "definitions/hello.asl.json",
        "--local",
        "--input",
        '{"name": "Ada"}',
        "--config",
        CONFIG,
        "--name",
        "readme-1",
        "--json",
    )

    assert process.returncode == 0, process.stderr
    assert process.stderr == ""
    shape = described(process)
    assert set(shape) == DESCRIBE_KEYS | {"output", "outputDetails"}
    assert shape["executionArn"] == (
        "arn:aws:states:us-east-1:123456789012:execution:hello:readme-1"
    )
    assert shape["stateMachineArn"] == "arn:aws:states:us-east-1:123456789012:stateMachine:hello"
    assert shape["name"] == "readme-1"
    assert shape["status"] == "SUCCEEDED"
    assert isinstance(shape["input"], str)
    assert isinstance(shape["output"], str)
    assert json.loads(shape["input"]) == {"name": "Ada"}
    assert json.loads(shape["output"]) == {"message": "Hello, Ada!"}
    assert shape["inputDetails"] == {"included": True}
    assert shape["outputDetails"] == {"included": True}
    start = datetime.fromisoformat(shape["startDate"])
    stop = datetime.fromisoformat(shape["stopDate"])
    assert start.tzinfo is not None
    assert stop >= start


def test_run_reads_input_from_a_file_and_prints_the_history(tmp_path: Path) -> None:
    """``--input @FILE`` and ``--history``: the events are GetExecutionHistory's, and the
    retry waits (2 s, then 2 * 3 = 6 s) show on the virtual clock
    (https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html)."""
    payload = tmp_path / "order.json"
    payload.write_text(json.dumps(ORDER))
    process = sfn(
        "run",
        "definitions/order-processing.asl.json",
        "--local",
        "--input",
        f"@{payload}",
        "--config",
        CONFIG,
        "--json",
        "--history",
    )

    assert process.returncode == 0, process.stderr
    shape = described(process)
    assert set(shape) == DESCRIBE_KEYS | {"output", "outputDetails", "events"}
    assert shape["status"] == "SUCCEEDED"
    assert json.loads(shape["input"]) == ORDER
    assert json.loads(shape["output"])["paymentAttempts"] == 3
    events = shape["events"]
    assert events[0]["type"] == "ExecutionStarted"
    assert events[-1]["type"] == "ExecutionSucceeded"
    assert [event["id"] for event in events] == list(range(1, len(events) + 1))
    charge = [
        datetime.fromisoformat(event["timestamp"])
        for event in events
        if event["type"] == "LambdaFunctionScheduled"
        and event["lambdaFunctionScheduledEventDetails"]["resource"].endswith(":ChargePayment")
    ]
    assert [(later - charge[0]).total_seconds() for later in charge] == [0, 2, 8]


def test_run_failed_execution_exits_1() -> None:
    order = {**ORDER, "orderId": "ord-2002", "payment": {"token": "tok_declined"}}
    process = sfn(
        "run",
        "definitions/order-processing.asl.json",
        "--local",
        "--input",
        json.dumps(order),
        "--config",
        CONFIG,
        "--json",
    )

    assert process.returncode == 1, process.stderr
    shape = described(process)
    assert set(shape) == DESCRIBE_KEYS | {"error", "cause"}
    assert shape["status"] == "FAILED"
    assert shape["error"] == "PaymentDeclined"
    assert shape["cause"] == (
        "Payment for order ord-2002 failed; 5 units released and the customer notified"
    )


def test_run_timed_out_execution_exits_1_without_waiting() -> None:
    """A 600-second execution timeout passes on the virtual clock."""
    job = {"jobName": "full-export", "source": "s3://x/big.csv", "rows": 10**6}
    began = time.monotonic()
    process = sfn(
        "run",
        "definitions/poll.asl.json",
        "--local",
        "--input",
        json.dumps({**job, "pollIntervalSeconds": 45}),
        "--config",
        CONFIG,
        "--json",
    )
    elapsed = time.monotonic() - began

    assert process.returncode == 1, process.stderr
    shape = described(process)
    assert shape["status"] == "TIMED_OUT"
    assert shape["error"] == "States.Timeout"
    assert "output" not in shape
    start = datetime.fromisoformat(shape["startDate"])
    stop = datetime.fromisoformat(shape["stopDate"])
    assert (stop - start).total_seconds() == 600
    assert elapsed < 30


def test_run_human_output() -> None:
    process = sfn(
        "run", "definitions/hello.asl.json", "--local", "--config", CONFIG, "--name", "people"
    )

    assert process.returncode == 0, process.stderr
    assert "SUCCEEDED" in process.stdout
    assert "arn:aws:states:us-east-1:123456789012:execution:hello:people" in process.stdout
    assert "Hello, World!" in process.stdout


def test_run_bad_input_json_exits_2() -> None:
    process = sfn(
        "run", "definitions/hello.asl.json", "--local", "--input", "{name: Ada}", "--config", CONFIG
    )

    assert_usage_error(process, "'--input'")
    assert "not valid JSON" in process.stderr


def test_run_missing_input_file_exits_2(tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"
    process = sfn(
        "run", "definitions/hello.asl.json", "--local", "--input", f"@{missing}", "--config", CONFIG
    )

    assert_usage_error(process, "'--input'")
    assert f"cannot read '{missing}'" in process.stderr


def test_run_missing_definition_file_exits_2() -> None:
    process = sfn("run", "definitions/nowhere.asl.json", "--local", "--config", CONFIG)

    assert_usage_error(process, "'FILE'")
    assert "cannot read 'definitions/nowhere.asl.json'" in process.stderr


def test_run_missing_config_exits_2() -> None:
    process = sfn("run", "definitions/hello.asl.json", "--local", "--config", "nowhere.yaml")

    assert_usage_error(process, "'--config'")
    assert "nowhere.yaml: file not found" in process.stderr


def test_run_invalid_definition_exits_2_with_locations(tmp_path: Path) -> None:
    broken = broken_copy(tmp_path)
    process = sfn("run", str(broken), "--local", "--config", CONFIG, "--json")

    assert process.returncode == 2, process.stderr
    assert process.stdout == ""
    assert str(broken) in process.stderr
    assert "$.States.CheckStock.Next" in process.stderr
    assert "$.States.ChargePayment.Resource" in process.stderr
    assert "Traceback" not in process.stderr


def test_run_definition_that_is_not_json_exits_2(tmp_path: Path) -> None:
    broken = tmp_path / "truncated.asl.json"
    broken.write_text('{"StartAt": "Greet", "States": {')
    process = sfn("run", str(broken), "--local", "--config", CONFIG)

    assert process.returncode == 2, process.stderr
    assert "Invalid JSON" in process.stderr
    assert "Traceback" not in process.stderr


# -- validate -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", EXAMPLES)
def test_validate_accepts_every_example(name: str) -> None:
    path = f"definitions/{name}.asl.json"
    process = sfn("validate", path, "--config", CONFIG)

    assert process.returncode == 0, process.stderr
    assert f"{path}: valid" in process.stdout

    as_json = sfn("validate", path, "--config", CONFIG, "--json")
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout) == {"result": "OK", "diagnostics": []}


def test_validate_reports_every_problem_with_its_location(tmp_path: Path) -> None:
    """Diagnostics are located like ValidateStateMachineDefinition's
    (https://docs.aws.amazon.com/step-functions/latest/apireference/API_ValidateStateMachineDefinitionDiagnostic.html)."""
    broken = broken_copy(tmp_path)
    process = sfn("validate", str(broken), "--config", CONFIG)

    assert process.returncode == 1
    assert "Traceback" not in process.stderr
    lines = process.stderr.splitlines()
    assert any(line.strip().startswith("$.States.CheckStock.Next:") for line in lines)
    assert any(line.strip().startswith("$.States.ChargePayment.Resource:") for line in lines)

    as_json = sfn("validate", str(broken), "--config", CONFIG, "--json")
    assert as_json.returncode == 1
    report = json.loads(as_json.stdout)
    assert report["result"] == "FAIL"
    locations = {diagnostic["location"] for diagnostic in report["diagnostics"]}
    assert {"$.States.CheckStock.Next", "$.States.ChargePayment.Resource"} <= locations
    assert all(diagnostic["severity"] == "ERROR" for diagnostic in report["diagnostics"])


def test_validate_missing_file_exits_2() -> None:
    process = sfn("validate", "definitions/nowhere.asl.json")

    assert_usage_error(process, "'FILE'")
