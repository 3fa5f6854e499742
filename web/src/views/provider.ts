/**
 * One provider: facts, hardware, reputation and audit rate, stake, earnings and rewards, proven
 * faults with their evidence, and its history (sessions and recent assignments).
 */
import {
  type Fault,
  getJson,
  getOptional,
  type Optional,
  type Provider,
  type ProviderHistory,
  type ProviderList,
} from '../api.ts';
import { stacked } from '../charts.ts';
import { asCards, card, empty, h, tableWrap } from '../dom.ts';
import { eligibilityFact } from '../eligibility.ts';
import { ago, bytes, duration, pct, shortHex, when } from '../format.ts';
import {
  claimable,
  exactPlx,
  type MaybeAmount,
  parseRewards,
  plx,
  providerMoney,
  type Rewards,
} from '../settlement.ts';
import { loadTimeline, timelineCard, timelineParams } from './providerHistory.ts';
import { capabilityText } from './providers.ts';

function fact(label: string, value: string | Node, title?: string): HTMLElement[] {
  return [h('dt', {}, label), h('dd', title ? { title } : {}, value)];
}

function amount(a: MaybeAmount): string | HTMLElement {
  return a.value === null
    ? h('span', { class: 'muted' }, a.why)
    : h('span', { title: exactPlx(a.value) }, plx(a.value));
}

function reputationCard(p: Provider): HTMLElement {
  const r = p.reputation;
  if (!r) return card('Reputation', empty('Not served', 'This coordinator does not report reputation.'));
  return card(
    'Reputation and audits',
    h(
      'dl',
      { class: 'facts', 'data-testid': 'reputation' },
      fact('Score', `${r.score.toFixed(3)}${r.trusted ? ' · trusted (may audit and break ties)' : ''}`),
      fact(
        'Audit rate',
        p.auditRate === undefined ? '—' : pct(p.auditRate),
        'chance that its next result is re-run',
      ),
      fact('Verified valid', String(r.verifiedValid)),
      fact('Valid in a row', String(r.consecutiveValid)),
      fact('Proven faults', String(r.faults)),
      fact('Timeouts', String(r.timeouts)),
      fact('Updated', ago(r.updatedAt), when(r.updatedAt)),
    ),
  );
}

function moneyCard(p: Provider, rewards: Optional<Rewards>): HTMLElement {
  const m = providerMoney(p);
  return card(
    'Stake, earnings and rewards',
    h(
      'dl',
      { class: 'facts', 'data-testid': 'money' },
      fact('Stake', amount(m.stake)),
      fact('Earnings', amount(m.earnings)),
      rewards.state === 'ok'
        ? [
            fact('Settled up to', `epoch ${rewards.data.epoch}`),
            fact(
              'In the rewards root',
              plx(rewards.data.cumulativeAmount),
              exactPlx(rewards.data.cumulativeAmount),
            ),
            fact('Claimed on chain', plx(rewards.data.claimed), exactPlx(rewards.data.claimed)),
            fact('Claimable now', plx(claimable(rewards.data)), exactPlx(claimable(rewards.data))),
            fact('Rewards root', h('span', { class: 'mono break' }, rewards.data.rewardsRoot)),
            fact('Merkle proof', `${rewards.data.proof.length} hashes`),
          ]
        : fact(
            'Rewards',
            rewards.state === 'absent'
              ? 'no earnings in a settled epoch yet (or this coordinator does not settle)'
              : rewards.message,
          ),
    ),
  );
}

function faultsCard(faults: Fault[]): HTMLElement {
  return card(
    `Proven faults (${faults.length})`,
    faults.length === 0
      ? empty(
          'No proven faults',
          'A result that loses a verification vote, fails a known-answer check or does not open its commitment is recorded here with its evidence.',
        )
      : tableWrap(
          asCards(
            h(
              'table',
              { class: 'table', 'data-table': 'faults' },
              h(
                'thead',
                {},
                h(
                  'tr',
                  {},
                  ['When', 'Job', 'Kind', 'Slashed', 'Evidence'].map((t) => h('th', {}, t)),
                ),
              ),
              h(
                'tbody',
                {},
                faults.map((f) =>
                  h(
                    'tr',
                    {},
                    h('td', { title: when(f.at) }, ago(f.at)),
                    h('td', {}, h('a', { href: `#/jobs/${f.jobId}`, class: 'mono' }, shortHex(f.jobId))),
                    h('td', {}, h('span', { class: 'tag failed' }, f.kind)),
                    h(
                      'td',
                      f.slashed ? { class: 'num', title: exactPlx(f.slashed) } : {},
                      f.slashed ? plx(f.slashed) : '—',
                    ),
                    h('td', { class: 'evidence' }, evidence(f)),
                  ),
                ),
              ),
            ),
          ),
        ),
  );
}

/** The fault's evidence, enough to re-check it: who agreed, which digests, why they differ. */
function evidence(f: Fault): HTMLElement | string {
  const e = f.evidence;
  if (!e) return '—';
  return h(
    'details',
    {},
    h('summary', {}, e.agreeing.length > 0 ? `outvoted by ${e.agreeing.length}` : 'details'),
    h(
      'dl',
      { class: 'facts compact' },
      fact('Task', h('span', { class: 'mono' }, shortHex(f.taskId, 10, 6))),
      fact(
        'Its digest',
        h('span', { class: 'mono' }, e.faultyDigest ? shortHex(e.faultyDigest, 10, 6) : 'none revealed'),
      ),
      fact(
        'Accepted',
        h('span', { class: 'mono' }, e.acceptedDigest ? shortHex(e.acceptedDigest, 10, 6) : '—'),
      ),
      fact(
        'Agreeing',
        h(
          'span',
          {},
          e.agreeing.length === 0
            ? '—'
            : e.agreeing.map((a, i) => [
                i > 0 ? ', ' : '',
                h('a', { href: `#/providers/${a}`, class: 'mono' }, shortHex(a)),
              ]),
        ),
      ),
      e.reasons.length > 0
        ? fact(
            'Why',
            h(
              'ul',
              { class: 'reasons' },
              e.reasons.map((r) => h('li', {}, r)),
            ),
          )
        : [],
    ),
  );
}

/** @example app.replaceChildren(await renderProvider('0xabc…', new URLSearchParams('range=day'))); */
export async function renderProvider(
  address: string,
  params: URLSearchParams = new URLSearchParams(),
): Promise<HTMLElement> {
  const { range, until } = timelineParams(params);
  const [{ providers }, history, rewards, timeline] = await Promise.all([
    getJson<ProviderList>('/v1/providers'),
    getJson<ProviderHistory>(`/v1/providers/${encodeURIComponent(address)}/history`),
    getOptional(`/v1/rewards/${encodeURIComponent(address.toLowerCase())}`, parseRewards),
    loadTimeline(address, range, until),
  ]);
  const p = providers.find((x) => x.address === history.address);
  if (!p)
    return h(
      'div',
      { class: 'view' },
      empty('Unknown provider', `No provider ${address} on this coordinator.`),
    );
  const counts = { completed: 0, leased: 0, failed: 0, expired: 0 };
  for (const a of history.assignments) counts[a.status]++;

  return h(
    'div',
    { class: 'view', 'data-view': 'provider' },
    h(
      'p',
      { class: 'crumbs' },
      h('a', { href: '#/providers' }, 'Providers'),
      ' / ',
      shortHex(p.address, 8, 6),
    ),
    h('h1', { class: 'mono break' }, p.address),
    h(
      'div',
      { class: 'grid' },
      card(
        'Provider',
        h(
          'dl',
          { class: 'facts' },
          fact(
            'Status',
            h(
              'span',
              { class: `tag ${p.connected ? 'online' : 'offline'}` },
              p.connected ? 'online' : 'offline',
            ),
          ),
          fact('Eligible for work', eligibilityFact(p)),
          fact('Region', p.region),
          fact('Load', `${p.active} of ${p.slots} slots busy`),
          fact('Tasks', `${p.tasksCompleted} completed · ${p.tasksFailed} failed`),
          fact('First seen', ago(p.firstSeen), when(p.firstSeen)),
          fact('Last seen', p.connected ? 'now' : ago(p.lastSeen), when(p.lastSeen)),
          fact('Agent', p.agentVersion),
        ),
      ),
      card(
        'Hardware (claimed)',
        h(
          'dl',
          { class: 'facts' },
          fact('CPU', `${p.hardware.cpuModel} (${p.hardware.cpuCores} cores)`),
          fact('Memory', bytes(p.hardware.memoryBytes)),
          fact(
            'GPUs',
            p.hardware.gpus.length === 0
              ? 'none'
              : p.hardware.gpus.map((g) => `${g.name} (${bytes(g.memoryMiB * 1024 * 1024)})`).join(', '),
          ),
          fact('Runtimes', p.hardware.executionProviders.join(', ') || '—'),
          fact('Proven capability', capabilityText(p.capability).text, capabilityText(p.capability).title),
        ),
      ),
      reputationCard(p),
      moneyCard(p, rewards),
      card(
        'Recent attempts',
        history.assignments.length === 0
          ? empty('No work yet', 'Assignments appear here when the scheduler gives this provider a task.')
          : stacked([
              { label: 'completed', value: counts.completed, cls: 'ok' },
              { label: 'running', value: counts.leased, cls: 'run' },
              { label: 'failed', value: counts.failed, cls: 'bad' },
              { label: 'lease expired', value: counts.expired, cls: 'off' },
            ]),
      ),
    ),
    timelineCard(p.address, timeline, range, until),
    faultsCard(history.faults),
    card(
      'Assignment history',
      history.assignments.length === 0
        ? empty('No assignments', 'Nothing assigned to this provider yet.')
        : tableWrap(
            asCards(
              h(
                'table',
                { class: 'table' },
                h(
                  'thead',
                  {},
                  h(
                    'tr',
                    {},
                    ['Job', 'Task', 'Status', 'Started', 'Took', 'Error'].map((t) => h('th', {}, t)),
                  ),
                ),
                h(
                  'tbody',
                  {},
                  history.assignments.map((a) =>
                    h(
                      'tr',
                      {},
                      h('td', {}, h('a', { href: `#/jobs/${a.jobId}`, class: 'mono' }, shortHex(a.jobId))),
                      h('td', { class: 'num' }, a.taskIndex),
                      h('td', {}, h('span', { class: `tag ${a.status}` }, a.status)),
                      h('td', { title: when(a.createdAt) }, ago(a.createdAt)),
                      h('td', {}, a.finishedAt === null ? '—' : duration(a.finishedAt - a.createdAt)),
                      h('td', { class: 'mono' }, a.errorCode ?? ''),
                    ),
                  ),
                ),
              ),
            ),
          ),
    ),
    card(
      'Sessions',
      history.sessions.length === 0
        ? empty('No sessions recorded', 'Connects and disconnects appear here.')
        : h(
            'ul',
            { class: 'feed' },
            history.sessions.map((e) =>
              h(
                'li',
                {},
                h(
                  'span',
                  { class: `tag ${e.type === 'provider.connected' ? 'online' : 'offline'}` },
                  e.type === 'provider.connected' ? 'connected' : 'disconnected',
                ),
                e.slots !== null ? h('span', {}, `${e.slots} slots · ${e.region ?? ''}`) : null,
                h('span', { class: 'muted', title: when(e.at) }, ago(e.at)),
              ),
            ),
          ),
    ),
  );
}
