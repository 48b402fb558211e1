"""Resources out of the real config models come back as appliable YAML/JSON."""

import pytest

from shadowmesh.admin.contract import ApplyResult
from shadowmesh.admin.serialize import apply_result_to_dict, dump_value, format_duration

models = pytest.importorskip("shadowmesh.config.models")


@pytest.mark.parametrize(
    ("seconds", "text"), [(10.0, "10s"), (0.5, "0.5s"), (0.001, "0.001s"), (5400.0, "5400s")]
)
def test_durations_go_back_to_go_strings(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_a_virtualservice_spec_dumps_only_what_was_written_with_json_names() -> None:
    written = {
        "hosts": ["httpbin"],
        "http": [
            {
                "route": [{"destination": {"host": "httpbin", "subset": "v1"}, "weight": 100}],
                "mirror": {"host": "httpbin", "subset": "v2"},
                "mirror_percentage": {"value": 50.0},
                "timeout": "1.5s",
                "retries": {"attempts": 3, "perTryTimeout": "500ms"},
            }
        ],
    }
    spec = models.VirtualService.model_validate(written)
    assert dump_value(spec) == {
        "hosts": ["httpbin"],
        "http": [
            {
                "route": [{"destination": {"host": "httpbin", "subset": "v1"}, "weight": 100}],
                "mirror": {"host": "httpbin", "subset": "v2"},
                "mirrorPercentage": {"value": 50.0},
                "timeout": "1.5s",
                "retries": {"attempts": 3, "perTryTimeout": "0.5s"},
            }
        ],
    }


def test_apply_result_json() -> None:
    from tests.admin.double import FakeIssue

    result = ApplyResult(False, [FakeIssue("error", "boom", "f.yaml", "VirtualService a/b")], [])  # type: ignore[list-item]
    assert apply_result_to_dict(result) == {
        "ok": False,
        "changed": [],
        "issues": [
            {
                "level": "error",
                "message": "boom",
                "file": "f.yaml",
                "document": "VirtualService a/b",
                "path": None,
                "code": None,
                "line": None,
                "text": "error: f.yaml: VirtualService a/b: boom",
            }
        ],
    }
