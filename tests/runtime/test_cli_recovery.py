"""The recovery verbs through the real ``sfn`` script against Redis and a worker:
``redrive``, ``rerun``, ``send-task-*`` (the Python API behind them is tested in
test_callbacks_redrive.py; this proves the CLI wiring, its JSON and its refusals), and
README's "A failed job, fixed and redriven" story, command by command."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from statemachine.runtime.results import result_from_store
from tests.runtime.conftest import ROOT, SFN, Ops, poll, start_worker, stop_worker
from tests.runtime.test_operations import ARN, BOOM

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


def status(ops: Ops, eid: str) -> Any:
    return result_from_store(ops.store, eid).status


def lines(shown: subprocess.CompletedProcess[str]) -> list[str]:
    """The readable output's lines, each with its runs of spaces made one."""
    assert shown.returncode == 0, shown.stderr
    return [" ".join(line.split()) for line in shown.stdout.splitlines()]


def test_redrive_and_rerun_a_failed_execution(ops: Ops) -> None:
    # Given an execution that failed in its only Task
    eid = ops.start(BOOM, {"n": 1}, machine="cli-recovery", name="boom")
    poll(lambda: status(ops, eid) == "FAILED", 30, "the execution to fail")

    # When it is redriven, the history goes on with ExecutionRedriven and the Task runs again
    redriven = ops.sfn("redrive", eid, "--json")
    assert redriven.returncode == 0, redriven.stderr
    assert "redriveDate" in json.loads(redriven.stdout)
    poll(
        lambda: [e.type for e in result_from_store(ops.store, eid).events].count(
            "LambdaFunctionFailed"
        )
        == 2,
        30,
        "the redriven task to fail again",
    )
    types = [e.type for e in result_from_store(ops.store, eid).events]
    assert "ExecutionRedriven" in types
    assert types[-1] == "ExecutionFailed"

    # And a re-run is a new execution with the original input
    rerun = ops.sfn("rerun", eid, "--name", "boom-again", "--json")
    assert rerun.returncode == 0, rerun.stderr
    assert json.loads(rerun.stdout) == {"executionArn": f"{ARN}cli-recovery:boom-again"}
    poll(lambda: status(ops, "cli-recovery:boom-again") == "FAILED", 30, "the re-run")
    assert result_from_store(ops.store, "cli-recovery:boom-again").input == {"n": 1}

    # And describe links them both ways: --json beside AWS's fields, and readable
    again = json.loads(ops.sfn("describe", "cli-recovery:boom-again", "--json").stdout)
    assert again["rerunOf"] == f"{ARN}cli-recovery:boom"
    assert "rerunFromState" not in again and "reruns" not in again
    first = json.loads(ops.sfn("describe", eid, "--json").stdout)
    assert first["reruns"] == [f"{ARN}cli-recovery:boom-again"]
    assert "rerunOf" not in first
    from_state = ops.sfn("rerun", eid, "--from", "Fail", "--name", "boom-from", "--json")
    assert from_state.returncode == 0, from_state.stderr
    shown = lines(ops.sfn("describe", "cli-recovery:boom-from"))
    assert f"re-run of {ARN}cli-recovery:boom (from state Fail)" in shown
    shown = lines(ops.sfn("describe", eid))
    at = shown.index(f"re-runs {ARN}cli-recovery:boom-again")
    assert shown[at + 1] == f"{ARN}cli-recovery:boom-from"
    poll(lambda: status(ops, "cli-recovery:boom-from") == "FAILED", 30, "the re-run from Fail")


def test_refusals_exit_1_with_the_aws_error(ops: Ops) -> None:
    invalid = ops.sfn("send-task-success", "not-a-token", "{}")
    assert invalid.returncode == 1
    assert "InvalidToken" in invalid.stderr
    missing = ops.sfn("redrive", "cli-recovery:no-such-execution")
    assert missing.returncode == 1
    assert "ExecutionDoesNotExist" in missing.stderr
    heartbeat = ops.sfn("send-task-heartbeat", f"{ARN}cli-recovery:nothing#3")
    assert heartbeat.returncode == 1
    assert "TaskDoesNotExist" in heartbeat.stderr or "TaskTimedOut" in heartbeat.stderr


# -- README.md's story: run, watch, see why it failed, fix, redrive, answer, finish ------
BILLING_RUN = {
    "period": "2026-04",
    "customers": [
        {"id": "acme", "units": 1200},
        {"id": "globex", "units": 300},
        {"id": "initech", "units": 0},
        {"id": "umbrella", "units": 50},
        {"id": "hooli", "units": 800},
    ],
}
#: The line of definitions/handlers/billing.py that README's story fixes, and its fix.
BUG = '        "perUnit": round(total / units, 4),\n'
FIX = '        "perUnit": round(total / units, 4) if units else None,\n'


def test_the_readme_story_fail_fix_redrive_approve(
    sfn_env: dict[str, str], namespace: str, tmp_path: Path
) -> None:
    # Given a copy of definitions/ (so that its handler can be fixed) and a worker for it
    project = tmp_path / "definitions"
    shutil.copytree(ROOT / "definitions", project, ignore=shutil.ignore_patterns(".sfn*"))
    prefix = f"{namespace}-story"
    env = {**sfn_env, "SFN_PREFIX": prefix, "SFN_QUEUE": prefix,
           "SFN_CONFIG": str(project / "sfn.yaml")}

    def sfn(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(SFN), *args], cwd=project, env=env, capture_output=True,
                              text=True, timeout=60)

    worker = start_worker(env, tmp_path / "worker-1.log", "--concurrency", "2")
    watch: subprocess.Popen[str] | None = None
    try:
        # When the job runs, followed, it fails on the customer without usage
        run = sfn("run", "invoices.asl.json", "--name", "2026-04", "--follow",
                  "--input", json.dumps(BILLING_RUN))
        assert run.returncode == 1, run.stderr
        assert "BuildInvoices: " in run.stderr and run.stderr.rstrip().endswith("FAILED")
        assert run.stdout.startswith(f"FAILED {ARN}invoices:2026-04\nerror: ZeroDivisionError")

        # Then describe, history and logs tell why
        described = json.loads(sfn("describe", "invoices:2026-04", "--json").stdout)
        assert (described["status"], described["error"]) == ("FAILED", "ZeroDivisionError")
        assert described["redriveStatus"] == "REDRIVABLE"
        timeline = lines(sfn("history", "invoices:2026-04"))
        failed = [row for row in timeline if row.startswith("[2] ")]
        assert failed[0].endswith(" failed · ZeroDivisionError"), timeline
        logged = sfn("logs", "invoices:2026-04").stdout
        assert "[ERROR] ZeroDivisionError: float division by zero" in logged
        assert BUG.strip() in logged

        # When the handler is fixed, its worker restarted and the execution redriven
        handler = project / "handlers" / "billing.py"
        assert handler.read_text().count(BUG) == 1
        handler.write_text(handler.read_text().replace(BUG, FIX))
        stop_worker(worker)
        worker = start_worker(env, tmp_path / "worker-2.log", "--concurrency", "2")
        redriven = sfn("redrive", "invoices:2026-04")
        assert redriven.returncode == 0 and redriven.stdout.startswith("redriven at ")
        watch = subprocess.Popen([str(SFN), "watch", "invoices:2026-04"], cwd=project, env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

        # Then it waits for the approval, whose token describe and the logs show
        def awaiting() -> Any:
            shape = json.loads(sfn("describe", "invoices:2026-04", "--json").stdout)
            return shape.get("awaitingCallbacks")

        callbacks = poll(awaiting, 30, "the approval request", lambda: worker.text())
        assert [each["stateName"] for each in callbacks] == ["RequestApproval"]
        token = callbacks[0]["taskToken"]
        assert f"Approve with: sfn send-task-success {token} " in sfn(
            "logs", "invoices:2026-04").stdout
        shown = lines(sfn("describe", "invoices:2026-04"))
        assert f"awaiting {token} (RequestApproval)" in shown, shown
        assert "waiting for callback" in sfn("history", "invoices:2026-04").stdout

        # When it is approved, it finishes; the token cannot be used again
        approved = sfn("send-task-success", token, '{"approvedBy": "ada"}')
        assert (approved.returncode, approved.stdout) == (0, "task succeeded\n"), approved.stderr
        out, err = watch.communicate(timeout=60)
        assert watch.returncode == 0, err
        assert "in flight: RequestApproval (waiting for callback)" in " ".join(err.split())
        assert out.startswith(f"SUCCEEDED {ARN}invoices:2026-04\n")
        assert json.loads(out.partition("\n")[2]) == {
            "period": "2026-04", "sent": 5, "total": 687.5, "approvedBy": "ada"}
        again = sfn("send-task-success", token, "{}")
        assert again.returncode == 1 and "(TaskTimedOut)" in again.stderr

        # And the iterations that succeeded before the redrive did not run again
        events = json.loads(sfn("history", "invoices:2026-04", "--json").stdout)["events"]
        cut = next(i for i, e in enumerate(events) if e["type"] == "ExecutionRedriven")
        kept = {e["mapIterationSucceededEventDetails"]["index"] for e in events[:cut]
                if e["type"] == "MapIterationSucceeded"}
        # (MaxConcurrency 2: item 2 starts once item 0 or 1 has succeeded)
        assert kept & {0, 1} and 2 not in kept
        redone = [
            e for e in events[cut:] if e["type"] == "LambdaFunctionScheduled"
            and e["lambdaFunctionScheduledEventDetails"]["resource"].endswith(":BuildInvoice")
        ]
        assert len(redone) == len(BILLING_RUN["customers"]) - len(kept)
        logged = sfn("logs", "invoices:2026-04").stdout
        for index in kept:
            customer = BILLING_RUN["customers"][index]["id"]
            assert logged.count(f"built INV-2026-04-{customer}:") == 1, logged
        timeline = lines(sfn("history", "invoices:2026-04"))
        assert any(row.endswith(" (redriven) redrive 1") for row in timeline), timeline
    finally:
        if watch is not None and watch.poll() is None:
            watch.kill()
            watch.communicate()
        stop_worker(worker)
    assert "Traceback" not in worker.text(), worker.text()
