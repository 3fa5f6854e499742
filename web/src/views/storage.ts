/**
 * Storage: what the storage network keeps (`/v1/storage/stats`, docs/storage.md) — objects and
 * bytes stored, pieces by health (a piece is lost when its holder failed a challenge, repairing
 * while it is rebuilt on another holder), the providers holding them and the latest challenge
 * faults. A coordinator without the storage network answers 404: an empty state, not an error.
 */

import type { StorageStatsView } from '../../../src/protocol/http/storage.ts';
import { getOptional } from '../api.ts';
import { asCards, card, empty, h, tableWrap } from '../dom.ts';
import { ago, bytes, shortHex, when } from '../format.ts';

const HEALTH = ['healthy', 'pending', 'repairing', 'lost', 'dropped'] as const;

function parseStats(json: unknown): StorageStatsView {
  const s = json as StorageStatsView;
  if (typeof s?.pieces?.healthy !== 'number' || !Array.isArray(s.faults?.recent))
    throw new Error('malformed /v1/storage/stats');
  return s;
}

function facts(s: StorageStatsView): HTMLElement {
  const row = (label: string, value: string, key: string) => [
    h('dt', {}, label),
    h('dd', { 'data-fact': key }, value),
  ];
  return h(
    'dl',
    { class: 'facts', 'data-testid': 'storage-facts' },
    ...row('Objects stored', String(s.objects.stored), 'stored'),
    ...row('Objects being placed', String(s.objects.placing), 'placing'),
    ...row('Bytes stored', bytes(s.storedBytes), 'bytes'),
    ...row('Holders', String(s.holders), 'holders'),
    ...row('Challenge window', String(s.lastWindow), 'window'),
    ...row('Faults so far', String(s.faults.total), 'faults'),
  );
}

function health(s: StorageStatsView): HTMLElement {
  return h(
    'table',
    { class: 'table', 'data-table': 'piece-health' },
    h('thead', {}, h('tr', {}, h('th', {}, 'Piece health'), h('th', {}, 'Pieces'))),
    h(
      'tbody',
      {},
      HEALTH.map((k) =>
        h(
          'tr',
          { 'data-health': k },
          h('td', {}, h('span', { class: `tag piece-${k}` }, k)),
          h('td', { class: 'num' }, String(s.pieces[k])),
        ),
      ),
    ),
  );
}

function faults(s: StorageStatsView): HTMLElement {
  if (s.faults.recent.length === 0)
    return empty('No faults', 'Every holder answered every challenge so far.');
  return tableWrap(
    asCards(
      h(
        'table',
        { class: 'table', 'data-table': 'storage-faults' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ['Provider', 'Reason', 'Window', 'When'].map((c) => h('th', {}, c)),
          ),
        ),
        h(
          'tbody',
          {},
          s.faults.recent.map((f) =>
            h(
              'tr',
              { 'data-fault': f.reason },
              h(
                'td',
                { class: 'mono', title: f.provider },
                h('a', { href: `#/providers/${f.provider}` }, shortHex(f.provider)),
              ),
              h('td', {}, f.reason),
              h('td', { class: 'num' }, String(f.window)),
              h('td', { title: when(f.at) }, ago(f.at)),
            ),
          ),
        ),
      ),
    ),
  );
}

/** @example app.replaceChildren(await renderStorage()); */
export async function renderStorage(): Promise<HTMLElement> {
  const stats = await getOptional('/v1/storage/stats', parseStats);
  const view = (...body: HTMLElement[]) =>
    h('div', { class: 'view', 'data-view': 'storage' }, h('h1', {}, 'Storage'), ...body);
  if (stats.state === 'absent')
    return view(
      card(
        'Storage',
        empty(
          'No storage network here',
          'This coordinator does not run the storage network (/v1/storage/stats).',
        ),
      ),
    );
  if (stats.state === 'error')
    return view(
      card(
        'Storage',
        h(
          'div',
          { class: 'empty error-state', 'data-error': '' },
          h('strong', {}, 'Storage unavailable'),
          h('p', {}, stats.message),
        ),
      ),
    );
  const s = stats.data;
  return view(
    card('What the network keeps', facts(s)),
    card('Pieces by health', health(s)),
    card('Latest challenge faults', faults(s)),
  );
}
