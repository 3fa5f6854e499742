/**
 * Search (issue 22): a job id, an address (provider, sensor device or its owner, client), a
 * transaction hash (the epoch it settled) or a content id (jobs using it as model, input or output),
 * answered by `GET /v1/search`. One hit opens its page directly; several are listed.
 */

import type { SearchHit, SearchResult } from '../../../src/protocol/http/search.ts';
import { getJson } from '../api.ts';
import { empty, h } from '../dom.ts';

/** Where a hit's page is. */
export function hitHref(hit: SearchHit): string {
  switch (hit.type) {
    case 'job':
      return `#/jobs/${hit.id}`;
    case 'provider':
      return `#/providers/${hit.id}`;
    case 'device':
      return `#/sensors?device=${hit.id}`;
    case 'epoch':
      return `#/epochs?epoch=${hit.id}`;
  }
}

const ROLE_TEXT: Record<string, string> = {
  id: '',
  client: 'submitted by this address',
  owner: 'owned by this address',
  model: 'uses it as the model',
  input: 'uses it as an input',
  output: 'produced it as an output',
  'settlement-tx': 'settled by this transaction',
};

/**
 * Wires the search box in the page header: submitting it opens `#/search?q=…`.
 *
 * @example mountSearch(document.getElementById('search') as HTMLFormElement);
 */
export function mountSearch(form: HTMLFormElement): void {
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const q = new FormData(form).get('q')?.toString().trim() ?? '';
    if (q) location.hash = `#/search?q=${encodeURIComponent(q)}`;
  });
}

/** @example app.replaceChildren(await renderSearch('0xab…')); */
export async function renderSearch(q: string): Promise<HTMLElement> {
  const view = h('div', { class: 'view', 'data-view': 'search' }, h('h1', {}, 'Search'));
  if (!q) {
    view.append(
      empty('Nothing to search for', 'Type a job id, an address, a transaction hash or a content id above.'),
    );
    return view;
  }
  const r = await getJson<SearchResult>(`/v1/search?q=${encodeURIComponent(q)}`);
  if (r.hits.length === 1) {
    // One answer: go there (replacing the search in the history, so Back returns before it).
    location.replace(hitHref(r.hits[0]!));
  }
  view.append(h('p', { class: 'muted mono break' }, r.query));
  if (r.kind === 'unknown') {
    view.append(
      empty(
        'Not a known kind of id',
        'Search takes a job id or transaction hash (0x + 64 hex digits), an address (0x + 40 hex digits) or a content id (64 hex digits).',
      ),
    );
    return view;
  }
  if (r.hits.length === 0) {
    view.append(
      empty(
        'Nothing found',
        r.kind === 'hash'
          ? 'No job has this id and no epoch was settled by this transaction on this coordinator.'
          : r.kind === 'address'
            ? 'No provider, sensor device or client with this address is known to this coordinator.'
            : 'No job uses this content id as its model, an input or an output.',
      ),
    );
    return view;
  }
  view.append(
    h(
      'ul',
      { class: 'hits', 'data-testid': 'search-hits' },
      r.hits.map((hit) =>
        h(
          'li',
          { 'data-hit': hit.type },
          h('span', { class: 'tag' }, hit.type),
          ' ',
          h('a', { href: hitHref(hit), class: 'mono break' }, hit.id),
          ' ',
          h(
            'span',
            { class: 'muted' },
            [hit.label, ROLE_TEXT[hit.role] ?? hit.role].filter(Boolean).join(' · '),
          ),
        ),
      ),
    ),
  );
  return view;
}
