/** Hand-drawn SVG charts: small, dependency-free, readable at any width (viewBox scales). */
import { h, s } from './dom.ts';

/**
 * Grouped columns over time, e.g. jobs submitted and completed per minute.
 * @example columns([{ label: '12:01', values: [3, 2] }], ['submitted', 'completed'])
 */
export function columns(points: { label: string; values: number[] }[], series: string[]): HTMLElement {
  const W = 600;
  const H = 160;
  const pad = { l: 28, r: 6, t: 8, b: 20 };
  const max = Math.max(1, ...points.flatMap((p) => p.values));
  const slot = (W - pad.l - pad.r) / Math.max(1, points.length);
  const bar = Math.max(1, (slot - 1) / series.length);
  const y = (v: number) => pad.t + (H - pad.t - pad.b) * (1 - v / max);
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img' });
  for (const tick of [0, max / 2, max]) {
    const ty = y(tick);
    svg.append(
      s('line', { x1: pad.l, x2: W - pad.r, y1: ty, y2: ty, class: 'gridline' }),
      s('text', { x: pad.l - 4, y: ty + 3, class: 'axis', 'text-anchor': 'end' }, String(Math.round(tick))),
    );
  }
  points.forEach((p, i) => {
    p.values.forEach((v, k) => {
      if (v <= 0) return;
      const x = pad.l + i * slot + k * bar;
      svg.append(
        s(
          'rect',
          { x, y: y(v), width: bar, height: y(0) - y(v), class: `series-${k}` },
          s('title', {}, `${p.label}: ${v} ${series[k]}`),
        ),
      );
    });
    // A time label every quarter of the axis keeps it legible in a narrow window.
    if (i % Math.max(1, Math.floor(points.length / 4)) === 0)
      svg.append(s('text', { x: pad.l + i * slot, y: H - 5, class: 'axis' }, p.label));
  });
  const legend = h(
    'div',
    { class: 'legend' },
    series.map((name, k) => h('span', {}, h('i', { class: `swatch series-${k}` }), name)),
  );
  return h('figure', { class: 'figure' }, svg, legend);
}

/**
 * Horizontal bars with a label and a value each (capacity by class, by region).
 * @example hbars([{ label: 'eu-west', value: 16, note: '16 cores' }])
 */
export function hbars(rows: { label: string; value: number; note?: string }[]): HTMLElement {
  const max = Math.max(1, ...rows.map((r) => r.value));
  return h(
    'div',
    { class: 'hbars' },
    rows.map((r) =>
      h(
        'div',
        { class: 'hbar' },
        h('span', { class: 'hbar-label', title: r.label }, r.label),
        h(
          'span',
          { class: 'hbar-track' },
          h('span', { class: 'hbar-fill', style: `width:${((r.value / max) * 100).toFixed(1)}%` }),
        ),
        h('span', { class: 'hbar-value' }, r.note ?? String(r.value)),
      ),
    ),
  );
}

/**
 * One bar split into parts (task outcomes), with a legend of counts.
 * @example stacked([{ label: 'completed', value: 9, cls: 'ok' }, { label: 'failed', value: 1, cls: 'bad' }])
 */
export function stacked(parts: { label: string; value: number; cls: string }[]): HTMLElement {
  const total = parts.reduce((a, p) => a + p.value, 0);
  return h(
    'div',
    { class: 'stacked-wrap' },
    h(
      'div',
      { class: 'stacked', role: 'img', 'aria-label': parts.map((p) => `${p.label} ${p.value}`).join(', ') },
      parts
        .filter((p) => p.value > 0)
        .map((p) =>
          h('span', {
            class: `part ${p.cls}`,
            style: `flex-grow:${p.value}`,
            title: `${p.label}: ${p.value}`,
          }),
        ),
    ),
    h(
      'div',
      { class: 'legend' },
      parts.map((p) => h('span', {}, h('i', { class: `swatch ${p.cls}` }), `${p.label} ${p.value}`)),
      h('span', { class: 'muted' }, `total ${total}`),
    ),
  );
}

/** A progress bar with `done / total`. */
export function progress(done: number, total: number): HTMLElement {
  const f = total > 0 ? done / total : 0;
  return h(
    'span',
    { class: 'progress', title: `${done} of ${total} tasks done` },
    h(
      'span',
      { class: 'progress-track' },
      h('span', { class: 'progress-fill', style: `width:${(f * 100).toFixed(1)}%` }),
    ),
    h('span', { class: 'progress-text' }, `${done}/${total}`),
  );
}
