"""JSON text as AWS writes it in history events and causes: compact, key order kept."""

from __future__ import annotations

import json
from typing import Any

from statemachine import errors


def to_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def payload_size(value: Any) -> int:
    """Bytes of the UTF-8 JSON text of ``value``, as AWS counts payload size."""
    return _utf8_size(to_json(value))


def _utf8_size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8"))


def payload_json(value: Any, what: str) -> str:
    """The JSON text of ``value`` (which events then carry, serialised once); raise
    States.DataLimitExceeded when it exceeds AWS's 256 KiB limit."""
    return checked_size(to_json(value), what)


def checked_size(text: str, what: str) -> str:
    """``text``, the JSON text of the ``what``; raise States.DataLimitExceeded when it
    exceeds AWS's 256 KiB limit."""
    size = _utf8_size(text)
    if size > errors.PAYLOAD_LIMIT_BYTES:
        raise errors.StatesFailure(
            errors.DATA_LIMIT_EXCEEDED,
            f"The {what} has exceeded the maximum allowed size of "
            f"{errors.PAYLOAD_LIMIT_BYTES} bytes (size: {size} bytes).",
        )
    return text
