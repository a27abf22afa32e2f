"""Scripts in pipelines (``statemachine/runtime/lua.py``): sent as ``EVALSHA``, and run again
on their own when the server does not know them (``NOSCRIPT``: a restarted Redis, a node
that joined a cluster), without repeating the pipeline's other commands."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable

import redis

from statemachine.interpreter import inputs
from statemachine.runtime.engine import Runtime
from statemachine.runtime.logs import LogEvent
from statemachine.runtime.lua import execute, queue_script
from statemachine.runtime.results import result_from_store
from statemachine.runtime.store import RedisHistoryStore
from tests.runtime.conftest import Recorder

FN = "arn:aws:lambda:us-east-1:123456789012:function:"
TWO_TASKS = {
    "StartAt": "One",
    "States": {
        "One": {"Type": "Task", "Resource": FN + "One", "Next": "Two"},
        "Two": {"Type": "Task", "Resource": FN + "Two", "End": True},
    },
}


def test_a_script_the_server_forgot_runs_once_and_the_rest_once(
    fresh_store: Callable[[], RedisHistoryStore],
) -> None:
    """After SCRIPT FLUSH, a pipeline holding a script and plain commands gives the
    script's reply (it was loaded and run on its own, after the others) and ran every
    command exactly once."""
    client: redis.Redis = fresh_store().redis
    key = f"sfntest-lua-{uuid.uuid4().hex}"
    counter = client.register_script("return redis.call('INCR', KEYS[1])")
    try:
        client.script_flush()
        pipe = client.pipeline(transaction=False)
        pipe.incr(key)
        queue_script(pipe, counter, [key], [])
        pipe.incr(key)
        assert execute(pipe) == [1, 3, 2]  # the script ran last
        assert int(client.get(key) or 0) == 3
        # Known now: a second pipeline sends it as EVALSHA and it just runs.
        pipe = client.pipeline(transaction=False)
        queue_script(pipe, counter, [key], [])
        assert execute(pipe) == [4]
    finally:
        client.delete(key)


def test_an_execution_carries_on_after_the_server_forgot_its_scripts(
    fresh_store: Callable[[], RedisHistoryStore],
) -> None:
    """A worker's begin (a pipeline with the partial read) and its outcome's append (with
    the handler's log lines) work after SCRIPT FLUSH: the outcome is recorded once and its
    log lines are written once."""
    store = fresh_store()
    recorder = Recorder()
    runtime = Runtime(store, recorder)
    eid = runtime.start(json.dumps(TWO_TASKS), {"n": 1}, machine="lua", name="flush")
    for step, stamp in ((0, 1), (1, 2)):
        _, command = recorder.sent[step]
        store.redis.script_flush()
        starts, base = runtime.begin_task(eid, command)
        assert starts == 1
        store.redis.script_flush()
        at = runtime.clock.now()
        line = LogEvent(timestamp=stamp, message=f"line {step}", request_id="r",
                        function=command.function or "", execution=eid, state=command.state,
                        stream="s")
        assert runtime.task_finished(eid, command.token, [
            inputs.TaskStarted(time=at, token=command.token),
            inputs.TaskSucceeded(time=at, token=command.token, output={"step": step}),
        ], logs=[line], base=base)
    result = result_from_store(store, eid)
    assert result.status == "SUCCEEDED" and result.output == {"step": 1}
    assert [event.message for _, event in store.logs.for_execution(eid).events] == [
        "line 0", "line 1"]
    assert len(recorder.sent) == 2
