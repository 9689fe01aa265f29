"""Hypothesis strategies for hostile JSON: a valid document, then damaged the ways attackers and bugs do.

Starting from a real request (the example MS patient's Bundle, or a CDS Hooks
call built from it), up to four mutations are applied at random places:
a value replaced by the wrong type, a huge or tiny number, odd Unicode (NUL,
bidi overrides, lone surrogates, non-characters) or a very long string; a key
deleted, an unknown key added, an element duplicated; a value replaced by
nesting thousands of levels deep. The document is then written as JSON that
is sometimes not quite JSON (NaN, Infinity, integers past 64 bits, invalid
UTF-8 from lone surrogates).
"""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import strategies as st

ODD = (
    "\u0000\u0001\u001f\u007f\u0085\u00a0\u200b\u200d\u202e\u2066\ufeff\ufffe\uffff\U0001f489\U000e0001é漢ـ\ud800\udfff"
)
DEEP = "__rxguard_deep__"

odd_strings = st.text(alphabet=st.sampled_from(ODD + "aZ09<>&'\"\\/{}"), max_size=30)
json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([10**400, -(10**400), 2**63, -(2**63) - 1, 0]),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([1e308, -0.0, 5e-324]),
    odd_strings, st.just("9" * 100_000), st.sampled_from(["2026-02-30", "0000-00-00", "2026-01-05T25:61:00Z", ""]),
)  # fmt: skip
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(odd_strings, inner, max_size=4)),
    max_leaves=8,
)


def paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(data, dict):
        for key, value in data.items():
            found += paths(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found += paths(value, (*prefix, index))
    return found


def _parent(data: Any, path: tuple[Any, ...]) -> Any:
    for part in path[:-1]:
        data = data[part]
    return data


def _mutate(draw: st.DrawFn, data: Any) -> Any:
    path = draw(st.sampled_from(paths(data)))
    action = draw(st.sampled_from(["replace", "replace", "delete", "add", "duplicate", "deep"]))
    if not path:
        return draw(json_values) if action in ("replace", "delete") else data
    parent, last = _parent(data, path), path[-1]
    if action == "replace":
        parent[last] = draw(json_values)
    elif action == "deep":
        parent[last] = DEEP
    elif action == "delete":
        del parent[last]
    elif action == "add" and isinstance(parent[last], dict):
        parent[last][draw(odd_strings)] = draw(json_values)
    elif action == "duplicate" and isinstance(parent, list):
        parent.insert(last, copy.deepcopy(parent[last]))
    return data


@st.composite
def hostile_json(draw: st.DrawFn, document: Any) -> bytes:
    """``document`` damaged by one to four mutations, serialised (sometimes invalidly)."""
    data = copy.deepcopy(document)
    for _ in range(draw(st.integers(1, 4))):
        data = _mutate(draw, data)
    text = json.dumps(data, ensure_ascii=draw(st.booleans()), allow_nan=True)
    depth = draw(st.integers(10, 50_000))
    text = text.replace(f'"{DEEP}"', "[" * depth + "]" * depth)
    return text.encode("utf-8", "surrogatepass")
