/** Providers: a sortable table with hardware, load, reputation, audit rate, stake and earnings. */
import { type Capability, getJson, type Provider, type ProviderList } from '../api.ts';
import { asCards, empty, h, tableWrap } from '../dom.ts';
import { eligibilityTag } from '../eligibility.ts';
import { ago, bytes, pct, shortHex, when } from '../format.ts';
import { exactPlx, type MaybeAmount, plx, providerMoney } from '../settlement.ts';

type SortValue = string | number | bigint;
type Column = { key: string; label: string; value?: (p: Provider) => SortValue; na?: string };

/** Sorts missing amounts below every real one. */
const amountKey = (a: MaybeAmount): bigint => a.value ?? -1n;

const COLUMNS: Column[] = [
  { key: 'address', label: 'Provider', value: (p) => p.address },
  { key: 'status', label: 'Status', value: (p) => (p.connected ? 1 : 0) },
  { key: 'region', label: 'Region', value: (p) => p.region },
  { key: 'hardware', label: 'Hardware', value: (p) => p.hardware.gpus.length * 10_000 + p.hardware.cpuCores },
  { key: 'load', label: 'Load', value: (p) => (p.slots > 0 ? p.active / p.slots : 0) },
  { key: 'done', label: 'Tasks done', value: (p) => p.tasksCompleted },
  { key: 'failed', label: 'Failed', value: (p) => p.tasksFailed },
  { key: 'capability', label: 'Proven capability', value: (p) => p.capability?.gflops ?? -1 },
  { key: 'reputation', label: 'Reputation', value: (p) => p.reputation?.score ?? -1 },
  { key: 'audit', label: 'Audit rate', value: (p) => p.auditRate ?? -1 },
  { key: 'stake', label: 'Stake', value: (p) => amountKey(providerMoney(p).stake) },
  { key: 'earnings', label: 'Earnings', value: (p) => amountKey(providerMoney(p).earnings) },
  { key: 'lastSeen', label: 'Last seen', value: (p) => p.lastSeen },
];

function compare(x: SortValue, y: SortValue): number {
  if (typeof x === 'bigint' && typeof y === 'bigint') return x < y ? -1 : x > y ? 1 : 0;
  if (typeof x === 'number' && typeof y === 'number') return x - y;
  return String(x).localeCompare(String(y));
}

/**
 * "cpu · 1.8 GFLOP/s" once a proof passed; otherwise what the latest proof found ("pending",
 * "slow", "wrong", "missed"), with the coordinator's reason as the tooltip.
 */
export function capabilityText(c: Capability | null | undefined): {
  text: string;
  title: string;
  ok: boolean;
} {
  if (c === undefined) return { text: '—', title: 'not served by this coordinator', ok: false };
  if (c === null) return { text: 'not proven yet', title: 'no capability proof has been judged', ok: false };
  const speed = c.gflops === null ? '' : ` · ${c.gflops.toFixed(1)} GFLOP/s`;
  if (c.proven) return { text: `${c.class}${speed}`, title: c.reason, ok: true };
  return { text: `${c.class}: ${c.lastOutcome}`, title: c.reason, ok: false };
}

function capabilityCell(c: Capability | null | undefined): HTMLElement {
  const t = capabilityText(c);
  return h(
    'td',
    { class: t.ok ? '' : 'na', title: t.title, 'data-capability': c?.lastOutcome ?? 'none' },
    t.text,
  );
}

function amountCell(a: MaybeAmount): HTMLElement {
  return a.value === null
    ? h('td', { class: 'na', title: a.why }, a.why === 'no chain' ? 'no chain' : '—')
    : h('td', { class: 'num', title: exactPlx(a.value) }, plx(a.value));
}

// Kept across live re-renders so the table does not jump back to the default order.
let sortKey = 'status';
let sortDesc = true;

/** A one-line hardware summary: cores, memory and GPUs. */
export function hardwareSummary(p: Provider): string {
  const gpus = p.hardware.gpus.map((g) => g.name).join(', ');
  return `${p.hardware.cpuCores} cores · ${bytes(p.hardware.memoryBytes)}${gpus ? ` · ${gpus}` : ''}`;
}

function cell(col: Column, p: Provider): HTMLElement {
  switch (col.key) {
    case 'address':
      return h(
        'td',
        {},
        h(
          'a',
          { href: `#/providers/${p.address}`, class: 'mono', title: p.address },
          shortHex(p.address, 8, 6),
        ),
      );
    case 'status':
      return h(
        'td',
        {},
        h('span', { class: `tag ${p.connected ? 'online' : 'offline'}` }, p.connected ? 'online' : 'offline'),
        eligibilityTag(p),
      );
    case 'region':
      return h('td', {}, p.region);
    case 'hardware':
      return h('td', { title: p.hardware.cpuModel }, hardwareSummary(p));
    case 'load':
      return h('td', {}, `${p.active}/${p.slots}`);
    case 'done':
      return h('td', { class: 'num' }, p.tasksCompleted);
    case 'failed':
      return h('td', { class: 'num' }, p.tasksFailed);
    case 'reputation': {
      const r = p.reputation;
      if (!r) return h('td', { class: 'na', title: 'not served by this coordinator' }, '—');
      return h(
        'td',
        {
          class: 'num',
          title: `${r.verifiedValid} verified valid · ${r.faults} faults · ${r.timeouts} timeouts · ${r.consecutiveValid} valid in a row`,
        },
        r.score.toFixed(2),
        r.trusted ? h('span', { class: 'tag trusted' }, 'trusted') : null,
      );
    }
    case 'capability':
      return capabilityCell(p.capability);
    case 'audit':
      return p.auditRate === undefined
        ? h('td', { class: 'na', title: 'not served by this coordinator' }, '—')
        : h(
            'td',
            { class: 'num', title: 'chance that its next result is re-run by another provider' },
            pct(p.auditRate),
          );
    case 'stake':
      return amountCell(providerMoney(p).stake);
    case 'earnings':
      return amountCell(providerMoney(p).earnings);
    case 'lastSeen':
      return h('td', { title: when(p.lastSeen) }, p.connected ? 'now' : ago(p.lastSeen));
    default:
      return h('td', { class: 'na', title: col.na ?? '' }, '—');
  }
}

/** @example app.replaceChildren(await renderProviders()); */
export async function renderProviders(): Promise<HTMLElement> {
  const { providers } = await getJson<ProviderList>('/v1/providers');
  const view = h('div', { class: 'view', 'data-view': 'providers' });
  const draw = () => {
    const col = COLUMNS.find((c) => c.key === sortKey);
    const rows = [...providers];
    if (col?.value) {
      const v = col.value;
      rows.sort((a, b) => {
        const x = v(a);
        const y = v(b);
        const d = compare(x, y);
        return sortDesc ? -d : d;
      });
    }
    const head = h(
      'tr',
      {},
      COLUMNS.map((c) =>
        c.na
          ? h('th', { title: c.na, class: 'na' }, c.label)
          : h(
              'th',
              { 'aria-sort': c.key === sortKey ? (sortDesc ? 'descending' : 'ascending') : 'none' },
              h(
                'button',
                {
                  type: 'button',
                  class: 'sort',
                  onclick: () => {
                    sortDesc = c.key === sortKey ? !sortDesc : true;
                    sortKey = c.key;
                    draw();
                  },
                },
                c.label,
                c.key === sortKey ? (sortDesc ? ' ▼' : ' ▲') : '',
              ),
            ),
      ),
    );
    // In a narrow window the table shows as cards without its header row: sort from here instead.
    const sortBar = h(
      'div',
      { class: 'sort-bar' },
      h(
        'label',
        {},
        'Sort by ',
        h(
          'select',
          {
            onchange: (e: Event) => {
              sortKey = (e.target as HTMLSelectElement).value;
              draw();
            },
          },
          COLUMNS.filter((c) => c.value).map((c) =>
            h('option', { value: c.key, selected: c.key === sortKey }, c.label),
          ),
        ),
      ),
      h(
        'button',
        {
          type: 'button',
          onclick: () => {
            sortDesc = !sortDesc;
            draw();
          },
        },
        sortDesc ? '▼ descending' : '▲ ascending',
      ),
    );
    const online = providers.filter((p) => p.connected).length;
    const body =
      providers.length === 0
        ? [
            empty(
              'No providers yet',
              'Providers appear here when their agent first connects to this coordinator.',
            ),
          ]
        : [
            sortBar,
            tableWrap(
              asCards(
                h(
                  'table',
                  { class: 'table', 'data-table': 'providers' },
                  h('thead', {}, head),
                  h(
                    'tbody',
                    {},
                    rows.map((p) =>
                      h(
                        'tr',
                        {},
                        COLUMNS.map((c) => cell(c, p)),
                      ),
                    ),
                  ),
                ),
              ),
            ),
          ];
    view.replaceChildren(
      h('h1', {}, 'Providers'),
      h(
        'p',
        { class: 'muted' },
        `${online} online of ${providers.length} known. Reputation is the verified share of a provider’s checked results (decaying); earnings are cumulative, stake is read from the chain.`,
      ),
      ...body,
    );
  };
  draw();
  return view;
}
