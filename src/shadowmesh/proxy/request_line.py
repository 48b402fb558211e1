"""The request line as it came on the wire (RFC 9112 3), checked before the parser sees it.

llhttp, as httptools builds it, is lenient here: it skips runs of spaces around the target,
takes `GET /` (no version) as an HTTP/0.9 request and then waits for header fields that an
HTTP/0.9 client never sends, and accepts `HTTP/2.0` as a version. The proxy answers all of
these: 400 for a malformed line, 505 for a version it does not speak.

httptools reports no offsets, so the protocol can only find a request line that starts a
read (the usual case: a client that waits for each answer, and the first request of a
pipelined burst). A request pipelined behind another in the same read gets llhttp's checks
and the version check at the end of its head (505 / 400 for 0.9) but not the whitespace
check; it is harmless there, since the request line sent upstream is rebuilt from its parts.
"""

from __future__ import annotations

from typing import Final

_DIGITS: Final = b"0123456789"
# A request line longer than this is judged by `request_line_error` (find, split).
_SCAN_LIMIT: Final = 256


def simple_line_end(data: bytes) -> int:
    """Where the request line that starts `data` ends (the index of its LF), if it is the
    usual `METHOD SP TARGET SP HTTP/1.1 CRLF` (or HTTP/1.0) within `_SCAN_LIMIT` bytes; -1
    for anything else, which `request_line_error` then judges. One compiled pass without an
    allocation: a `find` and a `split` through the C API cost twice as much for a line of
    typical length."""
    n = len(data)
    stop = n if n < _SCAN_LIMIT else _SCAN_LIMIT
    first = -1
    second = -1
    i = 0
    if data.startswith(b"GET "):  # most requests: no need to look at the method byte by byte
        first = 3
        i = 4
    while i < stop:
        c = data[i]
        if c == 32:
            if first < 0:
                first = i
            elif second < 0:
                second = i
            else:
                return -1  # a third space: not the usual line
        elif c == 10:
            # empty method or target (a leading or doubled space), fewer than 3 parts, or
            # a version part that is not 8 bytes and a CR
            if second < 0 or first == 0 or second == first + 1 or i - second != 10:
                return -1
            # `HTTP/1.1` or `HTTP/1.0`, compared in place: a slice would be an allocation
            j = second + 1
            if (data[j] == 72 and data[j + 1] == 84 and data[j + 2] == 84  # HTT
                    and data[j + 3] == 80 and data[j + 4] == 47 and data[j + 5] == 49  # P/1
                    and data[j + 6] == 46 and (data[j + 7] == 49 or data[j + 7] == 48)  # .1 .0
                    and data[j + 8] == 13):
                return i
            return -1
        i += 1
    return -1


def request_line_error(line: bytes) -> tuple[int, str] | None:
    """(status, detail) if the request line (without its line end) must be refused."""
    if line.endswith(b"\r"):
        line = line[:-1]
    parts = line.split(b" ")
    if len(parts) == 3 and parts[0] and parts[1]:
        version = parts[2]
        # the usual case; compiled, two byte compares cost less than hashing for a set
        if version == b"HTTP/1.1" or version == b"HTTP/1.0":
            return None
    if any(not part for part in parts):
        return 400, "invalid whitespace in request line"
    if len(parts) == 2:
        return 400, "HTTP/0.9 request"
    if len(parts) != 3:
        return 400, "invalid request line"
    version = parts[2]
    if (len(version) == 8 and version.startswith(b"HTTP/") and version[6] == 46  # "."
            and version[5] in _DIGITS and version[7] in _DIGITS):
        return 505, "unsupported HTTP version"
    return 400, "invalid HTTP version"
