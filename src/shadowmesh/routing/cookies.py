"""One `Cookie` request header value -> the value of one named cookie, in one linear pass.

Consistent-hash routing (`httpCookie`) and consistent mirror sampling (`cookie:NAME`) both
need it. `http.cookies.SimpleCookie` is not used: it parses Set-Cookie syntax (attributes,
octal escapes) that a `Cookie` header never carries, and before Python 3.11.10 its quoted
value handling is quadratic (CVE-2024-7592), so a 60 KB header could hold the event loop for
seconds. The rules are Envoy's (`Http::Utility::parseCookieValue`):

- pairs are separated by `;`; whitespace around names and values is ignored;
- a pair without `=` is skipped; the first pair with the name wins;
- a value wrapped in double quotes loses them (RFC 6265 4.1.1), and nothing else is decoded.
"""

from __future__ import annotations

from typing import Final

_OWS: Final = " \t"


def cookie_value(header: str, name: str) -> str | None:
    """The value of cookie `name` in a `Cookie` header value, or None if it is absent."""
    if not name:
        return None
    # The name must appear verbatim somewhere: one C-level search skips most headers.
    start = header.find(name)
    if start < 0:
        return None
    # Cookies before the first occurrence cannot match: start at the pair that holds it.
    pair_start = header.rfind(";", 0, start) + 1
    for pair in header[pair_start:].split(";"):
        key, sep, value = pair.partition("=")
        if sep and key.strip(_OWS) == name:
            value = value.strip(_OWS)
            if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
                value = value[1:-1]
            return value
    return None
