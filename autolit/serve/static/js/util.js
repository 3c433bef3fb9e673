// Small DOM and formatting helpers shared by the views.

// el("button", {class: "x", onclick: f}, "text", child...): an element; attributes starting with
// "on" are listeners, "dataset" is a mapping, false/null attributes are left out.
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "value") node.value = value;
    else if (key === "checked") node.checked = Boolean(value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export const ENDED = new Set(["succeeded", "failed", "stopped", "interrupted"]);
export const LIVE = new Set(["running", "stopping"]);

// A duration as the search outputs write it (search/records.py duration_text): 8.1s, 41s, 3m07s, 1h02m.
export function duration(seconds) {
  if (seconds === null || seconds === undefined || !isFinite(seconds)) return "-";
  if (seconds < 10) return `${seconds.toFixed(1)}s`;
  if (seconds < 60) return `${Math.round(seconds)}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${String(Math.floor(seconds % 60)).padStart(2, "0")}s`;
  return `${Math.floor(seconds / 3600)}h${String(Math.floor((seconds % 3600) / 60)).padStart(2, "0")}m`;
}

export function jobDuration(job, now = Date.now() / 1000) {
  if (!job.started_at) return null;
  return (job.ended_at || now) - job.started_at;
}

export function when(epoch) {
  if (!epoch) return "-";
  const d = new Date(epoch * 1000);
  const today = new Date().toDateString() === d.toDateString();
  return today ? d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" })
               : d.toLocaleString([], { dateStyle: "short", timeStyle: "short" });
}

export function num(value) {
  if (value === null || value === undefined) return "-";
  if (typeof value !== "number") return String(value);
  if (Number.isInteger(value)) return String(value);
  return Math.abs(value) >= 1000 || Math.abs(value) < 0.001 ? value.toExponential(3) : value.toFixed(4);
}

export function stateBadge(state) { return el("span", { class: `state ${state}`, "data-state": state }, state); }

// A view's message at its top (errors of a request, confirmations).
export function banner(root, text, kind = "error") {
  const node = el("p", { class: kind === "error" ? "card error-text" : "card", role: kind === "error" ? "alert" : "status" }, text);
  root.prepend(node);
  return node;
}

// Dotted key paths compare as one form: model.layers[3].x and model.layers.3.x are the same key.
export function normKey(key) { return String(key || "").replace(/\[(\d+)\]/g, ".$1"); }

// Get and set a value at a dotted path of a plain object (numbers index lists).
export function getPath(obj, path) {
  return normKey(path).split(".").reduce((o, k) => (o === undefined || o === null ? undefined : o[k]), obj);
}

export function setPath(obj, path, value) {
  const parts = normKey(path).split(".");
  let o = obj;
  parts.slice(0, -1).forEach((k, i) => {
    if (o[k] === undefined || o[k] === null || typeof o[k] !== "object") o[k] = /^\d+$/.test(parts[i + 1]) ? [] : {};
    o = o[k];
  });
  const last = parts[parts.length - 1];
  if (value === undefined) {
    if (Array.isArray(o)) o.splice(Number(last), 1); else delete o[last];
  } else {
    o[last] = value;
  }
  pruneEmpty(obj, parts.slice(0, -1));
}

// After a delete, drop the mappings it left empty (a missing init_args means what an empty one does).
function pruneEmpty(obj, parts) {
  for (let n = parts.length; n > 0; n--) {
    const parent = getPath(obj, parts.slice(0, n - 1).join(".")) ?? obj;
    const holder = n === 1 ? obj : parent;
    const value = holder[parts[n - 1]];
    if (value && typeof value === "object" && !Array.isArray(value) && Object.keys(value).length === 0) delete holder[parts[n - 1]];
    else return;
  }
}

export function debounce(fn, ms) {
  let t = null;
  return (...args) => { clearTimeout(t); t = setTimeout(() => fn(...args), ms); };
}
