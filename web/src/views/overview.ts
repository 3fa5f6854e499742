/**
 * Network overview: capacity, utilization, jobs per minute, task and verification outcomes, price
 * per class over epochs, where the capacity is, live feed.
 */
import { getJson, getOptional, type Optional, type Stats } from '../api.ts';
import { columns, epochLine, hbars, stacked } from '../charts.ts';
import { card, empty, h } from '../dom.ts';
import { ago, bytes, pct, shortHex } from '../format.ts';
import { feed, type LiveEvent } from '../live.ts';
import { exactPlx, formatAmount, type PriceClass, parsePrices, plx } from '../settlement.ts';

function kpi(label: string, value: string, note?: string): HTMLElement {
  return h(
    'div',
    { class: 'kpi' },
    h('span', { class: 'kpi-value' }, value),
    h('span', { class: 'kpi-label' }, label),
    note ? h('span', { class: 'kpi-note' }, note) : null,
  );
}

function eventLine(e: LiveEvent): HTMLElement {
  const who =
    typeof e.data.provider === 'string'
      ? e.data.provider
      : typeof e.data.address === 'string'
        ? e.data.address
        : null;
  return h(
    'li',
    {},
    h('span', { class: `tag ${e.type.split('.')[1] ?? ''}` }, e.type),
    e.jobId ? h('a', { href: `#/jobs/${e.jobId}` }, `job ${shortHex(e.jobId)}`) : null,
    who ? h('a', { href: `#/providers/${who}` }, shortHex(who)) : null,
    h('span', { class: 'muted' }, ago(e.at)),
  );
}

/** Verdicts of verified tasks, audits, policies, proven faults and what they cost. */
function verificationOutcomes(v: Stats['verification']): HTMLElement {
  const decided = v.tasks.accepted + v.tasks.rejected + v.tasks.disputed;
  if (decided + v.tasks.open === 0)
    return empty(
      'No verdicts yet',
      'Each task gets a verdict (accepted, rejected or disputed) once its results are checked under the job’s policy.',
    );
  const kinds = Object.entries(v.faults.byKind);
  return h(
    'div',
    { 'data-testid': 'verification-outcomes' },
    stacked([
      { label: 'accepted, verified', value: v.verified, cls: 'ok' },
      { label: 'accepted, unverified', value: v.unverified, cls: 'ok-light' },
      { label: 'open', value: v.tasks.open, cls: 'run' },
      { label: 'rejected', value: v.tasks.rejected, cls: 'bad' },
      { label: 'disputed', value: v.tasks.disputed, cls: 'wait' },
    ]),
    h(
      'dl',
      { class: 'facts compact' },
      h('dt', {}, 'Audits drawn'),
      h('dd', {}, String(v.audited)),
      h('dt', {}, 'Policies'),
      h(
        'dd',
        {},
        Object.entries(v.policies)
          .map(([k, n]) => `${k} ${n}`)
          .join(' · '),
      ),
      h('dt', {}, 'Proven faults'),
      h(
        'dd',
        { class: v.faults.total > 0 ? 'bad-text' : '' },
        String(v.faults.total),
        kinds.length > 0 && v.faults.total > 0
          ? ` (${kinds
              .filter(([, n]) => n > 0)
              .map(([k, n]) => `${k} ${n}`)
              .join(', ')})`
          : '',
      ),
      h('dt', {}, 'Slashed'),
      h('dd', { title: exactPlx(v.slashed) }, plx(v.slashed)),
    ),
  );
}

/** Base price per resource class over the settled epochs, one small chart per class. */
function pricesPanel(prices: Optional<PriceClass[]>): HTMLElement | HTMLElement[] {
  if (prices.state === 'absent')
    return empty(
      'No market prices yet',
      'This coordinator does not serve /v1/prices: base prices per resource class appear here once market pricing runs.',
    );
  if (prices.state === 'error')
    return h(
      'div',
      { class: 'empty error-state', 'data-error': '' },
      h('strong', {}, 'Prices unavailable'),
      h('p', {}, prices.message),
    );
  if (prices.data.length === 0)
    return empty('No price classes', 'The market has not priced any resource class yet.');
  return prices.data.map((c) =>
    h(
      'div',
      { class: 'price-class', 'data-price-class': c.class },
      h(
        'div',
        { class: 'price-head' },
        h('strong', {}, c.class),
        h('span', { title: exactPlx(c.basePrice) }, `${formatAmount(c.basePrice)} PLX per ${c.unit}`),
        h(
          'span',
          { class: 'muted' },
          `utilization ${pct(c.utilization)} (target ${pct(c.targetUtilization)})`,
        ),
      ),
      c.history.length === 0
        ? h('p', { class: 'muted small' }, 'No settled epochs yet.')
        : [
            epochLine(
              c.history.map((p) => ({ epoch: p.epoch, value: BigInt(p.basePrice) })),
              (v) => formatAmount(v),
            ),
            h('p', { class: 'muted small axis-note' }, `PLX per ${c.unit}, by epoch`),
          ],
    ),
  );
}

/** @example app.replaceChildren(await renderOverview()); */
export async function renderOverview(): Promise<HTMLElement> {
  const [st, prices] = await Promise.all([
    getJson<Stats>('/v1/stats'),
    getOptional('/v1/prices', parsePrices),
  ]);
  const c = st.capacity;
  const fmtMinute = (ms: number) => new Date(ms).toTimeString().slice(0, 5);
  const perMinute = st.jobsPerMinute.map((b) => ({
    label: fmtMinute(b.start),
    values: [b.submitted, b.completed],
  }));
  const lastHour = st.jobsPerMinute.reduce((a, b) => a + b.submitted, 0);

  const capacityByClass = [
    { label: 'CPU-only providers', value: st.providers.classes.cpu },
    { label: 'GPU providers', value: st.providers.classes.gpu },
    ...c.gpuModels.map((g) => ({
      label: g.model,
      value: g.count,
      note: `${g.count} GPU${g.count === 1 ? '' : 's'}`,
    })),
  ];

  return h(
    'div',
    { class: 'view', 'data-view': 'overview' },
    h('h1', {}, 'Network overview'),
    h(
      'div',
      { class: 'kpis' },
      kpi('providers online', String(st.providers.online), `${st.providers.known} known`),
      kpi('CPU cores online', String(c.cpuCores), bytes(c.memoryBytes)),
      kpi('GPUs online', String(c.gpus)),
      kpi(
        'utilization',
        c.utilization === null ? '—' : pct(c.utilization),
        `${c.active} of ${c.slots} slots busy`,
      ),
      kpi('jobs running', String(st.jobs.running), `${st.jobs.queued} queued`),
      kpi('jobs in the last hour', String(lastHour), `${st.jobs.completed} completed in all`),
    ),
    h(
      'div',
      { class: 'grid' },
      card(
        'Jobs per minute (last hour)',
        lastHour === 0 && st.jobsPerMinute.every((b) => b.completed === 0)
          ? empty('No jobs in the last hour', 'Submitted and completed jobs appear here minute by minute.')
          : columns(perMinute, ['submitted', 'completed']),
      ),
      card(
        'Capacity by class (online)',
        st.providers.online === 0
          ? empty('No providers online', 'Capacity appears when provider agents connect.')
          : hbars(capacityByClass),
      ),
      card(
        'Where the capacity is',
        st.regions.length === 0
          ? empty('No providers yet', 'Providers report a region code when they connect.')
          : hbars(
              st.regions.map((r) => ({
                label: r.region,
                value: r.cpuCores + r.gpus,
                note: `${r.online}/${r.providers} online · ${r.cpuCores} cores · ${r.gpus} GPUs · ${r.slots} slots`,
              })),
            ),
      ),
      card(
        'Task outcomes',
        stacked([
          { label: 'completed', value: st.tasks.completed, cls: 'ok' },
          { label: 'running', value: st.tasks.assigned, cls: 'run' },
          { label: 'queued', value: st.tasks.queued, cls: 'wait' },
          { label: 'failed', value: st.tasks.failed, cls: 'bad' },
          { label: 'cancelled', value: st.tasks.cancelled, cls: 'off' },
        ]),
        h('h3', {}, 'Attempts'),
        stacked([
          { label: 'completed', value: st.assignments.completed, cls: 'ok' },
          { label: 'leased', value: st.assignments.leased, cls: 'run' },
          { label: 'failed', value: st.assignments.failed, cls: 'bad' },
          { label: 'lease expired', value: st.assignments.expired, cls: 'off' },
        ]),
      ),
      card('Verification outcomes', verificationOutcomes(st.verification)),
      card('Price per class over epochs', pricesPanel(prices)),
      card(
        'Live events',
        feed.length === 0
          ? empty('Waiting for events', 'Jobs, tasks and provider sessions appear here as they happen.')
          : h('ul', { class: 'feed' }, feed.slice(0, 15).map(eventLine)),
      ),
    ),
  );
}
