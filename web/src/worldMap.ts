/**
 * A world map drawn from Natural Earth's land polygons (the `world-atlas` package the coordinator's
 * land mask uses too, its 1:110m edition here, bundled: no tile server, nothing fetched from
 * outside), in an equirectangular projection, with points on it. Loaded only by the sensors view.
 */
import { feature } from 'topojson-client';
import type { GeometryCollection, Topology } from 'topojson-specification';
import land from 'world-atlas/land-110m.json';
import { s } from './dom.ts';

/** Latitudes shown: Antarctica's interior holds no stations, and the map stays short. */
const NORTH = 84;
const SOUTH = -60;

type Ring = number[][];

function ringsOf(geometry: { type: string; coordinates: unknown }): Ring[] {
  if (geometry.type === 'Polygon') return geometry.coordinates as Ring[];
  if (geometry.type === 'MultiPolygon') return (geometry.coordinates as Ring[][]).flat();
  return [];
}

/** A point on the map: where, its colour class, and its tooltip. */
export type MapPoint = { lat: number; lon: number; cls: string; title: string; id: string };

/**
 * An SVG map `width` pixels wide with `points` as dots (a title on each), land in the theme's line
 * colour.
 *
 * @example card('Devices', worldMap(600, devices.map((d) => ({ lat: d.lat, lon: d.lon, cls: 'good', title: d.address, id: d.address }))));
 */
export function worldMap(width: number, points: MapPoint[]): SVGElement {
  const height = Math.round((width * (NORTH - SOUTH)) / 360);
  const x = (lon: number) => ((lon + 180) / 360) * width;
  const y = (lat: number) => ((NORTH - lat) / (NORTH - SOUTH)) * height;
  const topo = land as unknown as Topology<{ land: GeometryCollection }>;
  const geo = feature(topo, topo.objects.land) as unknown as {
    features: { geometry: { type: string; coordinates: unknown } }[];
  };
  let d = '';
  for (const f of geo.features)
    for (const ring of ringsOf(f.geometry)) {
      // A ring that crosses the antimeridian jumps from +180 to −180: start a new piece there
      // rather than draw a line across the whole map.
      let prev: number | undefined;
      for (const [lon, lat] of ring) {
        const jump = prev === undefined || Math.abs(lon! - prev) > 180;
        d += `${jump ? 'M' : 'L'}${x(lon!).toFixed(1)},${y(lat!).toFixed(1)}`;
        prev = lon;
      }
    }
  return s(
    'svg',
    {
      class: 'world-map',
      width,
      height,
      viewBox: `0 0 ${width} ${height}`,
      role: 'img',
      'aria-label': `map of ${points.length} devices`,
    },
    s('rect', { class: 'sea', x: 0, y: 0, width, height }),
    s('path', { class: 'land', d }),
    ...points.map((p) =>
      s(
        'circle',
        {
          class: `dot ${p.cls}`,
          cx: x(p.lon).toFixed(1),
          cy: y(Math.max(SOUTH, Math.min(NORTH, p.lat))).toFixed(1),
          r: 4,
          'data-device': p.id,
        },
        s('title', {}, p.title),
      ),
    ),
  );
}
