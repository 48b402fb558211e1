// Access-log lines of one workload (or all), newest last, with shadow copies marked.

// A shadow copy carries the shadow Host (`httpbin-shadow:8000`, Istio's `-shadow` suffix) in
// the text format's authority field; the JSON format says `"shadow": true` outright.
const SHADOW_AUTHORITY = /-shadow(:\d+)?$/;

export function isShadowLine(line) {
  if (line.startsWith("{")) {
    try {
      return JSON.parse(line).shadow === true;
    } catch {
      return false;
    }
  }
  // The authority is the sixth quoted field of Istio's default text format.
  const authority = line.split('"')[11];
  return authority !== undefined && SHADOW_AUTHORITY.test(authority);
}

export function logsPath(workload, tail) {
  const params = new URLSearchParams({ tail: String(tail) });
  if (workload) params.set("workload", workload);
  return `/api/v1/logs?${params}`;
}

// Keep the picker's choice while the list of workloads grows.
export function renderWorkloads(select, workloads) {
  const current = select.value;
  const options = [new Option("all workloads", "")];
  for (const name of [...new Set(workloads)].sort()) options.push(new Option(name, name));
  const same =
    select.options.length === options.length &&
    options.every((o, i) => select.options[i].value === o.value);
  if (!same) {
    select.replaceChildren(...options);
    select.value = options.some((o) => o.value === current) ? current : "";
  }
}

export function renderLogs(list, lines) {
  // Follow the newest line unless the reader scrolled up to read something.
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 24;
  const items = lines.map((line) => {
    const li = document.createElement("li");
    if (isShadowLine(line)) {
      li.className = "shadow";
      const badge = document.createElement("span");
      badge.className = "badge";
      badge.textContent = "shadow";
      li.append(badge, " ");
    }
    const code = document.createElement("code");
    code.textContent = line;
    li.append(code);
    return li;
  });
  if (items.length === 0) {
    const li = document.createElement("li");
    li.className = "empty";
    li.textContent = "No access-log lines yet.";
    items.push(li);
  }
  list.replaceChildren(...items);
  if (atBottom) list.scrollTop = list.scrollHeight;
}
