"""Execution history in Redis: append-only events, a state snapshot, an outbox, indexes.

Per execution (all under one Redis Cluster hash tag, so an execution lives on one shard):

- ``{p}:{<machine>:<name>}:meta``   hash: status, last_event_id, the state snapshot's head
  (``state``: ExecutionState without its frames, tasks, timers and last event id),
  definition version, machine, name, ARNs, input, start/stop dates, error/cause, and
  ``epoch``: the last event id of the last append that stopped awaiting a task other than
  the one whose outcome it recorded (a stop, a failure, a timeout, an abort), which tells a
  worker whether a task's message, sent at a known event id, is still current
- ``{p}:{<machine>:<name>}:state``  hash: the rest of the snapshot, one field per frame
  (``f:<frame id>``, ``d:<frame id>`` for its input, ``c:<frame id>`` for a Parallel or
  Map frame's counters), per task in flight (``k:<token>``), per timer (``t:<timer id>``)
  and per branch or iteration result and Map item (``r:``, ``i:``), so a step of one Map
  iteration reads that iteration's frame and its ancestors, not thousands of others, and
  writes only the fields that changed
- ``{p}:{<machine>:<name>}:events`` list: the history events, JSON, in id order
- ``{p}:{<machine>:<name>}:outbox`` list: on a Redis Cluster, commands recorded with the
  events that produced them, removed once dispatched (transactional outbox); on one Redis
  the append records tasks and timers where they go, and this stays empty
- ``{p}:{<machine>:<name>}:tasks``  hash: task attempts in flight (for recovery)
- ``{p}:{<machine>:<name>}:starts`` hash: how many times each attempt's handler began (a
  handler that kills its worker every time must not be run forever)
- ``{p}:{<machine>:<name>}:logs``   list: what the handlers printed (``logs.py``)

An append succeeds only if the execution's last event id is still the one the writer read
(scripts/append.lua): two workers finishing at once can never both advance it. The one
exception is checked by the same script: a Map iteration's outcome that changes nothing
its siblings' outcomes read or changed but the Map's counters is appended after theirs,
renumbered, instead of being decided again (``_rebasing``). The same
script sets the retention TTL on every per-execution key when the execution stops, so its
history, snapshot, outbox and logs expire together (``SFN_RETENTION_DAYS``, default 90,
as AWS keeps Standard executions' histories).

Global: definitions by content hash, the timer sorted set, task deadlines, the set of
open executions (``{p}:active``) and the listing indexes (``indexes.py``), kept in step
with each execution's status by ``settle.py``.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import redis
from pydantic import BaseModel
from pydantic_core import from_json
from redis.cluster import RedisCluster

from statemachine.dataflow.serialize import to_json
from statemachine.interpreter.commands import CancelTimer, Command, RunTask, StartTimer
from statemachine.interpreter.engine import MAX_HISTORY_EVENTS
from statemachine.interpreter.events import HistoryEvent, iso_time
from statemachine.interpreter.state import (
    FRAME_DATA,
    ExecutionState,
    Frame,
    Incomplete,
    PartialDict,
)
from statemachine.runtime.indexes import ExecutionIndex
from statemachine.runtime.logs import LogEvent, LogStore
from statemachine.runtime.lua import execute, queue_script
from statemachine.runtime.packing import command_packer
from statemachine.runtime.settle import MARK_INDEXED, Settling, parse_time

#: How long a stopped execution is kept, unless SFN_RETENTION_DAYS says otherwise: AWS
#: keeps a Standard execution's history for 90 days after it closes.
DEFAULT_RETENTION_DAYS = 90.0
#: Events that (re)open an execution: it joins ``active`` before they are appended.
OPENING_EVENTS = frozenset({"ExecutionStarted", "ExecutionRedriven"})
#: The per-execution keys that expire together (besides meta, events and outbox).
_EXPIRING_PARTS = ("state", "tasks", "starts", "logs", "logs:count")
#: Field prefixes of the ``state`` hash: frames, their bulky data, tasks in flight, timers,
#: and the results and items of Parallel and Map states (JSON values).
FRAME, DATA, TASK, TIMER, RESULT, ITEM = "f:", "d:", "k:", "t:", "r:", "i:"
#: A Parallel or Map frame's counters (``running,finished,failed``): kept out of the frame's
#: own field so that the frame stays the same while its iterations run, and an iteration's
#: outcome decided on an older read can be appended after its siblings' (``append``).
COUNTERS = "c:"
_COUNTED = ("running", "finished", "failed")
#: The ``meta`` field of the execution's input as the interpreter holds it (JSON in the
#: input's own key order; ``input`` is canonical, for comparing starts).
INPUT = "state_input"
#: The ``meta`` field a worker reads to tell whether a task's message is still current
#: (see the module docstring).
EPOCH = "epoch"
#: The ExecutionState mappings kept in the hash, by field prefix.
_MAPPINGS = {FRAME: "frames", TASK: "tasks", TIMER: "timers", RESULT: "results", ITEM: "items"}
#: What the head leaves out: the hash holds the mappings, ``meta`` the last event id (so
#: the head stays the same while a Map's iterations run, and is not written again).
_NOT_IN_HEAD = {*_MAPPINGS.values(), "last_event_id"}
#: A frame's bulky fields that stay the same while its Parallel or Map state runs: kept in a
#: field of their own (``d:<frame id>``), so an iteration's step, which changes its Map
#: frame's counters, neither reads nor writes the Map's input again.
_FRAME_DATA = set(FRAME_DATA)
#: What a frame's own field leaves out.
_NOT_IN_FRAME = _FRAME_DATA | set(_COUNTED)


class _FrameData(BaseModel):
    input: Any = None
    effective_input: Any = None


_COMMANDS: Any = None


def _command_adapter() -> Any:
    global _COMMANDS
    if _COMMANDS is None:
        from pydantic import TypeAdapter

        _COMMANDS = TypeAdapter(Command)
    return _COMMANDS


@dataclass(frozen=True)
class Snapshot:
    """An execution's state as stored at ``last_event_id``.

    ``fields`` are the ``state`` hash's fields as read (None: known to be absent): an append
    writes only the fields that changed from them. A partial snapshot (``lookups`` is not
    None) read only those fields and the frames they lead to; its state's mappings are
    ``PartialDict``s, and ``decide`` raises ``Incomplete`` if it needs more.
    """

    execution_id: str
    last_event_id: int
    state: ExecutionState
    definition_version: str
    meta: dict[str, str]
    fields: dict[str, str | None]
    lookups: tuple[str, ...] | None = None
    #: The head as read: an append writes it only if it changed.
    head: str = ""
    #: The time of the last event in the history (``meta``'s ``last_time``).
    last_time: datetime | None = None
    #: Whether ``meta`` holds the execution's input (``state_input``), which the head then
    #: leaves out (an execution started before it did keeps it in the head).
    input_apart: bool = False


@dataclass(frozen=True)
class Appended:
    """What ``append`` did: whether it carried out the commands itself (the caller then
    sends the tasks), and for the tasks it was asked to, the base each one's message
    carries (``_task_bases``), by token."""

    carried: bool
    bases: dict[str, str]


#: ``_build_state``'s execution input when the head holds it (or none is needed).
_UNREAD: Any = object()
#: How many executions' inputs a store keeps parsed (``_input_of``).
_INPUTS_KEPT = 256


def _build_state(
    head: str,
    last_event_id: int,
    fields: dict[str, str | None],
    partial: bool,
    execution_input: Any = _UNREAD,
) -> ExecutionState:
    state = ExecutionState.model_validate_json(head)
    state.last_event_id = last_event_id
    if execution_input is not _UNREAD:
        state.input = execution_input
    parts: dict[str, dict[str, Any]] = {prefix: {} for prefix in (*_MAPPINGS, DATA, COUNTERS)}
    absent: dict[str, set[str]] = {prefix: set() for prefix in (*_MAPPINGS, DATA, COUNTERS)}
    for field, value in fields.items():
        prefix, key = field[:2], field[2:]
        if value is None:
            absent[prefix].add(key)
        elif prefix == FRAME:
            parts[FRAME][key] = Frame.model_validate_json(value)
        elif prefix == DATA:
            parts[DATA][key] = _FrameData.model_validate_json(value)
        elif prefix in (RESULT, ITEM):
            parts[prefix][key] = json.loads(value)
        else:
            parts[prefix][key] = value
    for key, frame in parts[FRAME].items():
        counted = parts[COUNTERS].get(key)
        if counted is not None:
            frame.running, frame.finished, frame.failed = (int(n) for n in counted.split(","))
        data = parts[DATA].get(key)
        if data is not None:
            for name in _FRAME_DATA:
                setattr(frame, name, getattr(data, name))
        elif partial and DATA + key not in absent[DATA]:
            frame.without_data(DATA + key)  # not read: an ancestor of what was asked for
    for prefix, name in _MAPPINGS.items():
        # A head written before the split may still hold entries: they count as loaded.
        mapping = getattr(state, name)
        mapping.update(parts[prefix])
        if partial:
            setattr(state, name, PartialDict(mapping, absent[prefix], prefix))
    return state


#: The head of a snapshot read without one (``load_partial(..., ancestors=False)``).
_NO_HEAD = '{{"status": "{status}"}}'


def require_data(state: ExecutionState) -> None:
    """Raise ``Incomplete`` if the head would hold a frame read without its data: a branch
    or iteration set aside (``halted``) is written whole, in the head, so its data must be
    read first."""
    for frame in state.halted.values():
        if frame.data_field is not None:
            raise Incomplete(frame.data_field)


def fields_of(state: ExecutionState) -> dict[str, str]:
    """The ``state`` hash's fields for what ``state`` holds (all of it, or what a partial
    state loaded and added)."""
    fields: dict[str, str] = {}
    for key, frame in dict.items(state.frames):
        fields[FRAME + key] = frame.model_dump_json(exclude_defaults=True, exclude=_NOT_IN_FRAME)
        if frame.running or frame.finished or frame.failed:
            fields[COUNTERS + key] = f"{frame.running},{frame.finished},{frame.failed}"
        if frame.data_field is not None:
            continue  # read without its data, which is as stored
        data = frame.model_dump_json(exclude_defaults=True, include=_FRAME_DATA)
        if data != "{}":
            fields[DATA + key] = data
    fields.update((TASK + key, value) for key, value in dict.items(state.tasks))
    fields.update((TIMER + key, value) for key, value in dict.items(state.timers))
    fields.update((RESULT + key, to_json(value)) for key, value in dict.items(state.results))
    fields.update((ITEM + key, to_json(value)) for key, value in dict.items(state.items))
    return fields


# Read a partial snapshot: the head, the named fields of the state hash, and for a task or
# timer field the frame it names (with its data, ``d:``) and that frame's ancestors (without
# theirs: frame ids are paths, "/5.3/12.0" is in "/5.3", which is in the root frame ""), in
# one consistent read.
# ARGV[1] "frame" reads the frames alone, not their data (``d:``), their ancestors nor the
# head (which holds the execution's input): enough to tell whether a task is awaited.
# ARGV[2] is the start date of the execution whose input the reader holds parsed ("" for
# none): its input (``state_input``) is then left out of the reply. The fields follow.
# "chain" reads each frame's counters (``c:``) with it.
_LOAD_PARTIAL = """
local meta = redis.call('HMGET', KEYS[1], 'last_event_id', 'state', 'definition_version',
                        'status', 'last_time', 'start_date')
if meta[2] == false then return {} end
local mode = ARGV[1]
local out = {meta[1] or '0', meta[2], meta[3] or '', meta[4] or '', meta[5] or '', false,
             meta[6] or ''}
if mode == 'frame' then
  out[2] = ''
elseif redis.call('HEXISTS', KEYS[1], 'state_input') == 1 then
  if ARGV[2] ~= '' and meta[6] == ARGV[2] then
    out[6] = ''  -- the reader holds this execution's input already
  else
    out[6] = redis.call('HGET', KEYS[1], 'state_input')
  end
end
local seen = {}
local function add(field)
  if seen[field] then return false end
  seen[field] = true
  local value = redis.call('HGET', KEYS[2], field)
  table.insert(out, field)
  table.insert(out, value)
  return value
end
local function chain(id)
  add('f:' .. id)
  if mode == 'frame' then return end
  add('d:' .. id)
  while true do
    add('f:' .. id)
    add('c:' .. id)
    if id == '' then return end
    local parent = string.match(id, '^(.*)/[^/]*$')
    if parent == nil then return end
    id = parent
  end
end
for i = 3, #ARGV do
  local field = ARGV[i]
  local kind = string.sub(field, 1, 2)
  local value = add(field)
  if kind == 'f:' or kind == 'd:' then
    chain(string.sub(field, 3))
  elseif value and (kind == 'k:' or kind == 't:') then
    chain(value)
  end
end
return out
"""


# Claim an overdue task: all conditions checked before the one write.
_CLAIM = """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score == false or tonumber(score) > tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
return 1
"""


#: ``_rebasing``'s answer for an append that may not be rebased.
_NOT_REBASED = ("", "", "", "", "0", "0")
#: How an iteration that ends (and is not the Map's last) changes its Map frame's counters
#: (running, finished, failed): the one change a rebased append makes to them.
_ITERATION_ENDED = (-1, 1, 0)


def _rebasing(
    base: Snapshot | None,
    state: ExecutionState,
    head: str,
    sets: list[tuple[str, str]],
    commands: Sequence[Command],
    events: Sequence[HistoryEvent],
) -> Sequence[str]:
    """append.lua's rebase arguments: how this append may still be made when the history
    moved on since ``base`` was read, or ``_NOT_REBASED``.

    A Map iteration that ends while its siblings run is decided on a read that their
    outcomes soon make stale; without this, every outcome appended after a sibling's would
    be read and decided again (a round trip, and under load a retry storm). Its decision
    reads the head and its own chain of frames and changes only its own frame and task,
    its result's entry and its Map frame's counters (one iteration fewer running, one more
    finished); when none of what it read changed but those counters, and it is still not
    the last iteration, the same decision holds after the siblings', with event ids
    shifted past theirs (ids within the batch and references to them move; references to
    older events stay), and timestamps no earlier than theirs. Not when the decision
    depends on its own position or time: it drew random values (seeded by the position;
    every failure draws, for a retry's jitter, and a failure's cause names the id its
    state was entered at: the caller passes ``rebase=False``), or it entered a state
    (whose $$.State.EnteredTime is the decision's time, which moving the timestamps would
    leave behind). Anything else (a command, a Map that ends, the head changing) is
    decided again on a fresh read.

    Returns: the counters field, its deltas, the finished count it must stay below, the
    SHA-1 of the head and the guarded fields' values as read, the number of those fields,
    the most events a history holds; then the guarded fields' names.
    """
    if (
        base is None
        or base.lookups is None
        or commands
        or not events
        or not state.running
        or head != base.head
        # A state entered in the batch computes with the batch's time ($$.State.EnteredTime),
        # which the script's moving the timestamps past the siblings' would not move.
        or any(event.type.endswith("StateEntered") for event in events)
    ):
        return _NOT_REBASED
    counted = [field for field, _ in sets if field.startswith(COUNTERS)]
    if len(counted) != 1 or any(
        field != counted[0] and not field.startswith(RESULT) for field, _ in sets
    ):
        return _NOT_REBASED
    field = counted[0]
    before = base.fields.get(field)
    frame = dict.get(state.frames, field[len(COUNTERS):])
    if before is None or frame is None or not frame.item_count:
        return _NOT_REBASED
    old = [int(n) for n in before.split(",")]
    new = (frame.running, frame.finished, frame.failed)
    if tuple(after - was for after, was in zip(new, old, strict=True)) != _ITERATION_ENDED:
        return _NOT_REBASED
    guarded = [name for name in base.fields if name[:2] in (FRAME, TASK, TIMER)]
    values = [base.head]
    values += [_ABSENT if base.fields[name] is None else str(base.fields[name]) for name in guarded]
    digest = hashlib.sha1("\0".join(values).encode("utf-8")).hexdigest()
    return (
        field, ",".join(map(str, _ITERATION_ENDED)), str(frame.item_count), digest,
        str(len(guarded)),
        str(MAX_HISTORY_EVENTS), *guarded,
    )


class _Missing:
    """A field whose stored value an append cannot tell (it neither read nor wrote it)."""


_MISSING = _Missing()


class _Stored:
    """The ``state`` hash's fields as an append leaves them (``before`` as read, ``after``
    as ``fields_of`` writes them, ``deleted``), for the base a task's message carries: the
    fields a begin read of the task returns (``_LOAD_PARTIAL``'s chain: the task, its frame
    with its data, each ancestor frame with its counters)."""

    def __init__(
        self,
        before: dict[str, str | None],
        after: dict[str, str],
        deleted: set[str],
        state: ExecutionState,
    ) -> None:
        self.before, self.after, self.deleted, self.state = before, after, deleted, state

    def value(self, field: str) -> str | _Missing | None:
        if field in self.after:
            return self.after[field]
        if field in self.deleted:
            return None
        if field in self.before:
            return self.before[field]
        key = field[2:]
        if dict.get(self.state.frames, key) is not None and FRAME + key not in self.before:
            return None  # a frame this decision made: it has no such field
        return _MISSING

    def chain(self, token: str) -> list[str | None] | None:
        """The fields a begin read of task ``token`` returns, as name, value pairs in one
        list; None when one of them is not known here."""
        found: dict[str, str | None] = {}

        def add(field: str) -> bool:
            if field not in found:
                value = self.value(field)
                if isinstance(value, _Missing):
                    return False
                found[field] = value
            return True

        if not add(TASK + token):
            return None
        key = found[TASK + token]
        if key is None or not (add(FRAME + key) and add(DATA + key)):
            return None
        while True:
            if not (add(FRAME + key) and add(COUNTERS + key)):
                return None
            parent, slash, _ = key.rpartition("/")
            if key == "" or not slash:
                break
            key = parent
        return [item for pair in found.items() for item in pair]


#: The longest execution input a task's base carries (the tasks an execution starts with,
#: whose workers have never read it); others read it once per worker process.
_CARRIED_INPUT_CHARS = 4096


def _carried_input(text: str | None) -> str:
    """The input field of a task's base: the input's text when known and short, else ""
    (the worker holds it, or reads it)."""
    return text if text is not None and len(text) <= _CARRIED_INPUT_CHARS else ""


def _task_bases(
    reply: list[str | None],
    stored: _Stored,
    tasks: Sequence[RunTask],
    deadlines: dict[str, datetime],
) -> dict[str, str]:
    """The base each of ``tasks``' first message carries, by token: the reply a begin read
    of it would give right after the append that sent it (``reply``: that read's head part;
    ``stored``: the fields), and the deadline the append recorded; JSON."""
    bases: dict[str, str] = {}
    for command in tasks:
        fields = stored.chain(command.token)
        if fields is not None:
            bases[command.token] = json.dumps({
                "first": True,
                "deadline": _epoch(deadlines[command.token]),
                "reply": [*reply, *fields],
            })
    return bases


#: A guarded field that was absent, in the rebase digest.
_ABSENT = "\x01"


class Conflict(Exception):
    """Another writer advanced the execution first; reload and decide again."""


def execution_id(machine: str, name: str) -> str:
    return f"{machine}:{name}"


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _member(eid: str, key: str) -> str:
    """A member of the timer or deadline sorted set: an execution's timer or task."""
    return json.dumps([eid, key])


def _pair(item: Any) -> tuple[str, str]:
    """The execution and timer or task of a sorted set's ``_member``."""
    first, second = json.loads(_text(item))
    return str(first), str(second)


def _epoch(moment: datetime) -> float:
    return moment.astimezone(UTC).timestamp()


def redis_client(url: str, environ: Any = None) -> Any:
    """The history store's client for ``url``: a ``RedisCluster`` when ``SFN_REDIS_CLUSTER``
    is ``1`` (``url`` names any node; executions shard by their hash tag), else a
    ``Redis`` whose connections pack commands with hiredis directly (``packing.py``)."""
    env = os.environ if environ is None else environ
    if is_cluster(env):
        return RedisCluster.from_url(url)
    return redis.Redis.from_url(url, **command_packer())


def is_cluster(environ: Any) -> bool:
    return str(environ.get("SFN_REDIS_CLUSTER") or "").lower() in {"1", "true", "yes", "on"}


def retention_from_env(environ: Any = None) -> float:
    """Seconds a stopped execution is kept: ``SFN_RETENTION_DAYS`` (default 90); zero or
    less keeps executions forever."""
    env = os.environ if environ is None else environ
    raw = env.get("SFN_RETENTION_DAYS") or ""
    days = float(raw) if raw.strip() else DEFAULT_RETENTION_DAYS
    return max(0.0, days * 86400.0)


class RedisHistoryStore(Settling):
    """The history store under ``prefix``.

    Args:
        client: the Redis connection.
        prefix: the key prefix (``SFN_PREFIX``).
        retention_seconds: how long a stopped execution is kept; None reads
            ``SFN_RETENTION_DAYS``; 0 keeps it forever.
    """

    def __init__(
        self, client: redis.Redis, prefix: str = "sfn", *, retention_seconds: float | None = None
    ) -> None:
        self.redis = client
        self.prefix = prefix
        self.retention_seconds = (
            retention_from_env() if retention_seconds is None else max(0.0, retention_seconds)
        )
        script = resources.files("statemachine.runtime").joinpath("scripts/append.lua")
        self._claim = client.register_script(_CLAIM)
        self._append = client.register_script(script.read_text(encoding="utf-8"))
        self._load_partial = client.register_script(_LOAD_PARTIAL)
        self._mark_indexed = client.register_script(MARK_INDEXED)
        #: Whether an append can carry out its commands in the same script (one Redis; on
        #: a Cluster the deadline and timer sets are on other shards than the execution).
        self.carries = not isinstance(client, RedisCluster)
        #: Executions' inputs parsed by partial reads: execution id -> (start date, input).
        self._inputs: dict[str, tuple[str, Any]] = {}
        self._inputs_lock = threading.Lock()
        self.index = ExecutionIndex(client, prefix)
        self.logs = LogStore(client, prefix, retention_seconds=self.retention_seconds)

    # -- keys ---------------------------------------------------------------------
    def _key(self, eid: str, part: str) -> str:
        return f"{self.prefix}:{{{eid}}}:{part}"

    def key(self, eid: str, part: str) -> str:
        """The key of one part (``meta``, ``events``...) of execution ``eid``."""
        return self._key(eid, part)

    @property
    def timers_key(self) -> str:
        return f"{self.prefix}:timers"

    @property
    def deadlines_key(self) -> str:
        return f"{self.prefix}:deadlines"

    @property
    def active_key(self) -> str:
        """Executions that may be running: a sorted set, scored by when they joined."""
        return f"{self.prefix}:active"

    def keys_of(self, eid: str) -> list[str]:
        """Every key of one execution (they share its hash tag)."""
        return [self._key(eid, part) for part in ("meta", "events", "outbox", *_EXPIRING_PARTS)]

    # -- definitions --------------------------------------------------------------
    def put_definition(self, text: str) -> str:
        version = hashlib.sha256(text.encode("utf-8")).hexdigest()
        self.redis.set(f"{self.prefix}:definition:{version}", text, nx=True)
        return version

    def get_definition(self, version: str) -> str:
        text = self.redis.get(f"{self.prefix}:definition:{version}")
        if text is None:
            raise KeyError(f"definition version {version} is not stored")
        return text.decode("utf-8") if isinstance(text, bytes) else str(text)

    # -- executions ---------------------------------------------------------------
    def exists(self, eid: str) -> bool:
        return bool(self.redis.exists(self._key(eid, "meta")))

    def status(self, eid: str) -> str | None:
        """The execution's status (one HGET, for pollers), or None if it is not stored."""
        raw = self.redis.hget(self._key(eid, "meta"), "status")
        return raw.decode() if isinstance(raw, bytes) else raw

    def wait_stopped(self, eid: str, timeout: float) -> str | None:
        """Block until execution ``eid`` is no longer RUNNING, or for ``timeout`` seconds;
        returns its status then (None: not stored). The append that ends an execution
        publishes on its ``stopped`` channel, so a waiter wakes when it stops rather than
        at its next poll; the status is read again at least every second, in case a
        message was lost (a reconnect, a Redis restart)."""
        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        try:
            pubsub.subscribe(self._key(eid, "stopped"))
            give_up = time.monotonic() + timeout
            while True:
                status = self.status(eid)
                left = give_up - time.monotonic()
                if status != "RUNNING" or left <= 0:
                    return status
                pubsub.get_message(timeout=min(left, 1.0))
        finally:
            pubsub.close()

    def load(self, eid: str) -> Snapshot | None:
        """The whole snapshot, in one consistent read."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.hgetall(self._key(eid, "meta"))
        pipe.hgetall(self._key(eid, "state"))
        raw, hashed = pipe.execute()
        if not raw:
            return None
        meta = {_text(k): _text(v) for k, v in raw.items()}
        fields: dict[str, str | None] = {_text(k): _text(v) for k, v in hashed.items()}
        last = int(meta.get("last_event_id", "0"))
        return Snapshot(
            execution_id=eid,
            last_event_id=last,
            state=_build_state(
                meta["state"], last, fields, partial=False,
                execution_input=from_json(meta[INPUT]) if INPUT in meta else _UNREAD,
            ),
            definition_version=meta["definition_version"],
            meta=meta,
            fields=fields,
            head=meta["state"],
            last_time=parse_time(meta["last_time"]) if meta.get("last_time") else None,
            input_apart=INPUT in meta,
        )

    def load_partial(
        self, eid: str, lookups: Sequence[str], *, ancestors: bool = True
    ) -> Snapshot | None:
        """The snapshot's head and only the ``state`` fields named in ``lookups`` (``k:<token>``,
        ``t:<timer id>``, ``f:<frame id>``), with the frames they lead to and (unless
        ``ancestors`` is False) those frames' ancestors: what one task's or timer's input
        touches. ``decide`` on it raises ``Incomplete`` when it needs more; ``load_more``
        then reads again with that too. Without ancestors no head is read either: the state
        holds only the status and the frames, enough for ``awaits_handler``, not ``decide``."""
        args = self._partial_args(eid, "chain" if ancestors else "frame", lookups)
        reply = self._load_partial(keys=self._partial_keys(eid), args=args)
        return self._partial(eid, reply, lookups)

    def load_task(
        self, eid: str, command: RunTask, deadline: datetime, *, count: bool = True
    ) -> tuple[Snapshot | None, int]:
        """A worker begins ``command``: its deadline counted from now (the task itself was
        recorded when it was sent), how many of its handler's begins were counted, this
        one included unless ``count`` is False (then only the earlier ones: a recovery's
        re-send may have begun it before this first message's delivery), and the partial
        snapshot its outcome touches (``load_partial``), to ``decide`` the outcome on, in
        one round trip."""
        lookups = (TASK + command.token,)
        pipe = self.redis.pipeline(transaction=False)
        args = self._partial_args(eid, "chain", lookups)
        queue_script(pipe, self._load_partial, self._partial_keys(eid), args)
        pipe.zadd(self.deadlines_key, {_member(eid, command.token): _epoch(deadline)})
        starts = self._key(eid, "starts")
        if count:
            pipe.hincrby(starts, command.token, 1)
        else:
            pipe.hget(starts, command.token)
        replies = execute(pipe)
        return self._partial(eid, replies[0], lookups), int(replies[2] or 0)

    def _partial_keys(self, eid: str) -> list[str]:
        return [self._key(eid, "meta"), self._key(eid, "state")]

    def _partial_args(self, eid: str, mode: str, lookups: Sequence[str]) -> list[str]:
        with self._inputs_lock:
            known = self._inputs.get(eid)
        return [mode, known[0] if known is not None else "", *lookups]

    def _input_of(self, eid: str, start: str, text: str | None) -> Any:
        """The execution's input for a step's partial read: parsed from ``text`` and kept
        (by execution and start date, which a later execution of the same name does not
        share), or the one kept when the read left it out (``text`` is ""). Shared between
        steps as the in-process driver shares it: the interpreter never changes data in
        place (a ResultPath writes into a copy). _UNREAD when the head holds it."""
        if text is None:
            return _UNREAD
        with self._inputs_lock:
            if text:
                value = from_json(text)
                self._inputs[eid] = (start, value)
                while len(self._inputs) > _INPUTS_KEPT:
                    del self._inputs[next(iter(self._inputs))]
                return value
            known = self._inputs.get(eid)
        if known is None or known[0] != start:
            raise Incomplete(None)  # dropped meanwhile (another thread's reads): read all
        return known[1]

    def task_snapshot(self, eid: str, reply: list[Any], token: str) -> Snapshot | None:
        """The snapshot a begin read of task ``token`` would have given, from the reply its
        message carries (``Appended.bases``); None when the reply leaves the execution's
        input out ("") and this process does not hold it (the begin read returns it)."""
        if reply[5] == "":
            with self._inputs_lock:
                known = self._inputs.get(eid)
            if known is None or known[0] != reply[6]:
                return None
        return self._partial(eid, reply, (TASK + token,))

    def disruption(self, eid: str) -> tuple[int, str]:
        """The execution's ``epoch`` and status ("" when it is not stored)."""
        epoch, status = self.redis.hmget(self._key(eid, "meta"), [EPOCH, "status"])
        return int(epoch or 0), _text(status) if status is not None else ""

    def _partial(self, eid: str, reply: Any, lookups: Sequence[str]) -> Snapshot | None:
        if not reply:
            return None
        last, head, version, status, last_time = (_text(item) for item in reply[:5])
        input_text = None if reply[5] is None else _text(reply[5])
        start = _text(reply[6])
        rest = reply[7:]
        fields = {
            _text(rest[i]): (None if rest[i + 1] is None else _text(rest[i + 1]))
            for i in range(0, len(rest), 2)
        }
        try:
            execution_input = self._input_of(eid, start, input_text if head else None)
        except Incomplete:
            return self.load(eid)
        state = _build_state(
            head or _NO_HEAD.format(status=status), int(last), fields, partial=True,
            execution_input=execution_input,
        )
        loaded = sum(1 for f, v in fields.items() if f.startswith(FRAME) and v is not None)
        if dict.__len__(state.frames) > loaded:
            return self.load(eid)  # a head from before the split: it holds every frame
        return Snapshot(
            execution_id=eid,
            last_event_id=int(last),
            state=state,
            definition_version=version,
            meta={"last_event_id": last, "definition_version": version, "status": status,
                  "start_date": start},
            fields=fields,
            lookups=tuple(lookups),
            head=head,
            last_time=parse_time(last_time) if last_time else None,
            input_apart=input_text is not None,
        )

    def load_more(self, snapshot: Snapshot, field: str | None) -> Snapshot | None:
        """Read ``snapshot``'s execution again, now with ``field`` too (everything when None):
        a fresh, consistent read, not a merge, since the execution may have moved on."""
        if field is None or snapshot.lookups is None:
            return self.load(snapshot.execution_id)
        return self.load_partial(snapshot.execution_id, (*snapshot.lookups, field))

    def append(
        self,
        eid: str,
        base: Snapshot | None,
        state: ExecutionState,
        events: list[HistoryEvent],
        commands: list[Command],
        extra_meta: dict[str, str] | None = None,
        *,
        deadline_of: Callable[[RunTask], datetime] | None = None,
        forget: str | None = None,
        logs: Sequence[LogEvent] = (),
        rebase: bool = True,
        base_for: Callable[[RunTask], bool] | None = None,
        answered: Collection[str] = (),
    ) -> Appended:
        """Append atomically if the execution is still at ``base`` (None: not yet created),
        or if what moved on since does not change this decision (a Map iteration's outcome
        after its siblings': ``_rebasing``; the events are then renumbered, in place, with
        the ids they got; ``rebase`` False when the decision drew random values, which
        depend on its position in the history); else raise Conflict. Writes the head, and
        the frames, tasks and timers that differ from ``base``.

        With ``deadline_of``, on one Redis, the commands are carried out in the same atomic
        step (each task recorded with its deadline, each timer set or cancelled) and the
        task ``forget`` (whose outcome this append records) is forgotten: ``carried``, and
        the caller sends the tasks, each ``base_for`` accepts with its base (``_task_bases``).
        Otherwise (or on a Redis Cluster, where the deadline and timer sets live on other
        shards) the commands wait in the outbox for ``carry_out``. ``logs`` are written in
        the same round trip, whether the append succeeds or not (a retry must not write
        them again).

        An append that stops awaiting a task other than those ``answered`` (the tasks whose
        outcome or callback answer it records: it removes another's ``k:`` field, as a
        stop, a failure, a timeout or an abort does), or that ends the execution, sets the
        ``epoch`` to its last event id: a task's message sent before it is no longer
        current (``Runtime.resume_task``).
        """
        meta = dict(extra_meta or {})
        if events:
            meta["last_time"] = iso_time(events[-1].timestamp)
        if not state.running and events:
            meta["stop_date"] = iso_time(events[-1].timestamp)
            meta["error"] = state.error or ""
            meta["cause"] = state.cause or ""
            meta["output"] = json.dumps(state.output) if state.status == "SUCCEEDED" else ""
        if any(event.type in OPENING_EVENTS for event in events):
            # Joins the sweep's set first: a crash after the append still gets settled.
            self.redis.zadd(self.active_key, {eid: time.time()})
        before = base.fields if base is not None else {}
        # defaults refill on load: half the bytes
        apart = base.input_apart if base is not None else INPUT in meta
        head = state.model_dump_json(
            exclude_defaults=True, exclude=_NOT_IN_HEAD | {"input"} if apart else _NOT_IN_HEAD
        )
        after = fields_of(state)
        sets = [(f, v) for f, v in after.items() if before.get(f) != v]
        dels = [f for f, v in before.items() if v is not None and f not in after]
        # A frame that ends takes its data and counters along, read or not.
        dels += [
            part + f[2:]
            for f in dels
            if f.startswith(FRAME)
            for part in (DATA, COUNTERS)
            if part + f[2:] not in before
        ]
        was_running = base is None or base.meta.get("status") == "RUNNING"
        disrupts = (was_running and not state.running) or any(
            field.startswith(TASK) and field[len(TASK):] not in answered for field in dels
        )
        if disrupts:
            meta[EPOCH] = str(state.last_event_id)
        carry = deadline_of is not None and self.carries
        keys = self.keys_of(eid)
        own = len(keys)
        deadlines: dict[str, datetime] = {}
        if carry:
            assert deadline_of is not None
            keys += [self.deadlines_key, self.timers_key]
            deadlines = {c.token: deadline_of(c) for c in commands if isinstance(c, RunTask)}
        rebasing = (
            _rebasing(base, state, head, sets, commands, events)
            if rebase and not disrupts
            else _NOT_REBASED
        )
        args: list[Any] = [
            str(base.last_event_id if base is not None else 0),
            str(state.last_event_id),
            "" if base is not None and base.head == head else head,
            state.status,
            str(int(self.retention_seconds * 1000)),
            str(len(events)),
            str(len(commands)),
            str(len(sets)),
            str(len(dels)),
            str(own),
            "1" if carry else "0",
            forget if carry and forget is not None else "",
            _member(eid, forget) if carry and forget is not None else "",
            *rebasing,
            *[event.model_dump_json() for event in events],
            *[command.model_dump_json() for command in commands],
        ]
        for command in commands if carry else ():
            args += self._carried(eid, command, deadlines)
        for field, value in sets:
            args += [field, value]
        args += dels
        for key, value in meta.items():
            args += [key, value]
        if logs:
            pipe = self.redis.pipeline(transaction=False)
            queue_script(pipe, self._append, keys, args)
            self.logs.queue(pipe, logs)
            reply = execute(pipe)[0]
        else:
            reply = self._append(keys=keys, args=args)
        if not int(reply[0]):
            raise Conflict(eid)
        shift = int(reply[3])
        if shift:
            # Rebased after siblings' outcomes: the ids and times the events got.
            last = state.last_event_id - len(events)
            since = datetime.fromisoformat(_text(reply[4]))
            events[:] = [
                event.model_copy(update={
                    "id": event.id + shift,
                    "previous_event_id": event.previous_event_id
                    + (shift if event.previous_event_id > last else 0),
                    "timestamp": max(event.timestamp, since),
                })
                for event in events
            ]
            state.last_event_id += shift
        if _text(reply[2]) != state.status:
            self.settle(eid)
        if not carry or base_for is None or not state.running:
            return Appended(carry, {})
        tasks = [c for c in commands if isinstance(c, RunTask) and base_for(c)]
        reply = [
            str(state.last_event_id),
            head,
            base.definition_version if base is not None else meta["definition_version"],
            state.status,
            meta.get("last_time") or (
                iso_time(base.last_time) if base is not None and base.last_time else ""
            ),
            _carried_input(meta.get(INPUT) if base is None else None) if apart else None,
            base.meta.get("start_date", "") if base is not None else meta["start_date"],
        ]
        return Appended(carry, _task_bases(reply, _Stored(before, after, set(dels), state),
                                           tasks, deadlines))

    @staticmethod
    def _carried(eid: str, command: Command, deadlines: dict[str, datetime]) -> list[str]:
        """A command's record for append.lua's carrying out: kind, token, member, score."""
        if isinstance(command, RunTask):
            member = _member(eid, command.token)
            return ["task", command.token, member, repr(_epoch(deadlines[command.token]))]
        if isinstance(command, StartTimer):
            member = _member(eid, command.timer_id)
            return ["timer", "", member, repr(_epoch(command.fire_at))]
        return ["cancel", "", _member(eid, command.timer_id), ""]

    def events(self, eid: str, start: int = 0, end: int = -1) -> list[HistoryEvent]:
        raw = self.redis.lrange(self._key(eid, "events"), start, end)
        return [HistoryEvent.model_validate_json(item) for item in raw]

    def running(self) -> list[str]:
        """Executions that may be running (the members of ``active``)."""
        return sorted(_text(m) for m in self.redis.zrange(self.active_key, 0, -1))

    def meta(self, eid: str, *fields: str) -> dict[str, str] | None:
        """Some fields of the execution's ``meta`` (all when none are named); None if the
        execution is not stored."""
        key = self._key(eid, "meta")
        if not fields:
            raw = self.redis.hgetall(key)
            return {_text(k): _text(v) for k, v in raw.items()} or None
        values = self.redis.hmget(key, list(fields))
        if all(value is None for value in values) and not self.redis.exists(key):
            return None
        return {f: _text(v) for f, v in zip(fields, values, strict=True) if v is not None}

    def event_count(self, eid: str) -> int:
        return int(self.redis.llen(self._key(eid, "events")))

    # -- outbox -------------------------------------------------------------------
    def outboxes(self, eids: Sequence[str]) -> dict[str, list[Command]]:
        """The commands still in the outboxes of ``eids``, for those that hold any: one
        round trip however many executions are open (the recovery sweep's read)."""
        pipe = self.redis.pipeline(transaction=False)
        for eid in eids:
            pipe.lrange(self._key(eid, "outbox"), 0, -1)
        adapter = _command_adapter()
        return {
            eid: [adapter.validate_json(item) for item in raw]
            for eid, raw in zip(eids, pipe.execute(), strict=True)
            if raw
        }

    def outbox(self, eid: str) -> list[Command]:
        adapter = _command_adapter()
        return [
            adapter.validate_json(item)
            for item in self.redis.lrange(self._key(eid, "outbox"), 0, -1)
        ]

    # -- carrying out commands, tasks in flight ------------------------------------
    def carry_out(
        self,
        eid: str,
        commands: Sequence[Command],
        deadline_of: Callable[[RunTask], datetime],
        forget: str | None = None,
        logs: Sequence[LogEvent] = (),
    ) -> list[RunTask]:
        """In one round trip: forget the task ``forget`` (its outcome is recorded), write its
        handler's last log lines ``logs``; record
        each task with its deadline (``NX``: a deadline already set is kept, so a process
        that loses the claim never postpones the recovery of the winner's attempt) and set
        or cancel each timer, each before taking the command off the outbox.

        Returns the tasks this call took off the outbox: the ones its caller must send. The
        removal is by value and happens once, so of several processes carrying out the same
        outbox exactly one wins each task, and none drops a command it did not carry out.
        The pipeline is not a transaction (the timer and deadline sets are on other Redis
        Cluster shards): a crash part way leaves commands in the outbox for the sweep.
        """
        if not commands and forget is None and not logs:
            return []
        tasks, outbox = self._key(eid, "tasks"), self._key(eid, "outbox")
        pipe = self.redis.pipeline(transaction=False)
        if forget is not None:
            pipe.hdel(tasks, forget)
            pipe.hdel(self._key(eid, "starts"), forget)
            pipe.zrem(self.deadlines_key, _member(eid, forget))
        for command in commands:
            if isinstance(command, RunTask):
                pipe.hset(tasks, command.token, command.model_dump_json())
                member = _member(eid, command.token)
                pipe.zadd(self.deadlines_key, {member: _epoch(deadline_of(command))}, nx=True)
            elif isinstance(command, StartTimer):
                member = _member(eid, command.timer_id)
                pipe.zadd(self.timers_key, {member: _epoch(command.fire_at)})
            elif isinstance(command, CancelTimer):
                pipe.zrem(self.timers_key, _member(eid, command.timer_id))
            pipe.lrem(outbox, 1, command.model_dump_json())
        self.logs.queue(pipe, logs)  # last: the replies above keep their positions
        replies = execute(pipe)
        position, won = 3 if forget is not None else 0, []
        for command in commands:
            position += 3 if isinstance(command, RunTask) else 2
            if isinstance(command, RunTask) and int(replies[position - 1]):
                won.append(command)
        return won

    def unstarted_tasks(self, eid: str) -> int:
        """How many of the execution's tasks in flight no worker has begun yet: neither
        counted in ``starts`` nor started in the history (a first delivery begins
        uncounted, and its TaskStarted is recorded once its handler has run a moment)."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.hkeys(self._key(eid, "tasks"))
        pipe.hkeys(self._key(eid, "starts"))
        sent, begun = pipe.execute()
        tokens = [_text(token) for token in set(sent) - set(begun)]
        if not tokens:
            return 0
        state = self._key(eid, "state")
        frame_ids = self.redis.hmget(state, [TASK + token for token in tokens])
        known = [_text(frame_id) for frame_id in frame_ids if frame_id is not None]
        frames = self.redis.hmget(state, [FRAME + frame_id for frame_id in known]) if known else []
        started = sum(
            1 for raw in frames
            if raw is not None and (waiting := Frame.model_validate_json(raw).waiting) is not None
            and waiting.started
        )
        return len(tokens) - started

    def task(self, eid: str, token: str) -> Command | None:
        raw = self.redis.hget(self._key(eid, "tasks"), token)
        return _command_adapter().validate_json(raw) if raw is not None else None

    def forget_task(self, eid: str, token: str) -> None:
        pipe = self.redis.pipeline(transaction=False)
        pipe.hdel(self._key(eid, "tasks"), token)
        pipe.hdel(self._key(eid, "starts"), token)
        pipe.zrem(self.deadlines_key, _member(eid, token))
        pipe.execute()

    # -- timers and task deadlines ------------------------------------------------
    def remove_timer(self, eid: str, timer_id: str) -> None:
        self.redis.zrem(self.timers_key, _member(eid, timer_id))

    def due_timers(self, now: datetime, limit: int = 100) -> list[tuple[str, str]]:
        raw = self.redis.zrangebyscore(self.timers_key, "-inf", _epoch(now), start=0, num=limit)
        return [_pair(item) for item in raw]

    def claim_deadline(self, eid: str, token: str, now: datetime, deadline: datetime) -> bool:
        """Move an overdue task's deadline to ``deadline`` if it is still due at ``now``.

        Compare-and-set in one script: of several schedulers that found the same overdue
        task, only the first moves it, and only that one sends the task again.
        """
        claimed = self._claim(
            keys=[self.deadlines_key],
            args=[_member(eid, token), _epoch(now), _epoch(deadline)],
        )
        return bool(int(claimed))

    def due_deadlines(self, now: datetime, limit: int = 100) -> list[tuple[str, str]]:
        raw = self.redis.zrangebyscore(self.deadlines_key, "-inf", _epoch(now), start=0, num=limit)
        return [_pair(item) for item in raw]

    def delete_prefix(self) -> None:
        """Remove every key under this store's prefix (tests)."""
        for key in self.redis.scan_iter(match=f"{self.prefix}:*", count=1000):
            self.redis.delete(key)

    # -- re-runs (replay.py) ------------------------------------------------------
    def add_rerun(self, eid: str, rerun_arn: str) -> None:
        """Record in ``eid``'s meta that execution ``rerun_arn`` re-runs it: ``reruns``, a
        JSON list of ARNs, appended atomically; nothing if ``eid`` is no longer stored."""
        self.redis.eval(_ADD_RERUN, 1, self._key(eid, "meta"), rerun_arn)

    def reruns(self, eid: str) -> list[str]:
        """The ARNs of the executions that re-run ``eid``, oldest first."""
        raw = self.redis.hget(self._key(eid, "meta"), "reruns")
        return [str(arn) for arn in json.loads(_text(raw))] if raw is not None else []


_ADD_RERUN = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local raw = redis.call('HGET', KEYS[1], 'reruns')
local list = {}
if raw then list = cjson.decode(raw) end
table.insert(list, ARGV[1])
redis.call('HSET', KEYS[1], 'reruns', cjson.encode(list))
return #list
"""
