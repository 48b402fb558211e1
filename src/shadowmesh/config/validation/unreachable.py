"""Istio's warnings for VirtualService rules no request can reach (`analyzeUnreachable*Rules`).

A rule after a catch-all, a match that repeats an earlier one, and (HTTP) a URI prefix match
that an earlier, shorter prefix with the same other conditions already takes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from shadowmesh.config.models import HTTPMatchRequest, HTTPRoute, StringMatch, VirtualService
from shadowmesh.config.models.base import IstioModel
from shadowmesh.config.validation.report import SPEC, FieldPath, Report


def unreachable_rules(report: Report, vs: VirtualService) -> None:
    prefixes = _rules(report, vs.http, SPEC.field(vs, "http"))
    _overlapping_prefixes(report, prefixes)
    _rules(report, vs.tcp, SPEC.field(vs, "tcp"))
    _rules(report, vs.tls, SPEC.field(vs, "tls"))


@dataclass(frozen=True, slots=True)
class _PrefixMatch:
    """What Istio compares to find a prefix match hidden by an earlier one."""

    route: str
    match: str
    path: FieldPath
    prefix: str
    port: int
    method: str
    authority: str
    headers: dict[str, str]
    query_params: dict[str, str]
    without_headers: dict[str, str]


def _route_name(route: IstioModel, index: int) -> str:
    """`"name"` for a named HTTP rule, else `#index` (TCP and TLS rules have no names)."""
    name = route.name if isinstance(route, HTTPRoute) else None
    return json.dumps(name) if name else f"#{index}"


def _match_name(match: IstioModel, index: int) -> str:
    name = match.name if isinstance(match, HTTPMatchRequest) else None
    return json.dumps(name) if name else f"#{index}"


def _match_key(match: IstioModel) -> str:
    """A canonical form of a match without its name, to find identical matches."""
    data = match.model_dump(mode="json", exclude={"name"}, exclude_defaults=True)
    return json.dumps(data, sort_keys=True)


def _rules(report: Report, routes: Sequence[IstioModel], path: FieldPath) -> list[_PrefixMatch]:
    """Warn on unreachable rules and repeated matches; return the HTTP prefix matches seen."""
    seen: dict[str, int] = {}
    catch_all = -1
    prefixes: list[_PrefixMatch] = []
    for index, route in enumerate(routes):
        matches: Sequence[IstioModel] = getattr(route, "match", ())
        name = _route_name(route, index)
        if not matches:
            if catch_all >= 0:
                report.warning(
                    path.at(index),
                    f"virtualService rule {name} not used (only the last rule can have no matches)",
                )
            catch_all = index
            continue
        duplicates = 0
        for match_index, match in enumerate(matches):
            if catch_all >= 0:
                report.warning(
                    path.at(index),
                    f"virtualService rule {name} not used (route without matches defined before)",
                )
                continue
            key = _match_key(match)
            match_path = path.at(index).field(route, "match").at(match_index)
            if key in seen:
                first = _route_name(routes[seen[key]], seen[key])
                report.warning(
                    match_path,
                    f"virtualService rule {name} match {_match_name(match, match_index)} is not "
                    f"used (duplicate/overlapping match in rule {first})",
                )
                duplicates += 1
                continue
            seen[key] = index
            if isinstance(match, HTTPMatchRequest):
                prefix = _prefix_match(name, match, match_index, match_path)
                if prefix is not None:
                    prefixes.append(prefix)
        if duplicates == len(matches):
            report.warning(
                path.at(index),
                f"virtualService rule {name} not used (all matches used by prior rules)",
            )
    return prefixes


def _exact_or_prefix(match: StringMatch | None) -> str:
    if match is None:
        return ""
    if match.exact:
        return "exact:" + match.exact
    if match.prefix:
        return "prefix:" + match.prefix
    return ""


def _values(matches: Mapping[str, StringMatch | None] | None) -> dict[str, str]:
    return {key: _exact_or_prefix(value) for key, value in (matches or {}).items()}


def _prefix_match(
    route: str, match: HTTPMatchRequest, index: int, path: FieldPath
) -> _PrefixMatch | None:
    if match.uri is None or not match.uri.prefix:
        return None
    return _PrefixMatch(
        route=route,
        match=_match_name(match, index),
        path=path,
        prefix=match.uri.prefix,
        port=match.port,
        # a match without a method is taken as GET, as Istio does here
        method=_exact_or_prefix(match.method) or "exact:GET",
        authority=_exact_or_prefix(match.authority),
        headers=_values(match.headers),
        query_params=_values(match.query_params),
        without_headers=_values(match.without_headers),
    )


def _covered_values(earlier: dict[str, str], later: dict[str, str]) -> bool:
    if len(earlier) != len(later):
        return False
    for key, value in earlier.items():
        if key not in later:
            return False
        if value != later[key] and not value.startswith(later[key]):
            return False
    return True


def _covers(earlier: _PrefixMatch, later: _PrefixMatch) -> bool:
    """Istio's `coveredValidation`, including its one-directional prefix comparisons."""
    if not later.prefix.startswith(earlier.prefix) or later.port != earlier.port:
        return False
    if earlier.method != later.method and not earlier.method.startswith(later.method):
        return False
    if earlier.authority != later.authority and not earlier.authority.startswith(later.authority):
        return False
    return (
        _covered_values(earlier.headers, later.headers)
        and _covered_values(earlier.query_params, later.query_params)
        and _covered_values(earlier.without_headers, later.without_headers)
    )


def _overlapping_prefixes(report: Report, prefixes: list[_PrefixMatch]) -> None:
    for i, earlier in enumerate(prefixes):
        for later in prefixes[i + 1 :]:
            if later.prefix == earlier.prefix or not _covers(earlier, later):
                continue
            report.warning(
                later.path,
                f"virtualService rule {later.route} match {later.match} of prefix {later.prefix} "
                f"is not used (duplicate/overlapping match in rule {earlier.match} of prefix "
                f"{earlier.prefix} on {earlier.route})",
            )
