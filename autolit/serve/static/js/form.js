// The new run form (fit jobs): every setting as a field, and the YAML beside it; both are views of
// one config object. Editing a field rewrites the YAML; editing the YAML refills the fields. The
// YAML text is what is submitted. A field the server refuses shows the server's message.
import { api } from "./api.js";
import { el, getPath, setPath, normKey, debounce, banner } from "./util.js";
import { parseYaml, dumpYaml, flow, parseFlow } from "./yaml.js";

const DEFAULT_LAYERS = [{ Flatten: {} }, { Linear: { out_features: "n_labels" } }];

export async function render(root, { params }) {
  const [choices, configs, stores] = await Promise.all([
    api("/api/page/choices"), api("/api/page/configs"), api("/api/page/stores")]);
  const startText = await startingText(params, configs);
  const form = new FitForm(choices, configs, stores);
  root.append(form.node);
  await form.fillStarts();
  form.start.value = startText.start || "";
  form.load(startText.text, startText.name);
}

// The YAML (and a run name) the form opens with: a cloned job's, a shipped config's, or digits.
async function startingText(params, configs) {
  if (params.get("clone")) {
    const job = await api(`/api/jobs/${params.get("clone")}/config`);
    return { text: job.config, name: `${job.name}-clone`, start: `job:${job.id}` };
  }
  const wanted = params.get("from") || "digits";
  const shipped = configs.fit.find((c) => c.name === wanted) || configs.fit[0];
  return shipped ? { text: shipped.text, name: shipped.name, start: `config:${shipped.name}` }
                 : { text: dumpYaml({ trainer: { max_epochs: 3 }, model: { task: "multiclass", layers: DEFAULT_LAYERS }, data: { store: "" } }), name: "run" };
}

class FitForm {
  constructor(choices, configs, stores) {
    this.choices = choices;
    this.configs = configs;
    this.stores = stores;
    this.cfg = {};
    this.binds = [];        // {path, input, show(value)}
    this.refreshers = [];   // refill parts from the config (lists, free-text arguments): on YAML edits
    this.visibility = [];   // what shows and which mode is on: also after every field edit
    this.yaml = el("textarea", { id: "yaml", spellcheck: "false", wrap: "off", "aria-label": "the config as YAML (what is submitted)",
      oninput: debounce(() => this.fromYaml(), 250) });
    this.yamlError = el("p", { class: "field-error", id: "yaml-error", role: "status" });
    this.name = el("input", { id: "run-name", required: true, pattern: "[A-Za-z0-9][A-Za-z0-9._ -]*", maxlength: 100 });
    this.start = el("select", { id: "start-from", "aria-label": "start from", onchange: () => this.startFrom() });
    this.status = el("div", { id: "form-status", role: "alert" });
    this.submitButton = el("button", { type: "submit", class: "primary", id: "start-run" }, "Start run");
    this.node = el("form", { id: "fit-form", novalidate: true, onsubmit: (e) => { e.preventDefault(); this.submit(); } },
      el("div", { class: "row" }, el("h1", {}, "New run"),
        el("label", { class: "row" }, "start from ", this.start)),
      el("div", { class: "editor" },
        el("div", { class: "fields-col" },
          el("fieldset", {}, el("legend", {}, "Run"),
            el("div", { class: "fields" }, el("label", { class: "field", "data-key": "name" }, el("span", {}, "run name"), this.name))),
          this.dataSection(), this.modelSection(), this.optimSection(), this.imageSection(), this.trainSection(),
          el("div", { class: "row" }, this.submitButton, el("span", { class: "note" }, "submits the YAML on the right")), this.status),
        el("div", { class: "yaml" }, el("label", { for: "yaml" }, el("strong", {}, "YAML"),
          el("span", { class: "note" }, " — edit either side; the other follows")), this.yaml, this.yamlError)));
  }

  async fillStarts() {
    const opts = [el("option", { value: "" }, "—")];
    for (const c of this.configs.fit) opts.push(el("option", { value: `config:${c.name}` }, c.path));
    try {
      const { jobs } = await api("/api/jobs?kind=fit&limit=50");
      for (const j of jobs) opts.push(el("option", { value: `job:${j.id}` }, `job ${j.id}: ${j.name} (${j.state})`));
    } catch { /* no jobs list: shipped configs only */ }
    this.start.replaceChildren(...opts);
  }

  async startFrom() {
    const [kind, key] = this.start.value.split(":");
    if (kind === "config") {
      const c = this.configs.fit.find((x) => x.name === key);
      this.load(c.text, c.name);
    } else if (kind === "job") {
      const job = await api(`/api/jobs/${key}/config`);
      this.load(job.config, `${job.name}-clone`);
    }
  }

  load(text, name) {
    this.name.value = name.replace(/[^A-Za-z0-9._ -]/g, "-");
    this.yaml.value = text;
    this.fromYaml();
  }

  // The YAML changed: parse it, refill every field (a YAML that does not parse leaves them).
  fromYaml() {
    try {
      this.cfg = parseYaml(this.yaml.value);
      this.yamlError.textContent = "";
      this.yaml.removeAttribute("aria-invalid");
    } catch (err) {
      this.yamlError.textContent = `YAML: ${err.message.split("\n")[0]}`;
      this.yaml.setAttribute("aria-invalid", "true");
      return;
    }
    for (const b of this.binds) b.show(getPath(this.cfg, b.path));
    for (const r of [...this.refreshers, ...this.visibility]) r();
  }

  // A field changed: set its key (undefined removes it) and rewrite the YAML.
  set(path, value) {
    setPath(this.cfg, path, value);
    this.yaml.value = dumpYaml(this.cfg);
    this.yamlError.textContent = "";
    for (const v of this.visibility) v();
  }

  // One input bound to a key path. kind: text | number | select | list (comma separated numbers).
  field(label, path, { kind = "text", options = null, placeholder = "", id = null, note = null } = {}) {
    const input = kind === "select"
      ? el("select", { id: id || `f-${path}` }, options.map(([v, t]) => el("option", { value: v }, t)))
      : el("input", { id: id || `f-${path}`, type: "text", inputmode: kind === "number" ? "decimal" : null, placeholder });
    const parse = (text) => {
      if (text === "") return undefined;
      if (kind === "number") return Number.isFinite(Number(text)) ? Number(text) : text;
      if (kind === "list") return text.split(/[\s,]+/).filter(Boolean).map((t) => (Number.isFinite(Number(t)) ? Number(t) : t));
      return text;
    };
    const show = (value) => {
      const text = value === undefined || value === null ? "" : Array.isArray(value) ? value.join(", ") : String(value);
      if (kind === "select" && ![...input.options].some((o) => o.value === text)) input.append(el("option", { value: text }, text));
      if (document.activeElement !== input) input.value = text;
    };
    input.addEventListener(kind === "select" ? "change" : "input", () => this.set(path, parse(input.value)));
    this.binds.push({ path, input, show });
    return el("label", { class: "field", "data-key": path }, el("span", {}, label), input, note && el("span", { class: "note" }, note));
  }

  // Radio buttons of modes (which part of a section applies), each with what choosing it does.
  modes(name, modes, current) {
    const radios = modes.map(([value, label, choose]) => {
      const radio = el("input", { type: "radio", name, value, id: `${name}-${value}`, onchange: () => { choose(); this.fromYaml(); } });
      return [radio, el("label", { class: "row" }, radio, label)];
    });
    this.visibility.push(() => { const now = current(); radios.forEach(([r]) => { r.checked = r.value === now; }); });
    return el("div", { class: "row", role: "radiogroup", "aria-label": name }, radios.map(([, l]) => l));
  }

  shownWhen(node, test) { this.visibility.push(() => { node.hidden = !test(); }); return node; }

  dataSection() {
    const source = () => getPath(this.cfg, "data.source");
    const mode = () => {
      const s = source();
      if (s === "digits" || (s && typeof s === "object" && !Array.isArray(s) && s.digits !== undefined)) return "digits";
      if (s && typeof s === "object" && !Array.isArray(s) && s.scrape) return "web";
      return "store";
    };
    const storeOf = (fallback) => getPath(this.cfg, "data.store") || fallback;
    const queries = el("textarea", { id: "f-queries", rows: 4, placeholder: "ants\nbees", "aria-label": "web-search queries, one label per line",
      oninput: () => this.set("data.source.scrape.queries", queries.value.split("\n").map((q) => q.trim()).filter(Boolean)) });
    this.refreshers.push(() => { if (document.activeElement !== queries) queries.value = (getPath(this.cfg, "data.source.scrape.queries") || []).join("\n"); });
    const storeList = el("datalist", { id: "stores" }, this.stores.stores.map((s) => el("option", { value: s })));
    const storeField = this.field("store path (under a data root, or relative: made in the job's folder)", "data.store",
      { placeholder: this.stores.stores[0] || "stores/mydata" });
    storeField.querySelector("input").setAttribute("list", "stores");
    const other = el("p", { class: "note" });
    this.visibility.push(() => {
      const s = source();
      other.textContent = s && mode() === "store" ? `source: ${flow(s)} (edit it in the YAML)` : "";
    });
    return el("fieldset", { "data-key": "data.source" }, el("legend", {}, "Data"),
      this.modes("data-mode", [
        ["store", "a store", () => { if (mode() !== "store") setPath(this.cfg, "data.source", undefined); this.sync(); }],
        ["digits", "built-in digits", () => { setPath(this.cfg, "data.source", "digits"); setPath(this.cfg, "data.store", storeOf("stores/digits")); this.sync(); }],
        ["web", "web search (labels as queries)", () => {
          setPath(this.cfg, "data.source", { scrape: { queries: [], per_query: 50 } });
          setPath(this.cfg, "data.store", storeOf(`stores/${this.name.value || "scraped"}`));
          this.sync();
        }]], mode),
      storeField, storeList, other,
      this.shownWhen(el("div", {},
        el("label", { class: "field", "data-key": "data.source.scrape.queries" }, el("span", {}, "labels, one web-search query per line"), queries),
        this.field("images per query", "data.source.scrape.per_query", { kind: "number" }),
        el("p", { class: "note" }, "The server's SERPAPI_API_KEY is used; it is never part of the config.")), () => mode() === "web"),
      el("p", { class: "note" }, `data roots: ${this.stores.roots.join(", ") || "none (start the server with --data-root)"}`));
  }

  sync() { this.yaml.value = dumpYaml(this.cfg); }

  modelSection() {
    const c = this.choices;
    const mode = () => (getPath(this.cfg, "model.preset") ? "preset" : "layers");
    const taskField = this.field("task", "model.task", { kind: "select", options: Object.keys(c.tasks).map((t) => [t, t]) });
    const loss = el("select", { id: "f-model.loss", onchange: () => this.set("model.loss", loss.value || undefined) });
    this.visibility.push(() => {
      const task = c.tasks[getPath(this.cfg, "model.task") || "multiclass"] || { losses: c.losses };
      const now = getPath(this.cfg, "model.loss") || "";
      loss.replaceChildren(el("option", { value: "" }, "the task's default"), ...task.losses.map((l) => el("option", { value: l }, l)));
      if (now && !task.losses.includes(now)) loss.append(el("option", { value: now }, now));
      loss.value = now;
    });
    const presets = this.field("preset", "model.preset", { kind: "select", options: c.presets.map((p) => [p, p]) });
    const layers = this.listEditor("model.layers", c.layers, "layer");
    return el("fieldset", {}, el("legend", {}, "Model"),
      el("div", { class: "fields" }, taskField, el("label", { class: "field", "data-key": "model.loss" }, el("span", {}, "loss"), loss)),
      this.modes("model-mode", [
        ["preset", "a preset (or a pretrained network by name)", () => {
          setPath(this.cfg, "model.layers", undefined);
          setPath(this.cfg, "model.preset", getPath(this.cfg, "model.preset") || c.presets[0]);
          this.sync();
        }],
        ["layers", "a layer list", () => {
          setPath(this.cfg, "model.preset", undefined);
          if (!getPath(this.cfg, "model.layers")) setPath(this.cfg, "model.layers", structuredClone(DEFAULT_LAYERS));
          this.sync();
        }]], mode),
      this.shownWhen(presets, () => mode() === "preset"),
      this.shownWhen(layers, () => mode() === "layers"),
      el("p", { class: "note" }, `A pretrained backbone by name: the Backbone layer {name: ${c.backbones[0]}, weights: imagenet} or a preset. `,
        `"${c.auto}": a width read off the input; "${c.n_labels}": the store's label count.`));
  }

  // A list of {Name: {args}} items (model.layers, data.augment): add, remove, reorder, edit arguments.
  listEditor(path, names, what) {
    const rows = el("div", { class: "list-rows" });
    const addName = el("select", { "aria-label": `${what} to add` }, names.map((n) => el("option", { value: n }, n)));
    const list = () => getPath(this.cfg, path) || [];
    const write = (items) => { this.set(path, items.length ? items : undefined); rebuild(); };
    const rebuild = () => {
      rows.replaceChildren(...list().map((item, i) => this.listRow(path, item, i, names, list, write)));
    };
    this.refreshers.push(rebuild);
    return el("div", { class: "list", "data-key": path }, rows,
      el("div", { class: "row" }, addName, el("button", { type: "button", class: "small", id: `add-${path}`,
        onclick: () => write([...list(), { [addName.value]: {} }]) }, `add ${what}`)));
  }

  listRow(path, item, i, names, list, write) {
    const [name, args] = typeof item === "string" ? [item, {}] : Object.entries(item || {})[0] || ["", {}];
    const key = `${path}.${i}`;
    const select = el("select", { "aria-label": `${key} name`, onchange: () => replace({ [select.value]: currentArgs() }) },
      [...new Set([name, ...names])].map((n) => el("option", { value: n, selected: n === name }, n)));
    const argsInput = el("input", { class: "args mono", value: flow(args), "aria-label": `${key} arguments`,
      oninput: () => {
        try {
          const parsed = parseFlow(argsInput.value);
          argsInput.removeAttribute("aria-invalid");
          const items = list().slice(); items[i] = { [name]: parsed }; this.set(path, items);
        } catch { argsInput.setAttribute("aria-invalid", "true"); }
      } });
    const currentArgs = () => { try { return parseFlow(argsInput.value); } catch { return args || {}; } };
    const replace = (value) => { const items = list().slice(); items[i] = value; write(items); };
    const move = (d) => { const items = list().slice(); const [x] = items.splice(i, 1); items.splice(i + d, 0, x); write(items); };
    const hints = (this.choices.auto_args[name] || []).map((arg) => {
      const value = arg === "out_features" ? this.choices.n_labels : this.choices.auto;
      return el("button", { type: "button", class: "small hint", title: `set ${arg}: ${value}`,
        onclick: () => replace({ [name]: { ...currentArgs(), [arg]: value } }) }, `${arg}: ${value}`);
    });
    const last = list().length - 1;
    return el("div", { class: "list-row", "data-key": key },
      el("span", { class: "idx" }, i), select, argsInput,
      el("span", { class: "row" },
        el("button", { type: "button", class: "small", "aria-label": `move ${key} up`, disabled: i === 0, onclick: () => move(-1) }, "↑"),
        el("button", { type: "button", class: "small", "aria-label": `move ${key} down`, disabled: i === last, onclick: () => move(1) }, "↓"),
        el("button", { type: "button", class: "small", "aria-label": `remove ${key}`, onclick: () => { const items = list().slice(); items.splice(i, 1); write(items); } }, "✕")),
      hints.length ? el("span", { class: "hints row" }, el("span", { class: "note" }, "offer:"), hints) : null);
  }

  optimSection() {
    const c = this.choices;
    const cls = () => getPath(this.cfg, "optimizer.class_path") || "";
    const sched = this.field("scheduler", "lr_scheduler.class_path", { kind: "select", options: c.schedulers.map((s) => [s, s || "none"]) });
    const schedArgs = el("input", { id: "f-lr_scheduler.init_args", class: "mono", "aria-label": "scheduler arguments",
      oninput: () => { try { this.set("lr_scheduler.init_args", parseFlow(schedArgs.value)); schedArgs.removeAttribute("aria-invalid"); } catch { schedArgs.setAttribute("aria-invalid", "true"); } } });
    this.refreshers.push(() => { if (document.activeElement !== schedArgs) schedArgs.value = flow(getPath(this.cfg, "lr_scheduler.init_args")); });
    sched.querySelector("select").addEventListener("change", () => { if (!getPath(this.cfg, "lr_scheduler.class_path")) this.set("lr_scheduler", undefined); this.fromYaml(); });
    return el("fieldset", {}, el("legend", {}, "Optimizer and schedule"),
      el("div", { class: "fields" },
        this.field("optimizer", "optimizer.class_path", { kind: "select", options: c.optimizers.map((o) => [o, o.replace("torch.optim.", "")]) }),
        this.field("learning rate", "optimizer.init_args.lr", { kind: "number", placeholder: "0.001" }),
        this.shownWhen(this.field("momentum", "optimizer.init_args.momentum", { kind: "number", placeholder: "0.9" }), () => /SGD|RMSprop/.test(cls())),
        this.shownWhen(this.field("betas", "optimizer.init_args.betas", { kind: "list", placeholder: "0.9, 0.999" }), () => /Adam/.test(cls())),
        this.field("weight decay", "optimizer.init_args.weight_decay", { kind: "number", placeholder: "0.01" })),
      el("div", { class: "fields" }, sched,
        el("label", { class: "field", "data-key": "lr_scheduler.init_args" }, el("span", {}, "scheduler arguments"), schedArgs)));
  }

  imageSection() {
    return el("fieldset", {}, el("legend", {}, "Images"),
      el("div", { class: "fields" },
        this.field("image size (px)", "data.image_size", { kind: "number", placeholder: "the store's" }),
        this.field("mean (one per channel)", "data.mean", { kind: "list", placeholder: "from the train split" }),
        this.field("std (one per channel)", "data.std", { kind: "list", placeholder: "from the train split" })),
      el("div", {}, el("span", { class: "note" }, "augmentations (train split only)"), this.listEditor("data.augment", this.choices.augmentations, "augmentation")));
  }

  trainSection() {
    return el("fieldset", {}, el("legend", {}, "Training"),
      el("div", { class: "fields" },
        this.field("batch size", "data.batch_size", { kind: "number" }),
        this.field("epochs", "trainer.max_epochs", { kind: "number", id: "f-epochs" }),
        this.field("precision", "trainer.precision", { kind: "select", options: [["", "default (32-true)"], ...this.choices.precisions.map((p) => [p, p])] }),
        this.field("seed", "seed_everything", { kind: "number" })));
  }

  clearErrors() {
    this.node.querySelectorAll(".field-error.server").forEach((n) => n.remove());
    this.node.querySelectorAll(".invalid").forEach((n) => n.classList.remove("invalid"));
    this.status.replaceChildren();
  }

  // The server's message at the field of its key: the longest data-key the key starts with.
  markError(key, message) {
    const want = normKey(key);
    let best = null;
    for (const node of this.node.querySelectorAll("[data-key]")) {
      const k = normKey(node.dataset.key);
      if ((want === k || want.startsWith(`${k}.`)) && !node.closest("[hidden]") && (!best || k.length > normKey(best.dataset.key).length)) best = node;
    }
    const text = el("div", { class: "field-error server", role: "alert" }, message);
    if (best) {
      best.classList.add("invalid");
      best.append(text);
      best.scrollIntoView({ block: "center" });
      (best.querySelector("input, select, textarea") || best).focus?.();
    }
    this.status.replaceChildren(el("p", { class: "error-text" }, best ? `refused: see ${key}` : `refused: ${message}`));
  }

  async submit() {
    this.clearErrors();
    this.submitButton.disabled = true;
    try {
      const job = await api("/api/jobs", { json: { kind: "fit", name: this.name.value.trim(), config: this.yaml.value } });
      location.hash = `#/job/${job.id}`;
    } catch (err) {
      if (err.status === 422) this.markError(err.key === "body.name" || err.key === "name" ? "name" : err.key || "", err.message);
      else banner(this.node, err.message);
    } finally {
      this.submitButton.disabled = false;
    }
  }
}
