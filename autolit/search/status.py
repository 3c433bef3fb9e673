"""``search status``: the study as a table that fits a 100-column terminal, or as JSON.

Parameter names are abbreviated (``L0.1.ch`` for ``layers.0.1.Conv2d.out_channels``) and explained
once in a legend; a row's parameters wrap onto continuation lines instead of being cut off.
RUNNING trials get their own lines: slot, epoch, the metric they last reported, and how long ago.
"""

from __future__ import annotations

import json
import textwrap
from typing import Any

import optuna

from autolit.search.refit import refit_of, refit_text
from autolit.search.records import duration_text, param_order, state_counts, study_records

WIDTH = 100
# Short names of common layer arguments in the table (the legend spells each one out).
ARG_SHORT = {"out_channels": "ch", "out_features": "out", "kernel_size": "k", "stride": "s", "padding": "pad",
             "p": "p", "num_groups": "groups", "negative_slope": "slope", "output_size": "size"}


def _layer_parts(key: str) -> tuple[str, str, str] | None:
    """``layers.0.1.Conv2d.out_channels`` → ``("0.1", "Conv2d", "out_channels")``; repeat → layer ``""``."""
    parts = key.split(".")
    if parts[0] != "layers" or len(parts) < 3:
        return None
    if parts[-1] == "repeat":
        return ".".join(parts[1:-1]), "", "repeat"
    return ".".join(parts[1:-2]), parts[-2], parts[-1]


def abbreviate(keys: list[str]) -> tuple[dict[str, str], list[str]]:
    """Short names for parameter keys, and the legend lines that explain them."""
    layer = {k: p for k in keys if (p := _layer_parts(k)) is not None}
    pairs: dict[str, set[str]] = {}
    for _, name, arg in layer.values():
        if name:
            pairs.setdefault(ARG_SHORT.get(arg, arg), set()).add(f"{name}.{arg}")
    short: dict[str, str] = {}
    legend: dict[str, str] = {}
    for key, (pos, name, arg) in layer.items():
        if not name:
            short[key], legend["n"] = f"L{pos}.n", "repeat count of the block"
            continue
        word = ARG_SHORT.get(arg, arg)
        if len(pairs[word]) > 1:  # two layer types share the short name: keep the type
            word = f"{name}.{word}"
        short[key] = f"L{pos}.{word}"
        legend[word] = f"{name}.{arg}"
    if layer:
        legend = {"L<i>": "layers.<i> (position in space's model.layers, then the repetition)", **legend}
    scalars = [k for k in keys if k not in layer]
    for key in scalars:
        last = key.rsplit(".", 1)[-1]
        clash = sum(k.rsplit(".", 1)[-1] == last for k in scalars) > 1 or last in legend
        short[key] = key if clash else last
        if not clash and last != key:
            legend[last] = key
    lines = [f"{a} = {b}" for a, b in legend.items()]
    return short, lines


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _count(value: Any) -> str:
    if not isinstance(value, int):
        return "-"
    return f"{value / 1e6:.1f}M" if value >= 1e6 else (f"{value / 1e3:.1f}k" if value >= 1e4 else str(value))


HEADER = ["#", "value", "state", "ep", "layers", "params", "time", "slot"]


def _row(record: dict, short: dict[str, str]) -> tuple[list[str], str]:
    value = "-" if record["value"] is None else f"{record['value']:.4f}"
    state = record["state"] if not record["detail"] else f"{record['state']} {record['detail']}"
    number = str(record["number"]) + {"fit_config": " fit", "enqueued": " enq"}.get(record["origin"] or "", "")
    cells = [number, value, state, str(record["epochs"]), _count(record["n_layers"]),
             _count(record["n_params"]), duration_text(record["duration_s"]), record["slot"] or "-"]
    searched = " ".join(f"{short[k]}={_value(v)}" for k, v in record["params"].items())
    return cells, searched


def format_table(study: optuna.Study, top: int = 10) -> str:
    """The ``top`` best trials (then the others), their parameters wrapped, RUNNING trials, a legend."""
    trials = study.get_trials(deepcopy=False)
    records = study_records(study, trials)
    shown = records[:top]
    keys = sorted({k for r in shown for k in r["params"]}, key=param_order)
    short, legend = abbreviate(keys)
    rows = [_row(r, short) for r in shown]
    widths = [max([len(h)] + [len(c[i]) for c, _ in rows]) for i, h in enumerate(HEADER)]
    left = sum(widths) + 2 * len(widths)
    room = max(30, WIDTH - left)
    lines = [_title(study, trials), _join(HEADER, widths) + "  searched values"]
    for (cells, searched), record in zip(rows, shown):
        wrapped = textwrap.wrap(searched, room, break_on_hyphens=False) or [""]
        lines.append(_join(cells, widths) + "  " + wrapped[0])
        lines += [" " * left + more for more in wrapped[1:]]
        if record["reason"] and record["state"] != "RUNNING":
            lines += textwrap.wrap(record["reason"], WIDTH - 6, initial_indent="      ", subsequent_indent="      ")
    if len(records) > top:
        lines.append(f"... {len(records) - top} more (--top N)")
    lines += _running(records, study.user_attrs.get("metric", "value"))
    refit = refit_of(study)
    if refit is not None:
        lines += textwrap.wrap(refit_text(refit), WIDTH, subsequent_indent="    ")
    if any(r["origin"] for r in shown):
        legend = [*legend, "fit = trial of the fit config's own values", "enq = a point of study.enqueue"]
    if legend:
        lines += textwrap.wrap("legend: " + "; ".join(legend), WIDTH, subsequent_indent="        ")
    return "\n".join(line.rstrip() for line in lines)


def _join(cells: list[str], widths: list[int]) -> str:
    return "  ".join(c.rjust(w) if i in (0, 3, 4, 5) else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))


def _title(study: optuna.Study, trials: list) -> str:
    counts = state_counts(trials)
    summary = ", ".join(f"{n} {s.lower()}" for s, n in counts.items())
    metric = study.user_attrs.get("metric")
    goal = f"{study.direction.name.lower()} {metric}" if metric else study.direction.name.lower()
    return f"study {study.study_name}: {summary or 'no trials'} ({goal})"


def _running(records: list[dict], metric: str) -> list[str]:
    running = [r for r in records if r["state"] == "RUNNING"]
    lines = ["running:"] if running else []
    for r in running:
        current = "no epoch reported yet" if r["last_value"] is None else f"{metric}={r['last_value']:.4f}"
        age = "-" if r["heartbeat_age_s"] is None else duration_text(r["heartbeat_age_s"])
        lines.append(f"  #{r['number']} [{r['slot'] or '?'}] epoch {r['epochs']}, {current}, "
                     f"last heard {age} ago, running {duration_text(r['duration_s'])} ({r['worker'] or 'worker ?'})")
    return lines


def status_json(study: optuna.Study) -> str:
    """The study as one JSON document: name, direction, metric, state counts, every trial's record."""
    trials = study.get_trials(deepcopy=False)
    return json.dumps({"study": study.study_name, "direction": study.direction.name.lower(),
                       "metric": study.user_attrs.get("metric"), "counts": state_counts(trials),
                       "trials": study_records(study, trials)}, default=str)
