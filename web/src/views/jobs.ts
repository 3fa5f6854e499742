/** Jobs: newest first, filterable by status, with progress. */
import { getJson, type JobList } from '../api.ts';
import { progress } from '../charts.ts';
import { jobCost } from '../cost.ts';
import { asCards, empty, h, tableWrap } from '../dom.ts';
import { ago, shortHex, when } from '../format.ts';
import { JOBS_PAGE, pager } from '../pager.ts';

const STATUSES = ['queued', 'running', 'completed', 'failed'] as const;

/** @example app.replaceChildren(await renderJobs('running')); */
export async function renderJobs(status: string | null, before: string | null = null): Promise<HTMLElement> {
  const filter = STATUSES.find((s) => s === status) ?? null;
  const { jobs } = await getJson<JobList>(
    `/v1/jobs?limit=${JOBS_PAGE}${filter ? `&status=${filter}` : ''}${before ? `&before=${encodeURIComponent(before)}` : ''}`,
  );
  const base = filter ? `#/jobs?status=${filter}` : '#/jobs';
  return h(
    'div',
    { class: 'view', 'data-view': 'jobs' },
    h('h1', {}, 'Jobs'),
    h(
      'nav',
      { class: 'filters', 'aria-label': 'Filter by status' },
      h('a', { href: '#/jobs', class: filter === null ? 'active' : '' }, 'all'),
      STATUSES.map((s) => h('a', { href: `#/jobs?status=${s}`, class: filter === s ? 'active' : '' }, s)),
    ),
    jobs.length === 0
      ? empty(
          filter ? `No ${filter} jobs` : 'No jobs yet',
          before ? 'No older jobs.' : `Jobs appear here as clients submit them (${JOBS_PAGE} a page).`,
        )
      : tableWrap(
          asCards(
            h(
              'table',
              { class: 'table', 'data-table': 'jobs' },
              h(
                'thead',
                {},
                h(
                  'tr',
                  {},
                  ['Job', 'Status', 'Progress', 'Cost', 'Kind', 'Label', 'Client', 'Submitted'].map((t) =>
                    h('th', {}, t),
                  ),
                ),
              ),
              h(
                'tbody',
                {},
                jobs.map((j) =>
                  h(
                    'tr',
                    { 'data-job': j.id },
                    h(
                      'td',
                      {},
                      h('a', { href: `#/jobs/${j.id}`, class: 'mono', title: j.id }, shortHex(j.id, 10, 6)),
                    ),
                    h('td', {}, h('span', { class: `tag ${j.status}` }, j.status)),
                    h('td', {}, progress(j.tasksDone, j.tasksTotal)),
                    h('td', {}, jobCost(j)),
                    h('td', {}, j.kind),
                    h('td', {}, j.spec.label ?? ''),
                    h(
                      'td',
                      { class: 'mono', title: j.client ?? "shown to the job's client only" },
                      j.client ? shortHex(j.client) : '—',
                    ),
                    h('td', { title: when(j.createdAt) }, ago(j.createdAt)),
                  ),
                ),
              ),
            ),
          ),
        ),
    pager(base, jobs, before),
  );
}
