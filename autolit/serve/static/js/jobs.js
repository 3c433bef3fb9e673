// The jobs list: newest first, live from the event stream; stop / resume / delete / clone; pick runs to compare.
import { api, query } from "./api.js";
import { el, duration, jobDuration, when, num, stateBadge, banner, ENDED, LIVE } from "./util.js";

const PAGE = 100;
// the headline's preference, as the server's (autolit/serve/page.py HEADLINE_TAGS)
const HEADLINE_TAGS = ["test/acc", "test/mae", "val/acc", "val/mae", "val/loss", "train/loss"];

export async function render(root, { feed }) {
  const jobs = new Map();      // id -> job
  const heads = new Map();     // id -> {tag, value, step}
  const rows = new Map();      // id -> {tr, errTr}
  let total = 0;
  const body = el("tbody");
  const table = el("table", { id: "jobs" });
  const count = el("span", { class: "muted" });
  const compareButton = el("button", { type: "button", disabled: true, onclick: () => {
    location.hash = `#/compare?ids=${picked().join(",")}`;
  } }, "Compare selected");
  const more = el("button", { type: "button", hidden: true, onclick: () => load(jobs.size) }, "Show more");
  root.append(
    el("div", { class: "row" }, el("h1", {}, "Jobs"), count,
       el("a", { href: "#/new" }, "New run"), el("a", { href: "#/search" }, "New search"), compareButton),
    el("div", { class: "table-wrap" }, table),
    more);
  table.append(
      el("thead", {}, el("tr", {}, el("th", {}, el("span", { class: "muted" }, "pick")), el("th", {}, "#"),
        el("th", {}, "state"), el("th", {}, "name"), el("th", {}, "kind"), el("th", { class: "wide" }, "started"),
        el("th", {}, "duration"), el("th", {}, "headline"), el("th", {}, "actions"))),
      body);

  function picked() {
    return [...body.querySelectorAll("input.pick:checked")].map((c) => Number(c.value)).sort((a, b) => a - b);
  }

  function headCell(id) {
    const h = heads.get(id);
    return h ? [el("span", { class: "mono" }, num(h.value)), " ", el("span", { class: "muted" }, h.tag)] : ["-"];
  }

  function actions(job) {
    const buttons = [el("a", { href: `#/job/${job.id}` }, "open"), " "];
    const act = (label, fn) => el("button", { type: "button", class: "small", "data-action": label,
      "aria-label": `${label} job ${job.id}`, onclick: fn }, label);
    if (!ENDED.has(job.state) && job.state !== "stopping") buttons.push(act("stop", () => call(job.id, "stop")));
    if (job.state === "stopped" || job.state === "interrupted") buttons.push(act("resume", () => call(job.id, "resume")));
    buttons.push(act("clone", () => { location.hash = `#/${job.kind === "fit" ? "new" : "search"}?clone=${job.id}`; }));
    if (ENDED.has(job.state)) {
      const del = act("delete", () => {
        if (del.dataset.armed) remove(job.id);
        else { del.dataset.armed = "1"; del.textContent = "really delete?"; setTimeout(() => { delete del.dataset.armed; del.textContent = "delete"; }, 4000); }
      });
      buttons.push(del);
    }
    return buttons;
  }

  function renderRow(job) {
    const old = rows.get(job.id);
    const check = el("input", { type: "checkbox", class: "pick", value: job.id, "aria-label": `pick job ${job.id} to compare`,
      checked: old ? old.tr.querySelector("input.pick").checked : false,
      onchange: () => { compareButton.disabled = picked().length < 1; } });
    const tr = el("tr", { "data-id": job.id, "data-state": job.state },
      el("td", {}, check), el("td", { class: "num" }, job.id), el("td", {}, stateBadge(job.state)),
      el("td", {}, el("a", { href: `#/job/${job.id}` }, job.name)), el("td", {}, job.kind),
      el("td", { class: "wide" }, when(job.started_at)),
      el("td", { class: "num duration" }, duration(jobDuration(job))),
      el("td", { class: "headline" }, headCell(job.id)), el("td", { class: "actions" }, actions(job)));
    let errTr = null;
    if (job.state === "failed" && job.error) {
      const logPre = el("pre", { class: "log", hidden: true });
      errTr = el("tr", { class: "error-row", "data-error-of": job.id }, el("td", { colspan: 9 },
        el("span", { class: "job-error" }, job.error), " ",
        el("button", { type: "button", class: "small", onclick: async () => {
          logPre.hidden = !logPre.hidden;
          if (!logPre.hidden) logPre.textContent = (await api(`/api/jobs/${job.id}/log?offset=0`)).text.slice(-20000);
        } }, "log"), logPre));
    }
    if (old) {
      old.tr.replaceWith(tr);
      if (old.errTr) old.errTr.remove();
    }
    if (errTr) tr.after(errTr);
    rows.set(job.id, { tr, errTr });
    return tr;
  }

  function place(job) {
    const isNew = !rows.has(job.id);
    body.querySelector("tr.empty")?.remove();
    jobs.set(job.id, job);
    const tr = renderRow(job);
    if (isNew) {  // newest first: before the first row with a smaller id
      const after = [...rows.keys()].filter((id) => id < job.id && rows.get(id).tr.isConnected).sort((a, b) => b - a)[0];
      if (after !== undefined) body.insertBefore(tr, rows.get(after).tr); else body.append(tr);
      const { errTr } = rows.get(job.id);
      if (errTr) tr.after(errTr);
    }
  }

  async function load(offset) {
    const list = await api(`/api/jobs?${query({ limit: PAGE, offset })}`);
    total = list.total;
    list.jobs.forEach(place);
    count.textContent = `${total} job${total === 1 ? "" : "s"}`;
    more.hidden = jobs.size >= total;
    // the headlines read every run's scalars: the rows are shown first, the figures fill in
    table.dataset.heads = "loading";
    loadHeads(list.jobs.map((j) => j.id)).then(() => { table.dataset.heads = "done"; });
  }

  async function loadHeads(ids) {
    if (!ids.length) return;
    const { headlines } = await api(`/api/page/headlines?${query({ ids })}`);
    for (const [id, h] of Object.entries(headlines)) {
      if (h) heads.set(Number(id), h);
      const row = rows.get(Number(id));
      if (row) row.tr.querySelector("td.headline").replaceChildren(...headCell(Number(id)));
    }
  }

  async function refresh(id) {
    try {
      place(await api(`/api/jobs/${id}`));
    } catch (err) {
      if (err.status !== 404) throw err;
    }
  }

  async function call(id, what) {
    try {
      place(await api(`/api/jobs/${id}/${what}`, { method: "POST" }));
    } catch (err) {
      banner(root, err.message);
    }
  }

  async function remove(id) {
    try {
      await api(`/api/jobs/${id}`, { method: "DELETE" });
      drop(id);
    } catch (err) {
      banner(root, err.message);
    }
  }

  function drop(id) {
    const row = rows.get(id);
    if (!row) return;
    row.tr.remove();
    if (row.errTr) row.errTr.remove();
    rows.delete(id);
    jobs.delete(id);
    count.textContent = `${--total} job${total === 1 ? "" : "s"}`;
  }

  function onMetrics(id, points) {
    const job = jobs.get(id);
    if (!job || job.kind !== "fit") return;
    let best = heads.get(id);
    for (const p of points) {
      const rank = HEADLINE_TAGS.indexOf(p.tag);
      if (rank >= 0 && (!best || rank <= HEADLINE_TAGS.indexOf(best.tag))) best = { tag: p.tag, value: p.value, step: p.step };
    }
    if (best) {
      heads.set(id, best);
      rows.get(id).tr.querySelector("td.headline").replaceChildren(...headCell(id));
    }
  }

  const unsubscribe = feed.subscribe((type, data) => {
    if (type === "state") {
      if (!rows.has(data.id)) total++;
      refresh(data.id).then(() => { count.textContent = `${total} job${total === 1 ? "" : "s"}`; });
      if (ENDED.has(data.state)) loadHeads([data.id]);
    } else if (type === "metrics") onMetrics(data.id, data.points);
    else if (type === "deleted") drop(data.id);
    else if (type === "resync") load(0);
  });
  const ticker = setInterval(() => {  // the running jobs' durations; no request
    for (const [id, job] of jobs) if (LIVE.has(job.state)) rows.get(id).tr.querySelector("td.duration").textContent = duration(jobDuration(job));
  }, 1000);
  await load(0);
  if (!jobs.size) body.append(el("tr", { class: "empty" }, el("td", { colspan: 9, class: "muted" }, "No jobs yet: start one with New run.")));
  return () => { unsubscribe(); clearInterval(ticker); };
}
