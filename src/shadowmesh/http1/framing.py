"""HTTP/1.1 framing pieces both sides of the proxy and the shadow pipelines need: header
lists, splitting a received head into fields, chunked framing, which answers carry no body.

Headers travel as lists of `(name, value)` byte pairs in arrival order; names keep their
case on the wire (HTTP/1.1 peers sometimes care) and are compared lower-cased.
"""

from __future__ import annotations

from typing import Final

Headers = list[tuple[bytes, bytes]]


def head_fields(raw_head: bytes) -> Headers:
    """The fields of a message head (status or request line first), as the parser saw them.

    Upstream responses are not split into fields while parsing (a Python callback per field
    costs more than the rest of a pass-through); this does it when a rule or the capture
    hook needs them. Obsolete line folding is joined with a space (RFC 9112 5.2)."""
    out: Headers = []
    lines = raw_head.split(b"\n")
    for line in lines[1:]:
        line = line.rstrip(b"\r")
        if not line:
            break
        if line[:1] in (b" ", b"\t") and out:
            name, value = out[-1]
            out[-1] = (name, value + b" " + line.strip())
            continue
        name, _, value = line.partition(b":")
        out.append((name, value.strip(b" \t")))
    return out


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(data), data)


LAST_CHUNK: Final = b"0\r\n\r\n"


def body_forbidden(status: int, method: bytes) -> bool:
    """Responses that never carry a body (RFC 9112 6.3)."""
    return method == b"HEAD" or status in (204, 304) or 100 <= status < 200
