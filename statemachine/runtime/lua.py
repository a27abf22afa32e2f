"""Running a registered Lua script inside a pipeline, on one Redis or on a Redis Cluster.

redis-py loads a script a single-node pipeline needs before running it (``EVALSHA`` after
``SCRIPT LOAD``), but its cluster pipeline does not, and a node that restarted or joined
knows no script: there the script goes as ``EVAL`` with its text (a few hundred bytes more
per call, never ``NOSCRIPT``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redis.cluster import ClusterPipeline


def queue_script(pipe: Any, script: Any, keys: Sequence[str], args: Sequence[Any]) -> None:
    """Add a call of ``script`` (``redis.commands.core.Script``) to ``pipe``."""
    if isinstance(pipe, ClusterPipeline):
        run: Any = pipe.execute_command  # untyped in redis-py's cluster pipeline
        run("EVAL", script.script, len(keys), *keys, *args)
    else:
        script(keys=list(keys), args=list(args), client=pipe)
