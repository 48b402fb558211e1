// The dashboard: every 2 s (unless paused) read the graph, the logs, the mirror statistics
// and the resources from the admin API, and redraw the panels.

import { getJSON } from "./api.js";
import { CompareView } from "./compare.js";
import { ComparisonForm } from "./compareform.js";
import { renderEdgeTable, renderGraph } from "./graph.js";
import { logsPath, renderLogs, renderWorkloads } from "./logs.js";
import { renderMirrorRules, renderStats } from "./mirrorstats.js";
import { RuleForm } from "./ruleform.js";

const REFRESH_MS = 2000;
const $ = (id) => document.getElementById(id);

const state = { paused: false, running: false, timer: null, workloads: new Set(), resources: "" };

async function refreshGraph() {
  const window = $("graph-window").value;
  const graph = await getJSON(`/api/v1/graph?window=${encodeURIComponent(window)}`);
  renderGraph($("graph"), graph, compare.comparisons);
  renderEdgeTable($("edge-rows"), graph);
  const mirrors = graph.edges.filter((e) => e.isMirror).length;
  $("graph-summary").textContent = graph.edges.length
    ? `${graph.edges.length} edges (${mirrors} mirror) over the last ${window}`
    : `No traffic in the last ${window}.`;
  for (const node of graph.nodes) {
    if (node.nodeType === "workload" && !node.isRoot) state.workloads.add(node.workload);
  }
}

async function refreshLogs() {
  renderWorkloads($("log-workload"), state.workloads);
  const body = await getJSON(logsPath($("log-workload").value, $("log-tail").value));
  for (const name of body.workloads) state.workloads.add(name);
  renderWorkloads($("log-workload"), state.workloads);
  renderLogs($("log-lines"), body.lines);
}

async function refreshStats() {
  renderStats($("mirror-rows"), $("mirror-queue"), await getJSON("/api/v1/mirror-stats"));
}

async function refreshResources(force = false) {
  const list = await getJSON("/api/v1/resources");
  const text = JSON.stringify(list.items);
  // Only redraw the form's choices when the configuration changed: rebuilding a <select>
  // under the user's pointer would close it.
  if (!force && text === state.resources) return;
  state.resources = text;
  for (const r of list.items) if (r.kind === "WorkloadEntry") state.workloads.add(r.metadata.name);
  renderMirrorRules($("mirror-rules"), list.items);
  form.setResources(list.items);
  comparisonForm.setResources(list.items);
  compare.setResources(list.items);
}

function showStatus(results) {
  const failed = results.find((r) => r.status === "rejected");
  const status = $("status");
  status.classList.toggle("bad", Boolean(failed));
  const when = new Date().toLocaleTimeString();
  status.textContent = failed
    ? `Admin API error at ${when}: ${failed.reason.message}`
    : `Updated ${when}${state.paused ? " (paused)" : ""}`;
}

async function tick() {
  if (state.running) return;
  state.running = true;
  clearTimeout(state.timer);
  try {
    if (!document.hidden) {
      showStatus(
        await Promise.allSettled([
          refreshGraph(), refreshLogs(), refreshStats(), refreshResources(), compare.refresh(),
        ]),
      );
    }
  } finally {
    state.running = false;
    if (!state.paused) state.timer = setTimeout(tick, REFRESH_MS);
  }
}

const form = new RuleForm(document, () => {
  refreshResources(true).catch(() => {});
  refreshStats().catch(() => {});
});
const comparisonForm = new ComparisonForm(document, () => {
  refreshResources(true).catch(() => {});
  compare.refresh().catch(() => {});
});
const compare = new CompareView(document, () => {
  refreshResources(true).catch(() => {});
  compare.refresh().catch(() => {});
});

$("pause").addEventListener("click", () => {
  state.paused = !state.paused;
  const button = $("pause");
  button.setAttribute("aria-pressed", String(state.paused));
  button.textContent = state.paused ? "Resume updates" : "Pause updates";
  if (state.paused) clearTimeout(state.timer);
  else tick();
});
// A changed choice shows at once, paused or not.
$("graph-window").addEventListener("change", () => refreshGraph().catch(() => {}));
for (const id of ["log-workload", "log-tail"]) {
  $(id).addEventListener("change", () => refreshLogs().catch(() => {}));
}

tick();
