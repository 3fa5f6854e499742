/**
 * Issue 18's failover test, as real OS processes: a devnet with three coordinator replicas on one
 * PostgreSQL database, anvil with the contracts, three validators following every replica, and six
 * provider agents (each given every replica's URL). Two jobs with redundancy (k = 2) and one
 * without run while, in turn: the settlement leader (the holder of the advisory lock) is killed
 * with SIGKILL; two providers (a third of the fleet) are killed and restarted; the new leader is
 * killed too. A third job then runs on the last replica. Every job completes with every output
 * equal to a local run; no task is ever leased to more providers at once than its policy runs, nor
 * to one provider twice; every client event stream is exactly the stored events (no gap, no
 * repeat); each epoch is finalized on chain exactly once, including epochs the surviving replicas
 * settled after each takeover; and `plexus ledger verify` passes against the PostgreSQL store and
 * the chain. With CI=true an unreachable PostgreSQL fails this test instead of skipping it.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import * as ort from 'onnxruntime-node';
import pg from 'pg';
import { createPublicClient, http, parseEventLogs } from 'viem';
import { plexusAbis } from '../src/chain/abis.ts';
import { createClient, type JobEvent, type PlexusClient } from '../src/client/createClient.ts';
import { compareTensorSets } from '../src/devnet/compareTensors.ts';
import { DEMO_TOLERANCE, ppocrDetectionModelPath } from '../src/devnet/runDemo.ts';
import { type NodeChild, PLEXUS_BIN, spawnPlexus } from '../src/devnet/spawnNode.ts';
import { DEVNET_PASSWORD, startDevnet } from '../src/devnet/startDevnet.ts';
import { loadOrCreateKeystore } from '../src/keystore/loadOrCreateKeystore.ts';
import { createLogger } from '../src/logger.ts';
import { decodeSafetensors, encodeSafetensors, type Tensor } from '../src/protocol/safetensors.ts';
import { fromOrtTensor, toOrtTensor } from '../src/runtimes/onnx/ortTensor.ts';
import { tempDir } from './helpers/fixtures.ts';
import { createTestDatabase, postgresSkip } from './helpers/postgres.ts';

const run = promisify(execFile);
const skip = await postgresSkip();
const quiet = createLogger('test', { level: 'silent' });
const logged = process.env.PLEXUS_TEST_LOG;
const print = logged ? (l: string) => console.error(l) : () => {};
const EPOCH_SECONDS = 12;
/** Tasks of jobs 1 and 2 (running through the kills), and of job 3 (after both kills). */
const TASKS = 40;
const TASKS_AFTER = 16;
const PROVIDERS = 6;
/**
 * The whole scenario's deadline (the runner's per-file limit is 600 s; the rest is left for the
 * teardown): every wait below is bounded by what is left of it, so a stuck step fails with its
 * name instead of the file outrunning the runner. About 80 s on an idle machine, 150 s at load 17.
 */
const BUDGET_MS = 480_000;

type Phase = { at: number; what: string };

/** Input `i`: a 64×64 image tensor for the detection model (a few ms of inference each). */
function inputOf(i: number): Uint8Array {
  const data = new Float32Array(3 * 64 * 64);
  for (let k = 0; k < data.length; k++) data[k] = ((i * 2654435761 + k * 40503) % 1000) / 1000;
  return encodeSafetensors({ x: { dtype: 'float32', shape: [1, 3, 64, 64], data } });
}

const scenarioEnd = Date.now() + BUDGET_MS;
/** `ms`, or what is left of the scenario's budget if that is less. */
const bounded = (ms: number) => Math.max(1, Math.min(ms, scenarioEnd - Date.now()));

/** Polls `check` until it holds; `what` may be a function, called at the deadline to say what was seen. */
async function until<T>(
  what: string | (() => string),
  check: () => Promise<T | undefined | false>,
  ms: number,
): Promise<T> {
  const deadline = Date.now() + bounded(ms);
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** `p`, or an error naming `what` (and `detail()`, what was seen) when it takes longer than `ms`. */
async function within<T>(
  what: string,
  p: Promise<T>,
  ms: number,
  detail?: () => Promise<string>,
): Promise<T> {
  const limit = bounded(ms);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      void (detail ?? (async () => ''))().then(
        (d) => reject(new Error(`${what}: not within ${Math.round(limit / 1000)} s${d ? `; ${d}` : ''}`)),
        (err) => reject(new Error(`${what}: not within ${Math.round(limit / 1000)} s (${String(err)})`)),
      );
    }, limit);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** A job's tasks by status and its ended leases by error code, for a failure message. */
async function jobDetail(db: pg.Client, jobId: string): Promise<string> {
  const tasks = await db.query<{ status: string; n: number }>(
    'SELECT status, COUNT(*)::int AS n FROM tasks WHERE job_id = $1 GROUP BY status',
    [jobId],
  );
  const ended = await db.query<{ code: string; n: number }>(
    `SELECT COALESCE(error_code, status) AS code, COUNT(*)::int AS n FROM assignments
      WHERE job_id = $1 AND status IN ('failed', 'expired') GROUP BY 1`,
    [jobId],
  );
  const list = (rows: { n: number }[], key: (r: never) => string) =>
    rows.map((r) => `${key(r as never)} ${r.n}`).join(', ') || 'none';
  return `tasks: ${list(tasks.rows, (r: { status: string }) => r.status)}; ended leases: ${list(ended.rows, (r: { code: string }) => r.code)}`;
}

/**
 * The OS process id of the replica holding the settlement lock (leaderLock.ts names its connection).
 * pg_locks is server-wide: only this test's database counts (other test files run their own
 * leaders on the same server at the same time).
 */
async function leaderPid(db: pg.Client): Promise<number | undefined> {
  const r = await db.query<{ name: string }>(
    `SELECT a.application_name AS name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'advisory' AND l.granted AND a.application_name LIKE 'plexus-settlement-leader%'
        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
  );
  if (r.rows.length > 1) throw new Error(`two settlement leaders: ${r.rows.map((x) => x.name).join(', ')}`);
  const m = /pid=(\d+)/.exec(r.rows[0]?.name ?? '');
  return m ? Number(m[1]) : undefined;
}

/**
 * Tasks of `jobId` leased to more providers at once than `k`, or to one provider twice at once.
 * A lease is open from its creation until it finished (or, never finished, its expiry).
 */
async function overlappingLeases(db: pg.Client, jobId: string, k: number): Promise<string[]> {
  const r = await db.query<{ task_id: string; provider: string; created_at: number; until: number }>(
    `SELECT task_id, provider, created_at::float8 AS created_at,
            COALESCE(finished_at, lease_expires_at)::float8 AS until
       FROM assignments WHERE job_id = $1`,
    [jobId],
  );
  const byTask = new Map<string, typeof r.rows>();
  for (const x of r.rows) byTask.set(x.task_id, [...(byTask.get(x.task_id) ?? []), x]);
  const bad: string[] = [];
  for (const [task, leases] of byTask) {
    for (const l of leases) {
      const open = leases.filter((o) => o.created_at <= l.created_at && o.until > l.created_at);
      if (open.length > k) bad.push(`${task}: ${open.length} leases open at ${l.created_at}`);
      if (new Set(open.map((o) => o.provider)).size < open.length) bad.push(`${task}: one provider twice`);
    }
  }
  return bad;
}

/**
 * For a settlement timeout: the leader, the validators' disputes, and the last log lines of every
 * replica and validator (warnings and errors: `settlement step slow` names the step a close waits
 * in and the sessions blocking it; `validator disputes the epoch` a validator's refusal).
 */
async function settlementDiagnosis(
  db: pg.Client,
  net: Awaited<ReturnType<typeof startDevnet>>,
): Promise<string> {
  const out: string[] = [`settlement leader: pid ${await leaderPid(db).catch((e: unknown) => String(e))}`];
  for (const url of net.validatorUrls) {
    const disputes = await fetch(`${url}/v1/disputes`, { signal: AbortSignal.timeout(5000) })
      .then((r) => r.text())
      .catch((e: unknown) => `unreachable (${String(e)})`);
    out.push(`validator ${url} /v1/disputes: ${disputes.slice(0, 2000)}`);
  }
  for (const c of [...net.children.filter((x) => x.name.startsWith('coordinator')), ...net.validators]) {
    const state = c.proc.exitCode !== null || c.proc.signalCode !== null ? 'exited' : `pid ${c.proc.pid}`;
    out.push(`--- ${c.name} (${state}), last log lines:`, ...c.recentLines().slice(-15));
  }
  return out.join('\n');
}

test('three replicas: two killed (both settlement leaders) and a third of the providers restarted mid-run lose nothing', {
  skip,
}, async () => {
  const { dir, cleanup } = await tempDir();
  const database = await createTestDatabase();
  const db = new pg.Client({ connectionString: database.url });
  const extra: NodeChild[] = [];
  let net: Awaited<ReturnType<typeof startDevnet>> | undefined;
  const started = Date.now();
  const phases: Phase[] = [];
  const mark = (what: string) => {
    phases.push({ at: Date.now(), what });
    console.error(`[failover] ${((Date.now() - started) / 1000).toFixed(1)} s: ${what}`);
  };
  try {
    net = await startDevnet({
      dataDir: dir,
      providers: PROVIDERS,
      port: 0,
      replicas: 3,
      store: database.url,
      epochSeconds: EPOCH_SECONDS,
      // Within the scenario's budget (a start on a busy machine has taken a minute).
      startWithin: bounded(240_000),
      print,
      logLevel: logged ?? 'warn',
    });
    await db.connect();
    mark('devnet up');
    const replicas = net.children.filter((c) => c.name.startsWith('coordinator-'));
    const urls = net.coordinatorUrl.split(',');
    assert.equal(replicas.length, 3);
    const account = await loadOrCreateKeystore(join(dir, 'client', 'key.json'), DEVNET_PASSWORD, {
      scrypt: { n: 2 ** 14, r: 8, p: 1 },
      logger: quiet,
      role: 'client',
    });
    const client = createClient({ url: net.coordinatorUrl, account });
    const modelBytes = new Uint8Array(await readFile(ppocrDetectionModelPath()));
    const model = await client.uploadBlob(modelBytes);
    const inputs = new Map<string, Uint8Array>();
    const upload = async (offset: number, n: number) => {
      const cids: string[] = [];
      for (let i = 0; i < n; i += 10) {
        const batch = await Promise.all(
          Array.from({ length: Math.min(10, n - i) }, async (_, j) => {
            const bytes = inputOf(offset + i + j);
            const { cid } = await client.uploadBlob(bytes);
            inputs.set(cid, bytes);
            return cid;
          }),
        );
        cids.push(...batch);
      }
      return cids;
    };
    const jobInputs = new Map<string, string[]>();
    const submit = async (
      cids: string[],
      verification: { policy: 'none' } | { policy: 'redundant'; k: number },
    ): Promise<string> => {
      const { jobId } = await client.submitJob({
        kind: 'onnx.infer',
        model: model.cid,
        inputs: cids,
        deadline: Math.floor(Date.now() / 1000) + 1800,
        verification,
        taskTimeoutSec: 90,
        // maxAttempts stays the default (3): leases lost with a killed provider or a dead replica's
        // session end PLX_LEASE_LOST and do not use up attempts (work/leases.ts).
      });
      jobInputs.set(jobId, cids);
      return jobId;
    };

    // Phases run as completions arrive: leader killed, providers killed and restarted, new leader killed.
    const killed = new Set<number>();
    let completions = 0;
    let phase = 0;
    let phaseWork: Promise<void> = Promise.resolve();
    const killLeader = async (label: string) => {
      const pid = await until('a settlement leader', () => leaderPid(db), 120_000);
      const i = replicas.findIndex((r) => r.proc.pid === pid);
      assert.ok(i >= 0 && !killed.has(i), `the leader (pid ${pid}) is a live replica`);
      killed.add(i);
      replicas[i]!.proc.kill('SIGKILL');
      await within(`replica ${i + 1} exiting after SIGKILL`, replicas[i]!.exited, 30_000);
      mark(`${label}: replica ${i + 1} (settlement leader) killed`);
    };
    let restartedUp: Promise<void> = Promise.resolve();
    const restartProviders = async () => {
      const cores = Math.max(1, Math.floor(availableParallelism() / PROVIDERS));
      for (const i of [2, 5]) {
        const old = net!.children.find((c) => c.name === `provider-${i}`)!;
        old.proc.kill('SIGKILL');
        await within(`provider ${i} exiting after SIGKILL`, old.exited, 30_000);
        const p = spawnPlexus(
          `provider-${i}-again`,
          [
            'provider',
            'start',
            '--coordinator',
            net!.coordinatorUrl,
            '--data-dir',
            join(dir, `provider-${i}`),
            '--cores',
            String(cores),
          ],
          { env: { PLEXUS_KEYSTORE_PASSWORD: DEVNET_PASSWORD, PLEXUS_LOG_LEVEL: logged ?? 'warn' }, print },
        );
        extra.push(p);
      }
      mark('providers 2 and 5 killed and restarted');
      restartedUp = Promise.all(
        extra.map((p) => p.waitFor('PLEXUS_PROVIDER_STARTED', bounded(180_000))),
      ).then(() => mark('restarted providers up'));
      // Awaited after jobs 1 and 2; a restart that fails before then is reported there, not as an
      // unhandled rejection.
      restartedUp.catch(() => {});
    };
    const onEvent = (streamed: JobEvent[]) => (e: JobEvent) => {
      streamed.push(e);
      if (e.type !== 'task.completed') return;
      completions++;
      const due = [TASKS * 0.3, TASKS * 0.7, TASKS * 1.2];
      while (phase < due.length && completions >= due[phase]!) {
        const n = phase++;
        phaseWork = phaseWork.then(() =>
          n === 0 ? killLeader('first kill') : n === 1 ? restartProviders() : killLeader('second kill'),
        );
        // Awaited after jobs 1 and 2 (a failed phase fails the test there).
        phaseWork.catch(() => {});
      }
    };
    const streams = new Map<string, JobEvent[]>();
    /** Follows a job to its end; past `ms` its stream is closed and the test fails with its state. */
    const follow = async (c: PlexusClient, jobId: string, ms: number) => {
      const s: JobEvent[] = [];
      streams.set(jobId, s);
      const stop = new AbortController();
      try {
        return await within(`job ${jobId} ending`, c.waitForJob(jobId, onEvent(s), stop.signal), ms, () =>
          jobDetail(db, jobId),
        );
      } finally {
        stop.abort();
      }
    };
    const [in1, in2, in3] = await Promise.all([
      upload(0, TASKS),
      upload(TASKS, TASKS),
      upload(2 * TASKS, TASKS_AFTER),
    ]);
    mark('inputs uploaded');
    const job1 = await submit(in1, { policy: 'redundant', k: 2 });
    const job2 = await submit(in2, { policy: 'none' });
    mark('jobs 1 (redundant k=2) and 2 (none) submitted');
    const done12 = await Promise.all([follow(client, job1, 240_000), follow(client, job2, 240_000)]);
    mark('jobs 1 and 2 done');
    await within('the kills and restarts', phaseWork, 120_000);
    await within('the restarted providers starting', restartedUp, 180_000);
    assert.equal(killed.size, 2, 'two replicas were killed while jobs 1 and 2 ran');
    const survivor = [0, 1, 2].find((i) => !killed.has(i))!;
    assert.equal(client.url, urls[survivor], 'the client moved to the surviving replica');
    const job3 = await submit(in3, { policy: 'redundant', k: 2 });
    const done3 = await follow(client, job3, 180_000);
    const tDone = Date.now();
    mark('job 3 (redundant k=2, after both kills) done');

    // Zero jobs lost: all completed, every task once.
    for (const job of [...done12, done3]) {
      const retries = (streams.get(job.id) ?? [])
        .filter((e) => e.type === 'task.retry' || e.type === 'job.failed')
        .map((e) => `${e.type} ${JSON.stringify(e.data)}`);
      assert.equal(
        job.status,
        'completed',
        `job ${job.id} ${job.status}: ${retries.join('; ')}; ${await jobDetail(db, job.id)}`,
      );
      assert.equal(job.tasksDone, job.id === job3 ? TASKS_AFTER : TASKS);
    }
    // Every output equals a local run of the same model on the same input.
    const session = await ort.InferenceSession.create(modelBytes);
    try {
      for (const jobId of [job1, job2, job3]) {
        const results = await client.jobResults(jobId);
        assert.equal(results.outputs.length, jobId === job3 ? TASKS_AFTER : TASKS);
        for (const out of results.outputs) {
          const input = decodeSafetensors(inputs.get(jobInputs.get(jobId)![out.index]!)!);
          const raw = await session.run({ x: toOrtTensor(input.x!) });
          const local: Record<string, Tensor> = {};
          for (const [name, value] of Object.entries(raw)) local[name] = fromOrtTensor(name, value);
          const cmp = compareTensorSets(decodeSafetensors(await client.downloadBlob(out.output)), local);
          assert.ok(
            cmp.equalShapes && cmp.maxAbsDiff <= DEMO_TOLERANCE,
            `job ${jobId} task ${out.index} output`,
          );
        }
      }
    } finally {
      await session.release();
    }

    // No task leased to more providers at once than its policy runs, nor to one provider twice.
    for (const [jobId, k] of [
      [job1, 2],
      [job2, 1],
      [job3, 2],
    ] as const)
      assert.deepEqual(await overlappingLeases(db, jobId, k), [], `job ${jobId}`);

    // Every stream is the stored events up to job.completed: no gap, no repeat, across both moves.
    for (const [jobId, streamed] of streams) {
      const rows = await db.query<{ id: string; type: string }>(
        'SELECT id, type FROM events WHERE job_id = $1 ORDER BY id',
        [jobId],
      );
      const end = rows.rows.findIndex((r) => r.type === 'job.completed');
      assert.deepEqual(
        streamed.map((e) => [String(e.id), e.type]),
        rows.rows.slice(0, end + 1).map((r) => [String(r.id), r.type]),
        `job ${jobId}'s stream`,
      );
    }

    // Settlement goes on under the last replica: every epoch up to the one job 3 ended in is
    // finalized on chain exactly once, including epochs that closed after each leader's death.
    const eDone = await until(
      'the epoch job 3 ended in',
      async () =>
        (
          await db.query<{ epoch: number }>(
            'SELECT epoch::int AS epoch FROM epochs WHERE starts_at <= $1 AND ends_at > $1',
            [tDone],
          )
        ).rows[0]?.epoch,
      120_000,
    );
    let seen = '';
    await until(
      // A stall once seen in CI (jobs done, no epoch settled for 4 min): say where each epoch stood.
      () => `epochs 1..${eDone} settled (epochs at the deadline: ${seen})`,
      async () => {
        const all = await db.query<{ epoch: number; status: string }>(
          'SELECT epoch::int AS epoch, status FROM epochs ORDER BY epoch',
        );
        seen = all.rows.map((r) => `${r.epoch} ${r.status}`).join(', ');
        return all.rows.filter((r) => r.epoch <= eDone && r.status === 'settled').length >= eDone;
      },
      240_000,
    ).catch(async (err: Error) => {
      // And what the leader, the validators and the replicas' logs say (child logs are not in CI's output).
      throw new Error(`${err.message}\n${await settlementDiagnosis(db, net!)}`);
    });
    mark(`epochs up to ${eDone} settled`);
    const chain = createPublicClient({ transport: http(net.chain.rpcUrl) });
    const logs = await chain.getLogs({
      address: net.chain.deployment.settlement,
      fromBlock: 0n,
      toBlock: 'latest',
    });
    const finalized = parseEventLogs({ abi: plexusAbis.settlement, logs, eventName: 'EpochFinalized' });
    const perEpoch = new Map<number, number>();
    for (const f of finalized) {
      const e = Number((f.args as { epoch: bigint }).epoch);
      perEpoch.set(e, (perEpoch.get(e) ?? 0) + 1);
    }
    for (let e = 1; e <= eDone; e++) assert.equal(perEpoch.get(e), 1, `epoch ${e} finalized once`);
    assert.ok(
      [...perEpoch.values()].every((n) => n === 1),
      'no epoch finalized twice',
    );
    const kills = phases.filter((p) => p.what.includes('killed') && p.what.includes('leader'));
    const settledAt = await db.query<{ epoch: number; settled_at: number }>(
      "SELECT epoch::int AS epoch, settled_at::float8 AS settled_at FROM epochs WHERE status = 'settled'",
    );
    for (const k of kills)
      assert.ok(
        settledAt.rows.some((r) => r.settled_at > k.at),
        `an epoch was settled after "${k.what}" (by another replica)`,
      );

    // The books balance and agree with the chain.
    const verify = await run(
      process.execPath,
      [
        PLEXUS_BIN,
        'ledger',
        'verify',
        '--store',
        database.url,
        '--deployment',
        join(dir, 'deployment.json'),
        '--json',
      ],
      { env: { ...process.env, PLEXUS_LOG_LEVEL: 'warn' }, timeout: bounded(120_000) },
    );
    const report = JSON.parse(verify.stdout.trim().split('\n').at(-1)!) as {
      problems: unknown[];
      entries: number;
      settledEpochs: number;
      checkedOnChain: boolean;
    };
    assert.deepEqual(report.problems, []);
    assert.ok(report.checkedOnChain, 'report.checkedOnChain');
    assert.ok(report.settledEpochs >= eDone, 'report.settledEpochs >= eDone');
    mark('ledger verified against PostgreSQL and the chain');
  } finally {
    await Promise.all(extra.map((c) => c.stop(10_000)));
    await net?.stop();
    await db.end().catch(() => {});
    await database.drop();
    await cleanup();
  }
});
