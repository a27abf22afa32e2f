"""A frame read without its data (``Frame.without_data``, commit 32ccfea).

The durable store keeps a frame's data (``input``, ``effective_input``) in a ``d:<frame id>``
field of its own, and a partial read takes the ancestors of the frame it was asked for
without theirs (a Map's input may be as large as the Map). Such a frame must never pass
for one whose data is None: reading either data field raises ``Incomplete`` naming where
the data is, so ``Runtime.step`` reads again with it; setting one raises too (writing one
and not the other would lose the other). Everything else about the frame works as usual.
"""

from __future__ import annotations

from typing import Any

import pytest

from statemachine.interpreter.state import FRAME_DATA, Frame, Incomplete, Waiting

FIELD = "d:/3.1"
MAP_INPUT = {"items": [{"n": n, "text": "x" * 20} for n in range(3)]}


def stored(**fields: Any) -> Frame:
    """A Map iteration's frame as a step of one of its own iterations finds it."""
    return Frame(
        id="/3.1",
        parent="",
        scope=("Each", -1),
        index=1,
        state="Inner",
        input=MAP_INPUT,
        effective_input=MAP_INPUT["items"],
        entered_id=12,
        running=2,
        item_count=3,
        waiting=Waiting(kind="children"),
        **fields,
    )


def without() -> Frame:
    return stored().without_data(FIELD)


def test_the_data_fields_are_input_and_effective_input() -> None:
    """What the store splits off into ``d:`` and what ``without_data`` guards are the same
    two fields (a third data field added to one and not the other would be lost)."""
    assert set(FRAME_DATA) == {"input", "effective_input"}


def test_without_data_marks_the_frame_itself_and_reports_the_field() -> None:
    """``without_data`` marks the frame in place and returns it; ``data_field`` names where
    its data is stored, and is None for a frame read whole (or built by the interpreter)."""
    frame = stored()
    assert frame.data_field is None
    assert Frame(id="").data_field is None
    assert frame.without_data(FIELD) is frame
    assert frame.data_field == FIELD


@pytest.mark.parametrize("name", FRAME_DATA)
def test_reading_either_data_field_raises_incomplete_with_its_field(name: str) -> None:
    """Reading ``input`` or ``effective_input`` raises Incomplete naming the ``d:`` field,
    instead of answering with a value the frame never had."""
    frame = without()
    with pytest.raises(Incomplete) as raised:
        getattr(frame, name)
    assert raised.value.field == FIELD


@pytest.mark.parametrize("name", FRAME_DATA)
def test_data_that_was_none_is_not_taken_for_none_once_unread(name: str) -> None:
    """A frame whose data was None (a Parallel's input may be null) still raises once it
    is read without it: an unread value is not a null one."""
    frame = Frame(id="/0.0", parent="").without_data("d:/0.0")
    with pytest.raises(Incomplete) as raised:
        getattr(frame, name)
    assert raised.value.field == "d:/0.0"


@pytest.mark.parametrize("name", FRAME_DATA)
def test_setting_either_data_field_raises_and_leaves_the_frame_unchanged(name: str) -> None:
    """Setting one data field of a frame read without them raises Incomplete (written
    alone, it would overwrite the stored ``d:`` and lose the other): the frame keeps its
    mark and every other field, and neither data field appears."""
    frame = without()
    before = frame.model_dump(exclude=set(FRAME_DATA))
    with pytest.raises(Incomplete) as raised:
        setattr(frame, name, {"replaced": True})
    assert raised.value.field == FIELD
    assert frame.data_field == FIELD
    assert frame.model_dump(exclude=set(FRAME_DATA)) == before
    for data in FRAME_DATA:
        assert data not in frame.__dict__
        with pytest.raises(Incomplete):
            getattr(frame, data)


def test_other_fields_read_and_set_as_usual() -> None:
    """Everything but the data works on a frame read without it: the counters a Map
    iteration's step changes, its waiting state, its identity."""
    frame = without()
    assert (frame.id, frame.parent, frame.index, frame.state) == ("/3.1", "", 1, "Inner")
    assert (frame.running, frame.item_count, frame.entered_id) == (2, 3, 12)
    assert frame.waiting is not None and frame.waiting.kind == "children"
    frame.running -= 1
    frame.finished += 1
    frame.last_id = 40
    frame.waiting = None
    frame.redo = ["/3.1/11.0"]
    assert (frame.running, frame.finished, frame.last_id) == (1, 1, 40)
    assert frame.waiting is None and frame.redo == ["/3.1/11.0"]
    assert frame.data_field == FIELD  # still read without its data


def test_a_frame_read_whole_reads_and_sets_its_data_as_usual() -> None:
    """The guard is for marked frames only: an unmarked frame's data reads and sets
    normally, None included."""
    frame = stored()
    assert frame.input == MAP_INPUT
    assert frame.effective_input == MAP_INPUT["items"]
    frame.input = None
    frame.effective_input = [1]
    assert (frame.input, frame.effective_input) == (None, [1])


@pytest.mark.parametrize("deep", [False, True])
def test_model_copy_keeps_the_mark(deep: bool) -> None:
    """A copy of a frame read without its data is one too (``decide`` copies the state it
    is given): reading or setting its data raises with the same field, and the original
    is untouched."""
    frame = without()
    copy = frame.model_copy(deep=deep)
    assert copy is not frame
    assert copy.data_field == FIELD
    assert copy.model_dump(exclude=set(FRAME_DATA)) == frame.model_dump(exclude=set(FRAME_DATA))
    with pytest.raises(Incomplete) as raised:
        _ = copy.input
    assert raised.value.field == FIELD
    with pytest.raises(Incomplete):
        copy.effective_input = 1
    copy.running = 0
    assert frame.running == 2


def test_dumping_without_the_data_fields_works_and_holds_the_rest() -> None:
    """``model_dump_json(exclude={"input", "effective_input"})`` (what the store writes to a
    frame's ``f:`` field) works on a frame read without its data and gives exactly what it
    gives for the same frame read whole."""
    whole = stored()
    frame = without()
    exclude = {"input", "effective_input"}
    text = frame.model_dump_json(exclude=exclude)
    assert text == whole.model_dump_json(exclude=exclude)
    assert Frame.model_validate_json(text).running == 2
    assert frame.model_dump_json(exclude_defaults=True, exclude=exclude) == (
        whole.model_dump_json(exclude_defaults=True, exclude=exclude)
    )


def test_assignment_matches_pydantics_own() -> None:
    """``Frame.__setattr__`` writes a field itself (the interpreter sets a dozen per state),
    which is what pydantic does only while assignments are not validated: a frame set field
    by field equals one built with the same values, counts the fields as set, and an
    unknown name is refused as pydantic refuses it."""
    assert not Frame.model_config.get("validate_assignment")
    frame = Frame(id="/0")
    frame.state, frame.last_id, frame.retries = "A", 7, [1]
    assert frame == Frame(id="/0", state="A", last_id=7, retries=[1])
    assert {"state", "last_id", "retries"} <= frame.model_fields_set
    assert frame.model_dump_json(exclude_defaults=True) == (
        '{"id":"/0","state":"A","last_id":7,"retries":[1]}'
    )
    with pytest.raises(ValueError, match="no field"):
        frame.not_a_field = 1  # type: ignore[attr-defined]
