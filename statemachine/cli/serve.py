"""``sfn worker`` and ``sfn scheduler``: the long-running processes of a deployment."""

from __future__ import annotations

import contextlib
import os
import signal
from typing import Any

import click

from statemachine.cli.common import load_project_file


def _celery_app(config: str | None) -> Any:
    from workers.celery_app import ConfigurationError, app_from_env

    path = config or os.environ.get("SFN_CONFIG") or None
    load_project_file(path)  # a broken project file is a usage error, reported before starting
    try:
        return app_from_env(project_path=path)
    except ConfigurationError as exc:
        raise click.UsageError(str(exc)) from None


@click.command()
@click.option(
    "--config",
    "config",
    type=click.Path(dir_okay=False),
    help="Project file registering the functions (default: $SFN_CONFIG, "
    "else ./sfn.yaml if present).",
)
@click.option(
    "--concurrency",
    "-c",
    type=click.IntRange(min=1),
    help="Worker processes (default: one per CPU).",
)
@click.option(
    "--pool",
    type=click.Choice(["prefork", "solo", "threads"]),
    default="prefork",
    show_default=True,
    help="Celery execution pool.",
)
@click.option("--loglevel", "-l", default="INFO", show_default=True, help="Logging level.")
@click.option(
    "--prefetch-multiplier",
    "prefetch",
    type=click.IntRange(min=1),
    envvar="SFN_PREFETCH_MULTIPLIER",
    default=1,
    show_default=True,
    help="Messages each process reserves ($SFN_PREFETCH_MULTIPLIER): more keeps processes "
    "busy with short handlers, but a reserved message waits behind a long one.",
)
def worker(
    config: str | None, concurrency: int | None, pool: str, loglevel: str, prefetch: int
) -> None:
    """Run a Celery worker for the project's functions.

    Configured by REDIS_URL and the SFN_* variables (see the README). It also runs the
    scheduler loop (timers, recovery) unless SFN_SCHEDULER=0.
    """
    app = _celery_app(config)
    argv = [
        "worker",
        f"--pool={pool}",
        f"--loglevel={loglevel}",
        f"--queues={app.conf.task_default_queue}",
        f"--prefetch-multiplier={prefetch}",
    ]
    if concurrency is not None:
        argv.append(f"--concurrency={concurrency}")
    app.worker_main(argv=argv)


@click.command()
@click.option(
    "--config",
    "config",
    type=click.Path(dir_okay=False),
    help="Project file (for the functions' timeouts; default: $SFN_CONFIG).",
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0.01),
    default=None,
    help="Seconds between ticks (default: $SFN_TICK_SECONDS, else 0.25).",
)
def scheduler(config: str | None, interval: float | None) -> None:
    """Fire due timers and recover lost tasks, apart from the workers.

    For deployments that set SFN_SCHEDULER=0 on their workers. Stops on SIGINT or SIGTERM.
    """
    import logging

    from statemachine.runtime.scheduler import Scheduler
    from workers.tasks import runtime_for

    logging.basicConfig(level=logging.INFO, format="[%(asctime)s: %(levelname)s] %(message)s")
    app = _celery_app(config)
    loop = Scheduler(runtime_for(app), interval=interval or app.conf.get("sfn_tick_seconds"))
    signal.signal(signal.SIGTERM, lambda signum, frame: loop.stop())
    click.echo(f"scheduler: ticking every {loop.interval:g} s", err=True)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a foreground run ends
        loop.run()
