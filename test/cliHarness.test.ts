/**
 * The CLI harness (issue 22): every command's `--help` works, and every wrong invocation a new
 * user types ends in one line `error PLX_…: sentence` with exit code 2 (wrong command line) or 1
 * (failure), never a stack trace unless `--debug`, and never a key file created by a command that
 * failed or only reads.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';
import type { Command } from 'commander';
import { buildProgram, TOP_LEVEL_COMMANDS } from '../src/cli/program.ts';
import { PLEXUS_BIN } from '../src/devnet/spawnNode.ts';
import { createKeystore } from '../src/keystore/createKeystore.ts';
import { tempDir, testCoordinator } from './helpers/fixtures.ts';

const PASSWORD = 'harness-password';
let dir: string;
let cleanup: () => Promise<void>;
let coordinator: Awaited<ReturnType<typeof testCoordinator>>;
let deadUrl: string;
let clientKey: string;

/** A URL nothing listens on: a port the OS handed out and took back. */
async function freeUrl(): Promise<string> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as { port: number };
  await new Promise((r) => srv.close(r));
  return `http://127.0.0.1:${port}`;
}

type Run = { code: number; stdout: string; stderr: string };

function plexus(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [PLEXUS_BIN, ...args],
      {
        env: {
          ...process.env,
          PLEXUS_KEYSTORE_PASSWORD: PASSWORD,
          PLEXUS_COORDINATOR: deadUrl,
          PLEXUS_LOG_LEVEL: 'warn',
          ...env,
        },
        // Generous: two cores shared by many processes.
        timeout: 180_000,
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

before(async () => {
  ({ dir, cleanup } = await tempDir('plexus-cli-harness-'));
  deadUrl = await freeUrl();
  coordinator = await testCoordinator();
  clientKey = join(dir, 'client.json');
  await createKeystore(clientKey, PASSWORD, { scrypt: { n: 2 ** 10, r: 8, p: 1 } });
});
after(async () => {
  await coordinator.stop();
  await coordinator.cleanup();
  await cleanup();
});

function walk(cmd: Command, path: string[] = []): { path: string[]; cmd: Command }[] {
  return [{ path, cmd }, ...cmd.commands.flatMap((c) => walk(c, [...path, c.name()]))];
}

// The tests below share nothing but the read-only fixtures made in `before` (each writes in its own
// files), and most of their time is Node processes starting: they run side by side.
describe('plexus CLI harness', { concurrency: true }, () => {
  test('every command prints its --help (the real parse path), with the environment variables', async () => {
    const all = walk(await buildProgram([], { all: true }));
    assert.ok(all.length > 25, `walked ${all.length} commands`);
    for (const { path } of all) {
      // A fresh tree per command, built the way the entry point builds it for these arguments.
      const args = [...path, '--help'];
      const program = await buildProgram(args);
      let out = '';
      const withOutput = (c: Command): void => {
        c.configureOutput({
          writeOut: (s) => (out += s),
          writeErr: (s) => (out += s),
          outputError: () => {},
        });
        for (const s of c.commands) withOutput(s);
      };
      withOutput(program);
      await assert.rejects(
        program.parseAsync(args, { from: 'user' }),
        (err: { code?: string; exitCode?: number }) =>
          err.code === 'commander.helpDisplayed' && err.exitCode === 0,
        `plexus ${args.join(' ')}`,
      );
      assert.match(out, /^Usage: plexus/m, `plexus ${args.join(' ')}`);
      assert.match(out, /PLEXUS_KEYSTORE_PASSWORD/, `plexus ${args.join(' ')} lists the environment`);
    }
  });

  test("plexus --help lists each command with the command's own description (not loaded)", async () => {
    const loaded = await buildProgram([], { all: true });
    for (const entry of TOP_LEVEL_COMMANDS) {
      const cmd = loaded.commands.find((c) => c.name() === entry.name);
      assert.equal(entry.description, cmd?.description(), entry.name);
    }
  });

  /** One wrong invocation: the arguments, the exit code and the PLX_ code expected. */
  type Case = { name: string; args: () => string[]; exit: 1 | 2; code: RegExp; says?: RegExp };

  const cases: Case[] = [
    { name: 'unknown command', args: () => ['jbo'], exit: 2, code: /PLX_USAGE/, says: /plexus --help/ },
    {
      name: 'missing required option',
      args: () => ['job', 'submit', '--input', 'a.safetensors'],
      exit: 2,
      code: /PLX_USAGE/,
      says: /--model.*plexus job submit --help/,
    },
    {
      name: 'missing model file',
      args: () => [
        'job',
        'submit',
        '--model',
        join(dir, 'missing.onnx'),
        '--input',
        join(dir, 'x.st'),
        '--keystore',
        join(dir, 'new-client.json'),
      ],
      exit: 1,
      code: /PLX_FILE_NOT_FOUND/,
      says: /missing\.onnx/,
    },
    {
      name: 'bad date',
      args: () => [
        'sensors',
        'export',
        '--bbox',
        '4,52,5,53',
        '--from',
        'last week',
        '--to',
        'now',
        '--variables',
        'temperature',
        '--out',
        join(dir, 'x.csv'),
      ],
      exit: 2,
      code: /PLX_USAGE/,
      says: /ISO 8601/,
    },
    {
      name: 'bbox with latitude first',
      args: () => [
        'sensors',
        'export',
        '--bbox',
        '52,4,53,95',
        '--from',
        'yesterday',
        '--to',
        'now',
        '--variables',
        'temperature',
        '--out',
        join(dir, 'x.csv'),
      ],
      exit: 2,
      code: /PLX_USAGE/,
      says: /longitude first/,
    },
    {
      name: 'bad amount',
      args: () => ['client', 'deposit', 'ten'],
      exit: 2,
      code: /PLX_USAGE/,
      says: /PLX amount/,
    },
    {
      name: 'bad price option',
      args: () => ['job', 'quote', '--model', 'm.onnx', '--input', 'a', '--max-price', 'lots'],
      exit: 2,
      code: /PLX_USAGE/,
    },
    {
      name: 'malformed address',
      args: () => ['client', 'balance', '--address', '0x1234'],
      exit: 2,
      code: /PLX_USAGE/,
      says: /20-byte address/,
    },
    {
      name: 'unknown device address',
      args: () => ['sensors', 'status', `0x${'ab'.repeat(20)}`, '--coordinator', coordinator.url],
      exit: 1,
      code: /PLX_NOT_FOUND|PLX_SENSOR_UNKNOWN_DEVICE/,
    },
    {
      name: 'dead coordinator',
      args: () => ['job', 'status', `0x${'00'.repeat(32)}`, '--coordinator', deadUrl],
      exit: 1,
      code: /PLX_UPSTREAM_UNAVAILABLE/,
      says: /ECONNREFUSED/,
    },
    {
      name: 'empty result',
      args: () => [
        'sensors',
        'export',
        '--bbox',
        '4,52,5,53',
        '--from',
        'yesterday',
        '--to',
        'now',
        '--variables',
        'temperature',
        '--out',
        join(dir, 'empty.csv'),
        '--keystore',
        clientKey,
        '--coordinator',
        coordinator.url,
      ],
      exit: 1,
      code: /PLX_NOT_FOUND/,
      says: /no readings match.*longitude first.*--min-quality/,
    },
    {
      name: 'read-only command with a data dir that does not exist',
      args: () => ['provider', 'status', '--data-dir', join(dir, 'typo'), '--coordinator', coordinator.url],
      exit: 1,
      code: /PLX_KEYSTORE_MISSING/,
      says: /typo.*never creates keys/,
    },
    {
      name: 'read-only client balance with a key that does not exist',
      args: () => [
        'client',
        'balance',
        '--keystore',
        join(dir, 'typo', 'key.json'),
        '--coordinator',
        coordinator.url,
      ],
      exit: 1,
      code: /PLX_KEYSTORE_MISSING/,
    },
  ];

  /** Runs the cases two at a time: the machine is shared, and each is a fresh Node process. */
  async function runAll<T, R>(items: T[], f: (x: T) => Promise<R>, width = 2): Promise<R[]> {
    const out: R[] = new Array(items.length);
    let next = 0;
    await Promise.all(
      Array.from({ length: width }, async () => {
        while (next < items.length) {
          const i = next++;
          out[i] = await f(items[i]!);
        }
      }),
    );
    return out;
  }

  test('wrong invocations end in one error line, exit 2 for usage and 1 for failures, no stack', async () => {
    const runs = await runAll(cases, (c) => plexus(c.args()));
    const problems: string[] = [];
    cases.forEach((c, i) => {
      const r = runs[i]!;
      const lines = r.stderr
        .trim()
        .split('\n')
        .filter((l) => l.trim() !== '');
      const last = lines.at(-1) ?? '';
      if (r.code !== c.exit) problems.push(`${c.name}: exit ${r.code}, expected ${c.exit}: ${r.stderr}`);
      if (!/^error PLX_[A-Z0-9_]+: \S/.test(last))
        problems.push(`${c.name}: last stderr line is ${JSON.stringify(last)}`);
      if (!c.code.test(last)) problems.push(`${c.name}: ${last} does not match ${c.code}`);
      if (c.says && !c.says.test(last)) problems.push(`${c.name}: ${last} does not say ${c.says}`);
      if (/^\s+at /m.test(r.stderr)) problems.push(`${c.name}: a stack trace without --debug`);
      if (/"level":/.test(r.stderr)) problems.push(`${c.name}: raw log JSON on stderr: ${r.stderr}`);
    });
    assert.deepEqual(problems, []);
    assert.equal(existsSync(join(dir, 'new-client.json')), false, 'a failed submit created no client key');
    assert.equal(existsSync(join(dir, 'typo')), false, 'a read-only command created nothing');
    assert.equal(existsSync(join(dir, 'empty.csv')), false, 'an empty export wrote no file');
  });

  test('--json prints the error object; --debug adds the stack', async () => {
    const json = await plexus(['job', 'status', `0x${'00'.repeat(32)}`, '--coordinator', deadUrl, '--json']);
    assert.equal(json.code, 1);
    const body = JSON.parse(json.stderr.trim().split('\n').at(-1)!) as {
      error: { code: string; message: string };
    };
    assert.equal(body.error.code, 'PLX_UPSTREAM_UNAVAILABLE');
    const debug = await plexus([
      'job',
      'status',
      `0x${'00'.repeat(32)}`,
      '--coordinator',
      deadUrl,
      '--debug',
    ]);
    assert.equal(debug.code, 1);
    assert.match(debug.stderr, /^error PLX_UPSTREAM_UNAVAILABLE/m);
    assert.match(debug.stderr, /^\s+at /m);
  });

  test('job quote prices a job in PLX from the coordinator; --json keeps base units', async () => {
    const model = join(dir, 'm.onnx');
    const input = join(dir, 'a.safetensors');
    await writeFile(model, 'not parsed by a quote');
    await writeFile(input, 'not parsed by a quote');
    const args = [
      'job',
      'quote',
      '--model',
      model,
      '--input',
      input,
      input,
      '--coordinator',
      coordinator.url,
    ];
    const human = await plexus(args);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /quote for 2 tasks/);
    assert.match(human.stdout, /worst case\s+[0-9.]+ PLX/);
    assert.match(human.stdout, /expected\s+[0-9.]+ PLX/);
    const json = await plexus([
      ...args,
      '--json',
      '--verify',
      'none',
      '--max-price',
      '0.01PLX',
      '--task-timeout-sec',
      '60',
    ]);
    const q = JSON.parse(json.stdout) as { worstCase: string; tasks: number };
    // 2 tasks × 1 execution × 60 s × 4 cores × 0.01 PLX: the admission arithmetic, in base units.
    assert.equal(q.tasks, 2);
    assert.equal(q.worstCase, String(2n * 60n * 4n * 10n ** 16n));
    const dry = await plexus([
      'job',
      'submit',
      ...args.slice(2),
      '--dry-run',
      '--keystore',
      join(dir, 'dry.json'),
    ]);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /quote for 2 tasks/);
    assert.equal(existsSync(join(dir, 'dry.json')), false, '--dry-run opens no key');
  });

  test('a provider pointed at a dead coordinator says it never connected, with the URL and the OS error', async () => {
    const dataDir = join(dir, 'provider');
    await createKeystore(join(dataDir, 'key.json'), PASSWORD, { scrypt: { n: 2 ** 10, r: 8, p: 1 } });
    const proc: ChildProcess = spawn(
      process.execPath,
      [PLEXUS_BIN, 'provider', 'start', '--coordinator', deadUrl, '--data-dir', dataDir, '--cores', '1'],
      {
        env: { ...process.env, PLEXUS_KEYSTORE_PASSWORD: PASSWORD, PLEXUS_LOG_FORMAT: 'json' },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    try {
      const line = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no "never connected" log line in 180 s')), 180_000);
        const rl = createInterface({ input: proc.stderr! });
        rl.on('line', (l) => {
          if (l.includes('never connected')) {
            clearTimeout(timer);
            resolve(l);
          }
        });
        proc.on('exit', (code) => reject(new Error(`provider exited with ${code} before logging`)));
      });
      const entry = JSON.parse(line) as { msg: string; url: string; error: string };
      assert.match(
        entry.msg,
        new RegExp(`never connected to the coordinator at ws://127\\.0\\.0\\.1:${new URL(deadUrl).port}`),
      );
      assert.match(entry.error, /ECONNREFUSED/);
    } finally {
      proc.kill('SIGKILL');
    }
  });

  test('provider doctor says whether the provider is eligible for work, and why not', async () => {
    const dataDir = join(dir, 'doctor');
    const address = (
      await createKeystore(join(dataDir, 'key.json'), PASSWORD, { scrypt: { n: 2 ** 10, r: 8, p: 1 } })
    ).address;
    const r = await plexus(['provider', 'doctor', '--data-dir', dataDir, '--coordinator', coordinator.url]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`provider ${address}`));
    assert.match(r.stdout, /ok\s+coordinator/);
    assert.match(r.stdout, /development mode/);
    assert.match(
      r.stdout,
      /eligible for work: no, because connected: the coordinator has never seen this provider/,
    );
    const json = await plexus([
      'provider',
      'doctor',
      '--data-dir',
      dataDir,
      '--coordinator',
      coordinator.url,
      '--json',
    ]);
    const body = JSON.parse(json.stdout) as { eligible: boolean; checks: { name: string }[] };
    assert.equal(body.eligible, false);
    assert.ok(
      body.checks.some((c) => c.name === 'runtimes'),
      "body.checks.some((c) => c.name === 'runtimes')",
    );
    const missing = await plexus([
      'provider',
      'doctor',
      '--data-dir',
      join(dir, 'nope'),
      '--coordinator',
      coordinator.url,
    ]);
    assert.match(missing.stdout, /FAIL key\s+no key file/);
    assert.equal(existsSync(join(dir, 'nope')), false, 'doctor created nothing');
  });
});
