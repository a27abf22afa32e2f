"""The transitions every state shares: enter, exit, fail (Retry, Catch), finish a frame.

One ``Engine`` lives for one ``decide`` call. It appends history events through
:meth:`Engine.emit` and collects commands; the per-type behaviour lives in ``states/``.
Frames are advanced from a FIFO queue, each one until it blocks, so a long chain of
Pass/Choice states never recurses and the order of events is deterministic.
"""

from __future__ import annotations

import functools
import hashlib
import random
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from statemachine import errors
from statemachine.dataflow.paths import Path, PathNotFound, ResultPathMismatch, write_result
from statemachine.dataflow.scope import Scope
from statemachine.dataflow.serialize import payload_json, to_json
from statemachine.interpreter import variables
from statemachine.interpreter.commands import CancelTimer, Command, StartTimer
from statemachine.interpreter.context import context_object, context_time
from statemachine.interpreter.events import HistoryEvent
from statemachine.interpreter.state import ExecutionState, Frame, Waiting
from statemachine.language import model
from statemachine.rules.catch import find_catcher
from statemachine.rules.retry import decide_retry

#: AWS fails an execution whose history would exceed 25,000 events.
MAX_HISTORY_EVENTS = 25_000


class HistoryLimitExceeded(Exception):
    pass


class _Seeded(random.Random):
    """``random.Random`` (the same draws) that notes whether anything was drawn: most
    decisions hand it to the data flow and draw nothing."""

    drawn = False

    def random(self) -> float:
        self.drawn = True
        return super().random()

    def getrandbits(self, k: int, /) -> int:
        self.drawn = True
        return super().getrandbits(k)


class Engine:
    def __init__(self, definition: model.Definition, state: ExecutionState, now: datetime) -> None:
        self.definition = definition
        self.state = state
        self.now = now
        self.events: list[HistoryEvent] = []
        self.commands: list[Command] = []
        self._queue: deque[Callable[[], None]] = deque()
        self._rng: _Seeded | None = None

    @functools.cached_property
    def now_text(self) -> str:
        """``now`` as the context object writes it (``$$.State.EnteredTime``): formatted
        once per decision, for every state it enters."""
        return context_time(self.now)

    # -- history and commands -------------------------------------------------------
    def emit(
        self,
        frame: Frame | None,
        event_type: str,
        details: dict[str, Any] | None = None,
        previous: int | None = None,
    ) -> int:
        state = self.state
        if state.last_event_id >= MAX_HISTORY_EVENTS:
            raise HistoryLimitExceeded
        event_id = state.last_event_id + 1
        if previous is None:
            previous = frame.last_id if frame is not None else state.last_event_id
        self.events.append(
            HistoryEvent(
                id=event_id,
                previous_event_id=previous,
                type=event_type,
                timestamp=self.now,
                details=details,
            )
        )
        state.last_event_id = event_id
        if frame is not None:
            frame.last_id = event_id
        return event_id

    def command(self, command: Command) -> None:
        self.commands.append(command)

    def start_timer(self, frame: Frame, timer_id: str, seconds: float) -> str:
        self.state.timers[timer_id] = frame.id
        self.command(StartTimer(timer_id=timer_id, fire_at=self.now + timedelta(seconds=seconds)))
        return timer_id

    def drop_halted(self, frame: Frame) -> None:
        """Forget the failed or aborted branches/iterations under ``frame``: its Parallel or
        Map state moved on (retried, caught, started again or done), so no redrive will run
        them again."""
        halted = self.state.halted
        if halted:
            prefix = f"{frame.id}/"
            for frame_id in [key for key in halted if key.startswith(prefix)]:
                del halted[frame_id]

    def cancel_timer(self, timer_id: str | None) -> None:
        if timer_id is not None and self.state.timers.pop(timer_id, None) is not None:
            self.command(CancelTimer(timer_id=timer_id))

    @property
    def drew(self) -> bool:
        """Whether this decision drew from ``rng``."""
        return self._rng is not None and self._rng.drawn

    def rng(self) -> random.Random:
        """One generator per decision, seeded by the execution and its position in history
        when first needed; draws happen in a fixed order, so a replay draws the same values."""
        if self._rng is None:
            seed = f"{self.state.execution_arn}#{self.state.last_event_id}".encode()
            self._rng = _Seeded(int.from_bytes(hashlib.sha256(seed).digest()[:8], "big"))
        return self._rng

    # -- lookups --------------------------------------------------------------------
    def machine(self, scope: tuple[str | int, ...]) -> model.StateMachine:
        machine: model.StateMachine = self.definition
        for name, index in zip(scope[::2], scope[1::2], strict=True):
            holder = machine.states[str(name)]
            if isinstance(holder, model.ParallelState):
                machine = holder.branches[int(index)]
            else:
                assert isinstance(holder, model.MapState)
                processor = holder.processor
                machine = model.StateMachine.model_construct(
                    start_at=processor.start_at, states=processor.states
                )
        return machine

    def definition_of(self, frame: Frame) -> model.AnyState:
        assert frame.state is not None
        return self.machine(frame.scope).states[frame.state]

    def scope(
        self,
        frame: Frame,
        data: Any,
        *,
        map_item: tuple[int, Any] | None = None,
        token: str | None = None,
    ) -> Scope:
        return Scope(
            input=data,
            context=context_object(self.state, frame, map_item=map_item, token=token),
            variables=variables.visible(self, frame),
            rng=self.rng(),
        )

    # -- data flow helpers ----------------------------------------------------------
    def select(self, frame: Frame, path: Path | None, data: Any, field: str) -> Any:
        """InputPath/OutputPath/ItemsPath: null gives {}, a missing definite path fails."""
        if path is None:
            return {}
        if path.is_root:
            return data
        try:
            return path.select(self.scope(frame, data))
        except PathNotFound:
            raise errors.StatesFailure(
                errors.RUNTIME,
                f"Invalid path '{path.text}' : No results for path: {_bracketed(path)}",
            ) from None

    def place_result(self, frame: Frame, path: Path | None, raw: Any, result: Any) -> Any:
        if path is None:
            return raw
        try:
            return write_result(raw, path, result)
        except ResultPathMismatch:
            raise errors.StatesFailure(
                errors.RESULT_PATH_MATCH_FAILURE,
                f"Unable to apply ReferencePath {path.text} to input {to_json(raw)}",
            ) from None

    # -- queue ----------------------------------------------------------------------
    def later(self, action: Callable[[], None]) -> None:
        self._queue.append(action)

    def drain(self) -> None:
        while self._queue and self.state.running:
            self._queue.popleft()()

    # -- transitions ----------------------------------------------------------------
    def enter(self, frame: Frame, name: str, raw_input: Any) -> None:
        """Enter state ``name`` in ``frame`` and run it as far as it goes without waiting."""
        from statemachine.interpreter.states import run_state

        while True:
            frame.state = name
            frame.input = raw_input
            frame.entered_time = self.now_text
            # Reset only what a previous state left set: most states leave nothing, and
            # this runs at every state entered.
            if frame.retries:
                frame.retries = []
            if frame.retry_count:
                frame.retry_count = 0
            if frame.waiting is not None:
                frame.waiting = None
            spec = self.definition_of(frame)
            frame.entered_previous = frame.last_id
            frame.entered_id = self.emit(
                frame,
                f"{spec.type}StateEntered",
                {"input": to_json(raw_input), "inputDetails": {"truncated": False}, "name": name},
                previous=frame.last_id,
            )
            try:
                step = run_state(self, frame, spec)
            except errors.StatesFailure as failure:
                self.state_failed(frame, failure)
                return
            if step is None:
                return
            name, raw_input = step
            if not self.state.running or frame.done:
                return

    def state_cause(self, frame: Frame, failure: errors.StatesFailure) -> str:
        """Failures of the data flow carry AWS's prefix naming the state and its entry."""
        if failure.error in (
            errors.RUNTIME,
            errors.INTRINSIC_FAILURE,
            errors.RESULT_PATH_MATCH_FAILURE,
            errors.QUERY_EVALUATION_ERROR,
        ):
            return (
                f"An error occurred while executing the state '{frame.state}' "
                f"(entered at the event id #{frame.entered_id}). {failure.cause}"
            )
        return failure.cause

    def state_failed(self, frame: Frame, failure: errors.StatesFailure) -> None:
        """The current state failed with ``failure``: record it, then retry, catch or fail."""
        cause = self.state_cause(frame, failure)
        self.evaluation_failed(frame, failure, cause)
        self.fail_state(frame, failure.error, cause)

    def evaluation_failed(
        self,
        frame: Frame,
        failure: errors.StatesFailure,
        cause: str,
        state: str | None = None,
        previous: int | None = None,
    ) -> None:
        """A JSONata failure gets an EvaluationFailed event before the state fails. AWS links it
        to the event before the StateEntered one (recorded in LocalStack's
        test_assign_reference_variables.snapshot.json, BASE_UNDEFINED_*)."""
        if failure.error != errors.QUERY_EVALUATION_ERROR:
            return
        details: dict[str, Any] = {"cause": cause, "error": failure.error}
        location = getattr(failure, "location", "")
        if location:
            details["location"] = location
        details["state"] = state or frame.state or ""
        if previous is None:
            previous = frame.entered_previous
        self.emit(frame, "EvaluationFailed", details, previous=previous)

    def exit_state(
        self,
        frame: Frame,
        spec: model.AnyState,
        output: Any,
        assigned: dict[str, Any] | None = None,
    ) -> tuple[str, Any] | None:
        """Emit <Type>StateExited; return the next state to enter, or finish the frame."""
        self.emit_exited(frame, spec, output, assigned)
        if spec.next_state is not None and not spec.is_end:
            return spec.next_state, output
        self.finish_frame(frame, output)
        return None

    def emit_exited(
        self, frame: Frame, spec: Any, output: Any, assigned: dict[str, Any] | None = None
    ) -> None:
        """Check the output, commit the assignments, emit <Type>StateExited (AWS adds
        ``assignedVariables`` and ``assignedVariablesDetails`` when the state assigned any)."""
        text = payload_json(output, f"state/task '{frame.state}' output")
        details: dict[str, Any] = {"name": frame.state}
        details.update(variables.commit(self, frame, assigned))
        details["output"] = text
        details["outputDetails"] = {"truncated": False}
        self.emit(frame, f"{spec.type}StateExited", details)

    def finish_output(self, frame: Frame, spec: Any, result: Any) -> Any:
        """ResultSelector, ResultPath, OutputPath: the state's output from its result."""
        if getattr(spec, "result_selector", None) is not None:
            result = spec.result_selector.evaluate(self.scope(frame, result))
        placed = self.place_result(frame, spec.result_path, frame.input, result)
        return self.select(frame, spec.output_path, placed, "OutputPath")

    def resume(self, frame: Frame, step: tuple[str, Any] | None) -> None:
        if step is not None and self.state.running:
            self.enter(frame, *step)

    def finish_frame(self, frame: Frame, output: Any) -> None:
        from statemachine.interpreter.states.composite import child_finished

        frame.done = True
        if frame.parent is None:
            self.state.status = "SUCCEEDED"
            self.state.output = output
            self.emit(
                frame,
                "ExecutionSucceeded",
                {"output": to_json(output), "outputDetails": {"truncated": False}},
            )
            self.end_execution()
            return
        child_finished(self, frame, output, None)

    def fail_state(self, frame: Frame, error: str, cause: str | None) -> None:
        """The current state of ``frame`` failed: retry, catch, or fail the frame."""
        spec = self.definition_of(frame)
        retriers = getattr(spec, "retry", [])
        catchers = getattr(spec, "catch", [])
        decision = decide_retry(retriers, error, frame.retries, self.rng().random())
        composite = isinstance(spec, model.ParallelState | model.MapState)
        if composite and (decision is not None or find_catcher(catchers, error) is not None):
            self.drop_halted(frame)
        if decision is not None:
            counts = frame.retries + [0] * (len(retriers) - len(frame.retries))
            counts[decision.index] += 1
            frame.retries = counts
            frame.retry_count += 1
            timer = f"{frame.id}@{self.state.last_event_id}:retry"
            frame.waiting = Waiting(kind="retry", timer_id=timer)
            self.start_timer(frame, timer, decision.delay_seconds)
            return
        catcher = find_catcher(catchers, error)
        if catcher is None:
            self.fail_frame(frame, error, cause)
            return
        frame.waiting = None
        from statemachine.interpreter.dataflow import catch_output

        try:
            output, assigned = catch_output(self, frame, spec, catcher, error, cause)
            self.emit_exited(frame, spec, output, assigned)
        except errors.StatesFailure as failure:
            failed_cause = self.state_cause(frame, failure)
            self.evaluation_failed(frame, failure, failed_cause)
            self.fail_frame(frame, failure.error, failed_cause)
            return
        self.resume(frame, (catcher.next, output))

    def fail_frame(self, frame: Frame, error: str | None, cause: str | None) -> None:
        from statemachine.interpreter.states.composite import child_finished

        frame.done = True
        frame.waiting = None
        frame.error = error
        if frame.parent is None:
            self.state.status = "FAILED"
            self.state.error, self.state.cause = error, cause
            self.emit(frame, "ExecutionFailed", _error_details(error, cause))
            self.end_execution()
            return
        child_finished(self, frame, None, (error, cause))

    def end_execution(self) -> None:
        """Nothing runs after the execution ends: cancel every timer still pending."""
        for timer_id in list(self.state.timers):
            self.cancel_timer(timer_id)
        self.cancel_timer(self.state.execution_timer)
        self.state.tasks.clear()


def _error_details(error: str | None, cause: str | None) -> dict[str, Any]:
    details: dict[str, Any] = {}
    if error is not None:
        details["error"] = error
    if cause is not None:
        details["cause"] = cause
    return details


def _bracketed(path: Path) -> str:
    steps = path.steps or ()
    return "$" + "".join(f"[{s}]" if isinstance(s, int) else f"['{s}']" for s in steps)


error_details = _error_details
