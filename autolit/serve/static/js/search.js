// The search form: a search config (from configs/search/*.yaml, a finished fit, or a search job to
// clone) with its trials and time budget as fields, and the fit config it varies.
import { api } from "./api.js";
import { el, getPath, setPath, normKey, debounce, banner } from "./util.js";
import { parseYaml, dumpYaml } from "./yaml.js";

// A search over the learning rate and batch size of any fit: 3 epochs a trial.
function templateFor(name) {
  return dumpYaml({
    study: { name, n_trials: 8, direction: "maximize", metric: "val/acc" },
    overrides: { "trainer.max_epochs": 3 },
    space: {
      "optimizer.init_args.lr": { type: "float", low: 1.0e-4, high: 3.0e-2, log: true },
      "data.batch_size": { type: "categorical", choices: [16, 32, 64] },
    },
  });
}

export async function render(root, { params }) {
  const configs = await api("/api/page/configs");
  const { jobs } = await api("/api/jobs?kind=fit&state=succeeded&limit=100");
  const name = el("input", { id: "search-name", maxlength: 100 });
  const searchYaml = el("textarea", { id: "search-yaml", rows: 22, spellcheck: "false", wrap: "off", "aria-label": "search config (YAML)" });
  const fitYaml = el("textarea", { id: "search-fit-yaml", rows: 22, spellcheck: "false", wrap: "off", "aria-label": "fit config the search varies (YAML)" });
  const yamlError = el("p", { class: "field-error", role: "status" });
  const status = el("div", { id: "search-status", role: "alert" });
  const binds = [];

  const field = (label, path, placeholder = "") => {
    const input = el("input", { id: `s-${path}`, inputmode: "decimal", placeholder });
    input.addEventListener("input", () => {
      let cfg;
      try { cfg = parseYaml(searchYaml.value); } catch { return; }
      setPath(cfg, path, input.value === "" ? undefined : Number.isFinite(Number(input.value)) ? Number(input.value) : input.value);
      searchYaml.value = dumpYaml(cfg);
    });
    binds.push({ path, input });
    return el("label", { class: "field", "data-key": path }, el("span", {}, label), input);
  };
  const fromYaml = () => {
    try {
      const cfg = parseYaml(searchYaml.value);
      yamlError.textContent = "";
      for (const b of binds) if (document.activeElement !== b.input) b.input.value = getPath(cfg, b.path) ?? "";
    } catch (err) { yamlError.textContent = `YAML: ${err.message.split("\n")[0]}`; }
  };
  searchYaml.addEventListener("input", debounce(fromYaml, 250));

  const start = el("select", { id: "search-start", "aria-label": "start from", onchange: () => choose(start.value) },
    el("option", { value: "" }, "—"),
    el("optgroup", { label: "shipped search configs" }, configs.search.map((c) => el("option", { value: `config:${c.name}` }, c.path))),
    el("optgroup", { label: "a finished fit (search its lr and batch size)" }, jobs.map((j) => el("option", { value: `fit:${j.id}` }, `job ${j.id}: ${j.name}`))));

  async function choose(value) {
    const [kind, key] = value.split(":");
    if (kind === "config") {
      const c = configs.search.find((x) => x.name === key);
      const fitName = String(parseYaml(c.text).fit_config || "").split("/").pop().replace(/\.yaml$/, "");
      const fit = configs.fit.find((x) => x.name === fitName);
      fill(`${c.name}-search`, c.text, fit ? fit.text : "");
    } else if (kind === "fit") {
      const job = await api(`/api/jobs/${key}/config`);
      fill(`${job.name}-search`, templateFor(job.name.replace(/[^A-Za-z0-9_-]/g, "_")), job.config);
    } else if (kind === "clone") {
      const job = await api(`/api/jobs/${key}/config`);
      fill(`${job.name}-clone`, job.config, job.fit_config || "");
    }
  }
  function fill(runName, search, fit) { name.value = runName; searchYaml.value = search; fitYaml.value = fit; fromYaml(); }

  const submitButton = el("button", { type: "submit", class: "primary", id: "start-search" }, "Start search");
  const form = el("form", { id: "search-form", novalidate: true, onsubmit: async (e) => {
    e.preventDefault();
    form.querySelectorAll(".field-error.server").forEach((n) => n.remove());
    form.querySelectorAll(".invalid").forEach((n) => n.classList.remove("invalid"));
    status.replaceChildren();
    submitButton.disabled = true;
    try {
      const job = await api("/api/jobs", { json: { kind: "search", name: name.value.trim(), config: searchYaml.value, fit_config: fitYaml.value || null } });
      location.hash = `#/job/${job.id}`;
    } catch (err) {
      const key = normKey(err.key || "");
      const at = binds.find((b) => normKey(b.path) === key)?.input.closest(".field")
        || (key.startsWith("study") || key.startsWith("space") || key.startsWith("overrides") ? searchYaml.parentElement
            : key ? fitYaml.parentElement : null);
      if (at) { at.classList.add("invalid"); at.append(el("div", { class: "field-error server" }, err.message)); }
      status.replaceChildren(el("p", { class: "error-text" }, err.message));
      if (err.status !== 422) banner(form, err.message);
    } finally { submitButton.disabled = false; }
  } },
    el("div", { class: "row" }, el("h1", {}, "New search"), el("label", { class: "row" }, "start from ", start)),
    el("fieldset", {}, el("legend", {}, "Study"),
      el("div", { class: "fields" },
        el("label", { class: "field", "data-key": "name" }, el("span", {}, "run name"), name),
        field("trials", "study.n_trials", "20"), field("timeout (s)", "study.timeout", "none"),
        field("metric", "study.metric", "val/acc"), field("direction", "study.direction", "maximize")),
      el("p", { class: "note" }, "Slots: a search job takes one of the server's slots (--slots) and runs its trials on that slot's devices.")),
    el("div", { class: "editor" },
      el("div", {}, el("label", { for: "search-yaml" }, el("strong", {}, "search config")), searchYaml, yamlError),
      el("div", {}, el("label", { for: "search-fit-yaml" }, el("strong", {}, "fit config it varies"),
        el("span", { class: "note" }, " (replaces its fit_config: file)")), fitYaml)),
    el("div", { class: "row" }, submitButton), status);
  root.append(form);
  const initial = params.get("clone") ? `clone:${params.get("clone")}` : params.get("fit") ? `fit:${params.get("fit")}`
    : configs.search.length ? `config:${configs.search.find((c) => c.name === "digits")?.name || configs.search[0].name}` : "";
  if (initial) { start.value = initial.startsWith("clone") ? "" : initial; await choose(initial); }
  else fill("search", templateFor("search"), "");
}
