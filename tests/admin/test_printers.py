import time

import pytest

from shadowmesh.admin.kinds import UnknownKind, resolve_kind
from shadowmesh.admin.printers import human_age, table
from shadowmesh.admin.serialize import rfc3339


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("vs", "VirtualService"),
        ("virtualservice", "VirtualService"),
        ("VirtualServices", "VirtualService"),
        ("virtualservices.networking.istio.io", "VirtualService"),
        ("dr", "DestinationRule"),
        ("destinationrules", "DestinationRule"),
        ("se", "ServiceEntry"),
        ("serviceentries", "ServiceEntry"),
        ("we", "WorkloadEntry"),
        ("gw", "Gateway"),
        ("gateway", "Gateway"),
    ],
)
def test_kind_names_as_kubectl_accepts_them(name: str, kind: str) -> None:
    assert resolve_kind(name).kind == kind


def test_unknown_kind_message_is_kubectls() -> None:
    with pytest.raises(UnknownKind, match='the server doesn\'t have a resource type "pods"'):
        resolve_kind("pods")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (59, "59s"), (119, "119s"), (125, "2m5s"), (180, "3m"), (700, "11m"),
     (3 * 3600 + 5, "3h"), (5 * 3600 + 600, "5h10m"), (30 * 3600, "30h"), (3 * 86400, "3d"),
     (3 * 86400 + 7200, "3d2h"), (100 * 86400, "100d"), (800 * 86400, "2y")],
)  # fmt: skip
def test_human_age_like_kubectl(seconds: int, text: str) -> None:
    assert human_age(seconds) == text


def item(kind: str, name: str, spec: dict, namespace: str = "default") -> dict:  # type: ignore[type-arg]
    return {
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace,
                     "creationTimestamp": rfc3339(time.time() - 65)},
        "spec": spec,
    }  # fmt: skip


def test_virtualservice_table() -> None:
    items = [
        item("VirtualService", "httpbin", {"hosts": ["httpbin"], "http": [
            {"route": [{"destination": {"host": "httpbin", "subset": "v1"}}],
             "mirror": {"host": "httpbin", "subset": "v2"}}]}),
        item("VirtualService", "bookinfo", {"hosts": ["*"], "gateways": ["bookinfo-gateway"]}),
    ]  # fmt: skip
    assert table(items, "VirtualService", wide=False, all_namespaces=False).splitlines() == [
        "NAME       GATEWAYS               HOSTS         AGE",
        'httpbin                           ["httpbin"]   65s',
        'bookinfo   ["bookinfo-gateway"]   ["*"]         65s',
    ]
    wide = table(items, "VirtualService", wide=True, all_namespaces=True).splitlines()
    assert wide[0].split() == ["NAMESPACE", "NAME", "GATEWAYS", "HOSTS", "AGE", "MIRRORS"]
    assert wide[1].split() == ["default", "httpbin", '["httpbin"]', "65s", "httpbin/v2"]


def test_other_kinds_tables() -> None:
    dr = item("DestinationRule", "httpbin", {"host": "httpbin", "subsets": [{"name": "v1"}]})
    assert table([dr], "DestinationRule", wide=True, all_namespaces=False).splitlines() == [
        "NAME      HOST      AGE   SUBSETS",
        "httpbin   httpbin   65s   v1",
    ]
    se = item("ServiceEntry", "httpbin", {"hosts": ["httpbin"], "resolution": "STATIC",
                                          "ports": [{"number": 8000, "name": "http"}]})  # fmt: skip
    row = table([se], "ServiceEntry", wide=False, all_namespaces=False).splitlines()[1]
    assert row.split() == ["httpbin", '["httpbin"]', "STATIC", "65s"]
    we = item("WorkloadEntry", "httpbin-v1", {"address": "127.0.0.1"})
    assert table([we], "WorkloadEntry", wide=False, all_namespaces=False).splitlines() == [
        "NAME         AGE   ADDRESS",
        "httpbin-v1   65s   127.0.0.1",
    ]
