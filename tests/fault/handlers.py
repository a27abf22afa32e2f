"""Handlers for the fault tests: each leaves a trace on disk, so a test can tell how often
it ran and hold it in the middle of an invocation while a process is killed.

Every handler returns the same result however often it runs: what differs between a run
with crashes and one without is only the number of invocations, never the data.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

#: Longest a held invocation waits for its release (the function's timeout stops it first).
HOLD_SECONDS = 60.0


class Boom(Exception):
    """A user-defined error, reported by its class name."""


def run_number(folder: str | Path, key: str) -> int:
    """Record one more invocation for ``key`` and return its n: the file
    ``<folder>/<key>.<n>`` holds the id of the process running it (a test kills that one).

    ``O_EXCL`` makes the count exact when invocations of the same key run at once."""
    number = 1
    while True:
        try:
            handle = os.open(Path(folder) / f"{key}.{number}", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            number += 1
        else:
            os.write(handle, str(os.getpid()).encode())
            os.close(handle)
            return number


def runs(folder: str | Path, key: str) -> int:
    """How many invocations ``key`` has had so far."""
    return len(list(Path(folder).glob(f"{key}.*[0-9]")))


def runner(folder: str | Path, key: str, number: int) -> int:
    """The id of the process that ran invocation ``number`` of ``key`` (0 until written)."""
    try:
        return int((Path(folder) / f"{key}.{number}").read_text() or 0)
    except FileNotFoundError:
        return 0


def release(folder: str | Path, key: str) -> None:
    """Let every held invocation of ``key`` return."""
    (Path(folder) / f"{key}.release").touch()


def block(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Double ``event["value"]``, after holding until ``<key>.release`` exists.

    ``event["hold"]``: ``"first"`` holds only the first invocation (a test kills it),
    ``"all"`` holds every one (a test lets several run at once, then releases them)."""
    folder, key = event["dir"], event["key"]
    number = run_number(folder, key)
    if event.get("hold", "first") == "all" or number == 1:
        flag = Path(folder) / f"{key}.release"
        give_up = time.monotonic() + HOLD_SECONDS
        while not flag.exists() and time.monotonic() < give_up:
            time.sleep(0.01)
    return {"value": event["value"] * 2}


def double(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"value": event["value"] * 2}


def noop(event: Any, context: Any) -> Any:
    return event


def flaky(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Fail the first attempt (the state passes ``$$.State.RetryCount`` as ``attempt``)."""
    if event["attempt"] < 1:
        raise Boom(f"attempt {event['attempt']} of {event['value']} failed")
    return {"value": event["value"], "attempts": event["attempt"] + 1}


def crash(event: dict[str, Any], context: Any) -> None:
    """Kill the process running it, every time (as a segfault or ``os._exit`` would)."""
    run_number(event["dir"], event["key"])
    os._exit(1)
