"""Noise cancellation, volatile fields, the latency test, endpoint names: crafted inputs."""

from __future__ import annotations

import random
import uuid

import pytest
from scipy.stats import mannwhitneyu

from shadowmesh.compare import stats
from shadowmesh.compare.endpoints import OTHER, EndpointNamer, EndpointRule, path_template
from shadowmesh.compare.noise import NOISE, REGRESSION, VOLATILE, classify
from shadowmesh.compare.volatile import VolatileLearner, looks_generated


@pytest.mark.parametrize(("raw", "pairs", "noise", "noise_pairs", "volatile", "expected"), [
    (50, 100, 0, 100, 0, REGRESSION),  # differs, the primary's own version never does
    (50, 100, 50, 100, 0, NOISE),  # as often as against itself: noise
    (50, 100, 45, 100, 0, NOISE),  # gap 5 points: relative 10% <= 20%
    (50, 100, 30, 100, 0, REGRESSION),  # gap 20 points: relative 40%, absolute 20%
    (100, 100, 100, 10, 0, NOISE),  # the noise rate is over the pairs that had a noise copy
    (3, 100_000, 0, 100_000, 0, NOISE),  # 0.003% of pairs: under the absolute 0.03%
    (100, 100, 0, 0, 90, VOLATILE),  # no noise copy: learned volatile
    (100, 100, 0, 0, 10, REGRESSION),
    (1, 100, 0, 0, 0, REGRESSION),
])
def test_classification(raw: int, pairs: int, noise: int, noise_pairs: int, volatile: int,
                        expected: str) -> None:
    assert classify(raw, pairs, noise, noise_pairs, volatile, 20.0, 0.03)[0] == expected


def test_volatile_when_the_primary_changes_for_the_same_request() -> None:
    learner = VolatileLearner()
    learner.observe("GET /a", "$.n", "1")
    assert not learner.is_volatile("$.n")
    learner.observe("GET /a", "$.n", "2")  # same request, different answer
    assert learner.is_volatile("$.n")


def test_volatile_when_unique_per_request_and_generated() -> None:
    learner = VolatileLearner()
    for i in range(20):
        learner.observe(f"GET /u/{i}", "$.id", f'"{uuid.uuid4()}"')
        learner.observe(f"GET /u/{i}", "$.name", '"Ann"')  # a planted change: repeats
        learner.observe(f"GET /u/{i}", "$.n", str(i))  # unique but not generated-looking
    assert learner.is_volatile("$.id")
    assert not learner.is_volatile("$.name")
    assert not learner.is_volatile("$.n")


@pytest.mark.parametrize(("value", "generated"), [
    ('"5f0c1a9e-3b1f-4c6e-9a1d-2f3e4d5c6b7a"', True),
    ('"2026-11-28T07:31:02.123Z"', True),
    ('"Sat, 28 Nov 2026 07:31:02 GMT"', True),
    ("1796000000", True),
    ('"9f86d081884c7d659a2feaa0c55ad015"', True),
    ('"Ann"', False),
    ("42", False),
])
def test_generated_values(value: str, generated: bool) -> None:
    assert looks_generated(value) is generated


def _hist(samples: list[float]) -> dict[int, int]:
    out: dict[int, int] = {}
    for ms in samples:
        b = stats.fine_bucket(ms)
        out[b] = out.get(b, 0) + 1
    return out


def test_mann_whitney_from_buckets_matches_scipy_on_the_bucketed_values() -> None:
    rng = random.Random(7)
    primary = [rng.lognormvariate(0.5, 0.3) for _ in range(300)]
    candidate = [rng.lognormvariate(0.6, 0.3) for _ in range(250)]
    hp, hc = _hist(primary), _hist(candidate)
    test = stats.mann_whitney_greater(hp, hc)
    assert test is not None
    ours_c = [stats.fine_value(b) for b, n in hc.items() for _ in range(n)]
    ours_p = [stats.fine_value(b) for b, n in hp.items() for _ in range(n)]
    ref = mannwhitneyu(ours_c, ours_p, alternative="greater", method="asymptotic",
                       use_continuity=True)
    assert test.u == pytest.approx(ref.statistic)
    assert test.p_value == pytest.approx(ref.pvalue, rel=1e-6)
    assert 0.5 < test.effect < 1.0


def test_latency_regression_supported_only_with_evidence() -> None:
    rng = random.Random(3)
    fast = _hist([rng.uniform(1, 2) for _ in range(200)])
    slow = _hist([rng.uniform(31, 32) for _ in range(200)])
    same = _hist([rng.uniform(1, 2) for _ in range(200)])
    shifted = stats.mann_whitney_greater(fast, slow)
    assert shifted is not None and shifted.p_value < 1e-30 and shifted.effect == 1.0
    null = stats.mann_whitney_greater(fast, same)
    assert null is not None and null.p_value > 0.01
    few = stats.mann_whitney_greater(_hist([1.0, 1.1]), _hist([30.0, 31.0]))
    assert few is not None and few.p_value > 0.01  # two pairs prove nothing
    assert stats.mann_whitney_greater({}, slow) is None


def test_quantiles_within_bucket_resolution() -> None:
    hist = _hist([float(i) for i in range(1, 101)])
    for q, exact in ((0.5, 50), (0.9, 90), (0.99, 99)):
        value = stats.quantile(hist, q)
        assert value is not None and abs(value - exact) / exact < 0.03
    assert stats.coarse_bucket(0.4) == 0 and stats.coarse_bucket(20000) == len(stats.BOUNDS_MS)


@pytest.mark.parametrize(("target", "template"), [
    ("/users/42", "/users/{id}"),
    ("/users/42/orders/9f86d081884c7d65a?x=1", "/users/{id}/orders/{id}"),
    ("/o/5f0c1a9e-3b1f-4c6e-9a1d-2f3e4d5c6b7a", "/o/{id}"),
    ("/v2/status", "/v2/status"),
    ("/", "/"),
    ("", "/"),
])
def test_path_templates(target: str, template: str) -> None:
    assert path_template(target) == template


def test_endpoint_rules_first_then_inference_capped() -> None:
    namer = EndpointNamer([EndpointRule("get-user", "GET", lambda p: p.startswith("/users/"))],
                          max_endpoints=2)
    assert namer.name("GET", "/users/1?x") == "get-user"
    assert namer.name("POST", "/users/1") == "POST /users/{id}"
    assert namer.name("GET", "/a") == "GET /a"
    assert namer.name("GET", "/b") == OTHER and namer.overflow == 1
    assert namer.name("GET", "/a") == "GET /a"
