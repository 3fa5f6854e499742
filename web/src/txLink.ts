/**
 * Transaction hashes link to the block explorer the coordinator's operator configured
 * (`plexus coordinator --block-explorer-url`, served as `blockExplorerUrl` in `/v1/chain`), as
 * `URL/tx/HASH`; without one they stay plain text (issue 22).
 */
import { h } from './dom.ts';
import { shortHex } from './format.ts';

/**
 * A table cell with a transaction hash, linked when a block explorer is configured.
 *
 * @example txCell(e.txHash, chain.blockExplorerUrl)
 */
export function txCell(hash: string | null, blockExplorerUrl: string | undefined): HTMLElement {
  if (!hash) return h('td', { class: 'na', title: 'no settlement transaction yet' }, '—');
  const text = shortHex(hash, 8, 4);
  if (!blockExplorerUrl || !/^https?:\/\//.test(blockExplorerUrl))
    return h('td', { class: 'mono', title: hash }, text);
  return h(
    'td',
    { class: 'mono', title: hash },
    h(
      'a',
      {
        href: `${blockExplorerUrl.replace(/\/+$/, '')}/tx/${hash}`,
        rel: 'noopener',
        target: '_blank',
        'data-tx': hash,
      },
      text,
    ),
  );
}
