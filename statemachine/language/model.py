"""The parsed definition: one pydantic model per state type, AWS field names as aliases.

Structure only (types, required and unknown fields, value ranges); rules that span fields
or states live in checks.py. Paths and templates compile as they load (fields.py); the JSONata
fields (Arguments, Output, Assign, Items, ``{% %}`` values) and every Assign arrive compiled by
query_language.py, which knows each state's query language (``State.language``).

Reference: https://states-language.net/spec.html and
https://docs.aws.amazon.com/step-functions/latest/dg/concepts-amazon-states-language.html
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, StrictBool, StrictInt, StrictStr

from statemachine.language.fields import (
    ROOT,
    ItemSelectorField,
    NonNegativeIntOrExpression,
    PathField,
    PathOrIntrinsicField,
    PercentageOrExpression,
    PositiveIntOrExpression,
    ReferencePathField,
    ResultPathField,
    StringOrExpression,
    TemplateField,
)

PositiveInt = Annotated[StrictInt, Field(ge=1, le=99_999_999)]
NonNegativeInt = Annotated[StrictInt, Field(ge=0, le=99_999_999)]
Number = StrictInt | Annotated[float, Field(strict=True)]
QueryLanguage = Literal["JSONPath", "JSONata"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=False, frozen=False)


class Retrier(_Model):
    error_equals: Annotated[list[StrictStr], Field(min_length=1)] = Field(alias="ErrorEquals")
    interval_seconds: PositiveInt = Field(default=1, alias="IntervalSeconds")
    max_attempts: NonNegativeInt = Field(default=3, alias="MaxAttempts")
    backoff_rate: Annotated[Number, Field(ge=1.0)] = Field(default=2.0, alias="BackoffRate")
    max_delay_seconds: Annotated[StrictInt, Field(ge=1, le=31_622_400)] | None = Field(
        default=None, alias="MaxDelaySeconds"
    )
    jitter_strategy: Literal["FULL", "NONE"] = Field(default="NONE", alias="JitterStrategy")
    comment: StrictStr | None = Field(default=None, alias="Comment")


class Catcher(_Model):
    error_equals: Annotated[list[StrictStr], Field(min_length=1)] = Field(alias="ErrorEquals")
    next: StrictStr = Field(alias="Next")
    result_path: ResultPathField | None = Field(default=ROOT, alias="ResultPath")
    comment: StrictStr | None = Field(default=None, alias="Comment")
    # Compiled by query_language.py: a JsonataTemplate (JSONata) or a payload Template.
    output: Any = Field(default=None, alias="Output")
    assign: Any = Field(default=None, alias="Assign")


class _State(_Model):
    comment: StrictStr | None = Field(default=None, alias="Comment")
    query_language: QueryLanguage | None = Field(default=None, alias="QueryLanguage")
    # The effective query language (the state's own, else the machine's), set by load.py.
    _language: str = PrivateAttr(default="JSONPath")

    # The properties read private attributes from ``__pydantic_private__`` directly:
    # ``self._x`` goes through pydantic's ``__getattr__``, several times slower, and these
    # are read at every state the interpreter runs.
    @property
    def language(self) -> str:
        return self.__pydantic_private__["_language"]  # type: ignore[no-any-return,index]

    @property
    def jsonata(self) -> bool:
        return self.language == "JSONata"

    @property
    def next_state(self) -> str | None:
        return getattr(self, "next", None)

    @property
    def is_end(self) -> bool:
        return bool(getattr(self, "end", False))


class _Flow(_State):
    next: StrictStr | None = Field(default=None, alias="Next")
    end: StrictBool | None = Field(default=None, alias="End")
    input_path: PathField | None = Field(default=ROOT, alias="InputPath")
    output_path: PathField | None = Field(default=ROOT, alias="OutputPath")
    # JSONata Output (a JsonataTemplate; None when absent) and Assign (compiled, either language).
    output: Any = Field(default=None, alias="Output")
    assign: Any = Field(default=None, alias="Assign")


class PassState(_Flow):
    type: Literal["Pass"] = Field(alias="Type")
    result: Any = Field(default=None, alias="Result")
    parameters: TemplateField | None = Field(default=None, alias="Parameters")
    result_path: ResultPathField | None = Field(default=ROOT, alias="ResultPath")

    @property
    def has_result(self) -> bool:
        return "result" in self.model_fields_set


class _Errors(_Flow):
    result_selector: TemplateField | None = Field(default=None, alias="ResultSelector")
    result_path: ResultPathField | None = Field(default=ROOT, alias="ResultPath")
    retry: list[Retrier] = Field(default_factory=list, alias="Retry")
    catch: list[Catcher] = Field(default_factory=list, alias="Catch")


class TaskState(_Errors):
    type: Literal["Task"] = Field(alias="Type")
    resource: StrictStr = Field(alias="Resource")
    parameters: TemplateField | None = Field(default=None, alias="Parameters")
    arguments: Any = Field(default=None, alias="Arguments")
    timeout_seconds: PositiveIntOrExpression | None = Field(default=None, alias="TimeoutSeconds")
    timeout_seconds_path: ReferencePathField | None = Field(
        default=None, alias="TimeoutSecondsPath"
    )
    heartbeat_seconds: PositiveIntOrExpression | None = Field(
        default=None, alias="HeartbeatSeconds"
    )
    heartbeat_seconds_path: ReferencePathField | None = Field(
        default=None, alias="HeartbeatSecondsPath"
    )
    credentials: dict[str, Any] | None = Field(default=None, alias="Credentials")


class ChoiceState(_State):
    type: Literal["Choice"] = Field(alias="Type")
    choices: Annotated[list[Any], Field(min_length=1)] = Field(alias="Choices")
    default: StrictStr | None = Field(default=None, alias="Default")
    input_path: PathField | None = Field(default=ROOT, alias="InputPath")
    output_path: PathField | None = Field(default=ROOT, alias="OutputPath")
    output: Any = Field(default=None, alias="Output")
    assign: Any = Field(default=None, alias="Assign")
    # Compiled by checks.py, where each rule's location is known: JSONPath ChoiceRules or
    # JSONata ConditionRules, and each top-level rule's compiled Assign (or None).
    _rules: list[Any] = PrivateAttr(default_factory=list)
    _rule_assigns: list[Any] = PrivateAttr(default_factory=list)

    @property
    def rules(self) -> list[Any]:
        return self.__pydantic_private__["_rules"]  # type: ignore[no-any-return,index]

    @property
    def rule_assigns(self) -> list[Any]:
        return self.__pydantic_private__["_rule_assigns"]  # type: ignore[no-any-return,index]


class WaitState(_Flow):
    type: Literal["Wait"] = Field(alias="Type")
    seconds: NonNegativeIntOrExpression | None = Field(default=None, alias="Seconds")
    seconds_path: ReferencePathField | None = Field(default=None, alias="SecondsPath")
    timestamp: StringOrExpression | None = Field(default=None, alias="Timestamp")
    timestamp_path: ReferencePathField | None = Field(default=None, alias="TimestampPath")


class SucceedState(_State):
    type: Literal["Succeed"] = Field(alias="Type")
    input_path: PathField | None = Field(default=ROOT, alias="InputPath")
    output_path: PathField | None = Field(default=ROOT, alias="OutputPath")
    output: Any = Field(default=None, alias="Output")


class FailState(_State):
    type: Literal["Fail"] = Field(alias="Type")
    error: StringOrExpression | None = Field(default=None, alias="Error")
    cause: StringOrExpression | None = Field(default=None, alias="Cause")
    error_path: PathOrIntrinsicField | None = Field(default=None, alias="ErrorPath")
    cause_path: PathOrIntrinsicField | None = Field(default=None, alias="CausePath")


class ParallelState(_Errors):
    type: Literal["Parallel"] = Field(alias="Type")
    branches: Annotated[list[StateMachine], Field(min_length=1)] = Field(alias="Branches")
    parameters: TemplateField | None = Field(default=None, alias="Parameters")
    arguments: Any = Field(default=None, alias="Arguments")


class ProcessorConfig(_Model):
    mode: Literal["INLINE", "DISTRIBUTED"] = Field(default="INLINE", alias="Mode")
    execution_type: Literal["STANDARD", "EXPRESS"] | None = Field(
        default=None, alias="ExecutionType"
    )


class ItemProcessor(_Model):
    start_at: StrictStr = Field(alias="StartAt")
    states: dict[str, State] = Field(alias="States")
    comment: StrictStr | None = Field(default=None, alias="Comment")
    processor_config: ProcessorConfig = Field(
        default_factory=ProcessorConfig, alias="ProcessorConfig"
    )


class MapState(_Errors):
    type: Literal["Map"] = Field(alias="Type")
    item_processor: ItemProcessor | None = Field(default=None, alias="ItemProcessor")
    iterator: ItemProcessor | None = Field(default=None, alias="Iterator")
    items_path: ReferencePathField | None = Field(default=ROOT, alias="ItemsPath")
    items: Any = Field(default=None, alias="Items")
    item_selector: ItemSelectorField | None = Field(default=None, alias="ItemSelector")
    parameters: TemplateField | None = Field(default=None, alias="Parameters")
    max_concurrency: NonNegativeIntOrExpression | None = Field(default=None, alias="MaxConcurrency")
    max_concurrency_path: ReferencePathField | None = Field(
        default=None, alias="MaxConcurrencyPath"
    )
    tolerated_failure_count: NonNegativeIntOrExpression | None = Field(
        default=None, alias="ToleratedFailureCount"
    )
    tolerated_failure_count_path: ReferencePathField | None = Field(
        default=None, alias="ToleratedFailureCountPath"
    )
    tolerated_failure_percentage: PercentageOrExpression | None = Field(
        default=None, alias="ToleratedFailurePercentage"
    )
    tolerated_failure_percentage_path: ReferencePathField | None = Field(
        default=None, alias="ToleratedFailurePercentagePath"
    )
    label: StrictStr | None = Field(default=None, alias="Label")
    item_reader: dict[str, Any] | None = Field(default=None, alias="ItemReader")
    item_batcher: dict[str, Any] | None = Field(default=None, alias="ItemBatcher")
    result_writer: dict[str, Any] | None = Field(default=None, alias="ResultWriter")

    @property
    def processor(self) -> ItemProcessor:
        processor = self.item_processor or self.iterator
        assert processor is not None  # checks.py requires exactly one
        return processor

    @property
    def selector(self) -> Any:
        return self.item_selector or self.parameters


State = Annotated[
    PassState
    | TaskState
    | ChoiceState
    | WaitState
    | SucceedState
    | FailState
    | ParallelState
    | MapState,
    Field(discriminator="type"),
]

STATE_TYPES = ("Pass", "Task", "Choice", "Wait", "Succeed", "Fail", "Parallel", "Map")


class StateMachine(_Model):
    """A machine: the top level, a Parallel branch or (model_construct) a Map processor.

    A branch or processor declares no QueryLanguage (AWS: "Field 'QueryLanguage' is not
    supported", measured in https://github.com/floci-io/floci/issues/2968).
    """

    start_at: StrictStr = Field(alias="StartAt")
    states: dict[str, State] = Field(alias="States")
    comment: StrictStr | None = Field(default=None, alias="Comment")


class Definition(StateMachine):
    """The top-level machine: a StateMachine plus Version, TimeoutSeconds, QueryLanguage."""

    version: StrictStr | None = Field(default=None, alias="Version")
    timeout_seconds: PositiveInt | None = Field(default=None, alias="TimeoutSeconds")
    query_language: QueryLanguage | None = Field(default=None, alias="QueryLanguage")


AnyState = (
    PassState
    | TaskState
    | ChoiceState
    | WaitState
    | SucceedState
    | FailState
    | ParallelState
    | MapState
)

ParallelState.model_rebuild()
ItemProcessor.model_rebuild()
MapState.model_rebuild()
StateMachine.model_rebuild()
Definition.model_rebuild()
