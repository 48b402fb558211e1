"""Transcribe Istio's validation table tests into the conformance cases (cases/*.yaml).

    python -m tests.config.conformance.transcribe ISTIO_SOURCE_TREE

Each table row becomes the smallest resource that reaches the rule it tests, with the
verdict the table expects and, where the table has one, its message text. Messages read
from Istio's source for a case (`message_from: source`) are kept across runs; a new rejected
case needs one added by hand (test_conformance insists on it).
"""

from __future__ import annotations

import argparse
import contextlib
import re
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml
from tests.config.conformance.golit import (
    Env,
    Lit,
    Parser,
    Unsupported,
    find_tables,
    to_json,
    tokenize,
)

ROUTE = [{"destination": {"host": "foo.bar"}}]
HOSTS = ["foo.bar"]

GO_PATHS = (
    "pkg/config/validation/validation_test.go",
    "pkg/config/validation/virtualservice_test.go",
    "pkg/config/validation/agent/validation_test.go",
)


def file_consts(src: str) -> dict[str, Any]:
    """The file's constants and simple variables, as expressions evaluated on use."""
    consts: dict[str, Any] = {}
    for block in re.finditer(r"^const \(\n(.*?)^\)", src, re.S | re.M):
        for raw in block.group(1).split("\n"):
            line = raw.split("//")[0].strip()
            if "=" in line:
                key, value = line.split("=", 1)
                # a constant this parser cannot read is simply left out
                with contextlib.suppress(SyntaxError, Unsupported, IndexError):
                    consts[key.strip()] = Parser(tokenize(value.strip())).parse_expr()
    for single in re.finditer(r"^\t?(?:const|var) (\w+)\s*=\s*(.+)$", src, re.M):
        with contextlib.suppress(SyntaxError, Unsupported, IndexError):
            consts.setdefault(single.group(1), Parser(tokenize(single.group(2))).parse_expr())
    return consts


def row_fields(row: Any, fields: list[str], env: Env) -> dict[str, Any]:
    if not isinstance(row, Lit):
        raise Unsupported("row not literal")
    out: dict[str, Any] = {}
    for i, (k, v) in enumerate(row.items):
        name = k if k is not None else fields[i]
        out[name] = to_json(env.ev(v))
    return out


def vs(
    http: dict[str, Any] | list[dict[str, Any]], hosts: list[str] | None = None
) -> dict[str, Any]:
    return {
        "hosts": HOSTS if hosts is None else hosts,
        "http": http if isinstance(http, list) else [http],
    }


def dr(policy: dict[str, Any]) -> dict[str, Any]:
    return {"host": "reviews", "trafficPolicy": policy}


def verdict_valid(valid: bool, warning: bool = False) -> str:
    if not valid:
        return "invalid"
    return "warning" if warning else "valid"


def build(test: str, f: dict[str, Any]) -> dict[str, Any] | None:
    """kind, spec, expected verdict, observes, message for one row."""
    c: dict[str, Any] = {"name": "foo", "namespace": "bar"}
    if test in ("TestValidateGateway", "TestValidateK8sGateway"):
        spec = f["in"]
        if f["name"] == "invalid message":
            return None  # a Server where a Gateway belongs: a Go type check
        if not isinstance(spec, dict) or ("servers" not in spec and spec):
            return None  # a Server given where a Gateway is expected: a Go type check
        out, warn = f.get("out", ""), f.get("warning", "")
        if test == "TestValidateK8sGateway":
            c["annotations"] = {"internal.istio.io/gateway-semantics": "gateway"}
        c.update(kind="Gateway", spec=spec, observes="errors+warnings")
        c["istio"] = "invalid" if out else ("warning" if warn else "valid")
        c["message"] = out or warn or None
        return c
    if test == "TestValidateServer":
        c.update(kind="Gateway", spec={"servers": [f["in"]]}, observes="errors")
        c["istio"] = "invalid" if f.get("out") else "valid"
        c["message"] = f.get("out") or None
        return c
    if test == "TestValidateServerPort":
        server = {"hosts": ["foo.bar.com"], "port": f["in"]}
        if f.get("bind"):
            server["bind"] = f["bind"]
        c.update(kind="Gateway", spec={"servers": [server]}, observes="errors")
        c["istio"] = "invalid" if f.get("out") else "valid"
        c["message"] = f.get("out") or None
        return c
    if test == "TestValidateTlsOptions":
        tls = f["in"] or {}
        server = {
            "hosts": ["foo.bar.com"],
            "port": {"number": 443, "name": "https", "protocol": "HTTPS"},
            "tls": tls,
        }
        c.update(kind="Gateway", spec={"servers": [server]}, observes="errors+warnings")
        out, warn = f.get("out", ""), f.get("warning", "")
        c["istio"] = "invalid" if out else ("warning" if warn else "valid")
        c["message"] = out or warn or None
        return c
    if test == "TestValidateHTTPHeaderName":
        name = f["name"]
        c.update(
            kind="VirtualService",
            observes="errors",
            spec=vs({"match": [{"headers": {name: {"exact": "v"}}}], "route": ROUTE}),
        )
        c["istio"] = verdict_valid(f["valid"])
        return c
    if test == "TestValidateCORSPolicy":
        c.update(
            kind="VirtualService",
            observes="errors",
            spec=vs({"corsPolicy": f["in"], "route": ROUTE}),
        )
        c["istio"] = verdict_valid(f["valid"])
        return c
    if test == "TestValidateHTTPStatus":
        c.update(
            kind="VirtualService",
            observes="errors",
            spec=vs(
                {
                    "fault": {"abort": {"httpStatus": f["in"], "percentage": {"value": 50}}},
                    "route": ROUTE,
                }
            ),
        )
        c["istio"] = verdict_valid(f["valid"])
        return c
    if test == "TestValidateHTTPFaultInjectionAbort":
        c.update(
            kind="VirtualService",
            observes="errors",
            spec=vs({"fault": {"abort": f["in"]} if f["in"] is not None else {}, "route": ROUTE}),
        )
        if f["in"] is None:
            return None
        c["istio"] = verdict_valid(f["valid"])
        return c
    if test == "TestValidateHTTPFaultInjectionDelay":
        if f["in"] is None:
            return None
        c.update(
            kind="VirtualService",
            observes="errors",
            spec=vs({"fault": {"delay": f["in"]}, "route": ROUTE}),
        )
        c["istio"] = verdict_valid(f["valid"])
        return c
    if test == "TestValidateHTTPRetry":
        if f["in"] is None:
            return None
        c.update(
            kind="VirtualService", observes="errors", spec=vs({"retries": f["in"], "route": ROUTE})
        )
        c["istio"] = verdict_valid(f["valid"])
        return c
    if test == "TestValidateHTTPRewrite":
        if f["in"] is None:
            return None
        c.update(
            kind="VirtualService", observes="errors", spec=vs({"rewrite": f["in"], "route": ROUTE})
        )
        c["istio"] = verdict_valid(f["valid"])
        return c
    if test == "TestValidateUriRegexRewrite":
        if f["in"] is None:
            return None
        c.update(
            kind="VirtualService",
            observes="errors",
            spec=vs({"rewrite": {"uriRegexRewrite": f["in"]}, "route": ROUTE}),
        )
        c["istio"] = verdict_valid(f["valid"])
        return c
    if test == "TestValidatePortName":
        c.update(
            kind="ServiceEntry",
            observes="errors",
            spec={
                "hosts": ["foo.bar.com"],
                "resolution": "DNS",
                "ports": [{"number": 80, "protocol": "HTTP", "name": f["name"]}],
            },
        )
        c["istio"] = verdict_valid(f["valid"])
        return c
    if test == "TestValidateHTTPRedirect":
        if f.get("redirect") is None:
            return None
        c.update(kind="VirtualService", observes="errors", spec=vs({"redirect": f["redirect"]}))
        c["istio"] = verdict_valid(f["valid"])
        return c
    if test == "TestValidateHTTPDirectResponse":
        if f.get("directResponse") is None:
            return None
        c.update(
            kind="VirtualService",
            observes="errors+warnings",
            spec=vs({"directResponse": f["directResponse"]}),
        )
        c["istio"] = verdict_valid(f["valid"], f.get("warning", False))
        return c
    if test == "TestValidateDestination":
        if f.get("destination") is None:
            return None
        c.update(
            kind="VirtualService",
            observes="errors",
            spec=vs({"route": [{"destination": f["destination"]}]}),
        )
        c["istio"] = verdict_valid(f["valid"])
        return c
    if test in ("TestValidateHTTPRoute", "TestValidateRootHTTPRoute"):
        c.update(kind="VirtualService", observes="errors", spec=vs(f["route"]))
        c["istio"] = verdict_valid(f["valid"])
        return c
    if test == "TestValidateDelegateHTTPRoute":
        c.update(kind="VirtualService", observes="errors", spec={"http": [f["route"]]})
        c["istio"] = verdict_valid(f["valid"])
        return c
    if test == "TestValidateRouteDestination":
        c.update(
            kind="VirtualService",
            observes="errors",
            spec={"hosts": HOSTS, "tcp": [{"route": f["routes"]}]},
        )
        c["istio"] = verdict_valid(f["valid"])
        return c
    if test == "TestValidateVirtualService":
        c.update(kind="VirtualService", observes="errors+warnings", spec=f["in"], namespace="")
        c["istio"] = verdict_valid(f["valid"], f.get("warning", False))
        return c
    if test == "TestValidateChainingVirtualService":
        c.update(kind="VirtualService", observes="errors", spec=f["in"], namespace="")
        c["istio"] = verdict_valid(f["valid"])
        return c
    if test == "TestValidateWorkloadEntry":
        c.update(kind="WorkloadEntry", observes="errors+warnings", spec=f["in"], namespace="")
        c["istio"] = verdict_valid(f["valid"], f.get("warning", False))
        return c
    if test == "TestValidateDestinationRule":
        c.update(kind="DestinationRule", observes="errors+warnings", spec=f["in"])
        c["istio"] = verdict_valid(f["valid"], f.get("warning", False))
        return c
    if test == "TestValidateTrafficPolicy":
        c.update(kind="DestinationRule", observes="errors", spec=dr(f["in"]))
        c["istio"] = verdict_valid(f["valid"])
        return c
    if test == "TestValidateConnectionPool":
        c.update(kind="DestinationRule", observes="errors", spec=dr({"connectionPool": f["in"]}))
        c["istio"] = verdict_valid(f["valid"])
        return c
    if test == "TestValidateLoadBalancer":
        c.update(kind="DestinationRule", observes="errors", spec=dr({"loadBalancer": f["in"]}))
        c["istio"] = verdict_valid(f["valid"])
        return c
    if test == "TestValidateOutlierDetection":
        c.update(
            kind="DestinationRule",
            observes="errors+warnings",
            spec=dr({"outlierDetection": f["in"]}),
        )
        c["istio"] = verdict_valid(f["valid"], f.get("warn", False))
        return c
    if test == "TestValidateTLS":
        c.update(kind="DestinationRule", observes="errors", spec=dr({"tls": f["tls"]}))
        c["istio"] = verdict_valid(f["valid"])
        return c
    if test == "TestValidateLocalityLbSetting":
        policy: dict[str, Any] = {"loadBalancer": {"localityLbSetting": f["in"] or {}}}
        if f.get("outlier") is not None:
            policy["outlierDetection"] = f["outlier"]
        if f["in"] is None:
            return None
        c.update(kind="DestinationRule", observes="errors+warnings", spec=dr(policy))
        c["istio"] = verdict_valid(not f.get("err", False), f.get("warn", False))
        return c
    if test == "TestValidateZoneAwareLbSetting":
        if f["in"] is None:
            return None
        policy = {"loadBalancer": {"zoneAwareLbSetting": f["in"]}}
        if f.get("outlier") is not None:
            policy["outlierDetection"] = f["outlier"]
        c.update(kind="DestinationRule", observes="errors+warnings", spec=dr(policy))
        c["istio"] = verdict_valid(not f.get("err", False), f.get("warn", False))
        return c
    if test == "TestValidateWildcardDomain":
        c.update(kind="DestinationRule", observes="errors", spec={"host": f["in"]})
        c["istio"] = "invalid" if f.get("out") else "valid"
        c["message"] = f.get("out") or None
        return c
    if test == "TestValidateWildcardDomainForVirtualServiceBoundToGateway":
        if f["in"] == "1.1.1.1":
            return None  # ValidateVirtualService accepts IP hosts: this rule is unreachable there
        spec = {"hosts": [f["in"]], "gateways": ["istio-system/gateway"]}
        if f.get("sni"):
            spec["tls"] = [{"match": [{"sniHosts": [f["in"]]}], "route": ROUTE}]
        else:
            spec["http"] = [{"route": ROUTE}]
        c.update(kind="VirtualService", observes="errors", spec=spec)
        c["istio"] = "invalid" if f.get("out") else "valid"
        c["message"] = f.get("out") or None
        return c
    if test == "TestValidateLocalities":
        distribute = [
            {"from": loc, "to": {"region9/zone9": 100}} for loc in f.get("localities") or []
        ]
        c.update(
            kind="DestinationRule",
            observes="errors",
            spec=dr({"loadBalancer": {"localityLbSetting": {"distribute": distribute}}}),
        )
        c["istio"] = verdict_valid(f["valid"])
        return c
    if test == "TestValidationIPSubnet":
        c.update(
            kind="ServiceEntry",
            observes="errors",
            spec={
                "hosts": ["foo.bar.com"],
                "addresses": [f["subnet"]],
                "resolution": "NONE",
                "ports": [{"number": 80, "protocol": "HTTP", "name": "http"}],
            },
        )
        c["istio"] = verdict_valid(f["ok"])
        return c
    if test == "TestValidationIPAddress":
        server = {
            "hosts": ["foo.bar.com"],
            "port": {"number": 80, "name": "http", "protocol": "HTTP"},
            "bind": f["addr"],
        }
        c.update(kind="Gateway", observes="errors", spec={"servers": [server]})
        c["istio"] = verdict_valid(f["ok"])
        return c
    if test == "TestValidateServiceEntries":
        c.update(kind="ServiceEntry", observes="errors+warnings", spec=f["in"])
        if f.get("labels"):
            c["labels"] = f["labels"]
        c["istio"] = verdict_valid(f["valid"], f.get("warning", False))
        return c
    if test == "Test_validateExportTo":
        ns = f.get("namespace", "")
        export = f.get("exportTo") or []
        if f.get("isServiceEntry"):
            spec = {
                "hosts": ["foo.bar.com"],
                "resolution": "DNS",
                "ports": [{"number": 80, "protocol": "HTTP", "name": "http"}],
            }
            kind = "ServiceEntry"
        elif f.get("isDestinationRuleWithSelector"):
            spec = {"host": "reviews", "workloadSelector": {"matchLabels": {"app": "a"}}}
            kind = "DestinationRule"
        else:
            spec = {"hosts": HOSTS, "http": [{"route": ROUTE}]}
            kind = "VirtualService"
        if export:
            spec["exportTo"] = export
        c.update(kind=kind, observes="errors", spec=spec, namespace=ns)
        c["istio"] = "invalid" if f.get("wantErr") else "valid"
        return c
    if test == "TestValidateHTTPHeaderValue":
        c.update(
            kind="VirtualService",
            observes="errors",
            spec=vs({"headers": {"request": {"set": {"x-value": f["input"]}}}, "route": ROUTE}),
        )
        c["istio"] = "valid" if f.get("expected") is None else "invalid"
        # the table's error text is not compared by Istio's test (assert.Error only)
        return c
    return None


def case_name(test: str, f: dict[str, Any], index: int) -> str:
    if test in (
        "TestValidateWildcardDomain",
        "TestValidateWildcardDomainForVirtualServiceBoundToGateway",
    ):
        shown = f["in"] if len(f["in"]) < 40 else f"{f['in'][:3]}... ({len(f['in'])} characters)"
        return f"{f['name']}: {shown!r}"
    for key in ("name", "input"):
        if (
            isinstance(f.get(key), str)
            and f[key]
            and test not in ("TestValidateHTTPHeaderName", "TestValidatePortName")
        ):
            return f[key]
    if test == "TestValidateHTTPStatus":
        return f"status {f['in']}"
    if test in ("TestValidateHTTPHeaderName", "TestValidatePortName"):
        return f"{f['name']!r}"
    return f"#{index}"


HEADER = """\
# Cases transcribed from Istio's validation table tests (istio/istio at commit
# 86c9f01fd735fb01d8192f5bcaf0d424afb7f14c, 2026-08-22): `test` and `case` name the Go test
# function and its table entry, `istio` is the verdict the table expects (valid, invalid, or
# warning: valid with a warning), `observes` says whether that table checks warnings at all,
# and `message` is text Istio's error (or warning) contains: from the table where it gives
# one (`message_from: table`), otherwise read from Istio's source for that case
# (`message_from: source`; checked against Istio's message formats in istio_messages.txt).
# Rules tested through an inner function are wrapped in the smallest resource that reaches it.
"""


def _reviewed_messages(cases_dir: Path) -> dict[tuple[str, str, str], str]:
    """Messages read from Istio's source, kept across runs (new cases need a reader)."""
    kept: dict[tuple[str, str, str], str] = {}
    for path in cases_dir.glob("*.yaml"):
        for case in yaml.safe_load(path.read_text()) or []:
            if case.get("message_from") == "source":
                kept[(case["kind"], case["test"], case["case"])] = case["message"]
    return kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("istio", type=Path, help="an istio/istio source tree")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "cases")
    args = parser.parse_args()
    reviewed = _reviewed_messages(args.out)
    validation_go = (args.istio / "pkg/config/validation/validation.go").read_text()
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    skipped: list[tuple[str, int, str]] = []
    for go_path in GO_PATHS:
        src = (args.istio / go_path).read_text()
        consts = file_consts(src)
        if "/agent/" not in go_path:
            consts.update(file_consts(validation_go))
        consts["kb"] = 1024
        consts["mb"] = 1024 * 1024
        consts["duration"] = Parser(tokenize("durationpb.Duration{Seconds: 3600}")).parse_expr()
        env = Env(consts)
        for test, table in find_tables(src).items():
            seen: dict[str, int] = defaultdict(int)
            for index, row in enumerate(table.rows):
                if isinstance(row, Exception):
                    skipped.append((test, index, str(row)))
                    continue
                try:
                    fields = row_fields(row, table.fields, env)
                    built = build(test, fields)
                except (Unsupported, KeyError, TypeError, IndexError) as exc:
                    skipped.append((test, index, repr(exc)))
                    continue
                if built is None:
                    continue
                name = case_name(test, fields, index)
                seen[name] += 1
                if seen[name] > 1:
                    name = f"{name} ({seen[name]})"
                out[built["kind"]].append(_case(built, test, name, go_path, reviewed))
    for kind, cases in out.items():
        print(f"{kind}: {len(cases)} cases", file=sys.stderr)
    print(f"{len(skipped)} table rows not transcribed (other kinds, Go-only)", file=sys.stderr)
    for kind, cases in out.items():
        with (args.out / f"{kind.lower()}.yaml").open("w") as handle:
            handle.write(HEADER)
            yaml.safe_dump(cases, handle, sort_keys=False, width=100, allow_unicode=True)


def _case(
    built: dict[str, Any],
    test: str,
    name: str,
    go_path: str,
    reviewed: dict[tuple[str, str, str], str],
) -> dict[str, Any]:
    kind = built["kind"]
    case: dict[str, Any] = {"test": test, "case": name, "source": go_path, "kind": kind}
    case["istio"] = built["istio"]
    case["observes"] = built["observes"]
    if built.get("message"):
        case["message"] = built["message"]
        case["message_from"] = "table"
    elif (kind, test, name) in reviewed and case["istio"] != "valid":
        case["message"] = reviewed[(kind, test, name)]
        case["message_from"] = "source"
    metadata = {"name": built["name"], "namespace": built["namespace"]}
    for extra in ("annotations", "labels"):
        if extra in built:
            metadata[extra] = built[extra]
    case["metadata"] = metadata
    case["spec"] = built.get("spec") or {}
    return case


if __name__ == "__main__":
    main()
