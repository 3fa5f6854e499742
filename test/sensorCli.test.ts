/**
 * `plexus sensors` as a device owner and a data buyer use it, as separate OS processes against a
 * coordinator: keygen, register, send (HTTP and MQTT), export.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { PLEXUS_BIN } from '../src/devnet/spawnNode.ts';
import { createKeystore } from '../src/keystore/createKeystore.ts';
import { tempDir, testCoordinator } from './helpers/fixtures.ts';

const run = promisify(execFile);
let c: Awaited<ReturnType<typeof testCoordinator>>;
let dir: string;
let cleanupDir: () => Promise<void>;

const plexus = async (...args: string[]) =>
  (
    await run(
      process.execPath,
      [PLEXUS_BIN, 'sensors', ...args, ...(args[0] === 'keygen' ? [] : ['--coordinator', c.url])],
      {
        env: { ...process.env, PLEXUS_KEYSTORE_PASSWORD: 'sensor-test', PLEXUS_LOG_LEVEL: 'warn' },
      },
    )
  ).stdout.trim();

before(async () => {
  c = await testCoordinator({ mqttUrl: 'mqtt://127.0.0.1:1883' });
  ({ dir, cleanup: cleanupDir } = await tempDir('plexus-sensors-cli-'));
});
after(async () => {
  await c.cleanup();
  await cleanupDir();
});

test('keygen, register, send over HTTP and MQTT, export', async () => {
  // Keys with a test-sized scrypt cost (the CLI opens them as it would any keystore).
  for (const k of ['device', 'owner', 'client'])
    await createKeystore(join(dir, `${k}.json`), 'sensor-test', { scrypt: { n: 2 ** 10, r: 8, p: 1 } });
  const device = await plexus('keygen', '--keystore', join(dir, 'device.json'));
  assert.match(device, /^0x[0-9a-fA-F]{40}$/);
  const reg = JSON.parse(
    await plexus(
      'register',
      '--owner-keystore',
      join(dir, 'owner.json'),
      '--device-keystore',
      join(dir, 'device.json'),
      '--model',
      'ws1000',
      '--lat',
      '52.37',
      '--lon',
      '4.9',
      '--json',
    ),
  ) as { address: string; owner: string };
  assert.equal(reg.address, device.toLowerCase());
  const t = Date.now() - 120_000;
  await writeFile(join(dir, 'a.json'), JSON.stringify([{ t, values: { temperature: 12.5, humidity: 80 } }]));
  await writeFile(join(dir, 'b.json'), JSON.stringify([{ t: t + 16_000, values: { temperature: 12.6 } }]));
  const sent = JSON.parse(
    await plexus('send', '--keystore', join(dir, 'device.json'), '--file', join(dir, 'a.json'), '--json'),
  ) as { stored: number };
  assert.equal(sent.stored, 2);
  await plexus(
    'send',
    '--keystore',
    join(dir, 'device.json'),
    '--file',
    join(dir, 'b.json'),
    '--mqtt-url',
    'mqtt://127.0.0.1:1883',
  );
  // A generous deadline: MQTT ingestion is asynchronous and the machine may be busy.
  const deadline = Date.now() + 60_000;
  const stored = () =>
    (c.store.sqlite!.prepare('SELECT COUNT(*) AS n FROM sensor_readings').get() as { n: number }).n;
  while (stored() < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const status = (await (await fetch(`${c.url}/v1/sensors/devices/${device}`)).json()) as {
    readingsTotal: number;
  };
  assert.equal(status.readingsTotal, 3);
  // `sensors status` for people: one sentence per fact, no raw JSON; --json for scripts.
  const human = await plexus('status', device);
  assert.match(human, /^device 0x[0-9a-f]{40} \(ws1000[^)]*\), owner 0x/m);
  assert.match(human, /3 readings; last seen \d{4}-\d\d-\d\d /);
  assert.match(human, /no quality score yet|score \d\.\d\d/);
  assert.doesNotMatch(human, /[{}]/);
  assert.equal(
    (JSON.parse(await plexus('status', device, '--json')) as { readingsTotal: number }).readingsTotal,
    3,
  );
  const out = JSON.parse(
    await plexus(
      'export',
      '--keystore',
      join(dir, 'client.json'),
      '--bbox',
      '4,52,5,53',
      '--from',
      String(t),
      '--to',
      String(t + 60_000),
      '--variables',
      'temperature',
      '--out',
      join(dir, 'x.csv'),
      '--json',
    ),
  ) as { readings: number; cost: string };
  assert.equal(out.readings, 2);
  const csv = await readFile(join(dir, 'x.csv'), 'utf8');
  assert.equal(csv.trim().split('\n').length, 3);
});
