"""What handlers printed and logged, kept in Redis the way CloudWatch Logs keeps Lambda's.

A *log event* is one line of output with its time, the invocation's request id and the
function, in the shape of CloudWatch Logs' FilterLogEvents events (``timestamp`` in epoch
milliseconds, ``message``, ``logStreamName``, ``eventId``). Every invocation writes
``START RequestId: ...``, its output, ``END RequestId: ...`` and ``REPORT RequestId: ...``,
as Lambda does (``workers/logs.py`` captures them). Each event is kept twice:

- per execution, ``{p}:{<eid>}:logs``: under the execution's hash tag, expiring with its
  history (the append script sets the TTL on it; a line written after that copies the
  TTL of ``meta``, and nothing is written for an execution that is gone);
- per function, ``{p}:logs:{fn:<name>}``: the function's log group across executions.
  Entries older than the retention are dropped by the scheduler (``prune``), so a
  function's copy never outlives the execution it came from.

Both are bounded lists (the newest ``max_events`` are kept) with a counter of everything
ever written beside them, so a reader can follow a list by absolute position even while it
is trimmed at the head (``read``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.cluster import RedisCluster

from statemachine.runtime.lua import execute, queue_script

#: How many log events a list keeps (per execution and per function).
MAX_EVENTS = 10_000

# Append ARGV[first..] to a list and count them; keep its last ARGV[1]; with a gate (a meta
# hash), write nothing if the gate is gone and copy its TTL.
_WRITE_TO = """
local function write_to(list, count, gate, first)
  if gate ~= nil and redis.call('EXISTS', gate) == 0 then
    return 0
  end
  for i = first, #ARGV do
    redis.call('RPUSH', list, ARGV[i])
  end
  redis.call('LTRIM', list, -tonumber(ARGV[1]), -1)
  redis.call('INCRBY', count, #ARGV - first + 1)
  if gate ~= nil then
    local ttl = redis.call('PTTL', gate)
    if ttl > 0 then
      redis.call('PEXPIRE', list, ttl)
      redis.call('PEXPIRE', count, ttl)
    end
  end
  return #ARGV - first + 1
end
"""
# KEYS: [1] list, [2] its counter, [3] (optional) meta hash to copy the TTL from.
# ARGV: [1] max length, [2..] event JSON. Writes nothing if [3] is named and gone.
_WRITE = _WRITE_TO + "return write_to(KEYS[1], KEYS[2], KEYS[3], 2)\n"
# Both lists of one invocation's lines at once, on one Redis (on a Cluster the function's
# list is on another shard than the execution's): KEYS [1] the execution's list, [2] its
# counter, [3] its meta hash, [4] the function's list, [5] its counter, [6] the set of
# functions with logs. ARGV: [1] max length, [2] the function's name, [3..] event JSON.
_WRITE_BOTH = _WRITE_TO + """
write_to(KEYS[1], KEYS[2], KEYS[3], 3)
redis.call('SADD', KEYS[6], ARGV[2])
return write_to(KEYS[4], KEYS[5], nil, 3)
"""

# KEYS: [1] list, [2] its counter. ARGV: [1] absolute position to read from.
# Returns {total written, absolute position of the first item returned, items}.
_READ = """
local total = tonumber(redis.call('GET', KEYS[2]) or '0')
local first = total - redis.call('LLEN', KEYS[1])
local skip = tonumber(ARGV[1]) - first
if skip < 0 then skip = 0 end
return {total, first + skip, redis.call('LRANGE', KEYS[1], skip, -1)}
"""

# KEYS: [1] list. ARGV: [1] oldest timestamp (ms) kept. Drops older entries from the head.
_PRUNE = """
local dropped = 0
while dropped < 10000 do
  local head = redis.call('LINDEX', KEYS[1], 0)
  if not head then break end
  local stamp = tonumber(string.match(head, '"timestamp":%s*(%d+)'))
  if stamp == nil or stamp >= tonumber(ARGV[1]) then break end
  redis.call('LPOP', KEYS[1])
  dropped = dropped + 1
end
return dropped
"""


@dataclass(frozen=True)
class LogEvent:
    """One line of a handler's output (FilterLogEvents' event, plus where it came from)."""

    timestamp: int
    message: str
    request_id: str
    function: str
    execution: str
    state: str
    stream: str

    def to_json(self) -> str:
        return json.dumps(
            {
                "timestamp": self.timestamp,
                "message": self.message,
                "requestId": self.request_id,
                "function": self.function,
                "execution": self.execution,
                "state": self.state,
                "logStreamName": self.stream,
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> LogEvent:
        raw = json.loads(text)
        return cls(
            timestamp=int(raw["timestamp"]),
            message=str(raw["message"]),
            request_id=str(raw.get("requestId", "")),
            function=str(raw.get("function", "")),
            execution=str(raw.get("execution", "")),
            state=str(raw.get("state", "")),
            stream=str(raw.get("logStreamName", "")),
        )

    def to_aws(self, event_id: int) -> dict[str, Any]:
        """FilterLogEvents' event shape."""
        return {
            "logStreamName": self.stream,
            "timestamp": self.timestamp,
            "message": self.message,
            "ingestionTime": self.timestamp,
            "eventId": str(event_id),
        }


@dataclass(frozen=True)
class LogPage:
    events: list[tuple[int, LogEvent]]
    #: The absolute position to read from next time (``read(..., after=next)``).
    next: int


class LogStore:
    """Log events under ``prefix``: written by workers, read by ``sfn logs``."""

    def __init__(
        self,
        client: Any,
        prefix: str,
        *,
        retention_seconds: float = 0.0,
        max_events: int = MAX_EVENTS,
    ) -> None:
        self.redis = client
        self.prefix = prefix
        self.retention_seconds = retention_seconds
        self.max_events = max_events
        self._write = client.register_script(_WRITE)
        self._write_both = client.register_script(_WRITE_BOTH)
        #: One Redis, not a Cluster: both lists can be written by one script.
        self.one_node = not isinstance(client, RedisCluster)
        self._prune = client.register_script(_PRUNE)
        self._read = client.register_script(_READ)

    # -- keys ---------------------------------------------------------------------
    def execution_key(self, eid: str) -> str:
        return f"{self.prefix}:{{{eid}}}:logs"

    def function_key(self, function: str) -> str:
        return f"{self.prefix}:logs:{{fn:{function}}}"

    @property
    def functions_key(self) -> str:
        return f"{self.prefix}:logs:functions"

    # -- writing ------------------------------------------------------------------
    def write(self, events: Sequence[LogEvent]) -> None:
        """Append ``events`` (of one execution and function) to both lists, in one round
        trip (``queue``)."""
        if events:
            pipe = self.redis.pipeline(transaction=False)
            self.queue(pipe, events)
            execute(pipe)

    def queue(self, pipe: Any, events: Sequence[LogEvent]) -> None:
        """Add the writes of ``events`` to ``pipe``. An execution that is gone gets no list
        again (its logs went with it); the function's list, like a CloudWatch log group,
        keeps what the handler printed."""
        if not events:
            return
        first = events[0]
        lines = [event.to_json() for event in events]
        meta = f"{self.prefix}:{{{first.execution}}}:meta"
        key = self.execution_key(first.execution)
        fkey = self.function_key(first.function)
        if self.one_node:
            keys = [key, f"{key}:count", meta, fkey, f"{fkey}:count", self.functions_key]
            queue_script(pipe, self._write_both, keys,
                         [self.max_events, first.function, *lines])
            return
        queue_script(pipe, self._write, [key, f"{key}:count", meta], [self.max_events, *lines])
        queue_script(pipe, self._write, [fkey, f"{fkey}:count"], [self.max_events, *lines])
        pipe.sadd(self.functions_key, first.function)

    # -- reading ------------------------------------------------------------------
    def read(self, key: str, after: int = 0) -> LogPage:
        """Events of the list ``key`` from absolute position ``after`` on."""
        total, first, items = self._read(keys=[key, f"{key}:count"], args=[after])
        events = [(int(first) + i, LogEvent.from_json(item)) for i, item in enumerate(items)]
        return LogPage(events=events, next=max(after, int(total)))

    def for_execution(self, eid: str, after: int = 0) -> LogPage:
        return self.read(self.execution_key(eid), after)

    def for_function(self, function: str, after: int = 0) -> LogPage:
        return self.read(self.function_key(function), after)

    def functions(self) -> list[str]:
        raw = self.redis.smembers(self.functions_key)
        return sorted(v.decode() if isinstance(v, bytes) else str(v) for v in raw)

    # -- retention ----------------------------------------------------------------
    def prune(self, now: float | None = None) -> int:
        """Drop function log entries older than the retention; returns how many."""
        if self.retention_seconds <= 0:
            return 0
        oldest = int(((now if now is not None else time.time()) - self.retention_seconds) * 1000)
        dropped = 0
        for function in self.functions():
            dropped += int(self._prune(keys=[self.function_key(function)], args=[oldest]))
        return dropped
