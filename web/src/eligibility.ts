/**
 * Marks providers the coordinator leases no work to (issue 22: an unstaked provider was listed like
 * the others): a "not eligible" tag whose tooltip says every reason with its next step, and the
 * full sentence for the provider page. A connected provider only: an offline one is already
 * marked offline. Coordinators that do not serve `eligibility` show nothing.
 */
import type { Provider } from './api.ts';
import { h } from './dom.ts';

/** Why a provider gets no work, one sentence per reason ('' when eligible or not served). */
export function ineligibleWhy(p: Provider): string {
  const e = p.eligibility;
  if (!e || e.eligible) return '';
  return e.reasons
    .filter((r) => r.code !== 'offline')
    .map((r) => r.message)
    .join('; ');
}

/**
 * The tag next to a connected provider's status, or null.
 *
 * @example h('td', {}, statusTag(p), eligibilityTag(p));
 */
export function eligibilityTag(p: Provider): HTMLElement | null {
  const why = ineligibleWhy(p);
  if (!p.connected || !why) return null;
  return h('span', { class: 'tag ineligible', title: why, 'data-eligible': 'no' }, 'not eligible');
}

/**
 * The provider page's "Eligible for work" value: yes, or no with every reason.
 *
 * @example fact('Eligible for work', eligibilityFact(p));
 */
export function eligibilityFact(p: Provider): HTMLElement | string {
  const e = p.eligibility;
  if (!e) return '—';
  if (e.eligible) return e.gpuWork ? 'yes (CPU and GPU work)' : 'yes';
  return h(
    'span',
    { class: 'ineligible-why', 'data-eligible': 'no' },
    h('span', { class: 'tag ineligible' }, 'no'),
    ' ',
    e.reasons.map((r) => r.message).join('; '),
  );
}
