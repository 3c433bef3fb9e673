// Compare runs: one chosen metric of every picked run on one chart (downsampled on the server), and
// their configs side by side with the keys that differ highlighted.
import { api, query } from "./api.js";
import { el, stateBadge } from "./util.js";
import { lineChart, align, COLORS } from "./chart.js";
import { parseYaml } from "./yaml.js";

const POINTS_BUDGET = 30000;   // points on the chart, all runs together
const MAX_PER_RUN = 1000;

export async function render(root, { params }) {
  const ids = (params.get("ids") || "").split(",").map(Number).filter((n) => n > 0);
  const { jobs } = await api(`/api/jobs?${query({ limit: 200 })}`);
  const picker = el("div", { class: "compare-pick", id: "compare-pick" }, jobs.map((j) => el("label", {},
    el("input", { type: "checkbox", value: j.id, checked: ids.includes(j.id) }), ` #${j.id} ${j.name} `, stateBadge(j.state))));
  const go = () => {
    const picked = [...picker.querySelectorAll("input:checked")].map((c) => c.value);
    location.hash = `#/compare?${query({ ids: picked.join(","), tag: tagSelect.value || undefined })}`;
  };
  const tagSelect = el("select", { id: "compare-tag", "aria-label": "metric", onchange: go });
  root.append(el("h1", {}, "Compare runs"),
    el("details", { class: "card", open: ids.length ? null : true }, el("summary", {}, `runs (${ids.length} picked)`), picker,
      el("div", { class: "row" }, el("button", { type: "button", class: "primary", id: "compare-go", onclick: go }, "Compare"))));
  if (!ids.length) {
    root.append(el("p", { class: "muted" }, "Pick runs above (or tick them in the jobs list), then Compare."));
    return null;
  }
  const perRun = Math.max(10, Math.min(MAX_PER_RUN, Math.floor(POINTS_BUDGET / ids.length)));
  let tag = params.get("tag") || "val/acc";
  let data = await api(`/api/page/series?${query({ ids, tag, points_per_run: perRun })}`);
  if (!data.tags.includes(tag) && data.tags.length) {  // the run(s) never logged it: their first val tag
    tag = data.tags.find((t) => t.startsWith("val/")) || data.tags[0];
    data = await api(`/api/page/series?${query({ ids, tag, points_per_run: perRun })}`);
  }
  tagSelect.replaceChildren(...data.tags.filter((t) => !t.startsWith("hparams/")).map((t) => el("option", { value: t, selected: t === tag }, t)));
  const chartBox = el("div", { class: "chart", id: "compare-chart", "data-tag": tag });
  const sampled = data.series.filter((s) => s.total > s.steps.length).length;
  root.append(el("div", { class: "row" }, el("label", { class: "row" }, "metric ", tagSelect),
    el("span", { class: "note" }, sampled ? `${sampled} run(s) downsampled to ≤ ${perRun} points (each bucket's first, min and max)` : "every point")),
    chartBox);
  const shown = data.series.filter((s) => s.steps.length);
  const chart = lineChart(chartBox, shown.map((s) => `#${s.id} ${s.name}`), { height: 340, legend: shown.length <= 12 });
  if (shown.length) chart.setData(align(shown));
  chartBox.dataset.series = shown.length;
  chartBox.dataset.points = shown.reduce((n, s) => n + s.steps.length, 0);
  if (shown.length > 12) {
    chartBox.append(el("div", { class: "row note" }, shown.map((s, i) => el("span", {},
      el("span", { class: "legend-swatch", style: `background:${COLORS[i % COLORS.length]}` }), `#${s.id}`))));
  }
  const missing = data.series.filter((s) => !s.steps.length);
  if (missing.length) root.append(el("p", { class: "note" }, `no ${tag} yet: ${missing.map((s) => `#${s.id}`).join(", ")}`));
  root.append(await configTable(ids));
  return () => chart.destroy();
}

// The configs as rows of dotted keys; a row whose values are not all equal is highlighted.
async function configTable(ids) {
  const configs = await Promise.all(ids.map((id) => api(`/api/jobs/${id}/config`)));
  const flat = configs.map((c) => { try { return flatten(parseYaml(c.config)); } catch { return { "(yaml)": "does not parse" }; } });
  const keys = [...new Set(flat.flatMap((f) => Object.keys(f)))].sort();
  const onlyDiff = el("input", { type: "checkbox", id: "only-differing", checked: ids.length > 1,
    onchange: () => body.querySelectorAll("tr.same").forEach((tr) => { tr.hidden = onlyDiff.checked; }) });
  const body = el("tbody", {}, keys.map((key) => {
    const values = flat.map((f) => (key in f ? JSON.stringify(f[key]) : "—"));
    const differs = new Set(values).size > 1;
    return el("tr", { class: differs ? "differs-row" : "same", hidden: !differs && ids.length > 1, "data-key": key },
      el("th", { class: "mono" }, key), values.map((v) => el("td", { class: differs ? "mono differs" : "mono" }, v)));
  }));
  return el("div", {}, el("div", { class: "row" }, el("h2", {}, "Configs"),
    el("label", { class: "row" }, onlyDiff, "only keys that differ")),
    el("div", { class: "table-wrap" }, el("table", { id: "config-table" },
      el("thead", {}, el("tr", {}, el("th", {}, "key"), configs.map((c) => el("th", {}, `#${c.id} ${c.name}`)))), body)));
}

function flatten(value, prefix = "", out = {}) {
  if (value && typeof value === "object" && !(Array.isArray(value) && value.every((v) => typeof v !== "object"))) {
    const entries = Array.isArray(value) ? value.map((v, i) => [i, v]) : Object.entries(value);
    if (!entries.length) out[prefix] = value;
    for (const [k, v] of entries) flatten(v, prefix ? `${prefix}.${k}` : String(k), out);
  } else {
    out[prefix] = value;
  }
  return out;
}
