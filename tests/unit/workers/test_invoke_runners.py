"""Handlers run on reused daemon threads (``workers.invoke._Runner``, commit e57ed5e).

Starting a thread per invocation cost more than a no-op handler, so ``invoke`` keeps its
runner threads between invocations; a runner whose handler overran its timeout is never
reused (Python cannot stop it), and a reused thread must not carry one invocation's
captured output into the next.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

import pytest

from workers.invoke import Invocation, invoke
from workers.registry import FunctionSpec

pytestmark = pytest.mark.timeout(60)

QUICK = FunctionSpec.model_validate({"name": "Quick", "handler": "not.imported", "timeout": 5})
SLOW = FunctionSpec.model_validate({"name": "Slow", "handler": "not.imported", "timeout": 1})


def test_invocations_in_a_row_reuse_one_runner_thread() -> None:
    """200 invocations one after another run on the same runner thread (not the caller's),
    and the process's thread count does not grow with them."""
    seen: list[threading.Thread] = []

    def handler(event: Any, context: Any) -> Any:
        seen.append(threading.current_thread())
        return event["n"]

    before = threading.active_count()
    outcomes = [invoke(QUICK, handler, {"n": n}, request_id=f"r{n}") for n in range(200)]

    assert outcomes == [Invocation(ok=True, payload=n) for n in range(200)]
    assert len(seen) == 200
    assert len(set(seen)) == 1  # one runner, taken and given back each time
    assert threading.current_thread() not in seen
    assert seen[0].daemon
    # At most the one runner the first call may have had to start; none per call.
    assert threading.active_count() <= before + 1


def test_a_timed_out_runner_is_not_reused_and_the_next_call_is_prompt() -> None:
    """A handler overrunning its 1-second timeout gives Sandbox.Timedout; the next quick
    invocation succeeds at once on another thread (not queued behind the stuck handler), and
    the stuck runner ends once its handler returns instead of being kept."""
    release = threading.Event()
    stuck: list[threading.Thread] = []

    def overrun(event: Any, context: Any) -> Any:
        stuck.append(threading.current_thread())
        release.wait(30)
        return "too late"

    ran_on: list[threading.Thread] = []

    def quick(event: Any, context: Any) -> Any:
        ran_on.append(threading.current_thread())
        return "quick"

    try:
        started = time.monotonic()
        outcome = invoke(SLOW, overrun, {}, request_id="slow-1")
        assert 1.0 <= time.monotonic() - started < 1.8
        assert outcome.ok is False
        assert outcome.error == "Sandbox.Timedout"

        started = time.monotonic()
        assert invoke(QUICK, quick, {}, request_id="quick-1") == Invocation(
            ok=True, payload="quick"
        )
        assert time.monotonic() - started < 0.5
        [runner] = stuck
        assert ran_on[0] is not runner
        assert runner.is_alive()  # still inside the overrunning handler
    finally:
        release.set()
    runner.join(5)
    assert not runner.is_alive()  # ended when its handler returned: not kept for reuse

    for n in range(5):
        assert invoke(QUICK, quick, {}, request_id=f"quick-{n + 2}").ok
    assert all(thread is not runner for thread in ran_on)


def test_captured_output_belongs_to_its_own_invocation_on_a_reused_thread() -> None:
    """Each invocation's ``logs`` sink gets what its own handler printed (and logged, and
    left unterminated), between its own START and END: the next invocation on the same
    reused thread gets none of the previous handler's lines."""
    got: dict[str, list[str]] = {}
    threads: dict[str, threading.Thread] = {}

    def chatty(event: Any, context: Any) -> Any:
        who = event["who"]
        threads[who] = threading.current_thread()
        print(f"{who} printed")
        print(f"{who} to stderr", file=sys.stderr)
        sys.stdout.write(f"{who} unterminated")
        return None

    def call(who: str) -> None:
        got[who] = []
        outcome = invoke(
            QUICK,
            chatty,
            {"who": who},
            request_id=f"rid-{who}",
            logs=lambda lines: got[who].extend(message for _, message in lines),
        )
        assert outcome.ok

    for who in ("first", "second", "third"):
        call(who)

    assert threads["first"] is threads["second"] is threads["third"]  # one reused runner
    for who, lines in got.items():
        assert lines[0] == f"START RequestId: rid-{who} Version: $LATEST"
        assert lines[-2] == f"END RequestId: rid-{who}"
        assert lines[-1].startswith(f"REPORT RequestId: rid-{who}\t")
        body = sorted(lines[1:-2])
        assert body == sorted([f"{who} printed", f"{who} to stderr", f"{who} unterminated"])
        others = [name for name in got if name != who]
        assert not [line for line in lines if any(name in line for name in others)]


def test_a_reused_thread_keeps_no_route_to_a_finished_capture(
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Once an invocation with ``logs`` is over, its runner thread routes nothing to that
    capture: a later handler on the same reused thread that captures nothing (no ``logs``)
    prints to the process's own output, and the earlier sink never gets its line."""
    first: list[str] = []

    def loud(event: Any, context: Any) -> Any:
        print(event["line"])
        return threading.current_thread().ident

    one = invoke(
        QUICK,
        loud,
        {"line": "kept line"},
        request_id="a",
        logs=lambda lines: first.extend(message for _, message in lines),
    )
    two = invoke(QUICK, loud, {"line": "loose line"}, request_id="b")
    assert one.ok and two.ok and one.payload == two.payload  # the same runner thread
    out = capfd.readouterr().out
    assert "loose line" in out
    assert "kept line" in first and "kept line" not in out
    assert "loose line" not in first
