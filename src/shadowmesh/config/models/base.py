"""The base of every Istio spec model: proto field names, strict decoding, frozen values.

Istio decodes its CRDs with protobuf's JSON rules, which accept a field under its JSON
name (`mirrorPercentage`) or its proto name (`mirror_percentage`). Every model here has the
proto name as its Python attribute and the JSON name as its alias, accepts both, and rejects
unknown fields as `kubectl apply` does with strict decoding.

Conventions, following proto3:
- message fields and wrapper types (`UInt32Value`, `BoolValue`, `Percent`) are `None` when
  absent, because their presence means something (`mirrorPercentage: {value: 0}` is not
  the same as no `mirrorPercentage`);
- optional strings are `None` when absent; integers and booleans without presence default
  to their zero value, as Istio reads them;
- repeated fields are tuples and maps are read-only mappings, so a loaded resource can be
  shared between threads and reloads without copying.

Each model remembers how the user spelled each field, so an issue found later can point
at `spec.http[0].mirror_percent` or `spec.http[0].mirrorPercent`, whichever was written.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, PrivateAttr, model_validator


def json_name(proto_name: str) -> str:
    """protoc's JSON name: drop each underscore and upper-case the character after it.

    `consecutive_5xx_errors` -> `consecutive5xxErrors`, `http1_max_pending_requests` ->
    `http1MaxPendingRequests`, `uri_regex_rewrite` -> `uriRegexRewrite`.
    """
    head, *rest = proto_name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


# model class -> {key as written (JSON or proto name) -> attribute name}
_KEY_INDEX: dict[type[BaseModel], dict[str, str]] = {}


class IstioModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=json_name,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
    )

    # Groups of fields of which at most one may be set (protobuf `oneof`).
    oneofs: ClassVar[tuple[tuple[str, ...], ...]] = ()

    # attribute name -> key as written in the document
    _spelling: dict[str, str] = PrivateAttr(default_factory=dict)

    @classmethod
    def _field_for_key(cls) -> dict[str, str]:
        index = _KEY_INDEX.get(cls)
        if index is None:
            index = {}
            for name, info in cls.model_fields.items():
                index[name] = name
                index[info.alias or name] = name
            _KEY_INDEX[cls] = index
        return index

    @model_validator(mode="wrap")
    @classmethod
    def _decode(cls, data: Any, handler: Callable[[Any], Any]) -> Any:
        spelling: dict[str, str] = {}
        if isinstance(data, Mapping):
            index = cls._field_for_key()
            for key in data:
                name = index.get(key) if isinstance(key, str) else None
                if name is None:
                    continue  # unknown: pydantic reports it with its path
                if name in spelling:
                    # protobuf's JSON decoder rejects a field given twice under both names
                    raise ValueError(f'field "{key}" is set twice (also as "{spelling[name]}")')
                spelling[name] = key
            for group in cls.oneofs:
                present = [
                    spelling[name]
                    for name in group
                    if name in spelling and data[spelling[name]] is not None
                ]
                if len(present) > 1:
                    raise ValueError(f"only one of {', '.join(present)} may be set")
        model = handler(data)
        if isinstance(model, IstioModel):
            model._spelling = spelling
        return model

    def __eq__(self, other: object) -> bool:
        # Equal values are equal however they were spelled: compare fields only, not the
        # remembered spelling (pydantic would compare private attributes too).
        if not isinstance(other, IstioModel):
            return NotImplemented
        return type(self) is type(other) and self.__dict__ == other.__dict__

    __hash__ = BaseModel.__hash__

    def spelled(self, name: str) -> str:
        """The key the user wrote for attribute `name` (the JSON name if it was not written)."""
        written = self._spelling.get(name)
        if written is not None:
            return written
        info = type(self).model_fields[name]
        return info.alias or name

    def is_set(self, name: str) -> bool:
        """Whether the document wrote field `name` (even with a zero value)."""
        return name in self._spelling
