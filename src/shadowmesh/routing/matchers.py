"""Match predicates compiled from Istio's HTTPMatchRequest.

Everything here is pure: a compiled `MatchBlock` takes a `RequestView` and answers yes or no.
Semantics follow Envoy's route matching as Istio configures it (`TranslateRouteMatch`):

- StringMatch `exact`/`prefix` are case-sensitive; `regex` is RE2 and must match the *whole*
  string (Envoy's safe_regex is a full match, not a search).
- `uri` sees the path without its query string; `ignoreUriCase` applies to exact/prefix only.
- Header names are case-insensitive; several values of one header are joined with ",",
  as Envoy does before matching. A missing header never matches; `{}` (or regex `*`) means
  "present".
- `withoutHeaders` inverts the match, and treats a missing header as the empty string, so a
  missing header satisfies a `withoutHeaders` value matcher; `{}` there means "absent".
- `queryParams` match the *first* value of the parameter.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, Protocol
from urllib.parse import unquote_plus

import re2

StrPredicate = Callable[[str], bool]


class StringMatchLike(Protocol):
    @property
    def exact(self) -> str | None: ...
    @property
    def prefix(self) -> str | None: ...
    @property
    def regex(self) -> str | None: ...


_RE2_OPTIONS: Final = re2.Options()
_RE2_OPTIONS.log_errors = False


def compile_regex(pattern: str) -> re2._Regexp:
    """RE2 with error logging off (the validator reports bad patterns with Istio's text)."""
    return re2.compile(pattern, _RE2_OPTIONS)


def compile_string_match(sm: StringMatchLike, *, ignore_case: bool = False) -> StrPredicate:
    if sm.exact is not None:
        want = sm.exact
        if ignore_case:
            lowered = want.lower()
            return lambda value: value.lower() == lowered
        return lambda value: value == want
    if sm.prefix is not None:
        start = sm.prefix
        if ignore_case:
            lowered = start.lower()
            return lambda value: value.lower().startswith(lowered)
        return lambda value: value.startswith(start)
    if sm.regex is not None:
        if sm.regex == "*":
            # Istio turns regex "*" into a presence match.
            return lambda value: True
        fullmatch = compile_regex(sm.regex).fullmatch
        return lambda value: fullmatch(value) is not None
    # An empty StringMatch ({}) is a presence check: the caller handles absence.
    return lambda value: True


class RequestView:
    """What matching needs from a request; built once per request by the data plane.

    A plain class rather than a dataclass: compiled, its constructor is a C call, where a
    dataclass's generated `__init__` would stay interpreted."""

    __slots__ = ("_query_params", "authority", "headers", "method", "path", "port", "query",
                 "scheme")

    def __init__(
        self,
        method: str,
        path: str,  # without the query string
        query: str,  # raw query string, without "?"
        scheme: str,
        authority: str,  # the Host header as sent, with the port
        port: int,  # the service port the request addressed
        headers: dict[str, str],  # lower-case names, repeated values joined with ","
    ) -> None:
        self.method = method
        self.path = path
        self.query = query
        self.scheme = scheme
        self.authority = authority
        self.port = port
        self.headers = headers
        self._query_params: dict[str, str] | None = None

    def query_param(self, name: str) -> str | None:
        params = self._query_params
        if params is None:
            params = {}
            if self.query:
                for pair in self.query.split("&"):
                    key, _, value = pair.partition("=")
                    key = unquote_plus(key)
                    if key and key not in params:  # first value wins, as in Envoy
                        params[key] = unquote_plus(value)
            self._query_params = params
        return params.get(name)


Predicate = Callable[[RequestView], bool]


def _pseudo_header(name: str) -> Callable[[RequestView], str | None]:
    """The HTTP/2 pseudo-headers Istio accepts in header matches: Envoy matches them against
    the request itself (`:path` with its query string); `:status` never exists on a request."""
    if name == ":authority":
        return lambda req: req.authority
    if name == ":method":
        return lambda req: req.method
    if name == ":scheme":
        return lambda req: req.scheme
    if name == ":path":
        return lambda req: req.path + "?" + req.query if req.query else req.path
    return lambda req: None


def _pseudo_header_predicate(name: str, match: StrPredicate, *, invert: bool) -> Predicate:
    value_of = _pseudo_header(name)
    if invert:
        return lambda req: not match(value_of(req) or "")

    def with_header(req: RequestView) -> bool:
        value = value_of(req)
        return value is not None and match(value)

    return with_header


def _header_predicate(name: str, match: StrPredicate, *, invert: bool) -> Predicate:
    if name.startswith(":"):
        return _pseudo_header_predicate(name, match, invert=invert)
    if invert:

        def without(req: RequestView) -> bool:
            return not match(req.headers.get(name, ""))

        return without

    def with_header(req: RequestView) -> bool:
        value = req.headers.get(name)
        return value is not None and match(value)

    return with_header


def _absent(name: str) -> Predicate:
    if name.startswith(":"):
        value_of = _pseudo_header(name)
        return lambda req: value_of(req) is None
    return lambda req: name not in req.headers


def _query_predicate(name: str, match: StrPredicate) -> Predicate:
    def query(req: RequestView) -> bool:
        value = req.query_param(name)
        return value is not None and match(value)

    return query


class HTTPMatchLike(Protocol):
    @property
    def uri(self) -> StringMatchLike | None: ...
    @property
    def scheme(self) -> StringMatchLike | None: ...
    @property
    def method(self) -> StringMatchLike | None: ...
    @property
    def authority(self) -> StringMatchLike | None: ...
    @property
    def headers(self) -> Mapping[str, StringMatchLike | None] | None: ...
    @property
    def without_headers(self) -> Mapping[str, StringMatchLike | None] | None: ...
    @property
    def query_params(self) -> Mapping[str, StringMatchLike | None] | None: ...
    @property
    def ignore_uri_case(self) -> bool | None: ...
    @property
    def port(self) -> int | None: ...
    @property
    def name(self) -> str | None: ...


@dataclass(frozen=True)
class _Presence:
    exact: str | None = None
    prefix: str | None = None
    regex: str | None = None


_PRESENT: Final = _Presence()


def _is_empty(sm: StringMatchLike) -> bool:
    return sm.exact is None and sm.prefix is None and sm.regex is None


def _is_presence(sm: StringMatchLike) -> bool:
    return _is_empty(sm) or (sm.exact is None and sm.prefix is None and sm.regex == "*")


@dataclass(frozen=True, slots=True)
class MatchBlock:
    """One `match` entry: all predicates must hold (AND)."""

    name: str | None
    predicates: tuple[Predicate, ...]
    uri_prefix: str | None = None  # for rewrite: the prefix this block matched on

    def __call__(self, req: RequestView) -> bool:
        return all(predicate(req) for predicate in self.predicates)


def compile_match(m: HTTPMatchLike) -> MatchBlock:
    preds: list[Predicate] = []
    if m.uri is not None and not _is_empty(m.uri):
        # Istio: ignoreUriCase applies to exact and prefix, not to regex.
        fold = bool(m.ignore_uri_case) and m.uri.regex is None
        uri = compile_string_match(m.uri, ignore_case=fold)
        preds.append(lambda req: uri(req.path))
    if m.method is not None and not _is_empty(m.method):
        method = compile_string_match(m.method)
        preds.append(lambda req: method(req.method))
    if m.scheme is not None and not _is_empty(m.scheme):
        scheme = compile_string_match(m.scheme)
        preds.append(lambda req: scheme(req.scheme))
    if m.authority is not None and not _is_empty(m.authority):
        authority = compile_string_match(m.authority)
        preds.append(lambda req: authority(req.authority))
    if m.port:
        port = m.port
        preds.append(lambda req: req.port == port)
    for name, sm in (m.headers or {}).items():
        sm = sm or _PRESENT
        preds.append(_header_predicate(name.lower(), compile_string_match(sm), invert=False))
    for name, sm in (m.without_headers or {}).items():
        sm = sm or _PRESENT
        if _is_presence(sm):
            preds.append(_absent(name.lower()))
        else:
            preds.append(_header_predicate(name.lower(), compile_string_match(sm), invert=True))
    for name, sm in (m.query_params or {}).items():
        sm = sm or _PRESENT
        preds.append(_query_predicate(name, compile_string_match(sm)))
    prefix = m.uri.prefix if m.uri is not None else None
    if m.uri is None or _is_empty(m.uri):
        prefix = "/"
    return MatchBlock(name=m.name, predicates=tuple(preds), uri_prefix=prefix)
