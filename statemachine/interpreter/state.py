"""The execution's state: everything ``decide`` needs, built only by ``decide`` itself.

A *frame* runs one state machine: the root machine, one branch of a Parallel state, or
one iteration of a Map state. Frames progress independently; a Parallel or Map state
waits in its frame while child frames run.

The state is a snapshot of the fold over history: the runtime stores it in the same
atomic step as the events that produced it, and replaying the same inputs through
``decide`` rebuilds it exactly.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import BaseModel, Field, PrivateAttr

V = TypeVar("V")

Status = Literal["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"]


class Incomplete(Exception):
    """``decide`` needed an entry that the partial state it was given does not hold.

    The durable runtime loads only the frames an input touches (a Map with thousands of
    open iterations would otherwise be read and rewritten whole at every step). When the
    interpreter reaches further, it raises this; the caller loads ``field`` (or, when it is
    None, everything) and decides again from the stored state. Nothing was written.
    """

    def __init__(self, field: str | None) -> None:
        super().__init__(field)
        self.field = field


class PartialDict(dict[str, V]):
    """Some entries of a larger mapping, and the keys known to be absent from it.

    Reading a key that is neither raises :class:`Incomplete` with ``prefix + key``; so does
    anything that needs every entry (iterating, ``len``, ``clear``). Writes are plain.
    """

    def __init__(self, entries: dict[str, V], absent: set[str], prefix: str) -> None:
        super().__init__(entries)
        self.absent = absent
        self.prefix = prefix

    def _known(self, key: str) -> bool:
        if dict.__contains__(self, key):
            return True
        if key in self.absent:
            return False
        raise Incomplete(self.prefix + key)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._known(key)

    def __getitem__(self, key: str) -> V:
        if not self._known(key):
            raise KeyError(key)
        return dict.__getitem__(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        return dict.__getitem__(self, key) if self._known(key) else default

    def pop(self, key: str, *default: Any) -> Any:
        if self._known(key):
            self.absent.add(key)
            return dict.pop(self, key)
        if default:
            return default[0]
        raise KeyError(key)

    def __setitem__(self, key: str, value: V) -> None:
        self.absent.discard(key)
        dict.__setitem__(self, key, value)

    def __delitem__(self, key: str) -> None:
        self.pop(key)

    def _whole(self) -> None:
        raise Incomplete(None)

    def __iter__(self) -> Iterator[str]:
        self._whole()
        return dict.__iter__(self)

    def __len__(self) -> int:
        self._whole()
        return 0

    def keys(self) -> Any:
        self._whole()

    def values(self) -> Any:
        self._whole()

    def items(self) -> Any:
        self._whole()

    def clear(self) -> None:
        self._whole()

    def setdefault(self, key: str, default: Any = None) -> Any:
        self._whole()

    def update(self, *args: Any, **kwargs: Any) -> None:
        self._whole()

    def popitem(self) -> tuple[str, V]:
        self._whole()
        raise AssertionError

    def copy(self) -> dict[str, V]:
        self._whole()
        return {}


def entry(frame: Frame, index: int) -> str:
    """The key of a Parallel or Map frame's result or item ``index`` in its current run
    (the run is the id of its ParallelStateStarted or MapStateStarted event), so a run
    never reads what an earlier, failed run of the same state left behind."""
    return f"{frame.id}|{frame.started_id}|{index}"


class Waiting(BaseModel):
    """What a frame's current state is blocked on."""

    kind: Literal["task", "timer", "retry", "children"]
    token: str | None = None
    timer_id: str | None = None
    timeout_timer: str | None = None
    heartbeat_timer: str | None = None
    #: A Task's HeartbeatSeconds, evaluated when the state was entered.
    heartbeat_seconds: int | None = None
    started: bool = False
    #: A ``.waitForTaskToken`` Task: it completes by SendTaskSuccess/SendTaskFailure, not by
    #: its handler's return; ``submitted`` once the handler returned (TaskSubmitted).
    callback: bool = False
    submitted: bool = False
    #: Heartbeat timers armed so far: each gets an id of its own.
    beats: int = 0


class Frame(BaseModel):
    id: str
    parent: str | None = None
    scope: tuple[str | int, ...] = ()
    index: int = 0
    state: str | None = None
    input: Any = None
    entered_id: int = 0
    #: The previousEventId of the StateEntered event (AWS's previousEventId of EvaluationFailed).
    entered_previous: int = 0
    entered_time: str = ""
    last_id: int = 0
    retries: list[int] = Field(default_factory=list)
    retry_count: int = 0
    waiting: Waiting | None = None
    effective_input: Any = None
    done: bool = False
    #: The error its state failed with, once the frame failed (a redrive reruns a Parallel
    #: or Map that failed with States.DataLimitExceeded whole, as AWS does).
    error: str | None = None
    #: This frame's workflow-local variables (interpreter/variables.py) and their JSON sizes.
    variables: dict[str, Any] = Field(default_factory=dict)
    variable_sizes: dict[str, int] = Field(default_factory=dict)
    # Parallel / Map bookkeeping, for the state this frame is in. Its branches or iterations
    # are the frames whose ``parent`` is this one; their results and a Map's items are
    # entries of ``ExecutionState.results`` and ``.items`` (``entry``), one per index, so a
    # step of one iteration touches one entry, not a list as long as the Map.
    item_count: int = 0
    started_id: int = 0
    started_items: int = 0
    running: int = 0
    finished: int = 0
    failed: int = 0
    max_concurrency: int = 0
    tolerated_count: int | None = None
    tolerated_percentage: float | None = None
    #: A redriven Map: ids of its failed or aborted iterations (in ``ExecutionState.halted``)
    #: to run again before it starts new items.
    redo: list[str] = Field(default_factory=list)
    #: Where the frame's data (``FRAME_DATA``) is stored, when it was read without it.
    _data_field: str | None = PrivateAttr(default=None)

    def without_data(self, field: str) -> Frame:
        """This frame, read without its data (``input``, ``effective_input``: a Map's input
        may be large, and an ancestor's is rarely needed by a step below it). Reading or
        setting either then raises :class:`Incomplete` with ``field``."""
        for name in FRAME_DATA:
            self.__dict__.pop(name, None)
        self._data_field = field
        return self

    @property
    def data_field(self) -> str | None:
        """The field to read this frame's data from, if it was read without it."""
        return self._data_field

    if not TYPE_CHECKING:  # keeps type checkers from taking any attribute as valid

        def __getattr__(self, name: str) -> Any:
            if name in FRAME_DATA:
                raise Incomplete((self.__pydantic_private__ or {}).get("_data_field"))
            return super().__getattr__(name)

        def __setattr__(self, name: str, value: Any) -> None:
            if name in FRAME_DATA and name not in self.__dict__:
                missing = (self.__pydantic_private__ or {}).get("_data_field")
                if missing is not None:
                    # Setting one and not the other would lose the other when it is written.
                    raise Incomplete(missing)
            if name in _FRAME_FIELDS:
                # What pydantic does for a field when assignments are not validated, without
                # its handler lookup: the interpreter sets a dozen fields per state it runs.
                self.__dict__[name] = value
                self.__pydantic_fields_set__.add(name)
            else:
                super().__setattr__(name, value)


_FRAME_FIELDS = frozenset(Frame.model_fields)

#: A frame's data fields: kept apart from its other fields by the durable store.
FRAME_DATA = ("input", "effective_input")


class ExecutionState(BaseModel):
    execution_arn: str = ""
    name: str = ""
    state_machine_arn: str = ""
    state_machine_name: str = ""
    role_arn: str = ""
    start_time: str = ""
    input: Any = None
    status: Status = "RUNNING"
    output: Any = None
    error: str | None = None
    cause: str | None = None
    last_event_id: int = 0
    frames: dict[str, Frame] = Field(default_factory=dict)
    #: Branch and iteration results, and Map items, by ``entry(frame id, run, index)``.
    results: dict[str, Any] = Field(default_factory=dict)
    items: dict[str, Any] = Field(default_factory=dict)
    tasks: dict[str, str] = Field(default_factory=dict)
    timers: dict[str, str] = Field(default_factory=dict)
    execution_timer: str | None = None
    #: Branches and iterations that failed or were aborted, kept while the Parallel or Map
    #: state they belong to has not moved on: what a redrive runs again (redrive.py).
    halted: dict[str, Frame] = Field(default_factory=dict)
    redrive_count: int = 0
    #: When the execution was last redriven (``$$.Execution.RedriveTime``).
    redrive_time: str | None = None

    @property
    def running(self) -> bool:
        return self.status == "RUNNING"

    def waiting_on(self, token: str) -> Waiting | None:
        """What the task with ``token`` is waiting on, if it is still awaited."""
        frame_id = self.tasks.get(token)
        frame = self.frames.get(frame_id) if frame_id is not None else None
        if frame is None or frame.waiting is None or frame.waiting.token != token:
            return None
        return frame.waiting

    def awaits_handler(self, token: str) -> bool:
        """True while the handler of the task with ``token`` has yet to report: False once
        it did, even if a ``.waitForTaskToken`` task still waits for its callback."""
        waiting = self.waiting_on(token)
        return waiting is not None and not waiting.submitted

    def awaits_callback(self, token: str) -> bool:
        """True while a ``.waitForTaskToken`` task with ``token`` can be completed by
        SendTaskSuccess / SendTaskFailure / SendTaskHeartbeat."""
        waiting = self.waiting_on(token)
        return waiting is not None and waiting.callback
