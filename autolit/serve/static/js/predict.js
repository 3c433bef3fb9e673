// Test a finished fit: sample predictions on its validation images, your own images dropped or
// chosen (top labels and probabilities), and the export (TorchScript / ONNX) as a zip.
import { api, query } from "./api.js";
import { el, num } from "./util.js";

const MAX_FILES = 64;

function predictionCard(src, name, pred, truth = null) {
  const top = pred.top || (pred.label !== undefined && pred.label !== null ? [{ label: pred.label, prob: pred.prob }] : []);
  return el("figure", { class: "pred", "data-label": pred.label ?? pred.value ?? "" },
    el("img", { src, alt: name }),
    el("figcaption", {},
      el("div", { class: "label" }, pred.label ?? num(pred.value)),
      truth !== null ? el("div", { class: truth === String(pred.label) ? "muted" : "error-text" }, `true: ${truth}`) : null,
      el("div", { class: "muted mono", title: name }, name.length > 24 ? `${name.slice(0, 21)}…` : name),
      top.map((t) => el("div", { class: "top" }, el("div", { class: "row" }, el("span", { class: "mono" }, t.label),
        el("span", { class: "muted mono" }, `${(t.prob * 100).toFixed(1)}%`)),
        el("div", { class: "bar", style: `width: ${Math.max(2, t.prob * 100)}%` })))));
}

export function testPanel(id) {
  const grid = el("div", { class: "preds", id: "predictions", "aria-live": "polite" });
  const status = el("p", { class: "note", id: "predict-status", role: "status" });
  const input = el("input", { type: "file", id: "predict-files", accept: "image/*", multiple: true,
    onchange: () => send([...input.files]) });
  const drop = el("div", { class: "drop", id: "drop" }, "Drop images here, or ",
    el("label", { class: "row", style: "display:inline-flex" }, input));
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); send([...e.dataTransfer.files]); });

  async function send(files) {
    if (!files.length) return;
    if (files.length > MAX_FILES) { status.textContent = `${files.length} files: send at most ${MAX_FILES} at once`; return; }
    const form = new FormData();
    files.forEach((f) => form.append("files", f, f.name));
    status.textContent = `predicting ${files.length} image${files.length === 1 ? "" : "s"}… (the first one exports the model)`;
    try {
      const res = await api(`/api/jobs/${id}/predict?${query({ top_k: 3 })}`, { body: form });
      grid.replaceChildren(...res.predictions.map((p, i) => predictionCard(URL.createObjectURL(files[i]), files[i].name, p)));
      status.textContent = `${res.predictions.length} prediction${res.predictions.length === 1 ? "" : "s"} (${res.runtime})`;
    } catch (err) {
      status.textContent = err.message;
      status.className = "error-text";
    }
  }

  const samples = el("div", { class: "preds", id: "samples" });
  const sampleButton = el("button", { type: "button", id: "show-samples", onclick: async () => {
    sampleButton.disabled = true;
    sampleButton.textContent = "predicting…";
    try {
      const res = await api(`/api/jobs/${id}/samples?n=8`);
      samples.replaceChildren(...res.samples.map((s, i) => predictionCard(s.image, `val sample ${i + 1}`, s, s.truth)));
      sampleButton.textContent = "again";
    } catch (err) {
      samples.replaceChildren(el("p", { class: "error-text" }, err.message));
      sampleButton.textContent = "sample predictions";
    } finally { sampleButton.disabled = false; }
  } }, "sample predictions");

  const files = el("ul", { id: "export-files", class: "mono" });
  const download = el("button", { type: "button", id: "download-zip", hidden: true, onclick: async () => {
    const blob = await api(`/api/jobs/${id}/export.zip`, { blob: true });
    const a = el("a", { href: URL.createObjectURL(blob), download: `job-${id}-deploy.zip` });
    document.body.append(a); a.click(); a.remove();
  } }, "download zip");
  const exportStatus = el("span", { class: "note", role: "status" });
  const exportButton = el("button", { type: "button", id: "export", onclick: async () => {
    exportButton.disabled = true;
    exportStatus.textContent = "exporting and verifying…";
    try {
      const info = await api(`/api/jobs/${id}/export`, { method: "POST" });
      files.replaceChildren(...Object.entries(info.files).map(([name, size]) => el("li", {}, `${name} (${size.toLocaleString()} bytes)`)));
      exportStatus.textContent = `exported to ${info.folder}`;
      download.hidden = false;
    } catch (err) {
      exportStatus.textContent = err.message;
    } finally { exportButton.disabled = false; }
  } }, "export (TorchScript + ONNX)");

  return el("div", { id: "test-panel" },
    el("div", { class: "card" }, el("h3", {}, "sample predictions ", el("span", { class: "note" }, "(validation images)")), sampleButton, samples),
    el("div", { class: "card" }, el("h3", {}, "test on your images"), drop, status, grid),
    el("div", { class: "card" }, el("h3", {}, "export"), el("div", { class: "row" }, exportButton, download, exportStatus), files));
}
