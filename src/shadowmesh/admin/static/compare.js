// The Compare view: what the comparison engine found for each `Comparison` (from
// /api/v1/comparisons and its per-endpoint documents), drawn by comparerender.js, with the
// "ignore this field" action. A server without the engine answers 404 there: the view then
// says so and the rest of the dashboard is unaffected.

import { ApiError, getJSON } from "./api.js";
import { applyResource, comparisonsOf, showResult, withIgnored } from "./compareform.js";
import { endpointTable, renderEndpointDetail, renderVerdict } from "./comparerender.js";

const BASE = "/api/v1/comparisons";

function key(c) {
  return `${c.namespace}/${c.name}`;
}

function docPath(c, what, params) {
  const query = new URLSearchParams(params).toString();
  return `${BASE}/${encodeURIComponent(c.namespace)}/${encodeURIComponent(c.name)}/${what}?${query}`;
}

export class CompareView {
  constructor(doc, onApplied) {
    this.$ = (id) => doc.getElementById(id);
    this.onApplied = onApplied;
    this.comparisons = [];
    this.available = null; // null until the first answer; false without the engine
    this.picked = null; // comparison key
    this.endpoint = null;
    this.samplePath = null; // null: the first regression's path
    this.resources = [];
    this.sampleCache = null; // {key, samples}
    this.drawn = { list: "", detail: "" };
    this.$("cmp-view-pick").addEventListener("change", (e) => {
      this.picked = e.target.value;
      this.endpoint = null;
      this.samplePath = null;
      this.draw();
      this.refreshDetail().catch(() => {});
    });
  }

  setResources(items) {
    this.resources = items;
  }

  current() {
    return this.comparisons.find((c) => key(c) === this.picked) || null;
  }

  async refresh() {
    let body;
    try {
      body = await getJSON(BASE);
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) {
        this.available = false;
        this.draw();
        return;
      }
      throw err;
    }
    this.available = true;
    this.comparisons = body.comparisons || [];
    if (!this.current()) this.picked = this.comparisons.length ? key(this.comparisons[0]) : null;
    this.draw();
    await this.refreshDetail();
  }

  // The verdict, the picker and the endpoints table; redrawn only when they changed, so a
  // refresh never moves the focus or the pointer's target.
  draw() {
    const text = JSON.stringify([this.available, this.comparisons, this.picked, this.endpoint]);
    if (text === this.drawn.list) return;
    this.drawn.list = text;
    const select = this.$("cmp-view-pick");
    select.replaceChildren(...this.comparisons.map((c) => new Option(key(c), key(c))));
    select.value = this.picked || "";
    this.$("cmp-view-pick-row").hidden = this.comparisons.length < 2;
    const summary = this.$("cmp-summary");
    const table = this.$("cmp-endpoints");
    const c = this.current();
    if (this.available === false) {
      summary.replaceChildren(Object.assign(document.createElement("p"), {
        className: "empty",
        textContent: "This server does not compare mirrored answers (no /api/v1/comparisons).",
      }));
      table.replaceChildren();
      this.$("cmp-detail").replaceChildren();
      return;
    }
    if (!c) {
      summary.replaceChildren(Object.assign(document.createElement("p"), {
        className: "empty",
        textContent: "No Comparison yet: write one with the form \u201cCompare a mirror\u201d.",
      }));
      table.replaceChildren();
      this.$("cmp-detail").replaceChildren();
      return;
    }
    if (!this.endpoint || !(c.endpoints || []).some((e) => e.endpoint === this.endpoint)) {
      this.endpoint = c.endpoints && c.endpoints.length ? c.endpoints[0].endpoint : null;
    }
    summary.replaceChildren(renderVerdict(c));
    table.replaceChildren(endpointTable(c, this.endpoint, (endpoint) => this.pickEndpoint(endpoint)));
  }

  pickEndpoint(endpoint) {
    this.endpoint = endpoint;
    this.samplePath = null;
    this.draw();
    this.refreshDetail().catch((err) => this.detailError(err));
  }

  detailError(err) {
    const p = document.createElement("p");
    p.className = "empty";
    p.textContent = `Cannot read this endpoint's report: ${err.message}`;
    this.$("cmp-detail").replaceChildren(p);
    this.drawn.detail = "";
  }

  // Fields, latency and one sample pair of the endpoint picked.
  async refreshDetail() {
    const c = this.current();
    const summary = c && (c.endpoints || []).find((e) => e.endpoint === this.endpoint);
    if (!c || !summary) return;
    const endpoint = this.endpoint;
    const [fieldsDoc, latency] = await Promise.all([
      getJSON(docPath(c, "fields", { endpoint })),
      getJSON(docPath(c, "latency", { endpoint })),
    ]);
    const fields = fieldsDoc.fields || [];
    const first = fields.find((f) => f.classification === "regression") || fields[0];
    const samplePath = this.samplePath || (first ? first.path : null);
    // A stored sample does not change: fetched once per endpoint and field, so the pair a
    // user is reading is not redrawn under them every refresh.
    const sampleKey = JSON.stringify([key(c), endpoint, samplePath]);
    let samples;
    if (this.sampleCache && this.sampleCache.key === sampleKey) {
      samples = this.sampleCache.samples;
    } else {
      const params = samplePath ? { endpoint, path: samplePath } : { endpoint };
      samples = ((await getJSON(docPath(c, "samples", params))).samples || []).slice(0, 1);
      if (samples.length) this.sampleCache = { key: sampleKey, samples };
    }
    if (endpoint !== this.endpoint || key(c) !== this.picked) return; // picked another meanwhile
    const data = { fields, latency, samples, samplePath };
    const text = JSON.stringify([key(c), summary, data]);
    if (text === this.drawn.detail) return;
    this.drawn.detail = text;
    const actions = {
      onSample: (path) => {
        this.samplePath = path;
        this.refreshDetail().catch((err) => this.detailError(err));
      },
      onIgnore: (path, button) => this.ignore(c, path, button),
    };
    this.$("cmp-detail").replaceChildren(renderEndpointDetail(summary, data, actions));
  }

  // "ignore this field": the Comparison in force, with the path added, applied again.
  async ignore(c, path, button) {
    const box = this.$("cmp-ignore-result");
    const resource = comparisonsOf(this.resources).find(
      (r) => (r.metadata.namespace || "default") === c.namespace && r.metadata.name === c.name,
    );
    if (!resource) {
      showResult(box, { ok: false, heading: `Comparison ${key(c)} is not in force; nothing to change.`, lines: [] });
      return;
    }
    const updated = withIgnored(resource, path);
    if (!updated) {
      showResult(box, { ok: true, heading: `${path} is ignored already.`, lines: [] });
      return;
    }
    button.disabled = true;
    try {
      const result = await applyResource(updated, this.$("admin-token").value.trim());
      showResult(box, { ...result, heading: result.ok ? `Now ignoring ${path}.` : result.heading });
      if (result.ok) {
        this.resources = this.resources.map((r) => (r === resource ? updated : r));
        this.onApplied();
      }
    } finally {
      button.disabled = false;
    }
  }
}
