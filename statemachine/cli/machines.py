"""``sfn validate`` and ``sfn run``: check a definition, run it and wait for the end.

``sfn run`` runs on the durable runtime (Redis history, Celery workers) unless ``--local``:
with ``REDIS_URL`` set it starts the execution there and waits while ``sfn worker``
processes run it; without, it starts an embedded Redis (data in ``.sfn/`` next to the
project file, or in the working directory), a worker and a scheduler in this process, and
stops them when the execution ends. ``--follow`` shows its progress live meanwhile.
"""

from __future__ import annotations

import os
import signal
import sys
import uuid
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from statemachine.cli.common import (
    Unreachable,
    api_call,
    config_option,
    load_project_file,
    parse_input,
    project_path,
    read_text,
)
from statemachine.cli.output import print_diagnostics, print_execution, print_json
from statemachine.errors import DefinitionError


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--config",
    "config",
    type=click.Path(dir_okay=False),
    help="Project file registering the functions (default: ./sfn.yaml if present).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def validate(file: str, config: str | None, as_json: bool) -> None:
    """Check a definition as AWS's ValidateStateMachineDefinition does."""
    from statemachine.language.load import validate_definition

    text = read_text(file, "'FILE'")
    project = load_project_file(config)
    diagnostics = validate_definition(text, functions=project.names if project else None)
    if as_json:
        print_json(
            {
                "result": "FAIL" if diagnostics else "OK",
                "diagnostics": [
                    {
                        "severity": "ERROR",
                        "code": d.code,
                        "message": d.message,
                        "location": d.location,
                    }
                    for d in diagnostics
                ],
            }
        )
    elif diagnostics:
        print_diagnostics(Console(stderr=True), file, diagnostics)
    else:
        Console().print(f"[green]{file}: valid[/green]")
    sys.exit(1 if diagnostics else 0)


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--input", "input_", metavar="JSON|@FILE", help="Execution input (default {}).")
@config_option
@click.option("--local", is_flag=True, help="Run in this process with a virtual clock.")
@click.option(
    "--name", "execution_name", help="Execution name (default: a new UUID; with --local, local-1)."
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON object shaped like DescribeExecution."
)
@click.option("--history", is_flag=True, help="Include the history events.")
@click.option(
    "--follow", is_flag=True, help="Show the execution's progress live (on stderr) until it ends."
)
def run(
    file: str,
    input_: str | None,
    config: str | None,
    local: bool,
    execution_name: str | None,
    as_json: bool,
    history: bool,
    follow: bool,
) -> None:
    """Start an execution of FILE and wait for it to finish.

    Without --local it runs on Redis and Celery: the deployment at REDIS_URL (whose
    `sfn worker` processes run the tasks), or with REDIS_URL unset an embedded Redis and
    worker in this process. A name already taken is refused (ExecutionAlreadyExists),
    unless that execution is still running with the same input: then it is the one
    waited for.
    """
    from statemachine.language.load import load_definition
    from statemachine.local import run_local

    text = read_text(file, "'FILE'")
    payload = parse_input(input_)
    project = load_project_file(config)
    machine = Path(file).name.split(".")[0]
    try:
        if local:
            result = run_local(
                text, payload, project=project, name=machine, execution_name=execution_name
            )
        else:
            # Refuse a bad definition here, with the same diagnostics as --local, before
            # anything is recorded.
            load_definition(text, functions=project.names if project else None)
            with api_call("StartExecution"):
                result = _run_durable(
                    text, payload, machine, execution_name or str(uuid.uuid4()), config, follow
                )
    except DefinitionError as exc:
        print_diagnostics(Console(stderr=True), file, exc.diagnostics)
        sys.exit(2)
    if as_json:
        shape = result.describe()
        if history:
            shape["events"] = result.history()
        print_json(shape)
    else:
        print_execution(Console(), result, history)
    sys.exit(0 if result.status == "SUCCEEDED" else 1)


#: How long ``sfn run`` on a deployment waits before saying that no worker took its tasks.
NO_WORKER_SECONDS = 10.0


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _run_durable(
    text: str, payload: Any, machine: str, name: str, config: str | None, follow: bool
) -> Any:
    import redis

    from statemachine.runtime.embedded import DATA_FOLDER, EmbeddedRedisUnavailable
    from workers.celery_app import ConfigurationError
    from workers.cluster import connect, embedded

    redis_url = os.environ.get("REDIS_URL")
    try:
        if redis_url:
            runtime = connect(redis_url, load_project_file(config))
            eid = runtime.start(text, payload, machine=machine, name=name)
            return _wait(runtime.store, eid, follow, embedded=False)
        path = project_path(config)
        base = Path(path).resolve().parent if path else Path.cwd()
        # SIGTERM (a supervisor, `timeout`) ends the run as Ctrl-C does: the worker, the
        # scheduler and the embedded Redis are stopped in order, not left running.
        signal.signal(signal.SIGTERM, _interrupt)
        with embedded(base / DATA_FOLDER, path) as runtime:
            eid = runtime.start(text, payload, machine=machine, name=name)
            return _wait(runtime.store, eid, follow, embedded=True)
    except (redis.RedisError, EmbeddedRedisUnavailable) as exc:
        where = redis_url or "the embedded Redis"
        raise Unreachable(f"cannot reach {where}: {exc}") from None
    except ConfigurationError as exc:
        raise click.UsageError(str(exc)) from None


def _wait(store: Any, eid: str, follow: bool, *, embedded: bool) -> Any:
    from statemachine.cli.watching import follow_execution, stopped_watching
    from statemachine.runtime.results import result_from_store, wait_for_result

    try:
        if follow:
            follow_execution(store, eid, Console(stderr=True))
        elif embedded:
            return wait_for_result(store, eid)
        else:
            try:
                return wait_for_result(store, eid, timeout=NO_WORKER_SECONDS)
            except TimeoutError:
                _hint_if_no_worker(store, eid)
            return wait_for_result(store, eid)
    except KeyboardInterrupt:
        stopped_watching(eid, embedded=embedded)
    return result_from_store(store, eid)


def _hint_if_no_worker(store: Any, eid: str) -> None:
    """A deployment's run waits on its workers: say so when none has begun a task."""
    from workers.celery_app import DEFAULT_QUEUE

    waiting = store.unstarted_tasks(eid)
    if waiting:
        queue = os.environ.get("SFN_QUEUE") or DEFAULT_QUEUE
        Console(stderr=True).print(
            f"sfn run: no worker has begun {waiting} task(s) of this execution in "
            f"{NO_WORKER_SECONDS:.0f} s: is an `sfn worker` serving queue '{queue}' on this "
            "Redis (REDIS_URL)? Still waiting; Ctrl-C stops waiting, not the execution.",
            highlight=False,
        )
