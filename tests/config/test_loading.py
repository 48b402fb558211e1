"""Reading files, directories and text into resources, as `kubectl apply -f` would."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shadowmesh.config import load_paths, load_text
from shadowmesh.config.models import DestinationRule, VirtualService

VS = """\
apiVersion: networking.istio.io/{version}
kind: VirtualService
metadata:
  name: {name}
spec:
  hosts: [{name}]
  http:
  - route:
    - destination: {{host: {name}}}
"""


def vs(name: str = "httpbin", version: str = "v1") -> str:
    return VS.format(name=name, version=version)


def test_multi_document_yaml_with_empty_documents() -> None:
    text = "---\n" + vs("a") + "---\n---\n# only a comment\n---\n" + vs("b", "v1beta1")
    result = load_text(text, "multi.yaml")
    assert result.ok and result.issues == []
    assert [(r.name, r.source.index, r.api_version) for r in result.resources] == [
        ("a", 0, "networking.istio.io/v1"),
        ("b", 3, "networking.istio.io/v1beta1"),
    ]
    assert result.resources[1].source.line == 15


@pytest.mark.parametrize("version", ["v1alpha3", "v1beta1", "v1"])
def test_every_istio_version_loads(version: str) -> None:
    result = load_text(vs(version=version))
    assert result.ok
    assert result.resources[0].key == ("VirtualService", "default", "httpbin")


def test_kubernetes_list() -> None:
    items = [
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "DestinationRule",
            "metadata": {"name": "r", "namespace": "prod"},
            "spec": {"host": "r"},
        },
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "r"}},
    ]
    text = "apiVersion: v1\nkind: List\nitems:\n" + "".join(
        "- " + json.dumps(item) + "\n" for item in items
    )
    result = load_text(text, "list.yaml")
    assert result.ok
    (rule,) = result.resources
    assert isinstance(rule.spec, DestinationRule)
    assert (rule.namespace, rule.source.item, rule.source.line) == ("prod", 0, 4)
    (ignored,) = result.ignored
    assert ignored.item == 1
    assert ignored.note == "ignored: v1 Service default/r is not an Istio networking resource"


def test_other_kinds_are_ignored_with_a_note() -> None:
    text = (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: httpbin-v1}\nspec: {replicas: 1}\n"
        "---\napiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: gw}\n"
        "---\napiVersion: networking.istio.io/v1\nkind: Sidecar\n"
        "metadata: {name: s, namespace: x}\n"
    )
    result = load_text(text, "mixed.yaml")
    assert result.ok and result.resources == []
    assert [doc.note for doc in result.ignored] == [
        "ignored: apps/v1 Deployment default/httpbin-v1 is not an Istio networking resource",
        "ignored: gateway.networking.k8s.io/v1 Gateway default/gw "
        "is not an Istio networking resource",
        "ignored: networking.istio.io/v1 Sidecar x/s is not supported by shadowmesh",
    ]


def test_known_kind_with_unknown_version_is_an_error() -> None:
    result = load_text(vs(version="v2"), "v2.yaml")
    (issue,) = result.issues
    assert issue.level == "error" and issue.path == "apiVersion"
    assert issue.message.startswith(
        'no matches for kind "VirtualService" in version "networking.istio.io/v2"'
    )
    assert result.resources == []


def test_yaml_syntax_error_has_file_and_line() -> None:
    text = vs("a") + "---\napiVersion: v1\nkind: x\nmetadata:\n  name: b\n   bad: indent\n"
    result = load_text(text, "broken.yaml")
    (issue,) = result.issues
    assert (issue.level, issue.file, issue.line) == ("error", "broken.yaml", 15)
    assert issue.message.startswith("yaml: line 15: ")
    assert str(issue).startswith("error: broken.yaml:15: yaml: line 15:")
    assert [r.name for r in result.resources] == ["a"]  # documents before the error still load


def test_repeated_key_is_an_error() -> None:
    result = load_text("apiVersion: v1\nkind: A\nkind: B\n", "dup.yaml")
    assert [i.message for i in result.issues] == ['yaml: line 3: key "kind" already set in map']


def test_missing_kind_and_name() -> None:
    result = load_text(
        "metadata: {name: x}\n---\napiVersion: networking.istio.io/v1\n"
        "kind: VirtualService\nspec: {hosts: [a]}\n",
        "m.yaml",
    )
    assert [(i.path, i.message) for i in result.issues] == [
        (None, "apiVersion not set, kind not set"),
        ("metadata.name", "resource name may not be empty"),
    ]


def test_unknown_fields_are_errors_with_paths_as_written() -> None:
    text = (
        vs() + "    mirrorPercentag: {value: 5}\n    mirror_percnt: 5\n" + "status: {}\nextra: 1\n"
    )
    result = load_text(text, "typo.yaml")
    assert [(i.path, i.message) for i in result.issues] == [
        ("extra", 'unknown field "extra"'),
        (
            "spec.http[0].mirrorPercentag",
            'unknown field "mirrorPercentag" (did you mean "mirrorPercentage"?)',
        ),
        (
            "spec.http[0].mirror_percnt",
            'unknown field "mirror_percnt" (did you mean "mirror_percent"?)',
        ),
    ]
    assert result.resources == [] and not result.ok


@pytest.mark.parametrize(
    ("spec", "path", "message"),
    [
        ({"hosts": "a"}, "spec.hosts", 'expected a list, got "a"'),
        (
            {"http": [{"route": [{"weight": "x"}]}]},
            "spec.http[0].route[0].weight",
            'expected an integer, got "x"',
        ),
        (
            {"http": [{"timeout": "10"}]},
            "spec.http[0].timeout",
            'time: missing unit in duration "10"',
        ),
        (
            {"http": [{"match": [{"uri": {"exact": "/a", "prefix": "/b"}}]}]},
            "spec.http[0].match[0].uri",
            "only one of exact, prefix may be set",
        ),
        (
            {"http": [{"mirror_percentage": {"value": 1}, "mirrorPercentage": {"value": 2}}]},
            "spec.http[0]",
            'field "mirrorPercentage" is set twice (also as "mirror_percentage")',
        ),
        (
            {"http": [{"match": [{"headers": {"end-user": {"exactt": "jason"}}}]}]},
            "spec.http[0].match[0].headers[end-user].exactt",
            'unknown field "exactt" (did you mean "exact"?)',
        ),
    ],
)
def test_decoding_problems(spec: dict[str, object], path: str, message: str) -> None:
    doc = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": "x"},
        "spec": spec,
    }
    result = load_text(json.dumps(doc), "bad.json")
    assert [(i.path, i.message) for i in result.issues] == [(path, message)]
    assert result.issues[0].document == "VirtualService default/x"


def test_paths_recurse_sorted_and_skip_other_suffixes(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "z.yml").write_text(vs("z"))
    (tmp_path / "b" / "notes.txt").write_text("not yaml: [")
    (tmp_path / "a.yaml").write_text(vs("a"))
    doc = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "DestinationRule",
        "metadata": {"name": "j"},
        "spec": {"host": "j"},
    }
    (tmp_path / "c.json").write_text(json.dumps(doc))
    explicit = tmp_path / "explicit.txt"
    explicit.write_text(vs("e"))
    result = load_paths([tmp_path / "b", tmp_path / "a.yaml", tmp_path / "c.json", explicit])
    assert result.ok
    assert [r.name for r in result.resources] == ["z", "a", "j", "e"]
    result = load_paths([tmp_path])
    assert [r.name for r in result.resources] == ["a", "z", "j"]  # a.yaml, b/z.yml, c.json


def test_missing_path_is_an_error(tmp_path: Path) -> None:
    result = load_paths([tmp_path / "nope.yaml"])
    (issue,) = result.issues
    assert (issue.level, issue.message) == ("error", "no such file or directory")


def test_empty_directory_warns(tmp_path: Path) -> None:
    result = load_paths([tmp_path])
    assert [(i.level, i.message) for i in result.issues] == [
        ("warning", "no .yaml, .yml or .json files")
    ]
    assert result.ok


def test_issues_come_in_file_order(tmp_path: Path) -> None:
    (tmp_path / "1.yaml").write_text(vs("a") + "    mirror_percent: 200\n    mirror: {host: a}\n")
    (tmp_path / "2.yaml").write_text(vs("b") + "    bogus: 1\n")
    result = load_paths([tmp_path])
    assert [(Path(i.file or "").name, i.level) for i in result.issues] == [
        ("1.yaml", "error"),
        ("1.yaml", "warning"),
        ("2.yaml", "error"),
    ]


def test_default_namespace_and_metadata() -> None:
    text = vs().replace(
        "  name: httpbin\n",
        "  name: httpbin\n  labels: {app: x}\n"
        "  annotations: {note: hi}\n  uid: abc\n  resourceVersion: '7'\n",
    )
    result = load_text(text, default_namespace="team")
    (resource,) = result.resources
    assert resource.namespace == "team"
    assert dict(resource.metadata.labels) == {"app": "x"}
    assert dict(resource.metadata.annotations) == {"note": "hi"}
    assert resource.label == "VirtualService team/httpbin"


def test_resources_are_immutable() -> None:
    (resource,) = load_text(vs()).resources
    spec = resource.spec
    assert isinstance(spec, VirtualService)
    with pytest.raises(Exception, match="frozen"):
        spec.hosts = ("other",)  # type: ignore[misc]
    assert isinstance(spec.http, tuple)
