"""Running a registered Lua script inside a pipeline, on one Redis or on a Redis Cluster.

A script in a pipeline goes as ``EVAL`` with its text. redis-py would otherwise send
``SCRIPT EXISTS`` (and ``SCRIPT LOAD`` when missing) before every pipeline that holds a
script: one more round trip each time, which was a third of a worker's round trips per
task. ``EVAL`` costs a few hundred bytes more per call; Redis keeps the compiled script
by its hash, so it is not compiled again, and a node that restarted or joined a cluster
never answers ``NOSCRIPT``. Scripts called on their own (not in a pipeline) keep
redis-py's ``EVALSHA``, which loads the script on ``NOSCRIPT`` and tries again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def queue_script(pipe: Any, script: Any, keys: Sequence[str], args: Sequence[Any]) -> None:
    """Add a call of ``script`` (``redis.commands.core.Script``) to ``pipe``."""
    pipe.execute_command("EVAL", script.script, len(keys), *keys, *args)
