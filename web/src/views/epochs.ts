/** Epochs: the settlement table, empty until the coordinator settles epochs on chain. */
import { card, empty, h, tableWrap } from '../dom.ts';

const COLUMNS = [
  'Epoch',
  'Status',
  'Jobs settled',
  'Provider earnings',
  'Client charges',
  'Slashed',
  'Merkle root',
  'Transaction',
];

/** @example app.replaceChildren(await renderEpochs()); */
export async function renderEpochs(): Promise<HTMLElement> {
  return h(
    'div',
    { class: 'view', 'data-view': 'epochs' },
    h('h1', {}, 'Epochs'),
    card(
      'Settled epochs',
      tableWrap(
        h(
          'table',
          { class: 'table' },
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              COLUMNS.map((c) => h('th', {}, c)),
            ),
          ),
        ),
      ),
      empty(
        'Not available yet',
        'Each epoch the coordinator will publish a Merkle root of cumulative provider earnings on chain. Its status, totals and transaction hashes appear here once settlement lands in the API.',
      ),
    ),
  );
}
