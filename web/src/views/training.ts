/**
 * A training job's rounds (`train.diloco`, docs/training.md) on its job page: the loss curve
 * (training loss of the accepted updates and loss on the client's held-out shard), the held-out
 * accuracy per round, and a table of the rounds. Data: `GET /v1/jobs/:id/training`.
 */
import { getJson, type TrainingView } from '../api.ts';
import { lines } from '../charts.ts';
import { card, empty, h, tableWrap } from '../dom.ts';
import { ago, shortHex, when } from '../format.ts';

/**
 * The training card of a job page.
 * @example const el = await trainingCard('0xabc…');
 */
export async function trainingCard(jobId: string): Promise<HTMLElement> {
  const t = await getJson<TrainingView>(`/v1/jobs/${encodeURIComponent(jobId)}/training`);
  const rounds = t.history;
  const head = h(
    'p',
    { 'data-testid': 'training-progress' },
    `${t.roundsDone} of ${t.rounds} rounds closed, ${t.workers} worker${t.workers === 1 ? '' : 's'} a round`,
    t.final
      ? [' · final weights ', h('span', { class: 'mono', title: t.final }, shortHex(t.final, 10, 6))]
      : [],
  );
  if (rounds.length === 0)
    return card(
      'Training',
      head,
      empty('No round closed yet', 'The loss curve appears when round 1 closes.'),
    );
  const points = rounds.map((r) => ({ x: r.round + 1, values: [r.loss, r.validation?.loss ?? null] }));
  const hasHeldout = rounds.some((r) => r.validation);
  return card(
    'Training',
    head,
    h(
      'div',
      { 'data-testid': 'loss-curve' },
      lines(points, ['training loss', 'held-out loss'], (v) => v.toFixed(2), { label: 'loss per round' }),
    ),
    hasHeldout
      ? h(
          'div',
          { 'data-testid': 'accuracy-curve' },
          lines(
            rounds.map((r) => ({ x: r.round + 1, values: [r.validation?.accuracy ?? null] })),
            ['held-out accuracy'],
            (v) => `${(100 * v).toFixed(0)}%`,
            { top: 1, label: 'held-out accuracy per round' },
          ),
        )
      : [],
    tableWrap(
      h(
        'table',
        { 'data-testid': 'training-rounds' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ['Round', 'Training loss', 'Held-out loss', 'Held-out accuracy', 'Closed'].map((c) =>
              h('th', {}, c),
            ),
          ),
        ),
        h(
          'tbody',
          {},
          rounds.map((r) =>
            h(
              'tr',
              {},
              h('td', {}, String(r.round + 1)),
              h('td', {}, r.loss.toFixed(4)),
              h('td', {}, r.validation ? r.validation.loss.toFixed(4) : '—'),
              h('td', {}, r.validation ? `${(100 * r.validation.accuracy).toFixed(2)}%` : '—'),
              h('td', { title: when(r.closedAt) }, ago(r.closedAt)),
            ),
          ),
        ),
      ),
    ),
  );
}
