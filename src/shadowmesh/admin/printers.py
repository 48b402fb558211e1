"""kubectl-style output: tables with per-kind columns, `-o yaml|json|wide`, human ages."""

from __future__ import annotations

import calendar
import json
import time
from collections.abc import Callable, Sequence
from typing import Any

import yaml

Item = dict[str, Any]
Column = tuple[str, Callable[[Item], str]]


def _json_list(values: Any) -> str:
    # kubectl prints array columns as compact JSON: ["httpbin"]
    return json.dumps(list(values), separators=(",", ":")) if values else ""


def _spec(item: Item) -> dict[str, Any]:
    spec: dict[str, Any] = item.get("spec") or {}
    return spec


def _mirrors(item: Item) -> str:
    out = []
    for rule in _spec(item).get("http") or []:
        targets = [rule["mirror"]] if rule.get("mirror") else []
        targets += [m.get("destination") or {} for m in rule.get("mirrors") or []]
        for target in targets:
            text = str(target.get("host", "?"))
            if target.get("subset"):
                text += "/" + str(target["subset"])
            out.append(text)
    return ",".join(out)


def human_age(seconds: float) -> str:
    """kubectl's HumanDuration: 5s, 3m12s, 45m, 5h3m, 20h, 3d4h, 300d, 2y."""
    s = max(0, int(seconds))
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    hours = s // 3600
    if hours < 3:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if days < 8:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    if days < 365 * 2:
        return f"{days}d"
    return f"{days // 365}y"


def _age(item: Item) -> str:
    stamp = (item.get("metadata") or {}).get("creationTimestamp")
    if not stamp:
        return "<unknown>"
    created = calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ"))
    return human_age(time.time() - created)


def _name(item: Item) -> str:
    return str(item["metadata"]["name"])


def _hosts(item: Item) -> str:
    return _json_list(_spec(item).get("hosts"))


def _gateways(item: Item) -> str:
    return _json_list(_spec(item).get("gateways"))


def _field(name: str) -> Callable[[Item], str]:
    return lambda item: str(_spec(item).get(name, ""))


def _subsets(item: Item) -> str:
    return ",".join(str(s.get("name", "")) for s in _spec(item).get("subsets") or [])


def _ports(item: Item) -> str:
    ports = _spec(item).get("ports") or []
    return ",".join(f"{p.get('number')}/{p.get('name', '')}" for p in ports)


def _labels(item: Item) -> str:
    labels = _spec(item).get("labels") or {}
    return ",".join(f"{k}={v}" for k, v in labels.items())


def _servers(item: Item) -> str:
    return str(len(_spec(item).get("servers") or []))


# The columns `kubectl get` prints for Istio's CRDs: (before AGE, after AGE, added by -o wide).
COLUMNS: dict[str, tuple[list[Column], list[Column], list[Column]]] = {
    "VirtualService": ([("GATEWAYS", _gateways), ("HOSTS", _hosts)], [], [("MIRRORS", _mirrors)]),
    "DestinationRule": ([("HOST", _field("host"))], [], [("SUBSETS", _subsets)]),
    "ServiceEntry": (
        [("HOSTS", _hosts), ("LOCATION", _field("location")), ("RESOLUTION", _field("resolution"))],
        [],
        [("PORTS", _ports)],
    ),
    "WorkloadEntry": ([], [("ADDRESS", _field("address"))], [("LABELS", _labels)]),
    "Gateway": ([], [], [("SERVERS", _servers)]),
}


def table(items: Sequence[Item], kind: str, *, wide: bool, all_namespaces: bool) -> str:
    before, after, extra = COLUMNS.get(kind, ([], [], []))
    columns: list[Column] = []
    if all_namespaces:
        columns.append(("NAMESPACE", lambda i: str(i["metadata"].get("namespace", ""))))
    columns += [("NAME", _name), *before, ("AGE", _age), *after]
    if wide:
        columns += extra
    rows = [[header for header, _ in columns]]
    rows += [[cell(item) for _, cell in columns] for item in items]
    widths = [max(len(row[c]) for row in rows) for c in range(len(columns))]
    return "\n".join(
        "   ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in rows
    )


def as_yaml(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False)


def as_json(data: Any) -> str:
    return json.dumps(data, indent=4)


def kubernetes_status(body: dict[str, Any]) -> str:
    """`shadowmesh get kubernetes`: one row per watch, then what was rejected and why."""
    rows = [["RESOURCE", "VERSION", "RESOURCEVERSION", "STATE", "EVENTS", "RELISTS", "ERRORS",
             "LAST ERROR"]]
    for w in body.get("watches", []):
        rows.append([str(w.get("resource")), str(w.get("version") or "-"),
                     str(w.get("resource_version") or "-"), str(w.get("state")),
                     str(w.get("events")), str(w.get("relists")), str(w.get("errors")),
                     str(w.get("last_error") or "")[:80]])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["   ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
             .rstrip() for row in rows]
    delay = body.get("lastEventToTableSeconds")
    pushes = body.get("pushes", {})
    lines.append("")
    lines.append(f"synced: {'yes' if body.get('synced') else 'no'}   "
                 f"namespace: {body.get('namespace') or '(all)'}   "
                 f"services: {body.get('services')}   endpoints: {body.get('endpoints')}   "
                 f"pushes: {pushes.get('ok', 0)} ok, {pushes.get('rejected', 0)} rejected   "
                 f"last event-to-table: "
                 f"{'-' if delay is None else f'{delay * 1000:.0f}ms'}")
    rejected = body.get("rejected", [])
    lines.append("")
    lines.append(f"rejected custom resources: {len(rejected) or 'none'}")
    for item in rejected:
        lines.append(f"  {item['kind']} {item['namespace']}/{item['name']}:")
        for issue in item.get("issues", []):
            where = f"{issue['path']}: " if issue.get("path") else ""
            lines.append(f"    {where}{issue['message']}")
    return "\n".join(lines)
