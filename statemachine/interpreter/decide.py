"""``decide(definition, state, input) -> Decision``: the whole interpreter, pure.

Given what happened (an input from inputs.py) and the execution's state, return the
history events to append and the commands to carry out. No I/O, no clock (time arrives
in the input), no randomness but a generator seeded from the history. It never raises:
an internal error fails the execution with States.Runtime rather than losing it.

An input that no longer applies (a completion for a task that already timed out, a
second delivery of the same completion, a timer that was cancelled) yields no events:
this is what makes duplicate deliveries harmless.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from statemachine import errors
from statemachine.dataflow.serialize import payload_size, to_json
from statemachine.errors import PAYLOAD_LIMIT_BYTES
from statemachine.interpreter import inputs, redrive
from statemachine.interpreter.commands import Command, StartTimer
from statemachine.interpreter.context import context_time
from statemachine.interpreter.engine import Engine, HistoryLimitExceeded, error_details
from statemachine.interpreter.events import HistoryEvent
from statemachine.interpreter.state import ExecutionState, Frame, Incomplete
from statemachine.interpreter.states import composite, run_state, simple, task
from statemachine.language import model


@dataclass
class Decision:
    state: ExecutionState
    events: list[HistoryEvent] = field(default_factory=list)
    commands: list[Command] = field(default_factory=list)
    #: Whether it drew from the generator seeded by the history's position (a UUID, a
    #: random number, a jittered backoff): taken at another position, it would differ.
    drew: bool = False


def decide(
    definition: model.Definition, state: ExecutionState | None, event: inputs._Input
) -> Decision:
    """Apply ``event``; ``state`` is taken over and returned, changed, in the Decision.

    Raises:
        Incomplete: only when ``state`` holds partial mappings (``PartialDict``) and the
            input reached an entry they lack; ``state`` is then spoiled, and the caller
            decides again from a state that holds the entry.
    """
    state = state if state is not None else ExecutionState()
    engine = Engine(definition, state, event.time)
    try:
        _apply(engine, event)
        engine.drain()
    except Incomplete:
        raise  # a partial state lacked an entry: the caller loads more and decides again
    except HistoryLimitExceeded:
        _terminate(
            engine,
            "FAILED",
            "ExecutionFailed",
            errors.RUNTIME,
            "The execution reached the maximum number of history events (25000).",
        )
    except Exception as exc:  # decide never raises: the execution fails instead
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        _terminate(
            engine,
            "FAILED",
            "ExecutionFailed",
            errors.RUNTIME,
            f"Internal interpreter error: {detail}",
        )
    return Decision(
        state=state, events=engine.events, commands=engine.commands, drew=engine.drew
    )


def _terminate(
    engine: Engine, status: Any, event_type: str, error: str | None, cause: str | None
) -> None:
    state = engine.state
    if not state.running:
        return
    state.status = status
    state.error, state.cause = error, cause
    engine.state.last_event_id = max(engine.state.last_event_id, 0)
    engine.events.append(
        HistoryEvent(
            id=state.last_event_id + 1,
            previous_event_id=state.last_event_id,
            type=event_type,
            timestamp=engine.now,
            details=error_details(error, cause),
        )
    )
    state.last_event_id += 1
    engine.end_execution()


def _apply(engine: Engine, event: inputs._Input) -> None:
    match event:
        case inputs.StartExecution():
            _start(engine, event)
        case inputs.StopExecution():
            _terminate(engine, "ABORTED", "ExecutionAborted", event.error, event.cause)
        case inputs.TimerFired():
            _timer(engine, event.timer_id)
        case inputs.TaskStarted():
            _on_task(engine, event.token, lambda f, s: task.task_started(engine, f, s))
        case inputs.TaskHeartbeat():
            _on_task(engine, event.token, lambda f, s: task.task_heartbeat(engine, f, s))
        case inputs.TaskSucceeded():
            output, whole = event.output, event.service_response
            _on_handler(
                engine,
                event.token,
                lambda f, s: engine.resume(f, task.task_succeeded(engine, f, s, output, whole)),
            )
        case inputs.TaskFailed():
            error, cause = event.error, event.cause
            _on_handler(
                engine, event.token, lambda f, s: task.task_failed(engine, f, s, error, cause)
            )
        case inputs.SendTaskSuccess():
            result = event.output
            _on_callback(
                engine,
                event.token,
                lambda f, s: engine.resume(f, task.callback_succeeded(engine, f, s, result)),
            )
        case inputs.SendTaskFailure():
            error, cause = event.error, event.cause
            _on_callback(
                engine, event.token, lambda f, s: task.callback_failed(engine, f, s, error, cause)
            )
        case inputs.RedriveExecution():
            redrive.redrive(engine)


def _start(engine: Engine, event: inputs.StartExecution) -> None:
    state = engine.state
    if state.last_event_id:
        return  # already started: a duplicate start changes nothing
    state.execution_arn, state.name = event.execution_arn, event.name
    state.state_machine_arn, state.state_machine_name = (
        event.state_machine_arn,
        event.state_machine_name,
    )
    state.role_arn, state.input = event.role_arn, event.input
    state.start_time = context_time(event.time)
    root = Frame(id="")
    state.frames[root.id] = root
    engine.emit(
        None,
        "ExecutionStarted",
        {
            "input": to_json(event.input),
            "inputDetails": {"truncated": False},
            "roleArn": event.role_arn,
        },
    )
    if payload_size(event.input) > PAYLOAD_LIMIT_BYTES:
        engine.fail_frame(
            root,
            errors.DATA_LIMIT_EXCEEDED,
            "The execution input exceeds the maximum size of 262144 bytes.",
        )
        return
    timeout = engine.definition.timeout_seconds
    if timeout is not None:
        state.execution_timer = "execution:timeout"
        engine.command(
            StartTimer(
                timer_id=state.execution_timer, fire_at=engine.now + timedelta(seconds=timeout)
            )
        )
    if event.start_at is not None:
        # A re-run from a state (beyond AWS): the machine's variables as they were there.
        root.variables = dict(event.variables)
        root.variable_sizes = {name: payload_size(v) for name, v in event.variables.items()}
        engine.enter(root, event.start_at, event.state_input)
        return
    engine.enter(root, engine.definition.start_at, event.input)


def _on_task(engine: Engine, token: str, act: Callable[[Frame, model.TaskState], None]) -> None:
    frame_id = engine.state.tasks.get(token)
    frame = engine.state.frames.get(frame_id) if frame_id is not None else None
    if frame is None or frame.waiting is None or frame.waiting.token != token:
        return
    spec = engine.definition_of(frame)
    assert isinstance(spec, model.TaskState)
    _guard(engine, frame, lambda: act(frame, spec))


def _on_handler(
    engine: Engine, token: str, act: Callable[[Frame, model.TaskState], None]
) -> None:
    """The handler's outcome: once a ``.waitForTaskToken`` task has recorded it
    (TaskSubmitted), a repeated outcome (a redelivered message) changes nothing."""
    if engine.state.awaits_handler(token):
        _on_task(engine, token, act)


def _on_callback(
    engine: Engine, token: str, act: Callable[[Frame, model.TaskState], None]
) -> None:
    """SendTaskSuccess / SendTaskFailure: only a ``.waitForTaskToken`` task takes them."""
    if engine.state.awaits_callback(token):
        _on_task(engine, token, act)


def _guard(engine: Engine, frame: Frame, action: Callable[[], None]) -> None:
    try:
        action()
    except errors.StatesFailure as failure:
        engine.state_failed(frame, failure)


def _timer(engine: Engine, timer_id: str) -> None:
    state = engine.state
    if timer_id == state.execution_timer and state.running:
        state.execution_timer = None
        _terminate(
            engine, "TIMED_OUT", "ExecutionTimedOut", errors.TIMEOUT, "The execution timed out."
        )
        return
    frame_id = state.timers.pop(timer_id, None)
    frame = state.frames.get(frame_id) if frame_id is not None else None
    if frame is None or frame.waiting is None:
        return
    waiting = frame.waiting
    spec = engine.definition_of(frame)
    if waiting.kind == "timer" and waiting.timer_id == timer_id:
        assert isinstance(spec, model.WaitState)
        _guard(
            engine, frame, lambda: engine.resume(frame, simple.wait_elapsed(engine, frame, spec))
        )
    elif waiting.kind == "retry" and waiting.timer_id == timer_id:
        frame.waiting = None
        _guard(engine, frame, lambda: engine.resume(frame, run_state(engine, frame, spec)))
    elif waiting.kind == "task" and isinstance(spec, model.TaskState):
        if timer_id == waiting.timeout_timer:
            waiting.timeout_timer = None
            _guard(engine, frame, lambda: task.task_timed_out(engine, frame, spec, errors.TIMEOUT))
        elif timer_id == waiting.heartbeat_timer:
            waiting.heartbeat_timer = None
            _guard(
                engine,
                frame,
                lambda: task.task_timed_out(engine, frame, spec, errors.HEARTBEAT_TIMEOUT),
            )


__all__ = ["Decision", "composite", "decide"]
