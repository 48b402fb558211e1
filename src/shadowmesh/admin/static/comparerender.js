// Drawing the comparison report (COMPARE-API.md's documents) as DOM: the verdict, the
// endpoints table, an endpoint's fields, a sample pair with its differing paths highlighted,
// and the latency distributions. Pure drawing, no fetching and no imports: the dashboard's
// Compare view imports it, and `shadowmesh compare --html` inlines this very file into the
// report, so both show the same thing.
//
// The latency chart is SVG drawn here rather than a charting library: the /latency document
// is at most a few dozen bucket counts per side, i.e. two polylines on a log axis. A library
// (uPlot, the smallest well-kept one, is ~50 KB and draws on a canvas) would add a vendored
// dependency and its licence to the page and to every report, and a canvas is opaque to the
// browser tests and to screen readers; SVG elements carry their data and a text alternative.

const SVG_NS = "http://www.w3.org/2000/svg";

// -- numbers --------------------------------------------------------------------------------

export function percent(fraction, digits = 1) {
  if (fraction === null || fraction === undefined || !Number.isFinite(fraction)) return "–";
  return `${(fraction * 100).toFixed(digits)}%`;
}

export function signedPercent(fraction) {
  if (fraction === null || fraction === undefined || !Number.isFinite(fraction)) return "–";
  const text = percent(Math.abs(fraction), Math.abs(fraction) >= 10 ? 0 : 1);
  return `${fraction < 0 ? "−" : "+"}${text}`;
}

export function number(value) {
  if (value === null || value === undefined || !Number.isFinite(value)) return "–";
  return value >= 100 ? value.toFixed(0) : value.toFixed(1);
}

export function ms(value) {
  const text = number(value);
  return text === "–" ? text : `${text} ms`;
}

// The relative change of a latency quantile, candidate vs primary (0.1 = +10%).
export function relativeChange(primary, candidate) {
  if (!Number.isFinite(primary) || !Number.isFinite(candidate) || primary <= 0) return null;
  return candidate / primary - 1;
}

// -- JSONPath -------------------------------------------------------------------------------

// `$.a.b[0]['c d']` -> ["a", "b", 0, "c d"]; null when it is not a path into a body (the
// status, a header). Both dotted and bracketed spellings give the same segments, so a path
// the engine writes either way matches the path drawn here.
export function parsePath(path) {
  if (typeof path !== "string" || !path.startsWith("$")) return null;
  const out = [];
  let i = 1;
  while (i < path.length) {
    if (path[i] === ".") {
      const m = /^[^.[]+/.exec(path.slice(i + 1));
      if (!m) return null;
      out.push(m[0]);
      i += 1 + m[0].length;
    } else if (path[i] === "[") {
      const rest = path.slice(i);
      const index = /^\[(\d+|\*)\]/.exec(rest);
      const quoted = /^\[(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")\]/.exec(rest);
      if (index) {
        out.push(index[1] === "*" ? "*" : Number(index[1]));
        i += index[0].length;
      } else if (quoted) {
        const raw = quoted[1] !== undefined ? quoted[1] : quoted[2];
        out.push(raw.replace(/\\(.)/g, "$1"));
        i += quoted[0].length;
      } else {
        return null;
      }
    } else {
      return null;
    }
  }
  return out;
}

// The canonical spelling of a path's segments: dots for plain keys, brackets otherwise.
export function formatPath(segments) {
  let text = "$";
  for (const s of segments) {
    if (typeof s === "number") text += `[${s}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(s)) text += `.${s}`;
    else text += `['${String(s).replace(/\\/g, "\\\\").replace(/'/g, "\\'")}']`;
  }
  return text;
}

function pathKey(segments) {
  return JSON.stringify(segments);
}

// -- small DOM helpers ----------------------------------------------------------------------

export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("data-")) node.dataset[k.slice(5).replace(/-(.)/g, (_, c) => c.toUpperCase())] = v;
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

export function badge(decision) {
  const d = decision || "NOT_ENOUGH_DATA";
  const cls = d === "PROMOTE" ? "promote" : d === "HOLD" ? "hold" : "nodata";
  return h("span", { class: `verdict ${cls}`, "data-decision": d }, d.replace(/_/g, " "));
}

// -- the verdict and the endpoints table ----------------------------------------------------

export function renderVerdict(summary) {
  const verdict = summary.verdict || { decision: "NOT_ENOUGH_DATA", reasons: [] };
  const candidate = summary.candidate || {};
  const noise = summary.noise;
  const skipped = Object.entries(summary.skipped || {}).filter(([, n]) => n > 0);
  return h(
    "div",
    { class: "cmp-verdict", "data-decision": verdict.decision },
    h("p", { class: "cmp-headline" },
      badge(verdict.decision), " ",
      h("strong", {}, `${summary.namespace}/${summary.name}`),
      ` · ${summary.host} → candidate ${candidate.subset || candidate.service || "every mirror"}`,
      noise ? ` · noise copy to ${noise.subset || noise.service} at ${noise.percentage}%` : " · no noise copy",
      summary.active === false ? " · deleted (report kept)" : ""),
    h("p", { class: "note" },
      `${summary.pairs} pairs compared`,
      summary.since ? ` since ${summary.since}` : "",
      skipped.length ? ` · not compared: ${skipped.map(([r, n]) => `${r} ${n}`).join(", ")}` : ""),
    verdict.reasons && verdict.reasons.length
      ? h("ul", { class: "cmp-reasons" }, verdict.reasons.map((r) => h("li", {}, r)))
      : null,
  );
}

function latencyCells(lat) {
  const p = (lat && lat.primary) || {};
  const c = (lat && lat.candidate) || {};
  const p50 = lat && Number.isFinite(lat.p50_change) ? lat.p50_change : relativeChange(p.p50, c.p50);
  const p99 = relativeChange(p.p99, c.p99);
  const slow = lat && lat.regression;
  return [
    h("td", { class: "p50" }, `${number(p.p50)} → ${number(c.p50)}`),
    h("td", { class: `p50-change${slow ? " bad" : ""}` }, signedPercent(p50)),
    h("td", { class: "p99" }, `${number(p.p99)} → ${number(c.p99)}`),
    h("td", { class: "p99-change" }, signedPercent(p99)),
  ];
}

// One row per endpoint; `onPick(endpoint)` (optional) makes the endpoint name a button.
export function renderEndpointRows(summary, selected, onPick) {
  return (summary.endpoints || []).map((e) => {
    const name = onPick
      ? h("button", { type: "button", class: "link", "aria-pressed": String(e.endpoint === selected) }, e.endpoint)
      : e.endpoint;
    if (onPick) name.addEventListener("click", () => onPick(e.endpoint));
    const tr = h(
      "tr",
      { "data-endpoint": e.endpoint, class: e.endpoint === selected ? "selected" : "" },
      h("th", { scope: "row" }, name),
      h("td", { class: "pairs" }, e.pairs),
      h("td", { class: `diff-rate${e.different ? " bad" : ""}` }, percent(e.diff_rate)),
      h("td", { class: "noise-rate" }, percent(e.noise_rate)),
      h("td", { class: `status-mismatches${e.status_mismatches ? " bad" : ""}` }, e.status_mismatches),
      ...latencyCells(e.latency),
      h("td", { class: "decision" }, badge(e.verdict && e.verdict.decision)),
    );
    const reasons = (e.verdict && e.verdict.reasons) || [];
    if (reasons.length) tr.title = reasons.join("\n");
    return tr;
  });
}

export const ENDPOINT_HEADINGS = [
  "Endpoint", "pairs", "different", "noise", "status ≠",
  "p50 ms", "Δ p50", "p99 ms", "Δ p99", "verdict",
];

export function endpointTable(summary, selected, onPick) {
  return h(
    "div",
    { class: "table-scroll" },
    h(
      "table",
      { class: "numbers cmp-endpoints" },
      h("caption", {}, "Endpoints, highest difference rate first; latency as primary → candidate"),
      h("thead", {}, h("tr", {}, ENDPOINT_HEADINGS.map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, renderEndpointRows(summary, selected, onPick)),
    ),
  );
}

// -- fields ---------------------------------------------------------------------------------

// What a field row can do: `onSample(path)` shows a sample of it, `onIgnore(path)` adds it
// to the Comparison's ignore list. A status difference cannot be ignored.
function fieldRow(f, actions) {
  const cells = [
    h("th", { scope: "row" }, h("code", {}, f.path)),
    h("td", { class: "kind" }, String(f.kind || "").replace("_", " ")),
    h("td", { class: "diffs" }, f.diffs),
    h("td", { class: "raw-rate" }, percent(f.raw_rate)),
    h("td", { class: "noise-rate" }, percent(f.noise_rate)),
    h("td", { class: `classification ${f.classification}` }, f.classification),
  ];
  if (actions) {
    const buttons = [];
    if (actions.onSample) {
      const b = h("button", { type: "button", class: "sample", "aria-label": `Show a sample of ${f.path}` }, "sample");
      b.addEventListener("click", () => actions.onSample(f.path));
      buttons.push(b);
    }
    if (actions.onIgnore && f.kind !== "status") {
      const b = h("button", { type: "button", class: "ignore", "aria-label": `Ignore ${f.path}` }, "ignore");
      b.addEventListener("click", () => actions.onIgnore(f.path, b));
      buttons.push(b);
    }
    cells.push(h("td", { class: "actions" }, buttons));
  }
  return h("tr", { "data-path": f.path, class: `field ${f.classification}` }, cells);
}

function fieldTable(caption, rows, actions, cls) {
  const headings = ["Path", "kind", "diffs", "raw rate", "noise rate", "class"];
  if (actions) headings.push("");
  return h(
    "table",
    { class: `numbers cmp-fields ${cls}` },
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, headings.map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, rows.map((f) => fieldRow(f, actions))),
  );
}

// Regressions and noise together (raw vs noise rate is how noise is told apart), the
// volatile fields learned from the primary's own answers apart, below.
export function renderFields(fields, actions) {
  const compared = fields.filter((f) => f.classification !== "volatile");
  const volatile = fields.filter((f) => f.classification === "volatile");
  const order = { regression: 0, noise: 1 };
  compared.sort((a, b) => (order[a.classification] ?? 2) - (order[b.classification] ?? 2) || b.raw_rate - a.raw_rate);
  const out = [];
  out.push(compared.length
    ? fieldTable("Differing fields: raw rate (primary vs candidate) against noise rate (primary vs noise copy)", compared, actions, "compared")
    : h("p", { class: "empty" }, "No differing fields."));
  if (volatile.length) {
    out.push(fieldTable("Volatile fields (they differ between the primary's own answers; not regressions)", volatile, actions, "volatile"));
  }
  return h("div", { class: "cmp-field-list" }, out);
}

// -- a sample pair --------------------------------------------------------------------------

// Bodies are the backends' (hostile) bytes: nesting deeper than this is shown as text.
const MAX_DEPTH = 64;

// A number is shown as the backend wrote it: one JSON.parse cannot hold exactly (a 64-bit id,
// 0.1000000000000000055511) keeps its source text, so two different values never look the
// same. Needs the reviver's `context.source` (Chromium 114+); elsewhere numbers show parsed.
class RawNumber {
  constructor(text) {
    this.text = text;
  }
}

function parseJSON(text) {
  return JSON.parse(text, (key, value, context) => {
    const source = context && context.source;
    if (typeof value === "number" && typeof source === "string" && JSON.stringify(value) !== source) {
      return new RawNumber(source);
    }
    return value;
  });
}

// A JSON value pretty-printed as DOM; every member and array element is a span carrying its
// path, and the spans whose path is in `marked` (path key -> kind) get the `j-diff` class.
function jsonNode(value, segments, marked, indent) {
  const key = pathKey(segments);
  const kind = marked.get(key);
  const wrap = (...children) => {
    const span = h("span", { class: kind ? `j-node j-diff j-${kind}` : "j-node", "data-path": formatPath(segments) }, children);
    if (kind) span.title = `${formatPath(segments)}: ${kind.replace("_", " ")}`;
    return span;
  };
  const pad = "  ".repeat(indent + 1);
  const close = "  ".repeat(indent);
  if (value instanceof RawNumber) return wrap(h("span", { class: "j-number" }, value.text));
  if (indent >= MAX_DEPTH && value !== null && typeof value === "object") {
    return wrap(h("span", { class: "note" }, `… nested deeper than ${MAX_DEPTH} levels`));
  }
  if (Array.isArray(value)) {
    if (!value.length) return wrap("[]");
    const parts = ["[\n"];
    value.forEach((v, i) => {
      parts.push(pad, jsonNode(v, [...segments, i], marked, indent + 1), i < value.length - 1 ? ",\n" : "\n");
    });
    parts.push(close, "]");
    return wrap(...parts);
  }
  if (value !== null && typeof value === "object") {
    const keys = Object.keys(value);
    if (!keys.length) return wrap("{}");
    const parts = ["{\n"];
    keys.forEach((k, i) => {
      const child = [...segments, k];
      const childKind = marked.get(pathKey(child));
      const member = h("span", {
        class: childKind ? `j-member j-diff j-${childKind}` : "j-member",
        "data-path": formatPath(child),
      }, h("span", { class: "j-key" }, JSON.stringify(k)), ": ",
      jsonNode(value[k], child, new Map([...marked].filter(([p]) => p !== pathKey(child))), indent + 1));
      if (childKind) member.title = `${formatPath(child)}: ${childKind.replace("_", " ")}`;
      parts.push(pad, member, i < keys.length - 1 ? ",\n" : "\n");
    });
    parts.push(close, "}");
    return wrap(...parts);
  }
  return wrap(h("span", { class: `j-${value === null ? "null" : typeof value}` }, JSON.stringify(value)));
}

function decodeBody(side) {
  if (side.body_encoding === "base64") {
    let bytes = 0;
    try {
      bytes = atob(side.body || "").length;
    } catch {
      bytes = 0;
    }
    return { kind: "binary", text: `${bytes} bytes of binary body (base64 in the sample)` };
  }
  const text = side.body || "";
  try {
    return { kind: "json", value: parseJSON(text) };
  } catch {
    return { kind: "text", text };
  }
}

// The body of one side, with the differences that apply to that side marked: a removed
// field exists only in the primary, an added one only in the candidate.
export function renderBody(side, differences, which) {
  const body = decodeBody(side);
  const pre = h("pre", { class: "cmp-body" });
  if (body.kind === "json") {
    const marked = new Map();
    for (const d of differences) {
      const segments = parsePath(d.path);
      if (!segments) continue;
      if ((d.kind === "added" && which === "primary") || (d.kind === "removed" && which === "candidate")) continue;
      marked.set(pathKey(segments), d.kind);
    }
    try {
      pre.append(jsonNode(body.value, [], marked, 0));
    } catch {
      pre.replaceChildren(side.body || ""); // too large to draw: the text as it came
    }
  } else {
    pre.append(body.text);
  }
  if (side.truncated) pre.append(h("span", { class: "note" }, "\n… truncated at the capture limit"));
  return pre;
}

function headerTable(headers, differences) {
  const marked = new Set(
    differences.filter((d) => String(d.path).startsWith("header:")).map((d) => d.path.slice(7).toLowerCase()),
  );
  return h(
    "table",
    { class: "cmp-headers" },
    h("tbody", {}, (headers || []).map(([name, value]) =>
      h("tr", { class: marked.has(String(name).toLowerCase()) ? "j-diff" : "", "data-header": String(name).toLowerCase() },
        h("th", { scope: "row" }, name), h("td", {}, value)))),
  );
}

function sideColumn(title, side, differences, which) {
  const statusDiff = differences.some((d) => d.path === "status");
  return h(
    "div",
    { class: `cmp-side ${which}`, "data-side": which },
    h("h5", {}, title),
    h("p", { class: "cmp-status" },
      h("span", { class: statusDiff ? "status j-diff" : "status" }, `HTTP ${side.status}`),
      ` · ${ms(side.latency_ms)}`),
    headerTable(side.headers, differences),
    renderBody(side, differences, which),
  );
}

export function renderSample(sample) {
  if (!sample) return h("p", { class: "empty" }, "No sample stored for this endpoint and field.");
  const diffs = sample.differences || [];
  const req = sample.request || {};
  return h(
    "div",
    { class: "cmp-sample" },
    h("p", { class: "note" }, h("code", {}, `${req.method || ""} ${req.target || ""}`), sample.time ? ` at ${sample.time}` : ""),
    diffs.length
      ? h("ul", { class: "cmp-diffs" }, diffs.map((d) =>
          h("li", { "data-path": d.path }, h("code", {}, d.path), ` ${String(d.kind || "").replace("_", " ")}: `,
            h("code", { class: "was" }, d.primary ?? "∅"), " → ", h("code", { class: "now" }, d.candidate ?? "∅"))))
      : null,
    h("div", { class: "cmp-pair" },
      sideColumn("primary", sample.primary, diffs, "primary"),
      sideColumn("candidate", sample.candidate, diffs, "candidate")),
  );
}

// -- latency --------------------------------------------------------------------------------

// (upper bound, cumulative fraction) for each bucket; the overflow bucket has no bound and is
// reported apart. Null when a side has no observation.
export function cdf(bounds, counts) {
  const total = (counts || []).reduce((a, b) => a + b, 0);
  if (!total) return null;
  let seen = 0;
  const points = bounds.map((bound, i) => {
    seen += counts[i] || 0;
    return [bound, seen / total];
  });
  return { points, total, overflow: total - seen };
}

const CHART = { w: 420, h: 190, left: 42, right: 22, top: 14, bottom: 34 };

export function latencyChart(doc, summaryLatency) {
  const bounds = doc.bounds_ms || [];
  const sides = ["primary", "candidate"].map((name) => ({ name, cdf: cdf(bounds, doc[name]) }));
  const figure = h("figure", { class: "cmp-latency", "data-endpoint": doc.endpoint });
  if (!bounds.length || sides.every((s) => !s.cdf)) {
    figure.append(h("p", { class: "empty" }, "No latency observed yet."));
    return figure;
  }
  const lo = Math.log10(bounds[0] / 2);
  const hi = Math.log10(bounds[bounds.length - 1]);
  const x = (v) => CHART.left + ((Math.log10(v) - lo) / (hi - lo)) * (CHART.w - CHART.left - CHART.right);
  const y = (f) => CHART.top + (1 - f) * (CHART.h - CHART.top - CHART.bottom);
  const p = (summaryLatency && summaryLatency.primary) || {};
  const c = (summaryLatency && summaryLatency.candidate) || {};
  const label = `Latency CDF for ${doc.endpoint}: primary p50 ${ms(p.p50)}, p99 ${ms(p.p99)}; candidate p50 ${ms(c.p50)}, p99 ${ms(c.p99)}`;
  const chart = svg("svg", { viewBox: `0 0 ${CHART.w} ${CHART.h}`, role: "img", "aria-label": label, class: "cdf" });
  chart.append(svg("title", {}, label));
  for (const f of [0, 0.5, 0.9, 1]) {
    chart.append(svg("line", { class: "grid", x1: CHART.left, x2: CHART.w - CHART.right, y1: y(f), y2: y(f) }));
    chart.append(svg("text", { class: "tick", x: CHART.left - 4, y: y(f) + 4, "text-anchor": "end" }, `${f * 100}%`));
  }
  for (let v = 10 ** Math.ceil(lo); v <= bounds[bounds.length - 1]; v *= 10) {
    chart.append(svg("line", { class: "grid", x1: x(v), x2: x(v), y1: CHART.top, y2: CHART.h - CHART.bottom }));
    chart.append(svg("text", { class: "tick", x: x(v), y: CHART.h - CHART.bottom + 14, "text-anchor": "middle" },
      v >= 1000 ? `${v / 1000} s` : `${v} ms`));
  }
  chart.append(svg("text", { class: "axis", x: (CHART.w + CHART.left) / 2, y: CHART.h - 4, "text-anchor": "middle" },
    "response time (log scale) · share of responses at or under it"));
  for (const side of sides) {
    if (!side.cdf) continue;
    const pts = [[bounds[0] / 2, 0], ...side.cdf.points];
    chart.append(svg("polyline", {
      class: `line ${side.name}`,
      "data-side": side.name,
      "data-total": side.cdf.total,
      points: pts.map(([v, f]) => `${x(v).toFixed(1)},${y(f).toFixed(1)}`).join(" "),
    }));
  }
  const legend = h("figcaption", {},
    sides.map((s) => h("span", { class: `key ${s.name}` },
      `${s.name}: ${s.cdf ? `${s.cdf.total} responses` : "none"}`,
      s.cdf && s.cdf.overflow ? ` (${s.cdf.overflow} over ${bounds[bounds.length - 1]} ms)` : "")),
    summaryLatency && summaryLatency.regression
      ? h("span", { class: "bad" }, `slower: p50 ${signedPercent(summaryLatency.p50_change)}`
        + (summaryLatency.test ? ` (${summaryLatency.test}, p=${Number(summaryLatency.p_value).toPrecision(2)})` : ""))
      : null);
  figure.append(chart, legend);
  return figure;
}

// -- one endpoint's whole drill-down (the report shows every endpoint this way) -------------

// Errors and sizes of an endpoint, in one line under its name.
export function endpointFacts(endpoint) {
  const e = endpoint.errors || {};
  const size = endpoint.size || {};
  const parts = [
    `${endpoint.pairs} pairs: ${endpoint.different} different, ${endpoint.noise} noise, ${endpoint.same} same`,
    `5xx primary ${e.primary_5xx ?? 0} / candidate ${e.candidate_5xx ?? 0}`,
    `candidate failed ${e.candidate_failed ?? 0}, timed out ${e.candidate_timed_out ?? 0}`,
  ];
  if (Number.isFinite(size.primary_mean) && Number.isFinite(size.candidate_mean)) {
    parts.push(`mean size ${size.primary_mean.toFixed(0)} → ${size.candidate_mean.toFixed(0)} bytes`);
  }
  return parts.join(" · ");
}

export function renderEndpointDetail(endpoint, data, actions) {
  const reasons = (endpoint.verdict && endpoint.verdict.reasons) || [];
  return h(
    "section",
    { class: "cmp-detail", "data-endpoint": endpoint.endpoint },
    h("h4", {}, endpoint.endpoint, " ", badge(endpoint.verdict && endpoint.verdict.decision)),
    h("p", { class: "note cmp-facts" }, endpointFacts(endpoint)),
    reasons.length ? h("ul", { class: "cmp-reasons" }, reasons.map((r) => h("li", {}, r))) : null,
    renderFields(data.fields || [], actions),
    h("h5", {}, "Latency, primary vs candidate"),
    data.latency ? latencyChart(data.latency, endpoint.latency) : h("p", { class: "empty" }, "No latency document."),
    h("h5", {}, "A sample pair", data.samplePath ? h("span", { class: "note" }, ` for ${data.samplePath}`) : ""),
    renderSample((data.samples || [])[0]),
  );
}

// The mirror edge's note in the traffic graph: a comparison's difference rate over all its
// endpoints, and the largest median latency change among them.
export function edgeComparison(summary) {
  const endpoints = summary.endpoints || [];
  const pairs = endpoints.reduce((a, e) => a + (e.pairs || 0), 0);
  const different = endpoints.reduce((a, e) => a + (e.different || 0), 0);
  let worst = null;
  for (const e of endpoints) {
    const change = e.latency ? e.latency.p50_change : null;
    if (Number.isFinite(change) && (worst === null || Math.abs(change) > Math.abs(worst))) worst = change;
  }
  return { pairs, diffRate: pairs ? different / pairs : null, p50Change: worst, decision: summary.verdict && summary.verdict.decision };
}
