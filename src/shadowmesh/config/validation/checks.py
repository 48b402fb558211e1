"""Istio's shared validation helpers (`pkg/config/validation`, `agent`, `labels`), ported.

Each check returns Istio's message, or None when the value is fine; checks that can
find several problems return a list.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Final

import re2

from shadowmesh.config.durations import nanoseconds
from shadowmesh.config.models import Percent, StringMatch
from shadowmesh.config.validation.gofmt import float_v, quote

_DNS1123_LABEL_FMT: Final = "[a-zA-Z0-9](?:[-a-z-A-Z0-9]*[a-zA-Z0-9])?"
_QUALIFIED_NAME_FMT: Final = "(?:[A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_DNS1123_LABEL = re.compile(f"^{_DNS1123_LABEL_FMT}$")
_WILDCARD_LABEL = re.compile(rf"^(\*|(\*|\*-)?{_DNS1123_LABEL_FMT})$")
_TAG_KEY = re.compile(
    rf"^({_DNS1123_LABEL_FMT}(?:\.{_DNS1123_LABEL_FMT})*/)?({_QUALIFIED_NAME_FMT})$"
)
_LABEL_VALUE = re.compile(f"^({_QUALIFIED_NAME_FMT})?$")
# RFC 7230 `tchar`s, spelled as Istio spells them: in a character class `+-.` is the range
# from `+` to `.`, so a comma is accepted too, as it is by Istio
_HEADER_NAME = re.compile("^[!#$%&'*+-.^_`|~A-Za-z0-9]+$")
_PSEUDO_HEADERS: Final = frozenset({":method", ":scheme", ":authority", ":path", ":status"})
_HEADER_VALUE = re.compile(r"^[^\x00-\x08\x0A-\x1F\x7F]*$")

# re2 logs every compile error to stderr unless told not to
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False

# RE2's error texts -> Go regexp/syntax's, which Istio's messages carry
_GO_REGEXP_ERRORS: Final = {
    "missing )": "missing closing )",
    "missing ]": "missing closing ]",
    "unexpected )": "unexpected )",
    "trailing \\": "trailing backslash at end of expression",
    "no argument for repetition operator": "missing argument to repetition operator",
    "invalid repetition size": "invalid repeat count",
    "bad repetition operator": "invalid nested repetition operator",
    "invalid perl operator": "invalid or unsupported Perl syntax",
    "invalid named capture group": "invalid named capture",
    "invalid escape sequence": "invalid escape sequence",
    "invalid character class": "invalid character class",
    "invalid character class range": "invalid character class range",
    "invalid UTF-8": "invalid UTF-8",
    "pattern too large - compile failed": "expression too large",
}


def is_dns1123_label(value: str) -> bool:
    return len(value) <= 63 and _DNS1123_LABEL.match(value) is not None


def is_wildcard_dns1123_label(value: str) -> bool:
    return len(value) <= 63 and _WILDCARD_LABEL.match(value) is not None


def validate_duration(seconds: float) -> str | None:
    ns = nanoseconds(seconds)
    if ns < 1_000_000:
        return "duration must be greater than 1ms"
    if ns % 1_000_000:
        return "only durations to ms precision are supported"
    return None


def validate_port(port: int) -> str | None:
    if 1 <= port <= 65535:
        return None
    return f"port number {port} must be in the range 1..65535"


def _dns1123_preconditions(name: str) -> str | None:
    if len(name) > 255:
        return f"domain name {quote(name)} too long (max 255)"
    if not name:
        return "empty domain name not allowed"
    return None


def _dns1123_labels(domain: str) -> str | None:
    parts = domain.split(".")
    if parts[-1].isdigit():
        return (
            f"domain name {quote(domain)} invalid "
            f"(top level domain {quote(parts[-1])} cannot be all-numeric)"
        )
    for i, label in enumerate(parts):
        if i == len(parts) - 1 and label == "":
            return None  # a trailing dot, as in `istio.io.`
        if not is_dns1123_label(label):
            return f"domain name {quote(domain)} invalid (label {quote(label)} invalid)"
    return None


def validate_fqdn(fqdn: str) -> str | None:
    return _dns1123_preconditions(fqdn) or _dns1123_labels(fqdn)


def validate_wildcard_domain(domain: str) -> str | None:
    """A DNS name whose first label may be a wildcard (`*`, `*.example.com`, `*-svc.ns`)."""
    problem = _dns1123_preconditions(domain)
    if problem:
        return problem
    first, _, rest = domain.partition(".")
    if not is_wildcard_dns1123_label(first):
        return f"domain name {quote(domain)} invalid (label {quote(first)} invalid)"
    return _dns1123_labels(rest) if "." in domain else None


def validate_partial_wildcard(host: str) -> str | None:
    if "*" in host and len(host) != 1 and not host.startswith("*."):
        return f"partial wildcard {quote(host)} not allowed"
    return None


def validate_unix_address(address: str) -> str | None:
    """The path after `unix://`: absolute, not a directory, or `@abstract`."""
    if not address:
        return "unix address must not be empty"
    if address.startswith("@"):
        return None  # an abstract socket
    if not address.startswith("/") or address.endswith("/"):
        return f"{address} is not an absolute path to a file"
    return None


def is_ip_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def validate_ip_address(text: str) -> str | None:
    return None if is_ip_address(text) else f"{text} is not a valid IP"


def validate_ip_subnet(subnet: str) -> str | None:
    if subnet.count("/") == 1:
        try:
            ipaddress.ip_network(subnet, strict=False)
        except ValueError:
            return f"{subnet} is not a valid CIDR block"
        return None
    return validate_ip_address(subnet)


def validate_labels(labels: Mapping[str, str] | None) -> list[str]:
    """`labels.Instance.Validate`: Kubernetes label keys and values."""
    problems: list[str] = []
    for key, value in (labels or {}).items():
        match = _TAG_KEY.match(key)
        if match is None:
            problems.append(f"invalid tag key: {quote(key)}")
        elif match.group(1) and len(match.group(1)) - 1 > 253:
            problems.append(f"invalid tag key: {quote(key)} (DNS prefix is too long)")
        elif len(match.group(2)) > 63:
            problems.append(f"invalid tag key: {quote(key)} (name is too long)")
        if not _LABEL_VALUE.match(value):
            problems.append(f"invalid tag value: {quote(value)}")
    return problems


def validate_percentage(percentage: Percent | None) -> str | None:
    """A fractional `Percent`: 0, or within [0.0001, 100]."""
    if percentage is None:
        return None
    value = percentage.value
    if value < 0.0 or value > 100.0 or 0.0 < value < 0.0001:
        return f"percentage {float_v(value)} is neither 0.0, nor in range [0.0001, 100.0]"
    return None


def validate_percent(value: int) -> str | None:
    if value < 0 or value > 100:
        return f"percentage {value} is not in range 0..100"
    return None


def validate_regexp(expression: str, where: str) -> str | None:
    # Envoy limits RE2's program size; Istio approximates it by the length
    if len(expression) > 1024:
        return f"{quote(where)}: regex is too large, max length allowed is 1024"
    try:
        re2.compile(expression, _RE2_OPTIONS)
    except re2.error as exc:
        return (
            f"{quote(where)}: {_go_regexp_error(exc, expression)}; Istio uses RE2 style "
            "regex-based match (https://github.com/google/re2/wiki/Syntax)"
        )
    return None


def _go_regexp_error(exc: Exception, expression: str) -> str:
    raw = exc.args[0] if exc.args else str(exc)
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
    code, _, argument = text.partition(": ")
    go_code = _GO_REGEXP_ERRORS.get(code, code)
    if go_code.startswith("missing closing"):
        argument = expression  # Go shows the whole expression for unbalanced groups
    return f"error parsing regexp: {go_code}: `{argument}`"


def validate_string_match_regexp(match: StringMatch | None, where: str) -> str | None:
    """Only the regex form is checked (URIs may use an empty prefix)."""
    if match is None or match.regex is None:
        return None
    if match.regex == "":
        return f"{quote(where)}: regex string match should not be empty"
    return validate_regexp(match.regex, where)


def validate_string_match(match: StringMatch | None, where: str) -> str | None:
    if match is None:
        return None
    if match.prefix is not None and match.prefix == "":
        return f"{quote(where)}: prefix string match should not be empty"
    return validate_string_match_regexp(match, where)


def is_jwt_claim_route(name: str) -> bool:
    return name.startswith("@request.auth.claims.") or name.startswith("@request.auth.claims[")


def validate_header_name(name: str, *, allow_jwt_claim: bool = False) -> str | None:
    """`allow_jwt_claim`: a match's header (`ValidateHTTPHeaderNameOrJwtClaimRoute`), where
    JWT claims and the HTTP/2 pseudo-headers are names too."""
    if name == "":
        return "header name cannot be empty"
    if allow_jwt_claim and (is_jwt_claim_route(name) or name in _PSEUDO_HEADERS):
        return None
    if not _HEADER_NAME.match(name):
        return f"header name {name} is not a valid header name"
    return None


def validate_cors_header_name(name: str) -> str | None:
    return None if name == "*" else validate_header_name(name)


def is_authority_header(name: str) -> bool:
    return name.lower() in (":authority", "host")


def validate_request_header_operation(name: str) -> str | None:
    """Names in request `set`/`add`: pseudo-headers are refused, the authority is allowed."""
    if name == "":
        return "header name cannot be empty"
    if (name.startswith(":") or name.lower() == "host") and not is_authority_header(name):
        return f'invalid header {quote(name)}: header cannot have ":" prefix'
    return None


def validate_header_operation(name: str) -> str | None:
    """Names in request `remove` and in all response operations."""
    if name == "":
        return "header name cannot be empty"
    if name.lower() == "host":
        return f"invalid header {quote(name)}: cannot set Host header"
    if name.startswith(":"):
        return f'invalid header {quote(name)}: header cannot have ":" prefix'
    return None


def validate_header_value(value: str) -> str | None:
    """Control characters are refused; `%VAR%` expressions must be well formed (Envoy)."""
    if not _HEADER_VALUE.match(value):
        return f"header value configuration {value} is invalid"
    problem = _header_expression_problem(value)
    return f"header value configuration: {problem}" if problem else None


def _header_expression_problem(value: str) -> str | None:
    """Envoy's header formatter parser (`header_parser.cc`), as Istio ports it: `%%` escapes,
    `%VAR%`, and `%VAR(...)%` / `%VAR(["a", "b"])%` with JSON string arguments."""
    # the parser's states
    literal, name, expect_array, expect_string = range(4)
    string, delimiter_or_end, args_end, var_end = range(4, 8)
    state = literal
    pos = 0
    while pos < len(value):
        ch = value[pos]
        has_next = pos + 1 < len(value)
        if state == literal:
            if ch == "%":
                if not has_next:
                    return "invalid header configuration. Un-escaped %"
                if value[pos + 1] == "%":
                    pos += 1  # an escaped %
                else:
                    state = name
        elif state == name:
            if ch == "%":
                state = literal
            elif ch == "(":
                state = expect_array
        elif state == expect_array:
            if ch == "[":
                state = expect_string
            elif ch != " ":
                state = string
        elif state == delimiter_or_end:
            if ch == ",":
                state = expect_string
            elif ch == "]":
                state = args_end
            elif ch != " ":
                return "invalid header configuration. Expecting ',', ']', or whitespace"
        elif state == expect_string:
            if ch == '"':
                state = string
            elif ch != " ":
                return "invalid header configuration. Expecting '\"'"
        elif state == string:
            if ch == "\\":
                if not has_next:
                    return "invalid header configuration. Un-terminated backslash in JSON string"
                pos += 1
            elif ch == ")":
                state = var_end
            elif ch == '"':
                state = delimiter_or_end
        elif state == args_end:
            if ch == ")":
                state = var_end
            elif ch != " ":
                # Istio's text, placeholders included
                return (
                    "invalid header configuration. Expecting ')' or whitespace after '{}', "
                    "but found '{}'"
                )
        elif state == var_end:
            if ch == "%":
                state = literal
            elif ch != " ":
                return "invalid header configuration. Expecting '%' or whitespace after"
        pos += 1
    if state != literal:
        return f"invalid header configuration. Un-terminated variable expression '{value}'"
    return None


# Kubernetes-style protocol names Istio knows (`protocol.Parse`), upper-cased.
_PROTOCOLS: Final = {
    "TCP", "UDP", "GRPC", "GRPC-WEB", "HTTP", "HTTP_PROXY", "HTTP2", "HTTPS", "TLS",
    "MONGO", "REDIS", "MYSQL",
}  # fmt: skip
_HTTP_PROTOCOLS: Final = {"HTTP", "HTTP2", "HTTP_PROXY", "GRPC", "GRPC-WEB"}
_TLS_PROTOCOLS: Final = {"HTTPS", "TLS"}
_TCP_PROTOCOLS: Final = {"TCP", "HTTPS", "TLS", "MONGO", "REDIS", "MYSQL"}


def protocol_known(protocol: str | None) -> bool:
    return (protocol or "").upper() in _PROTOCOLS


def protocol_is_http(protocol: str | None) -> bool:
    return (protocol or "").upper() in _HTTP_PROTOCOLS


def protocol_is_tls(protocol: str | None) -> bool:
    return (protocol or "").upper() in _TLS_PROTOCOLS


def protocol_is_tcp(protocol: str | None) -> bool:
    return (protocol or "").upper() in _TCP_PROTOCOLS


def validate_protocol(protocol: str | None) -> str | None:
    if protocol and not protocol_known(protocol):
        return f"unsupported protocol: {protocol}"
    return None


def validate_port_name(name: str | None) -> str | None:
    if not is_dns1123_label(name or ""):
        return f"invalid port name: {name or ''}"
    return None


def validate_subset_name(name: str | None) -> str | None:
    if not name:
        return "subset name cannot be empty"
    if not is_dns1123_label(name):
        return f"subset name is invalid: {name}"
    return None
