"""Per-VirtualService shadow settings, from `metadata.annotations` (prefix `shadowmesh.io/`).

shadowmesh-only settings never go into the Istio spec, so the same YAML stays valid for Istio.

| annotation | value | default |
|---|---|---|
| `shadowmesh.io/shadow-host-suffix` | `true`/`false`: `-shadow` on the copy's Host | flag |
| `shadowmesh.io/mirror-methods` | comma list, e.g. `GET,HEAD` (side-effect guard) | every method |
| `shadowmesh.io/mirror-set-headers` | `name=value,name=value` set on the copy | none |
| `shadowmesh.io/mirror-remove-headers` | comma list removed from the copy | none |
| `shadowmesh.io/mirror-host-rewrite` | Host for the copy (instead of the suffix) | none |
| `shadowmesh.io/mirror-sample-key` | `header:NAME` or `cookie:NAME` (consistent) | random |
| `shadowmesh.io/mirror-timeout` | Go duration, caps the copy's timeout | `--mirror-timeout` |
| `shadowmesh.io/mirror-body-limit` | bytes; larger bodies are not mirrored | flag |
| `shadowmesh.io/correlation-header` | header carrying the primary's request id | `x-request-id` |
| `shadowmesh.io/shadow-pipelining` | `true`/`false`: HTTP/1.1 pipelining of copies | flag |
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from shadowmesh.config.annotations import KNOWN_ANNOTATIONS, PREFIX
from shadowmesh.config.durations import parse_duration_ns
from shadowmesh.routing.table import ShadowSettings


@dataclass(frozen=True, slots=True)
class ShadowDefaults:
    """Global defaults from the command line."""

    host_suffix: bool = True
    body_limit: int = 1 << 20
    timeout: float | None = None
    pipelining: bool = True


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def _pairs(value: str) -> tuple[tuple[str, str], ...]:
    pairs = []
    for item in value.split(","):
        if not item.strip():
            continue
        name, sep, val = item.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"expected name=value, got {item.strip()!r}")
        pairs.append((name.strip().lower(), val.strip()))
    return tuple(pairs)


def _names(value: str) -> tuple[str, ...]:
    return tuple(n.strip().lower() for n in value.split(",") if n.strip())


def _apply(settings: ShadowSettings, key: str, value: str) -> ShadowSettings:
    name = key[len(PREFIX):]
    if name == "shadow-host-suffix":
        return replace(settings, host_suffix=_bool(value))
    if name == "mirror-methods":
        methods = frozenset(m.upper() for m in _names(value))
        if not methods:
            raise ValueError("expected a comma separated list of methods")
        return replace(settings, methods=methods)
    if name == "mirror-set-headers":
        return replace(settings, set_headers=_pairs(value))
    if name == "mirror-remove-headers":
        return replace(settings, remove_headers=_names(value))
    if name == "mirror-host-rewrite":
        return replace(settings, host_rewrite=value.strip() or None)
    if name == "mirror-sample-key":
        kind, _, key_name = value.partition(":")
        if kind == "header" and key_name:
            return replace(settings, sample_header=key_name.strip().lower())
        if kind == "cookie" and key_name:
            return replace(settings, sample_cookie=key_name.strip())
        raise ValueError(f"expected header:NAME or cookie:NAME, got {value!r}")
    if name == "mirror-timeout":
        seconds = parse_duration_ns(value.strip()) / 1e9
        if seconds <= 0:
            raise ValueError("duration must be positive")
        return replace(settings, timeout=seconds)
    if name == "mirror-body-limit":
        if not value.strip().isdigit():
            raise ValueError(f"expected a number of bytes, got {value!r}")
        return replace(settings, body_limit=int(value))
    if name == "shadow-pipelining":
        return replace(settings, pipelining=_bool(value))
    if name == "correlation-header":
        if not value.strip():
            raise ValueError("expected a header name")
        return replace(settings, correlation_header=value.strip().lower())
    return settings


def shadow_settings(annotations: Mapping[str, str], defaults: ShadowDefaults) -> ShadowSettings:
    """Settings for a VirtualService's routes. Invalid values were rejected by validation;
    here they are ignored so a table always compiles."""
    settings = ShadowSettings(host_suffix=defaults.host_suffix, body_limit=defaults.body_limit,
                              timeout=defaults.timeout, pipelining=defaults.pipelining)
    for key, value in annotations.items():
        if key in KNOWN_ANNOTATIONS:
            try:
                settings = _apply(settings, key, str(value))
            except ValueError:
                continue
    return settings


def annotation_errors(annotations: Mapping[str, str]) -> list[tuple[str, str]]:
    """(annotation key, message) for each invalid shadowmesh annotation value."""
    errors = []
    settings = ShadowSettings()
    for key, value in annotations.items():
        if key in KNOWN_ANNOTATIONS:
            try:
                settings = _apply(settings, key, str(value))
            except ValueError as exc:
                errors.append((key, str(exc)))
    return errors
