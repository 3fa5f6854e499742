/** The explorer: a hash router over four read-only views, re-rendered on live events. */
import './style.css';
import { ApiError, getJson, type Stats } from './api.ts';
import { h } from './dom.ts';
import { connectLive } from './live.ts';
import { renderEpochs } from './views/epochs.ts';
import { renderJob } from './views/job.ts';
import { renderJobs } from './views/jobs.ts';
import { renderOverview } from './views/overview.ts';
import { renderProvider } from './views/provider.ts';
import { renderProviders } from './views/providers.ts';
import { mountSearch, renderSearch } from './views/search.ts';
import { renderSensors } from './views/sensors.ts';
import { renderStorage } from './views/storage.ts';

type Route = { nav: string; render: () => Promise<HTMLElement> };
/** How often the jobs list and a job page re-read the coordinator while shown. */
const JOBS_POLL_MS = 2_000;

function route(hash: string): Route {
  const [path = '', query = ''] = hash.replace(/^#/, '').split('?');
  const parts = path.split('/').filter(Boolean);
  const params = new URLSearchParams(query);
  if (parts[0] === 'providers' && parts[1])
    return { nav: 'providers', render: () => renderProvider(parts[1]!, params) };
  if (parts[0] === 'providers') return { nav: 'providers', render: renderProviders };
  if (parts[0] === 'jobs' && parts[1])
    return { nav: 'jobs', render: () => renderJob(parts[1]!, params.get('read')) };
  if (parts[0] === 'jobs')
    return { nav: 'jobs', render: () => renderJobs(params.get('status'), params.get('before')) };
  if (parts[0] === 'epochs') return { nav: 'epochs', render: renderEpochs };
  if (parts[0] === 'sensors') return { nav: 'sensors', render: () => renderSensors(params.get('device')) };
  if (parts[0] === 'storage') return { nav: 'storage', render: renderStorage };
  if (parts[0] === 'search') return { nav: 'search', render: () => renderSearch(params.get('q') ?? '') };
  return { nav: 'overview', render: renderOverview };
}

const app = document.getElementById('app')!;
const banner = document.getElementById('banner')!;
const live = document.getElementById('live')!;
let generation = 0;
/** A render is under way: the jobs pages' poll waits for it (a slow page would never show). */
let rendering = false;

/**
 * Shows a failed render. The coordinator out of reach is a state of the whole page: a banner with
 * a retry, over the last good content when there is some. Any other failure (an unknown job, a bad
 * answer) belongs to the view: one error state in its place. Each message appears once.
 */
function showError(err: unknown): void {
  if (err instanceof ApiError && err.status === null) {
    banner.hidden = false;
    banner.className = 'banner error';
    banner.replaceChildren(
      h('strong', {}, 'Coordinator unreachable.'),
      ' This page refreshes by itself when the connection is back. ',
      h('button', { type: 'button', onclick: () => void render() }, 'Retry'),
    );
    if (!app.firstChild)
      app.replaceChildren(
        h(
          'div',
          { class: 'empty error-state', 'data-error': '' },
          h('strong', {}, 'Nothing loaded yet'),
          h('p', {}, 'The data appears here as soon as the coordinator answers.'),
        ),
      );
    return;
  }
  banner.hidden = true;
  app.replaceChildren(
    h(
      'div',
      { class: 'empty error-state', 'data-error': '' },
      h(
        'strong',
        {},
        err instanceof ApiError && err.code === 'PLX_NOT_FOUND' ? 'Not found' : 'Could not load this page',
      ),
      h('p', {}, err instanceof Error ? err.message : String(err)),
      h('button', { type: 'button', onclick: () => void render() }, 'Retry'),
    ),
  );
}

/** Renders the current route; a slower earlier render never overwrites a newer one. */
async function render(): Promise<void> {
  const mine = ++generation;
  rendering = true;
  const r = route(location.hash);
  for (const a of document.querySelectorAll<HTMLElement>('[data-nav]'))
    a.classList.toggle('active', a.dataset.nav === r.nav);
  try {
    const view = await r.render();
    if (mine !== generation) return;
    banner.hidden = true;
    app.replaceChildren(view);
  } catch (err) {
    if (mine !== generation) return;
    showError(err);
  } finally {
    if (mine === generation) rendering = false;
  }
}

function setLive(state: 'live' | 'reconnecting' | 'offline'): void {
  live.textContent = state === 'live' ? 'live' : state === 'reconnecting' ? 'reconnecting…' : 'offline';
  live.className = `live ${state}`;
  // Back after an outage: refresh the page's data rather than leave the error up.
  if (state === 'live' && !banner.hidden) void render();
}

async function start(): Promise<void> {
  mountSearch(document.getElementById('search') as HTMLFormElement);
  window.addEventListener('hashchange', () => {
    window.scrollTo(0, 0);
    void render();
  });
  await render();
  // Stream only what happens from now on; the views already show the state up to here.
  let after = 0;
  try {
    after = (await getJson<Stats>('/v1/stats')).lastEventId;
  } catch {
    setLive('offline');
  }
  connectLive(after, () => void render(), setLive);
  // Job events are their clients' (the network stream carries none): the jobs pages poll instead.
  setInterval(() => {
    if (!rendering && route(location.hash).nav === 'jobs' && document.visibilityState === 'visible')
      void render();
  }, JOBS_POLL_MS);
}

void start();
