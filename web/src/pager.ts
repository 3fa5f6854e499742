/**
 * Paging of long lists (issue 22): the jobs view shows one page and an "Older" link whose cursor
 * is the last job shown (`before=createdAt:id` of `GET /v1/jobs`), and "Newest" back to the start.
 */
import { h } from './dom.ts';

/** Jobs per page in the explorer. */
export const JOBS_PAGE = 50;

/** The `before` cursor of the page after one ending with `last`. */
export function cursorAfter(last: { createdAt: number; id: string }): string {
  return `${last.createdAt}:${last.id}`;
}

/**
 * Links to the newest page and the next older one (when the page was full).
 *
 * @example pager('#/jobs?status=running', jobs, before)
 */
export function pager(
  base: string,
  page: readonly { createdAt: number; id: string }[],
  before: string | null,
  size = JOBS_PAGE,
): HTMLElement {
  const sep = base.includes('?') ? '&' : '?';
  const last = page[page.length - 1];
  return h(
    'nav',
    { class: 'pager', 'aria-label': 'Pages' },
    before ? h('a', { href: base, 'data-page': 'newest' }, '« Newest') : null,
    last && page.length >= size
      ? h(
          'a',
          { href: `${base}${sep}before=${encodeURIComponent(cursorAfter(last))}`, 'data-page': 'older' },
          'Older »',
        )
      : null,
  );
}
