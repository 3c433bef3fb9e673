// The page's entry: the hash router, the token dialog and the one event feed every view listens to.
import { Feed, initTokenDialog } from "./api.js";
import { el } from "./util.js";

const VIEWS = {
  jobs: () => import("./jobs.js"),
  new: () => import("./form.js"),
  search: () => import("./search.js"),
  job: () => import("./job.js"),
  compare: () => import("./compare.js"),
};

const feedButton = document.getElementById("feed-state");
export const feed = new Feed((status) => {
  feedButton.textContent = status === "live" ? "● live" : `○ ${status}`;
  feedButton.className = `feed ${status === "live" ? "on" : status === "connecting" ? "" : "off"}`;
  feedButton.dataset.status = status;
});
feedButton.addEventListener("click", () => feed.reconnect());

let cleanup = null;
let rendering = 0;

// "#/job/3?tab=x" -> {name: "job", arg: "3", params: URLSearchParams}
function parseHash() {
  const hash = location.hash.replace(/^#\/?/, "") || "jobs";
  const [path, search] = hash.split("?");
  const [name, arg] = path.split("/");
  return { name: VIEWS[name] ? name : "jobs", arg: arg || null, params: new URLSearchParams(search || "") };
}

async function route() {
  const ticket = ++rendering;
  const { name, arg, params } = parseHash();
  if (cleanup) { cleanup(); cleanup = null; }
  document.querySelectorAll("nav a").forEach((a) => a.toggleAttribute("aria-current", a.dataset.nav === name));
  document.querySelectorAll("nav a[aria-current]").forEach((a) => a.setAttribute("aria-current", "page"));
  const root = document.getElementById("view");
  delete root.dataset.ready;
  root.replaceChildren(el("p", { class: "muted" }, "loading…"));
  const module = await VIEWS[name]();
  if (ticket !== rendering) return;
  root.replaceChildren();
  root.dataset.view = name;
  try {
    cleanup = (await module.render(root, { arg, params, feed })) || null;
  } catch (err) {
    root.replaceChildren(el("p", { class: "card error-text", role: "alert" }, err.message || String(err)));
  }
  if (ticket === rendering) root.dataset.ready = name;
}

initTokenDialog((nothingWaiting) => { feed.reconnect(); if (nothingWaiting) route(); });
window.addEventListener("hashchange", route);
feed.start();
route();
