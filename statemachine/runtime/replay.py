"""Recovering executions on the durable runtime: redrive (AWS) and re-run (beyond AWS).

``redrive(runtime, eid)`` is AWS's RedriveExecution: the same execution (same ARN, input
and definition version) carries on from the states that did not succeed; the semantics
are the interpreter's (``interpreter/redrive.py``). Refused with ExecutionNotRedrivable,
changing nothing, when AWS would refuse it: the execution is RUNNING or SUCCEEDED, it
stopped more than 14 days ago, it has been open more than a year, or its history has 24,999
events or more (``redrivable.py``, as DescribeExecution's ``redriveStatus`` reports it).
``meta`` records ``redrive_count`` and ``redrive_date`` (DescribeExecution's
``redriveCount`` and ``redriveDate``). Reference:
https://docs.aws.amazon.com/step-functions/latest/apireference/API_RedriveExecution.html

``rerun(runtime, eid, from_state=None, input=ORIGINAL)`` starts a *new* execution of the
same definition version, named ``<name>-rerun-<8 hex digits>`` unless a name is given:

- without ``from_state``: from the start, with the original input (or ``input``);
- with ``from_state`` (a state of the top-level machine): it begins at that state, with the
  input that state received the *last* time it was entered in the original's history (the
  most recent data, e.g. the attempt that failed; ``input`` replaces it), and with the
  workflow variables as they were then (the ``assignedVariables`` of the top-level states
  that exited before it). Its execution input, ``$$.Execution.Input``, stays the original's.

The link is kept both ways in ``meta``: the new execution's ``rerun_of`` (the original's
ARN) and ``rerun_from_state``; the original's ``reruns`` (a JSON list of ARNs).
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from statemachine.interpreter import inputs
from statemachine.interpreter.events import HistoryEvent, iso_time
from statemachine.interpreter.redrive import refusal
from statemachine.interpreter.state import ExecutionState
from statemachine.language.model import Definition
from statemachine.runtime.api_errors import (
    ExecutionDoesNotExist,
    ExecutionNotRedrivable,
    ValidationException,
)
from statemachine.runtime.local import execution_arn
from statemachine.runtime.redrivable import redrive_status
from statemachine.runtime.settle import parse_time
from statemachine.runtime.store import Snapshot

if TYPE_CHECKING:
    from statemachine.runtime.engine import Runtime

#: AWS's longest execution name.
MAX_NAME = 80


class _Original:
    def __repr__(self) -> str:
        return "ORIGINAL"


#: ``rerun``'s default input: the one the original execution (or state) received.
ORIGINAL: Final[Any] = _Original()


def _arn(eid: str) -> str:
    machine, _, name = eid.partition(":")
    return execution_arn(machine, name)


# -- redrive ------------------------------------------------------------------------------
def redrive(runtime: Runtime, eid: str) -> datetime:
    arn = _arn(eid)
    now = runtime.clock.now()

    def check(snapshot: Snapshot | None) -> bool:
        if snapshot is None:
            raise ExecutionDoesNotExist(arn)
        _check_redrivable(runtime, snapshot, now)
        return True

    def meta(state: ExecutionState) -> dict[str, str]:
        return {
            "redrive_count": str(state.redrive_count),
            "redrive_date": iso_time(now),
            # It is open again: what described its end no longer does.
            "stop_date": "",
            "error": "",
            "cause": "",
            "output": "",
        }

    decision = runtime.step(eid, [inputs.RedriveExecution(time=now)], check=check, extra_meta=meta)
    if decision is None or not decision.events:  # refused by the interpreter: checked above
        raise ExecutionNotRedrivable(arn, "Execution cannot be redriven.")
    return now


def _check_redrivable(runtime: Runtime, snapshot: Snapshot, now: datetime) -> None:
    state, meta = snapshot.state, snapshot.meta
    arn = state.execution_arn or _arn(snapshot.execution_id)
    reason = refusal(state)
    if reason is None:
        store = runtime.store
        start = (
            parse_time(meta["start_date"])
            if meta.get("start_date")
            else store.events(snapshot.execution_id, 0, 0)[0].timestamp
        )
        stop = (
            parse_time(meta["stop_date"])
            if meta.get("stop_date")
            else store.events(snapshot.execution_id, -1, -1)[0].timestamp
        )
        verdict = redrive_status(
            state.status, start=start, stop=stop, event_count=snapshot.last_event_id, now=now
        )
        reason = verdict.reason
    if reason is not None:
        raise ExecutionNotRedrivable(arn, reason)


# -- re-run -------------------------------------------------------------------------------
def rerun(
    runtime: Runtime,
    eid: str,
    *,
    from_state: str | None = None,
    input: Any = ORIGINAL,
    name: str | None = None,
) -> str:
    store = runtime.store
    snapshot = store.load(eid)
    if snapshot is None:
        raise ExecutionDoesNotExist(_arn(eid))
    original = snapshot.state
    arn = original.execution_arn or _arn(eid)
    version = snapshot.definition_version
    definition = runtime._definition(version)
    machine = snapshot.meta.get("machine") or eid.partition(":")[0]
    begin: dict[str, Any] | None = None
    execution_input = original.input
    if from_state is None:
        if input is not ORIGINAL:
            execution_input = input
    else:
        state_input, variables = _entry(definition, store.events(eid), from_state, arn)
        if input is not ORIGINAL:
            state_input = input
        elif state_input is ORIGINAL:
            raise ValidationException(
                f"State '{from_state}' was never entered in {arn}: give the input it should "
                "begin with"
            )
        begin = {"start_at": from_state, "state_input": state_input, "variables": variables}
    new_name = name or f"{original.name[: MAX_NAME - 15]}-rerun-{uuid.uuid4().hex[:8]}"
    new_eid = runtime.start(
        store.get_definition(version),
        execution_input,
        machine=machine,
        name=new_name,
        begin=begin,
        extra_meta={"rerun_of": arn, "rerun_from_state": from_state or ""},
    )
    store.add_rerun(eid, _arn(new_eid))
    return new_eid


def _entry(
    definition: Definition, events: list[HistoryEvent], state: str, arn: str
) -> tuple[Any, dict[str, Any]]:
    """The input ``state`` got the last time it was entered, and the top-level variables
    then (``ORIGINAL`` and the final variables if it never was).

    State names are unique across a whole definition, so a name of the top-level machine
    identifies its own events among those of branches and iterations.

    Raises:
        ValidationException: ``state`` is not a state of the top-level machine.
    """
    if state not in definition.states:
        raise ValidationException(
            f"State '{state}' is not a state of the top-level machine of {arn}: a re-run "
            "begins at one of " + ", ".join(f"'{name}'" for name in definition.states)
        )
    entered: Any = ORIGINAL
    variables: dict[str, Any] = {}
    at_entry: dict[str, Any] = {}
    for event in events:
        details = event.details or {}
        if details.get("name") not in definition.states:
            continue
        if event.type.endswith("StateExited") and "assignedVariables" in details:
            for key, text in details["assignedVariables"].items():
                variables[key] = json.loads(text)
        elif event.type.endswith("StateEntered") and details["name"] == state:
            entered = json.loads(details["input"])
            at_entry = dict(variables)
    return entered, at_entry if entered is not ORIGINAL else variables
