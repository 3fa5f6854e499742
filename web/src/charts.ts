/** Hand-drawn SVG charts: small, dependency-free, drawn at their real width so text stays legible. */
import { h, s } from './dom.ts';
import { ratio } from './settlement.ts';

/** Chart text size in CSS pixels: charts are drawn at their real width, so this is what shows. */
const FONT_PX = 11;
/** Width a chart is drawn at before it is laid out (and in a window too small to measure). */
const DEFAULT_WIDTH = 600;

/**
 * Ticks for a count axis: whole numbers from 0 in steps of 1, 2 or 5 × 10^k, at most `intervals`
 * intervals, the last at or above `max`. A peak of 1 gives [0, 1], never [0, 0.5, 1] shown as "0,1,1".
 * @example integerTicks(7) // [0, 2, 4, 6, 8]
 */
export function integerTicks(max: number, intervals = 4): number[] {
  const top = Math.max(1, Math.ceil(max));
  const raw = top / intervals;
  const pow = 10 ** Math.floor(Math.log10(Math.max(1, raw)));
  const step = Math.max(1, [1, 2, 5, 10].map((m) => m * pow).find((s) => s >= raw) ?? 10 * pow);
  const ticks: number[] = [];
  for (let t = 0; t < top + step; t += step) ticks.push(t);
  return ticks;
}

/**
 * A chart drawn at its container's real width in CSS pixels, redrawn when that width changes, so
 * text stays legible in a narrow window instead of shrinking with a scaled viewBox.
 */
function responsive(draw: (width: number) => SVGElement): HTMLElement {
  const box = h('div', { class: 'chart-box' }, draw(DEFAULT_WIDTH));
  let drawn = DEFAULT_WIDTH;
  const ro = new ResizeObserver(() => {
    // A re-rendered view drops its old charts: stop watching them.
    if (!box.isConnected) {
      ro.disconnect();
      return;
    }
    const w = Math.floor(box.clientWidth);
    if (w > 0 && w !== drawn) {
      drawn = w;
      box.replaceChildren(draw(w));
    }
  });
  ro.observe(box);
  return box;
}

function svgOf(width: number, height: number, label: string): SVGElement {
  return s('svg', {
    viewBox: `0 0 ${width} ${height}`,
    width,
    height,
    class: 'chart',
    role: 'img',
    'aria-label': label,
    'font-size': FONT_PX,
  });
}

/**
 * Grouped columns over time, e.g. jobs submitted and completed per minute; counts on a whole-number
 * axis.
 * @example columns([{ label: '12:01', values: [3, 2] }], ['submitted', 'completed'])
 */
export function columns(points: { label: string; values: number[] }[], series: string[]): HTMLElement {
  const H = 170;
  const ticks = integerTicks(Math.max(0, ...points.flatMap((p) => p.values)));
  const top = ticks[ticks.length - 1] ?? 1;
  const draw = (W: number) => {
    const pad = { l: 8 + String(top).length * 7, r: 6, t: 8, b: 22 };
    const slot = (W - pad.l - pad.r) / Math.max(1, points.length);
    const bar = Math.max(1, (slot - 1) / series.length);
    const y = (v: number) => pad.t + (H - pad.t - pad.b) * (1 - v / top);
    const svg = svgOf(W, H, `${series.join(' and ')} per interval`);
    for (const tick of ticks) {
      const ty = y(tick);
      svg.append(
        s('line', { x1: pad.l, x2: W - pad.r, y1: ty, y2: ty, class: 'gridline' }),
        s('text', { x: pad.l - 4, y: ty + 4, class: 'axis', 'text-anchor': 'end' }, String(tick)),
      );
    }
    // Time labels at least ~56 px apart, however narrow the window.
    const every = Math.max(1, Math.ceil(56 / slot));
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
      if (i % every === 0 && pad.l + i * slot < W - 30)
        svg.append(s('text', { x: pad.l + i * slot, y: H - 6, class: 'axis' }, p.label));
    });
    return svg;
  };
  const legend = h(
    'div',
    { class: 'legend' },
    series.map((name, k) => h('span', {}, h('i', { class: `swatch series-${k}` }), name)),
  );
  return h('figure', { class: 'figure' }, responsive(draw), legend);
}

/**
 * A line over epochs for a bigint quantity (a base price): geometry from bigint ratios, axis labels
 * from `format`, so amounts never pass through floats. The x axis is the epoch number.
 * @example epochLine([{ epoch: 1, value: 10n ** 12n }], (v) => formatAmount(v))
 */
export function epochLine(
  points: { epoch: number; value: bigint }[],
  format: (v: bigint) => string,
): HTMLElement {
  const H = 130;
  let top = 1n;
  for (const p of points) if (p.value > top) top = p.value;
  const ticks = [0n, top / 2n, top];
  const labels = ticks.map(format);
  const draw = (W: number) => {
    const pad = { l: 10 + Math.max(...labels.map((l) => l.length)) * 6.5, r: 10, t: 10, b: 22 };
    const x = (i: number) => pad.l + ((W - pad.l - pad.r) * i) / Math.max(1, points.length - 1);
    const y = (v: bigint) => pad.t + (H - pad.t - pad.b) * (1 - ratio(v, top));
    const svg = svgOf(W, H, 'price over epochs');
    ticks.forEach((t, i) => {
      svg.append(
        s('line', { x1: pad.l, x2: W - pad.r, y1: y(t), y2: y(t), class: 'gridline' }),
        s('text', { x: pad.l - 4, y: y(t) + 4, class: 'axis', 'text-anchor': 'end' }, labels[i] ?? ''),
      );
    });
    svg.append(
      s('polyline', {
        points: points.map((p, i) => `${x(i).toFixed(1)},${y(p.value).toFixed(1)}`).join(' '),
        class: 'line series-0',
      }),
    );
    const every = Math.max(1, Math.ceil(70 / ((W - pad.l - pad.r) / Math.max(1, points.length - 1))));
    points.forEach((p, i) => {
      svg.append(
        s(
          'circle',
          { cx: x(i), cy: y(p.value), r: 3, class: 'series-0' },
          s('title', {}, `epoch ${p.epoch}: ${format(p.value)}`),
        ),
      );
      if (i % every === 0) {
        const anchor = i === 0 ? 'start' : i === points.length - 1 ? 'end' : 'middle';
        svg.append(s('text', { x: x(i), y: H - 6, class: 'axis', 'text-anchor': anchor }, String(p.epoch)));
      }
    });
    return svg;
  };
  return h('figure', { class: 'figure' }, responsive(draw));
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
export function progress(done: number | null, total: number | null): HTMLElement {
  // A job's size and progress are its client's: the public view shows its status only.
  if (done === null || total === null)
    return h('span', { class: 'na', title: "shown to the job's client only" }, '—');
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

/**
 * Columns over time buckets, each a share of the axis (0…1, or null for "no data"), with a given
 * axis: the shared drawing of `amountColumns` and `shareColumns`.
 */
function bucketColumns(
  points: readonly { label: string; title: string }[],
  heights: readonly (number | null)[],
  axis: readonly { at: number; label: string }[],
  ariaLabel: string,
  series: string,
): HTMLElement {
  const H = 150;
  const draw = (W: number) => {
    const pad = { l: 10 + Math.max(...axis.map((a) => a.label.length)) * 6.5, r: 6, t: 8, b: 22 };
    const slot = (W - pad.l - pad.r) / Math.max(1, points.length);
    const bar = Math.max(1, slot - Math.min(3, slot / 4));
    const y = (f: number) => pad.t + (H - pad.t - pad.b) * (1 - f);
    const svg = svgOf(W, H, ariaLabel);
    for (const a of axis)
      svg.append(
        s('line', { x1: pad.l, x2: W - pad.r, y1: y(a.at), y2: y(a.at), class: 'gridline' }),
        s('text', { x: pad.l - 4, y: y(a.at) + 4, class: 'axis', 'text-anchor': 'end' }, a.label),
      );
    const every = Math.max(1, Math.ceil(64 / slot));
    points.forEach((p, i) => {
      const f = heights[i];
      const x = pad.l + i * slot;
      // "No data" (before the provider existed) is a faint stub, a zero is nothing: both keep a tooltip.
      const top = f === null || f === undefined ? y(0) - 2 : y(Math.min(1, Math.max(0, f)));
      svg.append(
        s(
          'rect',
          {
            x,
            y: Math.min(top, y(0)),
            width: bar,
            height: Math.max(0, y(0) - top),
            class: f === null || f === undefined ? 'nodata' : series,
            'data-bucket': i,
          },
          s('title', {}, p.title),
        ),
      );
      if (i % every === 0 && x < W - 40) svg.append(s('text', { x, y: H - 6, class: 'axis' }, p.label));
    });
    return svg;
  };
  return h('figure', { class: 'figure' }, responsive(draw));
}

/**
 * Columns of a bigint amount per time bucket (a provider's earnings per hour or day): geometry from
 * bigint ratios, axis labels from `format`, so amounts never pass through floats. Negative values
 * draw as zero (the tooltip keeps the exact figure).
 * @example amountColumns([{ label: '12:00', title: '12:00 · 1.5 PLX', value: 15n * 10n ** 17n }], plx, 'earnings per hour')
 */
export function amountColumns(
  points: readonly { label: string; title: string; value: bigint }[],
  format: (v: bigint) => string,
  ariaLabel: string,
): HTMLElement {
  let top = 0n;
  for (const p of points) if (p.value > top) top = p.value;
  const axis =
    top === 0n
      ? [{ at: 0, label: format(0n) }]
      : [
          { at: 0, label: format(0n) },
          { at: ratio(top / 2n, top), label: format(top / 2n) },
          { at: 1, label: format(top) },
        ];
  return bucketColumns(
    points,
    points.map((p) => (top === 0n || p.value <= 0n ? 0 : ratio(p.value, top))),
    axis,
    ariaLabel,
    'series-0',
  );
}

/**
 * Columns of a share (0…1) per time bucket on a 0–100 % axis (a provider's uptime per hour or
 * day); null is "no data" (a faint stub), not zero.
 * @example shareColumns([{ label: 'Dec 6', title: 'Dec 6 · 98 %', value: 0.98 }], 'uptime per day')
 */
export function shareColumns(
  points: readonly { label: string; title: string; value: number | null }[],
  ariaLabel: string,
): HTMLElement {
  return bucketColumns(
    points,
    points.map((p) => p.value),
    [
      { at: 0, label: '0%' },
      { at: 0.5, label: '50%' },
      { at: 1, label: '100%' },
    ],
    ariaLabel,
    'series-1',
  );
}

/**
 * Lines over rounds for float quantities (a training job's losses, its accuracy): one polyline
 * per series, y from 0 to `top` (default: the largest value), labels from `format`. A null value
 * leaves a gap in its series (a round without a held-out shard).
 * @example lines([{ x: 1, values: [2.1, 1.9] }], ['training loss', 'held-out loss'], (v) => v.toFixed(2))
 */
export function lines(
  points: { x: number; values: (number | null)[] }[],
  series: string[],
  format: (v: number) => string,
  opts: { top?: number; label?: string; xLabel?: string } = {},
): HTMLElement {
  const H = 150;
  const finite = points.flatMap((p) => p.values.filter((v): v is number => v !== null && Number.isFinite(v)));
  const top = opts.top ?? Math.max(1e-9, ...finite);
  const ticks = [0, top / 2, top];
  const labels = ticks.map(format);
  const draw = (W: number) => {
    const pad = { l: 10 + Math.max(...labels.map((l) => l.length)) * 6.5, r: 10, t: 10, b: 22 };
    const x = (i: number) => pad.l + ((W - pad.l - pad.r) * i) / Math.max(1, points.length - 1);
    const y = (v: number) => pad.t + (H - pad.t - pad.b) * (1 - Math.min(1, Math.max(0, v / top)));
    const svg = svgOf(W, H, opts.label ?? series.join(', '));
    ticks.forEach((t, i) => {
      svg.append(
        s('line', { x1: pad.l, x2: W - pad.r, y1: y(t), y2: y(t), class: 'gridline' }),
        s('text', { x: pad.l - 4, y: y(t) + 4, class: 'axis', 'text-anchor': 'end' }, labels[i] ?? ''),
      );
    });
    series.forEach((name, k) => {
      const pts = points
        .map((p, i) => ({ i, v: p.values[k] ?? null, x: p.x }))
        .filter((p): p is { i: number; v: number; x: number } => p.v !== null && Number.isFinite(p.v));
      if (pts.length === 0) return;
      svg.append(
        s('polyline', {
          points: pts.map((p) => `${x(p.i).toFixed(1)},${y(p.v).toFixed(1)}`).join(' '),
          class: `line series-${k}`,
          'data-series': name,
        }),
      );
      for (const p of pts)
        svg.append(
          s(
            'circle',
            { cx: x(p.i), cy: y(p.v), r: 3, class: `series-${k}` },
            s('title', {}, `${opts.xLabel ?? 'round'} ${p.x}: ${name} ${format(p.v)}`),
          ),
        );
    });
    const every = Math.max(1, Math.ceil(40 / ((W - pad.l - pad.r) / Math.max(1, points.length - 1))));
    points.forEach((p, i) => {
      if (i % every !== 0 && i !== points.length - 1) return;
      const anchor = i === 0 ? 'start' : i === points.length - 1 ? 'end' : 'middle';
      svg.append(s('text', { x: x(i), y: H - 6, class: 'axis', 'text-anchor': anchor }, String(p.x)));
    });
    return svg;
  };
  const legend = h(
    'div',
    { class: 'legend' },
    series.map((name, k) => h('span', {}, h('i', { class: `swatch series-${k}` }), name)),
  );
  return h('figure', { class: 'figure' }, responsive(draw), legend);
}
