"""``search report``: a study as an offline web page, tables and the best trial's config.

    python -m autolit.search report --storage runs/search/digits/journal.log --study-name digits --out reports/digits

writes into ``--out``:

* ``index.html`` + ``plotly.min.js``: summary, best trial, leaderboard, optimization history,
  learning curves, parallel coordinates, slices, importances (over the parameters every trial has,
  and per layer count), timeline per worker slot; opens offline;
* ``trials.csv`` (one row per trial, one column per parameter) and ``trials.json``;
* ``study.json``: the best trial and its refit (run folder, test metrics) when there is one;
* ``best.yaml``: the best trial as a runnable fit config, and ``best_confusion_matrix.png`` /
  ``best_samples.png`` when its TensorBoard run logged them.

The storage is read once (a snapshot), so a report of a running study is consistent.
"""

from __future__ import annotations

import csv
import html
import json
import shutil
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import optuna

from autolit.errors import UserError
from autolit.search.report import plots
from autolit.search.refit import refit_of
from autolit.search.records import best_trial, param_order, state_counts, study_records
from autolit.search.report.best import BestFiles, write_best
from autolit.search.report.html import page, pictures

FIXED = ["rank", "number", "value", "state", "detail", "outcome", "outcome_epoch", "reason", "n_layers",
         "n_params", "epochs", "duration_s", "slot", "worker", "retry_of", "origin", "start", "complete", "run_dir"]


@dataclass
class Report:
    """What was written, for the one-line summary the CLI prints."""

    out: Path
    n_trials: int
    best: BestFiles
    seconds: float

    def summary(self) -> str:
        best = f"best.yaml ({self.best.note})" if self.best.config else f"no best.yaml: {self.best.note}"
        return (f"report of {self.n_trials} trials in {self.out}/index.html (+ trials.csv, trials.json, {best}) "
                f"in {self.seconds:.1f} s")


def write_report(study: optuna.Study, out: Path) -> Report:
    """Write the report of ``study`` into ``out`` (created; files already there are replaced)."""
    start = time.perf_counter()
    _make_folder(out)
    trials = study.get_trials(deepcopy=False)  # one read: everything below agrees
    metric = str(study.user_attrs.get("metric", "value"))
    records = study_records(study, trials)
    snap = plots.snapshot(study, trials)
    try:
        _write_tables(records, out)
        best = best_trial(snap)
        attrs = {**study.user_attrs, "_name": study.study_name}
        best_files = write_best(best, attrs, out)
        figures = _figures(snap, metric)
        best_record = next((r for r in records if best is not None and r["number"] == best.number), None)
        refit = refit_of(study, best)
        _write_study_json(study, metric, best_record, refit, out)
        text = page(f"study {study.study_name}", _summary(study, trials, metric, best),
                    _refit_html(refit, metric) + _best_html(best_record, best_files, metric, out), records,
                    best_record["params"] if best_record else {}, figures)
        (out / "index.html").write_text(text, encoding="utf-8")
        _copy_plotly(out)
    except OSError as exc:
        raise UserError(f"--out {out}: cannot write the report ({exc.strerror or exc}): "
                        "give a writable folder with free space") from None
    return Report(out, len(trials), best_files, time.perf_counter() - start)


def _make_folder(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"--out {out}: cannot create the folder ({exc.strerror or exc}): give a writable path") from None
    if not out.is_dir():
        raise UserError(f"--out {out} is a file: give a folder for index.html and its files")


def _figures(study: optuna.Study, metric: str) -> list[plots.Figure]:
    importances, values = plots.importances(study, metric)
    main = plots.main_params(study, values)
    return [plots.history(study, metric), plots.learning_curves(study, metric), plots.parallel(study, main, metric),
            plots.slices(study, main, metric), importances, plots.timeline(study)]


def _write_tables(records: list[dict], out: Path) -> None:
    keys = sorted({k for r in records for k in r["params"]}, key=param_order)
    with open(out / "trials.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(FIXED + keys)
        for r in records:
            writer.writerow([_cell(r[k]) for k in FIXED] + [_cell(r["params"].get(k)) for k in keys])
    (out / "trials.json").write_text(json.dumps(records, indent=1, default=str), encoding="utf-8")


def _write_study_json(study: optuna.Study, metric: str, best: dict | None, refit: dict | None, out: Path) -> None:
    """``study.json``: what the study hands over, the best trial's val figure beside its refit's test."""
    summary = {"study": study.study_name, "metric": metric, "direction": study.direction.name.lower(),
               "best_trial": None if best is None else {"number": best["number"], "value": best["value"],
                                                         "origin": best["origin"], "run_dir": best["run_dir"]},
               "refit": refit}
    (out / "study.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")


def _refit_html(refit: dict | None, metric: str) -> str:
    """The refit's test figures beside the trial's val figure (the model ``best --export`` hands over)."""
    if refit is None:
        return ("<p class=note>no refit of the best trial yet (study.refit, or "
                "<code>python -m autolit.search best --refit</code>)</p>")
    tests = ", ".join(f"{html.escape(k)} = {v:.4f}" for k, v in sorted(refit["metrics"].items()) if k.startswith("test/"))
    val = refit["metrics"].get(metric)
    val_text = f"; its own {html.escape(metric)} = {val:.4f}" if isinstance(val, float) else ""
    note = f" <span class=note>({html.escape(refit['note'])})</span>" if refit.get("note") else ""
    return (f"<p><b>refit of trial {refit['trial']}</b> at {refit['max_epochs']} epochs: {tests or 'no test metrics'}"
            f"{val_text} · trial {refit['trial']}'s {html.escape(metric)} = {refit['trial_value']:.4f}{note}<br>"
            f"<small>run folder <code>{html.escape(refit['run_dir'])}</code>, checkpoint "
            f"<code>{html.escape(str(refit['checkpoint']))}</code> (what <code>best --export</code> exports)</small></p>")


def _cell(value: object) -> object:
    return "" if value is None else value


def _copy_plotly(out: Path) -> None:
    import plotly

    source = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    target = out / "plotly.min.js"
    if not target.is_file() or target.stat().st_size != source.stat().st_size:
        shutil.copyfile(source, target)


def _summary(study: optuna.Study, trials: list, metric: str, best) -> str:
    counts = ", ".join(f"{n} {s.lower()}" for s, n in state_counts(trials).items()) or "no trials"
    best_text = f"best {metric} = {best.value:.4f} (trial {best.number})" if best is not None else "no complete trial yet"
    when = datetime.now().isoformat(sep=" ", timespec="seconds")
    return html.escape(f"{study.direction.name.lower()} {metric} · {len(trials)} trials: {counts} · {best_text} · "
                       f"read {when}")


def _best_html(record: dict | None, files: BestFiles, metric: str, out: Path) -> str:
    if record is None:
        return f"<p class=note>{html.escape(files.note)}</p>"
    rows = "".join(f"<tr><td><code>{html.escape(k)}</code></td><td>{html.escape(str(v))}</td></tr>"
                   for k, v in record["params"].items())
    link = (f"<a href='best.yaml'>best.yaml</a>: a runnable fit config "
            f"(<code>python -m autolit.fit --config best.yaml</code>; {html.escape(files.note)})"
            if files.config else f"<span class=note>{html.escape(files.note)}</span>")
    images = pictures([(tag, name, *_png_size(out / name)) for tag, name in files.images.items()])
    return (f"<p>trial {record['number']}: {html.escape(metric)} = {record['value']:.4f} after {record['epochs']} "
            f"epoch(s), {record['n_params'] or '?'} parameters, {record['n_layers'] or '?'} layers, "
            f"slot {html.escape(str(record['slot']))}</p><p>{link}</p>"
            f"<table style='width:auto'>{rows}</table>{images}")


def _png_size(path: Path) -> tuple[int | None, int | None]:
    """Width and height of a PNG, so the page reserves its native size before it loads (None, None
    for bytes Pillow cannot read: the browser then sizes it, or shows it broken)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return image.size
    except (UnidentifiedImageError, ValueError):
        return None, None
