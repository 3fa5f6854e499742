/**
 * Issue 22: the README runs as written. Every command line of the README's `sh` blocks is read in
 * order, like one terminal session (`export` and `NAME="…"` lines apply to the lines after them),
 * and run against a real devnet started here (anvil, contracts, a coordinator, one provider agent
 * and three validators, as `npm start` runs them, in `.plexus/devnet` of a fresh folder that is
 * the commands' working directory). Each `plexus` line has an entry below: the exit code and the
 * shape of its output, what it needs first (a settled epoch, the end of the unbonding period) and
 * the values a reader puts in for a placeholder (`0x…` is the job id `job submit` printed,
 * `0xYOUR_ADDRESS` the address the error of `provider register` named). Lines that cannot run in a
 * test (installing, systemd, a second coordinator on port 8080, Blender) are listed in SKIPPED with
 * the reason. A README line without an entry, or an entry whose line left the README, fails the
 * test: README and behaviour cannot drift apart silently.
 *
 * Substitutions, the same for every line: the devnet listens on a free port instead of 8080
 * (`http://127.0.0.1:8080` and `http://COORDINATOR_HOST:8080` become its URL, and
 * `PLEXUS_COORDINATOR` is set to it, which the README names as the default). The files a reader
 * brings are made here: `my-model.onnx` (PP-OCRv4 detection), `input-0/1.safetensors` (text
 * images, as the README's Python makes them), `samples.json` (readings of the last half hour) and
 * `provider.json` (the devnet's provider key, as the README says).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { copyFile, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { PLEXUS_BIN } from '../src/devnet/spawnNode.ts';
import { type Devnet, startDevnet } from '../src/devnet/startDevnet.ts';
import { encodeSafetensors } from '../src/protocol/safetensors.ts';
import { ocrInput, ppocrDetectionModelPath, tempDir } from './helpers/fixtures.ts';
import { type ReadmeLine, readmeShellLines, shellWords } from './helpers/readmeShell.ts';

const ROOT = join(import.meta.dirname, '..');
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const COMMAND_TIMEOUT_MS = 240_000;

/** README lines that do not run here, by how they start, with the reason. */
const SKIPPED: Record<string, string> = {
  'npm install': 'installs packages: .ci/run does a clean install before the tests',
  'npm start': 'is `plexus devnet --demo`: this test starts the same devnet itself (startDevnet)',
  'npm test': 'is the test suite this test belongs to',
  'git clone': 'needs the repository over the network',
  'sudo ': 'installs a systemd service as root: test/cliSystemd.test.ts checks the units',
  'journalctl ': 'reads the systemd journal of an installed service',
  'npx plexus coordinator --host 0.0.0.0 --port 8080':
    "a second coordinator on port 8080 and /var/lib: the devnet's coordinator is this command",
  'plexus coordinator --mqtt-url': 'a second coordinator with an MQTT broker: sensors send uses HTTP here',
  'plexus job submit --kind blender.render': 'needs Blender and a .blend scene: test/renderNetwork.test.ts',
  'plexus job results JOB_ID --out frames/': 'the frames of the render job above (skipped)',
  'plexus job submit --kind train.diloco':
    "needs the reader's own model and shards: test/trainNetwork.test.ts runs this command on real files",
  'plexus job results JOB_ID --out trained/': 'the weights of the training job above (skipped)',
};

type Run = { code: number | null; stdout: string; stderr: string; lastErr: string };
type Ctx = {
  net: Devnet;
  dir: string;
  env: Record<string, string>;
  jobId?: string;
  newAddress?: string;
  device?: string;
  plexus: (args: string[]) => Promise<Run>;
};
type Step = {
  /** Exit code the line must end with. */
  code: 0 | 1;
  /** What its stdout (code 0) or its last stderr line (code 1) must match. */
  out: RegExp;
  /** Placeholder → value, applied to the line's words. */
  subst?: (ctx: Ctx) => Record<string, string>;
  /** Waits for the state the line needs, or does the step a reader does before it. */
  before?: (ctx: Ctx) => Promise<void>;
  /** Retries the line until it exits 0 (a delay that ends on chain), while it fails like this. */
  retryWhile?: RegExp;
  after?: (ctx: Ctx, r: Run) => Promise<void> | void;
  /** A long-running command: started, watched until its output matches `out`, then stopped with SIGTERM. */
  serve?: true;
};

const P = 'npx plexus provider';
const C = 'npx plexus client';
const devnetUrl = (ctx: Ctx) => ({
  'http://127.0.0.1:8080': ctx.net.coordinatorUrl,
  'http://COORDINATOR_HOST:8080': ctx.net.coordinatorUrl,
});
const address = /0x[0-9a-fA-F]{40}/;

/** Every plexus line of the README, by its text (variables unexpanded); repeated lines take a list. */
const STEPS: Record<string, Step | Step[]> = {
  // Run a provider on another machine: a new key, not registered.
  'npx plexus provider doctor --coordinator http://COORDINATOR_HOST:8080': {
    code: 0,
    subst: devnetUrl,
    out: /eligible for work: no, because .*key/s,
  },
  'npx plexus provider start --coordinator http://COORDINATOR_HOST:8080 --region eu-west --slots 1': {
    code: 0,
    subst: devnetUrl,
    serve: true,
    // Its key is new and not registered: the agent says it gets no work, and why.
    out: /not eligible for work: .*register/,
  },
  // On chain: the devnet's provider and client.
  [`${P} status $P`]: { code: 0, out: /stake\s+1,?000 PLX/ },
  [`${P} stake 250 $P`]: { code: 0, out: /1,?250 PLX/ },
  // The stake left is the minimum, but anything unbonding stops new work: the line says so.
  [`${P} unbond 250 $P`]: {
    code: 0,
    out: /unbonding 250 PLX \(stake left 1,?000 PLX\)\n\s+warning: .*takes no new work/,
  },
  [`${P} unbond --withdraw $P`]: {
    code: 0,
    out: /withdr/i,
    retryWhile: /PLX_CHAIN_REVERT: .*(unbonding|not ready|until)/i,
  },
  [`${P} unbond --cancel $P`]: {
    code: 0,
    out: /re-?bond|cancel/i,
    // The line above withdrew what was unbonding; a reader trying --cancel unbonds some first.
    before: async (ctx) => {
      const r = await ctx.plexus(['provider', 'unbond', '100', ...shellWords(ctx.env.P!)]);
      assert.equal(r.code, 0, r.stderr);
    },
  },
  [`${P} rewards $P`]: {
    code: 0,
    out: /claimable/i,
    before: async (ctx) => {
      // The demo job's epoch has to settle on chain first.
      const provider = JSON.parse(
        await readFile(join(ctx.dir, '.plexus/devnet/provider-1/key.json'), 'utf8'),
      ) as { address: string };
      const url = `${ctx.net.coordinatorUrl}/v1/rewards/0x${provider.address.replace(/^0x/, '').toLowerCase()}`;
      await waitFor(async () => (await fetch(url)).status === 200, 300_000, 'a settled epoch with rewards');
    },
  },
  [`${P} claim $P`]: { code: 0, out: /claimed [0-9.,]+ PLX \(epoch \d+, cumulative [0-9.,]+ PLX\)/ },
  [`${C} deposit 100 $C`]: { code: 0, out: /100 PLX/ },
  [`${C} balance $C`]: { code: 0, out: /escrow\s+[0-9.,]+ PLX/ },
  [`${C} withdraw 40 $C`]: { code: 0, out: /40 PLX/ },
  [`${C} withdraw --execute $C`]: {
    code: 0,
    out: /PLX/,
    retryWhile: /PLX_CHAIN_REVERT: .*(delay|not ready|until)/i,
  },
  // A new provider from nothing: the error names the faucet and the address.
  'npx plexus provider register --stake 1000 --region eu-west $N': [
    {
      code: 1,
      out: /^error PLX_INSUFFICIENT_GAS: .*plexus devnet faucet 0x[0-9a-fA-F]{40}/,
      after: (ctx, r) => {
        ctx.newAddress = /plexus devnet faucet (0x[0-9a-fA-F]{40})/.exec(r.lastErr)![1]!;
      },
    },
    { code: 0, out: /register/i },
  ],
  'npx plexus devnet faucet 0xYOUR_ADDRESS --deployment .plexus/devnet/deployment.json': {
    code: 0,
    subst: (ctx) => ({ '0xYOUR_ADDRESS': ctx.newAddress! }),
    out: /10 ETH.*1,?000 PLX/s,
  },
  'npx plexus provider status $N': { code: 0, out: /stake\s+1,?000 PLX/ },
  // Your own ONNX model.
  'npx plexus job submit --coordinator http://127.0.0.1:8080 --model my-model.onnx --input input-0.safetensors input-1.safetensors':
    {
      code: 0,
      subst: devnetUrl,
      out: /job 0x[0-9a-f]{64} \(2 tasks\)[\s\S]*completed/,
      after: (ctx, r) => {
        ctx.jobId = /job (0x[0-9a-f]{64})/.exec(r.stdout)![1]!;
      },
    },
  'npx plexus job status 0x…': {
    code: 0,
    subst: (ctx) => ({ '0x…': ctx.jobId! }),
    out: /status\s+completed[\s\S]*cost\s+[0-9.]+ PLX charged/,
  },
  'npx plexus job results 0x… --out out/': {
    code: 0,
    subst: (ctx) => ({ '0x…': ctx.jobId! }),
    out: /wrote 2 files and results\.json to out\/ \(job completed\)\ncost: [0-9.]+ PLX charged/,
    after: async (ctx) => {
      const files = (await readdir(join(ctx.dir, 'out'))).sort();
      assert.deepEqual(files, ['output-00000.safetensors', 'output-00001.safetensors', 'results.json']);
    },
  },
  'npx plexus job quote --model my-model.onnx --input input-0.safetensors input-1.safetensors': {
    code: 0,
    out: /quote for 2 tasks[\s\S]*expected\s+[0-9.]+ PLX[\s\S]*worst case\s+[0-9.]+ PLX/,
  },
  // Sensors.
  'plexus sensors keygen --keystore device.json': {
    code: 0,
    out: /^0x[0-9a-fA-F]{40}\s*$/,
    after: (ctx, r) => {
      ctx.device = address.exec(r.stdout)![0];
    },
  },
  'plexus sensors register --owner-keystore provider.json --device-keystore device.json --model ws1000 --lat 52.37 --lon 4.9':
    {
      code: 0,
      out: /^registered device 0x[0-9a-fA-F]{40} \(ws1000 at 52\.37, 4\.9\), owned by 0x[0-9a-fA-F]{40}/,
    },
  'plexus sensors send --keystore device.json --file samples.json': {
    code: 0,
    out: /^sent 90 readings of device 0x[0-9a-fA-F]{40}: 90 stored, 0 duplicate, 0 flagged \(batch 0x[0-9a-f]{64}\)/,
  },
  'plexus sensors export --bbox 4,52,5,53 --from today --to now --variables temperature --format csv --out today.csv --max-cost 1PLX':
    {
      code: 0,
      out: /wrote 30 readings to today\.csv; cost [0-9.]+ PLX/,
      after: async (ctx) => {
        const csv = (await readFile(join(ctx.dir, 'today.csv'), 'utf8')).trim().split('\n');
        assert.equal(csv.length, 31, 'a header and 30 readings');
      },
    },
  'plexus sensors export --bbox 4,52,5,53 --from 2026-12-01 --to 2026-12-02 --variables temperature --min-quality 0.5 --format parquet --out ams.parquet --max-cost 1PLX':
    {
      // A fresh devnet has no readings of that day: nothing is written or charged, and the line
      // says which filters to check.
      code: 1,
      out: /^error PLX_NOT_FOUND: no readings match \(nothing written, nothing charged\): check .*--bbox is longitude first.*--min-quality/,
      after: (ctx) => assert.equal(existsSync(join(ctx.dir, 'ams.parquet')), false),
    },
};

async function waitFor(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2_000));
  }
}

let net: Devnet;
let dir: string;
let cleanup: () => Promise<void>;
const started: ChildProcess[] = [];

function exec(args: string[], env: Record<string, string>, cwd: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [PLEXUS_BIN, ...args], {
      cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), COMMAND_TIMEOUT_MS);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, lastErr: stderr.trim().split('\n').at(-1) ?? '' });
    });
  });
}

/** Starts a long-running command, waits until its output matches, then stops it with SIGTERM. */
function serve(args: string[], env: Record<string, string>, cwd: string, until: RegExp): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [PLEXUS_BIN, ...args], {
      cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    started.push(child);
    let stdout = '';
    let stderr = '';
    let seen = false;
    const check = () => {
      if (!seen && until.test(stdout + stderr)) {
        seen = true;
        child.kill('SIGTERM');
      }
    };
    child.stdout.on('data', (d: Buffer) => {
      stdout += d;
      check();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d;
      check();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), COMMAND_TIMEOUT_MS);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: seen ? code : -1, stdout, stderr, lastErr: stderr.trim().split('\n').at(-1) ?? '' });
    });
  });
}

before(async () => {
  ({ dir, cleanup } = await tempDir('plexus-readme-'));
  const lines: string[] = [];
  net = await startDevnet({
    dataDir: join(dir, '.plexus', 'devnet'),
    providers: 1,
    port: 0,
    // Half the default epoch: the unbonding period (3 epochs) and the withdrawal delay (2) that
    // lines below wait out are chain time, and this file was the suite's longest (222 s).
    epochSeconds: 10,
    print: (l) => lines.push(l),
    logLevel: 'warn',
  });
  // Work for the provider to be paid for (what `npm start`'s demo does), so rewards and claim
  // have an epoch to settle.
  const demo = await net.runDemo(2);
  assert.ok(demo.ok, lines.join('\n'));
  // The files a reader brings.
  await copyFile(ppocrDetectionModelPath(), join(dir, 'my-model.onnx'));
  await writeFile(join(dir, 'input-0.safetensors'), encodeSafetensors(ocrInput(1)));
  await writeFile(join(dir, 'input-1.safetensors'), encodeSafetensors(ocrInput(2)));
  await copyFile(join(dir, '.plexus/devnet/provider-1/key.json'), join(dir, 'provider.json'));
  const now = Date.now();
  const samples = Array.from({ length: 30 }, (_, i) => ({
    t: now - (30 - i) * 60_000,
    values: { temperature: 11 + Math.sin(i / 5), humidity: 80 - i / 10, pressure: 1012 + i / 100 },
  }));
  await writeFile(join(dir, 'samples.json'), JSON.stringify(samples));
});
after(async () => {
  for (const c of started) if (c.exitCode === null) c.kill('SIGKILL');
  await net?.stop();
  await cleanup?.();
});

test("the README's sh blocks run as written on a devnet", { timeout: 1_500_000 }, async () => {
  const lines = readmeShellLines(README);
  const base: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env))
    if (v !== undefined && !k.startsWith('PLEXUS_')) base[k] = v;
  const env: Record<string, string> = { ...base, PLEXUS_COORDINATOR: net.coordinatorUrl };
  const vars: Record<string, string> = {};
  const ctx: Ctx = {
    net,
    dir,
    env: vars,
    plexus: (args) => exec(args, env, dir),
  };
  const seen = new Map<string, number>();
  const report: string[] = [];
  const where = (l: ReadmeLine) => `README.md:${l.line} (${l.section}): ${l.text}`;
  for (const l of lines) {
    const assign = /^(export )?([A-Z_]+)=(.*)$/.exec(l.text);
    if (assign) {
      const value = shellWords(assign[3]!).join(' ');
      if (assign[1]) env[assign[2]!] = value;
      else vars[assign[2]!] = value;
      continue;
    }
    const skip = Object.keys(SKIPPED).find((k) => l.text.startsWith(k));
    if (skip) {
      seen.set(skip, (seen.get(skip) ?? 0) + 1);
      report.push(`skipped  ${where(l)} — ${SKIPPED[skip]}`);
      continue;
    }
    const entry = STEPS[l.text];
    assert.ok(entry, `${where(l)}: a README command this test has no entry for (add it to STEPS or SKIPPED)`);
    const n = seen.get(l.text) ?? 0;
    seen.set(l.text, n + 1);
    const step = Array.isArray(entry) ? entry[n] : entry;
    assert.ok(step, `${where(l)}: occurs more often than STEPS lists`);
    await step.before?.(ctx);
    const subst = step.subst?.(ctx) ?? {};
    const expanded = l.text.replace(/\$([A-Z_]+)/g, (_m, v: string) => vars[v] ?? `$${v}`);
    const words = shellWords(expanded).map((w) => {
      for (const [from, to] of Object.entries(subst)) if (w.includes(from)) return w.replace(from, to);
      return w;
    });
    const at = words[0] === 'npx' ? 2 : 1;
    assert.equal(words[at - 1], 'plexus', `${where(l)}: runs plexus`);
    const args = words.slice(at);
    let r = step.serve ? await serve(args, env, dir, step.out) : await exec(args, env, dir);
    const deadline = Date.now() + 300_000;
    while (step.retryWhile && r.code !== 0 && step.retryWhile.test(r.lastErr) && Date.now() < deadline) {
      await new Promise((res) => setTimeout(res, 3_000));
      r = await exec(args, env, dir);
    }
    const shown = `${where(l)}\n  exit ${r.code}\n  stdout: ${r.stdout.trim().slice(-800)}\n  stderr: ${r.stderr.trim().slice(-800)}`;
    assert.equal(r.code, step.code, shown);
    if (!step.serve) assert.match(step.code === 0 ? r.stdout : r.lastErr, step.out, shown);
    if (step.code === 1) assert.doesNotMatch(r.stderr, /\n\s+at .+:\d+:\d+/, `no stack trace: ${shown}`);
    await step.after?.(ctx, r);
    const said = (
      step.serve
        ? ((r.stdout + r.stderr).split('\n').find((x) => step.out.test(x)) ?? '')
        : step.code === 0
          ? r.stdout.trim().split('\n').slice(0, 3).join(' | ')
          : r.lastErr
    ).slice(0, 300);
    report.push(`exit ${r.code}   ${where(l)}\n         → ${said}`);
  }
  // Every entry still names a README line (and as often as it lists).
  for (const [text, entry] of Object.entries(STEPS))
    assert.equal(
      seen.get(text) ?? 0,
      Array.isArray(entry) ? entry.length : 1,
      `STEPS has "${text}", which the README no longer has (as often)`,
    );
  for (const k of Object.keys(SKIPPED))
    assert.ok(seen.has(k), `SKIPPED has "${k}", which the README no longer has`);
  console.log(report.join('\n'));
});
