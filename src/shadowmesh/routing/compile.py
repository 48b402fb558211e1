"""Validated Istio resources -> the immutable `RoutingTable` the data plane reads.

This is where Istio's translation rules live (pilot's `route.go`): host expansion, rule order
and catch-all truncation, weights, destination ports and subsets, retry defaults, mirror
percentages, DestinationRule policy merging. Everything raw is resolved here, once per reload.
"""

from __future__ import annotations

import base64
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from shadowmesh.config.models.common import StringMatch
from shadowmesh.config.models.virtual_service import HTTPMatchRequest
from shadowmesh.config.resource import Resource
from shadowmesh.mirror.sampling import percent_to_ppm, percentage_to_ppm
from shadowmesh.mirror.settings import ShadowDefaults, shadow_settings
from shadowmesh.registry import ServiceRegistry, select_endpoints
from shadowmesh.routing.balancer import HashKeySpec
from shadowmesh.routing.hosts import EndpointSpec
from shadowmesh.routing.matchers import compile_match, compile_regex, compile_string_match
from shadowmesh.routing.outlier import OutlierPolicy
from shadowmesh.routing.table import (
    MESH,
    NO_HEADER_OPS,
    NO_RETRIES,
    UNLIMITED,
    ClusterPolicy,
    ClusterSpec,
    CorsPolicy,
    DirectResponse,
    FaultPolicy,
    HeaderOps,
    ListenerSpec,
    MirrorTarget,
    Redirect,
    RetryPolicy,
    Rewrite,
    Route,
    RouteDestination,
    RoutingTable,
    ServerTLS,
    VirtualHost,
)
from shadowmesh.tls import check_crls, server_tls, upstream_tls

_version = itertools.count(1)
# The listener context of a plain-HTTP Gateway server with `tls.httpsRedirect`.
HTTPS_REDIRECT = "#https-redirect"


@dataclass(frozen=True, slots=True)
class CompileOptions:
    namespace: str = "default"  # the client's namespace, for short-name authorities
    shadow: ShadowDefaults = field(default_factory=ShadowDefaults)
    credentials_dir: str | None = None  # `credentialName` -> DIR/<name>/tls.crt|tls.key|ca.crt


class _Builder:
    def __init__(self, resources: Sequence[Resource], options: CompileOptions) -> None:
        self.options = options
        self.registry = ServiceRegistry.from_resources(resources)
        self.resources = resources
        self.rules: dict[str, list[Resource]] = {}  # FQDN host -> DestinationRules
        for res in resources:
            if res.kind == "DestinationRule" and res.spec.host:  # type: ignore[attr-defined]
                fqdn = self.registry.resolve_host(res.spec.host,  # type: ignore[attr-defined]
                                                  res.metadata.namespace)
                self.rules.setdefault(fqdn, []).append(res)
        self.clusters: dict[str, ClusterSpec] = {}

    # -- clusters ---------------------------------------------------------------------------
    def cluster(self, host: str, subset: str | None, port: int | None,
                namespace: str) -> ClusterSpec:
        fqdn = self.registry.resolve_host(host, namespace)
        service = self.registry.lookup(host, namespace)
        if port is None:
            # Istio: explicit port, else the only port of the service, else the listener's.
            port = service.ports[0].number if service is not None and service.ports else 80
        name = f"outbound|{port}|{subset or ''}|{fqdn}"
        known = self.clusters.get(name)
        if known is not None:
            return known
        rule = self.rules.get(fqdn, [None])[0]
        policy_src: Any = rule.spec.traffic_policy if rule is not None else None  # type: ignore[attr-defined]
        subset_labels: Mapping[str, str] | None = None
        subset_found = subset is None
        if rule is not None and subset is not None:
            for sub in rule.spec.subsets or ():  # type: ignore[attr-defined]
                if sub.name == subset:
                    subset_found = True
                    subset_labels = sub.labels or {}
                    policy_src = _merge_policy(policy_src, sub.traffic_policy)
        endpoints: list[EndpointSpec] = []
        if service is not None and subset_found:
            service_port = next((p for p in service.ports if p.number == port), None)
            chosen = (
                select_endpoints(service, subset_labels)
                if subset_labels is not None else list(service.endpoints)
            )
            for ep in chosen:
                ep_port = (
                    service.endpoint_port(ep, service_port) if service_port is not None else port
                )
                endpoints.append(EndpointSpec(
                    address=ep.address,
                    port=ep_port,
                    workload=ep.workload_name,
                    namespace=ep.namespace,
                    labels=dict(ep.labels or {}),
                ))
        policy_src = _port_level(policy_src, port)
        spec = ClusterSpec(
            name=name,
            service=fqdn,
            service_name=fqdn.split(".")[0],
            namespace=service.namespace if service is not None else namespace,
            subset=subset,
            port=port,
            endpoints=tuple(endpoints),
            policy=_cluster_policy(policy_src, fqdn, self.options.credentials_dir),
        )
        self.clusters[name] = spec
        return spec

    def destination(self, dest: Any, namespace: str) -> ClusterSpec:
        port = dest.port.number if dest.port is not None and dest.port.number else None
        return self.cluster(dest.host, dest.subset, port, namespace)

    # -- routes -----------------------------------------------------------------------------
    def route(self, vs: Resource, http: Any, index: int) -> Route:
        ns = vs.metadata.namespace
        vs_name = f"{ns}/{vs.metadata.name}"
        matches = tuple(compile_match(m) for m in http.match)
        name = http.name
        shadow = shadow_settings(vs.metadata.annotations, self.options.shadow)
        base = Route(name=name, virtual_service=vs_name, matches=matches, shadow=shadow)
        if http.redirect is not None:
            rd = http.redirect
            return replace(base, redirect=Redirect(
                code=rd.redirect_code or 301, uri=rd.uri, prefix_rewrite=rd.prefix_rewrite,
                authority=rd.authority,
                scheme=rd.scheme, port=rd.port, derive_port=rd.derive_port))
        if http.direct_response is not None:
            dr = http.direct_response
            body = b""
            if dr.body is not None:
                body = (dr.body.string.encode() if dr.body.string is not None
                        else base64.b64decode(dr.body.bytes or ""))
            return replace(base, direct_response=DirectResponse(dr.status, body))
        dests: list[RouteDestination] = []
        for rd in http.route:
            if rd.destination is None:
                continue
            req_ops, resp_ops = _headers(rd.headers)
            dests.append(RouteDestination(self.destination(rd.destination, ns), rd.weight,
                                          req_ops, resp_ops))
        if len(dests) > 1:
            dests = [d for d in dests if d.weight > 0]  # weight-0 entries get no traffic
        if len(dests) == 1:
            cumulative: tuple[int, ...] = (1,)
        else:
            cumulative = tuple(itertools.accumulate(d.weight for d in dests))
        req_ops, resp_ops = _headers(http.headers)
        rewrite = None
        if http.rewrite is not None:
            rw = http.rewrite
            regex = rw.uri_regex_rewrite
            rewrite = Rewrite(
                uri=rw.uri or None,
                regex=compile_regex(regex.match) if regex is not None and regex.match else None,
                regex_substitution=_re2_substitution(regex.rewrite or "")
                if regex is not None else "",
                authority=rw.authority or None,
            )
        mirrors = self._mirrors(http, ns)
        if mirrors and dests:
            mirrors += self._noise(vs, http, ns)
        return replace(
            base,
            destinations=tuple(dests),
            cumulative_weights=cumulative,
            rewrite=rewrite,
            timeout=http.timeout or None,
            retry=_retry(http.retries),
            fault=_fault(http.fault),
            cors=_cors(http.cors_policy),
            request_headers=req_ops,
            response_headers=resp_ops,
            mirrors=mirrors,
        )

    def _mirrors(self, http: Any, namespace: str) -> tuple[MirrorTarget, ...]:
        targets: list[MirrorTarget] = []
        if http.mirror is not None:
            # Istio's MirrorPercent: mirrorPercentage > mirrorPercent > 100%.
            if http.mirror_percentage is not None:
                ppm = percentage_to_ppm(http.mirror_percentage.value)
            elif http.mirror_percent is not None:
                ppm = percent_to_ppm(http.mirror_percent)
            else:
                ppm = 1_000_000
            if ppm > 0:
                targets.append(MirrorTarget(self.destination(http.mirror, namespace), ppm))
        for policy in http.mirrors:
            if policy.destination is None:
                continue
            ppm = (percentage_to_ppm(policy.percentage.value)
                   if policy.percentage is not None else 1_000_000)
            if ppm > 0:
                targets.append(MirrorTarget(self.destination(policy.destination, namespace), ppm))
        return tuple(targets)

    def _noise(self, vs: Resource, http: Any, namespace: str) -> tuple[MirrorTarget, ...]:
        """A Comparison's noise copy: to the route's first destination service, in the
        Comparison's noise subset, for the hosts of this VirtualService it names."""
        hosts = {self.registry.resolve_host(h, namespace)
                 for h in vs.spec.hosts}  # type: ignore[attr-defined]
        first = next((rd.destination for rd in http.route if rd.destination is not None), None)
        targets = []
        for res in self.resources:
            spec: Any = res.spec
            if (res.kind != "Comparison" or spec.noise is None or not spec.noise.subset
                    or self.registry.resolve_host(spec.host or "", res.metadata.namespace)
                    not in hosts or first is None):
                continue
            port = first.port.number if first.port is not None and first.port.number else None
            cluster = self.cluster(first.host, spec.noise.subset, port, namespace)
            percentage = spec.noise.percentage if spec.noise.percentage is not None else 10.0
            targets.append(MirrorTarget(cluster, percentage_to_ppm(percentage), role="noise"))
        return tuple(targets)

    # -- virtual hosts ----------------------------------------------------------------------
    def build(self) -> RoutingTable:
        exact: dict[str, dict[str, VirtualHost]] = {}
        wildcards: dict[str, list[tuple[str, VirtualHost]]] = {}
        catch_all: dict[str, VirtualHost] = {}
        gateway_listeners: list[ListenerSpec] = []
        # HTTPS servers by listener: several on one port are told apart by SNI.
        secure: dict[tuple[str, str, int], list[ServerTLS]] = {}
        unserved: dict[tuple[str, str, int], list[str]] = {}
        gateways: dict[str, Resource] = {}
        exposed: dict[str, list[str]] = {}  # gateway context -> server host patterns
        for res in self.resources:
            if res.kind == "Gateway":
                key = f"{res.metadata.namespace}/{res.metadata.name}"
                gateways[key] = res
                for server in res.spec.servers or ():  # type: ignore[attr-defined]
                    # `hosts` entries are `[namespace/]dnsName`; the namespace part only
                    # scopes which VirtualServices may bind, a distinction we do not need.
                    exposed.setdefault(f"gateway:{key}", []).extend(
                        h.rpartition("/")[2].lower() for h in server.hosts or ()
                    )
                    if server.port is None or not server.port.number:
                        continue
                    protocol = (server.port.protocol or "HTTP").upper()
                    bind = (server.bind or "127.0.0.1", server.port.number)
                    if protocol == "HTTPS":
                        hosts = tuple(server.hosts or ())
                        tls = server_tls(server.tls, hosts, self.options.credentials_dir)
                        if tls is not None:
                            secure.setdefault((f"gateway:{key}", *bind), []).append(tls)
                        else:
                            # A mode shadowmesh does not terminate (validation warns): its
                            # hosts are refused on the port, never served by another server.
                            unserved.setdefault((f"gateway:{key}", *bind), []).extend(
                                h.rpartition("/")[2].lower() for h in hosts or ("*",))
                        continue
                    if protocol not in ("HTTP", "HTTP2"):
                        continue
                    context = f"gateway:{key}"
                    if server.tls is not None and server.tls.https_redirect:
                        # Envoy's `require_tls`: every request on this server is sent to
                        # https with a 301, whatever its route.
                        context = f"gateway:{key}{HTTPS_REDIRECT}"
                        catch_all[context] = VirtualHost(key, (Route(
                            name=None, virtual_service=key, matches=(),
                            redirect=Redirect(code=301, scheme="https")),))
                    gateway_listeners.append(ListenerSpec(context, *bind))
        for (listener, bind_host, bind_port), servers in secure.items():
            check_crls(servers, bind_port)
            refused = tuple(unserved.get((listener, bind_host, bind_port), ()))
            gateway_listeners.append(ListenerSpec(listener, bind_host, bind_port,
                                                  tls=tuple(servers), refused=refused))
        claimed: set[tuple[str, str]] = set()
        for res in sorted(
            (r for r in self.resources if r.kind == "VirtualService"),
            key=lambda r: (r.metadata.namespace, r.metadata.name),
        ):
            spec: Any = res.spec
            routes: list[Route] = []
            for index, http in enumerate(spec.http or ()):
                routes.append(self.route(res, http, index))
                if not http.match:
                    break  # Istio drops rules after a catch-all
            vhost = VirtualHost(f"{res.metadata.namespace}/{res.metadata.name}", tuple(routes))
            for context in self._contexts(spec.gateways, res.metadata.namespace, gateways):
                for host in spec.hosts or ():
                    if context != MESH and not _gateway_exposes(exposed.get(context, ()), host):
                        continue  # a gateway serves only the hosts its servers list
                    for domain in self._domains(host, res.metadata.namespace):
                        if (context, domain) in claimed:
                            continue  # first VirtualService for a host wins, as in Istio
                        claimed.add((context, domain))
                        if domain == "*":
                            catch_all[context] = vhost
                        elif domain.startswith("*."):
                            wildcards.setdefault(context, []).append((domain[1:], vhost))
                        else:
                            exact.setdefault(context, {})[domain] = vhost
        # Services no VirtualService claims: balanced over all endpoints, like a
        # Kubernetes Service (mesh listener only).
        for service in self.registry:
            domains = [d for d in self._domains(service.hostname, service.namespace)
                       if (MESH, d) not in claimed]
            if not domains:
                continue
            routes = []
            for port in service.ports:
                cluster = self.cluster(service.hostname, None, port.number, service.namespace)
                block = compile_match(HTTPMatchRequest(port=port.number))
                routes.append(Route(name=None, virtual_service=service.hostname,
                                    matches=(block,),
                                    destinations=(RouteDestination(cluster, 1),),
                                    cumulative_weights=(1,), retry=RetryPolicy()))
            if routes:
                first = routes[0]
                routes.append(replace(first, matches=()))
            vhost = VirtualHost(service.hostname, tuple(routes))
            for domain in domains:
                exact.setdefault(MESH, {})[domain] = vhost
        return RoutingTable(
            exact=exact,
            wildcards={
                ctx: tuple(sorted(items, key=lambda item: len(item[0]), reverse=True))
                for ctx, items in wildcards.items()
            },
            catch_all=catch_all,
            clusters=dict(self.clusters),
            gateway_listeners=tuple(gateway_listeners),
            version=next(_version),
        )

    def _contexts(self, gateways: Iterable[str], namespace: str,
                  known: Mapping[str, Resource]) -> list[str]:
        names = list(gateways or ()) or [MESH]
        contexts = []
        for gw in names:
            if gw == MESH:
                contexts.append(MESH)
                continue
            key = gw if "/" in gw else f"{namespace}/{gw}"
            if key in known:
                contexts.append(f"gateway:{key}")
        return contexts

    def _domains(self, host: str, namespace: str) -> list[str]:
        """Authorities (port stripped) a VirtualService host answers to, like Envoy's
        virtual-host domains for a Kubernetes service: short name (client's namespace),
        `name.ns`, `name.ns.svc`, FQDN."""
        host = host.lower()
        if host == "*" or host.startswith("*."):
            return [host]
        fqdn = self.registry.resolve_host(host, namespace).lower()
        domains = [fqdn]
        suffix = ".svc.cluster.local"
        if fqdn.endswith(suffix):
            name_ns = fqdn[: -len(suffix)]
            name, _, ns = name_ns.partition(".")
            domains += [name_ns, f"{name_ns}.svc"]
            if ns == self.options.namespace:
                domains.append(name)
        if host not in domains:
            domains.append(host)
        return domains


def _gateway_exposes(patterns: Iterable[str], host: str) -> bool:
    host = host.lower()
    for pattern in patterns:
        if pattern in ("*", host):
            return True
        if pattern.startswith("*.") and (host.endswith(pattern[1:]) or host == pattern):
            return True
        if host.startswith("*.") and pattern.endswith(host[1:]):
            return True  # the VirtualService's wildcard covers the server's host
    return False


def _re2_substitution(rewrite: str) -> str:
    return rewrite  # RE2 and python-re2 both use \1 for groups


def _headers(headers: Any) -> tuple[HeaderOps, HeaderOps]:
    if headers is None:
        return NO_HEADER_OPS, NO_HEADER_OPS
    return _ops(headers.request), _ops(headers.response)


def _ops(ops: Any) -> HeaderOps:
    if ops is None:
        return NO_HEADER_OPS
    set_items = tuple((k.lower(), v) for k, v in (ops.set or {}).items())
    authority = None
    plain = []
    for name, value in set_items:
        if name in ("host", ":authority"):
            authority = value
        else:
            plain.append((name, value))
    add_items = []
    for name, value in (ops.add or {}).items():
        if name.lower() in ("host", ":authority"):
            authority = value
        else:
            add_items.append((name.lower(), value))
    return HeaderOps(set=tuple(plain), add=tuple(add_items),
                     remove=tuple(n.lower() for n in ops.remove or ()), authority=authority)


def _retry(retries: Any) -> RetryPolicy:
    if retries is None:
        return RetryPolicy()  # Istio's mesh default
    if not retries.attempts:
        return NO_RETRIES
    policy = RetryPolicy(retries=retries.attempts, per_try_timeout=retries.per_try_timeout)
    if retries.retry_on:
        on: set[str] = set()
        codes: set[int] = set()
        for item in retries.retry_on.split(","):
            item = item.strip()
            if item.isdigit():
                codes.add(int(item))
                on.add("retriable-status-codes")
            elif item:
                on.add(item)
        policy = replace(policy, retry_on=frozenset(on), status_codes=frozenset(codes))
    if retries.backoff:
        policy = replace(policy, backoff_base=retries.backoff, backoff_max=retries.backoff * 10)
    return policy


def _ppm(percentage: Any, percent: int = 0) -> int:
    if percentage is not None:
        return percentage_to_ppm(percentage.value)
    if percent:
        return percent_to_ppm(percent)
    return 0  # Istio: no percentage => never injected


def _fault(fault: Any) -> FaultPolicy | None:
    if fault is None:
        return None
    delay = fault.delay
    abort = fault.abort
    return FaultPolicy(
        delay=(delay.fixed_delay or delay.exponential_delay) if delay is not None else None,
        delay_ppm=_ppm(delay.percentage, delay.percent) if delay is not None else 0,
        abort_status=abort.http_status if abort is not None else None,
        abort_ppm=_ppm(abort.percentage) if abort is not None else 0,
    )


def _cors(cors: Any) -> CorsPolicy | None:
    if cors is None:
        return None
    origins = [compile_string_match(sm) for sm in cors.allow_origins]
    for exact in cors.allow_origin:
        origins.append(compile_string_match(StringMatch(exact=exact)))
    max_age = str(int(cors.max_age)) if cors.max_age else None
    return CorsPolicy(
        allow_origins=tuple(origins),
        allow_methods=",".join(cors.allow_methods) or None,
        allow_headers=",".join(cors.allow_headers) or None,
        expose_headers=",".join(cors.expose_headers) or None,
        max_age=max_age,
        allow_credentials=cors.allow_credentials,
        forward_unmatched_preflights=cors.unmatched_preflights != "IGNORE",
    )


def _merge_policy(top: Any, subset: Any) -> Any:
    """Subset trafficPolicy overrides the top level field by field (Istio's MergeTrafficPolicy)."""
    if subset is None:
        return top
    if top is None:
        return subset
    updates = {
        field: getattr(subset, field)
        for field in ("load_balancer", "connection_pool", "outlier_detection", "tls")
        if getattr(subset, field) is not None
    }
    return top.model_copy(update=updates)


def _port_level(policy: Any, port: int) -> Any:
    if policy is None or not policy.port_level_settings:
        return policy
    for pls in policy.port_level_settings:
        if pls.port is not None and pls.port.number == port:
            updates = {
                field: getattr(pls, field)
                for field in ("load_balancer", "connection_pool", "outlier_detection", "tls")
                if getattr(pls, field) is not None
            }
            return policy.model_copy(update=updates)
    return policy


# connectionPool (section, field) -> ClusterPolicy attribute
_POOL_FIELDS = (
    ("tcp", "max_connections", "max_connections"),
    ("tcp", "connect_timeout", "connect_timeout"),
    ("tcp", "max_connection_duration", "max_connection_duration"),
    ("http", "http1_max_pending_requests", "max_pending_requests"),
    ("http", "max_requests_per_connection", "max_requests_per_connection"),
    ("http", "max_retries", "max_retries"),
    ("http", "idle_timeout", "idle_timeout"),
)


def _cluster_policy(tp: Any, service: str = "", credentials_dir: str | None = None
                    ) -> ClusterPolicy:
    if tp is None:
        return ClusterPolicy()
    kwargs: dict[str, Any] = {}
    if tp.tls is not None:
        kwargs["tls"] = upstream_tls(tp.tls, service, credentials_dir)
    lb = tp.load_balancer
    if lb is not None:
        kwargs["lb_simple"] = lb.simple
        ch = lb.consistent_hash
        if ch is not None:
            ring = (ch.ring_hash.minimum_ring_size if ch.ring_hash is not None else 0) \
                or ch.minimum_ring_size or 1024
            kwargs["hash_key"] = HashKeySpec(
                header=ch.http_header_name.lower() if ch.http_header_name else None,
                cookie=ch.http_cookie.name if ch.http_cookie is not None else None,
                query=ch.http_query_parameter_name,
                source_ip=bool(ch.use_source_ip),
                ring_size=ring,
            )
    pool = tp.connection_pool
    if pool is not None:
        for section, field_name, key in _POOL_FIELDS:
            part = getattr(pool, section)
            value = getattr(part, field_name) if part is not None else None
            if value:  # 0 / unset keeps Envoy's default
                kwargs[key] = value
    od = tp.outlier_detection
    if od is not None:
        kwargs["outlier"] = OutlierPolicy(
            consecutive_5xx=od.consecutive_5xx_errors
            if od.consecutive_5xx_errors is not None else 5,
            consecutive_gateway=od.consecutive_gateway_errors or 0,
            interval=od.interval or 10.0,
            base_ejection_time=od.base_ejection_time or 30.0,
            max_ejection_percent=od.max_ejection_percent or 10,
            min_health_percent=od.min_health_percent or 0,
        )
    policy = ClusterPolicy(**kwargs)
    if policy.max_connections == 0:
        policy = replace(policy, max_connections=UNLIMITED)
    return policy


def compile_table(resources: Sequence[Resource],
                  options: CompileOptions | None = None) -> RoutingTable:
    return _Builder(resources, options or CompileOptions()).build()
