"""What an execution is doing right now, read from its state snapshot: ``progress``.

For ``sfn watch`` and ``sfn run --follow``: the states in flight (grouped, so a Map with
500 iterations in one Task is one line with a count), each Map's items done, failed and
in flight out of its total, and the elapsed time. One ``HGETALL`` of the execution's
``meta`` a poll; nothing here changes anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from statemachine.interpreter.state import ExecutionState, Frame
from statemachine.runtime.settle import parse_time
from statemachine.runtime.store import RedisHistoryStore

_KINDS = {"task": "running", "timer": "waiting", "retry": "retry backoff"}


@dataclass(frozen=True)
class InFlight:
    """States of the same name and place, busy the same way."""

    path: str
    state: str
    doing: str
    count: int
    since: str
    retries: int


@dataclass(frozen=True)
class MapProgress:
    path: str
    total: int
    succeeded: int
    failed: int
    running: int

    @property
    def done(self) -> int:
        return self.succeeded + self.failed


@dataclass(frozen=True)
class Progress:
    execution_arn: str
    status: str
    start: datetime
    stop: datetime | None
    events: int
    in_flight: list[InFlight]
    maps: list[MapProgress]
    error: str | None
    cause: str | None

    def elapsed(self, now: datetime) -> float:
        return ((self.stop or now) - self.start).total_seconds()


def place(frame: Frame) -> str:
    """Where a frame runs: ``Fanout[*] > Retry[1]`` (``[*]`` a Map iteration, ``[n]`` the
    n-th Parallel branch); empty at the top level."""
    steps = []
    scope = list(frame.scope)
    for state, branch in zip(scope[::2], scope[1::2], strict=False):
        steps.append(f"{state}[*]" if branch == -1 else f"{state}[{branch}]")
    return " > ".join(steps)


def progress(store: RedisHistoryStore, eid: str) -> Progress | None:
    """The execution ``eid`` now; None if it is not stored."""
    snapshot = store.load(eid)
    if snapshot is None:
        return None
    meta, state = snapshot.meta, snapshot.state
    start = parse_time(meta["start_date"]) if meta.get("start_date") else None
    if start is None:
        start = store.events(eid, 0, 0)[0].timestamp
    stop = parse_time(meta["stop_date"]) if meta.get("stop_date") and not state.running else None
    return Progress(
        execution_arn=state.execution_arn,
        status=state.status,
        start=start,
        stop=stop,
        events=snapshot.last_event_id,
        in_flight=_in_flight(state) if state.running else [],
        maps=_maps(state) if state.running else [],
        error=state.error,
        cause=state.cause,
    )


def _in_flight(state: ExecutionState) -> list[InFlight]:
    groups: dict[tuple[str, str, str], list[Frame]] = {}
    for frame in state.frames.values():
        if frame.done or frame.state is None or frame.waiting is None:
            continue
        waiting = frame.waiting
        if waiting.kind == "children":
            doing = "map" if frame.item_count else "parallel"
        elif waiting.kind == "task" and waiting.callback and waiting.submitted:
            doing = "waiting for callback"  # its handler returned; SendTaskSuccess is next
        else:
            doing = _KINDS.get(waiting.kind, waiting.kind)
        groups.setdefault((place(frame), frame.state, doing), []).append(frame)
    found = [
        InFlight(
            path=path,
            state=name,
            doing=doing,
            count=len(frames),
            since=min(f.entered_time for f in frames),
            retries=max(f.retry_count for f in frames),
        )
        for (path, name, doing), frames in groups.items()
    ]
    return sorted(found, key=lambda item: (item.path, item.since))


def _maps(state: ExecutionState) -> list[MapProgress]:
    found = []
    for frame in state.frames.values():
        waiting = frame.waiting
        if frame.done or waiting is None or waiting.kind != "children" or not frame.item_count:
            continue
        where = place(frame)
        found.append(
            MapProgress(
                path=f"{where} > {frame.state}" if where else str(frame.state),
                total=frame.item_count,
                succeeded=frame.finished - frame.failed,
                failed=frame.failed,
                running=frame.running,
            )
        )
    return sorted(found, key=lambda item: item.path)
