/**
 * Epochs: the chain the coordinator settles on (`/v1/chain`) and every epoch with its status,
 * totals, rewards root and settlement transaction (`/v1/epochs`). Both answer 404 on a
 * coordinator that does not settle (no chain, or settlement not there yet): empty states, not
 * errors.
 */
import { getOptional, type Optional } from '../api.ts';
import { asCards, card, empty, h, tableWrap } from '../dom.ts';
import { ago, duration, shortHex, when } from '../format.ts';
import { type ChainInfo, type Epoch, exactPlx, parseChain, parseEpochs, plx } from '../settlement.ts';
import { txCell } from '../txLink.ts';

const COLUMNS = [
  'Epoch',
  'Status',
  'Window',
  'Tasks settled',
  'Provider earnings',
  'Client charges',
  'Protocol fees',
  'Slashed',
  'Emission',
  'Rewards root',
  'Validators',
  'Transaction',
  'Settled',
];

/** An error panel for one document that came back malformed or failed. */
function failed(what: string, message: string): HTMLElement {
  return h(
    'div',
    { class: 'empty error-state', 'data-error': '' },
    h('strong', {}, `${what} unavailable`),
    h('p', {}, message),
  );
}

function hashCell(hash: string | null, what: string): HTMLElement {
  return hash
    ? h('td', { class: 'mono', title: hash }, shortHex(hash, 8, 4))
    : h('td', { class: 'na', title: `no ${what} yet` }, '—');
}

/** Who signed the epoch and who disputes it (docs/validators.md): a dispute is what to look at first. */
function validatorsCell(e: Epoch): HTMLElement {
  const disputes = e.disputes.map((d) =>
    h(
      'span',
      { class: 'tag disputed', 'data-dispute': d.fact, title: `${d.validator} refuses: ${d.fact}` },
      `disputed: ${d.fact}`,
    ),
  );
  const signed =
    e.signers.length > 0
      ? h(
          'span',
          { title: e.signers.join('\n'), 'data-signers': e.signers.length },
          `${e.signers.length} signed`,
        )
      : null;
  if (!signed && disputes.length === 0)
    return h('td', { class: 'na', title: 'no validator answer yet' }, '—');
  return h('td', { class: 'validators' }, ...(signed ? [signed] : []), ...disputes);
}

function money(v: string): HTMLElement {
  return h('td', { class: 'num', title: exactPlx(v) }, plx(v));
}

function epochRow(e: Epoch, blockExplorerUrl?: string): HTMLElement {
  return h(
    'tr',
    { 'data-epoch': e.epoch },
    h('td', { class: 'num' }, e.epoch),
    h('td', {}, h('span', { class: `tag epoch-${e.status}` }, e.status)),
    h(
      'td',
      { title: `${when(e.startsAt)} – ${when(e.endsAt)}` },
      `${ago(e.startsAt)} · ${duration(e.endsAt - e.startsAt)}`,
    ),
    h('td', { class: 'num' }, e.tasksSettled),
    money(e.providerEarnings),
    money(e.clientCharges),
    money(e.protocolFees),
    money(e.slashed),
    money(e.emission),
    hashCell(e.rewardsRoot, 'rewards root'),
    validatorsCell(e),
    txCell(e.txHash, blockExplorerUrl),
    e.settledAt === null
      ? h('td', { class: 'na' }, '—')
      : h('td', { title: when(e.settledAt) }, ago(e.settledAt)),
  );
}

function chainCard(chain: Optional<ChainInfo>): HTMLElement {
  if (chain.state === 'absent')
    return card(
      'Chain',
      empty(
        'No chain',
        'This coordinator runs without a chain (or does not serve /v1/chain yet): nothing is settled on chain.',
      ),
    );
  if (chain.state === 'error') return card('Chain', failed('Chain', chain.message));
  const c = chain.data;
  const addr = (label: string, a: string) => [h('dt', {}, label), h('dd', { class: 'mono break' }, a)];
  return card(
    'Chain',
    h(
      'dl',
      { class: 'facts', 'data-testid': 'chain' },
      h('dt', {}, 'Chain id'),
      h('dd', {}, String(c.chainId)),
      h('dt', {}, 'Epoch length'),
      h('dd', {}, duration(c.epochDuration * 1000)),
      addr('Token (PLX)', c.token),
      addr('Registry', c.registry),
      addr('Escrow', c.escrow),
      addr('Settlement', c.settlement),
    ),
  );
}

/** @example app.replaceChildren(await renderEpochs()); */
export async function renderEpochs(): Promise<HTMLElement> {
  const [chain, epochs] = await Promise.all([
    getOptional('/v1/chain', parseChain),
    getOptional('/v1/epochs', parseEpochs),
  ]);
  let body: HTMLElement;
  if (epochs.state === 'absent')
    body = empty(
      'No settlement on this coordinator',
      'It does not serve /v1/epochs (no chain, or settlement not there yet). Each epoch, a coordinator with a chain publishes a Merkle root of cumulative provider earnings on chain; its status, totals and transaction appear here.',
    );
  else if (epochs.state === 'error') body = failed('Epochs', epochs.message);
  else if (epochs.data.length === 0)
    body = empty('No epochs yet', 'The first epoch appears here when it opens.');
  else
    body = tableWrap(
      asCards(
        h(
          'table',
          { class: 'table', 'data-table': 'epochs' },
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              COLUMNS.map((c) => h('th', {}, c)),
            ),
          ),
          h(
            'tbody',
            {},
            epochs.data.map((e) =>
              epochRow(e, chain.state === 'ok' ? chain.data.blockExplorerUrl : undefined),
            ),
          ),
        ),
      ),
    );
  return h(
    'div',
    { class: 'view', 'data-view': 'epochs' },
    h('h1', {}, 'Epochs'),
    card('Epochs, newest first', body),
    chainCard(chain),
  );
}
