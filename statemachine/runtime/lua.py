"""Running registered Lua scripts inside a pipeline, on one Redis or on a Redis Cluster.

``queue_script`` adds a script's call as ``EVALSHA``; ``execute`` runs the pipeline and runs
again, on its own, any script the server did not know (``NOSCRIPT``: a Redis that
restarted, a node that joined a cluster), which loads it. redis-py's own pipelines would
send ``SCRIPT EXISTS`` before every pipeline that holds a script (one more round trip each
time, a third of a worker's per task), and its cluster pipeline does not load scripts at
all; sending the script's text (``EVAL``) every time costs its bytes on every call. A
pipeline is not a transaction, so a script that failed with ``NOSCRIPT`` did nothing, and
the other commands ran once: running that script afterwards repeats nothing, but it runs
after them, so a pipeline's scripts must not depend on their order with its other
commands (none of the store's do: reads, and writes to keys the others do not touch).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redis.exceptions import NoScriptError

_CALLS = "_sfn_script_calls"


def queue_script(pipe: Any, script: Any, keys: Sequence[str], args: Sequence[Any]) -> None:
    """Add a call of ``script`` (``redis.commands.core.Script``) to ``pipe``; run the pipe
    with ``execute``."""
    calls = pipe.__dict__.setdefault(_CALLS, [])
    calls.append((len(pipe), script, list(keys), list(args)))
    pipe.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)


def execute(pipe: Any) -> list[Any]:
    """``pipe.execute()``, with the scripts the server did not know run again on their own
    (which loads them); raises the first error a command met, as ``execute`` does."""
    calls = pipe.__dict__.pop(_CALLS, [])
    replies: list[Any] = pipe.execute(raise_on_error=False)
    for index, script, keys, args in calls:
        if isinstance(replies[index], NoScriptError):
            replies[index] = script(keys=keys, args=args)
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply
    return replies
