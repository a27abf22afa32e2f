"""SendTaskSuccess, SendTaskFailure and SendTaskHeartbeat on the durable runtime.

Any process that reaches the store can answer a ``.waitForTaskToken`` task: the token names
its execution (``callback_tokens.py``). Each call checks the token against the execution's
snapshot and applies the answer in the same conditional append (``Runtime.apply``'s loop:
on a conflict it reloads, checks again and decides again), so an answer that lost a race to
a timeout, a stop or another answer is refused with AWS's error and changes nothing, and
two answers to one token are never both recorded.

Reference: https://docs.aws.amazon.com/step-functions/latest/dg/connect-to-resource.html#connect-wait-token
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from statemachine.interpreter import inputs
from statemachine.interpreter.events import HistoryEvent
from statemachine.runtime.callback_tokens import callback_output, check_token, parse_token
from statemachine.runtime.store import RedisHistoryStore, Snapshot

if TYPE_CHECKING:
    from statemachine.runtime.engine import Runtime


def send_task_success(runtime: Runtime, token: str, output: Any) -> None:
    value = callback_output(output)
    _answer(
        runtime,
        token,
        lambda now: inputs.SendTaskSuccess(time=now, token=token, output=value),
    )


def send_task_failure(runtime: Runtime, token: str, error: str | None, cause: str | None) -> None:
    _answer(
        runtime,
        token,
        lambda now: inputs.SendTaskFailure(time=now, token=token, error=error, cause=cause),
    )


def send_task_heartbeat(runtime: Runtime, token: str) -> None:
    _answer(runtime, token, lambda now: inputs.TaskHeartbeat(time=now, token=token))


def _answer(runtime: Runtime, token: str, make: Callable[[datetime], inputs._Input]) -> None:
    _, eid, _ = parse_token(token)
    store = runtime.store

    def check(snapshot: Snapshot | None) -> bool:
        state = snapshot.state if snapshot else None
        check_token(token, state, lambda at: _event(store, eid, at))
        return True

    # No change (a heartbeat for a task without HeartbeatSeconds) gives None: nothing to do.
    runtime.step(eid, [make(runtime.clock.now())], check=check)


def _event(store: RedisHistoryStore, eid: str, event_id: int) -> HistoryEvent | None:
    found = store.events(eid, event_id - 1, event_id - 1)
    return found[0] if found else None
