// The "create a mirroring rule" form without the DOM: what the configuration offers (hosts,
// subsets, rules), the VirtualService the user's choices make, and that object as YAML.
// Pure functions, so the page and the tests see exactly the same thing.

export const ANNOTATIONS = {
  hostSuffix: "shadowmesh.io/shadow-host-suffix",
  methods: "shadowmesh.io/mirror-methods",
  setHeaders: "shadowmesh.io/mirror-set-headers",
};

const API_VERSION = "networking.istio.io/v1";

// "httpbin" in namespace default, "httpbin.default" and "httpbin.default.svc.cluster.local"
// name the same Kubernetes service, as Istio resolves short names.
export function hostKey(host, namespace = "default") {
  const parts = host.split(".");
  if (parts.length === 1) return `${host}.${namespace}.svc.cluster.local`;
  if (parts.length === 2) return `${host}.svc.cluster.local`;
  return host;
}

export function describeDestination(d) {
  if (!d || !d.host) return "?";
  const port = d.port && d.port.number ? `:${d.port.number}` : "";
  return d.subset ? `${d.host}${port}/${d.subset}` : `${d.host}${port}`;
}

// What Istio mirrors for a rule: mirrorPercentage > mirrorPercent > 100%.
export function mirrorPercent(rule) {
  if (rule.mirrorPercentage && rule.mirrorPercentage.value !== undefined) {
    return Number(rule.mirrorPercentage.value);
  }
  const old = rule.mirrorPercent ?? rule.mirror_percent;
  return old === undefined ? 100 : Number(old);
}

export function mirrorsOf(rule) {
  if (rule.redirect || rule.directResponse) return [];
  if (rule.mirror) return [{ destination: rule.mirror, percent: mirrorPercent(rule) }];
  return (rule.mirrors || []).map((m) => ({
    destination: m.destination,
    percent: m.percentage && m.percentage.value !== undefined ? Number(m.percentage.value) : 100,
  }));
}

// Hosts and subsets from the resources in force (a `GET /api/v1/resources` list).
export function catalog(items) {
  const virtualServices = items.filter((r) => r.kind === "VirtualService");
  const hosts = new Set();
  const subsets = new Map();
  for (const r of items) {
    const ns = r.metadata.namespace || "default";
    if (r.kind === "DestinationRule" && r.spec.host) {
      hosts.add(r.spec.host);
      const names = (r.spec.subsets || []).map((s) => s.name);
      const key = hostKey(r.spec.host, ns);
      subsets.set(key, [...(subsets.get(key) || []), ...names]);
    } else if (r.kind === "ServiceEntry" || r.kind === "VirtualService") {
      for (const h of r.spec.hosts || []) if (!h.includes("*")) hosts.add(h);
    }
  }
  return { virtualServices, hosts: [...hosts].sort(), subsets };
}

export function subsetsOf(cat, host, namespace = "default") {
  return host ? cat.subsets.get(hostKey(host, namespace)) || [] : [];
}

// One line per http rule, for the rule picker; redirect and directResponse rules never
// mirror (Istio drops the mirror silently), so they cannot be picked.
export function ruleChoices(vs) {
  return (vs.spec.http || []).map((rule, index) => {
    const name = rule.name ? ` ${rule.name}` : "";
    const when = rule.match ? " (with match)" : "";
    if (rule.redirect || rule.directResponse) {
      const what = rule.redirect ? "redirect" : "directResponse";
      return { index, label: `#${index}${name}: ${what}${when}, cannot mirror`, mirrorable: false };
    }
    const to = (rule.route || []).map((r) => describeDestination(r.destination)).join(", ");
    return { index, label: `#${index}${name}: route ${to}${when}`, mirrorable: true };
  });
}

function destination({ host, subset, port }) {
  const d = { host: host.trim() };
  if (subset) d.subset = subset;
  if (port !== undefined && port !== null && String(port).trim() !== "") {
    d.port = { number: Number(port) };
  }
  return d;
}

function sameDestination(a, b) {
  return a.host === b.host && (a.subset || "") === (b.subset || "");
}

// A route that already sends everything to the primary stays as written (weights, ports,
// headers); otherwise the rule routes 100% to the primary, as in Istio's mirroring task.
function primaryRoute(route, primary) {
  const wanted = destination(primary);
  if (route && route.length === 1 && sameDestination(route[0].destination || {}, wanted)) {
    return route;
  }
  return [{ destination: wanted, weight: 100 }];
}

function annotationsFrom(existing, choices) {
  const out = { ...(existing || {}) };
  const set = (key, value) => {
    const text = (value || "").trim();
    if (text) out[key] = text;
    else delete out[key];
  };
  set(ANNOTATIONS.hostSuffix, choices.hostSuffix);
  set(ANNOTATIONS.methods, choices.methods);
  set(ANNOTATIONS.setHeaders, choices.setHeaders);
  return out;
}

// The VirtualService to apply, and the problems that keep it from being sent at all. A
// percentage outside 0-100 is not such a problem: the server answers with Istio's message.
export function buildVirtualService(base, c) {
  const problems = [];
  if (!base && !c.name.trim()) problems.push("name the new VirtualService");
  if (!base && !c.host.trim()) problems.push("give the host the new VirtualService serves");
  if (!c.primary.host.trim()) problems.push("choose the primary destination host");
  if (!c.mirror.host.trim()) problems.push("choose the mirror destination host");
  const percent = Number(c.percentage);
  if (String(c.percentage).trim() === "" || !Number.isFinite(percent)) {
    problems.push("the percentage must be a number (0-100, decimals allowed)");
  }
  const port = String(c.mirror.port ?? "").trim();
  if (port && !/^\d+$/.test(port)) problems.push("the mirror port must be a whole number");

  const spec = base ? structuredClone(base.spec) : { hosts: [c.host.trim()], http: [{}] };
  if (!spec.http || spec.http.length === 0) spec.http = [{}];
  const rule = spec.http[Math.min(c.ruleIndex || 0, spec.http.length - 1)];
  rule.route = primaryRoute(rule.route, c.primary);
  delete rule.mirrors;
  delete rule.mirrorPercent;
  delete rule.mirror_percent;
  rule.mirror = destination(c.mirror);
  rule.mirrorPercentage = { value: Number.isFinite(percent) ? percent : c.percentage };

  const metadata = base
    ? { name: base.metadata.name, namespace: base.metadata.namespace || "default" }
    : { name: c.name.trim(), namespace: (c.namespace || "default").trim() };
  if (base && base.metadata.labels) metadata.labels = base.metadata.labels;
  const annotations = annotationsFrom(base && base.metadata.annotations, c.annotations);
  if (Object.keys(annotations).length) metadata.annotations = annotations;
  const vs = {
    apiVersion: base ? base.apiVersion : API_VERSION,
    kind: "VirtualService",
    metadata,
    spec,
  };
  return { vs, problems };
}

// -- YAML ------------------------------------------------------------------------------

const RESERVED = /^(true|false|yes|no|on|off|y|n|null|~)$/i;
const PLAIN = /^[A-Za-z_][A-Za-z0-9_./-]*$/;

function scalar(v) {
  if (v === null || v === undefined) return "null";
  if (typeof v === "boolean") return String(v);
  if (typeof v === "number") {
    if (!Number.isFinite(v)) return JSON.stringify(String(v));
    // YAML 1.1 (Istio's and PyYAML's) reads 1e-7 as a string: write exponents out.
    const text = String(v);
    return text.includes("e") ? v.toFixed(20).replace(/0+$/, "") : text;
  }
  const s = String(v);
  // JSON's double-quoted strings are valid YAML double-quoted strings.
  return PLAIN.test(s) && !RESERVED.test(s) ? s : JSON.stringify(s);
}

function isEmptyCollection(v) {
  return typeof v === "object" && v !== null && Object.keys(v).length === 0;
}

function isCollection(v) {
  return typeof v === "object" && v !== null && !isEmptyCollection(v);
}

function inline(v) {
  if (Array.isArray(v)) return "[]";
  return isEmptyCollection(v) ? "{}" : scalar(v);
}

function block(value, depth) {
  const pad = "  ".repeat(depth);
  const lines = [];
  if (Array.isArray(value)) {
    for (const item of value) {
      if (isCollection(item)) {
        const sub = block(item, depth + 1);
        lines.push(`${pad}- ${sub[0].slice(pad.length + 2)}`, ...sub.slice(1));
      } else {
        lines.push(`${pad}- ${inline(item)}`);
      }
    }
    return lines;
  }
  for (const [key, v] of Object.entries(value)) {
    // Lists sit at their key's indentation, as kubectl prints them.
    if (Array.isArray(v) && v.length) lines.push(`${pad}${scalar(key)}:`, ...block(v, depth));
    else if (isCollection(v)) lines.push(`${pad}${scalar(key)}:`, ...block(v, depth + 1));
    else lines.push(`${pad}${scalar(key)}: ${inline(v)}`);
  }
  return lines;
}

export function toYaml(value) {
  return `${block(value, 0).join("\n")}\n`;
}
