"""The native build: which modules it covers and whether it is in use.

`setup.py` compiles `NATIVE_MODULES` (the request path's and the comparer's per-pair path)
with mypyc when asked to (`make build`); the same sources run interpreted otherwise. A
compiled module is a `.so` next to its `.py`, and Python prefers it, so a `.so` older than
its source would silently run old code: `stale_modules` finds those (the test suite refuses
to start on them).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

# listen -> route -> forward | mirror -> observe: everything a request touches.
REQUEST_PATH_MODULES = (
    "shadowmesh.proxy.dataplane",
    "shadowmesh.clock",
    "shadowmesh.proxy.client_side",
    "shadowmesh.proxy.downstream",
    "shadowmesh.proxy.request_line",
    "shadowmesh.proxy.request",
    "shadowmesh.proxy.exchange",
    "shadowmesh.proxy.route_decision",
    "shadowmesh.proxy.upstream_head",
    "shadowmesh.proxy.attempt",
    "shadowmesh.proxy.replay",
    "shadowmesh.proxy.response_writer",
    "shadowmesh.proxy.access_record",
    "shadowmesh.proxy.http11",
    "shadowmesh.proxy.local_reply",
    "shadowmesh.memo",
    "shadowmesh.proxy.rewrite",
    "shadowmesh.proxy.cors",
    "shadowmesh.http1.framing",
    "shadowmesh.http1.connection",
    "shadowmesh.http1.pool",
    "shadowmesh.http1.clusters",
    "shadowmesh.routing.table",
    "shadowmesh.routing.matchers",
    "shadowmesh.routing.hosts",
    "shadowmesh.routing.balancer",
    "shadowmesh.routing.cookies",
    "shadowmesh.routing.outlier",
    "shadowmesh.routing.rand",
    "shadowmesh.mirror.dispatcher",
    "shadowmesh.mirror.pipeline",
    "shadowmesh.mirror.shadow_request",
    "shadowmesh.mirror.tap",
    "shadowmesh.mirror.sampling",
    "shadowmesh.mirror.breaker",
    "shadowmesh.mirror.outcomes",  # built per mirrored request when comparing, then packed
    "shadowmesh.mirror.hooks",  # the outcome queue, called per outcome on the loop
    "shadowmesh.compare.wire",  # packs each outcome on the loop (OutcomeQueue._put)
    "shadowmesh.telemetry.record",
    "shadowmesh.telemetry.accesslog",
    "shadowmesh.telemetry.observer",
)

# The comparer process's per-pair path: pairing, the identical-pair check, the aggregates.
# Not on the request path (another process), but it shares the proxy's CPU.
COMPARER_MODULES = (
    "shadowmesh.compare.pairing",
    "shadowmesh.compare.engine",
    "shadowmesh.compare.aggregate",
    "shadowmesh.compare.stats",
    "shadowmesh.compare.endpoints",
)
NATIVE_MODULES = REQUEST_PATH_MODULES + COMPARER_MODULES

_PACKAGE_DIR = Path(__file__).resolve().parent


def source_path(module: str) -> Path:
    return _PACKAGE_DIR.joinpath(*module.split(".")[1:]).with_suffix(".py")


def _origin(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    return Path(spec.origin) if spec is not None and spec.origin else None


def compiled_modules() -> list[str]:
    """The request-path modules that import as native extensions here."""
    return [m for m in REQUEST_PATH_MODULES
            if (origin := _origin(m)) is not None and origin.suffix != ".py"]


def stale_modules() -> list[str]:
    """Compiled modules whose source changed after they were built."""
    # mypyc puts the code of all modules in one shared library beside the package and a
    # small stub per module, which a rebuild leaves alone when it did not change: the build
    # time is the newest of the two.
    shared = [p.stat().st_mtime for p in _PACKAGE_DIR.parent.glob("*__mypyc*")]
    stale = []
    for module in NATIVE_MODULES:
        origin, source = _origin(module), source_path(module)
        if origin is None or origin.suffix == ".py" or not source.exists():
            continue
        built = max([origin.stat().st_mtime, *shared])
        if source.stat().st_mtime > built:
            stale.append(module)
    return stale


def describe() -> str:
    n = len(compiled_modules())
    if n == 0:
        return "interpreted"
    return f"compiled ({n} of {len(REQUEST_PATH_MODULES)} request-path modules)"
