"""Where a handler runs: in the calling thread when that is the main thread (stopped at
its deadline by SIGALRM), else on reused daemon threads (``workers.invoke._Runner``).

Handing a handler to another thread and waiting cost more than a no-op handler, so in the
main thread (a prefork pool process) it runs right there; elsewhere ``invoke`` keeps its
runner threads between invocations. A runner whose handler overran its timeout is never
reused (Python cannot stop it), and a reused thread must not carry one invocation's
captured output into the next. The runner tests call ``invoke`` from a thread of their
own (``off_main``); the main-thread tests free SIGALRM from pytest-timeout first.
"""

from __future__ import annotations

import functools
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from workers.invoke import Invocation, invoke
from workers.registry import FunctionSpec

QUICK = FunctionSpec.model_validate({"name": "Quick", "handler": "not.imported", "timeout": 5})
SLOW = FunctionSpec.model_validate({"name": "Slow", "handler": "not.imported", "timeout": 1})


def off_main(test: Callable[..., None]) -> Callable[..., None]:
    """Run ``test`` in a thread other than the main one (as a threads pool does), where
    handlers go to runner threads; its failure is the test's."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        failure: list[BaseException] = []

        def body() -> None:
            try:
                test(*args, **kwargs)
            except BaseException as exc:
                failure.append(exc)

        thread = threading.Thread(target=body)
        thread.start()
        thread.join(60)
        assert not thread.is_alive(), "the test did not finish in 60 s"
        if failure:
            raise failure[0]

    return run


@pytest.fixture
def alarm_free() -> Iterator[None]:
    """SIGALRM as a prefork pool process has it (pytest-timeout's signal method may hold
    it): handlers in the main thread then run in it. Restored afterwards."""
    previous = signal.signal(signal.SIGALRM, signal.SIG_DFL)
    pending = signal.setitimer(signal.ITIMER_REAL, 0)
    yield
    signal.signal(signal.SIGALRM, previous)
    if pending[0]:
        signal.setitimer(signal.ITIMER_REAL, *pending)


@off_main
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


@off_main
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


@off_main
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


@off_main
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


def test_a_reused_runner_does_not_leak_into_the_main_thread_path() -> None:
    """Guard for the runner tests above: they really ran off the main thread."""
    ran: list[bool] = []
    off_main(lambda: ran.append(threading.current_thread() is threading.main_thread()))()
    assert ran == [False]


def test_in_the_main_thread_handlers_run_in_it(alarm_free: None) -> None:
    """No thread is handed the handler: 200 invocations run in the calling (main) thread,
    start no thread, and leave SIGALRM as they found it, with no timer armed."""
    seen: set[threading.Thread] = set()

    def handler(event: Any, context: Any) -> Any:
        seen.add(threading.current_thread())
        return event["n"]

    before = threading.active_count()
    outcomes = [invoke(QUICK, handler, {"n": n}, request_id=f"m{n}") for n in range(200)]
    assert outcomes == [Invocation(ok=True, payload=n) for n in range(200)]
    assert seen == {threading.main_thread()}
    assert threading.active_count() == before
    assert signal.getsignal(signal.SIGALRM) == signal.SIG_DFL
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_in_the_main_thread_a_handler_is_stopped_at_its_deadline(alarm_free: None) -> None:
    """Lambda stops a function at its timeout; so does this in the main thread: the
    handler's code after the wait never runs, the outcome is Sandbox.Timedout, and the
    next invocation runs normally."""
    after: list[str] = []

    def overrun(event: Any, context: Any) -> Any:
        time.sleep(30)
        after.append("ran on")
        return "too late"

    started = time.monotonic()
    outcome = invoke(SLOW, overrun, {}, request_id="stop-1")
    assert 1.0 <= time.monotonic() - started < 5
    assert outcome.error == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in (outcome.cause or "")
    time.sleep(0.2)
    assert after == []
    assert invoke(QUICK, lambda event, context: "next", {}, request_id="stop-2").payload == (
        "next"
    )
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_a_handler_that_swallows_the_stop_still_times_out(alarm_free: None) -> None:
    """A handler that catches everything (a bare ``except``) and carries on is stopped
    again until it ends, and its late return value is not taken for a result."""
    caught: list[int] = []

    def stubborn(event: Any, context: Any) -> Any:
        while len(caught) < 3:
            try:
                time.sleep(30)
            except BaseException:
                caught.append(1)
        return "late"

    outcome = invoke(SLOW, stubborn, {}, request_id="stubborn")
    assert outcome.ok is False and outcome.error == "Sandbox.Timedout"
    assert len(caught) == 3


def test_in_the_main_thread_on_slow_runs_beside_the_handler(alarm_free: None) -> None:
    """``on_slow`` (the worker records TaskStarted with it) is called once, from another
    thread, while a slow handler still runs; it is not called for a quick one."""
    calls: list[threading.Thread] = []
    handler_saw: list[int] = []

    def slow(event: Any, context: Any) -> Any:
        time.sleep(0.5)
        handler_saw.append(len(calls))
        return "done"

    outcome = invoke(QUICK, slow, {}, request_id="slow-start",
                     on_slow=lambda: calls.append(threading.current_thread()),
                     slow_seconds=0.05)
    assert outcome.payload == "done"
    assert len(calls) == 1 and calls[0] is not threading.main_thread()
    assert handler_saw == [1]  # called while the handler was still running
    invoke(QUICK, lambda event, context: 1, {}, request_id="quick",
           on_slow=lambda: calls.append(threading.current_thread()), slow_seconds=5)
    assert len(calls) == 1
