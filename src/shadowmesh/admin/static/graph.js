// The traffic graph (Kiali's model from /api/v1/graph) drawn in SVG with a layered layout:
// clients on the left, services in the middle, the workloads (versions) that answered on the
// right. The layout only depends on the node ids, so the picture does not jump on refresh.

import { edgeComparison, percent, signedPercent } from "./comparerender.js";

const SVG_NS = "http://www.w3.org/2000/svg";
const NODE_W = 150;
const NODE_H = 46;
const ROW_H = 100;
const COLUMN_X = [10, 375, 740];
const WIDTH = COLUMN_X[2] + NODE_W + 10;
const SPREAD = 34; // how far parallel edges (primary and mirror) bow apart
const LABEL_T = 0.5; // where along an edge its label sits (0 = source, 1 = target)

function column(node) {
  if (node.isRoot || node.nodeType === "unknown") return 0;
  return node.nodeType === "service" ? 1 : 2;
}

function labels(node) {
  if (node.nodeType === "unknown") return ["client", "unknown source"];
  if (node.nodeType === "service") return [node.service, `service · ${node.namespace}`];
  if (node.isRoot) return [node.workload, "source workload"];
  return [node.workload, `version ${node.version || "?"}`];
}

export function layout(graph) {
  const columns = [[], [], []];
  for (const node of graph.nodes) columns[column(node)].push(node);
  for (const nodes of columns) nodes.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const rows = Math.max(1, ...columns.map((c) => c.length));
  const height = rows * ROW_H + 20;
  const placed = new Map();
  columns.forEach((nodes, i) => {
    const top = (height - nodes.length * ROW_H) / 2 + (ROW_H - NODE_H) / 2;
    nodes.forEach((node, row) => {
      placed.set(node.id, { node, x: COLUMN_X[i], y: top + row * ROW_H, lines: labels(node) });
    });
  });
  const mirrorOnly = new Set(
    graph.nodes
      .map((n) => n.id)
      .filter((id) => {
        const incoming = graph.edges.filter((e) => e.target === id);
        return incoming.length > 0 && incoming.every((e) => e.isMirror);
      }),
  );
  return { width: WIDTH, height, placed, mirrorOnly };
}

function el(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

export function rateText(edge) {
  const rate = edge.traffic.rates.http;
  const rps = rate >= 10 ? rate.toFixed(1) : rate.toFixed(2);
  const err = edge.traffic.rates.httpPercentErr;
  return `${rps} req/s · ${err}% err`;
}

export function edgeLabel(edge) {
  return edge.isMirror ? `mirror · ${rateText(edge)}` : rateText(edge);
}

// The Comparison whose candidate a mirror edge reaches: the edge leaves the compared service
// and ends at the workload whose version is the candidate subset. (The graph knows versions,
// not subsets; the two carry the same name in the `version`-label convention the subsets
// of every Istio example follow.) Null when nothing compares this edge.
export function comparisonFor(edge, nodes, comparisons) {
  if (!edge.isMirror || !comparisons || !comparisons.length) return null;
  const source = nodes.get(edge.source);
  const target = nodes.get(edge.target);
  if (!source || !target || source.nodeType !== "service") return null;
  const found = comparisons.find((c) => {
    const candidate = c.candidate || {};
    const service = candidate.service || c.host;
    if (service !== source.fqdn) return false;
    return !candidate.subset || candidate.subset === target.version;
  });
  return found ? edgeComparison(found) : null;
}

export function comparisonText(info) {
  const diff = info.diffRate === null ? "no pairs yet" : `diff ${percent(info.diffRate)}`;
  const latency = info.p50Change === null ? "" : ` · p50 ${signedPercent(info.p50Change)}`;
  const verdict = info.decision ? ` · ${info.decision.replace(/_/g, " ")}` : "";
  return `${diff}${latency}${verdict}`;
}

function drawEdge(edge, from, to, offset, compared) {
  const x1 = from.x + NODE_W;
  const y1 = from.y + NODE_H / 2 + offset * 8;
  const x2 = to.x;
  const y2 = to.y + NODE_H / 2 + offset * 8;
  // Quadratic curve bowed along the normal, so a mirror edge beside a primary edge
  // between the same two nodes stays visible.
  const len = Math.hypot(x2 - x1, y2 - y1) || 1;
  const cx = (x1 + x2) / 2 - ((y2 - y1) / len) * offset * SPREAD;
  const cy = (y1 + y2) / 2 + ((x2 - x1) / len) * offset * SPREAD;
  const kind = edge.isMirror ? "mirror" : "primary";
  const errors = edge.traffic.rates.httpPercentErr > 0 ? " has-errors" : "";
  const group = el("g", {
    class: `edge ${kind}${errors}`,
    "data-source": edge.source,
    "data-target": edge.target,
    "data-mirror": edge.isMirror,
  });
  const p99 = edge.responseTime === null ? "n/a" : `${edge.responseTime} ms`;
  // The label runs along its edge (so it never crosses it): above the curve, or below it
  // for an edge bowed downwards, away from its twin.
  const t = LABEL_T;
  const lx = (1 - t) ** 2 * x1 + 2 * t * (1 - t) * cx + t ** 2 * x2;
  const ly = (1 - t) ** 2 * y1 + 2 * t * (1 - t) * cy + t ** 2 * y2;
  const dx = 2 * (1 - t) * (cx - x1) + 2 * t * (x2 - cx);
  const dy = 2 * (1 - t) * (cy - y1) + 2 * t * (y2 - cy);
  const angle = ((Math.atan2(dy, dx) * 180) / Math.PI).toFixed(1);
  group.append(
    el("title", {}, `${edge.source} → ${edge.target}: ${edge.requests} requests, p99 ${p99}`),
    el("path", { d: `M ${x1} ${y1} Q ${cx} ${cy} ${x2} ${y2}`, "marker-end": `url(#arrow-${kind})` }),
    el(
      "text",
      {
        x: lx.toFixed(1),
        y: ly.toFixed(1),
        dy: offset > 0 ? 14 : -5,
        transform: `rotate(${angle} ${lx.toFixed(1)} ${ly.toFixed(1)})`,
        "text-anchor": "middle",
      },
      edgeLabel(edge),
    ),
  );
  if (compared) {
    group.classList.add("compared");
    group.append(
      el(
        "text",
        {
          x: lx.toFixed(1),
          y: ly.toFixed(1),
          // beyond the rate label, on the side away from it (below the curve when alone)
          dy: offset > 0 ? 29 : offset < 0 ? -20 : 15,
          transform: `rotate(${angle} ${lx.toFixed(1)} ${ly.toFixed(1)})`,
          "text-anchor": "middle",
          class: "cmp-note",
        },
        comparisonText(compared),
      ),
    );
  }
  return group;
}

function drawNode(place, mirrorOnly) {
  const { node, x, y, lines } = place;
  const classes = ["node", node.nodeType, node.isRoot ? "root" : ""];
  if (mirrorOnly) classes.push("mirror-only");
  const group = el("g", { class: classes.join(" ").trim(), "data-id": node.id });
  group.append(
    el("title", {}, node.fqdn || node.id),
    el("rect", { x, y, width: NODE_W, height: NODE_H, rx: node.nodeType === "service" ? 22 : 6 }),
    el("text", { x: x + NODE_W / 2, y: y + 19, "text-anchor": "middle", class: "name" }, lines[0]),
    el("text", { x: x + NODE_W / 2, y: y + 36, "text-anchor": "middle", class: "kind" }, lines[1]),
  );
  return group;
}

function markers() {
  const defs = el("defs");
  for (const kind of ["primary", "mirror"]) {
    const marker = el("marker", {
      id: `arrow-${kind}`,
      viewBox: "0 0 10 10",
      refX: 9,
      refY: 5,
      markerWidth: 7,
      markerHeight: 7,
      orient: "auto-start-reverse",
      class: `arrow ${kind}`,
    });
    marker.append(el("path", { d: "M 0 0 L 10 5 L 0 10 z" }));
    defs.append(marker);
  }
  return defs;
}

export function renderGraph(svg, graph, comparisons = []) {
  const nodeById = new Map(graph.nodes.map((n) => [n.id, n]));
  const { width, height, placed, mirrorOnly } = layout(graph);
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  const pairs = new Map();
  for (const edge of graph.edges) {
    const key = `${edge.source} ${edge.target}`;
    pairs.set(key, [...(pairs.get(key) || []), edge]);
  }
  const edges = el("g", { class: "edges" });
  for (const group of pairs.values()) {
    group.sort((a, b) => Number(a.isMirror) - Number(b.isMirror));
    group.forEach((edge, i) => {
      const from = placed.get(edge.source);
      const to = placed.get(edge.target);
      const compared = comparisonFor(edge, nodeById, comparisons);
      if (from && to) edges.append(drawEdge(edge, from, to, i - (group.length - 1) / 2, compared));
    });
  }
  const nodes = el("g", { class: "nodes" });
  for (const place of placed.values()) nodes.append(drawNode(place, mirrorOnly.has(place.node.id)));
  svg.replaceChildren(markers(), edges, nodes);
  const mirrors = graph.edges.filter((e) => e.isMirror).length;
  svg.setAttribute(
    "aria-label",
    `Traffic graph: ${graph.nodes.length} nodes, ${graph.edges.length} edges, ${mirrors} of them mirror edges`,
  );
}

// The same edges as a table, for screen readers and for copying numbers.
export function renderEdgeTable(tbody, graph) {
  const names = new Map(graph.nodes.map((n) => [n.id, labels(n)[0]]));
  const rows = graph.edges.map((edge) => {
    const tr = document.createElement("tr");
    if (edge.isMirror) tr.className = "mirror";
    const cells = [
      names.get(edge.source) || edge.source,
      names.get(edge.target) || edge.target,
      edge.isMirror ? "mirror" : "primary",
      edge.traffic.rates.http,
      edge.traffic.rates.httpPercentErr,
      edge.requests,
      edge.responseTime ?? "n/a",
    ];
    for (const value of cells) {
      const td = document.createElement("td");
      td.textContent = String(value);
      tr.append(td);
    }
    return tr;
  });
  tbody.replaceChildren(...rows);
}
