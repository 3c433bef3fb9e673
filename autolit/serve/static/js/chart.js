// Line charts on uPlot (vendored): one x (step) shared by every series, gaps spanned.
import uPlot from "../vendor/uPlot.esm.js";

export const COLORS = ["#2457c5", "#d2462f", "#1b8a5a", "#8a44c2", "#c07a00", "#0b8aa8", "#c2417f", "#5c6f1e",
                       "#6b4c2a", "#3c3fa8", "#a82d2d", "#2f7d7d"];

// A chart in `node` with one series per label; returns {setData([xs, ...ys]), destroy()}.
export function lineChart(node, labels, { height = 220, xLabel = "step", legend = true } = {}) {
  const stroke = getComputedStyle(document.body).color;
  const axis = { stroke, grid: { stroke: "rgba(128,128,128,.18)" }, ticks: { stroke: "rgba(128,128,128,.3)" } };
  const opts = {
    width: Math.max(200, node.clientWidth - 4 || 400), height,
    scales: { x: { time: false } },
    legend: { show: legend },
    cursor: { drag: { x: true, y: false } },
    series: [{ label: xLabel }, ...labels.map((label, i) => ({
      label, stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: true, points: { show: false } }))],
    axes: [{ ...axis }, { ...axis, size: 56 }],
  };
  const plot = new uPlot(opts, [[], ...labels.map(() => [])], node);
  const resize = new ResizeObserver(() => plot.setSize({ width: Math.max(200, node.clientWidth - 4), height }));
  resize.observe(node);
  return {
    plot,
    setData(data) { plot.setData(data); },
    destroy() { resize.disconnect(); plot.destroy(); },
  };
}

// Series with their own steps on one x: [xs, ys1, ys2, ...] (null where a series has no point).
export function align(series) {
  if (series.length === 1) return [series[0].steps, series[0].values];
  return uPlot.join(series.map((s) => [s.steps, s.values]));
}
