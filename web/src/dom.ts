/**
 * A tiny element builder. Everything from the network goes in as text nodes, never as HTML, so a
 * provider naming its region `<script>` shows exactly that.
 */
type Child = Node | string | number | null | undefined | false;
/** Children may nest in arrays to any depth (lists of lists from `map`); they are flattened. */
type Children = Child | Children[];
type Attrs = Record<string, string | number | boolean | null | undefined | ((e: Event) => void)>;

/**
 * Creates an element with attributes (`on…` functions become listeners) and children.
 * @example h('a', { href: '#/jobs', class: 'pill' }, 'Jobs')
 */
export function h(tag: string, attrs: Attrs = {}, ...children: Children[]): HTMLElement {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.slice(2).toLowerCase(), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el: HTMLElement, children: Children[]): void {
  for (const c of children) {
    if (Array.isArray(c)) append(el, c);
    else if (c === null || c === undefined || c === false) continue;
    else el.append(c instanceof Node ? c : String(c));
  }
}

/** Creates an SVG element (charts) with attributes and children. */
export function s(
  tag: string,
  attrs: Record<string, string | number> = {},
  ...children: (Node | string)[]
): SVGElement {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  el.append(...children);
  return el;
}

/** An empty state: what is missing and why, instead of a blank area or a made-up figure. */
export function empty(title: string, why: string): HTMLElement {
  return h('div', { class: 'empty', 'data-empty': '' }, h('strong', {}, title), h('p', {}, why));
}

/** Wraps a table so it scrolls sideways in a narrow window instead of squashing. */
export function tableWrap(table: HTMLElement): HTMLElement {
  return h('div', { class: 'table-wrap' }, table);
}

/**
 * Marks a list table to show each row as a card of `label value` lines in a narrow window (CSS
 * `table.cards`), instead of one wide row to scroll sideways: each cell gets its column's heading
 * as `data-label`.
 * @example tableWrap(asCards(h('table', …)))
 */
export function asCards(table: HTMLElement): HTMLElement {
  table.classList.add('cards');
  const labels = [...table.querySelectorAll('thead th')].map(
    (th) => th.textContent?.replace(/[▼▲]/g, '').trim() ?? '',
  );
  for (const tr of table.querySelectorAll('tbody tr'))
    [...tr.children].forEach((td, i) => {
      if (td instanceof HTMLElement) td.dataset.label = labels[i] ?? '';
    });
  return table;
}

/** A card with a heading. */
export function card(title: string, ...body: Children[]): HTMLElement {
  return h('section', { class: 'card' }, h('h2', {}, title), ...body);
}
