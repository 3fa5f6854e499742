/**
 * One job: status, progress, spec, tasks with outputs and verdicts, each task's verification
 * (policy, audit draw, verdict, who agreed) and every attempt (assignment).
 */
import {
  blobUrlOf,
  getJson,
  type Job,
  type JobAssignments,
  type JobVerificationView,
  type JobWithTasks,
  type TaskVerification,
  type VerificationPolicy,
} from '../api.ts';
import { progress } from '../charts.ts';
import { jobCost, taskCost, taskTries } from '../cost.ts';
import { asCards, card, empty, h, tableWrap } from '../dom.ts';
import { ago, duration, shortHex, when } from '../format.ts';
import { renderFrames } from './renderFrames.ts';
import { trainingCard } from './training.ts';

/** `redundant (k=2)`, `audit`, `none`. */
export function policyText(p: VerificationPolicy | null): string {
  if (!p) return '—';
  return p.kind === 'redundant' ? `redundant (k=${p.k})` : p.kind;
}

/** The job's requested policy as the coordinator maps it (absent → audit, redundant → k=3). */
function jobPolicy(job: Job): VerificationPolicy {
  const v = job.spec.verification;
  if (!v) return { kind: 'audit' };
  return v.policy === 'redundant' ? { kind: 'redundant', k: v.k ?? 3 } : { kind: v.policy };
}

/** Verdict tag of a task: the verification status, `accepted` split by whether it was verified. */
function verdictTag(v: TaskVerification | undefined): HTMLElement {
  if (!v)
    return h(
      'span',
      { class: 'tag', title: 'no verification started: waiting for the first result' },
      'pending',
    );
  const label =
    v.status === 'accepted' ? (v.verified ? 'accepted · verified' : 'accepted · unverified') : v.status;
  const cls =
    v.status === 'accepted'
      ? v.verified
        ? 'completed'
        : 'unverified'
      : v.status === 'open'
        ? 'running'
        : 'failed';
  return h('span', { class: `tag ${cls}`, 'data-verdict': v.status }, label);
}

function auditText(v: TaskVerification): string {
  if (v.policy?.kind !== 'audit') return '—';
  return v.audit ? 'drawn' : 'not drawn';
}

function executionsList(v: TaskVerification): HTMLElement {
  return h(
    'span',
    { class: 'execs' },
    v.executions.map((e) =>
      h(
        'span',
        { class: `exec ${e.outcome}`, title: `${e.provider} · ${e.role} · ${e.outcome}` },
        providerLink(e.provider),
        ` ${e.role === 'primary' || e.role === 'replica' ? '' : `${e.role} `}${e.outcome}`,
      ),
    ),
  );
}

/** A cid: a download link for a public job's data, plain text (metadata only) for a private job's. */
function blobLink(job: Job, cid: string | null | undefined): HTMLElement | string {
  if (!cid) return '—';
  const href = blobUrlOf(job.spec, cid);
  return href
    ? h('a', { href, class: 'mono', title: cid, download: '' }, shortHex(cid, 12, 6))
    : h(
        'span',
        { class: 'mono', title: `${cid} (private: only the job's client can download it)`, 'data-cid': cid },
        shortHex(cid, 12, 6),
      );
}
function providerLink(address: string | null): HTMLElement | string {
  return address
    ? h('a', { href: `#/providers/${address}`, class: 'mono', title: address }, shortHex(address))
    : '—';
}

/**
 * A job's tasks, executions and verdicts are its client's (docs/verification.md "What the public
 * sees"): the page shows them when its link carries the client's signed read (`?read=`, printed by
 * `plexus job status`), the public part otherwise.
 *
 * @example app.replaceChildren(await renderJob('0xabc…', null));
 */
export async function renderJob(id: string, read: string | null): Promise<HTMLElement> {
  const auth: Record<string, string> = read ? { 'x-plexus-auth': read } : {};
  const path = `/v1/jobs/${encodeURIComponent(id)}`;
  const job = await getJson<JobWithTasks>(path, auth);
  // Whole for its client's signed read, or for anyone when the job is public (client shown).
  const mine = job.client !== null;
  const [{ assignments }, verification] = await Promise.all([
    mine ? getJson<JobAssignments>(`${path}/assignments`, auth) : { assignments: [] },
    mine ? getJson<JobVerificationView>(`${path}/verification`, auth) : { tasks: [] },
  ]);
  // Training jobs: the loss curve (views/training.ts).
  const training = job.kind === 'train.diloco' ? await trainingCard(job.id) : [];
  const finished = job.status === 'completed' || job.status === 'failed';
  const byIndex = new Map(verification.tasks.map((v) => [v.taskIndex, v]));
  const counts = { accepted: 0, verified: 0, open: 0, rejected: 0, disputed: 0, faults: 0 };
  for (const v of verification.tasks) {
    counts[v.status]++;
    if (v.verified) counts.verified++;
    counts.faults += v.faults.length;
  }
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
          h('dd', {}, blobLink(job, job.spec.model)),
          h('dt', {}, 'Client'),
          h('dd', { class: 'mono break' }, job.client ?? "shown to the job's client only"),
          h('dt', {}, 'Submitted'),
          h('dd', { title: when(job.createdAt) }, ago(job.createdAt)),
          h('dt', {}, finished ? 'Finished' : 'Updated'),
          h(
            'dd',
            { title: when(job.updatedAt) },
            `${ago(job.updatedAt)}${finished ? ` (took ${duration(job.updatedAt - job.createdAt)})` : ''}`,
          ),
          h('dt', {}, 'Cost'),
          h('dd', { 'data-testid': 'job-cost' }, jobCost(job)),
          h('dt', {}, 'Verification'),
          h('dd', { 'data-testid': 'job-policy' }, policyText(jobPolicy(job))),
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
        !mine
          ? empty(
              "Shown to the job's client",
              "Verdicts, like tasks and executions, are its client's: open the link `plexus job status` prints with the client's key.",
            )
          : verification.tasks.length === 0
            ? empty(
                'No verdicts yet',
                `Under ${policyText(jobPolicy(job))} each task is checked when its results arrive; verdicts appear here.`,
              )
            : h(
                'dl',
                { class: 'facts' },
                h('dt', {}, 'Policy'),
                h('dd', {}, policyText(jobPolicy(job))),
                h('dt', {}, 'Verdicts'),
                h(
                  'dd',
                  {},
                  `${counts.accepted} accepted (${counts.verified} verified) · ${counts.open} open · ${counts.rejected} rejected · ${counts.disputed} disputed`,
                ),
                h('dt', {}, 'Proven faults'),
                h('dd', { class: counts.faults > 0 ? 'bad-text' : '' }, String(counts.faults)),
              ),
      ),
    ),
    training,
    renderFrames(job) ?? [],
    card(
      mine ? `Tasks (${job.tasksTotal})` : 'Tasks',
      job.tasks.length === 0
        ? mine
          ? empty('No tasks', 'This job has no tasks.')
          : h(
              'div',
              { class: 'empty', 'data-private': '' },
              h('strong', {}, "Shown to the job's client"),
              h(
                'p',
                {},
                "A job's tasks are visible to its client only, so that no provider can tell a test task from real work.",
              ),
            )
        : tableWrap(
            asCards(
              h(
                'table',
                { class: 'table', 'data-table': 'tasks' },
                h(
                  'thead',
                  {},
                  h(
                    'tr',
                    {},
                    [
                      '#',
                      'Status',
                      'Attempts',
                      'Cost',
                      'Provider',
                      'Input',
                      'Output',
                      'Verdict',
                      'Last error',
                    ].map((t) => h('th', {}, t)),
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
                      h(
                        'td',
                        { class: 'num', title: 'tries at the output; replicas and audits are executions' },
                        taskTries(t),
                      ),
                      h('td', {}, taskCost(t)),
                      h('td', {}, providerLink(t.provider)),
                      h('td', {}, blobLink(job, t.input)),
                      h('td', {}, blobLink(job, t.output)),
                      h('td', {}, verdictTag(byIndex.get(t.index))),
                      h('td', { class: 'mono small' }, t.lastError ?? ''),
                    ),
                  ),
                ),
              ),
            ),
          ),
    ),
    verification.tasks.length === 0
      ? null
      : card(
          'Verification per task',
          tableWrap(
            asCards(
              h(
                'table',
                { class: 'table', 'data-table': 'verification' },
                h(
                  'thead',
                  {},
                  h(
                    'tr',
                    {},
                    ['#', 'Policy', 'Audit', 'Verdict', 'Executions', 'Agreed on the output', 'Faults'].map(
                      (t) => h('th', {}, t),
                    ),
                  ),
                ),
                h(
                  'tbody',
                  {},
                  verification.tasks.map((v) => {
                    // Unverified executions that agreed (no trusted member among them) agreed too.
                    const unchecked = v.executions.filter((e) => e.outcome === 'unverified');
                    const agreed = v.executions.filter(
                      (e) => e.outcome === 'valid' || (unchecked.length >= 2 && e.outcome === 'unverified'),
                    );
                    return h(
                      'tr',
                      { 'data-task': v.taskIndex },
                      h('td', { class: 'num' }, v.taskIndex),
                      h('td', {}, policyText(v.policy)),
                      h('td', {}, auditText(v)),
                      h('td', {}, verdictTag(v)),
                      h('td', {}, executionsList(v)),
                      h(
                        'td',
                        { 'data-agreed': agreed.length },
                        agreed.length === 0
                          ? v.status === 'accepted'
                            ? h('span', { class: 'muted' }, 'one result, not checked')
                            : '—'
                          : agreed.map((e, i) => [i > 0 ? ', ' : '', providerLink(e.provider)]),
                      ),
                      h(
                        'td',
                        { class: 'faults' },
                        v.faults.length === 0
                          ? '—'
                          : v.faults.map((f, i) => [
                              i > 0 ? '; ' : '',
                              providerLink(f.provider),
                              ` ${f.kind}`,
                              f.reasons[0] ? h('span', { class: 'muted small' }, ` (${f.reasons[0]})`) : null,
                            ]),
                      ),
                    );
                  }),
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
            asCards(
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
    ),
  );
}
