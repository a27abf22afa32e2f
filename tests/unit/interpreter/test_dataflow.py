"""Data flow through states: InputPath, Parameters, ResultSelector, ResultPath, OutputPath."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.interpreter.conftest import machine, task, types


def test_resultpath_merges_result_into_nested_path_of_raw_input(run: Any) -> None:
    """ResultPath writes the result into the state's *raw* input, creating missing objects.

    https://docs.aws.amazon.com/step-functions/latest/dg/input-output-resultpath.html
    """
    result = run(
        machine(
            {
                "P": {
                    "Type": "Pass",
                    "InputPath": "$.a",
                    "Result": 7,
                    "ResultPath": "$.deep.er.value",
                    "End": True,
                }
            }
        ),
        {"a": {"x": 1}, "keep": True},
    )
    assert result.status == "SUCCEEDED"
    assert result.output == {"a": {"x": 1}, "keep": True, "deep": {"er": {"value": 7}}}


def test_resultpath_null_discards_result_and_passes_input_through(run: Any) -> None:
    """https://docs.aws.amazon.com/step-functions/latest/dg/input-output-resultpath.html#input-output-resultpath-null"""
    result = run(
        machine({"T": task("f", ResultPath=None, End=True)}),
        {"in": 1},
        handlers={"f": lambda e, c: {"out": 2}},
    )
    assert result.output == {"in": 1}


def test_resultpath_dollar_replaces_input_with_result(run: Any) -> None:
    result = run(
        machine({"T": task("f", End=True)}), {"in": 1}, handlers={"f": lambda e, c: {"out": 2}}
    )
    assert result.output == {"out": 2}


def test_resultpath_into_a_string_input_fails_with_result_path_match_failure(run: Any) -> None:
    """https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html"""
    result = run(
        machine({"P": {"Type": "Pass", "Result": 1, "ResultPath": "$.x", "End": True}}),
        "just a string",
    )
    assert result.status == "FAILED"
    assert result.error == "States.ResultPathMatchFailure"
    assert "entered at the event id #2" in (result.cause or "")


def test_parameters_result_selector_output_path_and_context(run: Any) -> None:
    """Parameters see `$` (after InputPath) and `$$`; ResultSelector sees the raw result.

    https://docs.aws.amazon.com/step-functions/latest/dg/input-output-inputpath-params.html
    https://docs.aws.amazon.com/step-functions/latest/dg/input-output-contextobject.html
    """
    seen: list[Any] = []

    def handler(event: Any, context: Any) -> Any:
        seen.append(event)
        return {"status": 200, "body": {"n": event["n"] * 2}, "noise": "x"}

    result = run(
        machine(
            {
                "T": task(
                    "f",
                    InputPath="$.order",
                    Parameters={
                        "n.$": "$.qty",
                        "state.$": "$$.State.Name",
                        "exec.$": "$$.Execution.Name",
                        "fixed": [1, {"k": "v"}],
                        "greeting.$": "States.Format('hi {}', $.who)",
                    },
                    ResultSelector={"doubled.$": "$.body.n"},
                    ResultPath="$.order.result",
                    OutputPath="$.order",
                    End=True,
                )
            }
        ),
        {"order": {"qty": 3, "who": "ann"}},
        handlers={"f": handler},
    )
    assert seen == [
        {"n": 3, "state": "T", "exec": "test", "fixed": [1, {"k": "v"}], "greeting": "hi ann"}
    ]
    assert result.output == {"qty": 3, "who": "ann", "result": {"doubled": 6}}


def test_missing_parameters_path_fails_with_states_runtime_and_aws_cause(run: Any) -> None:
    """A `.$` path that selects nothing fails the state with States.Runtime.

    https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html#states-runtime-error
    """
    result = run(
        machine({"P": {"Type": "Pass", "Parameters": {"missing.$": "$.nope.deep"}, "End": True}}),
        {"other": 1},
    )
    assert result.status == "FAILED"
    assert result.error == "States.Runtime"
    assert result.cause == (
        "An error occurred while executing the state 'P' (entered at the event id #2). "
        "The JSONPath '$.nope.deep' specified for the field 'missing.$' could not be found in "
        "the input '{\"other\":1}'"
    )


def test_inputpath_and_outputpath_null_give_empty_object(run: Any) -> None:
    """https://docs.aws.amazon.com/step-functions/latest/dg/input-output-inputpath-params.html"""
    seen: list[Any] = []
    result = run(
        machine({"T": task("f", InputPath=None, OutputPath=None, End=True)}),
        {"a": 1},
        handlers={"f": lambda e, c: seen.append(e) or 5},
    )
    assert seen == [{}]
    assert result.output == {}


def test_lambda_invoke_result_has_the_invoke_api_shape(run: Any) -> None:
    """https://docs.aws.amazon.com/step-functions/latest/dg/connect-lambda.html"""
    result = run(
        machine(
            {
                "T": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::lambda:invoke",
                    "Parameters": {
                        "FunctionName": "arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST",
                        "Payload.$": "$",
                    },
                    "End": True,
                }
            }
        ),
        {"x": 1},
        handlers={"f": lambda e, c: {"got": e}},
    )
    assert result.output["Payload"] == {"got": {"x": 1}}
    assert result.output["StatusCode"] == 200
    assert result.output["ExecutedVersion"] == "$LATEST"
    assert types(result) == [
        "ExecutionStarted",
        "TaskStateEntered",
        "TaskScheduled",
        "TaskStarted",
        "TaskSucceeded",
        "TaskStateExited",
        "ExecutionSucceeded",
    ]


def test_context_object_fields(run: Any) -> None:
    result = run(
        machine({"P": {"Type": "Pass", "Parameters": {"ctx.$": "$$"}, "End": True}}),
        {"a": 1},
        name="Orders",
    )
    ctx = result.output["ctx"]
    assert ctx["Execution"]["Id"] == "arn:aws:states:us-east-1:123456789012:execution:Orders:test"
    assert ctx["Execution"]["Input"] == {"a": 1}
    assert ctx["Execution"]["StartTime"] == "2026-01-01T00:00:00.000Z"
    assert ctx["State"] == {"EnteredTime": "2026-01-01T00:00:00.000Z", "Name": "P", "RetryCount": 0}
    assert ctx["StateMachine"] == {
        "Id": "arn:aws:states:us-east-1:123456789012:stateMachine:Orders",
        "Name": "Orders",
    }


def test_oversized_result_fails_with_data_limit_exceeded_not_caught_by_all(run: Any) -> None:
    """States.DataLimitExceeded is terminal: States.ALL does not catch it.

    https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html
    """
    result = run(
        machine(
            {
                "T": task(
                    "big", Catch=[{"ErrorEquals": ["States.ALL"], "Next": "Caught"}], End=True
                ),
                "Caught": {"Type": "Succeed"},
            }
        ),
        handlers={"big": lambda e, c: "x" * (256 * 1024 + 1)},
    )
    assert result.status == "FAILED"
    assert result.error == "States.DataLimitExceeded"


@pytest.mark.parametrize(("count", "fails"), [(131_071, False), (131_072, True)])
def test_payload_size_counts_utf8_bytes_not_characters(run: Any, count: int, fails: bool) -> None:
    """The 256 KiB limit is on "data as a UTF-8 encoded string"
    (https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html): an output of
    131,072 two-byte characters is 262,146 bytes with its quotes, over 262,144 (a count of
    characters would take it for half that); one of 131,071 is the limit exactly, allowed."""
    text = "é" * count
    result = run(machine({"P": {"Type": "Pass", "Result": text, "End": True}}))
    size = len(f'"{text}"'.encode())
    if fails:
        assert (result.status, result.error) == ("FAILED", "States.DataLimitExceeded")
        assert result.cause == (
            "The state/task 'P' output has exceeded the maximum allowed size of 262144 bytes "
            f"(size: {size} bytes)."
        )
    else:
        assert result.status == "SUCCEEDED" and size == 262_144
