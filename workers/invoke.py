"""One Lambda-style invocation: ``invoke(spec, handler, event)`` and its ``Invocation``.

Owns running a handler with a deadline and turning what happened into the ``error`` and
``cause`` that Step Functions records for a Lambda task (``LambdaFunctionFailed`` for a
function ARN Resource). No Redis and no Celery here: the in-process driver and the Celery
workers both call this.

What it reproduces, and from where:

- An exception: error = the exception class's ``__name__``; cause = the error document of
  Lambda's Python runtime, ``{"errorMessage", "errorType", "requestId", "stackTrace"}`` in
  that order, serialised with ``json``'s default ``", "``/``": "`` separators and the stack
  trace formatted by ``traceback.format_list`` on (file, line, name, code) tuples, without
  the runtime's own frames (awslambdaric ``bootstrap.py``: ``make_error`` and
  ``handle_event_request``). Step Functions passes that text through verbatim, as the
  AWS-recorded snapshot ``tests/aws/services/stepfunctions/v2/error_handling/
  test_task_lambda.snapshot.json`` of localstack/localstack shows.
- A result that is not JSON: error ``Runtime.MarshalError``, message
  ``Unable to marshal response: <reason>``, empty stack trace (awslambdaric
  ``lambda_runtime_marshaller.py``). Decimals are numbers, as the runtime encodes them.
- A timeout: error ``Sandbox.Timedout`` with the Lambda service's compact error document
  ``{"errorType":"Sandbox.Timedout","errorMessage":"RequestId: <id> Error: Task timed out
  after 3.00 seconds"}`` ("Troubleshoot invocation issues in Lambda",
  https://docs.aws.amazon.com/lambda/latest/dg/troubleshooting-invocation.html, and
  payloads returned by ``aws lambda invoke``).

Where this goes beyond Lambda: an ``async def`` handler (or one returning an awaitable) is
run to completion with ``asyncio.run``; Lambda's Python runtime does not await.

``invoke_task`` is the Step Functions side of one call, shared by the in-process invoker
(``workers/inline.py``) and the Celery task (``workers/tasks.py``) so that both drivers
turn a ``RunTask`` into the same outcome: an unregistered name fails with
``Lambda.ResourceNotFoundException``, and a Task state's ``TimeoutSeconds`` shorter than
the function's timeout stops the handler at the state's deadline and is reported as a state
timeout (the interpreter then records ``States.Timeout`` from its own timer).

In the main thread (a prefork pool process, ``sfn run --local``) a handler that times out
is stopped: SIGALRM raises inside it at its deadline. Elsewhere (a threads pool, the
embedded worker) it runs on a runner thread, and Python cannot kill a thread: it keeps
running until it returns, its result discarded. Lambda stops the whole sandbox; code
blocked inside a C call that ignores signals is stopped by neither.
"""

from __future__ import annotations

import asyncio
import contextlib
import decimal
import inspect
import json
import os
import queue
import signal
import threading
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Final

from statemachine.interpreter.commands import RunTask
from statemachine.interpreter.states.task import request_id as task_request_id
from statemachine.runtime.local import ACCOUNT, REGION, TaskOutcome
from workers.context import DEFAULT_ACCOUNT, DEFAULT_REGION, LambdaContext, function_arn
from workers.logs import Capture, Sink, stream_name
from workers.registry import FunctionSpec, Handler

TIMEOUT_ERROR: Final = "Sandbox.Timedout"
MARSHAL_ERROR: Final = "Runtime.MarshalError"
NOT_FOUND: Final = "Lambda.ResourceNotFoundException"

# Frames of this module and of asyncio sit between the call and the handler's code; the
# runtime drops its own frames the same way, so only the user's frames are reported.
_THIS_FILE: Final = Path(__file__).resolve()
_ASYNCIO: Final = Path(asyncio.__file__).resolve().parent


@dataclass(frozen=True, slots=True)
class Invocation:
    """The outcome of one invocation: a JSON payload, or an error name and cause text."""

    ok: bool
    payload: Any = None
    error: str | None = None
    cause: str | None = None


def invoke(
    spec: FunctionSpec,
    handler: Handler,
    event: Any,
    *,
    request_id: str,
    region: str = DEFAULT_REGION,
    account: str = DEFAULT_ACCOUNT,
    logs: Sink | None = None,
    on_slow: Callable[[], None] | None = None,
    slow_seconds: float = 0.0,
) -> Invocation:
    """Run ``handler(event, context)`` with a deadline of ``spec.timeout`` seconds; if it
    is still running after ``slow_seconds``, call ``on_slow`` (in another thread than the
    handler's). In the main thread the handler runs right there and SIGALRM stops it at
    its deadline; elsewhere (a threads pool) it runs on a reused runner thread.

    Never raises for anything the handler does; ``event`` must be JSON-serialisable (it is
    what Step Functions would send). The handler gets its own copy of the event, as it
    would after Lambda decodes the request, so it cannot alter the caller's data. With
    ``logs``, what the handler prints and logs goes there, between Lambda's START and
    REPORT lines (``workers/logs.py``), instead of to this process's output.
    """
    own_event = json.loads(json.dumps(event))
    deadline = time.monotonic() + spec.timeout
    context = LambdaContext(
        function_name=spec.name,
        aws_request_id=request_id,
        memory_limit_in_mb=spec.memory_size,
        deadline=deadline,
        clock=time.monotonic,
        region=region,
        account=account,
        log_stream_name=stream_name(),
    )
    outcome: list[Invocation] = []
    capture = Capture(request_id, spec.memory_size, logs) if logs is not None else None

    def job() -> None:
        _run(handler, own_event, context, outcome, capture)

    run = _run_here if _can_interrupt() else _run_on_runner
    finished = run(job, deadline, on_slow, slow_seconds)
    timed_out = not finished or not outcome
    result = _timed_out(request_id, spec.timeout) if timed_out else outcome[0]
    if capture is not None:
        capture.finish(
            None if result.ok or timed_out else result.cause,
            float(spec.timeout) if timed_out else None,
        )
    return result


class _Deadline(BaseException):
    """Raised in a handler running in the main thread when its deadline passes."""


def _can_interrupt() -> bool:
    """Whether a handler can run in this thread and be stopped at its deadline: the main
    thread (a prefork pool process runs its tasks there), with SIGALRM free."""
    return (
        threading.current_thread() is threading.main_thread()
        and hasattr(signal, "setitimer")
        and signal.getsignal(signal.SIGALRM) == signal.SIG_DFL
        and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    )


def _run_here(
    job: Callable[[], None],
    deadline: float,
    on_slow: Callable[[], None] | None,
    slow_seconds: float,
) -> bool:
    """Run ``job`` in this (the main) thread; True if it finished before ``deadline``.

    Handing a handler to another thread and waiting for it cost more than a no-op handler
    (two thread switches each way). Here SIGALRM stops it: at the deadline ``_Deadline`` is
    raised inside the handler, and again every 0.1 s while it goes on (a handler that
    swallows it), so unlike a thread it does not run on past its timeout, as Lambda's
    doesn't. ``on_slow`` runs in a thread of its own, started at ``slow_seconds``."""
    fired = False
    running = True
    slow: threading.Thread | None = None

    def alarm(signum: int, frame: Any) -> None:
        nonlocal fired, slow
        left = deadline - time.monotonic()
        if on_slow is not None and slow is None and left > 0:
            slow = threading.Thread(target=on_slow, name="lambda-slow", daemon=True)
            slow.start()
            signal.setitimer(signal.ITIMER_REAL, left)
        elif running:
            fired = True
            signal.setitimer(signal.ITIMER_REAL, 0.1)
            raise _Deadline

    previous = signal.signal(signal.SIGALRM, alarm)
    try:
        first = deadline - time.monotonic()
        if on_slow is not None:
            first = min(first, slow_seconds)
        signal.setitimer(signal.ITIMER_REAL, max(first, 1e-6))
        try:
            job()
        except _Deadline:
            pass
        finally:
            running = False
            signal.setitimer(signal.ITIMER_REAL, 0)
    finally:
        signal.signal(signal.SIGALRM, previous)
    if slow is not None:
        slow.join()
    return not fired


def _run_on_runner(
    job: Callable[[], None],
    deadline: float,
    on_slow: Callable[[], None] | None,
    slow_seconds: float,
) -> bool:
    """Run ``job`` on a runner thread while this one waits (and calls ``on_slow`` after
    ``slow_seconds``); True if it finished before ``deadline``. Python cannot stop a
    thread: a handler that overruns keeps running there until it returns."""
    done = threading.Event()

    def wrapped() -> None:
        try:
            job()
        finally:
            done.set()

    runner = _Runner.take()
    runner.jobs.put(wrapped)
    slow_wait = min(slow_seconds, max(0.0, deadline - time.monotonic()))
    if on_slow is not None and not done.wait(slow_wait):
        on_slow()
    done.wait(max(0.0, deadline - time.monotonic()))
    if done.is_set():
        runner.give_back()
        return True
    runner.jobs.put(None)  # the handler still runs in it: it ends when that returns
    return False


class _Runner(threading.Thread):
    """A daemon thread that runs handlers one at a time, kept between invocations: starting
    a thread for each one cost more than a no-op handler. One whose handler overran its
    deadline is never given back (Python cannot stop it): it ends when the handler returns,
    and another runner takes its place. Runners are per process (a forked pool process
    starts with none)."""

    _idle: ClassVar[list[_Runner]] = []
    _pid: ClassVar[int] = 0
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self) -> None:
        super().__init__(name="lambda-runner", daemon=True)
        self.jobs: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()

    @classmethod
    def take(cls) -> _Runner:
        with cls._lock:
            if cls._pid != os.getpid():
                cls._idle, cls._pid = [], os.getpid()
            if cls._idle:
                return cls._idle.pop()
        runner = cls()
        runner.start()
        return runner

    def give_back(self) -> None:
        with self._lock:
            self._idle.append(self)

    def run(self) -> None:
        while (job := self.jobs.get()) is not None:
            job()


def _run(
    handler: Handler,
    event: Any,
    context: LambdaContext,
    outcome: list[Invocation],
    capture: Capture | None,
) -> None:
    # Runs in the handler's thread: anything escaping here would be lost, so catch it all.
    with capture.route() if capture is not None else contextlib.nullcontext():
        try:
            result = handler(event, context)
            if inspect.isawaitable(result):
                result = asyncio.run(_wait(result))
        except _Deadline:
            raise
        except BaseException as exc:  # SystemExit too: it would end the thread silently
            outcome.append(_raised(exc, context.aws_request_id))
            return
        outcome.append(_marshal(result, context.aws_request_id))


async def _wait(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


def _marshal(result: Any, request_id: str) -> Invocation:
    try:
        text = json.dumps(result, default=_encode_decimal, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        return _failed(MARSHAL_ERROR, f"Unable to marshal response: {exc}", [], request_id)
    # What the caller gets is what a JSON reader would: tuples become lists, keys strings.
    return Invocation(ok=True, payload=json.loads(text))


def _encode_decimal(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            raise ValueError(f"Out of range decimal values are not JSON compliant: {value}")
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _raised(exc: BaseException, request_id: str) -> Invocation:
    # Rebuilt without column positions, as the runtime's (file, line, name, code) tuples
    # are: that keeps Python 3.11's carets ("^^^^") out of the trace.
    frames = [
        traceback.FrameSummary(frame.filename, frame.lineno, frame.name, line=frame.line)
        for frame in traceback.extract_tb(exc.__traceback__)
    ]
    while frames and _is_ours(frames[0].filename):
        frames.pop(0)
    return _failed(type(exc).__name__, _text(exc), traceback.format_list(frames), request_id)


def _is_ours(filename: str) -> bool:
    path = Path(filename).resolve()
    return path == _THIS_FILE or path.is_relative_to(_ASYNCIO)


def _text(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:  # a broken __str__ must not hide the original failure
        return f"<unprintable {type(exc).__name__} object>"


def _failed(error_type: str, message: str, stack: list[str], request_id: str) -> Invocation:
    document = {
        "errorMessage": message,
        "errorType": error_type,
        "requestId": request_id,
        "stackTrace": stack,
    }
    return Invocation(ok=False, error=error_type, cause=json.dumps(document, ensure_ascii=False))


def _timed_out(request_id: str, timeout: int) -> Invocation:
    document = {
        "errorType": TIMEOUT_ERROR,
        "errorMessage": (
            f"RequestId: {request_id} Error: Task timed out after {timeout:.2f} seconds"
        ),
    }
    return Invocation(
        ok=False,
        error=TIMEOUT_ERROR,
        cause=json.dumps(document, separators=(",", ":"), ensure_ascii=False),
    )


def invoke_task(
    task: RunTask,
    resolved: tuple[FunctionSpec, Handler] | None,
    logs: Sink | None = None,
    *,
    on_slow: Callable[[], None] | None = None,
    slow_seconds: float = 0.0,
) -> TaskOutcome:
    """Run the function a Task state scheduled; ``resolved`` is None for a name the
    project does not register; ``logs`` receives the handler's log lines.

    The request id is derived from the task's token, so a redelivered attempt reports the
    same id (and the same cause text) wherever it runs.
    """
    if resolved is None:
        arn = function_arn(task.function or "?", region=REGION, account=ACCOUNT)
        return TaskOutcome(
            ok=False,
            error=NOT_FOUND,
            cause=f"Function not found: {arn} (no function named "
            f"'{task.function}' is registered in the project file)",
        )
    spec, handler = resolved
    # The state's deadline is the tighter one: stop the handler there, and let the
    # interpreter's timeout timer, not a Lambda failure, say what happened.
    state_timeout = task.timeout_seconds is not None and task.timeout_seconds < spec.timeout
    if state_timeout:
        spec = spec.model_copy(update={"timeout": task.timeout_seconds})
    result = invoke(spec, handler, task.payload, request_id=task_request_id(task.token),
                    logs=logs, on_slow=on_slow, slow_seconds=slow_seconds)
    if result.ok:
        return TaskOutcome(ok=True, output=result.payload)
    timed_out = state_timeout and result.error == TIMEOUT_ERROR
    return TaskOutcome(ok=False, error=result.error, cause=result.cause, state_timeout=timed_out)
