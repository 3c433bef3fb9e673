"""The report page: summary, best trial, leaderboard, and one container per plotly figure.

The page loads ``plotly.min.js`` from beside it (copied from the installed plotly package), never
from a CDN, so it opens offline. Figures travel as JSON in one ``<script type="application/json">``
and are drawn by a dozen lines of script; when all are drawn it sets ``data-rendered`` (the count)
and ``data-render-ms`` on ``<body>``, which the tests and ``scripts/bench_report.py`` read. The best
trial's pictures (confusion matrix, sample grid) are shown at their native size, as drawn.
"""

from __future__ import annotations

import html
import json
import math
from typing import Any

from autolit.search.report.plots import Figure

STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:1.5em auto;max-width:1400px;padding:0 1em;color:#222}
h1{font-size:1.5em;margin:0}h2{font-size:1.15em;margin:1.6em 0 .3em;border-bottom:1px solid #ddd}
.summary{color:#444}.caption{color:#555;margin:.2em 0 .4em;font-size:.92em}
nav a{margin-right:1em}.plot{min-height:120px}.note{color:#a33}
table{border-collapse:collapse;font-size:12.5px;width:100%}th,td{border-bottom:1px solid #eee;padding:2px 6px;
vertical-align:top;text-align:left}th{position:sticky;top:0;background:#f6f6f6}td.num{text-align:right;
font-variant-numeric:tabular-nums}.params code{display:inline-block;margin:0 .5em 0 0;white-space:nowrap}
.params code.same{color:#999}.COMPLETE{color:#1f5fa0}.PRUNED{color:#c06000}.FAIL{color:#b00}
.RUNNING{color:#187a18}.WAITING{color:#888}.scroll{max-height:36em;overflow:auto}
.pictures{display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start}.pictures figure{margin:.6em 0}
img.picture{display:block;max-width:100%;height:auto}figcaption{color:#555;font-size:.92em}
"""

DEFAULT_HEIGHT = 400
RENDER = """
(function(){var t0=performance.now();var figs=JSON.parse(document.getElementById('figures').textContent);
var jobs=[];document.querySelectorAll('div.plot').forEach(function(div){var f=figs[div.dataset.key];
if(!f)return;jobs.push(Plotly.newPlot(div,f.data,f.layout,{responsive:true,displaylogo:false}));});
Promise.all(jobs).then(function(){document.body.dataset.renderMs=Math.round(performance.now()-t0);
document.body.dataset.rendered=String(jobs.length);});})();
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _num(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1e-3 or abs(value) >= 1e4 else f"{value:.{digits}f}"
    return str(value)


def _params(params: dict[str, Any], best: dict[str, Any]) -> str:
    cells = []
    for key, value in params.items():
        same = " class='same'" if key in best and best[key] == value else ""
        cells.append(f"<code{same}>{_e(key)}={_e(_num(value) if isinstance(value, float) else value)}</code>")
    return "".join(cells)


COLUMNS = ["rank", "trial", "value", "state", "layers", "parameters", "epochs", "duration s", "slot",
           "parameters searched (grey: as in the best trial)"]


def leaderboard(records: list[dict], best: dict[str, Any]) -> str:
    """The table of every trial, best first; every parameter shown, wrapping, none cut off."""
    head = "".join(f"<th>{_e(c)}</th>" for c in COLUMNS)
    rows = []
    for r in records:
        state = r["state"] + (f" ({r['detail']})" if r["detail"] else "")
        reason = f"<br><small>{_e(r['reason'])}</small>" if r["reason"] and r["state"] != "COMPLETE" else ""
        if r["retry_of"] is not None:
            reason += f"<br><small>retry of trial {_e(r['retry_of'])}</small>"
        rows.append(
            f"<tr><td class=num>{_e(r['rank'] or '')}</td><td class=num>{r['number']}{_origin(r['origin'])}</td>"
            f"<td class=num>{_num(r['value'])}</td><td class='{_e(r['state'])}'>{_e(state)}{reason}</td>"
            f"<td class=num>{_e(_num(r['n_layers']))}</td><td class=num>{_e(_num(r['n_params']))}</td>"
            f"<td class=num>{r['epochs']}</td><td class=num>{_e(_num(r['duration_s'], 3))}</td>"
            f"<td>{_e(r['slot'])}</td><td class=params>{_params(r['params'], best)}</td></tr>")
    return f"<div class=scroll><table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"


ORIGINS = {"fit_config": "the fit config's own values", "enqueued": "a point from study.enqueue"}


def _origin(origin: str | None) -> str:
    """The mark of a trial the study started from (``study.start_from_fit_config`` / ``study.enqueue``)."""
    return f"<br><small title='{_e(ORIGINS[origin])}'>{_e(origin.replace('_', ' '))}</small>" if origin else ""


CAPTIONS = {"val/confusion_matrix": "the best trial's last validation confusion matrix",
            "samples/val": "validation samples: true label, then the best trial's prediction"}


def pictures(images: list[tuple[str, str, int | None, int | None]]) -> str:
    """The best trial's TensorBoard pictures, ``(tag, file, width, height)``, at their native size.

    They are laid out in pixels for that size (text 12 px and up), so the page never scales them
    down, except to fit a window narrower than the picture.
    """
    figures = "".join(
        f"<figure><img class=picture src='{_e(name)}'{f' width={w} height={h}' if w else ''} alt='{_e(tag)}' "
        f"title='{_e(tag)}'>"
        f"<figcaption>{_e(CAPTIONS.get(tag, tag))} (<a href='{_e(name)}'>{_e(name)}</a>)</figcaption></figure>"
        for tag, name, w, h in images)
    return f"<div class=pictures>{figures}</div>" if figures else ""


def _figure_block(fig: Figure) -> str:
    caption = f"<p class=caption>{_e(fig.caption)}</p>" if fig.caption else ""
    body = (f"<div class=plot id='plot-{_e(fig.key)}' data-key='{_e(fig.key)}'></div>" if fig.figure is not None
            else f"<p class=note>not drawn: {_e(fig.caption)}</p>")
    return f"<h2 id='{_e(fig.key)}'>{_e(fig.title)}</h2>{caption if fig.figure is not None else ''}{body}"


def _figures_json(figures: list[Figure]) -> str:
    for f in figures:
        if f.figure is not None and f.figure.layout.height is None:
            f.figure.update_layout(height=DEFAULT_HEIGHT)  # responsive plots take the container's height
    parts = [f"{json.dumps(f.key)}:{f.figure.to_json()}" for f in figures if f.figure is not None]
    return ("{" + ",".join(parts) + "}").replace("</", "<\\/")  # never end the <script> early


def page(title: str, summary: str, best_html: str, records: list[dict], best_params: dict[str, Any],
         figures: list[Figure]) -> str:
    """The whole ``index.html``."""
    flat = [f for fig in figures for f in (fig, *fig.extra)]
    nav = " ".join(f"<a href='#{_e(f.key)}'>{_e(f.title)}</a>" for f in figures)
    blocks = "".join(_figure_block(f) for f in flat)
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{_e(title)}</title><style>{STYLE}</style><script src='plotly.min.js'></script></head><body>"
        f"<h1>{_e(title)}</h1><p class=summary>{summary}</p>"
        f"<nav><a href='#best'>Best trial</a> <a href='#leaderboard'>Leaderboard</a> {nav}</nav>"
        f"<h2 id=best>Best trial</h2>{best_html}"
        f"<h2 id=leaderboard>Leaderboard</h2><p class=caption>every trial, best first; also as "
        f"<a href='trials.csv'>trials.csv</a> and <a href='trials.json'>trials.json</a></p>"
        f"{leaderboard(records, best_params)}{blocks}"
        f"<script type='application/json' id=figures>{_figures_json(flat)}</script>"
        f"<script>{RENDER}</script></body></html>"
    )
