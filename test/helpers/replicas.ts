/**
 * Coordinator replicas on one PostgreSQL database as real OS processes, and scripted provider
 * fleets (the coordinator-load bench's driver: signed sessions, inputs read, signed results) for
 * the replica and failover tests.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Kysely } from 'kysely';
import { type NodeChild, spawnNode, spawnPlexus } from '../../src/devnet/spawnNode.ts';
import { encodeSafetensors } from '../../src/protocol/safetensors.ts';

const DRIVER = fileURLToPath(new URL('../../bench/coordinator-load.ts', import.meta.url));
const logged = process.env.PLEXUS_TEST_LOG;
const print = logged ? (l: string) => console.error(l) : () => {};
const env = { PLEXUS_LOG_LEVEL: logged ?? 'warn' };

/**
 * `plexus coordinator --store URL` with its own data folder (no folder is shared between
 * replicas); resolves once it listens.
 *
 * @example const a = await startReplica('a', dir, database.url);
 */
export async function startReplica(
  name: string,
  dir: string,
  store: string,
  extra: string[] = [],
): Promise<{ child: NodeChild; url: string }> {
  const child = spawnPlexus(
    `replica-${name}`,
    [
      'coordinator',
      '--port',
      '0',
      '--data-dir',
      join(dir, `replica-${name}`),
      '--store',
      store,
      '--rate-limit-per-minute',
      '100000000',
      ...extra,
    ],
    { env, print, showLevel: logged ? 30 : 40 },
  );
  const { url } = await child.waitFor<{ url: string }>('PLEXUS_COORDINATOR_READY', 180_000);
  return { child, url };
}

/**
 * `n` scripted providers connected to `url` in one process; resolves once all are welcomed.
 *
 * @example const fleet = await startFleet('a', a.url, 3);
 */
export async function startFleet(name: string, url: string, n: number): Promise<NodeChild> {
  const child = spawnNode(`providers-${name}`, ['--import', 'tsx', DRIVER, '--driver', url, String(n)], {
    env,
    print,
    showLevel: 50,
  });
  await child.waitFor('PLEXUS_PROVIDERS_READY', 180_000);
  return child;
}

/** A tiny input tensor file for task `i` (the detection model's input name; as the bench's). */
export function tinyInput(i: number): Uint8Array {
  const data = new Float32Array(3 * 32 * 32);
  for (let k = 0; k < data.length; k++) data[k] = ((i * 2654435761 + k * 40503) % 1000) / 1000;
  return encodeSafetensors({ x: { dtype: 'float32', shape: [1, 3, 32, 32], data } });
}

/** `plexus_<name>` (a counter without labels) from a coordinator's /metrics. */
export async function metricOf(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = new RegExp(`^plexus_${name}(?:\\{[^}]*\\})? (\\d+(?:\\.\\d+)?)`, 'm').exec(text);
  return m ? Number(m[1]) : Number.NaN;
}

/**
 * Tasks of `jobId` that one provider was leased twice (a replica's lease racing another's for the
 * same execution would do that, or give one execution two providers: the caller counts those).
 *
 * @example assert.deepEqual(await doubleLeases(db, jobId), []);
 */
export async function doubleLeases(
  // biome-ignore lint/suspicious/noExplicitAny: any store's Kysely (the test reads plain tables)
  db: Kysely<any>,
  jobId: string,
): Promise<string[]> {
  const rows = (await db
    .selectFrom('assignments')
    .select(['task_id', 'provider', 'status'])
    .where('job_id', '=', jobId)
    .execute()) as { task_id: string; provider: string; status: string }[];
  const byTask = new Map<string, { provider: string; status: string }[]>();
  for (const r of rows) byTask.set(r.task_id, [...(byTask.get(r.task_id) ?? []), r]);
  const bad: string[] = [];
  for (const [task, list] of byTask) {
    const providers = new Set(list.map((r) => r.provider));
    if (providers.size < list.length) bad.push(`${task}: one provider leased it twice`);
  }
  return bad;
}
