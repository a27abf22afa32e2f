"""``sfn history``'s readable timeline: each state entered, how long it took, its retries
and errors, built from the history events alone.

Which events belong to which state: each event's ``previousEventId`` points at the event
before it in the same branch of the execution (the same Map iteration or Parallel branch),
so walking back from any event reaches the ``...StateEntered`` of the state it happened
in. A state entered right after ``MapIterationStarted`` or ``ParallelStateStarted`` is the
first of an iteration or branch, one level deeper. The states of a Map's iterations are
summed up per state (how many, how many failed, the slowest, the errors) instead of one
row per iteration; failed iterations are listed (up to ``SHOWN_FAILURES``).

A redrive (``ExecutionRedriven``) is a row of its own; the Map or Parallel states it
carries on are open again, and the states it runs again are new rows, so the failed
attempts stay in the timeline. A ``.waitForTaskToken`` task whose handler has returned
shows ``waiting for callback`` until it is answered.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from statemachine.cli.output import duration, status_text
from statemachine.interpreter.events import HistoryEvent

SHOWN_FAILURES = 5
_SCHEDULED = ("LambdaFunctionScheduled", "TaskScheduled")
_FAILED = ("Failed", "TimedOut", "StartFailed", "SubmitFailed")
_NESTING = ("MapIterationStarted", "ParallelStateStarted")
_STOPPED = {
    "ExecutionFailed": "failed",
    "ExecutionTimedOut": "timed out",
    "ExecutionAborted": "aborted",
}
#: Emitted by a Map or Parallel state after its last child, chained to that child's events.
_CLOSING = ("MapStateSucceeded", "MapStateFailed", "ParallelStateSucceeded", "ParallelStateFailed")


@dataclass
class Row:
    entered: HistoryEvent
    name: str
    kind: str
    depth: int
    container: Row | None
    label: str = ""
    end: datetime | None = None
    outcome: str = "running"
    attempts: int = 0
    errors: list[str] = field(default_factory=list)
    children: int = 0
    #: The last attempt failed (so a StateExited means its error was caught).
    failing: bool = False
    #: A ``.waitForTaskToken`` task whose handler returned: it waits for its callback.
    submitted: bool = False

    @property
    def took(self) -> float | None:
        return (self.end - self.entered.timestamp).total_seconds() if self.end else None


def build_rows(events: list[HistoryEvent], status: str) -> list[Row]:
    """One row per state entered, in the order they were entered."""
    by_id = {event.id: event for event in events}
    owner: dict[int, Row] = {}
    rows: list[Row] = []
    for event in events:
        if event.type == "ExecutionRedriven":
            rows.append(_redriven(event, by_id.get(event.previous_event_id), rows))
            continue
        before = owner.get(event.previous_event_id)
        if event.type.endswith("StateEntered"):
            row = _entered(event, before, by_id.get(event.previous_event_id))
            rows.append(row)
            owner[event.id] = row
            continue
        if before is None:
            continue
        previous = by_id.get(event.previous_event_id)
        if (
            event.type in _CLOSING
            and before.container is not None
            and (previous is None or previous.type != "MapStateStarted")
        ):
            before = before.container  # the Map or Parallel whose last child this was
        owner[event.id] = before
        _happened(before, event)
    last = events[-1].timestamp if events else None
    final = {
        "SUCCEEDED": "succeeded",
        "FAILED": "failed",
        "TIMED_OUT": "timed out",
        "ABORTED": "aborted",
    }.get(status)
    for row in rows:
        if row.end is None and final is not None:
            row.end, row.outcome = last, "ok" if final == "succeeded" else final
    return rows


def _redriven(event: HistoryEvent, stop: HistoryEvent | None, rows: list[Row]) -> Row:
    """The redrive's own row. The Map and Parallel states that were open or failed are open
    again (the redrive carries them on); any other state still open ended with the stop
    before it (a Task or Wait that runs again is entered anew, a row of its own)."""
    ended = _STOPPED.get(stop.type if stop is not None else "", "failed")
    for row in rows:
        if row.kind in ("Map", "Parallel") and (row.end is None or row.outcome == "failed"):
            row.end, row.outcome = None, "running"
        elif row.end is None:
            row.end = stop.timestamp if stop is not None else event.timestamp
            row.outcome = ended
    count = (event.details or {}).get("redriveCount", "")
    return Row(event, "(redriven)", "", 0, None, end=event.timestamp, outcome=f"redrive {count}")


def _entered(event: HistoryEvent, before: Row | None, previous: HistoryEvent | None) -> Row:
    details = event.details or {}
    kind = event.type.removesuffix("StateEntered")
    if previous is not None and previous.type in _NESTING and before is not None:
        before.children += 1
        label = (
            f"[{(previous.details or {}).get('index', before.children - 1)}]"
            if previous.type == "MapIterationStarted"
            else f"branch {before.children}"
        )
        return Row(event, str(details.get("name", "?")), kind, before.depth + 1, before, label)
    if before is not None and before.end is None:
        # Left without a StateExited: its error was caught and this state came next.
        before.end = event.timestamp
        before.outcome = "caught" if before.errors else "done"
    depth = before.depth if before is not None else 0
    container = before.container if before is not None else None
    label = before.label if before is not None else ""
    return Row(event, str(details.get("name", "?")), kind, depth, container, label)


def _happened(row: Row, event: HistoryEvent) -> None:
    kind = event.type
    if kind.endswith("StateExited"):
        row.end, row.outcome = event.timestamp, "caught" if row.failing else "ok"
    elif kind in _SCHEDULED:
        row.attempts += 1
        row.submitted = False
    elif kind in ("LambdaFunctionSucceeded", "TaskSucceeded"):
        row.failing = row.submitted = False
    elif kind == "TaskSubmitted":
        row.submitted = True
    elif kind in ("MapStateSucceeded", "ParallelStateSucceeded"):
        row.failing = False  # redriven, after its children had failed
    elif kind.endswith("StateAborted") or kind == "MapIterationAborted":
        row.end, row.outcome = event.timestamp, "aborted"
    elif kind == "MapIterationFailed" and row.end is None:
        row.end, row.outcome = event.timestamp, "failed"
    elif kind in ("MapStateFailed", "ParallelStateFailed"):
        row.errors.append("a child failed")
        row.failing = True
    elif kind.startswith(("LambdaFunction", "Task")) and kind.endswith(_FAILED):
        row.errors.append(str((event.details or {}).get("error") or kind))
        row.failing = True
    elif kind == "ExecutionFailed" or kind == "ExecutionTimedOut":
        row.end, row.outcome = event.timestamp, "failed"


def _result(row: Row) -> str:
    retried = max(0, row.attempts - 1)
    outcome = "waiting" if row.outcome == "running" and row.submitted else row.outcome
    text = {
        "ok": "[green]ok[/green]",
        "failed": "[red]failed[/red]",
        "caught": "[yellow]caught[/yellow]",
        "aborted": "[yellow]aborted[/yellow]",
        "running": "[cyan]running[/cyan]",
        "waiting": "[cyan]waiting for callback[/cyan]",
    }.get(outcome, outcome)
    if row.errors:
        counted = Counter(row.errors)
        text += " · " + ", ".join(f"{e} x{n}" if n > 1 else e for e, n in counted.items())
    if retried:
        text += f" · {retried} retr{'y' if retried == 1 else 'ies'}"
    return text


def _in_map(row: Row) -> Row | None:
    """The outermost Map whose iterations ``row`` runs in, if any."""
    found, container = None, row.container
    while container is not None:
        if container.kind == "Map":
            found = container
        container = container.container
    return found


def print_timeline(console: Console, described: dict[str, Any], events: list[HistoryEvent]) -> None:
    rows = build_rows(events, described["status"])
    start = events[0].timestamp if events else None
    table = Table("at", "state", "type", "took", "tries", "result", box=None)
    groups: dict[tuple[int, str, int], list[Row]] = {}
    shown: list[tuple[Row, list[Row] | None]] = []
    for row in rows:
        outer = _in_map(row)
        if outer is None:
            shown.append((row, None))
            continue
        key = (outer.entered.id, row.name, row.depth)
        if key not in groups:
            groups[key] = []
            shown.append((row, groups[key]))
        groups[key].append(row)
    for row, group in shown:
        at = f"+{duration((row.entered.timestamp - start).total_seconds())}" if start else ""
        indent = "  " * row.depth
        if group is None:
            took = "" if row.took is None or not row.kind else duration(row.took)
            name = f"{indent}{row.name} {row.label}".rstrip() if row.depth else row.name
            table.add_row(at, name, row.kind, took, str(row.attempts or ""), _result(row))
        else:
            _group_rows(table, at, indent, group)
    console.print(
        f"{status_text(described['status'])} {described['executionArn']}", highlight=False
    )
    console.print(table)
    if described.get("error") or described.get("cause"):
        console.print(f"error: {described.get('error')}", highlight=False)
        console.print(f"cause: {described.get('cause')}", highlight=False)


def _group_rows(table: Table, at: str, indent: str, group: list[Row]) -> None:
    first = group[0]
    failed = [row for row in group if row.outcome in ("failed", "aborted", "caught")]
    times = [row.took for row in group if row.took is not None]
    span = f"{duration(min(times))}-{duration(max(times))}" if times else ""
    attempts = sum(row.attempts for row in group)
    errors = Counter(error for row in group for error in row.errors)
    result = f"{len(group) - len(failed)} ok"
    if failed:
        result += f" · [red]{len(failed)} not ok[/red]"
    running = sum(1 for row in group if row.outcome == "running")
    if running:
        result += f" · [cyan]{running} running[/cyan]"
    if errors:
        result += " · " + ", ".join(f"{e} x{n}" for e, n in errors.most_common(3))
    table.add_row(
        at, f"{indent}{first.name} x{len(group)}", first.kind, span, str(attempts or ""), result
    )
    for row in failed[:SHOWN_FAILURES]:
        took = "" if row.took is None else duration(row.took)
        table.add_row("", f"{indent}  {row.label}", "", took, str(row.attempts or ""), _result(row))
    if len(failed) > SHOWN_FAILURES:
        table.add_row("", f"{indent}  ... {len(failed) - SHOWN_FAILURES} more", "", "", "", "")


def print_event_page(console: Console, shape: dict[str, Any]) -> None:
    """One page of raw events (``--reverse``, ``--max-items``) as a table."""
    table = Table("id", "prev", "time", "type", "details", box=None)
    for event in shape["events"]:
        details = next((v for k, v in event.items() if k.endswith("EventDetails")), None)
        summary = ""
        if isinstance(details, dict):
            summary = ", ".join(
                f"{k}={v}"
                for k, v in details.items()
                if k in ("name", "error", "index", "resource")
            )
        table.add_row(
            str(event["id"]),
            str(event["previousEventId"]),
            event["timestamp"][11:23],
            event["type"],
            summary,
        )
    console.print(table)
    if shape.get("nextToken"):
        console.print(f"more: --next-token {shape['nextToken']}", highlight=False)
