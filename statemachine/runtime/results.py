"""An execution stored in Redis, read back in AWS's shapes: ``result_from_store``.

The distributed runtime's counterpart of what ``LocalRunner.run`` returns: the same
``ExecutionResult`` built from the same things (the state snapshot and the history), so
``describe()`` and ``history()`` print the same DescribeExecution / GetExecutionHistory
shapes whichever driver ran the execution. Also ``wait_for_result``, which blocks until an
execution stops (what ``sfn run`` does while the workers work).
"""

from __future__ import annotations

import time
from datetime import datetime

from statemachine.runtime.execution import ExecutionResult
from statemachine.runtime.store import RedisHistoryStore

#: The longest ``wait_for_result`` blocks in one ``wait_stopped`` call.
WAIT_SECONDS = 60.0


class ExecutionNotFound(KeyError):
    """No execution with this id is stored."""


def result_from_store(store: RedisHistoryStore, eid: str) -> ExecutionResult:
    """The execution ``eid`` as it stands now (running or stopped), with its history.

    Raises:
        ExecutionNotFound: nothing is stored under ``eid``.
    """
    snapshot = store.load(eid)
    if snapshot is None:
        raise ExecutionNotFound(eid)
    state = snapshot.state
    events = store.events(eid)
    # The history is the source of truth for the dates, as in LocalRunner: the start is
    # ExecutionStarted's timestamp, the stop the last event's once the execution stopped.
    return ExecutionResult(
        execution_arn=state.execution_arn,
        state_machine_arn=state.state_machine_arn,
        name=state.name,
        status=state.status,
        start_date=events[0].timestamp,
        stop_date=events[-1].timestamp if not state.running else None,
        input=state.input,
        output=state.output,
        error=state.error,
        cause=state.cause,
        events=events,
        redrive_count=state.redrive_count,
        redrive_date=_redrive_date(snapshot.meta),
    )


def _redrive_date(meta: dict[str, str]) -> datetime | None:
    text = meta.get("redrive_date")
    return datetime.fromisoformat(text) if text else None


def wait_for_result(
    store: RedisHistoryStore, eid: str, *, timeout: float | None = None
) -> ExecutionResult:
    """Block until ``eid`` stops, then return it; ``timeout`` seconds (None: no limit).
    Wakes when the execution stops (``RedisHistoryStore.wait_stopped``), not at a poll.

    Raises:
        ExecutionNotFound: nothing is stored under ``eid``.
        TimeoutError: the execution was still running after ``timeout`` seconds.
    """
    give_up = None if timeout is None else time.monotonic() + timeout
    while True:
        left = WAIT_SECONDS if give_up is None else give_up - time.monotonic()
        status = store.wait_stopped(eid, max(0.0, min(left, WAIT_SECONDS)))
        if status is None:
            raise ExecutionNotFound(eid)
        if status != "RUNNING":
            return result_from_store(store, eid)
        if give_up is not None and time.monotonic() >= give_up:
            raise TimeoutError(f"execution {eid} still running after {timeout} s")
