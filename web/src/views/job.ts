/** One job: status, progress, spec, tasks with outputs, and every attempt (assignment). */
import { type Assignment, blobUrl, getJson, type Job, type Task } from '../api.ts';
import { progress } from '../charts.ts';
import { card, empty, h, tableWrap } from '../dom.ts';
import { ago, duration, shortHex, when } from '../format.ts';

const NA = 'not available yet';

function blobLink(cid: string | null | undefined): HTMLElement | string {
  return cid
    ? h('a', { href: blobUrl(cid), class: 'mono', title: cid, download: '' }, shortHex(cid, 12, 6))
    : '—';
}
function providerLink(address: string | null): HTMLElement | string {
  return address
    ? h('a', { href: `#/providers/${address}`, class: 'mono', title: address }, shortHex(address))
    : '—';
}

/** @example app.replaceChildren(await renderJob('0xabc…')); */
export async function renderJob(id: string): Promise<HTMLElement> {
  const [job, { assignments }] = await Promise.all([
    getJson<Job & { tasks: Task[] }>(`/v1/jobs/${encodeURIComponent(id)}`),
    getJson<{ assignments: Assignment[] }>(`/v1/jobs/${encodeURIComponent(id)}/assignments`),
  ]);
  const finished = job.status === 'completed' || job.status === 'failed';
  return h(
    'div',
    { class: 'view', 'data-view': 'job' },
    h('p', { class: 'crumbs' }, h('a', { href: '#/jobs' }, 'Jobs'), ' / ', shortHex(job.id, 10, 6)),
    h('h1', { class: 'mono break' }, job.id),
    h(
      'div',
      { class: 'grid' },
      card(
        'Job',
        h(
          'dl',
          { class: 'facts' },
          h('dt', {}, 'Status'),
          h('dd', {}, h('span', { class: `tag ${job.status}`, 'data-testid': 'job-status' }, job.status)),
          h('dt', {}, 'Progress'),
          h('dd', {}, progress(job.tasksDone, job.tasksTotal)),
          h('dt', {}, 'Kind'),
          h('dd', {}, job.kind),
          job.spec.label ? [h('dt', {}, 'Label'), h('dd', {}, job.spec.label)] : [],
          h('dt', {}, 'Model'),
          h('dd', {}, blobLink(job.spec.model)),
          h('dt', {}, 'Client'),
          h('dd', { class: 'mono break' }, job.client),
          h('dt', {}, 'Submitted'),
          h('dd', { title: when(job.createdAt) }, ago(job.createdAt)),
          h('dt', {}, finished ? 'Finished' : 'Updated'),
          h(
            'dd',
            { title: when(job.updatedAt) },
            `${ago(job.updatedAt)}${finished ? ` (took ${duration(job.updatedAt - job.createdAt)})` : ''}`,
          ),
          job.spec.deadline ? [h('dt', {}, 'Deadline'), h('dd', {}, when(job.spec.deadline * 1000))] : [],
          job.error
            ? [
                h('dt', {}, 'Error'),
                h('dd', { class: 'bad-text' }, `${job.error.code}: ${job.error.message ?? ''}`),
              ]
            : [],
        ),
      ),
      card(
        'Verification',
        empty(
          NA,
          'Verdicts (accepted, rejected, disputed) per task appear here once the coordinator records them.',
        ),
      ),
    ),
    card(
      `Tasks (${job.tasksTotal})`,
      job.tasks.length === 0
        ? empty('No tasks', 'This job has no tasks.')
        : tableWrap(
            h(
              'table',
              { class: 'table', 'data-table': 'tasks' },
              h(
                'thead',
                {},
                h(
                  'tr',
                  {},
                  ['#', 'Status', 'Attempts', 'Provider', 'Input', 'Output', 'Verdict', 'Last error'].map(
                    (t) => h('th', {}, t),
                  ),
                ),
              ),
              h(
                'tbody',
                {},
                job.tasks.map((t) =>
                  h(
                    'tr',
                    {},
                    h('td', { class: 'num' }, t.index),
                    h('td', {}, h('span', { class: `tag ${t.status}` }, t.status)),
                    h('td', { class: 'num' }, t.attempts),
                    h('td', {}, providerLink(t.provider)),
                    h('td', {}, blobLink(t.input)),
                    h('td', {}, blobLink(t.output)),
                    h('td', { class: 'na', title: NA }, NA),
                    h('td', { class: 'mono small' }, t.lastError ?? ''),
                  ),
                ),
              ),
            ),
          ),
    ),
    card(
      `Assignments (${assignments.length})`,
      assignments.length === 0
        ? empty(
            'Not assigned yet',
            'Each attempt at a task on a provider appears here with its lease and outcome.',
          )
        : tableWrap(
            h(
              'table',
              { class: 'table', 'data-table': 'assignments' },
              h(
                'thead',
                {},
                h(
                  'tr',
                  {},
                  ['Task', 'Provider', 'Status', 'Started', 'Took', 'Error'].map((t) => h('th', {}, t)),
                ),
              ),
              h(
                'tbody',
                {},
                assignments.map((a) =>
                  h(
                    'tr',
                    {},
                    h('td', { class: 'num' }, a.taskIndex),
                    h('td', {}, providerLink(a.provider)),
                    h('td', {}, h('span', { class: `tag ${a.status}` }, a.status)),
                    h('td', { title: when(a.createdAt) }, ago(a.createdAt)),
                    h('td', {}, a.finishedAt === null ? '—' : duration(a.finishedAt - a.createdAt)),
                    h(
                      'td',
                      { class: 'mono small' },
                      a.error ? `${a.error.code}: ${a.error.message ?? ''}` : '',
                    ),
                  ),
                ),
              ),
            ),
          ),
    ),
  );
}
