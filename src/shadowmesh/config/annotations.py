"""shadowmesh's own settings on Istio resources live in `metadata.annotations`.

Istio ignores annotations it does not know, so a resource carrying them stays valid for
`kubectl apply`. Keys under `shadowmesh.io/` that are not listed here draw a warning, so
a typo (`shadowmesh.io/mirror-header` for `.../mirror-headers`) does not pass silently.
Add a key here when a feature starts reading it.
"""

from __future__ import annotations

from typing import Final

PREFIX: Final = "shadowmesh.io/"

# key -> what it does; the mirror settings (shadowmesh.mirror.settings) read these
KNOWN_ANNOTATIONS: Final[dict[str, str]] = {
    PREFIX + "shadow-host-suffix": "true/false: append -shadow to the copy's Host",
    PREFIX + "mirror-methods": "methods that may be mirrored (side-effect guard)",
    PREFIX + "mirror-set-headers": "name=value pairs set on the copy",
    PREFIX + "mirror-remove-headers": "headers removed from the copy",
    PREFIX + "mirror-host-rewrite": "Host for the copy, instead of the suffix",
    PREFIX + "mirror-sample-key": "header:NAME or cookie:NAME for consistent sampling",
    PREFIX + "mirror-timeout": "Go duration capping the copy's timeout",
    PREFIX + "mirror-body-limit": "bytes; larger bodies are not mirrored",
    PREFIX + "correlation-header": "header carrying the primary's request id",
    PREFIX + "shadow-pipelining": "true/false: pipeline copies on a few connections",
}


def is_shadowmesh_annotation(key: str) -> bool:
    return key.startswith(PREFIX)
