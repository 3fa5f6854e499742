/**
 * What a job cost (issue 22): the charges the coordinator's ledger holds for it, in PLX, with the
 * escrow reservation as the tooltip; and a task's tries (attempts, never counting replicas and
 * audits) beside its executions. Coordinators that do not serve `cost` show a dash.
 */
import type { Job, Task } from './api.ts';
import { h } from './dom.ts';
import { exactPlx, plx } from './settlement.ts';

/** "0.0029 PLX" with the exact amount and the reservation as its tooltip. */
export function jobCost(job: Job): HTMLElement {
  const c = job.cost;
  if (!c)
    return h(
      'span',
      {
        class: 'na',
        title: job.client === null ? "shown to the job's client only" : 'not served by this coordinator',
      },
      '—',
    );
  const finished = job.status === 'completed' || job.status === 'failed';
  const reserved =
    c.worstCase === null
      ? 'no escrow reserved (development mode)'
      : `${exactPlx(c.worstCase)} ${finished ? 'was' : 'is'} reserved from the escrow as the worst case`;
  return h(
    'span',
    { class: 'num', 'data-cost': c.charged, title: `${exactPlx(c.charged)} charged; ${reserved}` },
    plx(c.charged),
    finished ? '' : ' so far',
  );
}

/** A task's cost, or a dash when nothing was charged (yet). */
export function taskCost(t: Task): HTMLElement {
  if (!t.cost || t.cost === '0') return h('span', { class: 'na' }, '—');
  return h('span', { class: 'num', title: exactPlx(t.cost) }, plx(t.cost));
}

/** "2" or "1 (3 executions)": tries at the output, and every execution once the task is decided. */
export function taskTries(t: Task): string {
  const executions =
    typeof t.executions === 'number' && t.executions > t.attempts ? ` (${t.executions} executions)` : '';
  return `${t.attempts}${executions}`;
}
