// One job: state and buttons, live curves of every scalar (event stream, no polling), the log tail;
// a finished fit's test metrics, confusion matrix, sample predictions, test uploads and export;
// a search's trials and best trial with its report.
import { api, query } from "./api.js";
import { el, duration, jobDuration, when, num, stateBadge, banner, ENDED, LIVE } from "./util.js";
import { lineChart } from "./chart.js";

const LOG_KEEP = 60000;     // characters of log kept on the page (the log route has all of it)
const DRAW_MS = 500;        // curves redraw at most this often while points stream in

export async function render(root, { arg, feed }) {
  const id = Number(arg);
  let job = await api(`/api/jobs/${id}`);
  const series = new Map();   // tag -> Map(step -> value)
  const charts = new Map();   // tag -> {chart, box}
  let logNext = 0, drawTimer = null, finishedShown = false;

  const head = el("div", { class: "card", id: "job-head" });
  const chartsBox = el("div", { class: "charts", id: "charts" });
  const logPre = el("pre", { class: "log", id: "log", tabindex: "0", "aria-label": "log tail" });
  const results = el("div", { id: "results" });
  root.append(head, el("h2", {}, job.kind === "fit" ? "Curves" : "Trials"), chartsBox, results,
    el("h2", {}, "Log ", el("span", { class: "note" }, "(tail; every attempt)")), logPre);

  function renderHead() {
    const acts = [];
    const act = (label, fn, extra = {}) => acts.push(el("button", { type: "button", "data-action": label, onclick: fn, ...extra }, label));
    if (!ENDED.has(job.state) && job.state !== "stopping") act("stop", () => call("stop"));
    if (job.state === "stopped" || job.state === "interrupted") act("resume", () => call("resume"));
    act("clone and edit", () => { location.hash = `#/${job.kind === "fit" ? "new" : "search"}?clone=${id}`; });
    if (job.kind === "fit" && job.state === "succeeded") act("search from this fit", () => { location.hash = `#/search?fit=${id}`; });
    act("compare", () => { location.hash = `#/compare?ids=${id}`; });
    head.replaceChildren(...[
      el("div", { class: "row" }, el("h1", {}, `#${id} ${job.name}`), stateBadge(job.state), el("span", { class: "muted" }, job.kind)),
      el("dl", { class: "kv" },
        el("dt", {}, "created"), el("dd", {}, when(job.created_at)),
        el("dt", {}, "started"), el("dd", {}, when(job.started_at)),
        el("dt", {}, "duration"), el("dd", { id: "job-duration" }, duration(jobDuration(job))),
        el("dt", {}, "attempt"), el("dd", {}, job.attempt),
        job.slot ? [el("dt", {}, "slot"), el("dd", {}, job.slot)] : null,
        el("dt", {}, "folder"), el("dd", { class: "mono" }, job.folder)),
      job.error ? el("p", { class: "error-text", id: "job-error", role: "alert" }, job.error) : null,
      el("div", { class: "row" }, acts)].filter(Boolean));
  }

  async function call(what) {
    try { job = await api(`/api/jobs/${id}/${what}`, { method: "POST" }); renderHead(); } catch (err) { banner(root, err.message); }
  }

  function addPoints(points) {
    for (const p of points) {
      if (!series.has(p.tag)) series.set(p.tag, new Map());
      series.get(p.tag).set(p.step, p.value);
    }
    if (!drawTimer) drawTimer = setTimeout(() => { drawTimer = null; draw(); }, DRAW_MS);
  }

  function draw() {
    const tags = [...series.keys()].filter(charted).sort(tagOrder);
    for (const tag of tags) {
      if (!charts.has(tag)) {
        const plotBox = el("div");
        const box = el("div", { class: "chart", "data-tag": tag }, el("h3", {}, tag), plotBox);
        chartsBox.append(box);
        [...chartsBox.children].sort((a, b) => tagOrder(a.dataset.tag, b.dataset.tag)).forEach((c) => chartsBox.append(c));
        charts.set(tag, { chart: lineChart(plotBox, [tag], { height: 200, xLabel: job.kind === "fit" ? "step" : "trial", legend: false }), box });
      }
      const byStep = series.get(tag);
      const steps = [...byStep.keys()].sort((a, b) => a - b);
      const { chart, box } = charts.get(tag);
      chart.setData([steps, steps.map((s) => byStep.get(s))]);
      box.dataset.points = steps.length;
    }
    if (job.kind === "search") renderTrials();
  }

  async function loadLog() {
    const first = await api(`/api/jobs/${id}/log?offset=0`);
    let chunk = first;
    if (first.size > first.next_offset) chunk = await api(`/api/jobs/${id}/log?offset=${Math.max(0, first.size - LOG_KEEP)}`);
    logPre.textContent = chunk.text.slice(-LOG_KEEP);
    logNext = chunk.next_offset;
    logPre.scrollTop = logPre.scrollHeight;
  }

  function addLog(event) {
    if (event.offset !== logNext) { loadLog(); return; }  // a gap: read the tail again
    const stick = logPre.scrollTop + logPre.clientHeight >= logPre.scrollHeight - 20;
    logPre.textContent = (logPre.textContent + event.text).slice(-LOG_KEEP);
    logNext = event.next_offset;
    if (stick) logPre.scrollTop = logPre.scrollHeight;
  }

  const trialsBox = el("div", { id: "trials" });
  function renderTrials() {
    const tag = [...series.keys()][0];
    const trials = tag ? [...series.get(tag).entries()].sort((a, b) => a[0] - b[0]) : [];
    const best = job.best_trial;
    trialsBox.replaceChildren(el("div", {},
      best ? el("div", { class: "card", id: "best-trial" }, el("h3", {}, `best trial #${best.number}: ${num(best.value)}`),
        el("pre", { class: "mono" }, Object.entries(best.params).map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join("\n")),
        el("a", { href: `/api/jobs/${id}/report/index.html`, target: "_blank", rel: "noopener" }, "search report")) : null,
      el("div", { class: "table-wrap" }, el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "trial"), el("th", {}, tag || "value"))),
        el("tbody", {}, trials.map(([n, v]) => el("tr", { class: best && best.number === n ? "best" : "" }, el("td", { class: "num" }, n), el("td", { class: "num" }, num(v)))))))));
  }

  async function showFinished() {
    if (finishedShown || job.kind !== "fit" || job.state !== "succeeded") return;
    finishedShown = true;
    results.append(el("h2", {}, "Results"));
    const tests = job.test_metrics || {};
    results.append(el("div", { class: "card", id: "test-metrics" }, el("h3", {}, "test metrics"),
      Object.keys(tests).length ? el("dl", { class: "kv" }, Object.entries(tests).map(([k, v]) => [el("dt", {}, k), el("dd", { class: "mono" }, num(v))]))
                                : el("p", { class: "muted" }, "no test split: no test metrics")));
    if (job.confusion_matrix) {
      const img = el("img", { class: "confusion", alt: "validation confusion matrix", id: "confusion" });
      results.append(el("div", { class: "card" }, el("h3", {}, "confusion matrix (validation)"), img));
      api(job.confusion_matrix, { blob: true }).then((b) => { img.src = URL.createObjectURL(b); });
    }
    const { testPanel } = await import("./predict.js");
    results.append(testPanel(id));
  }

  const unsubscribe = feed.subscribe(async (type, data) => {
    if (data.id !== id) return;
    if (type === "metrics") addPoints(data.points);
    else if (type === "log") addLog(data);
    else if (type === "state") {
      job = await api(`/api/jobs/${id}`);
      renderHead();
      if (ENDED.has(job.state)) showFinished();  // its last points come as events too (the watcher's last look)
    } else if (type === "deleted") banner(root, `job ${id} was deleted`);
  });
  const resync = feed.subscribe(async (type) => { if (type === "resync") { addPoints((await api(`/api/jobs/${id}/metrics`)).points); loadLog(); } });
  const ticker = setInterval(() => {
    if (LIVE.has(job.state)) { const d = root.querySelector("#job-duration"); if (d) d.textContent = duration(jobDuration(job)); }
  }, 1000);

  renderHead();
  if (job.kind === "search") results.append(trialsBox);
  addPoints((await api(`/api/jobs/${id}/metrics?${query({ since: -1 })}`)).points);
  draw();
  await loadLog();
  await showFinished();
  return () => { unsubscribe(); resync(); clearInterval(ticker); clearTimeout(drawTimer); charts.forEach(({ chart }) => chart.destroy()); };
}

// test/* are single figures (the results), hparams/* TensorBoard's copies, epoch the x of nothing.
function charted(tag) { return !/^(test|hparams)\//.test(tag) && tag !== "epoch"; }

// val/* first, then train/*, then the rest; alphabetical inside.
function tagOrder(a, b) {
  const rank = (t) => (t.startsWith("val/") ? 0 : t.startsWith("train/") ? 1 : 2);
  return rank(a) - rank(b) || a.localeCompare(b);
}
