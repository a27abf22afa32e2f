"""Packing Redis commands in one call to hiredis: ``command_packer()`` for redis-py clients.

redis-py's own packer (``HiredisRespSerializer``) hands the arguments to hiredis only after
it has looked at each one in Python twice (is it a memoryview? then encode it): about a
microsecond an argument. An append passes sixty-odd arguments (its events, the fields it
sets, the meta), so that walk alone was a tenth of a worker's own work per Map item.
``hiredis.pack_command`` encodes ``str`` (UTF-8), ``bytes``, ``memoryview``, ``int`` and
``float`` exactly as redis-py does (``tests/runtime/test_packing.py`` compares them) and
refuses the rest with a TypeError; those commands, and those whose first argument is a
multi-word command name (``"SCRIPT LOAD"``, which redis-py splits), go to redis-py's
pure-Python packer, which converts or rejects them as it always does. (redis-py 5.0's own
hiredis packer was this one call; later releases added the walk.) Strings are encoded as
UTF-8, strictly, a client's default: not for a client made with another ``encoding``.
"""

from __future__ import annotations

from typing import Any

from redis._parsers.encoders import Encoder
from redis.connection import PythonRespSerializer
from redis.utils import HIREDIS_AVAILABLE

if HIREDIS_AVAILABLE:
    import hiredis

#: redis-py's default for where pipelines cut their output buffer.
_BUFFER_CUTOFF = 6000


class _HiredisPacker:
    """A ``command_packer`` for redis-py connections (``AbstractConnection``'s parameter)."""

    def __init__(self) -> None:
        # redis-py's pure-Python packer, with a Connection's default encoding (its Encoder
        # is untyped): the same bytes, and the same DataError for what it refuses.
        encode = Encoder("utf-8", "strict", False).encode  # type: ignore[no-untyped-call]
        self._fallback: Any = PythonRespSerializer(_BUFFER_CUTOFF, encode)

    def pack(self, *args: Any) -> list[bytes]:
        name = args[0]
        if (isinstance(name, str) and " " in name) or (isinstance(name, bytes) and b" " in name):
            return list(self._fallback.pack(*args))
        try:
            return [hiredis.pack_command(args)]
        except TypeError:
            return list(self._fallback.pack(*args))


def command_packer() -> dict[str, Any]:
    """Keyword arguments for ``redis.Redis`` (or ``from_url``) that make its connections
    pack with hiredis directly; none when hiredis is not installed."""
    return {"command_packer": _HiredisPacker()} if HIREDIS_AVAILABLE else {}
