"""Field-level differences between two parsed JSON documents, with bounded work.

A difference has a concrete `path` (`$.items[3].name`, shown in samples) and a `field`
(`$.items[*].name`), the identity under which it is counted: array indices collapse so
that one field of a list is one row of the report, not one per index. Work per pair is
bounded: at most `max_nodes` nodes are visited and nesting deeper than `max_depth` is
compared as a whole; a capped comparison says so.
"""

from __future__ import annotations

from typing import Any, Final, NamedTuple

import orjson

CHANGED: Final = "changed"
ADDED: Final = "added"  # present in the candidate only
REMOVED: Final = "removed"  # present in the primary only
TYPE_CHANGED: Final = "type_changed"
STATUS: Final = "status"
HEADER: Final = "header"

MAX_NODES: Final = 5000
MAX_DEPTH: Final = 32
SHOWN_CHARS: Final = 200


class Difference(NamedTuple):
    path: str  # concrete: $.items[3].name
    field: str  # counted as: $.items[*].name
    kind: str
    primary: str  # JSON text of the value ("" when absent), cut to SHOWN_CHARS
    candidate: str


def shown(value: Any) -> str:
    try:
        text = orjson.dumps(value).decode()
    except TypeError:
        text = repr(value)
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + "..."


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    return "array"


def _key_path(path: str, key: str) -> str:
    if key.isidentifier():
        return f"{path}.{key}"
    return f"{path}[{orjson.dumps(key).decode()}]"


def _sort_key(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


class JsonDiff:
    """One comparison; `differences` and `capped` are its result."""

    def __init__(self, ignore_array_order: bool = False, max_nodes: int = MAX_NODES,
                 max_depth: int = MAX_DEPTH) -> None:
        self.ignore_array_order = ignore_array_order
        self.budget = max_nodes
        self.max_depth = max_depth
        self.capped = False
        self.differences: list[Difference] = []

    def run(self, primary: Any, candidate: Any) -> list[Difference]:
        self._walk(primary, candidate, "$", "$", 0)
        return self.differences

    def _add(self, path: str, field: str, kind: str, a: Any, b: Any, absent: str = "") -> None:
        self.differences.append(Difference(
            path, field, kind,
            "" if absent == "a" else shown(a),
            "" if absent == "b" else shown(b),
        ))

    def _walk(self, a: Any, b: Any, path: str, field: str, depth: int) -> None:
        self.budget -= 1
        if self.budget < 0:
            self.capped = True
            return
        if a == b and type(a) is type(b):
            return
        ta, tb = json_type(a), json_type(b)
        if ta != tb:
            self._add(path, field, TYPE_CHANGED, a, b)
            return
        if depth >= self.max_depth and ta in ("object", "array"):
            self.capped = True  # too deep to walk: compared as a whole, and they differ
            self._add(path, field, CHANGED, a, b)
            return
        if ta == "object":
            for key, va in a.items():
                child = _key_path(path, key)
                child_field = _key_path(field, key)
                if key not in b:
                    self._add(child, child_field, REMOVED, va, None, absent="b")
                else:
                    self._walk(va, b[key], child, child_field, depth + 1)
                if self.budget < 0:
                    self.capped = True
                    return
            for key, vb in b.items():
                if key not in a:
                    self._add(_key_path(path, key), _key_path(field, key), ADDED, None, vb,
                              absent="a")
        elif ta == "array":
            if self.ignore_array_order:
                a = sorted(a, key=_sort_key)
                b = sorted(b, key=_sort_key)
                if a == b:
                    return
            item_field = f"{field}[*]"
            for index in range(max(len(a), len(b))):
                child = f"{path}[{index}]"
                if index >= len(b):
                    self._add(child, item_field, REMOVED, a[index], None, absent="b")
                elif index >= len(a):
                    self._add(child, item_field, ADDED, None, b[index], absent="a")
                else:
                    self._walk(a[index], b[index], child, item_field, depth + 1)
                if self.budget < 0:
                    self.capped = True
                    return
        else:
            self._add(path, field, CHANGED, a, b)


def diff_json(primary: Any, candidate: Any, ignore_array_order: bool = False,
              max_nodes: int = MAX_NODES, max_depth: int = MAX_DEPTH
              ) -> tuple[list[Difference], bool]:
    """(differences, capped)."""
    walker = JsonDiff(ignore_array_order, max_nodes, max_depth)
    return walker.run(primary, candidate), walker.capped
