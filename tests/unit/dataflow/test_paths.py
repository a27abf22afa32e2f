"""``Path.is_root``: the interpreter returns the input itself for a ``$`` InputPath or
OutputPath (their default) without evaluating it, so only ``$`` may claim to be the root."""

from __future__ import annotations

import pytest

from statemachine.dataflow.paths import compile_path
from statemachine.dataflow.scope import Scope


@pytest.mark.parametrize(
    ("text", "root"),
    [("$", True), ("$$", False), ("$x", False), ("$.a", False), ("$[0]", False), ("$..a", False)],
)
def test_only_dollar_is_the_root(text: str, root: bool) -> None:
    path = compile_path(text)
    assert path.is_root is root
    scope = Scope(input={"a": 1}, context={"b": 2}, variables={"x": 3})
    if root:
        assert path.select(scope) is scope.input
