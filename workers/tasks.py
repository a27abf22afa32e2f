"""The Celery side of the runtime: the ``run_handler(s)`` tasks and ``CeleryDispatcher``.

``CeleryDispatcher`` is the engine's ``Dispatcher``: ``Runtime`` hands it each ``RunTask``
a step sends, and it sends one ``run_handler`` message whose task id is the command's token
(deterministic: a re-dispatch of the same attempt carries the same id, so logs and
``celery inspect`` show one attempt, however often it was sent), or, for the tasks a large
step lets share a message (``Runtime._plan``), one ``run_handlers`` message whose id is
the first one's token and their number.

``run_handler(eid, command_json, sent_json)`` runs in a worker: it begins the task, runs
the registered function through ``workers.invoke.invoke_task`` (the very code the
in-process driver uses, so both drivers turn a handler's behaviour into the same outcome),
and reports the outcome, with its TaskStarted, with ``Runtime.task_finished``. Everything
it does is safe to repeat: Celery may deliver a message twice (late acks, worker loss, the
recovery loop's re-dispatch) and every ``apply`` is conditional, so a duplicate completion
is recorded once.

Beginning a task is a round trip to Redis (``Runtime.begin_task``: is it still awaited, its
deadline from now, its start count, the snapshot its outcome is decided on), except for
the first delivery of its first message when that message carries the snapshot
(``sent_json``, ``Runtime.resume_task``) and nothing that stops awaiting a task happened to
the execution since it was sent. Such a begin is not counted: every later delivery is, one
more than the count (``MAX_STARTS``).

``run_handlers(eid, [[command_json, sent_json], ...])`` runs the tasks a large step sent in
one message (``Runtime._plan``), one after another, each as ``run_handler`` would; in a
later delivery only the first task still awaited counts a begin.

One ``Runtime`` per Celery app and process (``runtime_for``): built on first use, after a
prefork child was forked, so no Redis connection is shared across processes.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from celery import Celery, Task, shared_task

from statemachine.interpreter import inputs
from statemachine.interpreter.commands import RunTask
from statemachine.interpreter.states.task import request_id
from statemachine.runtime.engine import (
    FIRST_SENT,
    MAX_TASK_SECONDS,
    Runtime,
    deferred_start,
)
from statemachine.runtime.logs import LogEvent
from statemachine.runtime.store import RedisHistoryStore, Snapshot, redis_client
from workers.invoke import invoke_task
from workers.logs import stream_name
from workers.registry import FunctionSpec, Handler, Project, ProjectError, load_project

log = logging.getLogger(__name__)

#: The tasks' names; senders use them, so a client needs no import of the handlers.
RUN_HANDLER = "sfn.run_handler"
#: A message carrying several tasks (``Runtime.tasks_per_message``).
RUN_HANDLERS = "sfn.run_handlers"
#: How long a handler runs before its TaskStarted is recorded on its own (a quicker one's
#: is recorded with its outcome, in one step).
START_RECORD_SECONDS = 0.2
#: How many times a task's handler may begin with its worker dying each time (a handler
#: that crashes its process) before the task fails with EXIT_ERROR.
MAX_STARTS = 3
#: Lambda's error when the runtime process exits during an invocation.
EXIT_ERROR = "Runtime.ExitError"
#: AWS's error when a Lambda's handler module cannot be imported.
IMPORT_ERROR = "Runtime.ImportModuleError"


class CeleryDispatcher:
    """Send the runtime's ``RunTask`` commands to Celery workers.

    Args:
        app: the Celery app to send with (its broker and default queue).
        project: the project file's functions, for their timeouts; None if unknown.
    """

    def __init__(self, app: Celery, project: Project | None) -> None:
        self.app = app
        self.project = project

    def run_task(self, eid: str, command: RunTask, sent: str = FIRST_SENT) -> None:
        # argsrepr: Celery would otherwise put a 1 KiB repr of the arguments in every
        # message's headers (for monitors); the execution and state name the attempt.
        self.app.send_task(
            RUN_HANDLER, args=[eid, command.model_dump_json(), sent], task_id=command.token,
            argsrepr=repr((eid, command.state)), kwargsrepr="{}",
        )

    def run_tasks(self, eid: str, tasks: Sequence[tuple[RunTask, str]]) -> None:
        """One message for ``tasks``, run one after another by the worker that takes it
        (``_run_handlers``); one message each when the broker may not flag a message it
        delivers again, since the worker counts the begins of a shared message's tasks
        by that flag."""
        if len(tasks) < 2 or not flags_redelivery(self.app):
            for command, sent in tasks:
                self.run_task(eid, command, sent)
            return
        first = tasks[0][0]
        self.app.send_task(
            RUN_HANDLERS,
            args=[eid, [[command.model_dump_json(), sent] for command, sent in tasks]],
            task_id=f"{first.token}+{len(tasks)}",
            argsrepr=repr((eid, first.state, len(tasks))), kwargsrepr="{}",
        )

    def task_seconds(self, command: RunTask) -> float:
        """How long the attempt may run: the shorter of the function's timeout and the
        Task state's TimeoutSeconds; Lambda's 900 s limit when neither is known."""
        limits: list[float] = []
        if self.project is not None and command.function in self.project.names:
            limits.append(self.project.spec(command.function).timeout)
        if command.timeout_seconds is not None:
            limits.append(command.timeout_seconds)
        return min(limits) if limits else MAX_TASK_SECONDS


#: Brokers whose transport marks a message it gives back (its worker process died, its
#: visibility timeout passed) as redelivered: kombu's Redis transport and AMQP. With
#: another, a first message's first delivery cannot be told from a later one, so every
#: begin reads and is counted (``_begin``).
_FLAGS_REDELIVERY = ("redis", "rediss", "redis+socket", "amqp", "amqps", "pyamqp")


def flags_redelivery(app: Celery) -> bool:
    """Whether ``app``'s broker flags the messages it delivers again (``_FLAGS_REDELIVERY``)."""
    return str(app.conf.get("broker_url") or "").partition("://")[0] in _FLAGS_REDELIVERY


@dataclass
class _Services:
    pid: int
    runtime: Runtime
    project: Project | None
    flags_redelivery: bool


_services: dict[int, _Services] = {}
_lock = threading.Lock()


def _build(app: Celery) -> _Services:
    conf = app.conf
    project_path = conf.get("sfn_project")
    # Loaded once per process and validated up front: a worker with a broken project file
    # should fail at start, not on its first task.
    project = load_project(project_path) if project_path else None
    client = redis_client(conf.get("sfn_redis_url"))
    store = RedisHistoryStore(client, prefix=conf.get("sfn_prefix") or "sfn")
    runtime = Runtime(store, CeleryDispatcher(app, project))
    return _Services(pid=os.getpid(), runtime=runtime, project=project,
                     flags_redelivery=flags_redelivery(app))


def services_for(app: Celery) -> _Services:
    with _lock:
        found = _services.get(id(app))
        if found is None or found.pid != os.getpid():
            found = _services[id(app)] = _build(app)
        return found


def runtime_for(app: Celery) -> Runtime:
    """The ``Runtime`` that ``app``'s tasks and scheduler use in this process."""
    return services_for(app).runtime


def forget_app(app: Celery) -> None:
    """Drop ``app``'s runtime and close its Redis connections (in-process workers)."""
    with _lock:
        found = _services.pop(id(app), None)
    if found is not None:
        found.runtime.store.redis.close()


def _resolve(
    project: Project | None, name: str | None
) -> tuple[FunctionSpec, Handler] | None:
    if project is None or name is None or name not in project.names:
        return None
    return project.spec(name), project.handler(name)


class _LogSink:
    """Where a handler's log lines go: the execution's and the function's logs in Redis.

    Lines handed over by the thread that runs the task (the invocation's last lines, at its
    end) wait for ``take``, which writes them with the outcome in one round trip; lines
    from the log flusher (a long handler's, while it runs) are written at once, and so is
    everything after ``take``."""

    def __init__(self, runtime: Runtime, eid: str, command: RunTask) -> None:
        self.store = runtime.store.logs
        self.eid, self.command = eid, command
        self.stream = stream_name()
        self.request_id = request_id(command.token)
        self.owner: int | None = threading.get_ident()
        self.held: list[LogEvent] = []

    def __call__(self, lines: list[tuple[int, str]]) -> None:
        events = [
            LogEvent(timestamp=stamp, message=message, request_id=self.request_id,
                     function=self.command.function or "", execution=self.eid,
                     state=self.command.state, stream=self.stream)
            for stamp, message in lines
        ]
        if threading.get_ident() == self.owner:
            self.held += events
        else:
            self.store.write(events)

    def take(self) -> list[LogEvent]:
        held, self.held, self.owner = self.held, [], None
        return held


def _exit_cause(token: str) -> str:
    """Lambda's error document when the runtime exited mid-invocation (as Lambda reports it:
    https://repost.aws/knowledge-center/lambda-runtime-error shows the shape)."""
    document = {
        "errorType": EXIT_ERROR,
        "errorMessage": f"RequestId: {request_id(token)} Error: Runtime exited without "
        "providing a reason",
    }
    return json.dumps(document, separators=(",", ":"))


def _outcome(
    runtime: Runtime,
    project: Project | None,
    command: RunTask,
    sink: _LogSink,
    starts: int,
    on_slow: Callable[[], None] | None,
) -> inputs._Input | None:
    """What this attempt reports: its handler's outcome, or None when the Task state's own
    TimeoutSeconds stopped it."""
    token = command.token
    if starts > MAX_STARTS:
        # Its handler began MAX_STARTS times and every time the worker process died (it
        # crashed, exited or was killed): Lambda fails such an invocation with
        # Runtime.ExitError, and so does this, rather than run it forever.
        log.warning("task %s began %d times without finishing; failed", token, starts)
        return inputs.TaskFailed(
            time=runtime.clock.now(), token=token, error=EXIT_ERROR, cause=_exit_cause(token)
        )
    try:
        outcome = invoke_task(
            command,
            _resolve(project, command.function),
            sink,
            on_slow=on_slow,
            slow_seconds=START_RECORD_SECONDS,
        )
    except ProjectError as exc:
        # The handler's module does not import on this worker: Lambda reports that as
        # Runtime.ImportModuleError, and so does this, so the execution fails visibly
        # instead of the message being re-delivered forever.
        return inputs.TaskFailed(
            time=runtime.clock.now(), token=token, error=IMPORT_ERROR, cause=str(exc)
        )
    if outcome.state_timeout:
        return None
    if outcome.ok:
        return inputs.TaskSucceeded(time=runtime.clock.now(), token=token, output=outcome.output)
    return inputs.TaskFailed(
        time=runtime.clock.now(), token=token, error=outcome.error, cause=outcome.cause
    )


def _begin(
    task: Task,
    runtime: Runtime,
    eid: str,
    command: RunTask,
    sent_json: str | None,
    flags_redelivery: bool = True,
    recount: bool = True,
) -> tuple[int, Snapshot | None]:
    """``Runtime.begin_task``'s answer for this delivery, without its round trip when the
    message's base can stand for it (``Runtime.resume_task``). ``recount`` False: a later
    delivery, but this task had not begun in the earlier ones (``_run_handlers``)."""
    if sent_json is None or not flags_redelivery:
        # A message sent before messages said which is the first, or a broker that does
        # not say which delivery is a later one: every begin is counted.
        return runtime.begin_task(eid, command)
    sent = json.loads(sent_json)
    redelivered = bool((task.request.delivery_info or {}).get("redelivered"))
    first = bool(sent.get("first")) and not redelivered
    if first and deferred_start(command):
        base = runtime.resume_task(eid, command, sent)
        if base is not None:
            return 1, base
    return runtime.begin_task(eid, command, count=not first and recount, uncounted=1)


def _run_handler(
    task: Task, eid: str, command_json: str, sent_json: str | None = None
) -> None:
    """Run one Task state attempt and record its outcome in the execution's history."""
    _run_one(task, services_for(task.app), eid, command_json, sent_json)


def _run_handlers(task: Task, eid: str, tasks: list[list[str]]) -> None:
    """Run the attempts one message carries (``[command_json, sent_json]`` each), one after
    another, each as it would run from a message of its own. Each outcome is recorded before
    the next handler begins, so when the message is delivered again (its worker process
    died), the first attempt still awaited is the one that was running, or none was: only
    its begin is counted again, the later ones had not begun."""
    services = services_for(task.app)
    recount = True
    failed: Exception | None = None
    for command_json, sent_json in tasks:
        try:
            if _run_one(task, services, eid, command_json, sent_json, recount):
                recount = False
        except Exception as exc:
            # (Redis unreachable, say) The others are not held up by it: a message of
            # their own would have run. This one comes back at its deadline, as alone.
            log.exception("task %s of %s failed in the worker", command_json[:200], eid)
            failed, recount = failed or exc, False
    if failed is not None:
        raise failed


def _run_one(
    task: Task,
    services: _Services,
    eid: str,
    command_json: str,
    sent_json: str | None,
    recount: bool = True,
) -> bool:
    """Run one attempt and record its outcome; False when it was no longer awaited."""
    runtime = services.runtime
    command = RunTask.model_validate_json(command_json)
    token = command.token
    starts, base = _begin(
        task, runtime, eid, command, sent_json, services.flags_redelivery, recount
    )
    if not starts:
        # A late or duplicate delivery: the attempt already finished (or timed out, or the
        # execution stopped, or a .waitForTaskToken task's handler already returned and it
        # now waits for its callback). Running the handler again would only repeat its
        # side effects.
        log.info("task %s of %s is no longer awaited; skipped", token, eid)
        runtime.store.forget_task(eid, token)
        return False
    started = inputs.TaskStarted(time=runtime.clock.now(), token=token)
    deferred = deferred_start(command)
    if not deferred:
        runtime.apply(eid, started)
        base = None  # stale now
    sink = _LogSink(runtime, eid, command)

    def record_start() -> None:
        # A quick handler's TaskStarted is recorded with its outcome; a slow one's as soon
        # as it is seen to be slow, so the history shows it running (recording it twice
        # changes nothing: the interpreter ignores a second TaskStarted). Best effort: the
        # outcome records it anyway.
        try:
            runtime.apply(eid, started)
        except Exception as exc:
            log.warning("could not record the start of task %s of %s: %s", token, eid, exc)

    finished = _outcome(
        runtime, services.project, command, sink, starts, record_start if deferred else None
    )
    if finished is None:
        # Stopped at the Task state's own TimeoutSeconds: the interpreter's timeout timer
        # (due no later than this) records States.Timeout. Reporting the Sandbox.Timedout
        # too would race it.
        runtime.store.logs.write(sink.take())
        runtime.store.forget_task(eid, token)
        return True
    outcome_events = [started, finished] if deferred else [finished]
    if not runtime.task_finished(eid, token, outcome_events, logs=sink.take(), base=base):
        status = runtime.store.status(eid)
        if status is not None and status != "RUNNING":
            # Stopped meanwhile (StopExecution, a timeout): AWS records nothing after the
            # execution's last event, so the logs say what became of this result.
            log.info("task %s of %s finished after the execution became %s; ignored",
                     token, eid, status)
            sink([(int(runtime.clock.now().timestamp() * 1000),
                   f"NOTE RequestId: {request_id(token)} The execution is {status}: "
                   "this result was not recorded")])
    return True


#: The Celery task (registered on every app, as Celery's shared tasks are); its messages
#: carry ``[eid, command_json, sent_json]``.
run_handler = shared_task(bind=True, name=RUN_HANDLER, ignore_result=True)(_run_handler)
#: Its messages carry ``[eid, [[command_json, sent_json], ...]]``.
run_handlers = shared_task(bind=True, name=RUN_HANDLERS, ignore_result=True)(_run_handlers)
