"""shadowmesh: route and mirror HTTP traffic with Istio's semantics, then compare the answers."""

__version__ = "0.1.0"
