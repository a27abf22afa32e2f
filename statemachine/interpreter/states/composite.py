"""Parallel and Map (inline): child frames, their results, failure tolerance, aborts.

A Parallel state's output is the array of its branches' outputs, in branch order; if a
branch fails, the others are aborted and the Parallel state fails with that error. A Map
state runs ItemProcessor once per item (at most MaxConcurrency at a time, 0 = no limit);
if an iteration fails, the Map state fails with its error unless ToleratedFailureCount or
ToleratedFailurePercentage allows it, in which case exceeding the threshold fails it with
States.ExceedToleratedFailureThreshold.

References: https://docs.aws.amazon.com/step-functions/latest/dg/state-parallel.html,
https://docs.aws.amazon.com/step-functions/latest/dg/state-map-inline.html,
https://docs.aws.amazon.com/step-functions/latest/dg/maprun-fail-threshold.html
"""

from __future__ import annotations

from functools import partial
from typing import Any

from statemachine import errors
from statemachine.dataflow.jsonata import QueryEvaluationFailure
from statemachine.dataflow.jsonata_results import json_type, require_type
from statemachine.dataflow.serialize import payload_json, to_json
from statemachine.dataflow.templates import select_field
from statemachine.interpreter import dataflow
from statemachine.interpreter.engine import Engine
from statemachine.interpreter.state import Frame, Waiting, entry
from statemachine.language import model
from statemachine.rules.catch import error_output

Step = tuple[str, Any] | None


def _effective_input(engine: Engine, frame: Frame, spec: Any) -> Any:
    data = dataflow.effective_input(engine, frame, spec)
    payload_json(data, f"state '{frame.state}' input")
    return data


def _child(engine: Engine, parent: Frame, started_id: int, index: int, branch: int) -> Frame:
    assert parent.state is not None
    child = Frame(
        id=f"{parent.id}/{started_id}.{index}",
        parent=parent.id,
        scope=(*parent.scope, parent.state, branch),
        index=index,
        last_id=started_id,
    )
    engine.state.frames[child.id] = child
    return child


def run_parallel(engine: Engine, frame: Frame, spec: model.ParallelState) -> Step:
    data = _effective_input(engine, frame, spec)
    engine.drop_halted(frame)
    frame.effective_input = data  # what a redriven branch that never started begins with
    started = engine.emit(frame, "ParallelStateStarted")
    frame.started_id = started
    frame.finished = frame.failed = 0
    frame.waiting = Waiting(kind="children")
    for index, branch in enumerate(spec.branches):
        child = _child(engine, frame, started, index, index)
        engine.later(partial(_start, engine, child, branch.start_at, data))
    return None


def _start(engine: Engine, child: Frame, start_at: str, data: Any) -> None:
    if not child.done and child.id in engine.state.frames:
        engine.enter(child, start_at, data)


def _whole_number(engine: Engine, frame: Frame, path: Any, data: Any, field: str) -> Any:
    value = select_field(path, engine.scope(frame, data), field)
    # AWS reads a decimal string too: MaxConcurrencyPath on a variable holding "1" runs with a
    # concurrency of 1 (LocalStack's AWS-recorded test_assign_reference_variables.snapshot.json,
    # MAP_STATE_REFERENCE_IN_MAX_CONCURRENCY_PATH).
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise errors.StatesFailure(
            errors.RUNTIME,
            f"The value of the field '{field}' must be a non-negative number, but was: "
            f"{to_json(value)}",
        )
    return value


def _jsonata_items(engine: Engine, frame: Frame, spec: model.MapState) -> list[Any]:
    """JSONata ``Items``: an array, or an expression that gives one; default the state input."""
    if spec.items is None:
        items = frame.input
        if not isinstance(items, list):
            raise QueryEvaluationFailure(
                f"Map state input must be an array, but was '{json_type(items)}' for value: "
                f"{to_json(items)}",
                "Items",
            )
        return items
    values = dataflow.bindings(engine, frame, frame.input)
    items = dataflow.evaluate(engine, spec.items, values)
    expressions = spec.items.expressions
    if isinstance(spec.items.source, str) and expressions:
        return list(require_type(expressions[0], "array", items))
    if not isinstance(items, list):
        raise QueryEvaluationFailure(
            f"The field 'Items' must be an array, but was '{json_type(items)}' for value: "
            f"{to_json(items)}",
            "Items",
        )
    return items


def _jsonata_map(
    engine: Engine, frame: Frame, spec: model.MapState
) -> tuple[list[Any], int, int | None, float | None]:
    items = _jsonata_items(engine, frame, spec)
    values = dataflow.bindings(engine, frame, frame.input)
    limit = 99_999_999
    concurrency = dataflow.integer(engine, spec.max_concurrency, values, 0, limit) or 0
    count = dataflow.integer(engine, spec.tolerated_failure_count, values, 0, limit)
    percentage = dataflow.number(engine, spec.tolerated_failure_percentage, values, 0, 100)
    return items, concurrency, count, percentage


def run_map(engine: Engine, frame: Frame, spec: model.MapState) -> Step:
    if spec.jsonata:
        items, concurrency, count, percentage = _jsonata_map(engine, frame, spec)
        return _start_map(engine, frame, spec, frame.input, items, concurrency, count, percentage)
    data = engine.select(frame, spec.input_path, frame.input, "InputPath")
    items = engine.select(frame, spec.items_path, data, "ItemsPath")
    if not isinstance(items, list):
        raise errors.StatesFailure(
            errors.RUNTIME,
            f"Map state input must be an array, but the ItemsPath "
            f"'{spec.items_path.text if spec.items_path else 'null'}' selected: {to_json(items)}",
        )
    concurrency = spec.max_concurrency or 0
    if spec.max_concurrency_path is not None:
        concurrency = int(
            _whole_number(engine, frame, spec.max_concurrency_path, data, "MaxConcurrencyPath")
        )
    count = spec.tolerated_failure_count
    if spec.tolerated_failure_count_path is not None:
        count = int(
            _whole_number(
                engine, frame, spec.tolerated_failure_count_path, data, "ToleratedFailureCountPath"
            )
        )
    percentage = spec.tolerated_failure_percentage
    if spec.tolerated_failure_percentage_path is not None:
        percentage = float(
            _whole_number(
                engine,
                frame,
                spec.tolerated_failure_percentage_path,
                data,
                "ToleratedFailurePercentagePath",
            )
        )
        if percentage > 100:
            raise errors.StatesFailure(
                errors.RUNTIME, "ToleratedFailurePercentagePath must select a value in [0, 100]"
            )
    return _start_map(engine, frame, spec, data, items, concurrency, count, percentage)


def _start_map(
    engine: Engine,
    frame: Frame,
    spec: model.MapState,
    data: Any,
    items: list[Any],
    concurrency: int,
    count: int | None,
    percentage: float | None,
) -> Step:
    engine.drop_halted(frame)
    frame.effective_input = data
    frame.item_count = len(items)
    frame.redo = []
    frame.started_items = frame.running = frame.finished = frame.failed = 0
    frame.max_concurrency = concurrency
    frame.tolerated_count = count
    frame.tolerated_percentage = float(percentage) if percentage is not None else None
    started = engine.emit(frame, "MapStateStarted", {"length": len(items)})
    frame.started_id = started
    for index, item in enumerate(items):
        engine.state.items[entry(frame, index)] = item
    frame.waiting = Waiting(kind="children")
    if not items:
        return _map_succeeded(engine, frame, spec)
    _fill(engine, frame, spec, started)
    return None


def _fill(engine: Engine, frame: Frame, spec: model.MapState, started: int) -> None:
    limit = frame.max_concurrency or frame.item_count
    while frame.running < limit and (frame.redo or frame.started_items < frame.item_count):
        if frame.redo:  # a redriven Map runs its failed and aborted iterations first
            _redo(engine, frame, frame.redo.pop(0))
            continue
        index = frame.started_items
        frame.started_items += 1
        frame.running += 1
        child = _child(engine, frame, started, index, -1)
        # AWS records every iteration's start before any of their states run.
        engine.emit(child, "MapIterationStarted", {"index": index, "name": frame.state})
        engine.later(partial(_iterate, engine, frame, spec, child))


def refill(engine: Engine, frame: Frame, spec: model.MapState) -> None:
    """Start iterations up to MaxConcurrency: the ones to run again first (a redrive)."""
    _fill(engine, frame, spec, frame.started_id)


def _redo(engine: Engine, parent: Frame, child_id: str) -> None:
    from statemachine.interpreter.redrive import resume

    child = engine.state.halted.pop(child_id, None)
    if child is None:
        return
    engine.state.frames[child.id] = child
    parent.running += 1
    resume(engine, child)


def start_child(engine: Engine, parent: Frame, child: Frame) -> None:
    """Start a branch or iteration from the beginning (a redriven one that never started)."""
    spec = engine.definition_of(parent)
    if isinstance(spec, model.ParallelState):
        start_at = spec.branches[child.index].start_at
        engine.later(partial(_start, engine, child, start_at, parent.effective_input))
    else:
        assert isinstance(spec, model.MapState)
        engine.later(partial(_iterate, engine, parent, spec, child))


def _iterate(engine: Engine, parent: Frame, spec: model.MapState, child: Frame) -> None:
    if child.done or child.id not in engine.state.frames:
        return
    index = child.index
    item = engine.state.items[entry(parent, index)]
    selector = spec.selector
    try:
        data = item
        if selector is not None and spec.jsonata:
            values = dataflow.bindings(engine, parent, parent.input, map_item=(index, item))
            data = dataflow.evaluate(engine, selector, values)
        elif selector is not None:
            data = selector.evaluate(
                engine.scope(parent, parent.effective_input, map_item=(index, item))
            )
    except errors.StatesFailure as failure:
        cause = engine.state_cause(parent, failure)
        engine.evaluation_failed(child, failure, cause, state=parent.state, previous=child.last_id)
        engine.fail_frame(child, failure.error, cause)
        return
    engine.enter(child, spec.processor.start_at, data)


def child_finished(
    engine: Engine, child: Frame, output: Any, failure: tuple[str | None, str | None] | None
) -> None:
    """A branch or iteration ended; advance, finish or fail its Parallel/Map state."""
    if engine.state.frames.pop(child.id, None) is None:
        return  # not one of its state's running branches or iterations (any more)
    assert child.parent is not None
    parent = engine.state.frames.get(child.parent)
    if parent is None or parent.done or parent.waiting is None or parent.waiting.kind != "children":
        return
    if failure is not None:
        engine.state.halted[child.id] = child  # a redrive runs it again
    spec = engine.definition_of(parent)
    try:
        if isinstance(spec, model.ParallelState):
            step = _branch_finished(engine, parent, spec, child, output, failure)
        else:
            assert isinstance(spec, model.MapState)
            step = _iteration_finished(engine, parent, spec, child, output, failure)
    except errors.StatesFailure as exc:
        engine.state_failed(parent, exc)
        return
    engine.resume(parent, step)


def _branch_finished(
    engine: Engine,
    parent: Frame,
    spec: model.ParallelState,
    child: Frame,
    output: Any,
    failure: tuple[str | None, str | None] | None,
) -> Step:
    if failure is not None:
        abort_children(engine, parent)
        engine.emit(parent, "ParallelStateFailed", previous=child.last_id)
        parent.waiting = None
        engine.fail_state(parent, failure[0] or errors.BRANCH_FAILED, failure[1])
        return None
    engine.state.results[entry(parent, child.index)] = output
    parent.finished += 1
    if parent.finished < len(spec.branches):
        return None
    parent.waiting = None
    results = collect(engine, parent, len(spec.branches))
    engine.drop_halted(parent)
    engine.emit(parent, "ParallelStateSucceeded", previous=child.last_id)
    output, assigned = dataflow.result_output(engine, parent, spec, results)
    return engine.exit_state(parent, spec, output, assigned)


def _exceeded(parent: Frame) -> bool:
    total = parent.item_count
    if parent.tolerated_count is not None and parent.failed > parent.tolerated_count:
        return True
    if parent.tolerated_percentage is not None and total:
        return parent.failed * 100.0 / total > parent.tolerated_percentage
    return False


def _iteration_finished(
    engine: Engine,
    parent: Frame,
    spec: model.MapState,
    child: Frame,
    output: Any,
    failure: tuple[str | None, str | None] | None,
) -> Step:
    details = {"index": child.index, "name": parent.state}
    parent.running -= 1
    if failure is not None:
        engine.emit(child, "MapIterationFailed", details)
        parent.failed += 1
        tolerant = parent.tolerated_count is not None or parent.tolerated_percentage is not None
        if not tolerant or _exceeded(parent):
            abort_children(engine, parent)
            engine.emit(parent, "MapStateFailed", previous=child.last_id)
            parent.waiting = None
            if tolerant:
                engine.fail_state(
                    parent,
                    errors.EXCEED_TOLERATED_FAILURE_THRESHOLD,
                    "The specified tolerated failure threshold was exceeded",
                )
            else:
                engine.fail_state(parent, failure[0] or errors.TASK_FAILED, failure[1])
            return None
        engine.state.results[entry(parent, child.index)] = error_output(
            failure[0] or "", failure[1]
        )
    else:
        engine.emit(child, "MapIterationSucceeded", details)
        engine.state.results[entry(parent, child.index)] = output
    parent.finished += 1
    if parent.finished < parent.item_count:
        _fill(engine, parent, spec, parent.started_id)
        return None
    return _map_succeeded(engine, parent, spec, child.last_id)


def _map_succeeded(
    engine: Engine, parent: Frame, spec: model.MapState, previous: int | None = None
) -> Step:
    parent.waiting = None
    results = collect(engine, parent, parent.item_count)
    parent.item_count, parent.redo = 0, []
    engine.drop_halted(parent)
    engine.emit(parent, "MapStateSucceeded", previous=previous)
    output, assigned = dataflow.result_output(engine, parent, spec, results)
    return engine.exit_state(parent, spec, output, assigned)


def running_children(engine: Engine, parent: Frame) -> list[Frame]:
    """The branches or iterations of ``parent`` that have not finished, by index (they all
    belong to its current run: a retried or caught state aborted the earlier run's). Reads
    every frame: a partial state loads them all."""
    found = [frame for frame in engine.state.frames.values() if frame.parent == parent.id]
    return sorted(found, key=lambda child: child.index)


def collect(engine: Engine, frame: Frame, count: int) -> list[Any]:
    """The results of a Parallel or Map frame's run, in index order, taken out of the state
    with its items. Reads every entry: a partial state loads them all, once, at the end."""
    prefix = entry(frame, 0)[:-1]
    results, items = engine.state.results, engine.state.items
    found = {key: results.pop(key) for key in [k for k in results if k.startswith(prefix)]}
    for key in [k for k in items if k.startswith(prefix)]:
        del items[key]
    return [found.get(f"{prefix}{index}") for index in range(count)]


def abort_children(engine: Engine, parent: Frame) -> None:
    """Abort every branch or iteration of ``parent`` still running, depth first."""
    from statemachine.interpreter.states.task import task_aborted

    for child in running_children(engine, parent):
        engine.state.frames.pop(child.id, None)
        if child.done:
            continue
        child.done = True
        engine.state.halted[child.id] = child  # a redrive runs it again
        abort_frame_state(engine, child, task_aborted)
        if child.scope and child.scope[-1] == -1:
            engine.emit(child, "MapIterationAborted", {"index": child.index, "name": parent.state})


def abort_frame_state(engine: Engine, frame: Frame, task_aborted: Any) -> None:
    """Abort the state ``frame`` is waiting in (task, timer, retry or nested children)."""
    waiting = frame.waiting
    if waiting is None or frame.state is None:
        return
    spec = engine.definition_of(frame)
    if waiting.kind == "task":
        task_aborted(engine, frame)
    elif waiting.kind in ("timer", "retry"):
        engine.cancel_timer(waiting.timer_id)
        frame.waiting = None
        engine.emit(frame, f"{spec.type}StateAborted")
    elif waiting.kind == "children":
        abort_children(engine, frame)
        frame.waiting = None
        engine.emit(frame, f"{spec.type}StateAborted")
