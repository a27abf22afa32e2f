"""Task states: schedule a registered function, then turn its outcome into the output.

Events follow the Resource form, as AWS records them: a Lambda ARN gives
LambdaFunctionScheduled/Started/Succeeded/Failed/TimedOut; ``arn:aws:states:::lambda:invoke``
gives TaskScheduled/Started/Succeeded/Failed/TimedOut and wraps the function's return
value as the Lambda Invoke API response.

``arn:aws:states:::lambda:invoke.waitForTaskToken`` (the callback pattern) runs the handler
the same way, but its successful return does not complete the task: it is recorded as
TaskSubmitted (the Invoke API's response), and the task then waits for SendTaskSuccess,
SendTaskFailure or SendTaskHeartbeat with the token (``$$.Task.Token``, which the definition
hands to the handler through its Parameters). The callback's output is the task's result,
as it is (TaskSucceeded); a failing invocation fails the task as for ``lambda:invoke``.
TimeoutSeconds covers the whole wait; HeartbeatSeconds restarts with each heartbeat. Event
order and details as AWS recorded them for ``sqs:sendMessage.waitForTaskToken``
(localstack/localstack tests/aws/services/stepfunctions/v2/callback/
test_callback.snapshot.json: TaskScheduled, TaskStarted, TaskSubmitted, then TaskSucceeded,
TaskFailed or TaskTimedOut; ``resource`` is the API name with its ``.waitForTaskToken``).

References: https://docs.aws.amazon.com/step-functions/latest/dg/state-task.html,
https://docs.aws.amazon.com/step-functions/latest/dg/connect-lambda.html,
https://docs.aws.amazon.com/step-functions/latest/dg/connect-to-resource.html#connect-wait-token
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from statemachine import errors
from statemachine.dataflow.paths import Path
from statemachine.dataflow.serialize import checked_size, payload_json, to_json
from statemachine.dataflow.templates import select_field
from statemachine.interpreter import dataflow
from statemachine.interpreter.commands import RunTask
from statemachine.interpreter.engine import Engine, error_details
from statemachine.interpreter.state import Frame, Waiting
from statemachine.language import model
from statemachine.language.resources import function_name, resource_kind

Step = tuple[str, Any] | None


def _region(engine: Engine) -> str:
    parts = engine.state.execution_arn.split(":")
    return parts[3] if len(parts) > 3 and parts[3] else "us-east-1"


def _seconds(
    engine: Engine, frame: Frame, static: int | None, path: Path | None, data: Any, field: str
) -> int | None:
    if path is None:
        return static
    value = select_field(path, engine.scope(frame, data), field)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise errors.StatesFailure(
            errors.RUNTIME,
            f"The value of the field '{field}' must be a positive integer, but was: "
            f"{to_json(value)}",
        )
    return value


def _timeouts(
    engine: Engine, frame: Frame, spec: model.TaskState, data: Any
) -> tuple[int | None, int | None]:
    """TimeoutSeconds and HeartbeatSeconds: literals, JSONPath ``*Path`` fields or JSONata."""
    if spec.jsonata:
        values = dataflow.bindings(engine, frame, frame.input)
        return (
            dataflow.integer(engine, spec.timeout_seconds, values, 1, 99_999_999),
            dataflow.integer(engine, spec.heartbeat_seconds, values, 1, 99_999_999),
        )
    timeout = _seconds(
        engine, frame, spec.timeout_seconds, spec.timeout_seconds_path, data, "TimeoutSecondsPath"
    )
    heartbeat = _seconds(
        engine,
        frame,
        spec.heartbeat_seconds,
        spec.heartbeat_seconds_path,
        data,
        "HeartbeatSecondsPath",
    )
    return timeout, heartbeat


def run_task(engine: Engine, frame: Frame, spec: model.TaskState) -> Step:
    state = engine.state
    data = frame.input
    if not spec.jsonata:
        data = engine.select(frame, spec.input_path, frame.input, "InputPath")
    token = f"{state.execution_arn}#{state.last_event_id + 1}"
    if spec.jsonata:
        payload = dataflow.effective_input(engine, frame, spec, token)
    else:
        payload = data
        if spec.parameters is not None:
            payload = spec.parameters.evaluate(engine.scope(frame, data, token=token))
    payload_text = payload_json(payload, f"state/task '{frame.state}' input")
    timeout, heartbeat = _timeouts(engine, frame, spec, data)
    kind = resource_kind(spec.resource)
    if kind == "unsupported":
        raise errors.StatesFailure(
            errors.RUNTIME,
            f"The resource '{spec.resource}' is not supported: Task states run Lambda-style "
            "handlers through arn:aws:lambda:...:function:NAME or arn:aws:states:::lambda:invoke",
        )
    if kind == "lambda":
        function = function_name(spec.resource)
        event = payload
        details: dict[str, Any] = {
            "input": payload_text,
            "inputDetails": {"truncated": False},
            "resource": spec.resource,
        }
        if timeout is not None:
            details["timeoutInSeconds"] = timeout
        engine.emit(frame, "LambdaFunctionScheduled", details)
    else:
        if not isinstance(payload, dict):
            raise errors.StatesFailure(
                errors.RUNTIME, "The Parameters of a lambda:invoke Task must be an object"
            )
        target = payload.get("FunctionName")
        function = function_name(target) if isinstance(target, str) else None
        event = payload.get("Payload", {})
        details = {
            "resourceType": "lambda",
            "resource": _service_resource(spec),
            "region": _region(engine),
            "parameters": payload_text,
        }
        if timeout is not None:
            details["timeoutInSeconds"] = timeout
        if heartbeat is not None:
            details["heartbeatInSeconds"] = heartbeat
        engine.emit(frame, "TaskScheduled", details)
    state.tasks[token] = frame.id
    frame.effective_input = data
    waiting = Waiting(
        kind="task", token=token, heartbeat_seconds=heartbeat, callback=waits_for_token(spec)
    )
    if timeout is not None:
        waiting.timeout_timer = engine.start_timer(frame, f"{token}:timeout", timeout)
    frame.waiting = waiting
    engine.command(
        RunTask(
            token=token,
            state=frame.state or "",
            resource=spec.resource,
            function=function,
            payload=event,
            timeout_seconds=timeout,
            heartbeat_seconds=heartbeat,
        )
    )
    return None


def _is_lambda(spec: model.TaskState) -> bool:
    return resource_kind(spec.resource) == "lambda"


def waits_for_token(spec: model.TaskState) -> bool:
    """The callback pattern: the task waits for SendTaskSuccess/Failure with its token."""
    return spec.resource.endswith(".waitForTaskToken")


def _service_resource(spec: model.TaskState) -> str:
    return "invoke.waitForTaskToken" if waits_for_token(spec) else "invoke"


def _task_details(spec: model.TaskState, extra: dict[str, Any]) -> dict[str, Any]:
    if _is_lambda(spec):
        return extra
    return {"resourceType": "lambda", "resource": _service_resource(spec), **extra}


def task_started(engine: Engine, frame: Frame, spec: model.TaskState) -> None:
    assert frame.waiting is not None
    if frame.waiting.started:
        return
    frame.waiting.started = True
    if _is_lambda(spec):
        engine.emit(frame, "LambdaFunctionStarted")
    else:
        engine.emit(frame, "TaskStarted", _task_details(spec, {}))
    legacy = not spec.jsonata and (
        spec.heartbeat_seconds is not None or spec.heartbeat_seconds_path is not None
    )
    if frame.waiting.heartbeat_seconds is not None or legacy:
        _arm_heartbeat(engine, frame, spec)


def _arm_heartbeat(engine: Engine, frame: Frame, spec: model.TaskState) -> None:
    waiting = frame.waiting
    assert waiting is not None and waiting.token is not None
    engine.cancel_timer(waiting.heartbeat_timer)
    seconds = waiting.heartbeat_seconds
    if seconds is None:  # a snapshot written before heartbeats were stored in Waiting
        seconds = _seconds(
            engine,
            frame,
            spec.heartbeat_seconds,
            spec.heartbeat_seconds_path,
            frame.effective_input,
            "HeartbeatSecondsPath",
        )
    assert seconds is not None
    # A heartbeat records no event, so the position in history cannot tell two timers apart.
    timer_id = f"{waiting.token}:heartbeat@{engine.state.last_event_id}"
    if waiting.beats:
        timer_id += f".{waiting.beats}"
    waiting.beats += 1
    waiting.heartbeat_timer = engine.start_timer(frame, timer_id, seconds)


def task_heartbeat(engine: Engine, frame: Frame, spec: model.TaskState) -> None:
    if frame.waiting is not None and frame.waiting.heartbeat_timer is not None:
        _arm_heartbeat(engine, frame, spec)


def _close(engine: Engine, frame: Frame) -> None:
    waiting = frame.waiting
    assert waiting is not None
    engine.cancel_timer(waiting.timeout_timer)
    engine.cancel_timer(waiting.heartbeat_timer)
    if waiting.token is not None:
        engine.state.tasks.pop(waiting.token, None)
    frame.waiting = None


def request_id(token: str) -> str:
    """A stable, UUID-shaped request id for one task attempt, derived from its token."""
    digest = hashlib.sha256(token.encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


def _invoke_response(token: str, payload: Any) -> dict[str, Any]:
    return {
        "ExecutedVersion": "$LATEST",
        "Payload": payload,
        "SdkHttpMetadata": {
            "HttpHeaders": {
                "Content-Type": "application/json",
                "X-Amz-Executed-Version": "$LATEST",
            },
            "HttpStatusCode": 200,
        },
        "SdkResponseMetadata": {"RequestId": request_id(token)},
        "StatusCode": 200,
    }


def task_succeeded(
    engine: Engine, frame: Frame, spec: model.TaskState, output: Any, whole: bool = False
) -> Step:
    """The handler returned ``output``: the task's result, or for a ``.waitForTaskToken``
    task the submission (TaskSubmitted), after which it waits for its callback."""
    waiting = frame.waiting
    assert waiting is not None and waiting.token is not None
    token = waiting.token
    task_started(engine, frame, spec)
    if waiting.callback:
        response = output if whole else _invoke_response(token, output)
        waiting.submitted = True
        engine.emit(
            frame,
            "TaskSubmitted",
            _task_details(
                spec, {"output": to_json(response), "outputDetails": {"truncated": False}}
            ),
        )
        return None
    _close(engine, frame)
    result = output if _is_lambda(spec) or whole else _invoke_response(token, output)
    event_type = "LambdaFunctionSucceeded" if _is_lambda(spec) else "TaskSucceeded"
    return _succeeded(engine, frame, spec, event_type, result)


def _succeeded(
    engine: Engine, frame: Frame, spec: model.TaskState, event_type: str, result: Any
) -> Step:
    """Record the task's result and leave the state with it."""
    text = to_json(result)
    engine.emit(
        frame,
        event_type,
        _task_details(spec, {"output": text, "outputDetails": {"truncated": False}}),
    )
    checked_size(text, f"state/task '{frame.state}' result")
    output, assigned = dataflow.result_output(engine, frame, spec, result)
    return engine.exit_state(frame, spec, output, assigned)


def task_failed(
    engine: Engine, frame: Frame, spec: model.TaskState, error: str | None, cause: str | None
) -> None:
    task_started(engine, frame, spec)
    _close(engine, frame)
    if not _is_lambda(spec):
        cause = _compact(cause)
    event_type = "LambdaFunctionFailed" if _is_lambda(spec) else "TaskFailed"
    _failed(engine, frame, spec, event_type, error, cause)


def _failed(
    engine: Engine,
    frame: Frame,
    spec: model.TaskState,
    event_type: str,
    error: str | None,
    cause: str | None,
) -> None:
    """Record the task's failure and hand it to Retry/Catch."""
    engine.emit(frame, event_type, _task_details(spec, error_details(error, cause)))
    engine.fail_state(frame, error or errors.TASK_FAILED, cause)


def callback_succeeded(engine: Engine, frame: Frame, spec: model.TaskState, output: Any) -> Step:
    """SendTaskSuccess: the callback's output is the task's result, as it is."""
    task_started(engine, frame, spec)
    _close(engine, frame)
    return _succeeded(engine, frame, spec, "TaskSucceeded", output)


def callback_failed(
    engine: Engine, frame: Frame, spec: model.TaskState, error: str | None, cause: str | None
) -> None:
    """SendTaskFailure: the task fails with the error and cause given, recorded verbatim."""
    task_started(engine, frame, spec)
    _close(engine, frame)
    _failed(engine, frame, spec, "TaskFailed", error, cause)


def _compact(cause: str | None) -> str | None:
    """The lambda:invoke integration re-serialises the function's error document compactly
    (AWS-recorded in LocalStack's test_task_service_lambda.snapshot.json)."""
    if cause is None:
        return None
    try:
        return to_json(json.loads(cause))
    except ValueError:
        return cause


def task_timed_out(engine: Engine, frame: Frame, spec: model.TaskState, error: str) -> None:
    _close(engine, frame)
    event_type = "LambdaFunctionTimedOut" if _is_lambda(spec) else "TaskTimedOut"
    engine.emit(frame, event_type, _task_details(spec, error_details(error, None)))
    engine.fail_state(frame, error, None)


def task_aborted(engine: Engine, frame: Frame) -> None:
    _close(engine, frame)
    engine.emit(frame, "TaskStateAborted")
