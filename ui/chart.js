// Small line charts in inline SVG: one line per series, shared time axis.

import { svg, h, fmtNum } from './dom.js';

const W = 360;
const H = 120;
const PAD = { left: 44, right: 8, top: 8, bottom: 18 };

/**
 * series: [{name, points: [[t_ms, value], ...]}]; span_ms: the time shown.
 * Colours come from the stylesheet (.s0 .. .s7), so the theme decides them.
 */
export function lineChart(title, series, { spanMs = 600000, bytes = false, unit = '' } = {}) {
  const now = Date.now();
  const t0 = now - spanMs;
  const max = Math.max(1, ...series.flatMap((s) => s.points.map(([, v]) => v)));
  const x = (t) => PAD.left + ((t - t0) / spanMs) * (W - PAD.left - PAD.right);
  const y = (v) => H - PAD.bottom - (v / max) * (H - PAD.top - PAD.bottom);
  const grid = [0, 0.5, 1].map((f) => {
    const v = max * f;
    return [
      svg('line', { class: 'grid', x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v) }),
      svg('text', { class: 'axis', x: PAD.left - 4, y: y(v) + 3, 'text-anchor': 'end' }, fmtNum(v, bytes)),
    ];
  });
  const minutes = Math.round(spanMs / 60000);
  const axis = [
    svg('text', { class: 'axis', x: PAD.left, y: H - 4 }, `−${minutes} min`),
    svg('text', { class: 'axis', x: W - PAD.right, y: H - 4, 'text-anchor': 'end' }, 'now'),
  ];
  const lines = series.map((s, i) => {
    const pts = s.points.filter(([t]) => t >= t0);
    if (pts.length === 0) return null;
    const d = pts.map(([t, v], j) => `${j ? 'L' : 'M'}${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
    return svg('path', { class: `line s${i % 8}`, d }, svg('title', {}, s.name));
  });
  const chart = svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': title }, grid, axis, lines);
  const legend = h('div', { class: 'legend' }, series.map((s, i) => {
    const last = s.points.length ? s.points[s.points.length - 1][1] : null;
    return h('span', { class: `key s${i % 8}` }, s.name, ' ', h('b', {}, last === null ? '—' : fmtNum(last, bytes) + unit));
  }));
  return h('figure', { class: 'plot' }, h('figcaption', {}, title), chart, legend);
}
