"""The JSON depth check against a plain recursive count, on generated documents and hand-made edge cases."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coachiq.core.jsonlimits import MAX_JSON_DEPTH, JsonTooDeep, exceeds_depth, loads_limited


def _depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    return 0


# Strings full of brackets and quotes, which must not count.
_text = st.text(alphabet='[]{}"\\ab,:', max_size=6)
_documents = st.recursive(st.none() | st.integers() | _text,
                          lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
                          max_leaves=60)


def _nest(depth: int) -> Any:
    value: Any = 1
    for level in range(depth):
        value = [value] if level % 2 else {"k[": value}
    return value


@given(_documents, st.integers(min_value=0, max_value=6))
@settings(max_examples=400, deadline=None)
def test_depth_check_agrees_with_a_recursive_count(document: Any, limit: int) -> None:
    text = json.dumps(document)
    assert exceeds_depth(text, limit) == (_depth(document) > limit)
    assert exceeds_depth(text.encode(), limit) == (_depth(document) > limit)


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH - 1, MAX_JSON_DEPTH, MAX_JSON_DEPTH + 1, 200])
def test_the_limit_is_exact(depth: int) -> None:
    text = json.dumps([_nest(depth - 1), "]]]]", _nest(3)])
    assert exceeds_depth(text) == (depth > MAX_JSON_DEPTH)


def test_deep_input_is_refused_without_recursion() -> None:
    for text in ("[" * 20_000, "[" * 20_000 + "]" * 20_000, '{"a":' * 20_000 + "1" + "}" * 20_000):
        with pytest.raises(JsonTooDeep, match="deeper than 32 levels"):
            loads_limited(text)


def test_brackets_inside_strings_do_not_count() -> None:
    text = json.dumps({"note": "[" * 1000 + '\\"[{' * 100})
    assert loads_limited(text)["note"].startswith("[[[")


def test_invalid_json_says_so() -> None:
    with pytest.raises(ValueError, match=r"^not valid JSON"):
        loads_limited("{nope")
