"""A partial state (``PartialDict``): what the durable runtime gives ``decide`` when it read
only the frames one input touches. Reaching past what was read must raise ``Incomplete``
(never answer as if the entry did not exist), and ``decide`` must let that through instead
of failing the execution with States.Runtime."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from statemachine.interpreter import inputs
from statemachine.interpreter.decide import decide
from statemachine.interpreter.state import Incomplete, PartialDict
from statemachine.language.load import load_definition

NOW = datetime(2026, 12, 6, tzinfo=UTC)


def partial() -> PartialDict[str]:
    return PartialDict({"a": "1"}, {"gone"}, "k:")


def test_loaded_and_known_absent_keys_answer() -> None:
    entries = partial()
    assert entries.get("a") == "1" and entries["a"] == "1" and "a" in entries
    assert entries.get("gone") is None and "gone" not in entries
    assert entries.pop("gone", "default") == "default"
    with pytest.raises(KeyError):
        entries["gone"]


def test_an_unread_key_raises_incomplete_with_its_field() -> None:
    entries = partial()
    for reach in (lambda: entries.get("b"), lambda: "b" in entries, lambda: entries["b"],
                  lambda: entries.pop("b", None)):
        with pytest.raises(Incomplete) as raised:
            reach()
        assert raised.value.field == "k:b"


def test_needing_every_entry_raises_incomplete_for_everything() -> None:
    entries = partial()
    for reach in (lambda: list(entries), lambda: len(entries), lambda: entries.values(),
                  lambda: entries.items(), lambda: entries.keys(), entries.clear,
                  lambda: dict(entries), entries.copy):
        with pytest.raises(Incomplete) as raised:
            reach()
        assert raised.value.field is None


def test_writes_are_remembered_as_present_or_absent() -> None:
    entries = partial()
    entries["b"] = "2"
    assert entries.get("b") == "2"
    assert entries.pop("a") == "1"
    assert entries.get("a") is None  # popped: known to be absent now, no Incomplete
    del entries["b"]
    assert "b" not in entries


def test_decide_lets_incomplete_through_and_the_full_state_decides() -> None:
    definition = load_definition(
        '{"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 5, "End": true}}}'
    )
    started = decide(definition, None, inputs.StartExecution(
        time=NOW, input={}, execution_arn="arn:x", name="x", state_machine_arn="arn:m",
        state_machine_name="m"))
    [timer_id] = started.state.timers
    full = started.state.model_copy(deep=True)
    # Read without the timer's entry: decide asks for it rather than ignoring the timer.
    lacking = started.state.model_copy(deep=True)
    lacking.timers = PartialDict({}, set(), "t:")
    lacking.frames = PartialDict({}, set(), "f:")
    with pytest.raises(Incomplete) as raised:
        decide(definition, lacking, inputs.TimerFired(time=NOW, timer_id=timer_id))
    assert raised.value.field == f"t:{timer_id}"
    done = decide(definition, full, inputs.TimerFired(time=NOW, timer_id=timer_id))
    assert done.state.status == "SUCCEEDED"
