"""`shadowmesh compare --html report.html`: the comparison report as one self-contained file.

The file holds what the dashboard's Compare view shows at the moment it is written (the
verdict, the endpoints, every endpoint's fields, a sample pair and the latency picture) and
needs nothing else to open: the documents of the admin API (COMPARE-API.md) are embedded as
JSON, and the drawing code is the dashboard's own `comparerender.js` and stylesheet, inlined,
so the report and the page cannot drift apart. Its Content-Security-Policy forbids every
fetch, so opening it never touches the network.

`collect_report` reads those documents from a running admin server (`collect_documents`
from any reader of them, e.g. the store); `render_html` writes the page from them.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import resources
from typing import Any
from urllib.parse import quote

import httpx

Summary = dict[str, Any]
Fields = dict[str, list[Any]]
Samples = dict[str, list[Any]]
Latency = dict[str, dict[str, Any]]

# Scripts and styles are inline; nothing may be loaded from anywhere.
REPORT_CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "img-src data:; base-uri 'none'; form-action 'none'"
)
SAMPLES_PER_ENDPOINT = 1
TIMEOUT_S = 10.0

_BOOT = """
const data = JSON.parse(document.getElementById("report-data").textContent);
const s = data.summary;
const jump = (endpoint) => {
  const target = [...document.querySelectorAll("section.cmp-detail")]
    .find((e) => e.dataset.endpoint === endpoint);
  if (target) target.scrollIntoView();
};
document.getElementById("report").replaceChildren(
  renderVerdict(s),
  endpointTable(s, null, jump),
  ...(s.endpoints || []).map((e) => renderEndpointDetail(e, {
    fields: data.fields[e.endpoint] || [],
    latency: data.latency[e.endpoint] || null,
    samples: data.samples[e.endpoint] || [],
    samplePath: null,
  }, null)),
);
document.body.dataset.rendered = "true";
"""

_REPORT_CSS = """
.report { padding: 0.75rem; max-width: 78rem; margin: 0 auto; }
.report .panel { margin-bottom: 0.75rem; }
.report pre.cmp-body { max-height: none; }
"""


class ReportError(Exception):
    """The admin server could not give the documents a report is made of."""


def _static(name: str) -> str:
    return (resources.files("shadowmesh.admin") / "static" / name).read_text(encoding="utf-8")


def _script_safe(text: str) -> str:
    """JSON that cannot end its <script> element early (`<` is written as its escape)."""
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _renderer() -> str:
    source = _static("comparerender.js")
    if re.search(r"</script|<!--", source, re.IGNORECASE):
        raise ReportError("comparerender.js cannot be inlined: it contains </script or <!--")
    return source


def _static_verdict(summary: Summary) -> str:
    """The verdict in plain HTML, for a reader (or a mail preview) without JavaScript."""
    verdict = summary.get("verdict") or {}
    decision = str(verdict.get("decision", "NOT_ENOUGH_DATA"))
    reasons = "".join(f"<li>{html.escape(str(r))}</li>" for r in verdict.get("reasons") or [])
    tone = {"PROMOTE": "promote", "HOLD": "hold"}.get(decision, "nodata")
    return (
        f'<p class="cmp-headline"><span class="verdict {tone}">{html.escape(decision)}</span> '
        f"{html.escape(str(summary.get('namespace')))}/{html.escape(str(summary.get('name')))}"
        f" · {html.escape(str(summary.get('pairs', 0)))} pairs</p>"
        f'<ul class="cmp-reasons">{reasons}</ul>'
        '<p class="note">The endpoints, fields, samples and latency charts need JavaScript.</p>'
    )


def render_html(
    summary: Summary,
    fields: Fields,
    samples: Samples,
    latency: Latency,
    *,
    written_at: datetime | None = None,
    source: str | None = None,
) -> str:
    """One HTML page, with no outside reference, showing `summary` (a ComparisonSummary) and
    per endpoint its fields, samples and latency document (keys: the endpoint names).
    Raises ReportError for documents that are not JSON (NaN, Infinity)."""
    when = (written_at or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M:%S UTC")
    decision = str((summary.get("verdict") or {}).get("decision", "NOT_ENOUGH_DATA"))
    title = f"{summary.get('namespace')}/{summary.get('name')}: {decision.replace('_', ' ')}"
    try:
        data = json.dumps(
            {"summary": summary, "fields": fields, "samples": samples, "latency": latency},
            ensure_ascii=False,
            allow_nan=False,  # JSON.parse in the page would refuse NaN and Infinity
        )
    except ValueError as exc:
        raise ReportError(f"the comparison documents cannot be written as JSON: {exc}") from exc
    origin = f" from {html.escape(source)}" if source else ""
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{REPORT_CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>shadowmesh comparison {html.escape(title)}</title>
<link rel="icon" href="data:,">
<style>
{_static("dashboard.css")}
{_REPORT_CSS}
</style>
</head>
<body>
<header class="top"><h1>shadowmesh comparison report</h1>
<p class="status">written {when}{origin}</p></header>
<main class="report">
<section class="panel" aria-label="Comparison">
<div id="report">{_static_verdict(summary)}</div>
</section>
</main>
<script type="application/json" id="report-data">{_script_safe(data)}</script>
<script type="module">
{_renderer()}
{_BOOT}
</script>
</body>
</html>
"""


def _get(client: httpx.Client, path: str) -> Any:
    try:
        response = client.get(path)
    except httpx.HTTPError as exc:
        raise ReportError(f"cannot read {client.base_url}{path}: {exc}") from exc
    if response.status_code != 200:
        raise ReportError(
            f"{client.base_url}{path} answered {response.status_code}: {response.text[:200]}"
        )
    try:
        return response.json()
    except ValueError as exc:
        raise ReportError(f"{client.base_url}{path} did not answer JSON") from exc


def _sample_path(fields: list[Any]) -> str | None:
    """The field whose sample the report shows: the first regression, else the first field."""
    for f in fields:
        if isinstance(f, dict) and f.get("classification") == "regression":
            return str(f.get("path"))
    first = fields[0] if fields else None
    return str(first.get("path")) if isinstance(first, dict) else None


# read(what, params): the document /api/v1/comparisons/{ns}/{name}/{what}?params answers
Reader = Callable[[str, dict[str, str]], Any]


def collect_documents(summary: Summary, read: Reader) -> tuple[Fields, Samples, Latency]:
    """Per endpoint of `summary`: its fields, one sample (of its first regression, else of
    its first field) and its latency document."""
    fields: Fields = {}
    samples: Samples = {}
    latency: Latency = {}
    for entry in summary.get("endpoints", []):
        endpoint = str(entry["endpoint"])
        fields[endpoint] = list(read("fields", {"endpoint": endpoint}).get("fields", []))
        latency[endpoint] = dict(read("latency", {"endpoint": endpoint}))
        path = _sample_path(fields[endpoint])
        params = {"endpoint": endpoint, **({"path": path} if path else {})}
        samples[endpoint] = list(read("samples", params).get("samples", []))[
            :SAMPLES_PER_ENDPOINT]
    return fields, samples, latency


def collect_report(
    admin_url: str, namespace: str, name: str, *, token: str | None = None
) -> tuple[Summary, Fields, Samples, Latency]:
    """Everything `render_html` needs for the Comparison `namespace/name`, read from the admin
    API at `admin_url`. Raises ReportError when the server or the Comparison is missing."""
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    base = f"/api/v1/comparisons/{quote(namespace, safe='')}/{quote(name, safe='')}"
    with httpx.Client(
        base_url=admin_url.rstrip("/"), headers=headers, timeout=TIMEOUT_S, trust_env=False
    ) as client:
        listing = _get(client, "/api/v1/comparisons")
        found = [
            c
            for c in listing.get("comparisons", [])
            if c.get("namespace") == namespace and c.get("name") == name
        ]
        if not found:
            raise ReportError(f"no comparison {namespace}/{name} at {admin_url}")
        summary: Summary = found[0]

        def read(what: str, params: dict[str, str]) -> Any:
            query = "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items())
            return _get(client, f"{base}/{what}?{query}")

        fields, samples, latency = collect_documents(summary, read)
    return summary, fields, samples, latency
