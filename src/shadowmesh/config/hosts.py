"""Host names as Istio reads them: short-name expansion and wildcard matching.

A VirtualService or DestinationRule in namespace `ns` may name a Kubernetes Service by
its short name (`reviews`); Istio reads it as `reviews.ns.svc.cluster.local`. shadowmesh
also expands the partial forms Kubernetes DNS resolves through its search path
(`reviews.ns`, `reviews.ns.svc`). A two-label external name such as `example.com` has the
same shape as `name.ns`, so code that looks services up tries the literal name first
(see `shadowmesh.registry`).
"""

from __future__ import annotations

from typing import Final

CLUSTER_DOMAIN: Final = "cluster.local"


def resolve_host(host: str, namespace: str) -> str:
    """The FQDN Istio would use for `host` written in a resource of `namespace`."""
    name = host.strip().lower()
    if name.startswith("*"):
        return name  # wildcards are matched, never expanded
    labels = name.split(".")
    if len(labels) == 1:
        return f"{name}.{namespace}.svc.{CLUSTER_DOMAIN}"
    if len(labels) == 2:
        return f"{name}.svc.{CLUSTER_DOMAIN}"
    if len(labels) == 3 and labels[2] == "svc":
        return f"{name}.{CLUSTER_DOMAIN}"
    return name


def is_kubernetes_fqdn(host: str) -> bool:
    """`name.ns.svc.cluster.local`: a Kubernetes Service's name."""
    labels = host.split(".")
    return len(labels) == 5 and host.endswith(f".svc.{CLUSTER_DOMAIN}")


def is_wildcard(host: str) -> bool:
    return host.startswith("*")


def host_matches(pattern: str, host: str) -> bool:
    """Istio's `host.Name.Matches`: equal, or one is a wildcard covering the other.

    `*` covers everything; `*.example.com` covers `a.example.com` and `a.b.example.com`.
    """
    pattern_wild, host_wild = is_wildcard(pattern), is_wildcard(host)
    if pattern_wild and host_wild:
        shorter, longer = sorted((pattern[1:], host[1:]), key=len)
        return longer.endswith(shorter)
    if pattern_wild:
        return host.endswith(pattern[1:])
    if host_wild:
        return pattern.endswith(host[1:])
    return pattern == host
