"""JSONPath as ASL uses it, compiled once when a definition loads.

- A *Path* (InputPath, OutputPath, ``.$`` template values, ItemsPath) may select many
  nodes; AWS (Jayway JsonPath underneath) returns one value for a definite path and a list
  for an indefinite one (wildcards, slices, filters, ``..``, unions).
- A *Reference Path* (ResultPath, Choice Variable, the ``*Path`` fields of Wait, Fail,
  Task) identifies exactly one node: only names and array indices.
- ``$$`` reads the context object instead of the state input.
- ``$name`` (``$name.field[0]``...) reads the workflow variable ``name`` (``scope.variables``):
  "You can reference a variable in any field that accepts a JSONPath expression (``$.`` or
  ``$$.`` syntax), except ResultPath", which :func:`compile_reference_path` refuses with
  ``variables=False``.

References: https://states-language.net/spec.html#path,
https://docs.aws.amazon.com/step-functions/latest/dg/amazon-states-language-paths.html,
https://docs.aws.amazon.com/step-functions/latest/dg/workflow-variables.html
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

from jsonpath_ng import jsonpath as jp
from jsonpath_ng.ext import parse as _parse  # type: ignore[attr-defined]

from statemachine.dataflow.scope import Scope


class PathSyntaxError(ValueError):
    """The text is not a JSONPath that ASL accepts."""


class PathNotFound(LookupError):
    """A definite path selected nothing."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


class VariableNotFound(PathNotFound):
    """A variable path names a variable that no enclosing scope has assigned."""

    def __init__(self, path: str, name: str) -> None:
        super().__init__(path)
        self.name = name


class ResultPathMismatch(LookupError):
    """A ResultPath cannot be written into the given input."""


#: ``$`` followed by a variable name (a Unicode identifier, AWS: ID_Start then ID_Continue).
_VARIABLE = re.compile(r"\$([^\W\d]\w*)")


def _flatten(node: Any) -> list[Any]:
    """The steps of a Child chain, root first (a loop: paths can be thousands of steps)."""
    steps: list[Any] = []
    while isinstance(node, jp.Child):
        steps.append(node.right)
        node = node.left
    steps.append(node)
    steps.reverse()
    return steps


def _is_definite(node: Any) -> bool:
    for step in _flatten(node):
        if isinstance(step, jp.Root | jp.This):
            continue
        if isinstance(step, jp.Fields) and len(step.fields) == 1 and step.fields[0] != "*":
            continue
        if isinstance(step, jp.Index) and len(step.indices) == 1:
            continue
        return False
    return True


def _reference_steps(node: Any) -> list[str | int] | None:
    """The chain of names and indices of a reference path, or None if it is not one."""
    head, *rest = _flatten(node)
    if not isinstance(head, jp.Root):
        return None
    steps: list[str | int] = []
    for step in rest:
        if isinstance(step, jp.Fields) and len(step.fields) == 1 and step.fields[0] != "*":
            steps.append(step.fields[0])
        elif isinstance(step, jp.Index) and len(step.indices) == 1:
            steps.append(int(step.indices[0]))
        else:
            return None
    return steps


@dataclass(frozen=True)
class Path:
    """A compiled Path: evaluate with :meth:`select` against a :class:`Scope`."""

    text: str
    on_context: bool
    definite: bool
    steps: tuple[str | int, ...] | None
    _expr: Any = field(repr=False, compare=False)
    #: The workflow variable the path starts from (``$name...``), None for ``$`` and ``$$``.
    variable: str | None = None

    @property
    def is_reference(self) -> bool:
        return self.steps is not None

    @property
    def is_root(self) -> bool:
        """``$``: selects the whole input (InputPath's and OutputPath's default)."""
        return self.steps == () and self.variable is None and not self.on_context

    def select(self, scope: Scope) -> Any:
        """The value this path selects; raises PathNotFound when a definite path misses."""
        if self.variable is not None:
            if self.variable not in scope.variables:
                raise VariableNotFound(self.text, self.variable)
            data = scope.variables[self.variable]
        else:
            data = scope.context if self.on_context else scope.input
        if self.steps is not None:
            return _walk(data, self.steps, self.text)
        matches = [m.value for m in self._expr.find(data)]
        if self.definite:
            if not matches:
                raise PathNotFound(self.text)
            return matches[0]
        return matches


def _walk(data: Any, steps: tuple[str | int, ...], text: str) -> Any:
    node = data
    for step in steps:
        if isinstance(step, int):
            if not isinstance(node, list):
                raise PathNotFound(text)
            index = step if step >= 0 else len(node) + step
            if not 0 <= index < len(node):
                raise PathNotFound(text)
            node = node[index]
        else:
            if not isinstance(node, dict) or step not in node:
                raise PathNotFound(text)
            node = node[step]
    return node


def compile_path(text: str, *, variables: bool = True) -> Path:
    """Compile a Path (``$...`` on the input, ``$$...`` on the context object, ``$name...`` on a
    workflow variable unless ``variables`` is False)."""
    if not isinstance(text, str) or not text.startswith("$"):
        raise PathSyntaxError(f"'{text}' is not a valid JSONPath: a path must begin with '$'")
    on_context = text.startswith("$$")
    body = text[1:] if on_context else text
    variable = _VARIABLE.match(text)
    name = variable.group(1) if variable is not None else None
    if name is not None:
        if not variables:
            raise PathSyntaxError(
                f"'{text}' is not a valid JSONPath: variables cannot be used here"
            )
        body = "$" + text[len(name) + 1 :]
    try:
        expr = _parse(body)
    except Exception as exc:  # jsonpath-ng raises several unrelated types
        raise PathSyntaxError(f"'{text}' is not a valid JSONPath: {exc}") from None
    steps = _reference_steps(expr)
    return Path(
        text=text,
        on_context=on_context,
        definite=_is_definite(expr),
        steps=tuple(steps) if steps is not None else None,
        _expr=expr,
        variable=name,
    )


def compile_reference_path(text: str, *, variables: bool = True) -> Path:
    """Compile a Reference Path: names and single indices only (ResultPath: ``variables=False``)."""
    path = compile_path(text, variables=variables)
    if not path.is_reference:
        raise PathSyntaxError(
            f"'{text}' is not a valid Reference Path: only names and array indices are allowed"
        )
    return path


def write_result(data: Any, path: Path, value: Any) -> Any:
    """Return a copy of ``data`` with ``value`` placed at the reference ``path`` (ResultPath).

    Missing objects on the way are created; writing through a value that is not an object
    raises ResultPathMismatch (AWS: States.ResultPathMatchFailure).
    """
    assert path.steps is not None
    if not path.steps:
        return value
    root = copy.deepcopy(data)
    if not isinstance(root, dict | list):
        raise ResultPathMismatch(path.text)
    node: Any = root
    for step, following in zip(path.steps, [*path.steps[1:], None], strict=True):
        last = following is None
        if isinstance(step, int):
            if not isinstance(node, list) or not -len(node) <= step < len(node):
                raise ResultPathMismatch(path.text)
            if last:
                node[step] = value
            else:
                node = node[step]
            continue
        if not isinstance(node, dict):
            raise ResultPathMismatch(path.text)
        if last:
            node[step] = value
        else:
            if step not in node:
                node[step] = {} if not isinstance(following, int) else []
            node = node[step]
    return root
