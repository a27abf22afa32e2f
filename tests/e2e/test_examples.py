"""End-to-end runs of the example workflows in ``definitions/`` through ``run_local``.

Every run starts its virtual clock at ``T0`` so that timestamps are exact; handlers are the
real ones registered in ``definitions/sfn.yaml`` unless a test mocks a state.

Where a test pins a subtle rule, its docstring cites the AWS page that defines it.
"""

from __future__ import annotations

import inspect
import json
import re
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from statemachine.local import run_local
from statemachine.runtime.execution import ExecutionResult
from workers.examples import orders, poll

ROOT = Path(__file__).resolve().parents[2]
DEFINITIONS = ROOT / "definitions"
PROJECT = DEFINITIONS / "sfn.yaml"
T0 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
ACCOUNT_ARN = "arn:aws:states:us-east-1:123456789012"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


# -- helpers ------------------------------------------------------------------------------


def run(name: str, input: Any, **kwargs: Any) -> ExecutionResult:
    return run_local(
        DEFINITIONS / f"{name}.asl.json", input, project=PROJECT, start_time=T0, **kwargs
    )


def types(result: ExecutionResult) -> list[str]:
    return [event["type"] for event in result.history()]


def details(event: dict[str, Any]) -> dict[str, Any]:
    found = [value for key, value in event.items() if key.endswith("EventDetails")]
    return found[0] if found else {}


def offset(event: dict[str, Any]) -> float:
    """Seconds between T0 and the event, on the virtual clock."""
    return (datetime.fromisoformat(event["timestamp"]) - T0).total_seconds()


def state_events(result: ExecutionResult, name: str) -> list[dict[str, Any]]:
    """The StateEntered/StateExited events of the state called ``name``."""
    return [
        event
        for event in result.history()
        if event["type"].endswith(("StateEntered", "StateExited"))
        and details(event).get("name") == name
    ]


def entered_input(result: ExecutionResult, name: str) -> list[Any]:
    return [
        json.loads(details(e)["input"])
        for e in state_events(result, name)
        if e["type"].endswith("StateEntered")
    ]


def exited_output(result: ExecutionResult, name: str) -> list[Any]:
    return [
        json.loads(details(e)["output"])
        for e in state_events(result, name)
        if e["type"].endswith("StateExited")
    ]


def scheduled(result: ExecutionResult, function: str) -> list[dict[str, Any]]:
    """LambdaFunctionScheduled (function ARN) or TaskScheduled (lambda:invoke) events."""
    arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function}"

    def targets(event: dict[str, Any]) -> str | None:
        if event["type"] == "LambdaFunctionScheduled":
            return str(details(event)["resource"])
        if event["type"] == "TaskScheduled":
            return str(json.loads(details(event)["parameters"]).get("FunctionName"))
        return None

    return [event for event in result.history() if targets(event) == arn]


def check_chain(result: ExecutionResult) -> None:
    """Event ids count from 1 and every previousEventId names an earlier event."""
    events = result.history()
    assert [event["id"] for event in events] == list(range(1, len(events) + 1))
    assert all(0 <= event["previousEventId"] < event["id"] for event in events)


def lambda_error_cause(
    handler: Callable[..., Any], marker: str, error: str, message: str, request_id: str
) -> str:
    """The cause Step Functions records for an exception raised by a Python Lambda handler:
    the runtime's error document, ``{"errorMessage", "errorType", "requestId",
    "stackTrace"}``, passed through as text.

    https://docs.aws.amazon.com/lambda/latest/dg/python-exceptions.html
    """
    lines, first = inspect.getsourcelines(handler)
    index = next(i for i, line in enumerate(lines) if marker in line)
    frame = traceback.FrameSummary(
        inspect.getsourcefile(handler) or "",
        first + index,
        handler.__name__,
        line=lines[index].strip(),
    )
    return json.dumps(
        {
            "errorMessage": message,
            "errorType": error,
            "requestId": request_id,
            "stackTrace": traceback.format_list([frame]),
        }
    )


# -- hello ----------------------------------------------------------------------------------


def test_hello_greets_and_shapes_the_result() -> None:
    """The README's first command: one Task, one Pass.

    ``ResultPath: "$.greeting"`` keeps the input and adds the result beside it
    (https://docs.aws.amazon.com/step-functions/latest/dg/input-output-resultpath.html).
    """
    result = run("hello", {"name": "Ada"}, execution_name="readme-1")

    assert result.status == "SUCCEEDED"
    assert result.output == {"message": "Hello, Ada!"}
    assert result.error is None
    assert result.cause is None
    assert types(result) == [
        "ExecutionStarted",
        "TaskStateEntered",
        "LambdaFunctionScheduled",
        "LambdaFunctionStarted",
        "LambdaFunctionSucceeded",
        "TaskStateExited",
        "PassStateEntered",
        "PassStateExited",
        "ExecutionSucceeded",
    ]
    check_chain(result)
    assert exited_output(result, "Greet") == [
        {"name": "Ada", "greeting": {"message": "Hello, Ada!"}}
    ]
    assert result.describe() == {
        "executionArn": f"{ACCOUNT_ARN}:execution:hello:readme-1",
        "stateMachineArn": f"{ACCOUNT_ARN}:stateMachine:hello",
        "name": "readme-1",
        "status": "SUCCEEDED",
        "startDate": T0.isoformat(timespec="microseconds"),
        "stopDate": T0.isoformat(timespec="microseconds"),
        "input": '{"name":"Ada"}',
        "inputDetails": {"included": True},
        "output": '{"message":"Hello, Ada!"}',
        "outputDetails": {"included": True},
    }


def test_hello_without_a_name_greets_the_world() -> None:
    result = run("hello", {})

    assert result.status == "SUCCEEDED"
    assert result.output == {"message": "Hello, World!"}


def test_hello_with_mocked_task() -> None:
    """A mock replaces the handler for one state, as Step Functions Local's mocked
    responses do (Return / Throw)
    (https://docs.aws.amazon.com/step-functions/latest/dg/sfn-local-mock-cfg-file.html).
    """
    returned = run("hello", {"name": "Ada"}, mocks={"Greet": {"Return": {"message": "Hi!"}}})
    assert returned.status == "SUCCEEDED"
    assert returned.output == {"message": "Hi!"}
    succeeded = [e for e in returned.history() if e["type"] == "LambdaFunctionSucceeded"]
    assert json.loads(details(succeeded[0])["output"]) == {"message": "Hi!"}

    thrown = run(
        "hello",
        {"name": "Ada"},
        mocks={"Greet": {"Throw": {"Error": "Lambda.ServiceException", "Cause": "Try later"}}},
    )
    assert thrown.status == "FAILED"
    assert thrown.output is None
    assert thrown.error == "Lambda.ServiceException"
    assert thrown.cause == "Try later"
    assert types(thrown)[-3:] == [
        "LambdaFunctionStarted",
        "LambdaFunctionFailed",
        "ExecutionFailed",
    ]
    assert "output" not in thrown.describe()


# -- order processing -------------------------------------------------------------------

ORDER = {
    "orderId": "ord-1001",
    "customer": {"id": "cus-42", "email": "ada@example.com"},
    "items": [{"sku": "BOOK-001", "quantity": 2}, {"sku": "PEN-007", "quantity": 3}],
    "payment": {"token": "tok_visa"},
}


def order(order_id: str, token: str = "tok_visa", **changes: Any) -> dict[str, Any]:
    return {**ORDER, "orderId": order_id, "payment": {"token": token}, **changes}


def test_order_confirmed_on_first_attempt() -> None:
    """ResultSelector shapes a task's result before ResultPath places it; a ResultPath
    naming a child of an existing object (``$.payment.charge``) adds the result inside it,
    keeping its other fields
    (https://docs.aws.amazon.com/step-functions/latest/dg/input-output-resultpath.html,
    https://docs.aws.amazon.com/step-functions/latest/dg/input-output-inputpath-params.html).
    """
    result = run("order-processing", order("ord-1001"))

    assert result.status == "SUCCEEDED"
    assert result.error is None
    assert result.cause is None
    assert result.output == {
        "orderId": "ord-1001",
        "status": "CONFIRMED",
        "total": 29.5,
        "currency": "EUR",
        "chargeId": "ch_ord-1001",
        "paymentAttempts": 1,
        "receiptId": "msg-ord-1001-receipt",
        "message": "Order ord-1001 confirmed: 29.5 EUR charged, receipt sent to ada@example.com",
    }
    check_chain(result)
    assert exited_output(result, "CheckStock")[0]["stock"] == {
        "available": True,
        "missingSkus": [],
        "total": 29.5,
        "currency": "EUR",
    }
    after_charge = exited_output(result, "ChargePayment")[0]
    assert after_charge["payment"] == {
        "token": "tok_visa",
        "charge": {"chargeId": "ch_ord-1001", "status": "captured", "attempts": 1},
    }
    assert after_charge["items"] == ORDER["items"]
    assert [json.loads(details(e)["input"]) for e in scheduled(result, "ChargePayment")] == [
        {
            "orderId": "ord-1001",
            "amount": 29.5,
            "currency": "EUR",
            "token": "tok_visa",
            "attempt": 0,
        }
    ]
    assert [details(e)["name"] for e in result.history() if e["type"].endswith("Entered")] == [
        "CheckStock",
        "RouteOrder",
        "ChargePayment",
        "SendReceipt",
        "ConfirmOrder",
    ]


def test_order_flaky_gateway_is_retried_with_exponential_backoff() -> None:
    """Retry waits IntervalSeconds before the first retry and multiplies the wait by
    BackoffRate before each further one: 2 s, then 2 * 3 = 6 s. ``$$.State.RetryCount``
    tells the handler which attempt it is
    (https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html#error-handling-retrying-after-an-error,
    https://docs.aws.amazon.com/step-functions/latest/dg/input-output-contextobject.html).
    """
    result = run("order-processing", order("ord-1002", "tok_flaky_gateway"))

    assert result.status == "SUCCEEDED"
    assert result.output["paymentAttempts"] == 3
    assert result.output["message"] == (
        "Order ord-1002 confirmed: 29.5 EUR charged, receipt sent to ada@example.com"
    )
    attempts = scheduled(result, "ChargePayment")
    assert [offset(e) for e in attempts] == [0, 2, 8]
    assert [json.loads(details(e)["input"])["attempt"] for e in attempts] == [0, 1, 2]
    charge = [
        e["type"]
        for e in result.history()
        if e["type"].startswith("LambdaFunction") and e["id"] >= attempts[0]["id"]
    ][:9]
    assert charge == [
        "LambdaFunctionScheduled",
        "LambdaFunctionStarted",
        "LambdaFunctionFailed",
        "LambdaFunctionScheduled",
        "LambdaFunctionStarted",
        "LambdaFunctionFailed",
        "LambdaFunctionScheduled",
        "LambdaFunctionStarted",
        "LambdaFunctionSucceeded",
    ]
    # A retry stays in the same state: ChargePayment is entered once and exited once.
    assert [e["type"] for e in state_events(result, "ChargePayment")] == [
        "TaskStateEntered",
        "TaskStateExited",
    ]
    assert result.stop_date == T0 + timedelta(seconds=8)


def test_order_gateway_down_exhausts_retries_then_compensates_and_fails() -> None:
    """MaxDelaySeconds caps each backoff wait: IntervalSeconds 2, BackoffRate 3 and
    MaxDelaySeconds 10 give waits of 2, 6, 10 (not 18) and 10 (not 54) seconds. After
    MaxAttempts (4) retries the error goes to Catch, whose ResultPath adds the error output
    ``{"Error", "Cause"}`` to the state's input; ``ResultPath: null`` keeps a state's input
    as its output; a Fail state's ErrorPath/CausePath fill the execution's error and cause
    (https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html,
    https://docs.aws.amazon.com/step-functions/latest/dg/input-output-resultpath.html,
    https://docs.aws.amazon.com/step-functions/latest/dg/state-fail.html).
    """
    result = run("order-processing", order("ord-1003", "tok_gateway_down"))

    assert result.status == "FAILED"
    assert result.output is None
    assert result.error == "PaymentGatewayTimeout"
    assert result.cause == (
        "Payment for order ord-1003 failed; 5 units released and the customer notified"
    )
    attempts = scheduled(result, "ChargePayment")
    assert [offset(e) for e in attempts] == [0, 2, 8, 18, 28]
    failures = [e for e in result.history() if e["type"] == "LambdaFunctionFailed"]
    assert [details(e)["error"] for e in failures] == ["PaymentGatewayTimeout"] * 5
    last = json.loads(details(failures[-1])["cause"])
    assert last["errorType"] == "PaymentGatewayTimeout"
    assert last["errorMessage"] == (
        "Gateway did not answer within 5000 ms (order ord-1003, attempt 4)"
    )

    caught = entered_input(result, "ReleaseStock")[0]
    assert caught["paymentError"] == {
        "Error": "PaymentGatewayTimeout",
        "Cause": details(failures[-1])["cause"],
    }
    # The catcher's ResultPath added the error beside the input: nothing else was lost.
    assert {key: caught[key] for key in ORDER} == order("ord-1003", "tok_gateway_down")
    notify_in = entered_input(result, "NotifyPaymentFailed")
    assert exited_output(result, "NotifyPaymentFailed") == notify_in
    assert json.loads(details(scheduled(result, "NotifyCustomer")[0])["input"]) == {
        "to": "ada@example.com",
        "template": "payment-failed",
        "orderId": "ord-1003",
        "reason": "PaymentGatewayTimeout",
    }
    assert types(result)[-6:] == [
        "LambdaFunctionScheduled",
        "LambdaFunctionStarted",
        "LambdaFunctionSucceeded",
        "TaskStateExited",
        "FailStateEntered",
        "ExecutionFailed",
    ]
    assert result.stop_date == T0 + timedelta(seconds=28)
    check_chain(result)


def test_order_declined_card_is_not_retried() -> None:
    """A retrier applies only to the errors in its ErrorEquals: PaymentDeclined goes
    straight to the catcher
    (https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html)."""
    result = run("order-processing", order("ord-1005", "tok_declined"))

    assert result.status == "FAILED"
    assert result.error == "PaymentDeclined"
    assert result.cause == (
        "Payment for order ord-1005 failed; 5 units released and the customer notified"
    )
    assert len(scheduled(result, "ChargePayment")) == 1
    failed = [e for e in result.history() if e["type"] == "LambdaFunctionFailed"]
    assert len(failed) == 1
    document = json.loads(details(failed[0])["cause"])
    assert details(failed[0])["cause"] == lambda_error_cause(
        orders.charge_payment,
        "raise PaymentDeclined",
        "PaymentDeclined",
        "Card declined for order ord-1005: insufficient funds",
        document["requestId"],
    )
    assert UUID.fullmatch(document["requestId"])
    assert result.stop_date == T0


def test_order_out_of_stock_fails_before_payment() -> None:
    """The first matching Choice rule wins; a Fail state's CausePath may be an intrinsic
    (States.Format with a nested States.ArrayLength)
    (https://docs.aws.amazon.com/step-functions/latest/dg/state-choice.html,
    https://docs.aws.amazon.com/step-functions/latest/dg/intrinsic-functions.html)."""
    items = [{"sku": "LAMP-042", "quantity": 4}, {"sku": "GHOST-999", "quantity": 1}]
    result = run("order-processing", order("ord-1004", items=items))

    assert result.status == "FAILED"
    assert result.error == "OutOfStock"
    assert result.cause == "Order ord-1004 cannot be fulfilled: 2 SKUs are out of stock"
    assert scheduled(result, "ChargePayment") == []
    assert types(result)[-5:] == [
        "TaskStateExited",
        "ChoiceStateEntered",
        "ChoiceStateExited",
        "FailStateEntered",
        "ExecutionFailed",
    ]


def test_large_order_is_held_for_review() -> None:
    result = run("order-processing", order("ord-1006", items=[{"sku": "DESK-100", "quantity": 2}]))

    assert result.status == "SUCCEEDED"
    assert result.output == {
        "orderId": "ord-1006",
        "status": "PENDING_REVIEW",
        "total": 1280,
        "currency": "EUR",
        "reason": "Orders of 1000 or more are reviewed by a person before payment",
    }
    assert scheduled(result, "ChargePayment") == []


def test_order_with_mocked_stock_and_payment() -> None:
    """Mocks by state name: CheckStock returns a canned result, ChargePayment throws; the
    thrown Cause travels in the catcher's error output
    (https://docs.aws.amazon.com/step-functions/latest/dg/sfn-local-mock-cfg-file.html)."""
    mocks = {
        "CheckStock": {
            "Return": {"available": True, "missing": [], "amount": 42.0, "currency": "GBP"}
        },
        "ChargePayment": {"Throw": {"Error": "PaymentDeclined", "Cause": "Do not honour"}},
    }
    result = run("order-processing", order("ord-1007"), mocks=mocks)

    assert result.status == "FAILED"
    assert result.error == "PaymentDeclined"
    assert result.cause == (
        "Payment for order ord-1007 failed; 5 units released and the customer notified"
    )
    assert entered_input(result, "ReleaseStock")[0]["paymentError"] == {
        "Error": "PaymentDeclined",
        "Cause": "Do not honour",
    }
    assert entered_input(result, "ReleaseStock")[0]["stock"] == {
        "available": True,
        "missingSkus": [],
        "total": 42.0,
        "currency": "GBP",
    }


# -- fan-out ------------------------------------------------------------------------------


def parcel(number: int, postcode: str = "M1 1AE", weight: float = 2.5) -> dict[str, Any]:
    return {"parcelId": f"p-{number}", "postcode": postcode, "weightKg": weight}


def iterations(result: ExecutionResult, kind: str) -> list[int]:
    return [details(e)["index"] for e in result.history() if e["type"] == f"MapIteration{kind}"]


def most_in_flight(result: ExecutionResult) -> int:
    running = peak = 0
    for event in result.history():
        if event["type"] == "MapIterationStarted":
            running += 1
            peak = max(peak, running)
        elif event["type"] in ("MapIterationSucceeded", "MapIterationFailed"):
            running -= 1
    return peak


def test_fanout_tolerates_failures_up_to_the_percentage() -> None:
    """2 of 5 parcels fail: 40% failed is not more than ToleratedFailurePercentage 40, so
    the Map succeeds ("your Map Run fails if this value is exceeded"; the percentage is
    failed items / all items). ItemSelector builds each iteration's input from the Map's
    input and ``$$.Map.Item.Index``/``Value``; MaxConcurrency 2 keeps at most two
    iterations running
    (https://docs.aws.amazon.com/step-functions/latest/dg/maprun-fail-threshold.html,
    https://docs.aws.amazon.com/step-functions/latest/dg/input-output-itemselector.html,
    https://docs.aws.amazon.com/step-functions/latest/dg/state-map-inline.html).

    AWS documents the failure threshold on the Distributed Map pages only; this Map is
    Inline (so its iterations appear in this history) and relies on the interpreter
    applying the same rule. The entries the Map's result holds for failed iterations are
    not documented either, so the workflow keeps only the labelled parcels (a JSONPath
    filter on ``trackingNumber``) and the test asserts nothing about those entries.
    """
    parcels = [
        parcel(1, "SW1A 1AA", 1.2),
        parcel(2, "", 0.4),
        parcel(3, "EC1A 1BB", 3.0),
        parcel(4, "W1A 0AX", 42),
        parcel(5, "M1 1AE", 7.5),
    ]
    result = run("fan-out", {"batchId": "b-7", "carrier": "UPS", "parcels": parcels})

    assert result.status == "SUCCEEDED"
    assert result.error is None
    assert result.output == {
        "batchId": "b-7",
        "parcelCount": 5,
        "labelledCount": 3,
        "trackingNumbers": ["UPS-b-7-000", "UPS-b-7-002", "UPS-b-7-004"],
        "summary": "3 of 5 parcels in batch b-7 labelled",
    }
    started = [e for e in result.history() if e["type"] == "MapStateStarted"]
    assert [details(e) for e in started] == [{"length": 5}]
    assert sorted(iterations(result, "Started")) == [0, 1, 2, 3, 4]
    assert sorted(iterations(result, "Succeeded")) == [0, 2, 4]
    assert sorted(iterations(result, "Failed")) == [1, 3]
    assert most_in_flight(result) == 2
    assert sorted(entered_input(result, "CreateLabel"), key=lambda e: e["sequence"]) == [
        {"batchId": "b-7", "carrier": "UPS", "sequence": index, "parcel": item}
        for index, item in enumerate(parcels)
    ]
    errors = [details(e)["error"] for e in result.history() if e["type"] == "LambdaFunctionFailed"]
    assert sorted(errors) == ["AddressValidationError", "ParcelTooHeavy"]
    assert "MapStateSucceeded" in types(result)
    check_chain(result)


def test_fanout_exceeding_the_threshold_fails_the_batch() -> None:
    """3 of 5 parcels fail (60% > 40%): the Map fails with
    States.ExceedToleratedFailureThreshold, which its Catch routes to a Fail state
    (https://docs.aws.amazon.com/step-functions/latest/dg/maprun-fail-threshold.html).
    AWS may still run some iterations after the threshold is crossed, so only the outcome
    is asserted here, not which iterations ran."""
    parcels = [parcel(1, ""), parcel(2), parcel(3, "?"), parcel(4), parcel(5, weight=31)]
    result = run("fan-out", {"batchId": "b-8", "carrier": "DHL", "parcels": parcels})

    assert result.status == "FAILED"
    assert result.output is None
    assert result.error == "States.ExceedToleratedFailureThreshold"
    assert result.cause == (
        "Batch b-8 rejected: more than 40% of its parcels could not be labelled"
    )
    event_types = types(result)
    assert "MapStateFailed" in event_types
    assert "MapStateSucceeded" not in event_types
    assert len(iterations(result, "Failed")) == 3
    assert event_types[-3:] == ["MapStateExited", "FailStateEntered", "ExecutionFailed"]
    caught = entered_input(result, "RejectBatch")[0]
    assert caught["failure"]["Error"] == "States.ExceedToleratedFailureThreshold"
    assert caught["parcels"] == parcels


def test_fanout_with_mocked_label_service() -> None:
    """A mock applies to every iteration of the state it names."""
    parcels = [parcel(1), parcel(2), parcel(3)]
    labelled = run(
        "fan-out",
        {"batchId": "b-9", "carrier": "DPD", "parcels": parcels},
        mocks={"CreateLabel": {"Return": {"parcelId": "any", "trackingNumber": "MOCK-1"}}},
    )
    assert labelled.status == "SUCCEEDED"
    assert labelled.output == {
        "batchId": "b-9",
        "parcelCount": 3,
        "labelledCount": 3,
        "trackingNumbers": ["MOCK-1", "MOCK-1", "MOCK-1"],
        "summary": "3 of 3 parcels in batch b-9 labelled",
    }

    down = run(
        "fan-out",
        {"batchId": "b-9", "carrier": "DPD", "parcels": parcels},
        mocks={"CreateLabel": {"Throw": {"Error": "CarrierUnavailable", "Cause": "503"}}},
    )
    assert down.status == "FAILED"
    assert down.error == "States.ExceedToleratedFailureThreshold"
    assert down.cause == "Batch b-9 rejected: more than 40% of its parcels could not be labelled"


# -- enrichment ---------------------------------------------------------------------------


def test_enrichment_merges_three_parallel_sources() -> None:
    """A Parallel state's result is the array of its branches' outputs in branch order.
    ``arn:aws:states:::lambda:invoke`` returns the Invoke API response, the function's
    return value under ``Payload``, which ResultSelector ``$.Payload`` unwraps.
    States.JsonMerge merges shallowly
    (https://docs.aws.amazon.com/step-functions/latest/dg/state-parallel.html,
    https://docs.aws.amazon.com/step-functions/latest/dg/connect-lambda.html,
    https://docs.aws.amazon.com/step-functions/latest/dg/intrinsic-functions.html#asl-intrsc-func-json-manipulate).
    """
    result = run("enrichment", {"customerId": "cus-42", "email": "ada@example.com"})

    assert result.status == "SUCCEEDED"
    assert result.error is None
    assert result.output == {
        "customerId": "cus-42",
        "email": "ada@example.com",
        "enriched": {
            "profile": {"name": "Ada Lovelace", "tier": "gold"},
            "credit": {"score": 812, "band": "excellent"},
            "orders": {"count": 3, "lifetimeValue": 412.75},
        },
    }
    assert exited_output(result, "Enrich")[0]["sources"] == [
        {"profile": {"name": "Ada Lovelace", "tier": "gold"}},
        {"credit": {"score": 812, "band": "excellent"}},
        {"orders": {"count": 3, "lifetimeValue": 412.75}},
    ]
    invoke = scheduled(result, "ScoreCredit")
    assert len(invoke) == 1
    assert details(invoke[0])["resourceType"] == "lambda"
    assert details(invoke[0])["resource"] == "invoke"
    assert json.loads(details(invoke[0])["parameters"]) == {
        "FunctionName": "arn:aws:lambda:us-east-1:123456789012:function:ScoreCredit",
        "Payload": {"customerId": "cus-42"},
    }
    succeeded = [e for e in result.history() if e["type"] == "TaskSucceeded"]
    response = json.loads(details(succeeded[0])["output"])
    assert response["Payload"] == {"score": 812, "band": "excellent"}
    assert response["StatusCode"] == 200
    event_types = types(result)
    assert event_types[:3] == ["ExecutionStarted", "ParallelStateEntered", "ParallelStateStarted"]
    assert event_types[-5:] == [
        "ParallelStateSucceeded",
        "ParallelStateExited",
        "PassStateEntered",
        "PassStateExited",
        "ExecutionSucceeded",
    ]
    assert event_types.count("LambdaFunctionScheduled") == 2
    assert event_types.count("TaskScheduled") == 1
    check_chain(result)


def test_enrichment_unknown_customer_is_caught_on_the_parallel_state() -> None:
    """A failing branch fails the whole Parallel state with the branch's error, which the
    Parallel state's own Catch can handle
    (https://docs.aws.amazon.com/step-functions/latest/dg/state-parallel.html)."""
    result = run("enrichment", {"customerId": "cus-99", "email": "nobody@example.com"})

    assert result.status == "FAILED"
    assert result.error == "UnknownCustomer"
    assert result.cause == "No customer record for cus-99"
    caught = entered_input(result, "UnknownCustomer")[0]
    assert caught["error"]["Error"] == "CustomerNotFound"
    assert json.loads(caught["error"]["Cause"])["errorMessage"] == "No customer with id cus-99"
    assert "ParallelStateFailed" in types(result)
    assert types(result)[-3:] == ["ParallelStateExited", "FailStateEntered", "ExecutionFailed"]


def test_enrichment_with_mocked_invoke_response() -> None:
    """Step Functions Local's mocked Return for a ``lambda:invoke`` Task is the whole
    service response (``{"StatusCode": 200, "Payload": {...}}``), which the state's
    ResultSelector then processes as it would the real response
    (https://docs.aws.amazon.com/step-functions/latest/dg/sfn-local-mock-cfg-file.html)."""
    mocks = {
        "ScoreCredit": {"Return": {"StatusCode": 200, "Payload": {"score": 540, "band": "poor"}}}
    }
    result = run("enrichment", {"customerId": "cus-77", "email": "alan@example.com"}, mocks=mocks)

    assert result.status == "SUCCEEDED"
    assert result.output == {
        "customerId": "cus-77",
        "email": "alan@example.com",
        "enriched": {
            "profile": {"name": "Alan Turing", "tier": "silver"},
            "credit": {"score": 540, "band": "poor"},
            "orders": {"count": 1, "lifetimeValue": 19.99},
        },
    }


def test_enrichment_throttled_bureau_is_retried_then_fails_the_execution() -> None:
    """The retrier on ScoreCredit waits 1, 2 and 4 seconds (BackoffRate 2); once it is
    exhausted the branch fails, the Parallel state fails with the branch's error and, not
    caught, so does the execution
    (https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html,
    https://docs.aws.amazon.com/step-functions/latest/dg/state-parallel.html)."""
    mocks = {
        "ScoreCredit": {
            "Throw": {"Error": "Lambda.TooManyRequestsException", "Cause": "Rate exceeded"}
        }
    }
    result = run("enrichment", {"customerId": "cus-42", "email": "ada@example.com"}, mocks=mocks)

    assert result.status == "FAILED"
    assert result.output is None
    assert result.error == "Lambda.TooManyRequestsException"
    assert result.cause == "Rate exceeded"
    assert [offset(e) for e in scheduled(result, "ScoreCredit")] == [0, 1, 3, 7]
    assert types(result).count("TaskFailed") == 4
    assert types(result)[-2:] == ["ParallelStateFailed", "ExecutionFailed"]
    assert result.stop_date == T0 + timedelta(seconds=7)


# -- poll -----------------------------------------------------------------------------------

JOB = {
    "jobName": "nightly-sales",
    "source": "s3://reports/sales-2024-04-30.csv",
    "rows": 2000,
    "pollIntervalSeconds": 30,
}


def test_poll_loop_runs_on_the_virtual_clock() -> None:
    """Three 30-second waits (SecondsPath) pass on the virtual clock: the history spans
    90 s while the run takes well under 2 s of real time. ``$$.State.EnteredTime`` gives
    the handlers the virtual time
    (https://docs.aws.amazon.com/step-functions/latest/dg/state-wait.html,
    https://docs.aws.amazon.com/step-functions/latest/dg/input-output-contextobject.html)."""
    began = time.monotonic()
    result = run("poll", JOB)
    elapsed = time.monotonic() - began

    assert result.status == "SUCCEEDED"
    assert result.error is None
    assert result.output == {
        "jobId": "job-nightly-sales",
        "status": "SUCCEEDED",
        "rowsProcessed": 2000,
    }
    assert elapsed < 2
    events = result.history()
    assert offset(events[-1]) - offset(events[0]) >= 90
    assert result.stop_date == T0 + timedelta(seconds=90)
    waits = state_events(result, "WaitForJob")
    assert [(e["type"], offset(e)) for e in waits] == [
        ("WaitStateEntered", 0),
        ("WaitStateExited", 30),
        ("WaitStateEntered", 30),
        ("WaitStateExited", 60),
        ("WaitStateEntered", 60),
        ("WaitStateExited", 90),
    ]
    checks = [json.loads(details(e)["input"]) for e in scheduled(result, "GetJobStatus")]
    assert [check["checkedAt"] for check in checks] == [
        "2024-05-01T09:00:30.000Z",
        "2024-05-01T09:01:00.000Z",
        "2024-05-01T09:01:30.000Z",
    ]
    assert [state["status"] for state in exited_output(result, "GetJobStatus")] == [
        {"status": "RUNNING", "rowsProcessed": 750},
        {"status": "RUNNING", "rowsProcessed": 1500},
        {"status": "SUCCEEDED", "rowsProcessed": 2000},
    ]
    loop = [
        "WaitStateEntered",
        "WaitStateExited",
        "TaskStateEntered",
        "LambdaFunctionScheduled",
        "LambdaFunctionStarted",
        "LambdaFunctionSucceeded",
        "TaskStateExited",
        "ChoiceStateEntered",
        "ChoiceStateExited",
    ]
    assert types(result) == [
        "ExecutionStarted",
        "TaskStateEntered",
        "LambdaFunctionScheduled",
        "LambdaFunctionStarted",
        "LambdaFunctionSucceeded",
        "TaskStateExited",
        *loop * 3,
        "PassStateEntered",
        "PassStateExited",
        "ExecutionSucceeded",
    ]
    check_chain(result)


def test_poll_failed_job() -> None:
    result = run("poll", {**JOB, "jobName": "bad-import", "source": "s3://reports/corrupt.csv"})

    assert result.status == "FAILED"
    assert result.error == "JobFailed"
    assert result.cause == "Job job-bad-import failed: Malformed CSV header"
    assert result.stop_date == T0 + timedelta(seconds=30)


def test_poll_execution_times_out() -> None:
    """The machine's TimeoutSeconds (600) stops a job that would need 40,000 s: the
    execution ends TIMED_OUT with the States.Timeout error exactly 600 s after it started,
    while a Wait is in progress, in well under 2 s of real time
    (https://docs.aws.amazon.com/step-functions/latest/dg/statemachine-structure.html,
    https://states-language.net/spec.html#toplevelfields). AWS documents the error name,
    not the cause text, so the cause is not asserted."""
    began = time.monotonic()
    result = run(
        "poll", {**JOB, "jobName": "full-export", "rows": 1_000_000, "pollIntervalSeconds": 45}
    )
    elapsed = time.monotonic() - began

    assert result.status == "TIMED_OUT"
    assert result.output is None
    assert result.error == "States.Timeout"
    assert elapsed < 2
    events = result.history()
    assert events[-1]["type"] == "ExecutionTimedOut"
    assert offset(events[-1]) == 600
    assert events[-2]["type"] == "WaitStateEntered"
    assert offset(events[-2]) == 585
    assert result.stop_date == T0 + timedelta(seconds=600)
    assert len(scheduled(result, "GetJobStatus")) == 13
    shape = result.describe()
    assert shape["status"] == "TIMED_OUT"
    assert "output" not in shape


def test_poll_rejected_submission_reports_the_lambda_error() -> None:
    """An exception in a Python handler fails the Task with the exception's class name as
    the error and the runtime's JSON error document as the cause; uncaught, they become the
    execution's error and cause
    (https://docs.aws.amazon.com/lambda/latest/dg/python-exceptions.html,
    https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html)."""
    result = run("poll", {**JOB, "jobName": "empty", "rows": 0})

    assert result.status == "FAILED"
    assert result.error == "InvalidJobRequest"
    assert result.cause is not None
    request_id = json.loads(result.cause)["requestId"]
    assert UUID.fullmatch(request_id)
    assert result.cause == lambda_error_cause(
        poll.submit_job,
        "raise InvalidJobRequest",
        "InvalidJobRequest",
        "Job 'empty' needs a source and rows > 0",
        request_id,
    )
    assert types(result) == [
        "ExecutionStarted",
        "TaskStateEntered",
        "LambdaFunctionScheduled",
        "LambdaFunctionStarted",
        "LambdaFunctionFailed",
        "ExecutionFailed",
    ]


@pytest.mark.parametrize(
    ("mock", "status", "error", "cause"),
    [
        (
            {"GetJobStatus": {"Return": {"status": "SUCCEEDED", "rowsProcessed": 7}}},
            "SUCCEEDED",
            None,
            None,
        ),
        (
            {"SubmitJob": {"Throw": {"Error": "ServiceQuotaExceeded", "Cause": "Too many jobs"}}},
            "FAILED",
            "ServiceQuotaExceeded",
            "Too many jobs",
        ),
    ],
)
def test_poll_with_mocked_service(
    mock: dict[str, Any], status: str, error: str | None, cause: str | None
) -> None:
    result = run("poll", JOB, mocks=mock)

    assert result.status == status
    assert result.error == error
    assert result.cause == cause
    if status == "SUCCEEDED":
        assert result.output == {
            "jobId": "job-nightly-sales",
            "status": "SUCCEEDED",
            "rowsProcessed": 7,
        }
        assert result.stop_date == T0 + timedelta(seconds=30)
    else:
        assert result.stop_date == T0


# -- invoices (the README's "fail, fix, redrive" story; on Redis: test_cli_recovery.py) ---


BILLING_RUN = {
    "period": "2026-04",
    "customers": [{"id": "acme", "units": 1200}, {"id": "globex", "units": 300}],
}


def test_invoices_are_built_approved_and_sent() -> None:
    """Each customer's invoice is built in the Map; RequestApproval passes ``$$.Task.Token``
    to its handler and waits (TaskSubmitted) until the token is answered; SendInvoices gets
    the approver from that answer
    (https://docs.aws.amazon.com/step-functions/latest/dg/connect-to-resource.html#connect-wait-token)."""
    result = run(
        "invoices",
        BILLING_RUN,
        callbacks={"RequestApproval": {"Return": {"approvedBy": "ada"}, "After": 3600}},
    )

    assert result.status == "SUCCEEDED", result.describe()
    assert result.output == {"period": "2026-04", "sent": 2, "total": 415.0, "approvedBy": "ada"}
    invoices = entered_input(result, "RequestApproval")[0]["invoices"]
    assert invoices[1] == {
        "invoiceId": "INV-2026-04-globex",
        "customer": "globex",
        "units": 300,
        "total": 95.0,
        "perUnit": 0.3167,
    }
    scheduled = next(e for e in result.history() if e["type"] == "TaskScheduled")
    payload = json.loads(details(scheduled)["parameters"])["Payload"]
    assert payload["taskToken"] == f"{ACCOUNT_ARN}:execution:invoices:local-1#{scheduled['id']}"
    submitted, succeeded = (
        next(e for e in result.history() if e["type"] == kind)
        for kind in ("TaskSubmitted", "TaskSucceeded")
    )
    assert offset(succeeded) - offset(submitted) == 3600  # the answer came an hour later
    check_chain(result)


def test_invoices_handler_bug_on_a_customer_without_usage() -> None:
    """The bug the README's story fixes, on purpose: 0 units divides by zero; the Map, then
    the execution, fail with the handler's error and Lambda's cause document."""
    customers = [*BILLING_RUN["customers"], {"id": "initech", "units": 0}]
    result = run("invoices", {**BILLING_RUN, "customers": customers})

    assert (result.status, result.error) == ("FAILED", "ZeroDivisionError")
    cause = json.loads(result.cause or "")
    assert (cause["errorType"], cause["errorMessage"]) == (
        "ZeroDivisionError",
        "float division by zero",
    )
    assert "round(total / units, 4)" in cause["stackTrace"][-1]
    assert sorted(iterations(result, "Succeeded")) == [0, 1]
    assert iterations(result, "Failed") == [2]
    assert "RequestApproval" not in json.dumps(result.history())
