/** One provider: facts, hardware, and its history (sessions and recent assignments). */
import { getJson, type Provider, type ProviderHistory } from '../api.ts';
import { stacked } from '../charts.ts';
import { card, empty, h, tableWrap } from '../dom.ts';
import { ago, bytes, duration, shortHex, when } from '../format.ts';

const NA = 'not available yet';

function fact(label: string, value: string | Node, title?: string): HTMLElement[] {
  return [h('dt', {}, label), h('dd', title ? { title } : {}, value)];
}

/** @example app.replaceChildren(await renderProvider('0xabc…')); */
export async function renderProvider(address: string): Promise<HTMLElement> {
  const [{ providers }, history] = await Promise.all([
    getJson<{ providers: Provider[] }>('/v1/providers'),
    getJson<ProviderHistory>(`/v1/providers/${encodeURIComponent(address)}/history`),
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
          fact('Proven capability', NA),
        ),
      ),
      card(
        'Reputation, stake and earnings',
        empty(
          NA,
          'Reputation, audit rate, stake and earnings appear here once verification and settlement land.',
        ),
      ),
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
    card(
      'Assignment history',
      history.assignments.length === 0
        ? empty('No assignments', 'Nothing assigned to this provider yet.')
        : tableWrap(
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
