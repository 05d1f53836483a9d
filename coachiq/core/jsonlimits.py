"""JSON from clients, bounded: a nesting limit checked before parsing, so deep input is refused cheaply.

Python's JSON decoder recurses once per nested array or object; a message of 20,000 `[` raises
RecursionError from inside it, and a parsed result that deep breaks any recursive code that walks it.
No CoachIQ message nests more than a few levels, so input deeper than `MAX_JSON_DEPTH` is refused
with a clear error before the decoder sees it. The check works on the brackets outside strings, in
C-implemented steps, and never recurses: at most about 4 ms for a 64 KB worst case on a desktop core.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

__all__ = ["MAX_JSON_DEPTH", "JsonTooDeep", "exceeds_depth", "loads_limited"]

MAX_JSON_DEPTH = 32

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
# Opening brackets become "(", closing ones ")", everything else is deleted.
_BRACKETS = bytes.maketrans(b"[{]}", b"(()" + b")")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = {ord("("): 1, ord(")"): -1}


class JsonTooDeep(ValueError):
    """The input nests arrays and objects deeper than the limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"JSON nested deeper than {limit} levels of arrays and objects; no request needs that")
        self.limit = limit


def exceeds_depth(text: str | bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when `text` nests arrays and objects deeper than `limit`, brackets inside strings aside.

    Meant for input about to be parsed (for malformed input the answer is a guess). A count of
    opening brackets settles almost every message. Otherwise the string literals and everything
    but the brackets are deleted, and innermost "()" pairs are removed, one level a pass (C speed
    per pass); what is left after `limit` passes, or once a pass removes nothing, is followed
    bracket by bracket until its running depth first passes what remains of the limit.
    """
    raw = text.encode() if isinstance(text, str) else text
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    if b'"' in raw:
        raw = _STRING.sub(b"", raw)
    brackets = raw.translate(_BRACKETS, _NOT_BRACKETS)
    levels = 0  # levels removed so far
    while levels < limit:
        shorter = brackets.replace(b"()", b"")
        if len(shorter) == len(brackets):
            break
        brackets = shorter
        levels += 1
        if not brackets:
            return False
    remaining = limit - levels
    return next(filter(remaining.__lt__, accumulate(map(_STEP.__getitem__, brackets))), None) is not None


def loads_limited(text: str | bytes, limit: int = MAX_JSON_DEPTH) -> Any:
    """Parse JSON from a client; ValueError with a message fit to show the client when it cannot be.

    JsonTooDeep (a ValueError) when it nests deeper than `limit`; a ValueError starting "not valid
    JSON" when it does not parse.
    """
    if exceeds_depth(text, limit):
        raise JsonTooDeep(limit)
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ValueError(f"not valid JSON: {exc}") from None
    except RecursionError:  # only reachable with a limit above the interpreter's recursion limit
        raise JsonTooDeep(limit) from None
