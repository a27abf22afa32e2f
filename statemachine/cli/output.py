"""How the CLI shows things: JSON for machines (--json), rich text for people."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table

from statemachine.errors import Diagnostic
from statemachine.runtime.execution import ExecutionResult

#: Task tokens of awaited callbacks that ``print_describe`` shows (``--json``: all).
SHOWN_TOKENS = 5
_STATUS_STYLE = {"SUCCEEDED": "green", "FAILED": "red", "TIMED_OUT": "yellow", "ABORTED": "yellow"}


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))


def print_diagnostics(console: Console, file: str, diagnostics: list[Diagnostic]) -> None:
    console.print(f"[red]{file}: {len(diagnostics)} problem(s)[/red]")
    for diagnostic in diagnostics:
        console.print(
            f"  [bold]{diagnostic.location}[/bold]: {diagnostic.message}", highlight=False
        )


def print_execution(console: Console, result: ExecutionResult, history: bool) -> None:
    style = _STATUS_STYLE.get(result.status, "white")
    console.print(f"[{style}]{result.status}[/{style}] {result.execution_arn}", highlight=False)
    if result.status == "SUCCEEDED":
        console.print_json(json.dumps(result.output))
    if result.error is not None or result.cause is not None:
        console.print(f"error: {result.error}", highlight=False)
        console.print(f"cause: {result.cause}", highlight=False)
    if history:
        table = Table("id", "prev", "type", "details")
        for event in result.events:
            details = json.dumps(event.details, ensure_ascii=False) if event.details else ""
            table.add_row(str(event.id), str(event.previous_event_id), event.type, details[:120])
        console.print(table)


def status_text(status: str) -> str:
    style = _STATUS_STYLE.get(status, "cyan")
    return f"[{style}]{status}[/{style}]"


def short_time(text: str | None) -> str:
    """``2024-05-01T12:00:00.123456+00:00`` as ``2024-05-01 12:00:00``."""
    return text[:19].replace("T", " ") if text else ""


def duration(seconds: float) -> str:
    seconds = max(0.0, seconds)  # events timed by different processes' clocks
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.2f} s"
    minutes, rest = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{rest:02d}" if hours else f"{minutes}:{rest:02d}"


def _took(item: dict[str, Any]) -> str:
    from datetime import datetime

    if not item.get("stopDate"):
        return ""
    start = datetime.fromisoformat(item["startDate"])
    stop = datetime.fromisoformat(item["stopDate"])
    return duration((stop - start).total_seconds())


def print_executions(console: Console, shape: dict[str, Any]) -> None:
    """ListExecutions as a table, newest first, and how to get the next page."""
    executions = shape["executions"]
    if not executions:
        console.print("no executions")
    else:
        table = Table("status", "state machine", "name", "started (UTC)", "took", box=None)
        for item in executions:
            machine = item["stateMachineArn"].rsplit(":", 1)[-1]
            table.add_row(
                status_text(item["status"]),
                machine,
                item["name"],
                short_time(item["startDate"]),
                _took(item),
            )
        console.print(table)
    if shape.get("nextToken"):
        console.print(f"more: --next-token {shape['nextToken']}", highlight=False)


def _rerun_of(shape: dict[str, Any]) -> str:
    if "rerunOf" not in shape:
        return ""
    begun = shape.get("rerunFromState")
    return f"{shape['rerunOf']} " + (f"(from state {begun})" if begun else "(from the start)")


def _awaiting(callbacks: list[dict[str, str]]) -> str:
    lines = [f"{each['taskToken']} ({each['stateName']})" for each in callbacks[:SHOWN_TOKENS]]
    if len(callbacks) > SHOWN_TOKENS:
        lines.append(f"... {len(callbacks) - SHOWN_TOKENS} more (--json lists them all)")
    return "\n".join(lines)


def print_describe(console: Console, shape: dict[str, Any]) -> None:
    """DescribeExecution, one field a line, input and output as JSON; the re-run links and
    the task tokens of awaited callbacks."""
    console.print(f"{status_text(shape['status'])} {shape['executionArn']}", highlight=False)
    rows = [
        ("state machine", shape["stateMachineArn"]),
        ("started", shape["startDate"]),
        ("stopped", shape.get("stopDate", "")),
        ("took", _took(shape)),
        ("error", shape.get("error")),
        ("cause", shape.get("cause")),
        ("redrives", str(shape.get("redriveCount", 0))),
        (
            "redrive",
            " - ".join(
                filter(None, [shape.get("redriveStatus"), shape.get("redriveStatusReason")])
            ),
        ),
        ("re-run of", _rerun_of(shape)),
        ("re-runs", "\n".join(shape.get("reruns", []))),
        ("awaiting", _awaiting(shape.get("awaitingCallbacks", []))),
    ]
    table = Table(show_header=False, box=None)
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold")  # an ARN is folded, never cut short with "…"
    for label, value in rows:
        if value:
            table.add_row(f"[bold]{label}[/bold]", str(value))
    console.print(table)
    console.print("[bold]input[/bold]")
    console.print_json(shape["input"])
    if "output" in shape:
        console.print("[bold]output[/bold]")
        console.print_json(shape["output"])
