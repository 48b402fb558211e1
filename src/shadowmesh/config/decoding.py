"""Decoding a spec mapping into its model, with kubectl-like messages for what does not fit.

pydantic reports problems as `loc` tuples of the keys as written; this module turns them
into field paths (`spec.http[0].match[0].headers[end-user].exactt`: fields dotted, list
indices and map keys in brackets) and into short messages (`unknown field "exactt" (did
you mean "exact"?)`).
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from shadowmesh.config.models import IstioModel

# (path, message) pairs
Problems = list[tuple[str, str]]

# Istio's words for a null entry in a list, by the list's proto field name
NULL_ITEM_MESSAGES: dict[str, str] = {
    "http": "http route may not be null",
    "route": "weight may not be nil",
    "mirrors": "mirror cannot be null",
    "subsets": "subset may not be null",
    "port_level_settings": "traffic policy may not be null",
    "ports": "service entry port may not be null",
    "endpoints": "endpoint cannot be nil",
    "servers": "server may not be nil",
}


def decode_spec(model: type[IstioModel], data: Any) -> tuple[IstioModel | None, Problems]:
    try:
        return model.model_validate({} if data is None else data), []
    except ValidationError as exc:
        return None, [(_path(model, err["loc"]), _message(model, err)) for err in exc.errors()]


def _unwrap(annotation: Any) -> Any:
    """`X | None` -> X."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else annotation
    return annotation


def _walk(model: type[IstioModel], loc: tuple[int | str, ...]) -> tuple[list[tuple[str, Any]], Any]:
    """Pair each loc element with what it indexes (field, item or key); and the type reached."""
    steps: list[tuple[str, Any]] = []
    current: Any = model
    for part in loc:
        current = _unwrap(current)
        origin = typing.get_origin(current)
        if isinstance(current, type) and issubclass(current, IstioModel) and isinstance(part, str):
            name = current._field_for_key().get(part)
            steps.append(("field", part))
            current = current.model_fields[name].annotation if name else None
        elif origin is tuple and isinstance(part, int):
            steps.append(("item", part))
            current = typing.get_args(current)[0]
        elif origin is not None and issubclass(origin, Mapping):
            steps.append(("key", part))
            current = typing.get_args(current)[1]
        else:
            steps.append(("item" if isinstance(part, int) else "field", part))
            current = None
    return steps, _unwrap(current)


def _path(model: type[IstioModel], loc: tuple[int | str, ...]) -> str:
    text = "spec"
    for kind, part in _walk(model, loc)[0]:
        text += f".{part}" if kind == "field" else f"[{part}]"
    return text


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "a list"
    return str(value)


def _suggestion(model: type[IstioModel], loc: tuple[int | str, ...], key: str) -> str:
    """` (did you mean "mirrorPercentage"?)` for a near miss, in the user's naming style."""
    owner = _walk(model, loc[:-1])[1]
    if not (isinstance(owner, type) and issubclass(owner, IstioModel)):
        return ""
    snake = "_" in key
    names = [n if snake else (f.alias or n) for n, f in owner.model_fields.items()]
    close = difflib.get_close_matches(key, names, n=1, cutoff=0.75)
    return f' (did you mean "{close[0]}"?)' if close else ""


def _null_item_message(model: type[IstioModel], loc: tuple[int | str, ...]) -> str | None:
    """Istio's message for `- null` in a list (`mirrors: [null]`), if it has one."""
    if len(loc) < 2 or not isinstance(loc[-1], int) or not isinstance(loc[-2], str):
        return None
    owner = _walk(model, loc[:-2])[1]
    if not (isinstance(owner, type) and issubclass(owner, IstioModel)):
        return None
    name = owner._field_for_key().get(loc[-2])
    return NULL_ITEM_MESSAGES.get(name or "")


def _message(model: type[IstioModel], err: ErrorDetails) -> str:
    kind, value = err["type"], err.get("input")
    if kind == "extra_forbidden":
        key = str(err["loc"][-1])
        return f'unknown field "{key}"' + _suggestion(model, err["loc"], key)
    if kind == "value_error":
        return str(err["msg"]).removeprefix("Value error, ")
    null_item = _null_item_message(model, err["loc"]) if value is None else None
    if null_item:
        return null_item
    if kind in ("model_type", "model_attributes_type", "dict_type", "mapping_type"):
        return f"expected an object, got {_shown(value)}"
    if kind in ("tuple_type", "list_type", "iterable_type"):
        return f"expected a list, got {_shown(value)}"
    if kind == "string_type":
        return f"expected a string, got {_shown(value)}"
    if kind.startswith("int_"):
        return f"expected an integer, got {_shown(value)}"
    if kind.startswith("float_"):
        return f"expected a number, got {_shown(value)}"
    if kind.startswith("bool_"):
        return f"expected true or false, got {_shown(value)}"
    if kind == "literal_error":
        expected = (err.get("ctx") or {}).get("expected", "")
        return f"unknown value {_shown(value)}, expected {expected}"
    return f"invalid value {_shown(value)}: {err['msg']}"
