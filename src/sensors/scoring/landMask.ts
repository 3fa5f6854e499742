import { createRequire } from 'node:module';
import { feature } from 'topojson-client';
import type { Topology } from 'topojson-specification';

type Ring = number[][];
type Polygon = { rings: Ring[]; minLon: number; maxLon: number; minLat: number; maxLat: number };

let polygons: Polygon[] | undefined;

/** Natural Earth 1:50m land polygons from the `world-atlas` package (loaded once, on first use). */
function landPolygons(): Polygon[] {
  if (polygons) return polygons;
  const topo = createRequire(import.meta.url)('world-atlas/land-50m.json') as Topology;
  const land = feature(topo, topo.objects.land!) as unknown as {
    features: { geometry: { type: string; coordinates: number[][][] | number[][][][] } }[];
  };
  polygons = [];
  for (const f of land.features) {
    const g = f.geometry;
    const polys = (g.type === 'Polygon' ? [g.coordinates] : g.coordinates) as number[][][][];
    for (const rings of polys) {
      let minLon = 180,
        maxLon = -180,
        minLat = 90,
        maxLat = -90;
      for (const [lon, lat] of rings[0]!) {
        minLon = Math.min(minLon, lon!);
        maxLon = Math.max(maxLon, lon!);
        minLat = Math.min(minLat, lat!);
        maxLat = Math.max(maxLat, lat!);
      }
      polygons.push({ rings, minLon, maxLon, minLat, maxLat });
    }
  }
  return polygons;
}

function inRing(lon: number, lat: number, ring: Ring): boolean {
  let inside = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const [xi, yi] = ring[i] as [number, number];
    const [xj, yj] = ring[j] as [number, number];
    if (yi > lat !== yj > lat && lon < ((xj - xi) * (lat - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

function pointOnLand(lat: number, lon: number): boolean {
  for (const p of landPolygons()) {
    if (lon < p.minLon || lon > p.maxLon || lat < p.minLat || lat > p.maxLat) continue;
    if (!inRing(lon, lat, p.rings[0]!)) continue;
    if (p.rings.slice(1).some((hole) => inRing(lon, lat, hole))) continue;
    return true;
  }
  return false;
}

/**
 * Whether a position is on land, by Natural Earth's 1:50m land polygons (world-atlas). The 1:50m
 * coastline is a few km off in places, so a point within about 10 km of land counts as land
 * (a station on a pier or a small island is not "at sea"); lakes count as land.
 *
 * @example isOnLand(52.37, 4.9); // true (Amsterdam) — isOnLand(0, -30); // false (Atlantic)
 */
export function isOnLand(lat: number, lon: number): boolean {
  if (pointOnLand(lat, lon)) return true;
  const d = 0.09; // ≈ 10 km of latitude
  const dl = d / Math.max(0.1, Math.cos((lat * Math.PI) / 180));
  for (const [a, b] of [
    [d, 0],
    [-d, 0],
    [0, dl],
    [0, -dl],
    [d, dl],
    [d, -dl],
    [-d, dl],
    [-d, -dl],
  ] as const) {
    const la = lat + a;
    const lo = lon + b;
    if (Math.abs(la) <= 90 && Math.abs(lo) <= 180 && pointOnLand(la, lo)) return true;
  }
  return false;
}
