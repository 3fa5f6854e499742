/**
 * A provider's earnings and uptime over time (issue 22): two column charts per hour (last 24 hours)
 * or per day (last 30 days), from `GET /v1/providers/:address/timeline` (ledger postings and
 * session intervals), with "Older"/"Newest" links that page through time. The range and page live
 * in the hash (`#/providers/0x…?range=day&until=MS`), so a live re-render keeps them.
 */
import './providerHistory.css';
import type { ProviderTimeline } from '../../../src/protocol/http/providerTimeline.ts';
import { ApiError, getJson } from '../api.ts';
import { amountColumns, shareColumns } from '../charts.ts';
import { card, empty, h } from '../dom.ts';
import { duration, pct, when } from '../format.ts';
import { exactPlx, plx } from '../settlement.ts';

/** The two ranges the provider page offers: bucket size and how many buckets. */
export const TIMELINE_RANGES = {
  hour: { buckets: 24, name: 'last 24 hours', per: 'per hour' },
  day: { buckets: 30, name: 'last 30 days', per: 'per day' },
} as const;
export type TimelineRange = keyof typeof TIMELINE_RANGES;

/** The range and page of the provider page's hash query (`range=hour|day`, `until=ms`). */
export function timelineParams(params: URLSearchParams): { range: TimelineRange; until: number | null } {
  const range: TimelineRange = params.get('range') === 'day' ? 'day' : 'hour';
  const raw = params.get('until');
  const until = raw !== null && /^[0-9]{1,16}$/.test(raw) ? Number(raw) : null;
  return { range, until };
}

/** The timeline's query path for a provider, range and page. */
export function timelinePath(address: string, range: TimelineRange, until: number | null): string {
  const q = new URLSearchParams({ bucket: range, buckets: String(TIMELINE_RANGES[range].buckets) });
  if (until !== null) q.set('until', String(until));
  return `/v1/providers/${encodeURIComponent(address.toLowerCase())}/timeline?${q}`;
}

/** A bucket's axis label: the local hour, or the local day. */
function bucketLabel(start: number, range: TimelineRange): string {
  const d = new Date(start);
  return range === 'hour'
    ? `${String(d.getHours()).padStart(2, '0')}:00`
    : d.toLocaleDateString(undefined, { month: 'short', day: 'numeric' });
}

/**
 * Reads the timeline; an answer the coordinator does not serve (404 of an older coordinator,
 * another failure) becomes a message in the card, never a failed page.
 */
export async function loadTimeline(
  address: string,
  range: TimelineRange,
  until: number | null,
): Promise<{ ok: true; data: ProviderTimeline } | { ok: false; message: string }> {
  try {
    return { ok: true, data: await getJson<ProviderTimeline>(timelinePath(address, range, until)) };
  } catch (err) {
    // The coordinator out of reach is the whole page's state (the banner): let it through.
    if (err instanceof ApiError && err.status === null) throw err;
    return { ok: false, message: err instanceof Error ? err.message : String(err) };
  }
}

/**
 * The "Earnings and uptime" card of a provider page.
 *
 * @example card = timelineCard(address, await loadTimeline(address, 'hour', null), 'hour', null);
 */
export function timelineCard(
  address: string,
  loaded: Awaited<ReturnType<typeof loadTimeline>>,
  range: TimelineRange,
  until: number | null,
): HTMLElement {
  const base = `#/providers/${address}`;
  const link = (r: TimelineRange, u: number | null, text: string, current = false) =>
    h(
      'a',
      {
        href: `${base}?range=${r}${u !== null ? `&until=${u}` : ''}`,
        'data-range': r,
        'aria-current': current ? 'true' : 'false',
      },
      text,
    );
  const head = (t: ProviderTimeline | null) =>
    h(
      'div',
      { class: 'timeline-head' },
      link('hour', null, TIMELINE_RANGES.hour.name, range === 'hour' && until === null),
      link('day', null, TIMELINE_RANGES.day.name, range === 'day' && until === null),
      t ? h('span', { class: 'muted' }, `${when(t.from)} – ${when(t.to)}`) : null,
      t?.previous !== null && t?.previous !== undefined
        ? h('a', { href: `${base}?range=${range}&until=${t.previous}`, 'data-page': 'older' }, '« Older')
        : null,
      until !== null ? h('a', { href: `${base}?range=${range}`, 'data-page': 'newest' }, 'Newest »') : null,
    );
  if (!loaded.ok)
    return card(
      'Earnings and uptime',
      head(null),
      empty('Not available', `This coordinator did not answer the timeline: ${loaded.message}`),
    );
  const t = loaded.data;
  const per = TIMELINE_RANGES[range].per;
  const earned = t.points.map((p) => ({
    label: bucketLabel(p.start, range),
    title: `${when(p.start)}: ${exactPlx(p.earned)} from ${p.entries} ledger ${p.entries === 1 ? 'entry' : 'entries'}`,
    value: BigInt(p.earned),
  }));
  const uptime = t.points.map((p) => ({
    label: bucketLabel(p.start, range),
    title:
      p.uptime === null
        ? `${when(p.start)}: no data (before the provider was first seen, or still to come)`
        : `${when(p.start)}: ${pct(p.uptime)} online (${duration(p.onlineMs)})`,
    value: p.uptime,
  }));
  return h(
    'section',
    { class: 'card', 'data-testid': 'timeline', 'data-range': range },
    h('h2', {}, 'Earnings and uptime'),
    head(t),
    h(
      'div',
      { class: 'timeline-charts' },
      h(
        'div',
        { 'data-chart': 'earnings' },
        h(
          'h3',
          {},
          `Earnings ${per} · `,
          h('span', { title: exactPlx(t.total.earned), 'data-total': 'earned' }, plx(t.total.earned)),
          ' in this range',
        ),
        BigInt(t.total.earned) === 0n && t.points.every((p) => p.entries === 0)
          ? empty(
              'Nothing earned in this range',
              'Accepted work and emission show here once the ledger credits them.',
            )
          : amountColumns(earned, plx, `earnings ${per}`),
      ),
      h(
        'div',
        { 'data-chart': 'uptime' },
        h(
          'h3',
          {},
          `Uptime ${per} · `,
          h(
            'span',
            { 'data-total': 'uptime' },
            t.total.uptime === null ? 'no data' : `${pct(t.total.uptime)} (${duration(t.total.onlineMs)})`,
          ),
        ),
        t.total.uptime === null
          ? empty('No data in this range', `The provider was first seen ${when(t.firstSeen)}.`)
          : shareColumns(uptime, `uptime ${per}`),
      ),
    ),
  );
}
