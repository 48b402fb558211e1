// The mirroring panel: shadow copies per destination service (from /api/v1/mirror-stats)
// and the rules in force that mirror (from /api/v1/resources).

import { describeDestination, mirrorsOf } from "./rulebuild.js";

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = String(text);
  if (className) td.className = className;
  return td;
}

function skippedText(skipped) {
  const reasons = Object.entries(skipped);
  return reasons.length ? reasons.map(([reason, n]) => `${reason}: ${n}`).join(", ") : "0";
}

function circuitText(circuits) {
  const open = circuits.filter((c) => c.state !== "closed");
  if (circuits.length === 0) return "–";
  return open.length ? open.map((c) => c.state.replace("_", "-")).join(", ") : "closed";
}

export function renderStats(tbody, footer, stats) {
  const rows = stats.services.map((s) => {
    const tr = document.createElement("tr");
    tr.dataset.service = s.destination_service;
    const name = document.createElement("th");
    name.scope = "row";
    name.textContent = s.destination_service.split(".")[0];
    name.title = s.destination_service;
    tr.append(
      name,
      cell(s.sent, "sent"),
      cell(s.succeeded, "succeeded"),
      cell(s.failed, s.failed ? "failed bad" : "failed"),
      cell(s.timed_out, s.timed_out ? "timed_out bad" : "timed_out"),
      cell(skippedText(s.skipped), s.skipped_total ? "skipped warn" : "skipped"),
      cell(circuitText(s.circuits), "circuit"),
    );
    return tr;
  });
  if (rows.length === 0) {
    const tr = document.createElement("tr");
    const td = cell("No shadow copies yet: no rule mirrors, or no traffic reached one.");
    td.colSpan = 7;
    td.className = "empty";
    tr.append(td);
    rows.push(tr);
  }
  tbody.replaceChildren(...rows);
  footer.textContent =
    `Mirror queue: ${stats.queue_depth} waiting, ${stats.inflight} in flight` +
    (stats.workers > 1 ? ` (${stats.workers} workers)` : "");
}

export function renderMirrorRules(list, items) {
  const entries = [];
  for (const vs of items.filter((r) => r.kind === "VirtualService")) {
    (vs.spec.http || []).forEach((rule, index) => {
      for (const m of mirrorsOf(rule)) {
        const route = (rule.route || []).map((r) => describeDestination(r.destination));
        const li = document.createElement("li");
        li.textContent =
          `${vs.metadata.namespace}/${vs.metadata.name} rule #${index}: ` +
          `route ${route.join(", ") || "?"} → mirror ${describeDestination(m.destination)} ` +
          `at ${m.percent}%`;
        entries.push(li);
      }
    });
  }
  if (entries.length === 0) {
    const li = document.createElement("li");
    li.className = "empty";
    li.textContent = "No VirtualService mirrors yet.";
    entries.push(li);
  }
  list.replaceChildren(...entries);
}
