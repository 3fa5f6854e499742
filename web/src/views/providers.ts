/** Providers: a sortable table with hardware, load and the not-yet-available money columns. */
import { getJson, type Provider } from '../api.ts';
import { empty, h, tableWrap } from '../dom.ts';
import { ago, bytes, shortHex, when } from '../format.ts';

type Column = { key: string; label: string; value?: (p: Provider) => string | number; na?: boolean };

const NA = 'not available yet';
const COLUMNS: Column[] = [
  { key: 'address', label: 'Provider', value: (p) => p.address },
  { key: 'status', label: 'Status', value: (p) => (p.connected ? 1 : 0) },
  { key: 'region', label: 'Region', value: (p) => p.region },
  { key: 'hardware', label: 'Hardware', value: (p) => p.hardware.gpus.length * 10_000 + p.hardware.cpuCores },
  { key: 'load', label: 'Load', value: (p) => (p.slots > 0 ? p.active / p.slots : 0) },
  { key: 'done', label: 'Tasks done', value: (p) => p.tasksCompleted },
  { key: 'failed', label: 'Failed', value: (p) => p.tasksFailed },
  { key: 'capability', label: 'Proven capability', na: true },
  { key: 'reputation', label: 'Reputation', na: true },
  { key: 'audit', label: 'Audit rate', na: true },
  { key: 'stake', label: 'Stake', na: true },
  { key: 'earnings', label: 'Earnings', na: true },
  { key: 'lastSeen', label: 'Last seen', value: (p) => p.lastSeen },
];

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
    case 'lastSeen':
      return h('td', { title: when(p.lastSeen) }, p.connected ? 'now' : ago(p.lastSeen));
    default:
      return h('td', { class: 'na', title: NA }, '—');
  }
}

/** @example app.replaceChildren(await renderProviders()); */
export async function renderProviders(): Promise<HTMLElement> {
  const { providers } = await getJson<{ providers: Provider[] }>('/v1/providers');
  const view = h('div', { class: 'view', 'data-view': 'providers' });
  const draw = () => {
    const col = COLUMNS.find((c) => c.key === sortKey);
    const rows = [...providers];
    if (col?.value) {
      const v = col.value;
      rows.sort((a, b) => {
        const x = v(a);
        const y = v(b);
        const d = typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y));
        return sortDesc ? -d : d;
      });
    }
    const head = h(
      'tr',
      {},
      COLUMNS.map((c) =>
        c.na
          ? h('th', { title: NA, class: 'na' }, c.label)
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
    const online = providers.filter((p) => p.connected).length;
    view.replaceChildren(
      h('h1', {}, 'Providers'),
      h(
        'p',
        { class: 'muted' },
        `${online} online of ${providers.length} known. Reputation, audit rate, stake and earnings: ${NA}.`,
      ),
      providers.length === 0
        ? empty(
            'No providers yet',
            'Providers appear here when their agent first connects to this coordinator.',
          )
        : tableWrap(
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
    );
  };
  draw();
  return view;
}
