"""Lambda-style invocation (workers.invoke) and the handler's context (workers.context).

The expected texts come from AWS, not from this code:

- A Python exception becomes ``LambdaFunctionFailed`` with error = the class name and
  cause = the runtime's error document, keys in this order and with ``", "`` separators,
  e.g. (recorded against AWS in localstack/localstack,
  ``tests/aws/services/stepfunctions/v2/error_handling/test_task_lambda.snapshot.json``)::

      {"errorMessage": "Some exception was raised.", "errorType": "Exception",
       "requestId": "<uuid:1>", "stackTrace": ["  File \\"/var/task/handler.py\\", line 2,
       in handler\\n    raise Exception(\\"Some exception was raised.\\")\\n"]}

- A timeout is ``Sandbox.Timedout`` with the Lambda service's error document, as
  ``aws lambda invoke`` returns it::

      {"errorType":"Sandbox.Timedout","errorMessage":"RequestId: f83d9f5b-91c2-46ef-8f27-
       956c2efb047a Error: Task timed out after 3.00 seconds"}

  ("Troubleshoot invocation issues in Lambda" names the error type, Sandbox.Timedout.)
- A result that is not JSON is ``Runtime.MarshalError``, "Unable to marshal response: ..."
  with an empty stack trace (aws-lambda-python-runtime-interface-client,
  ``awslambdaric/lambda_runtime_marshaller.py`` and ``lambda_runtime_exception.py``).
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from workers.context import LambdaContext, function_arn, new_log_stream_name
from workers.invoke import Invocation, invoke
from workers.logs import stream_name
from workers.registry import FunctionSpec, Project, load_project

FIXTURES = Path(__file__).parent / "fixtures"
BEHAVIOURS = (FIXTURES / "wkfix_handlers" / "behaviours.py").resolve()


@pytest.fixture(autouse=True)
def isolated_imports() -> Iterator[None]:
    """Undo what importing handlers does to the process: sys.path and sys.modules."""
    path = list(sys.path)
    modules = set(sys.modules)
    yield
    sys.path[:] = path
    for name in set(sys.modules) - modules:
        del sys.modules[name]


@pytest.fixture
def project() -> Project:
    return load_project(FIXTURES / "sfn.yaml")


def run(project: Project, name: str, event: Any = None, request_id: str = "req-1") -> Invocation:
    return invoke(project.spec(name), project.handler(name), event, request_id=request_id)


def line_of(text: str) -> int:
    """The line number of ``text`` in the behaviours fixture."""
    lines = BEHAVIOURS.read_text(encoding="utf-8").splitlines()
    return next(number for number, line in enumerate(lines, 1) if text in line)


def frame(function: str, code: str) -> str:
    """One stackTrace entry, as traceback.format_list writes it on Lambda."""
    return f'  File "{BEHAVIOURS}", line {line_of(code)}, in {function}\n    {code}\n'


# --- success -----------------------------------------------------------------------------


def test_a_result_is_the_payload(project: Project) -> None:
    outcome = run(project, "Echo", {"order": [1, 2]}, request_id="abc")
    assert outcome == Invocation(ok=True, payload={"event": {"order": [1, 2]}, "request_id": "abc"})


def test_the_payload_is_what_a_json_reader_would_see(project: Project) -> None:
    assert run(project, "Tuples").payload == {"pair": [1, 2], "7": "seven"}
    # The runtime encodes Decimal (as boto3's DynamoDB items carry) as a JSON number.
    assert run(project, "Decimals").payload == {"price": 1.25, "count": 3}


def test_the_handler_gets_a_copy_of_the_event(project: Project) -> None:
    event = {"items": ["a"]}
    assert run(project, "Mutate", event).payload == 2
    assert event == {"items": ["a"]}


def test_the_handler_sees_a_lambda_context(project: Project) -> None:
    spec = project.spec("DescribeContext")
    outcome = invoke(
        spec,
        project.handler("DescribeContext"),
        {},
        request_id="7c2b",
        region="eu-west-1",
        account="111122223333",
    )

    seen = outcome.payload
    assert seen.pop("log_stream_name").startswith(datetime.now(UTC).strftime("%Y/%m/%d/"))
    assert 0 < seen.pop("remaining") <= spec.timeout * 1000
    assert seen == {
        "aws_request_id": "7c2b",
        "function_name": "DescribeContext",
        "function_version": "$LATEST",
        "invoked_function_arn": "arn:aws:lambda:eu-west-1:111122223333:function:DescribeContext",
        "memory_limit_in_mb": "1024",
        "log_group_name": "/aws/lambda/DescribeContext",
        "cognito_identity_id": None,
        "client_context": None,
    }


def test_an_async_handler_is_awaited(project: Project) -> None:
    outcome = run(project, "AsyncEcho", {"n": 1})
    assert outcome == Invocation(ok=True, payload={"event": {"n": 1}, "remaining_positive": True})


# --- failures ----------------------------------------------------------------------------


def test_an_exception_is_reported_as_lambdas_python_runtime_does(project: Project) -> None:
    outcome = run(project, "Fail", request_id="0f7c1e9a")

    assert (outcome.ok, outcome.error, outcome.payload) == (False, "ValueError", None)
    assert outcome.cause == json.dumps(
        {
            "errorMessage": "bad quantity",
            "errorType": "ValueError",
            "requestId": "0f7c1e9a",
            "stackTrace": [frame("fail", 'raise ValueError("bad quantity")')],
        }
    )
    # Byte for byte the shape of the AWS-recorded cause: key order and ", " separators.
    assert outcome.cause is not None
    assert outcome.cause.startswith(
        '{"errorMessage": "bad quantity", "errorType": "ValueError", '
        '"requestId": "0f7c1e9a", "stackTrace": ["  File \\"'
    )
    assert "invoke.py" not in outcome.cause and "^" not in outcome.cause


def test_a_user_defined_exception_is_named_by_its_class_and_keeps_every_user_frame(
    project: Project,
) -> None:
    outcome = run(project, "FailDeep", {"id": 42})

    assert outcome.error == "OrderRejected"
    cause = json.loads(outcome.cause or "")
    assert list(cause) == ["errorMessage", "errorType", "requestId", "stackTrace"]
    assert cause["errorMessage"] == "order 42 rejected"
    assert cause["errorType"] == "OrderRejected"
    assert cause["stackTrace"] == [
        frame("fail_deep", "return _reject(event)"),
        frame("_reject", "raise OrderRejected(f\"order {event['id']} rejected\")"),
    ]


def test_an_exception_without_a_message_has_an_empty_one(project: Project) -> None:
    cause = json.loads(run(project, "NoArgs").cause or "")
    assert (cause["errorType"], cause["errorMessage"]) == ("OrderRejected", "")


def test_an_async_handlers_exception_shows_only_user_frames(project: Project) -> None:
    outcome = run(project, "AsyncFail")
    cause = json.loads(outcome.cause or "")
    assert outcome.error == "RuntimeError"
    assert cause["stackTrace"] == [frame("async_fail", 'raise RuntimeError("async boom")')]


def test_system_exit_in_a_handler_is_a_failure_not_a_lost_thread(project: Project) -> None:
    outcome = run(project, "Exits")
    assert (outcome.ok, outcome.error) == (False, "SystemExit")
    assert json.loads(outcome.cause or "")["errorMessage"] == "3"


def test_a_result_that_is_not_json_is_a_marshal_error(project: Project) -> None:
    outcome = run(project, "NotJson", request_id="r-9")
    assert outcome == Invocation(
        ok=False,
        error="Runtime.MarshalError",
        cause=(
            '{"errorMessage": "Unable to marshal response: Object of type datetime is not '
            'JSON serializable", "errorType": "Runtime.MarshalError", "requestId": "r-9", '
            '"stackTrace": []}'
        ),
    )


def test_nan_is_not_json_either(project: Project) -> None:
    outcome = run(project, "NotANumber")
    assert outcome.error == "Runtime.MarshalError"
    assert "Unable to marshal response: Out of range float values" in (outcome.cause or "")


def test_a_handler_past_its_timeout_fails_as_a_lambda_timeout(project: Project) -> None:
    spec = project.spec("Sleep")
    assert spec.timeout == 1

    started = time.monotonic()
    outcome = run(project, "Sleep", {"seconds": 3}, request_id="f83d9f5b")
    elapsed = time.monotonic() - started

    assert 1.0 <= elapsed < 1.8
    assert outcome == Invocation(
        ok=False,
        error="Sandbox.Timedout",
        cause=(
            '{"errorType":"Sandbox.Timedout","errorMessage":"RequestId: f83d9f5b '
            'Error: Task timed out after 1.00 seconds"}'
        ),
    )


def test_a_handler_within_its_timeout_succeeds(project: Project) -> None:
    assert run(project, "Sleep", {"seconds": 0.05}).payload == {"slept": 0.05}


def test_invoke_is_independent_of_the_registry() -> None:
    spec = FunctionSpec(name="Inline", handler="not.imported", timeout=2)
    outcome = invoke(spec, lambda event, context: context.function_name, {}, request_id="x")
    assert outcome == Invocation(ok=True, payload="Inline")


# --- the context object ------------------------------------------------------------------


def test_remaining_time_counts_down_on_the_given_clock_and_stops_at_zero() -> None:
    now = [100.0]
    context = LambdaContext(
        function_name="CheckStock",
        aws_request_id="r",
        memory_limit_in_mb=256,
        deadline=106.0,
        clock=lambda: now[0],
    )
    assert context.get_remaining_time_in_millis() == 6000
    now[0] = 105.25
    assert context.get_remaining_time_in_millis() == 750
    now[0] = 107.0
    assert context.get_remaining_time_in_millis() == 0


def test_context_names_follow_lambdas_formats() -> None:
    context = LambdaContext(
        function_name="CheckStock", aws_request_id="r", memory_limit_in_mb=256, deadline=0.0
    )
    assert context.invoked_function_arn == (
        "arn:aws:lambda:us-east-1:123456789012:function:CheckStock"
    )
    assert context.log_group_name == "/aws/lambda/CheckStock"
    assert re.fullmatch(r"\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}", context.log_stream_name)
    assert context.memory_limit_in_mb == "256"
    assert context.function_version == "$LATEST"
    assert context.identity.cognito_identity_pool_id is None
    assert context.client_context is None


def test_invocations_in_one_process_share_its_log_stream(project: Project) -> None:
    """Lambda logs all invocations of one execution environment to one stream, and a
    handler's ``context.log_stream_name`` names it: here the process's stream, the one its
    log lines are recorded under (``workers.logs.stream_name``), the same every time."""
    spec, handler = project.spec("DescribeContext"), project.handler("DescribeContext")
    names = {invoke(spec, handler, {}, request_id=f"r{n}").payload["log_stream_name"]
             for n in range(3)}
    assert names == {stream_name()}
    assert re.fullmatch(r"\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}", stream_name())


def test_log_stream_names_use_the_utc_day_and_are_unique() -> None:
    day = datetime(2024, 5, 6, 23, 30, tzinfo=UTC)
    first, second = new_log_stream_name(now=day), new_log_stream_name(now=day)
    assert first.startswith("2024/05/06/[$LATEST]")
    assert first != second


def test_function_arns_use_the_regions_partition() -> None:
    assert function_arn("F", region="cn-north-1", account="1").startswith("arn:aws-cn:lambda:")
    assert function_arn("F", region="us-gov-west-1", account="1").startswith(
        "arn:aws-us-gov:lambda:"
    )
