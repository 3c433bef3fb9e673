// The service's API from the page: fetch with the token, errors as ApiError, and the event stream.
//
// The event stream is read with fetch (not EventSource, which cannot send the Authorization
// header); after a drop it reconnects with Last-Event-ID, so the server replays what was missed.

const TOKEN_KEY = "autolit.token";
const RECONNECT_MS = 2000;

export class ApiError extends Error {
  constructor(status, message, key = null) {
    super(message);
    this.status = status;
    this.key = key;
  }
}

export function token() { return localStorage.getItem(TOKEN_KEY) || ""; }
export function setToken(value) { value ? localStorage.setItem(TOKEN_KEY, value) : localStorage.removeItem(TOKEN_KEY); }

const tokenWaiters = [];
function askToken(why) {
  const dialog = document.getElementById("token-dialog");
  document.getElementById("token-why").textContent = why;
  if (!dialog.open) dialog.showModal();
  document.getElementById("token-input").focus();
  return new Promise((resolve) => tokenWaiters.push(resolve));
}

export function initTokenDialog(onSaved) {
  const dialog = document.getElementById("token-dialog");
  const input = document.getElementById("token-input");
  dialog.addEventListener("close", () => {
    const saved = dialog.returnValue === "save" && input.value;
    if (saved) {
      setToken(input.value.trim());
      input.value = "";
    }
    const waiting = tokenWaiters.splice(0);
    waiting.forEach((resolve) => resolve(Boolean(saved)));  // the calls that got a 401 try again
    if (saved) onSaved(waiting.length === 0);
  });
  document.getElementById("token-open").addEventListener("click", () => {
    askToken("The token the server was started with (--token or AUTOLIT_TOKEN).");
  });
}

function headers(extra = {}) {
  const h = { ...extra };
  if (token()) h.Authorization = `Bearer ${token()}`;
  return h;
}

function problemOf(status, body) {
  const detail = body && body.detail;
  if (detail && typeof detail === "object" && !Array.isArray(detail)) {
    return new ApiError(status, detail.message || JSON.stringify(detail), detail.key || null);
  }
  if (Array.isArray(detail)) {  // FastAPI's validation errors of the request itself
    const first = detail[0] || {};
    const where = (first.loc || []).filter((p) => p !== "body").join(".");
    return new ApiError(status, `${where}: ${first.msg}`, where || null);
  }
  return new ApiError(status, typeof detail === "string" ? detail : `HTTP ${status}`);
}

// One call of the API; JSON in (opts.json) and out, FormData as opts.body; opts.blob for binary.
export async function api(path, opts = {}) {
  const init = { method: opts.method || (opts.json || opts.body ? "POST" : "GET"), headers: headers() };
  if (opts.json !== undefined) {
    init.body = JSON.stringify(opts.json);
    init.headers["Content-Type"] = "application/json";
  } else if (opts.body) {
    init.body = opts.body;
  }
  const response = await fetch(path, init);
  if (response.status === 401) {
    if (await askToken("This server needs its token (the --token / AUTOLIT_TOKEN it was started with).")) {
      return api(path, opts);
    }
    throw new ApiError(401, "this server needs a token: enter it with the Token button");
  }
  if (!response.ok) {
    let body = null;
    try { body = await response.json(); } catch { /* not JSON */ }
    throw problemOf(response.status, body);
  }
  if (opts.blob) return response.blob();
  return response.json();
}

// Query string of a mapping; arrays repeat the key (FastAPI's list parameters).
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    for (const one of Array.isArray(v) ? v : [v]) if (one !== undefined && one !== null) q.append(k, one);
  }
  return q.toString();
}

// The one event stream of the page: state, log, metrics, deleted events of every job.
export class Feed {
  constructor(onStatus) {
    this.lastId = null;
    this.handlers = new Set();
    this.onStatus = onStatus;
    this.controller = null;
    this.timer = null;
  }

  subscribe(handler) { this.handlers.add(handler); return () => this.handlers.delete(handler); }

  start() { this.connect(); }

  // Drop the connection and open a new one from the last event seen (the header's button).
  reconnect() {
    if (this.controller) this.controller.abort();
    clearTimeout(this.timer);
    this.connect();
  }

  async connect() {
    const controller = new AbortController();
    this.controller = controller;
    this.onStatus("connecting");
    const h = headers({ Accept: "text/event-stream" });
    if (this.lastId !== null) h["Last-Event-ID"] = String(this.lastId);
    try {
      const response = await fetch("/api/events", { headers: h, signal: controller.signal, cache: "no-store" });
      if (response.status === 401) { this.onStatus("needs token"); return; }
      if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
      this.onStatus("live");
      if (this.connected && this.lastId === null) this.emit("resync", {});  // no id to resume from
      this.connected = true;
      await this.read(response.body.getReader());
    } catch (err) {
      if (controller.signal.aborted) return;
    }
    if (this.controller !== controller) return;
    this.onStatus("reconnecting");
    this.timer = setTimeout(() => this.connect(), RECONNECT_MS);
  }

  async read(reader) {
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        this.dispatch(buffer.slice(0, cut));
        buffer = buffer.slice(cut + 2);
      }
    }
  }

  dispatch(block) {
    let id = null, type = "message", data = "";
    for (const line of block.split("\n")) {
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "id") id = value;
      else if (field === "event") type = value;
      else if (field === "data") data += (data ? "\n" : "") + value;
    }
    if (id !== null && /^\d+$/.test(id)) this.lastId = Number(id);
    if (!data) return;
    let payload;
    try { payload = JSON.parse(data); } catch { return; }
    this.emit(type, payload);
  }

  emit(type, payload) {
    for (const handler of this.handlers) handler(type, payload);
  }
}
