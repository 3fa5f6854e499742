/**
 * The `plexus job` commands against a real devnet (separate processes): submit a model file and
 * safetensors inputs with a progress bar, read the status, download the results; and a broken
 * model gets a clear PLX_ error and a non-zero exit.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { PLEXUS_BIN } from '../src/devnet/spawnNode.ts';
import { DEVNET_PASSWORD, type Devnet, startDevnet } from '../src/devnet/startDevnet.ts';
import { decodeSafetensors, encodeSafetensors } from '../src/protocol/safetensors.ts';
import { ocrInput, ppocrDetectionModelPath, tempDir } from './helpers/fixtures.ts';

const run = promisify(execFile);
let net: Devnet;
let dir: string;
let cleanup: () => Promise<void>;

function plexus(args: string[]) {
  return run(process.execPath, [PLEXUS_BIN, ...args], {
    env: { ...process.env, PLEXUS_KEYSTORE_PASSWORD: DEVNET_PASSWORD, PLEXUS_LOG_LEVEL: 'warn' },
    timeout: 120_000,
  });
}

before(async () => {
  ({ dir, cleanup } = await tempDir());
  net = await startDevnet({
    dataDir: join(dir, 'devnet'),
    providers: 1,
    port: 0,
    print: () => {},
    logLevel: 'warn',
  });
  await writeFile(join(dir, 'a.safetensors'), encodeSafetensors(ocrInput(1)));
  await writeFile(join(dir, 'b.safetensors'), encodeSafetensors(ocrInput(2)));
});
after(async () => {
  await net.stop();
  await cleanup();
});

// The three tests share only the devnet and the input files written in `before`: the refusals run
// while the job does.
describe('plexus job and provider commands on a devnet', { concurrency: true }, () => {
  test('job submit, status and results', async () => {
    const inputs = [join(dir, 'a.safetensors'), join(dir, 'b.safetensors')];
    // The devnet's client: funded, with escrow deposited (a fresh key would get PLX_INSUFFICIENT_ESCROW).
    const keystore = join(dir, 'devnet', 'client', 'key.json');
    const submitted = await plexus([
      'job',
      'submit',
      '--coordinator',
      net.coordinatorUrl,
      '--keystore',
      keystore,
      '--model',
      ppocrDetectionModelPath(),
      '--input',
      ...inputs,
      '--label',
      'cli test',
      '--max-price',
      '0.005PLX',
    ]);
    const jobId = /job (0x[0-9a-f]{64}) \(2 tasks\)/.exec(submitted.stdout)?.[1];
    assert.ok(jobId, submitted.stdout);
    assert.match(submitted.stdout, /completed/);
    assert.match(submitted.stderr, /2\/2 tasks/, 'the progress bar reached the end');

    // Read only: the view for people and --json side by side. A job's tasks and cost are its
    // client's: the status read is signed with its key; without one it shows the public part.
    const asClient = ['--coordinator', net.coordinatorUrl, '--keystore', keystore];
    const [status, jsonStatus, unsigned] = await Promise.all([
      plexus(['job', 'status', jobId, ...asClient]),
      plexus(['job', 'status', jobId, ...asClient, '--json']),
      plexus([
        'job',
        'status',
        jobId,
        '--coordinator',
        net.coordinatorUrl,
        '--keystore',
        join(dir, 'none.json'),
      ]),
    ]);
    assert.match(unsigned.stdout, /status\s+completed/);
    assert.match(unsigned.stdout, /tasks\s+shown to the job's client only/);
    assert.doesNotMatch(unsigned.stdout, /#0/, 'no task without the key');
    assert.match(status.stdout, /explorer .*#\/jobs\/0x[0-9a-f]{64}\?read=/, 'a signed explorer link');
    assert.match(status.stdout, /status\s+completed/);
    assert.match(status.stdout, /2\/2 done/);
    // What it cost, in PLX (issue 22), and one attempt per task (audits and replicas are not attempts).
    assert.match(status.stdout, /cost\s+0\.[0-9]+ PLX charged \([0-9.]+ PLX was reserved/);
    assert.match(status.stdout, /#0 completed\s+1 attempt\b/);
    const statusJson = JSON.parse(jsonStatus.stdout) as { cost: { charged: string } };
    assert.match(statusJson.cost.charged, /^[1-9][0-9]*$/, 'base units in --json');

    const out = join(dir, 'out');
    // Outputs are private to the job's client: the CLI signs the downloads with its key.
    const fetched = await plexus([
      'job',
      'results',
      jobId,
      '--coordinator',
      net.coordinatorUrl,
      '--out',
      out,
      '--keystore',
      keystore,
    ]);
    assert.match(fetched.stdout, /cost: 0\.[0-9]+ PLX charged/);
    const first = decodeSafetensors(new Uint8Array(await readFile(join(out, 'output-00000.safetensors'))));
    const prob = Object.values(first)[0]!;
    assert.deepEqual(prob.shape, [1, 1, 64, 320]);
    const results = JSON.parse(await readFile(join(out, 'results.json'), 'utf8')) as { outputs: unknown[] };
    assert.equal(results.outputs.length, 2);
  });

  test('a file that is not an ONNX model is refused with its error code', async () => {
    const bad = join(dir, 'bad.onnx');
    const input = join(dir, 'a.safetensors');
    await writeFile(bad, 'definitely not protobuf');
    await assert.rejects(
      plexus([
        'job',
        'submit',
        '--coordinator',
        net.coordinatorUrl,
        // The devnet's funded client: on a chain, an account without escrow may not upload at all.
        '--keystore',
        join(dir, 'devnet', 'client', 'key.json'),
        '--model',
        bad,
        '--input',
        input,
      ]),
      (err: { code?: number; stderr?: string }) => err.code === 1 && /PLX_BAD_MODEL/.test(err.stderr ?? ''),
    );
  });

  test('provider start refuses a core count that is not a whole number ≥ 1, before touching the key', async () => {
    await Promise.all(
      ['0', '1.5', 'many'].map((cores) =>
        assert.rejects(
          plexus([
            'provider',
            'start',
            '--coordinator',
            net.coordinatorUrl,
            '--data-dir',
            join(dir, 'p'),
            '--cores',
            cores,
          ]),
          (err: { code?: number; stderr?: string }) =>
            err.code !== 0 && /--cores.*expected a whole number from 1 to 1024/s.test(err.stderr ?? ''),
          cores,
        ),
      ),
    );
    assert.equal(existsSync(join(dir, 'p', 'key.json')), false, 'no keystore was created');
  });
});
