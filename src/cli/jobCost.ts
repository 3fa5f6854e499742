/**
 * How `plexus job status`, `job results` and `job submit` say what a job cost (issue 22: no command
 * showed it) and how often each task was tried. Amounts in PLX for people; `--json` keeps the
 * coordinator's base units. No imports beyond format.ts: `job status` must start fast.
 */
import type { JobWithTasks, RevokedOutput } from '../protocol/http/jobs.ts';
import { formatPlx, localTime, plural } from './format.ts';

type CostOf = { cost?: { charged: string; worstCase: string | null } | null | undefined };

/**
 * One line: what the job was charged, and what admission reserved for it while it runs.
 *
 * @example costLine({ status: 'completed', cost: { charged: '2880000000000000', worstCase: '28800000000000000000' } });
 * // '0.00288 PLX charged (28.8 PLX was reserved from the escrow as the worst case)'
 */
export function costLine(job: CostOf & { status: string; client?: string | null }): string {
  // A job read by someone other than its client (or unsigned) shows no client and no cost.
  if (job.client === null) return "shown to the job's client only (sign the read: --keystore)";
  if (!job.cost) return 'not reported by this coordinator';
  const charged = formatPlx(BigInt(job.cost.charged));
  const finished = job.status === 'completed' || job.status === 'failed';
  if (job.cost.worstCase === null)
    return `${charged} charged${finished ? '' : ' so far'} (no escrow reserved: development mode)`;
  const worst = formatPlx(BigInt(job.cost.worstCase));
  return finished
    ? `${charged} charged (${worst} was reserved from the escrow as the worst case)`
    : `${charged} charged so far; up to ${worst} reserved from the escrow until it ends`;
}

/**
 * What a revoked output became (docs/verification.md "Caught: unchecked outputs re-run"): the
 * delivered cid, its replacement, how many trusted checks overturned it and whether the client is
 * refunded the task's charges.
 *
 * @example revokedLine({ replacement: 'cd', checkedBy: ['0xa', '0xb'], refund: true, at: 0 }, 'ab');
 * // 'output ab revoked: replaced by cd (2 trusted checks disagreed with it; its charges refunded)'
 */
export function revokedLine(r: RevokedOutput, delivered: string | null): string {
  const checks = plural(r.checkedBy.length, 'trusted check');
  const refund = r.refund ? 'its charges refunded' : 'no refund';
  return `output ${delivered ?? ''}${delivered ? ' ' : ''}revoked: replaced by ${r.replacement} (${checks} disagreed with it; ${refund})`;
}

/**
 * The human form of `plexus job status`: the job, its cost, and one line per task with its tries
 * (never counting replicas and audits, which are executions) and its cost.
 *
 * @example for (const line of jobStatusLines(job)) console.log(line);
 */
export function jobStatusLines(job: JobWithTasks | (Omit<JobWithTasks, 'cost'> & CostOf)): string[] {
  const lines = [
    `job ${job.id}`,
    `  status   ${job.status}`,
    `  tasks    ${job.tasksTotal === null ? "shown to the job's client only (sign the read: --keystore)" : `${job.tasksDone}/${job.tasksTotal} done`}`,
    `  cost     ${costLine(job)}`,
    `  created  ${localTime(new Date(job.createdAt))}`,
  ];
  if (job.error) lines.push(`  error    ${job.error.code}: ${job.error.message}`);
  for (const t of job.tasks ?? []) {
    const tries = plural(t.attempts, 'attempt');
    const extra =
      typeof t.executions === 'number' && t.executions > t.attempts
        ? ` (${plural(t.executions, 'execution')} with replicas or audits)`
        : '';
    const cost = typeof t.cost === 'string' && t.cost !== '0' ? `  ${formatPlx(BigInt(t.cost))}` : '';
    lines.push(
      `  #${t.index} ${t.status.padEnd(9)} ${tries}${extra}${cost}${t.provider ? `  on ${t.provider}` : ''}${t.lastError ? `  last error: ${t.lastError}` : ''}`,
    );
    if (t.revoked) lines.push(`     ${revokedLine(t.revoked, t.output)}`);
  }
  return lines;
}
