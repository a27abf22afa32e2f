"""Redrive, as AWS's RedriveExecution does it: a pure function of the execution's state.

A FAILED, TIMED_OUT or ABORTED execution carries on from the states that did not succeed,
with the same input and the same definition (the runtime keeps the definition version the
execution started with). What AWS documents, and how it is done here
(https://docs.aws.amazon.com/step-functions/latest/dg/redrive-executions.html):

- The history goes on: ``ExecutionRedriven`` (``redriveCount``) follows the event that
  ended the execution, and the redrive count grows by one (``$$.Execution.RedriveCount``;
  ``$$.Execution.RedriveTime`` is when it was last redriven).
- Each state that was entered and never exited runs again from its entry: it is entered
  again with the input it had (``<Type>StateEntered``), so a Task is scheduled again, a
  Choice re-evaluated, a Fail state fails again, a Wait waits again (one whose Timestamp is
  past exits at once). Its retry counts start at 0 and its TimeoutSeconds anew, as AWS says.
- A Parallel or inline Map state runs again only the branches and iterations that failed
  or were aborted (they resume the same way, recursively); the outputs of those that
  succeeded are kept, and a Map starts the iterations it had not started yet. A Parallel or
  Map that failed with States.DataLimitExceeded runs again whole, as AWS does, and so does
  one that failed by itself rather than through a branch or iteration (an ItemsPath,
  ResultSelector or output error): it has nothing finer to resume.
- The machine's TimeoutSeconds starts again from the redrive.
- A SUCCEEDED or RUNNING execution is not redriven, nor one whose history has 24,999 events
  or more (room for ExecutionRedriven and one more); the runtime adds AWS's time limits
  (redrivable for 14 days after it stopped, open at most a year: ``runtime/redrivable.py``).

Which event a resumed state's ``StateEntered`` follows: in the top-level machine, the
ExecutionRedriven event; in a branch or iteration, the last event of that branch or
iteration (its failure or abort), so each event still points at the one before it in the
same branch. Resumed iterations get no second MapIterationStarted. AWS publishes no
recorded history of a redriven execution, so these two choices are this project's.

How the state knows what to resume: the interpreter keeps failed and aborted branches and
iterations in ``ExecutionState.halted`` until their Parallel or Map state moves on (is
retried, caught, started again or finishes); an execution that was stopped or timed out
still has all its frames where they were.
"""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from typing import Any

from statemachine import errors
from statemachine.dataflow.serialize import payload_size
from statemachine.errors import PAYLOAD_LIMIT_BYTES
from statemachine.interpreter.commands import StartTimer
from statemachine.interpreter.engine import Engine
from statemachine.interpreter.state import ExecutionState, Frame, Waiting, entry
from statemachine.interpreter.states import composite
from statemachine.language import model

#: Statuses a redrive takes an execution out of.
REDRIVABLE = ("FAILED", "TIMED_OUT", "ABORTED")
#: A redrive needs room for ExecutionRedriven and one more event below AWS's 25,000.
MAX_REDRIVABLE_EVENTS = 24_999


def refusal(state: ExecutionState) -> str | None:
    """Why ``state`` cannot be redriven (DescribeExecution's ``redriveStatusReason``
    wording), or None if it can."""
    if not state.last_event_id or "" not in state.frames:
        return "Execution has not started."
    if state.status not in REDRIVABLE:
        return f"Execution is {state.status} and cannot be redriven."
    if state.last_event_id >= MAX_REDRIVABLE_EVENTS:
        return "Execution history event limit exceeded."
    return None


def redrive(engine: Engine) -> None:
    """Apply a RedriveExecution input; nothing happens if ``refusal`` says no."""
    state = engine.state
    if refusal(state) is not None:
        return
    root = state.frames[""]
    # Every branch or iteration still in ``frames`` was cut short by the stop or timeout:
    # set them aside with the failed ones; the resumption takes back what runs again.
    for frame_id in [key for key in state.frames if key]:
        state.halted[frame_id] = state.frames.pop(frame_id)
    state.status = "RUNNING"
    state.output = state.error = state.cause = None
    state.redrive_count += 1
    state.redrive_time = engine.now_text
    root.last_id = engine.emit(None, "ExecutionRedriven", {"redriveCount": state.redrive_count})
    timeout = engine.definition.timeout_seconds
    if timeout is not None:
        state.execution_timer = f"execution:timeout@{state.redrive_count}"
        engine.command(
            StartTimer(
                timer_id=state.execution_timer, fire_at=engine.now + timedelta(seconds=timeout)
            )
        )
    resume(engine, root)


def resume(engine: Engine, frame: Frame) -> None:
    """Run ``frame`` again from the state it did not finish (see the module docstring)."""
    frame.done = False
    frame.waiting = None
    error, frame.error = frame.error, None
    if frame.state is None:
        if frame.parent is None:  # the execution failed before its first state
            _start_again(engine, frame)
        else:  # a branch or iteration aborted before its first state
            composite.start_child(engine, engine.state.frames[frame.parent], frame)
        return
    spec = engine.definition_of(frame)
    if (
        isinstance(spec, model.ParallelState | model.MapState)
        and error != errors.DATA_LIMIT_EXCEEDED
    ):
        children = sorted(
            (child for child in engine.state.halted.values() if child.parent == frame.id),
            key=lambda child: child.index,
        )
        if children:
            _resume_children(engine, frame, spec, children)
            return
    engine.later(partial(_enter_again, engine, frame, frame.state, frame.input))


def _start_again(engine: Engine, root: Frame) -> None:
    """The execution failed before its first state (its input was over the limit): it
    fails the same way again."""
    data = engine.state.input
    if payload_size(data) > PAYLOAD_LIMIT_BYTES:
        engine.fail_frame(
            root,
            errors.DATA_LIMIT_EXCEEDED,
            "The execution input exceeds the maximum size of 262144 bytes.",
        )
        return
    engine.later(partial(_enter_again, engine, root, engine.definition.start_at, data))


def _enter_again(engine: Engine, frame: Frame, name: str, data: Any) -> None:
    if not frame.done and frame.id in engine.state.frames:
        engine.enter(frame, name, data)


def _resume_children(
    engine: Engine,
    frame: Frame,
    spec: model.ParallelState | model.MapState,
    children: list[Frame],
) -> None:
    """A Parallel or Map state carries on: only its unfinished branches or iterations."""
    frame.waiting = Waiting(kind="children")
    frame.failed = 0
    frame.retries, frame.retry_count = [], 0  # its Retry starts again too
    for child in children:
        engine.state.results.pop(entry(frame, child.index), None)
    if isinstance(spec, model.ParallelState):
        frame.finished = len(spec.branches) - len(children)
        for child in children:
            engine.state.frames[child.id] = engine.state.halted.pop(child.id)
        for child in children:
            resume(engine, child)
        return
    # A Map: the iterations to run again come first, within MaxConcurrency, then the items
    # it never started.
    frame.running = 0
    frame.finished = frame.started_items - len(children)
    frame.redo = [child.id for child in children]
    composite.refill(engine, frame, spec)


__all__ = ["MAX_REDRIVABLE_EVENTS", "REDRIVABLE", "redrive", "refusal", "resume"]
