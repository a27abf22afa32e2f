"""The hiredis command packer (statemachine/runtime/packing.py): the same bytes as redis-py's
own packer for every argument redis-py accepts, the same errors for those it refuses, and a
client made by ``redis_client`` that uses it against a real Redis."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from redis.connection import Connection
from redis.exceptions import DataError

from statemachine.runtime.packing import _HiredisPacker, command_packer
from statemachine.runtime.store import redis_client

#: redis-py's packer, as every Connection builds it by default.
_REDIS_PY = Connection()

ARGUMENTS: list[tuple[Any, ...]] = [
    ("SET", "key", "value"),
    ("EVALSHA", "a" * 40, 2, "k1", "k2", '{"json": "\\u00e9 \\" é"}', b"\x00\xff", 0, -7),
    ("HSET", "h", "f", 1.5, "g", 0.1, "h", 1e20, "i", 1 / 3, "j", -0.0),
    ("SET", "emoji", "💥 and é and 中文"),
    ("SET", "empty", ""),
    ("SET", "view", memoryview(b"bytes in a view")),
    ("SET", "array", bytearray(b"a bytearray")),  # hiredis refuses: redis-py's packer
    ("SCRIPT LOAD", "return 1"),  # redis-py splits a multi-word name
    (b"CLIENT SETNAME", b"me"),
    ("LPUSH", "list", *[f"item {n}" for n in range(200)]),
]


@pytest.mark.parametrize("args", ARGUMENTS, ids=lambda args: str(args[0]))
def test_the_same_bytes_as_redis_py(args: tuple[Any, ...]) -> None:
    assert b"".join(_HiredisPacker().pack(*args)) == b"".join(_REDIS_PY.pack_command(*args))


@pytest.mark.parametrize("value", [None, True, object()])
def test_what_redis_py_refuses_it_refuses_alike(value: Any) -> None:
    with pytest.raises(DataError) as theirs:
        _REDIS_PY.pack_command("SET", "key", value)
    with pytest.raises(DataError) as ours:
        _HiredisPacker().pack("SET", "key", value)
    assert str(ours.value) == str(theirs.value)


def test_redis_client_packs_with_hiredis(redis_url: str) -> None:
    client = redis_client(redis_url, environ={})
    assert isinstance(client.connection_pool.connection_kwargs["command_packer"], _HiredisPacker)
    key = f"sfntest-packing-{uuid.uuid4().hex}"
    try:
        pipe = client.pipeline(transaction=False)
        pipe.hset(key, mapping={"text": "é 💥", "number": 3, "float": 0.25})
        pipe.hgetall(key)
        assert pipe.execute()[1] == {b"text": "é 💥".encode(), b"number": b"3",
                                     b"float": b"0.25"}
        script = client.register_script("return redis.call('HGET', KEYS[1], ARGV[1])")
        assert script(keys=[key], args=["text"]) == "é 💥".encode()
        with pytest.raises(DataError):
            client.set(key, None)  # type: ignore[arg-type]
    finally:
        client.delete(key)
        client.close()


def test_no_packer_without_hiredis(monkeypatch: pytest.MonkeyPatch) -> None:
    import statemachine.runtime.packing as packing

    monkeypatch.setattr(packing, "HIREDIS_AVAILABLE", False)
    assert command_packer() == {}  # redis-py's own packer then
