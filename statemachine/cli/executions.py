"""``sfn list``, ``sfn describe``, ``sfn history`` and ``sfn stop``: executions in Redis.

Each prints the AWS API's response with ``--json`` (ListExecutions, DescribeExecution,
GetExecutionHistory, StopExecution) and a readable view otherwise. EXECUTION is an
execution ARN or ``MACHINE:NAME``. They work against ``REDIS_URL``'s deployment, or the
embedded Redis in this project folder's ``.sfn/`` (``common.deployment``).
"""

from __future__ import annotations

from datetime import UTC, datetime

import click
from rich.console import Console

from statemachine.cli.common import (
    api_call,
    config_option,
    deployment,
    execution_id,
    json_option,
)
from statemachine.cli.output import print_describe, print_executions, print_json

_STATUSES = ["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"]


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"not an ISO 8601 time: {value!r}", param_hint="'--since'"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@click.command("list")
@click.option(
    "--state-machine",
    "machine",
    metavar="NAME|ARN",
    help="Only this state machine's executions (default: all of them).",
)
@click.option("--status", type=click.Choice(_STATUSES), help="Only executions with this status.")
@click.option("--since", metavar="ISO", help="Only executions started at or after this time.")
@click.option(
    "--max-items",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="Executions in this page; a nextToken follows when there are more.",
)
@click.option("--next-token", metavar="TOKEN", help="The nextToken of the previous page.")
@config_option
@json_option
def list_(
    machine: str | None,
    status: str | None,
    since: str | None,
    max_items: int,
    next_token: str | None,
    config: str | None,
    as_json: bool,
) -> None:
    """List executions, newest first (AWS's ListExecutions)."""
    from statemachine.runtime.queries import list_executions, machine_name

    when = _since(since)
    with api_call("ListExecutions"), deployment(config) as found:
        shape = list_executions(
            found.store,
            machine=machine_name(machine) if machine is not None else None,
            status=status,
            since=when,
            max_items=max_items,
            next_token=next_token,
        )
    if as_json:
        print_json(shape)
    else:
        print_executions(Console(), shape)


@click.command()
@click.argument("execution")
@config_option
@json_option
def describe(execution: str, config: str | None, as_json: bool) -> None:
    """Show one execution (AWS's DescribeExecution, with its redrive status), its re-run
    links, and the task tokens of the callbacks it waits for."""
    from statemachine.runtime.queries import describe_execution

    eid = execution_id(execution)
    with api_call("DescribeExecution"), deployment(config) as found:
        shape = describe_execution(found.store, eid, datetime.now(UTC))
    if as_json:
        print_json(shape)
    else:
        print_describe(Console(), shape)


@click.command()
@click.argument("execution")
@click.option("--reverse", is_flag=True, help="Newest event first.")
@click.option(
    "--max-items",
    type=click.IntRange(min=1),
    help="Events in this page (default: all); a nextToken follows when there are more.",
)
@click.option("--next-token", metavar="TOKEN", help="The nextToken of the previous page.")
@config_option
@json_option
def history(
    execution: str,
    reverse: bool,
    max_items: int | None,
    next_token: str | None,
    config: str | None,
    as_json: bool,
) -> None:
    """Show an execution's history: GetExecutionHistory with --json, else a timeline of
    the states it went through, how long each took, their retries and errors."""
    from statemachine.runtime.queries import describe_execution, execution_history, history_events

    eid = execution_id(execution)
    paged = reverse or max_items is not None or next_token is not None
    with api_call("GetExecutionHistory"), deployment(config) as found:
        if as_json or paged:
            shape = execution_history(
                found.store, eid, reverse=reverse, max_items=max_items, next_token=next_token
            )
        else:
            events = history_events(found.store, eid)
            described = describe_execution(found.store, eid, datetime.now(UTC))
    if as_json:
        print_json(shape)
        return
    from statemachine.cli.timeline import print_event_page, print_timeline

    if paged:
        print_event_page(Console(), shape)
    else:
        print_timeline(Console(), described, events)


@click.command()
@click.argument("execution")
@click.option("--error", help="The error code recorded with ExecutionAborted.")
@click.option("--cause", help="A more detailed explanation, recorded with it.")
@config_option
@json_option
def stop(
    execution: str, error: str | None, cause: str | None, config: str | None, as_json: bool
) -> None:
    """Stop a running execution: it becomes ABORTED (AWS's StopExecution).

    Its timers are cancelled and results its tasks report later are ignored (the
    logs note them). Stopping an execution that is not running changes nothing and exits 1.
    """
    from statemachine.interpreter.events import iso_time

    eid = execution_id(execution)
    with api_call("StopExecution"), deployment(config) as found:
        stopped = found.runtime().stop(eid, error=error, cause=cause)
    if as_json:
        print_json({"stopDate": iso_time(stopped)})
    else:
        from statemachine.runtime.engine import arn_of

        Console().print(
            f"[yellow]ABORTED[/yellow] {arn_of(eid)} at {iso_time(stopped)}", highlight=False
        )
