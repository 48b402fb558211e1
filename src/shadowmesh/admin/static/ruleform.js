// The "create a mirroring rule" form: fills itself from the resources in force, shows the
// VirtualService it would apply, and applies it through the admin API like `kubectl apply`.

import { ApiError, applyYaml, storedToken, storeToken } from "./api.js";
import {
  ANNOTATIONS,
  buildVirtualService,
  catalog,
  mirrorsOf,
  ruleChoices,
  subsetsOf,
  toYaml,
} from "./rulebuild.js";

const NEW = "";

function option(value, text, disabled = false) {
  const o = new Option(text, value);
  o.disabled = disabled;
  return o;
}

function listItems(list, texts) {
  list.replaceChildren(
    ...texts.map((t) => {
      const li = document.createElement("li");
      li.textContent = t;
      return li;
    }),
  );
}

export class RuleForm {
  constructor(doc, onApplied) {
    this.$ = (id) => doc.getElementById(id);
    this.onApplied = onApplied;
    this.cat = catalog([]);
    this.base = null; // the VirtualService being edited; null for a new one
    this.loaded = false;
    this.wanted = null; // the VirtualService to select once the resources come back
    this.previousNewHost = "";
    this.$("admin-token").value = storedToken();
    this.$("admin-token").addEventListener("input", (e) => storeToken(e.target.value.trim()));
    this.$("rule-vs").addEventListener("change", () => this.pickVirtualService());
    this.$("rule-index").addEventListener("change", () => this.pickRule());
    this.$("rule-host").addEventListener("input", () => this.newHostChanged());
    for (const side of ["primary", "mirror"]) {
      this.$(`${side}-host`).addEventListener("input", () => this.fillSubsets(side, ""));
    }
    this.$("rule-form").addEventListener("input", () => this.update());
    this.$("rule-form").addEventListener("change", () => this.update());
    this.$("rule-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.apply();
    });
  }

  // New resources from the server: refresh the choices, keep what the user picked.
  setResources(items) {
    this.cat = catalog(items);
    this.$("known-hosts").replaceChildren(...this.cat.hosts.map((h) => new Option(h, h)));
    const select = this.$("rule-vs");
    const current = this.loaded ? select.value : null;
    const keys = this.cat.virtualServices.map((vs) => this.key(vs));
    select.replaceChildren(
      option(NEW, "New VirtualService…"),
      ...this.cat.virtualServices.map((vs) => option(this.key(vs), this.key(vs))),
    );
    this.loaded = true;
    const wanted = this.wanted;
    this.wanted = null;
    if (wanted && keys.includes(wanted)) {
      // just created through the form: show it as the rule now in force
      select.value = wanted;
      this.pickVirtualService();
    } else if (current !== null && (current === NEW || keys.includes(current))) {
      select.value = current;
      this.base = this.selected();
      if (this.base) this.fillRuleChoices(this.$("rule-index").value);
      this.update();
    } else {
      select.value = keys[0] || NEW;
      this.pickVirtualService();
    }
  }

  key(vs) {
    return `${vs.metadata.namespace || "default"}/${vs.metadata.name}`;
  }

  selected() {
    const value = this.$("rule-vs").value;
    return this.cat.virtualServices.find((vs) => this.key(vs) === value) || null;
  }

  namespace() {
    return this.base ? this.base.metadata.namespace || "default" : this.$("rule-namespace").value;
  }

  pickVirtualService() {
    this.base = this.selected();
    this.$("new-vs").hidden = this.base !== null;
    this.fillRuleChoices(null);
    this.pickRule();
  }

  // The rule picker; `keep` is the index to keep selected, null for the first mirrorable.
  fillRuleChoices(keep) {
    const choices = this.base ? ruleChoices(this.base) : [];
    const select = this.$("rule-index");
    if (choices.length === 0) {
      select.replaceChildren(option("0", "#0: a new rule routing the host"));
      return;
    }
    select.replaceChildren(...choices.map((c) => option(String(c.index), c.label, !c.mirrorable)));
    const kept = choices.find((c) => String(c.index) === keep && c.mirrorable);
    const first = kept || choices.find((c) => c.mirrorable);
    select.value = String(first ? first.index : 0);
  }

  // Start from what the chosen rule does now, so applying unchanged changes nothing.
  pickRule() {
    const rule = this.base ? (this.base.spec.http || [])[Number(this.$("rule-index").value)] : null;
    const host = this.base ? (this.base.spec.hosts || [""])[0] : this.$("rule-host").value;
    const route = (rule && rule.route && rule.route[0] && rule.route[0].destination) || { host };
    this.$("primary-host").value = route.host || "";
    this.fillSubsets("primary", route.subset || "");
    const existing = rule ? mirrorsOf(rule)[0] : undefined;
    const mirror = existing ? existing.destination : { host: route.host || "" };
    this.$("mirror-host").value = mirror.host || "";
    const other = subsetsOf(this.cat, mirror.host, this.namespace()).find(
      (s) => s !== route.subset,
    );
    this.fillSubsets("mirror", existing ? mirror.subset || "" : other || "");
    this.$("mirror-port").value = mirror.port && mirror.port.number ? mirror.port.number : "";
    this.$("percentage").value = existing ? existing.percent : 100;
    const annotations = (this.base && this.base.metadata.annotations) || {};
    const suffix = this.$("ann-host-suffix");
    const written = annotations[ANNOTATIONS.hostSuffix] || "";
    // keep a value spelled otherwise (`yes`, `1`) rather than drop it on the next apply
    if (![...suffix.options].some((o) => o.value === written)) suffix.add(option(written, written));
    suffix.value = written;
    this.$("ann-methods").value = annotations[ANNOTATIONS.methods] || "";
    this.$("ann-set-headers").value = annotations[ANNOTATIONS.setHeaders] || "";
    this.update();
  }

  // A new VirtualService usually routes and mirrors to its own host: follow it.
  newHostChanged() {
    const host = this.$("rule-host").value;
    for (const side of ["primary", "mirror"]) {
      const input = this.$(`${side}-host`);
      if (input.value === "" || input.value === this.previousNewHost) {
        input.value = host;
        this.fillSubsets(side, "");
      }
    }
    this.previousNewHost = host;
  }

  fillSubsets(side, value) {
    const select = this.$(`${side}-subset`);
    const names = subsetsOf(this.cat, this.$(`${side}-host`).value.trim(), this.namespace());
    if (value && !names.includes(value)) names.push(value);
    select.replaceChildren(
      option("", "none (every endpoint)"),
      ...names.map((n) => option(n, n)),
    );
    select.value = value;
  }

  choices() {
    const v = (id) => this.$(id).value;
    return {
      name: v("rule-name"),
      namespace: v("rule-namespace"),
      host: v("rule-host"),
      ruleIndex: Number(v("rule-index")) || 0,
      primary: { host: v("primary-host"), subset: v("primary-subset") },
      mirror: { host: v("mirror-host"), subset: v("mirror-subset"), port: v("mirror-port") },
      percentage: v("percentage"),
      annotations: {
        hostSuffix: v("ann-host-suffix"),
        methods: v("ann-methods"),
        setHeaders: v("ann-set-headers"),
      },
    };
  }

  update() {
    const { vs, problems } = buildVirtualService(this.base, this.choices());
    this.built = vs;
    this.yaml = toYaml(vs);
    this.problems = problems;
    this.$("rule-yaml").firstElementChild.textContent = this.yaml;
    listItems(this.$("rule-problems"), problems);
  }

  showResult(kind, heading, lines) {
    const box = this.$("apply-result");
    box.className = `result ${kind}`;
    box.dataset.outcome = kind;
    box.setAttribute("role", kind === "ok" ? "status" : "alert");
    const title = document.createElement("p");
    title.textContent = heading;
    const list = document.createElement("ul");
    listItems(list, lines);
    box.replaceChildren(title, list);
  }

  async apply() {
    this.update();
    if (this.problems.length) {
      this.showResult("error", "Not sent: fix the problems listed above first.", []);
      return;
    }
    const built = this.built;
    const button = this.$("apply");
    button.disabled = true;
    this.$("percentage").removeAttribute("aria-invalid");
    try {
      const { status, body } = await applyYaml(this.yaml, this.$("admin-token").value.trim());
      const text = (i) => (i.path ? `${i.path}: ${i.message}` : i.message);
      if (status === 200) {
        this.wanted = this.key(built);
        const warnings = body.issues.filter((i) => i.level === "warning");
        this.showResult("ok", "Applied.", [
          ...body.changed,
          ...warnings.map((i) => `Warning: ${text(i)}`),
        ]);
        this.onApplied();
      } else {
        const errors = body.issues.filter((i) => i.level === "error");
        if (errors.some((i) => (i.path || "").includes("mirrorPercentage"))) {
          this.$("percentage").setAttribute("aria-invalid", "true");
        }
        this.showResult("error", "Rejected by validation; nothing changed.", errors.map(text));
      }
    } catch (err) {
      const hint = err instanceof ApiError && err.status === 403 ? " (see the admin token)" : "";
      const why = err instanceof ApiError ? err.message : `cannot reach the admin API: ${err}`;
      this.showResult("error", `Not applied${hint}.`, [why]);
    } finally {
      button.disabled = false;
    }
  }
}
