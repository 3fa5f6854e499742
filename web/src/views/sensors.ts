/**
 * Sensors (issue 22): every registered device on a world map (Natural Earth land, web/src/worldMap.ts)
 * coloured by its latest quality score, and a table of devices with score and flags. `?device=`
 * highlights one (search hits link here). Data: `GET /v1/sensors/devices`, then each device's
 * latest score from `GET /v1/sensors/devices/:address` (at most 200 devices, 8 reads at a time).
 */
import type { SensorDeviceDetail, SensorDeviceList } from '../../../src/protocol/http/sensors.ts';
import { getJson } from '../api.ts';
import { card, empty, h, tableWrap } from '../dom.ts';
import { ago, shortHex, when } from '../format.ts';

const MAX_DEVICES = 200;

/** `good` ≥ 0.8, `fair` ≥ 0.5, `poor` below, `unscored` without a score yet. */
export function scoreClass(score: number | undefined): string {
  if (score === undefined) return 'unscored';
  return score >= 0.8 ? 'good' : score >= 0.5 ? 'fair' : 'poor';
}

async function details(addresses: string[]): Promise<SensorDeviceDetail[]> {
  const out: SensorDeviceDetail[] = [];
  for (let i = 0; i < addresses.length; i += 8) {
    const batch = await Promise.all(
      addresses.slice(i, i + 8).map((a) => getJson<SensorDeviceDetail>(`/v1/sensors/devices/${a}`)),
    );
    out.push(...batch);
  }
  return out;
}

/** @example app.replaceChildren(await renderSensors(null)); */
export async function renderSensors(selected: string | null): Promise<HTMLElement> {
  const { devices } = await getJson<SensorDeviceList>('/v1/sensors/devices');
  const view = h('div', { class: 'view', 'data-view': 'sensors' }, h('h1', {}, 'Sensors'));
  if (devices.length === 0) {
    view.append(
      empty(
        'No sensor devices yet',
        'Devices appear here once a provider registers them (plexus sensors register).',
      ),
    );
    return view;
  }
  const shown = devices.slice(0, MAX_DEVICES);
  const full = await details(shown.map((d) => d.address));
  const { worldMap } = await import('../worldMap.ts');
  const width = Math.max(300, Math.min(1100, (document.getElementById('app')?.clientWidth ?? 800) - 40));
  const points = full.map((d) => {
    const latest = d.scores[0];
    return {
      id: d.address,
      lat: d.lat,
      lon: d.lon,
      cls: `${scoreClass(latest?.score)}${d.address === selected ? ' selected' : ''}`,
      title: `${d.address} · ${d.model} · ${latest ? `score ${latest.score.toFixed(2)}${latest.flags.length ? ` · flags: ${latest.flags.join(', ')}` : ''}` : 'not scored yet'}`,
    };
  });
  view.append(
    h(
      'p',
      { class: 'muted' },
      `${devices.length} devices${devices.length > MAX_DEVICES ? ` (first ${MAX_DEVICES} shown)` : ''}. Colour: latest quality score (green ≥ 0.8, amber ≥ 0.5, red below, grey not scored yet).`,
    ),
    card('Where the devices are', h('div', { class: 'map-wrap' }, worldMap(width, points))),
    card(
      'Devices',
      tableWrap(
        h(
          'table',
          { class: 'table cards', 'data-table': 'sensors' },
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              ['Device', 'Score', 'Flags', 'Model', 'Position', 'Readings', 'Last seen', 'Owner'].map((t) =>
                h('th', {}, t),
              ),
            ),
          ),
          h(
            'tbody',
            {},
            full.map((d) => {
              const latest = d.scores[0];
              return h(
                'tr',
                { 'data-device': d.address, class: d.address === selected ? 'selected' : '' },
                h('td', { class: 'mono', title: d.address }, shortHex(d.address, 8, 6)),
                h(
                  'td',
                  { class: 'num' },
                  h(
                    'span',
                    { class: `tag score-${scoreClass(latest?.score)}` },
                    latest ? latest.score.toFixed(2) : 'not scored',
                  ),
                ),
                h('td', { class: 'small' }, latest?.flags.join(', ') || '—'),
                h('td', {}, d.model),
                h('td', { class: 'num' }, `${d.lat.toFixed(2)}, ${d.lon.toFixed(2)}`),
                h('td', { class: 'num' }, d.readingsTotal),
                h(
                  'td',
                  d.lastSeen ? { title: when(d.lastSeen) } : {},
                  d.lastSeen ? ago(d.lastSeen) : 'never',
                ),
                h('td', {}, h('a', { href: `#/providers/${d.owner}`, class: 'mono' }, shortHex(d.owner))),
              );
            }),
          ),
        ),
      ),
    ),
  );
  return view;
}
