"""Reading executions back in AWS's API shapes: ListExecutions, DescribeExecution and
GetExecutionHistory, from any process that reaches the Redis (the CLI's verbs call these).

- ``resolve`` turns what a user typed (an execution ARN, or ``machine:name``) into an id;
- ``list_executions``: newest first, filtered by state machine, status and start time,
  ``maxResults`` items a page and an opaque ``nextToken`` (the indexes in ``indexes.py``;
  every entry is checked against the execution itself, so a stale entry is skipped, never
  shown);
- ``describe_execution``: DescribeExecution, with ``redriveCount`` and ``redriveStatus``
  (``redrivable.py``), the links between an execution and its re-runs, and the callbacks
  it waits for;
- ``execution_history``: GetExecutionHistory, in order or reversed, paged by position in
  the append-only history, so a page boundary never moves.

Beyond AWS: ListExecutions requires a state machine; here it may be left out to list every
execution under the prefix, and ``since`` keeps executions started at or after a time.
Tokens do not expire (AWS's expire after 24 hours). DescribeExecution adds, when set, the
re-run links that ``replay.rerun`` records (``rerunOf``, ``rerunFromState``, ``reruns``),
and the ``.waitForTaskToken`` tasks a running execution waits on, with their task tokens
(``awaitingCallbacks``): what to answer with ``sfn send-task-success`` when the message
that carried a token went astray.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from datetime import datetime
from typing import Any

from statemachine.interpreter.events import HistoryEvent, iso_time
from statemachine.interpreter.state import ExecutionState
from statemachine.runtime.api_errors import (
    ExecutionDoesNotExist,
    InvalidArn,
    InvalidToken,
    ValidationException,
)
from statemachine.runtime.execution import ExecutionResult
from statemachine.runtime.indexes import STATUSES, micros, parse_member
from statemachine.runtime.local import execution_arn, state_machine_arn
from statemachine.runtime.redrivable import redrive_status
from statemachine.runtime.settle import parse_time
from statemachine.runtime.store import RedisHistoryStore

#: AWS's page size when maxResults is 0 or absent, and its largest.
DEFAULT_PAGE = 100
MAX_PAGE = 1000

_EXECUTION_ARN = re.compile(r"^arn:aws[\w-]*:states:[\w-]+:\d{12}:execution:([^:]+):([^:]+)$")
_MACHINE_ARN = re.compile(r"^arn:aws[\w-]*:states:[\w-]+:\d{12}:stateMachine:([^:]+)$")
_LIST_FIELDS = (
    "status",
    "name",
    "machine",
    "start_date",
    "stop_date",
    "redrive_count",
    "redrive_date",
)


def resolve(reference: str) -> str:
    """The execution id of an execution ARN or ``machine:name``.

    Raises:
        InvalidArn: neither.
    """
    found = _EXECUTION_ARN.match(reference)
    if found:
        return f"{found.group(1)}:{found.group(2)}"
    if not reference.startswith("arn:") and reference.count(":") == 1 and all(reference.split(":")):
        return reference
    raise InvalidArn(reference)


def machine_name(reference: str) -> str:
    """A state machine's name from its name or ARN."""
    found = _MACHINE_ARN.match(reference)
    if found:
        return found.group(1)
    if reference.startswith("arn:") or ":" in reference or not reference:
        raise InvalidArn(reference)
    return reference


# -- tokens ------------------------------------------------------------------------
def _encode(payload: dict[str, Any]) -> str:
    text = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(text).decode().rstrip("=")


def _decode(token: str, scope: str) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        payload = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidToken("Invalid token") from None
    if not isinstance(payload, dict) or payload.get("s") != scope:
        # AWS: "Keep all other arguments unchanged" between pages.
        raise InvalidToken("Invalid token")
    return payload


def _scope(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:16]


def _page_size(max_items: int | None) -> int:
    if max_items is None or max_items == 0:
        return DEFAULT_PAGE
    if max_items < 0:
        raise ValidationException(
            f"1 validation error detected: Value '{max_items}' at 'maxResults' failed to "
            "satisfy constraint: Member must have value greater than or equal to 0"
        )
    return max_items


# -- ListExecutions ------------------------------------------------------------------
def list_executions(
    store: RedisHistoryStore,
    *,
    machine: str | None = None,
    status: str | None = None,
    since: datetime | None = None,
    max_items: int | None = None,
    next_token: str | None = None,
) -> dict[str, Any]:
    """ListExecutions: ``{"executions": [...], "nextToken"?}``, newest first."""
    if status is not None and status not in STATUSES:
        raise ValidationException(
            f"1 validation error detected: Value '{status}' at 'statusFilter' failed to "
            f"satisfy constraint: Member must satisfy enum value set: [{', '.join(STATUSES)}]"
        )
    size = _page_size(max_items)
    scope = _scope("list", machine, status, since.isoformat() if since else None)
    before = _decode(next_token, scope)["a"] if next_token else None
    key = store.index.key(machine, status)
    items: list[dict[str, Any]] = []
    last = before
    while len(items) < size:
        batch = store.index.newest(key, before=last, since=since, count=size - len(items))
        if not batch:
            break
        items += _items(store, batch, machine, status)
        last = batch[-1]
    shape: dict[str, Any] = {"executions": items}
    if last is not None and store.index.newest(key, before=last, since=since, count=1):
        shape["nextToken"] = _encode({"s": scope, "a": last})
    return shape


def _items(
    store: RedisHistoryStore, batch: list[str], machine: str | None, status: str | None
) -> list[dict[str, Any]]:
    pipe = store.redis.pipeline(transaction=False)
    for entry in batch:
        pipe.hmget(store.key(parse_member(entry)[1], "meta"), list(_LIST_FIELDS))
    found = []
    for entry, values in zip(batch, pipe.execute(), strict=True):
        start_micros, eid = parse_member(entry)
        meta = {f: v.decode() for f, v in zip(_LIST_FIELDS, values, strict=True) if v is not None}
        if "status" not in meta or "start_date" not in meta:
            continue  # expired (or not yet settled): the index is behind the truth
        started = parse_time(meta["start_date"])
        if micros(started) != start_micros:
            continue  # an earlier execution of the same name, since expired
        if (status is not None and meta["status"] != status) or (
            machine is not None and meta.get("machine") != machine
        ):
            continue
        found.append(_item(eid, meta, started))
    return found


def _item(eid: str, meta: dict[str, str], started: datetime) -> dict[str, Any]:
    machine, _, name = eid.partition(":")
    machine = meta.get("machine", machine)
    name = meta.get("name", name)
    item: dict[str, Any] = {
        "executionArn": execution_arn(machine, name),
        "stateMachineArn": state_machine_arn(machine),
        "name": name,
        "status": meta["status"],
        "startDate": iso_time(started),
    }
    if meta.get("stop_date") and meta["status"] != "RUNNING":
        item["stopDate"] = iso_time(parse_time(meta["stop_date"]))
    if int(meta.get("redrive_count") or 0):
        item["redriveCount"] = int(meta["redrive_count"])
        if meta.get("redrive_date"):
            item["redriveDate"] = meta["redrive_date"]
    return item


# -- DescribeExecution ---------------------------------------------------------------
def describe_execution(store: RedisHistoryStore, eid: str, now: datetime) -> dict[str, Any]:
    """DescribeExecution, with redriveCount, redriveDate and redriveStatus(Reason), and
    beyond AWS, each only when set: ``rerunOf`` (the ARN of the execution this one
    re-runs), ``rerunFromState`` (the state it began at), ``reruns`` (the ARNs of the
    executions that re-run this one, oldest first) and ``awaitingCallbacks`` (the
    ``.waitForTaskToken`` tasks that can be answered now: ``stateName``, ``taskToken``,
    oldest first).

    Raises:
        ExecutionDoesNotExist: nothing is stored under ``eid``.
    """
    snapshot = store.load(eid)
    if snapshot is None:
        raise ExecutionDoesNotExist(_arn(eid))
    state, meta = snapshot.state, snapshot.meta
    start, stop = _dates(store, eid, meta, state.running)
    shape = ExecutionResult(
        execution_arn=state.execution_arn or _arn(eid),
        state_machine_arn=state.state_machine_arn,
        name=state.name,
        status=state.status,
        start_date=start,
        stop_date=stop,
        input=state.input,
        output=state.output,
        error=state.error,
        cause=state.cause,
    ).describe()
    shape["redriveCount"] = int(meta.get("redrive_count") or 0)
    if meta.get("redrive_date"):
        shape["redriveDate"] = meta["redrive_date"]
    verdict = redrive_status(
        state.status, start=start, stop=stop, event_count=snapshot.last_event_id, now=now
    )
    shape["redriveStatus"] = verdict.status
    if verdict.reason is not None:
        shape["redriveStatusReason"] = verdict.reason
    shape.update(_rerun_links(meta))
    awaited = _awaited_callbacks(state) if state.running else []
    if awaited:
        shape["awaitingCallbacks"] = awaited
    return shape


def _awaited_callbacks(state: ExecutionState) -> list[dict[str, str]]:
    found = []
    for token, frame_id in state.tasks.items():
        if state.awaits_callback(token):
            name = state.frames[frame_id].state or ""
            found.append((state.frames[frame_id].entered_id, token, name))
    return [{"stateName": name, "taskToken": token} for _, token, name in sorted(found)]


def _rerun_links(meta: dict[str, str]) -> dict[str, Any]:
    """``rerun_of``, ``rerun_from_state`` and ``reruns`` (``replay.py``), as set."""
    links: dict[str, Any] = {}
    if meta.get("rerun_of"):
        links["rerunOf"] = meta["rerun_of"]
    if meta.get("rerun_from_state"):
        links["rerunFromState"] = meta["rerun_from_state"]
    reruns = json.loads(meta["reruns"]) if meta.get("reruns") else []
    if reruns:
        links["reruns"] = [str(arn) for arn in reruns]
    return links


def _dates(
    store: RedisHistoryStore, eid: str, meta: dict[str, str], running: bool
) -> tuple[datetime, datetime | None]:
    if meta.get("start_date"):
        start = parse_time(meta["start_date"])
    else:
        start = store.events(eid, 0, 0)[0].timestamp
    if running:
        return start, None
    if meta.get("stop_date"):
        return start, parse_time(meta["stop_date"])
    return start, store.events(eid, -1, -1)[0].timestamp


def _arn(eid: str) -> str:
    machine, _, name = eid.partition(":")
    return execution_arn(machine, name)


# -- GetExecutionHistory -------------------------------------------------------------
def execution_history(
    store: RedisHistoryStore,
    eid: str,
    *,
    reverse: bool = False,
    max_items: int | None = None,
    next_token: str | None = None,
) -> dict[str, Any]:
    """GetExecutionHistory: ``{"events": [...], "nextToken"?}``; ``max_items`` None
    returns every event (as the AWS CLI does when it pages for you).

    Raises:
        ExecutionDoesNotExist: nothing is stored under ``eid``.
    """
    if not store.exists(eid):
        raise ExecutionDoesNotExist(_arn(eid))
    scope = _scope("history", eid, reverse)
    total = store.event_count(eid)
    size = total if max_items is None else _page_size(max_items)
    position = int(_decode(next_token, scope)["p"]) if next_token else None
    if reverse:
        end = total - 1 if position is None else position
        start = max(0, end - size + 1)
        events = list(reversed(store.events(eid, start, end))) if end >= 0 else []
        following = start - 1 if start > 0 else None
    else:
        start = 0 if position is None else position
        end = start + size - 1
        events = store.events(eid, start, end) if size else []
        following = end + 1 if end + 1 < total else None
    shape: dict[str, Any] = {"events": [event.to_aws() for event in events]}
    if following is not None and max_items is not None:
        shape["nextToken"] = _encode({"s": scope, "p": following})
    return shape


def history_events(store: RedisHistoryStore, eid: str) -> list[HistoryEvent]:
    """Every event of ``eid``, in order (for the readable timeline).

    Raises:
        ExecutionDoesNotExist: nothing is stored under ``eid``.
    """
    if not store.exists(eid):
        raise ExecutionDoesNotExist(_arn(eid))
    return store.events(eid)
