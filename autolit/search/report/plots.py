"""The report's figures, as plotly figures: ``optuna.visualization`` where it stays light, plotly
graph objects where a study of 1,000 trials needs fewer traces (learning curves, the slot timeline).

Every function takes a *snapshot* study (in memory, see :func:`snapshot`), so the figures agree
with each other while the real study keeps running, and PostgreSQL is read once, not per figure.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import optuna
import optuna.visualization as ov
import plotly.graph_objects as go
from optuna.importance import FanovaImportanceEvaluator
from optuna.search_space import intersection_search_space
from optuna.trial import FrozenTrial, TrialState

from autolit.errors import one_line
from autolit.search.records import SLOT, param_order
from autolit.search.storage import WORKER_ATTR
from autolit.search.study import INFEASIBLE, REASON, outcome_of

MAX_MAIN = 6          # parameters in the slice and parallel-coordinate plots
MIN_GROUP = 4         # complete trials a layer count needs for its own importances
MAX_GROUPS = 4
TREES, DEPTH = 16, 12  # fANOVA forest: optuna's 64 x 64 takes ~10 s on 1,000 trials for the same ranking
COLORS = {"COMPLETE": "#1f77b4", "PRUNED": "#ff7f0e", "FAIL": "#d62728", "RUNNING": "#2ca02c",
          "INFEASIBLE": "#7f7f7f", "WAITING": "#bcbd22"}


@dataclass
class Figure:
    """One plot of the page: its id, title, the plotly figure (or ``None``) and what it shows."""

    key: str
    title: str
    figure: go.Figure | None
    caption: str = ""
    extra: list[Figure] = field(default_factory=list)


def snapshot(study: optuna.Study, trials: list[FrozenTrial]) -> optuna.Study:
    """An in-memory copy of ``study`` holding ``trials`` (as read once from the storage)."""
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "A new study created in memory" line
    try:
        copy = optuna.create_study(direction=study.direction, study_name=study.study_name)
    finally:
        optuna.logging.set_verbosity(level)
    copy.add_trials([t for t in trials if t.state != TrialState.WAITING])
    return copy


def _quiet(fn, *args: Any, **kwargs: Any) -> go.Figure:
    with warnings.catch_warnings():  # "ExperimentalWarning", "... trials have no value" notes
        warnings.simplefilter("ignore")
        fig = fn(*args, **kwargs)
    fig.update_layout(title=None, margin={"t": 30})  # the page's heading names the plot
    return fig


def _complete(study: optuna.Study) -> list[FrozenTrial]:
    return [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if t.value is not None and math.isfinite(t.value)]


def history(study: optuna.Study, metric: str) -> Figure:
    """Each complete trial's value and the best so far (``plot_optimization_history``)."""
    if not _complete(study):
        return Figure("history", "Optimization history", None, "no complete trial yet")
    fig = _quiet(ov.plot_optimization_history, study, target_name=metric)
    return Figure("history", "Optimization history", fig,
                  f"{metric} of every complete trial by trial number; the line is the best so far")


def learning_curves(study: optuna.Study, metric: str) -> Figure:
    """The value each trial reported per epoch: one trace per state (NaN-separated), not per trial."""
    fig = go.Figure()
    trials = [t for t in study.get_trials(deepcopy=False) if t.intermediate_values]
    for state in ("COMPLETE", "PRUNED", "RUNNING", "FAIL"):
        xs: list[Any] = []
        ys: list[Any] = []
        text: list[str] = []
        for t in (t for t in trials if t.state.name == state):
            steps = sorted(t.intermediate_values)
            xs += steps + [None]
            ys += [t.intermediate_values[s] for s in steps] + [None]
            text += [f"trial {t.number}"] * len(steps) + [""]
        if xs:
            fig.add_trace(go.Scatter(x=xs, y=ys, text=text, mode="lines+markers", name=state.lower(),
                                     line={"width": 1, "dash": "dot" if state == "PRUNED" else "solid",
                                           "color": COLORS[state]},
                                     marker={"size": 4, "symbol": "x" if state == "PRUNED" else "circle"},
                                     opacity=0.6, hovertemplate="%{text}<br>epoch %{x}: %{y:.4g}"))
    if not trials:
        return Figure("curves", "Learning curves", None, "no trial has reported an epoch yet")
    fig.update_layout(xaxis_title="epoch", yaxis_title=metric)
    return Figure("curves", "Learning curves", fig,
                  f"{metric} after each epoch (what the pruner saw); pruned trials dotted, ending in x")


def main_params(study: optuna.Study, importances: dict[str, float] | None = None) -> list[str]:
    """Parameters worth a slice/axis: those most complete trials have, by importance, then spec order."""
    done = _complete(study)
    counts: dict[str, int] = {}
    for t in done:
        for key in t.params:
            counts[key] = counts.get(key, 0) + 1
    common = [k for k, n in counts.items() if n >= max(1, len(done) // 2)]
    rank = importances or {}
    return sorted(common, key=lambda k: (-rank.get(k, -1.0), param_order(k)))[:MAX_MAIN]


def parallel(study: optuna.Study, params: list[str], metric: str) -> Figure:
    """``plot_parallel_coordinate`` over the main parameters (a missing value has its own tick)."""
    if not params or len(_complete(study)) < 2:
        return Figure("parallel", "Parallel coordinates", None, "needs two complete trials with parameters")
    fig = _quiet(ov.plot_parallel_coordinate, study, params=params, target_name=metric)
    return Figure("parallel", "Parallel coordinates", fig, f"complete trials over {', '.join(params)}")


def slices(study: optuna.Study, params: list[str], metric: str) -> Figure:
    """``plot_slice``: the value against each main parameter."""
    if not params or not _complete(study):
        return Figure("slices", "Slices", None, "needs a complete trial with parameters")
    fig = _quiet(ov.plot_slice, study, params=params, target_name=metric)
    fig.update_layout(width=None, height=380)
    return Figure("slices", "Slices", fig, f"{metric} against {', '.join(params)} (complete trials)")


def importances(study: optuna.Study, metric: str) -> tuple[Figure, dict[str, float]]:
    """fANOVA importances over the parameters *every* complete trial has, and per layer count.

    A conditional parameter (the width of a third conv block) exists only in trials with three
    blocks, so importances over all trials use the intersection of the trials' parameters (it says
    which); each layer count with enough trials gets its own, over what its trials share.
    """
    done = _complete(study)
    if len(done) < 2:
        return Figure("importances", "Parameter importances", None, "needs two complete trials"), {}
    common = sorted(intersection_search_space(done), key=param_order)
    fig, values, note = _importance_figure(study, done, common, metric)
    caption = (f"fANOVA over the {len(done)} complete trials and the {len(common)} parameter(s) every one of "
               f"them has: {', '.join(common) or 'none'}" + (f" ({note})" if note else ""))
    figure = Figure("importances", "Parameter importances", fig, caption)
    figure.extra = _per_layer_count(study, done, metric)
    return figure, values


def _importance_figure(study: optuna.Study, trials: list[FrozenTrial], params: list[str],
                       metric: str) -> tuple[go.Figure | None, dict[str, float], str]:
    varied = [p for p in params if len({repr(t.params[p]) for t in trials}) > 1]
    if not varied:
        return None, {}, "no parameter varies across these trials"
    sub = snapshot(study, trials)
    try:
        fig = _quiet(ov.plot_param_importances, sub, params=varied, target_name=metric,
                     evaluator=FanovaImportanceEvaluator(seed=0, n_trees=TREES, max_depth=DEPTH))
    except (ValueError, RuntimeError, ZeroDivisionError) as exc:  # a degenerate subset: say so, do not raise
        return None, {}, f"could not be computed: {one_line(str(exc), 160)}"
    fig.update_layout(height=max(200, 70 + 26 * len(varied)))
    fig.update_yaxes(automargin=True, title=None)
    bars = fig.data[0]  # horizontal bars: y = parameter names, x = importances (computed once, here)
    return fig, {str(name): float(value) for name, value in zip(bars.y, bars.x)}, ""


def _per_layer_count(study: optuna.Study, done: list[FrozenTrial], metric: str) -> list[Figure]:
    counts = sorted({k for t in done for k in t.params if k.endswith(".repeat")}, key=param_order)
    if not counts:
        return []
    groups: dict[tuple, list[FrozenTrial]] = {}
    for t in done:
        groups.setdefault(tuple(t.params.get(k) for k in counts), []).append(t)
    big = sorted((g for g in groups.items() if len(g[1]) >= MIN_GROUP), key=lambda g: -len(g[1]))[:MAX_GROUPS]
    out = []
    for values, trials in sorted(big, key=lambda g: [v if v is not None else -1 for v in g[0]]):
        label = ", ".join(f"{k}={v}" for k, v in zip(counts, values))
        common = [p for p in sorted(intersection_search_space(trials), key=param_order) if p not in counts]
        fig, _, note = _importance_figure(study, trials, common, metric)
        key = "importances-" + "-".join(str(v) for v in values)
        out.append(Figure(key, f"Importances with {label}", fig,
                          f"fANOVA over the {len(trials)} complete trials with {label}, and their "
                          f"{len(common)} shared parameter(s)" + (f" ({note})" if note else "")))
    return out


def timeline(study: optuna.Study) -> Figure:
    """Which trial ran on which worker slot when: one bar per trial, coloured by outcome."""
    trials = [t for t in study.get_trials(deepcopy=False) if t.datetime_start is not None]
    if not trials:
        return Figure("timeline", "Timeline per worker slot", None, "no trial has started")
    hosts = {str(t.user_attrs.get(WORKER_ATTR, "?")).rsplit(":", 1)[0] for t in trials}

    def row(t: FrozenTrial) -> str:
        slot = str(t.user_attrs.get(SLOT, "?"))
        return f"{str(t.user_attrs.get(WORKER_ATTR, '?')).rsplit(':', 1)[0]} {slot}" if len(hosts) > 1 else slot

    end_of_study = max(t.datetime_complete or t.datetime_start for t in trials)
    fig = go.Figure()
    for kind in ("COMPLETE", "PRUNED", "INFEASIBLE", "FAIL", "RUNNING"):
        picked = [t for t in trials if _kind(t) == kind]
        if not picked:
            continue
        ends = [t.datetime_complete or end_of_study for t in picked]
        width = [max((e - t.datetime_start) / timedelta(milliseconds=1), 300.0) for t, e in zip(picked, ends)]
        fig.add_trace(go.Bar(
            base=[t.datetime_start.isoformat() for t in picked], x=width, y=[row(t) for t in picked],
            orientation="h", name=kind.lower(), marker={"color": COLORS[kind]},
            text=[f"#{t.number}" for t in picked] if len(trials) <= 200 else None,  # 1,000 labels: unreadable, slow
            textposition="inside", insidetextanchor="middle",
            hovertext=[_hover(t) for t in picked], hoverinfo="text"))
    fig.update_layout(barmode="overlay", xaxis={"type": "date", "title": "time"},
                      yaxis={"title": "worker slot", "categoryorder": "category descending"},
                      height=max(260, 60 + 40 * len({row(t) for t in trials})))
    return Figure("timeline", "Timeline per worker slot", fig,
                  "one bar per trial on the slot that ran it; infeasible trials (pruned before training) grey")


def _kind(trial: FrozenTrial) -> str:
    if outcome_of(trial) == INFEASIBLE:
        return "INFEASIBLE"
    return trial.state.name


def _hover(trial: FrozenTrial) -> str:
    value = "" if trial.value is None else f" {trial.value:.4g}"
    code = outcome_of(trial)
    reason = str(trial.user_attrs.get(REASON, ""))[:80]
    return f"trial {trial.number} {trial.state.name}{value}<br>{f'{code}: ' if code else ''}{reason}"
