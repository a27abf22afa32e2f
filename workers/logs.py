"""What one handler invocation prints and logs, captured the way Lambda sends it to
CloudWatch Logs: ``Capture``.

Lambda writes, for every invocation, ``START RequestId: <id> Version: $LATEST``, then each
line the function printed (stdout and stderr) and each record it logged, formatted by its
Python runtime as ``[LEVEL]\\t<time>Z\\t<request id>\\t<message>``, then, if the function
raised, ``[ERROR] <type>: <message>`` with the traceback, or for a timeout ``<time>Z <id>
Task timed out after 3.00 seconds``, then ``END RequestId: <id>`` and ``REPORT RequestId:
<id>\\tDuration: ... ms\\tBilled Duration: ... ms\\tMemory Size: ... MB\\tMax Memory Used:
... MB`` ("Log and monitor Python Lambda functions", AWS Lambda developer guide;
awslambdaric's ``LambdaLoggerHandler`` for the record format). ``Capture`` produces those
lines and hands them, in batches, to a sink (the Celery task's writes them to Redis,
``statemachine/runtime/logs.py``).

Handlers run in threads (``invoke.py``), several at once in a threads pool, so output is
routed per thread: ``sys.stdout`` and ``sys.stderr`` are wrapped once by a router that
sends a write to the capture registered for the writing thread and anything else to the
stream it wrapped; a handler on the root logger does the same with records, by the
thread that created them. Limits: output of threads the handler starts itself is not
attributed to it (it goes to the worker's own output); records below the root logger's
level (the worker's ``--loglevel``) are not captured; ``Max Memory Used`` is the worker
process's peak, not the invocation's.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import resource
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, TextIO, cast

log = logging.getLogger(__name__)

#: How often lines of invocations still running are handed to their sink.
FLUSH_SECONDS = 0.5
#: Longest line kept (Lambda splits at 256 KiB; longer lines are cut here).
MAX_LINE = 256 * 1024

#: A batch of (epoch milliseconds, message) lines.
Sink = Callable[[list[tuple[int, str]]], None]

_lock = threading.Lock()
_routes: dict[int, Capture] = {}
_open: set[Capture] = set()
_flusher: threading.Thread | None = None


def stream_name() -> str:
    """This process's log stream, named as Lambda names an execution environment's:
    ``<UTC day it started>/[$LATEST]<id>`` (the same for all its invocations)."""
    return _stream_of(os.getpid())


@lru_cache(maxsize=4)
def _stream_of(pid: int) -> str:
    # Per process id: a forked pool process names a stream of its own.
    digest = hashlib.sha1(f"{socket.gethostname()}:{pid}".encode()).hexdigest()
    return f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]{digest[:32]}"


def _stamp(epoch: float) -> str:
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _now_ms() -> int:
    return int(time.time() * 1000)


class _Router:
    """Stands in for ``sys.stdout``/``sys.stderr``: a capturing thread's writes go to its
    capture, everyone else's to the wrapped stream (which answers everything else)."""

    def __init__(self, original: TextIO, name: str) -> None:
        self.original = original
        self.name = name

    def write(self, text: str) -> int:
        capture = _routes.get(threading.get_ident())
        if capture is None:
            return self.original.write(text)
        capture.output(text, self.name)
        return len(text)

    def flush(self) -> None:
        self.original.flush()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return bool(getattr(self.original, "isatty", lambda: False)())

    def fileno(self) -> int:
        return self.original.fileno()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.original, name)


class _RecordHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        capture = _routes.get(record.thread or 0)
        if capture is not None:
            capture.logged(record, self)


def install() -> None:
    """Route this process's stdout, stderr and logging through the captures (idempotent;
    wraps whatever the streams are now, e.g. Celery's redirection)."""
    with _lock:
        if not isinstance(sys.stdout, _Router):
            sys.stdout = cast(TextIO, _Router(sys.stdout, "stdout"))
        if not isinstance(sys.stderr, _Router):
            sys.stderr = cast(TextIO, _Router(sys.stderr, "stderr"))
        root = logging.getLogger()
        if not any(isinstance(handler, _RecordHandler) for handler in root.handlers):
            root.addHandler(_RecordHandler())
        global _flusher
        if _flusher is None or not _flusher.is_alive():
            _flusher = threading.Thread(target=_flush_loop, name="sfn-log-flusher", daemon=True)
            _flusher.start()


def _flush_loop() -> None:
    while True:
        time.sleep(FLUSH_SECONDS)
        with _lock:
            captures = list(_open)
        for capture in captures:
            capture.flush()


class Capture:
    """The log lines of one invocation, from START to REPORT."""

    def __init__(self, request_id: str, memory_size: int, sink: Sink) -> None:
        install()
        self.request_id = request_id
        self.memory_size = memory_size
        self.sink = sink
        self._lines: list[tuple[int, str]] = []
        self._partial: dict[str, str] = {}
        self._lines_lock = threading.Lock()
        self._threads: set[int] = set()
        self._started = time.monotonic()
        self._add(f"START RequestId: {request_id} Version: $LATEST")
        with _lock:
            _open.add(self)

    def _add(self, message: str) -> None:
        with self._lines_lock:
            self._lines.append((_now_ms(), message[:MAX_LINE]))

    # -- what the handler's thread writes -----------------------------------------
    @contextmanager
    def route(self) -> Iterator[None]:
        """Capture what the calling thread prints and logs until the block ends."""
        ident = threading.get_ident()
        with _lock:
            _routes[ident] = self
            self._threads.add(ident)
        try:
            yield
        finally:
            self._unroute(ident)

    def _unroute(self, ident: int) -> None:
        with _lock:
            if _routes.get(ident) is self:
                del _routes[ident]
            self._threads.discard(ident)

    def output(self, text: str, stream: str = "stdout") -> None:
        """Text written to ``stream``: one log line per complete line, as Lambda's runtime
        sends them; an unfinished line waits for its end (or the invocation's)."""
        with self._lines_lock:
            lines = (self._partial.get(stream, "") + text).split("\n")
            self._partial[stream] = lines.pop()
            stamp = _now_ms()
            self._lines += [(stamp, line[:MAX_LINE]) for line in lines]

    def logged(self, record: logging.LogRecord, handler: logging.Handler) -> None:
        try:
            message = record.getMessage()
            if record.exc_info:
                message += "\n" + logging.Formatter().formatException(record.exc_info)
        except Exception:  # a broken log call must not break the handler
            handler.handleError(record)
            return
        stamp = _stamp(record.created)
        self._add(f"[{record.levelname}]\t{stamp}\t{self.request_id}\t{message}")

    # -- handing lines over -------------------------------------------------------
    def flush(self) -> None:
        with self._lines_lock:
            lines, self._lines = self._lines, []
        if not lines:
            return
        try:
            self.sink(lines)
        except Exception as exc:  # logs are best effort: never fail the task for them
            log.warning(
                "could not store %d log line(s) of %s: %s", len(lines), self.request_id, exc
            )

    def finish(self, error_document: str | None, timed_out_after: float | None) -> None:
        """Close the invocation: the error or timeout line, END and REPORT, then flush.

        Args:
            error_document: Lambda's error JSON (``errorType``, ``errorMessage``,
                ``stackTrace``) when the handler failed.
            timed_out_after: the timeout in seconds when the handler ran past it.
        """
        with _lock:
            for ident in list(self._threads):
                if _routes.get(ident) is self:
                    del _routes[ident]  # a timed-out thread's later output is not ours
            self._threads.clear()
            _open.discard(self)
        elapsed_ms = (time.monotonic() - self._started) * 1000
        with self._lines_lock:
            for rest in self._partial.values():
                if rest:
                    self._lines.append((_now_ms(), rest[:MAX_LINE]))
            self._partial.clear()
        if timed_out_after is not None:
            self._add(
                f"{_stamp(time.time())} {self.request_id} Task timed out after "
                f"{timed_out_after:.2f} seconds"
            )
        elif error_document is not None:
            self._add(_error_line(error_document))
        self._add(f"END RequestId: {self.request_id}")
        used = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        self._add(
            f"REPORT RequestId: {self.request_id}\tDuration: {elapsed_ms:.2f} ms\t"
            f"Billed Duration: {max(1, math.ceil(elapsed_ms))} ms\t"
            f"Memory Size: {self.memory_size} MB\tMax Memory Used: {used} MB"
        )
        self.flush()


def _error_line(document: str) -> str:
    try:
        error = json.loads(document)
        line = f"[ERROR] {error['errorType']}: {error['errorMessage']}"
        stack = error.get("stackTrace") or []
    except (ValueError, KeyError, TypeError):
        return f"[ERROR] {document}"
    if stack:
        line += "\nTraceback (most recent call last):\n" + "".join(stack).rstrip("\n")
    return line
