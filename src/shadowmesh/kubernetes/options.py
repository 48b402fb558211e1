"""`run --kubernetes` settings, and the click options that set them.

Importing this module is cheap: the client library is only imported when the source starts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import click

from shadowmesh.kubernetes.kinds import ALL_KINDS, WatchedKind

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class WatchOptions:
    page_size: int = 500
    watch_timeout: tuple[int, int] = (300, 600)  # server-side timeoutSeconds, random in range
    stall_timeout: float = 120.0  # no byte (not even a bookmark) for this long: reconnect
    backoff_initial: float = 0.8  # client-go's defaults
    backoff_max: float = 30.0
    absent_recheck: float = 60.0  # how often to look for a CRD that is not installed


@dataclass(frozen=True)
class KubernetesOptions:
    kubeconfig: str | None = None  # None: the pod's service account
    context: str | None = None
    namespace: str | None = "default"  # None: all namespaces
    debounce: float = 0.1  # istiod's PILOT_DEBOUNCE_AFTER
    debounce_max: float = 1.0
    # Under endless churn, pushes may take at most this share of one core: after a push
    # that took t seconds, the next waits at least t * (1 / share - 1).
    push_cpu_share: float = 0.25
    watch: WatchOptions = field(default_factory=WatchOptions)
    kinds: tuple[WatchedKind, ...] = ALL_KINDS



def kubernetes_options(fn: F) -> F:
    """--kubernetes, --kubeconfig, --context, --all-namespaces, --kube-debounce."""
    for option in reversed((
        click.option("--kubernetes", "kubernetes", is_flag=True,
                     help="Take Services, EndpointSlices, Pod labels and Istio's custom "
                          "resources from the Kubernetes API server (in-cluster service "
                          "account unless --kubeconfig), in --namespace or every namespace."),
        click.option("--kubeconfig", default=None, type=click.Path(dir_okay=False),
                     help="Use this kubeconfig instead of the pod's service account."),
        click.option("--context", "kube_context", default=None,
                     help="The kubeconfig context (default: its current-context)."),
        click.option("-A", "--all-namespaces", is_flag=True,
                     help="With --kubernetes: watch every namespace, not just --namespace."),
        click.option("--kube-debounce", default="100ms", show_default=True,
                     help="Quiet time after API events before the new table is built "
                          "(never more than 10x this after the first event)."),
    )):
        fn = option(fn)
    return fn


def kubernetes_settings(kubeconfig: str | None, context: str | None, namespace: str | None,
                        debounce: float) -> KubernetesOptions:
    return KubernetesOptions(kubeconfig=kubeconfig, context=context, namespace=namespace,
                             debounce=debounce, debounce_max=max(debounce * 10, debounce))
