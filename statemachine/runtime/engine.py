"""The durable runtime's one operation: apply an input to an execution stored in Redis.

``step`` loads the snapshot (the part an input touches), runs the pure ``decide``, and
appends the events, the changed snapshot fields and the commands in one atomic, conditional
step; on a conflict (another process advanced the execution first) it reloads and decides
again. On one Redis the append itself records each task with its deadline and sets each
timer, and the step then sends the tasks to the dispatcher (Celery); on a Redis Cluster the
commands wait in the execution's outbox and are carried out from there. A crash between the
append and the dispatch loses nothing: ``recover`` sweeps outboxes and re-dispatches tasks
whose deadline passed without a result.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from functools import lru_cache, partial
from typing import Any, Protocol

from pydantic_core import to_json

from statemachine.interpreter import inputs
from statemachine.interpreter.commands import Command, RunTask
from statemachine.interpreter.decide import Decision, decide
from statemachine.interpreter.events import HistoryEvent, iso_time
from statemachine.interpreter.state import ExecutionState, Incomplete
from statemachine.language.load import load_definition
from statemachine.language.model import Definition
from statemachine.runtime import callbacks, replay
from statemachine.runtime.api_errors import ExecutionAlreadyExists, ExecutionDoesNotExist
from statemachine.runtime.clock import Clock, SystemClock
from statemachine.runtime.local import ACCOUNT, REGION, execution_arn, state_machine_arn
from statemachine.runtime.logs import LogEvent
from statemachine.runtime.store import (
    INPUT,
    TASK,
    TIMER,
    Appended,
    Conflict,
    RedisHistoryStore,
    Snapshot,
    execution_id,
    require_data,
)

log = logging.getLogger(__name__)

#: How long past a task's own timeout a missing result is taken as a lost worker.
GRACE_SECONDS = 30
#: Longest a Lambda may run (900 s), used when a task has no timeout of its own.
MAX_TASK_SECONDS = 900
#: Seconds between the scheduler's housekeeping passes (expired executions' index
#: entries, old function logs).
HOUSEKEEPING_SECONDS = 30.0
#: How long a worker process takes an execution's ``epoch`` and status as current
#: (``Runtime.undisturbed``): a handler whose task stopped being awaited (a stop, a
#: failure, a timeout, an abort) may still begin this long after, as one whose begin read
#: came just before would.
CURRENT_SECONDS = 0.1
#: What a task's message says of itself (its third argument, JSON) when it carries no base:
#: the first message of its attempt (sent by the append or from the outbox), or one the
#: recovery loop sent again.
FIRST_SENT = '{"first": true}'
RESENT = '{"first": false}'
#: How many tasks one message may carry (``SFN_TASKS_PER_MESSAGE``; 1: a message each).
#: A message costs its broker, the worker's consumer and its pool about as much CPU as a
#: no-op handler's whole step; tasks of one append that carry their base share messages
#: (``Runtime._plan``) and run one after another in the worker that takes it.
TASKS_PER_MESSAGE = 4
#: Tasks share messages only when they still fill this many: the iterations of a large
#: Map then run on as many worker processes at once, six times the 40 of AWS's inline Map
#: (https://docs.aws.amazon.com/step-functions/latest/dg/state-map-inline.html).
MESSAGES_AT_LEAST = 256
#: Nor more tasks in one message than this many seconds of their time limits: the later
#: ones wait for the earlier ones (their deadlines count that wait, ``_plan``), and only
#: short handlers gain (a message's cost is a millisecond): a function's default time
#: limit, 6 s (the Serverless Framework's; Lambda's own is 3 s), lets four share one.
MESSAGE_SECONDS = 30.0


def canonical_json(value: Any) -> str:
    """One text per JSON value, to compare execution inputs."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _running(snapshot: Snapshot | None) -> bool:
    return snapshot is not None and snapshot.state.running


def _lookups(events: Sequence[inputs._Input]) -> tuple[str, ...] | None:
    """The ``state`` fields that inputs about one task or timer start from; None when an
    input concerns the whole execution (start, stop, redrive): read all of it."""
    found: list[str] = []
    for event in events:
        token = getattr(event, "token", None)
        if isinstance(token, str):
            found.append(TASK + token)
        elif isinstance(event, inputs.TimerFired):
            found.append(TIMER + event.timer_id)
        else:
            return None
    return tuple(dict.fromkeys(found))


def _not_before(
    events: Sequence[inputs._Input], last_time: datetime | None
) -> list[inputs._Input]:
    """The inputs, none timed before the history's last event: a history's timestamps never
    go backwards, as AWS's don't, though a worker reports an outcome timed when its handler
    returned (or began) and another worker may have recorded later events meanwhile, or
    run on a machine whose clock is ahead."""
    if last_time is None:
        return list(events)
    return [
        event if event.time >= last_time else event.model_copy(update={"time": last_time})
        for event in events
    ]


def deferred_start(command: RunTask) -> bool:
    """Whether a task's TaskStarted can wait to be recorded with its outcome, in the same
    step (one read and one write of the execution per task instead of two). Not when
    anything can happen between the two: a TimeoutSeconds or HeartbeatSeconds timer may
    fire while the handler runs (AWS's history then shows the task started before it timed
    out), and a ``.waitForTaskToken`` task waits for its callback after the handler
    returns. The event keeps the time the handler started. Only such a task's message
    carries its base (``Runtime.resume_task``)."""
    return (
        command.timeout_seconds is None
        and command.heartbeat_seconds is None
        and not command.resource.endswith(".waitForTaskToken")
    )


def arn_of(eid: str) -> str:
    machine, _, name = eid.partition(":")
    return execution_arn(machine, name)


class Dispatcher(Protocol):
    def run_task(self, eid: str, command: RunTask, sent: str = FIRST_SENT) -> None: ...

    def run_tasks(self, eid: str, tasks: Sequence[tuple[RunTask, str]]) -> None:
        """Send ``tasks`` (each with what its message says of it) in one message, to run
        one after another; a dispatcher may send them one by one instead (it must when
        there is one)."""
        ...

    def task_seconds(self, command: RunTask) -> float: ...


class Runtime:
    def __init__(
        self,
        store: RedisHistoryStore,
        dispatcher: Dispatcher,
        clock: Clock | None = None,
        grace_seconds: float | None = None,
    ) -> None:
        self.store = store
        self.dispatcher = dispatcher
        self.clock = clock or SystemClock()
        configured = os.environ.get("SFN_TASK_GRACE_SECONDS")
        #: Seconds past a task's time limit before its worker is taken for lost.
        self.grace_seconds: float = (
            grace_seconds
            if grace_seconds is not None
            else float(configured)
            if configured
            else GRACE_SECONDS
        )
        shared = os.environ.get("SFN_TASKS_PER_MESSAGE", "").strip()
        if shared and not shared.isdigit():
            raise ValueError(f"SFN_TASKS_PER_MESSAGE must be a whole number, not {shared!r}")
        #: How many tasks one message may carry (``TASKS_PER_MESSAGE``).
        self.tasks_per_message = max(1, int(shared)) if shared else TASKS_PER_MESSAGE
        self._definition: Callable[[str], Definition] = lru_cache(maxsize=64)(self._load)
        self._next_housekeeping = 0.0
        #: ``undisturbed``'s reads: execution -> (epoch, status, monotonic time read).
        self._disruptions: dict[str, tuple[int, str, float]] = {}

    def _load(self, version: str) -> Definition:
        return load_definition(self.store.get_definition(version))

    # -- starting -----------------------------------------------------------------
    def start(
        self,
        text: str,
        input: Any,
        *,
        machine: str,
        name: str,
        begin: Mapping[str, Any] | None = None,
        extra_meta: Mapping[str, str] | None = None,
    ) -> str:
        """Start an execution, as AWS's StartExecution does for a Standard workflow.

        Names are unique per state machine. Starting a name again while that execution is
        RUNNING with the same input returns it (StartExecution is idempotent); with another
        input, or once it has stopped, it is refused with ExecutionAlreadyExists, until the
        stopped execution has expired (``SFN_RETENTION_DAYS``).

        ``begin`` (a re-run from a state, ``replay.py``) sets StartExecution's ``start_at``,
        ``state_input`` and ``variables``; ``extra_meta`` adds fields to the ``meta`` hash.

        Raises:
            ExecutionAlreadyExists: the name is taken (nothing is changed).
        """
        version = self.store.put_definition(text)
        definition = self._definition(version)
        eid = execution_id(machine, name)
        if self._existing(eid, input):
            return eid
        now = self.clock.now()
        arn = execution_arn(machine, name)
        decision = decide(
            definition,
            None,
            inputs.StartExecution(
                time=now,
                input=input,
                execution_arn=arn,
                name=name,
                state_machine_arn=state_machine_arn(machine),
                state_machine_name=machine,
                **(begin or {}),
            ),
        )
        meta = {
            "definition_version": version,
            "machine": machine,
            "name": name,
            "start_date": iso_time(now),
            "execution_arn": arn,
            "state_machine_arn": state_machine_arn(machine),
            "input": canonical_json(input),
            INPUT: to_json(input).decode(),
            **(extra_meta or {}),
        }
        plan = self._plan(decision.commands)
        try:
            appended = self.store.append(
                eid, None, decision.state, decision.events, decision.commands,
                extra_meta=meta, deadline_of=partial(self._planned_deadline, plan),
                base_for=deferred_start,
            )
        except Conflict:
            # Another start of the same name won the race: the same rules apply to it.
            self._existing(eid, input)
            return eid
        self._send(eid, decision.commands, appended, plan=plan)
        return eid

    def _existing(self, eid: str, input: Any) -> bool:
        """True if ``eid`` is RUNNING with this input; raise if the name is otherwise taken."""
        meta = self.store.meta(eid, "status", "input")
        if meta is None:
            return False
        stored = meta.get("input")
        if stored is None:  # recorded before meta carried the input
            snapshot = self.store.load(eid)
            stored = canonical_json(snapshot.state.input) if snapshot else None
        if meta.get("status") == "RUNNING" and stored == canonical_json(input):
            return True
        raise ExecutionAlreadyExists(arn_of(eid))

    def stop(self, eid: str, *, error: str | None = None, cause: str | None = None) -> datetime:
        """Stop a RUNNING execution as AWS's StopExecution does: it becomes ABORTED, its
        timers are cancelled, and results of its tasks that arrive later are ignored.
        Returns the stop date.

        Raises:
            ExecutionDoesNotExist: no such execution, or it is not running (nothing is
                changed). StopExecution documents ExecutionDoesNotExist as its error for
                an execution it cannot stop.
        """
        now = self.clock.now()
        if self.store.status(eid) != "RUNNING" or not self.apply(
            eid, inputs.StopExecution(time=now, error=error, cause=cause)
        ):
            raise ExecutionDoesNotExist(arn_of(eid))
        return now

    # -- applying inputs ----------------------------------------------------------
    def step(
        self,
        eid: str,
        events: Sequence[inputs._Input],
        *,
        check: Callable[[Snapshot | None], bool] = _running,
        extra_meta: Callable[[ExecutionState], dict[str, str]] | None = None,
        base: Snapshot | None = None,
        finished: str | None = None,
        logs: Sequence[LogEvent] = (),
    ) -> Decision | None:
        """Decide ``events``, in order, on the stored execution, append all they produce in
        one conditional step (on a conflict, read again and decide again) and carry out its
        commands. Returns what was appended, or None when nothing changed.

        ``check`` sees each snapshot read first: False means there is nothing to do, and an
        exception it raises (an API error) leaves everything unchanged. Inputs about one
        task or timer read only the frames they touch (``load_partial``); when ``decide``
        reaches further it raises ``Incomplete`` and the step reads again with more.
        ``base`` is a snapshot read earlier to decide on first (a worker's, from when its
        task began: when nothing else happened meanwhile, or only what the store can append
        this decision after, such as a Map iteration's siblings' outcomes, the step needs
        no read).
        ``finished`` names a task whose outcome ``events`` report: it is forgotten once they
        are recorded (or turn out stale); its handler's last ``logs`` are written once, in
        the step's first round trip.
        """
        lookups = _lookups(events)
        # The tasks whose outcome or callback answer the events report: an append that
        # stops awaiting one of them disturbs no other task (``RedisHistoryStore.append``).
        answered = {token for token in (getattr(e, "token", None) for e in events) if token}
        store = self.store

        def read() -> Snapshot | None:
            return store.load(eid) if lookups is None else store.load_partial(eid, lookups)

        snapshot = base if base is not None else read()
        fresh = base is None  # "nothing to do" is only taken from a fresh read
        while True:
            appended: list[HistoryEvent] = []
            commands: list[Command] = []
            drew = False
            try:
                if check(snapshot):
                    assert snapshot is not None
                    definition = self._definition(snapshot.definition_version)
                    state = snapshot.state
                    for event in _not_before(events, snapshot.last_time):
                        decision = decide(definition, state, event)
                        state = decision.state
                        appended += decision.events
                        commands += decision.commands
                        drew = drew or decision.drew
                    require_data(state)
            except Incomplete as missing:
                assert snapshot is not None
                snapshot, fresh = store.load_more(snapshot, missing.field), True
                continue
            if not appended and not commands:
                if not fresh:
                    snapshot, fresh = read(), True
                    continue
                break
            meta = extra_meta(state) if extra_meta is not None else None
            plan = self._plan(commands)
            try:
                done = store.append(
                    eid, snapshot, state, appended, commands, meta,
                    deadline_of=partial(self._planned_deadline, plan),
                    forget=finished, logs=logs, rebase=not drew,
                    base_for=deferred_start, answered=answered,
                )
            except Conflict:
                logs = ()  # written with the first attempt
                snapshot, fresh = read(), True
                continue
            self._send(eid, commands, done, finished, plan)
            return Decision(state=state, events=appended, commands=commands)
        if finished is not None or logs:
            self.carry_out(eid, [], finished=finished, logs=logs)
        return None

    def _plan(self, commands: Sequence[Command]) -> dict[str, tuple[int, float]]:
        """Which of an append's tasks share a message: token -> (message number, seconds of
        time limits ahead of it in its message). Tasks whose message carries their base
        (``deferred_start``), in order, ``tasks_per_message`` at a time, when they fill at
        least ``MESSAGES_AT_LEAST`` messages and a message's limits stay within
        ``MESSAGE_SECONDS``; none on a Redis Cluster, where tasks go out from the outbox."""
        tasks = [c for c in commands if isinstance(c, RunTask) and deferred_start(c)]
        per = min(self.tasks_per_message, len(tasks) // MESSAGES_AT_LEAST)
        if per < 2 or not self.store.carries:
            return {}
        plan: dict[str, tuple[int, float]] = {}
        number, count, ahead = 0, 0, 0.0
        for command in tasks:
            seconds = self.dispatcher.task_seconds(command)
            if count == per or (count and ahead + seconds > MESSAGE_SECONDS):
                number, count, ahead = number + 1, 0, 0.0
            plan[command.token] = (number, ahead)
            count, ahead = count + 1, ahead + seconds
        return plan

    def _send(
        self,
        eid: str,
        commands: Sequence[Command],
        appended: Appended,
        finished: str | None = None,
        plan: Mapping[str, tuple[int, float]] | None = None,
    ) -> None:
        """Send the tasks of an append that carried out its commands (and forgot
        ``finished``), each with its base if it has one, those ``plan`` puts together in
        one message; else carry them out from the outbox and forget ``finished``."""
        if not appended.carried:
            self.carry_out(eid, commands, finished=finished)
            return
        shared: dict[int, list[tuple[RunTask, str]]] = {}
        for command in commands:
            if not isinstance(command, RunTask):
                continue
            sent = appended.bases.get(command.token, FIRST_SENT)
            place = plan.get(command.token) if plan else None
            if place is None or sent == FIRST_SENT:
                self.dispatcher.run_task(eid, command, sent)
            else:
                shared.setdefault(place[0], []).append((command, sent))
        for tasks in shared.values():
            self.dispatcher.run_tasks(eid, tasks)

    def apply(self, eid: str, event: inputs._Input) -> bool:
        """Apply ``event``; True if it changed the execution (False: stale or duplicate)."""
        return self.step(eid, [event]) is not None

    def carry_out(
        self,
        eid: str,
        commands: Sequence[Command],
        finished: str | None = None,
        logs: Sequence[LogEvent] = (),
    ) -> None:
        """Carry out commands recorded in the execution's outbox, and forget the task
        ``finished`` (whose outcome was just recorded).

        Several processes carry out the same outbox at once (the writer that appended the
        commands, other writers of the execution, every scheduler's sweep), and each task
        must be sent once: a task is sent only by the process whose removal of it from the
        outbox succeeded, after its deadline was recorded (so a crash between the two is
        covered by ``recover``). Timers are idempotent. One round trip to Redis, then the
        sends.
        """
        won = self.store.carry_out(eid, commands, self.deadline, forget=finished, logs=logs)
        for command in won:
            self.dispatcher.run_task(eid, command)

    def flush(self, *eids: str) -> None:
        """Carry out whatever the executions' outboxes still hold (the recovery sweep),
        reading them all in one round trip."""
        for eid, commands in self.store.outboxes(eids).items():
            self.carry_out(eid, commands)

    def _planned_deadline(
        self, plan: Mapping[str, tuple[int, float]], command: RunTask
    ) -> datetime:
        return self.deadline(command, plan.get(command.token, (0, 0.0))[1])

    def deadline(self, command: RunTask, ahead: float = 0.0) -> datetime:
        """When a task sent now is taken as lost: its time limit and the grace after it,
        after the ``ahead`` seconds of the tasks before it in its message."""
        seconds = ahead + self.dispatcher.task_seconds(command) + self.grace_seconds
        return self.clock.now() + timedelta(seconds=seconds)

    def task_finished(
        self,
        eid: str,
        token: str,
        event: inputs._Input | Sequence[inputs._Input],
        logs: Sequence[LogEvent] = (),
        base: Snapshot | None = None,
    ) -> bool:
        """Record a task's outcome (a worker may pass its TaskStarted first, to record both in
        one step) and forget the task, writing its handler's last ``logs`` in the same round
        trip; True if it changed the execution. ``base``: the snapshot ``begin_task`` read,
        if it can be decided on."""
        events = [event] if isinstance(event, inputs._Input) else list(event)
        return self.step(eid, events, base=base, finished=token, logs=logs) is not None

    def awaits_handler(self, eid: str, token: str, snapshot: Snapshot | None = None) -> bool:
        """True while the execution runs and the handler of task ``token`` has yet to report
        (reads only that task's frame, unless ``snapshot`` holds it already)."""
        if snapshot is None:
            snapshot = self.store.load_partial(eid, (TASK + token,), ancestors=False)
        while True:
            try:
                return _running(snapshot) and snapshot is not None and (
                    snapshot.state.awaits_handler(token)
                )
            except Incomplete as missing:
                assert snapshot is not None
                snapshot = self.store.load_more(snapshot, missing.field)

    def begin_task(
        self, eid: str, command: RunTask, *, count: bool = True, uncounted: int = 0
    ) -> tuple[int, Snapshot | None]:
        """A worker is about to run ``command``: (0, None) if it is no longer awaited (a late
        or duplicate delivery), else how many times its handler has begun, this time
        included, and the snapshot read, for ``decide`` to take as the base of the
        outcome's step. The task's deadline counts from now, so time spent waiting in the
        queue never looks like a lost worker (which would send it again while merely
        queued); one round trip. ``count`` False: this begin is not counted (the first
        delivery of its attempt's first message); ``uncounted``: begins of the attempt that
        were not (1 once its messages say which is the first, 0 for older messages)."""
        snapshot, counted = self.store.load_task(
            eid, command, self.deadline(command), count=count
        )
        if not self.awaits_handler(eid, command.token, snapshot):
            return 0, None
        starts = counted + uncounted
        return starts, snapshot if snapshot is not None and snapshot.head else None

    def resume_task(self, eid: str, command: RunTask, sent: Mapping[str, Any]) -> Snapshot | None:
        """The base a task's first message carries (``Appended.bases``), when it can stand
        for a begin read (no round trip before the handler): the message is young enough
        that the deadline recorded when it was sent covers the handler's whole time limit,
        nothing that stops awaiting a task happened to the execution since it was sent
        (``undisturbed``), and the base carries the execution's input or this process
        holds it. None: begin the task with ``begin_task``."""
        latest = self.clock.now().timestamp() + self.dispatcher.task_seconds(command)
        if "reply" not in sent or latest + self.grace_seconds / 2 > float(sent["deadline"]):
            return None
        reply = sent["reply"]
        if not self.undisturbed(eid, int(reply[0])):
            return None
        snapshot = self.store.task_snapshot(eid, reply, command.token)
        if snapshot is None or not self.awaits_handler(eid, command.token, snapshot):
            return None
        return snapshot

    def undisturbed(self, eid: str, since: int) -> bool:
        """True if the execution runs and no append since event ``since`` stopped awaiting a
        task (its ``epoch``), as read by this process at most ``CURRENT_SECONDS`` ago."""
        now = time.monotonic()
        seen = self._disruptions.get(eid)
        if seen is None or now - seen[2] > CURRENT_SECONDS:
            epoch, status = self.store.disruption(eid)
            if len(self._disruptions) >= 1024:
                self._disruptions.clear()
            seen = self._disruptions[eid] = (epoch, status, now)
        return seen[1] == "RUNNING" and seen[0] <= since

    # -- the loops ----------------------------------------------------------------
    def fire_due_timers(self, limit: int = 100) -> int:
        fired = 0
        for eid, timer_id in self.store.due_timers(self.clock.now(), limit):
            self.apply(eid, inputs.TimerFired(time=self.clock.now(), timer_id=timer_id))
            self.store.remove_timer(eid, timer_id)
            fired += 1
        return fired

    def recover(self) -> int:
        """Sweep outboxes of running executions and re-dispatch tasks whose worker is gone."""
        redone = 0
        self.store.settle_open()
        self.flush(*self.store.running())
        now = self.clock.now()
        for eid, token in self.store.due_deadlines(now):
            command = self.store.task(eid, token)
            if command is None or not self.awaits_handler(eid, token):
                # Done, or a .waitForTaskToken task whose handler reported: its callback
                # may take as long as it takes.
                self.store.forget_task(eid, token)
                continue
            assert isinstance(command, RunTask)
            if not self.store.claim_deadline(eid, token, now, self.deadline(command)):
                continue  # another scheduler claimed it first and sends it
            log.warning("task %s of %s passed its deadline; dispatching it again", token, eid)
            self.dispatcher.run_task(eid, command, RESENT)
            redone += 1
        return redone

    # -- callbacks, redrive, re-run (callbacks.py, replay.py) ----------------------------
    def send_task_success(self, token: str, output: Any) -> None:
        """SendTaskSuccess: the ``.waitForTaskToken`` task with ``token`` succeeded with
        ``output`` (JSON text as a ``str``, as AWS's API takes it, or the value itself).

        Raises:
            InvalidToken, TaskDoesNotExist, TaskTimedOut, InvalidOutput: nothing changed.
        """
        callbacks.send_task_success(self, token, output)

    def send_task_failure(
        self, token: str, error: str | None = None, cause: str | None = None
    ) -> None:
        """SendTaskFailure: the task with ``token`` failed with ``error`` and ``cause``.

        Raises:
            InvalidToken, TaskDoesNotExist, TaskTimedOut: nothing changed.
        """
        callbacks.send_task_failure(self, token, error, cause)

    def send_task_heartbeat(self, token: str) -> None:
        """SendTaskHeartbeat: restart the HeartbeatSeconds of the task with ``token``.

        Raises:
            InvalidToken, TaskDoesNotExist, TaskTimedOut: nothing changed.
        """
        callbacks.send_task_heartbeat(self, token)

    def redrive(self, eid: str) -> datetime:
        """RedriveExecution: a FAILED, TIMED_OUT or ABORTED execution carries on from the
        states that did not succeed (``replay.py``). Returns the redrive date.

        Raises:
            ExecutionDoesNotExist: nothing is stored under ``eid``.
            ExecutionNotRedrivable: AWS would refuse it (nothing changed).
        """
        return replay.redrive(self, eid)

    def rerun(
        self,
        eid: str,
        *,
        from_state: str | None = None,
        input: Any = replay.ORIGINAL,
        name: str | None = None,
    ) -> str:
        """Beyond AWS: a new execution of ``eid``'s definition version and input, from its
        start or from top-level state ``from_state`` (``replay.py``). Returns its id.

        Raises:
            ExecutionDoesNotExist, ValidationException, ExecutionAlreadyExists.
        """
        return replay.rerun(self, eid, from_state=from_state, input=input, name=name)

    def housekeeping(self) -> int:
        """Drop what the retention let go of: index entries of expired executions, and
        function log entries older than the retention. Returns how many it dropped."""
        return self.store.prune_expired() + self.store.logs.prune()

    def tick(self) -> int:
        """One pass of the scheduler: due timers, then recovery; housekeeping now and then."""
        done = self.fire_due_timers() + self.recover()
        if time.monotonic() >= self._next_housekeeping:
            self._next_housekeeping = time.monotonic() + HOUSEKEEPING_SECONDS
            done += self.housekeeping()
        return done


__all__ = ["ACCOUNT", "REGION", "Runtime"]
