"""JSONPath expressions of a Comparison (`ignore.fields`, `redact.fields`), via jsonpath-ng.

Expressions are compiled once per configuration; applying one removes (ignore) or
overwrites (redact) what it selects in a parsed body that the engine owns.
"""

from __future__ import annotations

from typing import Any

from jsonpath_ng.exceptions import JsonPathLexerError, JsonPathParserError
from jsonpath_ng.ext.parser import parse

REDACTED = "[redacted]"


class JsonPathError(ValueError):
    pass


def compile_path(expression: str) -> Any:
    if not expression.startswith("$"):
        raise JsonPathError(f"invalid JSONPath {expression!r}: it must start with $")
    try:
        return parse(expression)
    except (JsonPathParserError, JsonPathLexerError, Exception) as exc:
        raise JsonPathError(f"invalid JSONPath {expression!r}: {exc}") from exc


def remove_paths(doc: Any, compiled: tuple[Any, ...]) -> Any:
    """`doc` without what any expression selects (mutated in place when a container)."""
    for expr in compiled:
        if isinstance(doc, dict | list):
            doc = expr.filter(lambda _value: True, doc)
    return doc


def redact_paths(doc: Any, compiled: tuple[Any, ...]) -> Any:
    for expr in compiled:
        if isinstance(doc, dict | list):
            doc = expr.update(doc, REDACTED)
    return doc
