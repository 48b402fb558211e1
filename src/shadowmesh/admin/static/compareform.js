// The "compare a mirror" form: writes a `Comparison` (shadowmesh.io/v1alpha1) for a mirrored
// host and applies it through the admin API like `kubectl apply`; and the "ignore this
// field" action of the Compare view, which adds a path to an existing Comparison's ignore
// list and applies it again. The builders are pure functions, tested in the browser.

import { ApiError, applyYaml } from "./api.js";
import { catalog, hostKey, mirrorsOf, subsetsOf, toYaml } from "./rulebuild.js";

export const API_VERSION = "shadowmesh.io/v1alpha1";
const NEW = "";

function splitList(text) {
  return String(text || "")
    .split(/[\n,]/)
    .map((s) => s.trim())
    .filter(Boolean);
}

// The hosts some VirtualService mirrors: what a Comparison can be written for.
export function mirroredHosts(items) {
  const hosts = new Set();
  for (const r of items) {
    if (r.kind !== "VirtualService") continue;
    const mirrors = (r.spec.http || []).some((rule) => mirrorsOf(rule).length > 0);
    if (mirrors) for (const host of r.spec.hosts || []) if (!host.includes("*")) hosts.add(host);
  }
  return [...hosts].sort();
}

export function comparisonsOf(items) {
  return items.filter((r) => r.kind === "Comparison");
}

// Only what a user wrote goes back: the server's own metadata (creationTimestamp, ...) stays.
function cleanMetadata(metadata) {
  const out = { name: metadata.name, namespace: metadata.namespace || "default" };
  if (metadata.labels && Object.keys(metadata.labels).length) out.labels = { ...metadata.labels };
  if (metadata.annotations && Object.keys(metadata.annotations).length) {
    out.annotations = { ...metadata.annotations };
  }
  return out;
}

// choices: {name, namespace, host, candidate, noiseSubset, noisePercentage, ignoreFields,
// ignoreHeaders}; `base` is the Comparison being edited (its other spec fields are kept).
export function buildComparison(base, choices) {
  const problems = [];
  const name = (base ? base.metadata.name : choices.name || "").trim();
  const namespace = (base ? base.metadata.namespace || "default" : choices.namespace || "default").trim();
  const host = String(choices.host || "").trim();
  if (!name) problems.push("name the Comparison");
  else if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(name)) {
    problems.push("the name must be lower-case letters, digits and '-' (a DNS label)");
  }
  if (!host) problems.push("choose the mirrored host to compare");
  const spec = base ? JSON.parse(JSON.stringify(base.spec || {})) : {};
  spec.host = host;
  const candidate = String(choices.candidate || "").trim();
  if (candidate) spec.candidate = { ...(spec.candidate || {}), subset: candidate };
  else delete spec.candidate;
  const noiseSubset = String(choices.noiseSubset || "").trim();
  if (noiseSubset) {
    const text = String(choices.noisePercentage ?? "").trim();
    const pct = text === "" ? 10 : Number(text);
    if (!Number.isFinite(pct) || pct < 0 || pct > 100) {
      problems.push("the noise copy's percentage must be a number from 0 to 100");
    }
    spec.noise = { ...(spec.noise || {}), subset: noiseSubset, percentage: Number.isFinite(pct) ? pct : text };
  } else {
    delete spec.noise;
  }
  const fields = splitList(choices.ignoreFields);
  const bad = fields.filter((f) => !f.startsWith("$"));
  if (bad.length) problems.push(`ignored fields are JSONPaths starting with $: ${bad.join(", ")}`);
  const headers = splitList(choices.ignoreHeaders).map((x) => x.toLowerCase());
  const ignore = { ...(spec.ignore || {}) };
  if (headers.length) ignore.headers = headers;
  else delete ignore.headers;
  if (fields.length) ignore.fields = fields;
  else delete ignore.fields;
  if (Object.keys(ignore).length) spec.ignore = ignore;
  else delete spec.ignore;
  const metadata = base ? cleanMetadata(base.metadata) : { name, namespace };
  return { resource: { apiVersion: API_VERSION, kind: "Comparison", metadata, spec }, problems };
}

// The Comparison with one more ignored path: `header:x-foo` goes to `ignore.headers`, a
// JSONPath to `ignore.fields`. Null when it is ignored already (or cannot be: the status).
export function withIgnored(resource, path) {
  const spec = JSON.parse(JSON.stringify(resource.spec || {}));
  const ignore = { ...(spec.ignore || {}) };
  if (path.startsWith("header:")) {
    const name = path.slice(7).toLowerCase();
    const headers = [...(ignore.headers || [])];
    if (headers.map((x) => x.toLowerCase()).includes(name)) return null;
    ignore.headers = [...headers, name];
  } else if (path.startsWith("$")) {
    const fields = [...(ignore.fields || [])];
    if (fields.includes(path)) return null;
    ignore.fields = [...fields, path];
  } else {
    return null;
  }
  spec.ignore = ignore;
  return {
    apiVersion: resource.apiVersion || API_VERSION,
    kind: "Comparison",
    metadata: cleanMetadata(resource.metadata),
    spec,
  };
}

function text(i) {
  return i.path ? `${i.path}: ${i.message}` : i.message;
}

// Apply a resource; {ok, heading, lines} for the result box.
export async function applyResource(resource, token) {
  try {
    const { status, body } = await applyYaml(toYaml(resource), token);
    if (status === 200) {
      const warnings = (body.issues || []).filter((i) => i.level === "warning");
      return { ok: true, heading: "Applied.", lines: [...(body.changed || []), ...warnings.map((i) => `Warning: ${text(i)}`)] };
    }
    const errors = (body.issues || []).filter((i) => i.level === "error");
    return { ok: false, heading: "Rejected by validation; nothing changed.", lines: errors.map(text) };
  } catch (err) {
    const hint = err instanceof ApiError && err.status === 403 ? " (see the admin token)" : "";
    const why = err instanceof ApiError ? err.message : `cannot reach the admin API: ${err}`;
    return { ok: false, heading: `Not applied${hint}.`, lines: [why] };
  }
}

export function showResult(box, result) {
  const kind = result.ok ? "ok" : "error";
  box.className = `result ${kind}`;
  box.dataset.outcome = kind;
  box.setAttribute("role", result.ok ? "status" : "alert");
  const title = document.createElement("p");
  title.textContent = result.heading;
  const list = document.createElement("ul");
  list.replaceChildren(...result.lines.map((t) => {
    const li = document.createElement("li");
    li.textContent = t;
    return li;
  }));
  box.replaceChildren(title, list);
}

export class ComparisonForm {
  constructor(doc, onApplied) {
    this.$ = (id) => doc.getElementById(id);
    this.onApplied = onApplied;
    this.items = [];
    this.cat = catalog([]);
    this.loaded = false;
    this.$("cmp-pick").addEventListener("change", () => this.pick());
    this.$("cmp-host").addEventListener("input", () => this.fillSubsets());
    this.$("cmp-form").addEventListener("input", () => this.update());
    this.$("cmp-form").addEventListener("change", () => this.update());
    this.$("cmp-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.apply();
    });
  }

  key(r) {
    return `${r.metadata.namespace || "default"}/${r.metadata.name}`;
  }

  base() {
    const value = this.$("cmp-pick").value;
    return comparisonsOf(this.items).find((r) => this.key(r) === value) || null;
  }

  setResources(items) {
    this.items = items;
    this.cat = catalog(items);
    const hosts = mirroredHosts(items);
    this.$("cmp-hosts").replaceChildren(...hosts.map((x) => new Option(x, x)));
    const select = this.$("cmp-pick");
    const current = this.loaded ? select.value : null;
    const keys = comparisonsOf(items).map((r) => this.key(r));
    select.replaceChildren(new Option("New Comparison…", NEW), ...keys.map((k) => new Option(k, k)));
    this.loaded = true;
    const wanted = this.wanted;
    this.wanted = null;
    if (wanted && keys.includes(wanted)) {
      // just applied through the form: show it as the Comparison now in force
      select.value = wanted;
      this.pick();
    } else if (current !== null && (current === NEW || keys.includes(current))) {
      select.value = current;
      // Changed underneath (e.g. "ignore this field"): show it as it now is.
      if (JSON.stringify(this.base()) !== this.pickedText) this.pick();
      else this.update();
    } else {
      select.value = keys[0] || NEW;
      if (!keys.length && !this.$("cmp-host").value && hosts.length) this.$("cmp-host").value = hosts[0];
      this.pick();
    }
  }

  // An existing Comparison fills the form, so applying it unchanged changes nothing.
  pick() {
    const base = this.base();
    this.pickedText = JSON.stringify(base);
    this.$("cmp-new").hidden = base !== null;
    if (base) {
      const spec = base.spec || {};
      this.$("cmp-host").value = spec.host || "";
      this.fillSubsets();
      this.$("cmp-candidate").value = (spec.candidate && spec.candidate.subset) || "";
      this.$("cmp-noise").value = (spec.noise && spec.noise.subset) || "";
      this.$("cmp-noise-pct").value = spec.noise && spec.noise.percentage !== undefined ? spec.noise.percentage : 10;
      this.$("cmp-ignore-fields").value = ((spec.ignore && spec.ignore.fields) || []).join("\n");
      this.$("cmp-ignore-headers").value = ((spec.ignore && spec.ignore.headers) || []).join(", ");
    } else {
      this.fillSubsets();
      const host = this.$("cmp-host").value.trim();
      const mirror = this.mirrorOf(host);
      if (mirror) {
        this.$("cmp-candidate").value = mirror.mirror || "";
        this.$("cmp-noise").value = mirror.primary || "";
      }
    }
    this.update();
  }

  // The mirror and primary subsets of the first VirtualService rule that mirrors `host`.
  mirrorOf(host) {
    for (const vs of this.cat.virtualServices) {
      const ns = vs.metadata.namespace || "default";
      if (!(vs.spec.hosts || []).some((x) => hostKey(x, ns) === hostKey(host || "-", ns))) continue;
      for (const rule of vs.spec.http || []) {
        const mirror = mirrorsOf(rule)[0];
        if (!mirror) continue;
        const route = (rule.route || [])[0];
        return { mirror: mirror.destination.subset, primary: route && route.destination.subset };
      }
    }
    return null;
  }

  fillSubsets() {
    const host = this.$("cmp-host").value.trim();
    const names = subsetsOf(this.cat, host, this.$("cmp-namespace").value || "default");
    this.$("cmp-subsets").replaceChildren(...names.map((n) => new Option(n, n)));
  }

  choices() {
    const v = (id) => this.$(id).value;
    return {
      name: v("cmp-name"),
      namespace: v("cmp-namespace"),
      host: v("cmp-host"),
      candidate: v("cmp-candidate"),
      noiseSubset: v("cmp-noise"),
      noisePercentage: v("cmp-noise-pct"),
      ignoreFields: v("cmp-ignore-fields"),
      ignoreHeaders: v("cmp-ignore-headers"),
    };
  }

  update() {
    const { resource, problems } = buildComparison(this.base(), this.choices());
    this.resource = resource;
    this.problems = problems;
    this.$("cmp-yaml").firstElementChild.textContent = toYaml(resource);
    this.$("cmp-problems").replaceChildren(...problems.map((p) => {
      const li = document.createElement("li");
      li.textContent = p;
      return li;
    }));
  }

  async apply() {
    this.update();
    const box = this.$("cmp-result");
    if (this.problems.length) {
      showResult(box, { ok: false, heading: "Not sent: fix the problems listed above first.", lines: [] });
      return;
    }
    const button = this.$("cmp-apply");
    button.disabled = true;
    try {
      const result = await applyResource(this.resource, this.$("admin-token").value.trim());
      showResult(box, result);
      if (result.ok) {
        this.wanted = this.key(this.resource);
        this.onApplied();
      }
    } finally {
      button.disabled = false;
    }
  }
}
