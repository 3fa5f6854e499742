import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidArgumentError } from 'commander';
import { z } from 'zod';
import { PlexusError } from '../errors/PlexusError.ts';
import { describeFailure, printFailure } from './cliErrors.ts';
import { formatEth, formatPlx, localTime, plural } from './format.ts';

test('people see PLX, ETH, local dates and plurals', () => {
  assert.equal(formatPlx(2_880_000_000_000_000n), '0.00288 PLX');
  assert.equal(formatPlx(28_800_000_000_000_000_000n), '28.8 PLX');
  assert.equal(formatPlx(0n), '0 PLX');
  assert.equal(formatPlx(-1n), '-0.000000000000000001 PLX');
  assert.equal(formatEth(10n ** 15n), '0.001 ETH');
  assert.match(localTime(1_796_539_336n), /^20\d\d-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d\d:\d\d$/);
  assert.equal(plural(1, 'task'), '1 task');
  assert.equal(plural(2, 'task'), '2 tasks');
});

test('each kind of failure becomes one PLX_ code with the right exit code', () => {
  const enoent = Object.assign(new Error("ENOENT: no such file or directory, open 'm.onnx'"), {
    code: 'ENOENT',
    syscall: 'open',
    path: 'm.onnx',
  });
  assert.deepEqual(
    [describeFailure(enoent).code, describeFailure(enoent).exitCode],
    ['PLX_FILE_NOT_FOUND', 1],
  );
  const usage = describeFailure(new InvalidArgumentError('expected a date'), 'plexus sensors export');
  assert.equal(usage.code, 'PLX_USAGE');
  assert.equal(usage.exitCode, 2);
  assert.match(usage.message, /see plexus sensors export --help/);
  const zod = z.object({ from: z.number() }).safeParse({ from: 'x' });
  assert.equal(describeFailure(zod.error).code, 'PLX_VALIDATION');
  const fetchFailed = new TypeError('fetch failed', {
    cause: Object.assign(new Error('connect'), { code: 'ECONNREFUSED' }),
  });
  const down = describeFailure(fetchFailed, 'plexus', 'http://127.0.0.1:9');
  assert.equal(down.code, 'PLX_UPSTREAM_UNAVAILABLE');
  assert.match(down.message, /http:\/\/127\.0\.0\.1:9: ECONNREFUSED/);
  const bug = describeFailure(new Error('boom'));
  assert.equal(bug.code, 'PLX_INTERNAL');
  assert.match(bug.message, /--debug/);
});

test('amounts in server errors are shown in PLX with the next step', () => {
  const escrow = describeFailure(
    new PlexusError('PLX_INSUFFICIENT_ESCROW', 'available escrow 0 is below 28800000000000000000', {
      details: { available: '0', required: '28800000000000000000' },
    }),
  );
  assert.match(escrow.message, /0 PLX is below the required 28\.8 PLX/);
  assert.match(escrow.message, /plexus devnet faucet/);
  const revert = describeFailure(
    new PlexusError(
      'PLX_CHAIN_REVERT',
      'withdrawUnbonded reverted: UnbondingNotReady(1796539336, 1796539283)',
      {
        details: {
          functionName: 'withdrawUnbonded',
          errorName: 'UnbondingNotReady',
          args: ['1796539336', '1796539283'],
        },
      },
    ),
  );
  assert.match(revert.message, /withdrawable from 20\d\d-\d\d-\d\d \d\d:\d\d:\d\d/);
  assert.doesNotMatch(revert.message, /1796539336/);
  const dataset = describeFailure(
    new PlexusError('PLX_SENSOR_COST_ABOVE_MAX', 'the dataset costs 1440000000000000, above maxCost 1', {
      details: { cost: '1440000000000000', readings: 1440 },
    }),
  );
  assert.match(dataset.message, /costs 0\.00144 PLX \(1440 readings\)/);
});

test('printFailure writes one line, JSON with --json, the stack only with --debug', () => {
  const lines: string[] = [];
  const write = (l: string) => lines.push(l);
  assert.equal(
    printFailure(new PlexusError('PLX_NOT_FOUND', 'no such job'), { json: false, debug: false, write }),
    1,
  );
  assert.deepEqual(lines, ['error PLX_NOT_FOUND: no such job']);
  lines.length = 0;
  printFailure(new PlexusError('PLX_USAGE', 'bad'), { json: true, debug: false, write });
  assert.deepEqual(JSON.parse(lines[0]!), { error: { code: 'PLX_USAGE', message: 'bad' } });
  lines.length = 0;
  printFailure(new Error('boom'), { json: false, debug: true, write });
  assert.ok(
    lines.length > 1 && /^\s+at /m.test(lines.slice(1).join('\n')),
    "lines.length > 1 && /^\\s+at /m.test(lines.slice(1).join('\\n'))",
  );
});

test('a missing keystore password says what to do once', async () => {
  const { readPassword } = await import('../keystore/readPassword.ts');
  const saved = process.env.PLEXUS_KEYSTORE_PASSWORD;
  delete process.env.PLEXUS_KEYSTORE_PASSWORD;
  try {
    // Not a terminal here (the test runner pipes stdin), so there is no prompt: the error.
    const err = await readPassword({ prompt: 'p: ' }).then(
      () => assert.fail('no password without a terminal'),
      (e: unknown) => e,
    );
    const f = describeFailure(err);
    assert.equal(f.code, 'PLX_KEYSTORE_PASSWORD');
    assert.equal(f.message.match(/run in a terminal/g)?.length, 1, f.message);
  } finally {
    if (saved !== undefined) process.env.PLEXUS_KEYSTORE_PASSWORD = saved;
  }
});
