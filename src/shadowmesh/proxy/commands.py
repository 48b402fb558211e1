"""`shadowmesh run`: the proxy."""

from __future__ import annotations

import logging
import sys

import click

from shadowmesh.admin.settings import AdminSettings
from shadowmesh.config.durations import parse_duration_ns
from shadowmesh.kubernetes.options import kubernetes_options, kubernetes_settings
from shadowmesh.mirror.dispatcher import MirrorLimits
from shadowmesh.mirror.settings import ShadowDefaults
from shadowmesh.proxy.limits import DownstreamLimits
from shadowmesh.routing.compile import CompileOptions
from shadowmesh.telemetry.options import build_telemetry, telemetry_options


def _hostport(value: str, option: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise click.BadParameter(f"expected HOST:PORT, got {value!r}", param_hint=option)
    host = host.strip("[]") or "127.0.0.1"
    return host, int(port)


def _seconds(value: str, option: str) -> float:
    try:
        return parse_duration_ns(value) / 1e9
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=option) from exc


def _downstream_limits(head_kb: int, fields: int, header_timeout: str,
                       idle_timeout: str) -> DownstreamLimits:
    try:
        return DownstreamLimits(
            max_head_bytes=head_kb * 1024,
            max_headers=fields,
            header_timeout=_seconds(header_timeout, "--request-headers-timeout"),
            idle_timeout=_seconds(idle_timeout, "--idle-timeout"),
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


@click.command()
@click.option("-f", "--filename", "paths", multiple=True,
              type=click.Path(exists=True), help="Istio YAML file or directory (repeatable).")
@click.option("--listen", default="127.0.0.1:15001", show_default=True,
              help="Address of the mesh listener (HOST:PORT; port 0 picks a free one).")
@click.option("--admin", "admin", default="127.0.0.1:15000", show_default=True,
              help="Address of the admin API (HOST:PORT).")
@click.option("--admin-token", envvar="SHADOWMESH_ADMIN_TOKEN", default=None,
              help="Bearer token required for admin writes (also $SHADOWMESH_ADMIN_TOKEN).")
@click.option("--admin-allowed-host", "admin_allowed_hosts", multiple=True, metavar="NAME",
              help="A Host name (NAME or NAME:PORT) admin writes may use besides the admin "
                   "listener's own address, e.g. behind a reverse proxy (repeatable).")
@click.option("--admin-body-limit", default=AdminSettings().body_limit, show_default=True,
              type=click.IntRange(1024), help="Largest admin request body, in bytes (413).")
@click.option("--max-connections", default=None, type=click.IntRange(1),
              help="Client connections at once per process; beyond it idle ones are "
                   "reclaimed, then new ones answered 503. Default: derived from the "
                   "descriptor limit (RLIMIT_NOFILE).")
@click.option("--watch-interval", default="1s", show_default=True,
              help="How often the -f files are checked for changes.")
@click.option("--reload-debounce", default="500ms", show_default=True,
              help="A changed file is loaded once it has been quiet this long.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Data-plane processes sharing the listener ports (SO_REUSEPORT).")
@click.option("--namespace", default="default", show_default=True,
              help="The clients' namespace: short host names resolve in it.")
@click.option("--credentials-dir", default=None,
              type=click.Path(exists=True, file_okay=False, dir_okay=True),
              help="Where `credentialName` certificates live, laid out like mounted "
                   "Kubernetes TLS secrets: DIR/<name>/tls.crt, tls.key, ca.crt.")
@click.option("--shadow-host-suffix/--no-shadow-host-suffix", default=True, show_default=True,
              help="Append '-shadow' to the Host of mirrored copies (Envoy and Istio <= 1.27; "
                   "Istio >= 1.28 does not). Per VirtualService: annotation "
                   "shadowmesh.io/shadow-host-suffix.")
@click.option("--shadow-pipelining/--no-shadow-pipelining", default=True, show_default=True,
              help="Pipeline shadow copies (HTTP/1.1) on a few connections per shadow host, "
                   "as deep as the shadow's recent service time allows (a slow shadow gets "
                   "one copy per connection): far fewer system calls per copy. Off: one copy "
                   "per pooled connection, as Envoy sends them. Per VirtualService: "
                   "annotation shadowmesh.io/shadow-pipelining.")
@click.option("--mirror-body-limit", default=1 << 20, show_default=True, type=int,
              help="Largest request body mirrored, in bytes (Envoy's buffer limit).")
@click.option("--mirror-timeout", default="10s", show_default=True,
              help="Longest a shadow copy may take (the route timeout applies too).")
@click.option("--mirror-queue", default=1024, show_default=True, type=int,
              help="Copies waiting for a free slot; beyond it copies are dropped (queue_full).")
@click.option("--mirror-concurrency", default=32, show_default=True, type=int,
              help="Copies in flight at once, each on a connection of its own; copies "
                   "that can be pipelined may fill the pipelines beyond it (128 in flight).")
@click.option("--drain-timeout", default="10s", show_default=True,
              help="On SIGTERM, how long requests in flight may take to finish.")
@click.option("--max-request-headers-kb", default=60, show_default=True,
              type=click.IntRange(1, 8192),
              help="Largest request head (request line and header fields), in KiB, as "
                   "Envoy's max_request_headers_kb: 431 above it (414 for a long URI). It "
                   "also caps the chunk framing (extensions, trailers) between body data.")
@click.option("--max-request-headers", default=100, show_default=True,
              type=click.IntRange(1, 10_000),
              help="Most header fields in a request, as Envoy's max_headers_count: 431 above.")
@click.option("--request-headers-timeout", default="60s", show_default=True,
              help="Longest a client may take to send a complete request head, counted from "
                   "the connection's start for its first request (nginx's "
                   "client_header_timeout): 408 and close. 0 disables it (Envoy's default, "
                   "which lets slow clients hold connections forever).")
@click.option("--idle-timeout", default="1h", show_default=True,
              help="Close a keep-alive client connection with no request for this long "
                   "(Envoy's idle_timeout). 0 disables it.")
@click.option("--source-workload", default="unknown", show_default=True,
              help="The `source_workload` label of metrics (who sends traffic through us).")
@click.option("--compare-store", default=None, metavar="URL",
              help="Where Comparison reports are kept: sqlite:////PATH (default: "
                   "$XDG_STATE_HOME/shadowmesh/compare.db) or postgresql://... to share one "
                   "report between processes and machines.")
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
@telemetry_options
@kubernetes_options
def run(
    paths: tuple[str, ...],
    listen: str,
    admin: str,
    admin_token: str | None,
    admin_allowed_hosts: tuple[str, ...],
    admin_body_limit: int,
    max_connections: int | None,
    watch_interval: str,
    reload_debounce: str,
    workers: int,
    namespace: str,
    credentials_dir: str | None,
    shadow_host_suffix: bool,
    shadow_pipelining: bool,
    mirror_body_limit: int,
    mirror_timeout: str,
    mirror_queue: int,
    mirror_concurrency: int,
    drain_timeout: str,
    max_request_headers_kb: int,
    max_request_headers: int,
    request_headers_timeout: str,
    idle_timeout: str,
    source_workload: str,
    compare_store: str | None,
    verbose: bool,
    access_log: str,
    access_log_format: str,
    kubernetes: bool,
    kubeconfig: str | None,
    kube_context: str | None,
    all_namespaces: bool,
    kube_debounce: str,
) -> None:
    """Proxy HTTP traffic with the routing and mirroring rules in PATHS."""
    from shadowmesh.proxy.server import RunOptions

    if not paths and not kubernetes:
        raise click.UsageError("give the configuration with -f PATH, --kubernetes, or both")

    if compare_store is not None:
        from shadowmesh.compare.store import open_store

        try:
            open_store(compare_store)  # the URL's form only: nothing connects yet
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--compare-store") from exc
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="shadowmesh: %(levelname)s: %(message)s", stream=sys.stderr)
    listen_host, listen_port = _hostport(listen, "--listen")
    admin_host, admin_port = _hostport(admin, "--admin")
    opts = RunOptions(
        paths=tuple(paths),
        listen_host=listen_host,
        listen_port=listen_port,
        admin_host=admin_host,
        admin_port=admin_port,
        admin_token=admin_token,
        workers=workers,
        drain_timeout=_seconds(drain_timeout, "--drain-timeout"),
        watch_interval=max(_seconds(watch_interval, "--watch-interval"), 0.05),
        reload_debounce=_seconds(reload_debounce, "--reload-debounce"),
        max_connections=max_connections,
        admin=AdminSettings(body_limit=admin_body_limit, allowed_hosts=admin_allowed_hosts),
        compile=CompileOptions(
            namespace=namespace,
            credentials_dir=credentials_dir,
            shadow=ShadowDefaults(host_suffix=shadow_host_suffix, pipelining=shadow_pipelining,
                                  body_limit=mirror_body_limit),
        ),
        mirror=MirrorLimits(
            queue_size=mirror_queue,
            concurrency=mirror_concurrency,
            timeout=_seconds(mirror_timeout, "--mirror-timeout"),
        ),
        access_log=access_log,
        access_log_format=access_log_format,
        source_workload=source_workload,
        downstream=_downstream_limits(max_request_headers_kb, max_request_headers,
                                      request_headers_timeout, idle_timeout),
        kubernetes=kubernetes_settings(
            kubeconfig=kubeconfig, context=kube_context,
            namespace=None if all_namespaces else namespace,
            debounce=_seconds(kube_debounce, "--kube-debounce"),
        ) if kubernetes else None,
        compare_store=compare_store,
    )
    if workers > 1:
        from shadowmesh.proxy.workers import run_workers

        sys.exit(run_workers(opts))
    import uvloop

    from shadowmesh.proxy.server import run_single

    telemetry = build_telemetry(access_log=access_log, access_log_format=access_log_format)
    sys.exit(uvloop.run(run_single(opts, telemetry)))
