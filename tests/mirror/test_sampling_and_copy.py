"""Mirror percentages, consistent sampling, the shadow Host, the circuit breaker."""

from __future__ import annotations

import pytest

from shadowmesh.mirror.breaker import CircuitBreaker
from shadowmesh.mirror.sampling import percent_to_ppm, percentage_to_ppm
from shadowmesh.mirror.settings import ShadowDefaults, annotation_errors, shadow_settings
from shadowmesh.mirror.shadow_request import shadow_authority


@pytest.mark.parametrize(
    ("value", "ppm"),
    [(100.0, 1_000_000), (50.0, 500_000), (0.0, 0), (0.0001, 1), (0.00005, 0),
     (0.5, 5000), (33.33333, 333333), (150.0, 1_000_000)],
)
def test_percentage_to_ppm_truncates_like_envoy(value: float, ppm: int) -> None:
    assert percentage_to_ppm(value) == ppm


@pytest.mark.parametrize(("value", "ppm"), [(100, 1_000_000), (50, 500_000), (0, 0), (1, 10000)])
def test_deprecated_percent(value: int, ppm: int) -> None:
    assert percent_to_ppm(value) == ppm


@pytest.mark.parametrize(
    ("authority", "shadow"),
    [
        ("httpbin:8000", "httpbin-shadow:8000"),
        ("httpbin", "httpbin-shadow"),
        ("[::1]:80", "[::1]-shadow:80"),
        ("[::1]", "[::1]-shadow"),
        ("reviews.default.svc.cluster.local:9080", "reviews.default.svc.cluster.local-shadow:9080"),
    ],
)
def test_shadow_suffix_goes_before_the_port(authority: str, shadow: str) -> None:
    assert shadow_authority(authority) == shadow


def test_annotations_build_settings() -> None:
    settings = shadow_settings(
        {
            "shadowmesh.io/shadow-host-suffix": "false",
            "shadowmesh.io/mirror-methods": "get, head",
            "shadowmesh.io/mirror-set-headers": "x-shadow=1, x-env=staging",
            "shadowmesh.io/mirror-remove-headers": "Authorization",
            "shadowmesh.io/mirror-sample-key": "header:x-user",
            "shadowmesh.io/mirror-timeout": "250ms",
            "shadowmesh.io/mirror-body-limit": "2048",
        },
        ShadowDefaults(),
    )
    assert settings.host_suffix is False
    assert settings.methods == frozenset({"GET", "HEAD"})
    assert settings.set_headers == (("x-shadow", "1"), ("x-env", "staging"))
    assert settings.remove_headers == ("authorization",)
    assert settings.sample_header == "x-user"
    assert settings.timeout == pytest.approx(0.25)
    assert settings.body_limit == 2048


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("shadowmesh.io/shadow-host-suffix", "maybe"),
        ("shadowmesh.io/mirror-sample-key", "query:x"),
        ("shadowmesh.io/mirror-timeout", "soon"),
        ("shadowmesh.io/mirror-body-limit", "1MB"),
        ("shadowmesh.io/mirror-set-headers", "novalue"),
    ],
)
def test_invalid_annotations_are_reported(key: str, value: str) -> None:
    errors = annotation_errors({key: value})
    assert errors and errors[0][0] == key


def test_breaker_opens_probes_and_closes() -> None:
    breaker = CircuitBreaker(threshold=2, cooldown=1.0)
    assert breaker.allow(0.0)
    breaker.failure(0.0)
    breaker.failure(0.0)
    assert breaker.state(0.5) == "open" and not breaker.allow(0.5)
    assert breaker.allow(1.5)  # half-open probe
    assert not breaker.allow(1.5)  # only one
    breaker.failure(1.5)  # probe failed: open for twice as long
    assert not breaker.allow(3.0)
    assert breaker.allow(3.6)
    breaker.success()
    assert breaker.state(3.6) == "closed" and breaker.allow(3.6)
