/**
 * The systemd units in deploy/systemd (README.md, "Running as a service"): each parses, uses only
 * keys from the list below (a typo fails here even where systemd is absent), runs the right
 * command, and, where `systemd-analyze` exists, passes `systemd-analyze verify` without a warning.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { tempDir } from './helpers/fixtures.ts';

const root = join(import.meta.dirname, '..');
const units = {
  'plexus-provider.service': / provider start /,
  'plexus-coordinator.service': / coordinator /,
};
const KNOWN: Record<string, string[]> = {
  Unit: ['Description', 'Documentation', 'Wants', 'After', 'Requires'],
  Service: [
    'Type',
    'User',
    'Group',
    'WorkingDirectory',
    'EnvironmentFile',
    'Environment',
    'ExecStart',
    'KillSignal',
    'TimeoutStopSec',
    'Restart',
    'RestartSec',
    'StateDirectory',
    'StateDirectoryMode',
    'NoNewPrivileges',
    'ProtectSystem',
    'ProtectHome',
    'PrivateTmp',
    'ReadWritePaths',
  ],
  Install: ['WantedBy'],
};

function parseUnit(text: string): Record<string, Record<string, string[]>> {
  const out: Record<string, Record<string, string[]>> = {};
  let section = '';
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const s = /^\[([A-Za-z]+)\]$/.exec(line);
    if (s) {
      section = s[1]!;
      out[section] ??= {};
      continue;
    }
    const kv = /^([A-Za-z]+)=(.*)$/.exec(line);
    assert.ok(kv && section, `line ${i + 1} is not KEY=VALUE inside a section: ${line}`);
    const values = out[section]![kv[1]!] ?? [];
    values.push(kv[2]!);
    out[section]![kv[1]!] = values;
  }
  return out;
}

let dir: string;
let cleanup: () => Promise<void>;
before(async () => {
  ({ dir, cleanup } = await tempDir('plexus-systemd-'));
});
after(() => cleanup());

test('the units parse, use known keys only, and run plexus as an unprivileged user that drains on SIGTERM', async () => {
  for (const [name, command] of Object.entries(units)) {
    const unit = parseUnit(await readFile(join(root, 'deploy', 'systemd', name), 'utf8'));
    assert.deepEqual(Object.keys(unit).sort(), ['Install', 'Service', 'Unit'], name);
    for (const [section, keys] of Object.entries(unit))
      for (const key of Object.keys(keys))
        assert.ok(KNOWN[section]?.includes(key), `${name}: [${section}] ${key}`);
    const svc = unit.Service!;
    assert.match(svc.ExecStart?.[0] ?? '', /bin\/plexus\.mjs/, name);
    assert.match(svc.ExecStart?.[0] ?? '', command, name);
    assert.equal(svc.User?.[0], 'plexus', name);
    assert.equal(svc.KillSignal?.[0], 'SIGTERM', name);
    assert.equal(svc.Restart?.[0], 'on-failure', name);
    assert.ok(svc.Environment?.includes('PLEXUS_LOG_FORMAT=json'), `${name} logs JSON to the journal`);
    assert.equal(unit.Install!.WantedBy?.[0], 'multi-user.target', name);
  }
});

const analyze = ['/usr/bin/systemd-analyze', '/bin/systemd-analyze'].find((p) => existsSync(p));

test('systemd-analyze verify accepts the units without a warning', {
  skip: analyze ? false : 'systemd-analyze is not installed',
}, async () => {
  for (const name of Object.keys(units)) {
    // Verified as they would be installed on this machine: this node, this checkout.
    const text = (await readFile(join(root, 'deploy', 'systemd', name), 'utf8'))
      .replaceAll('/usr/bin/node', process.execPath)
      .replaceAll('/opt/plexus', root);
    const path = join(dir, name);
    await writeFile(path, text);
    const r = await new Promise<{ code: number; stderr: string }>((resolve) =>
      execFile(analyze!, ['verify', path], { timeout: 120_000 }, (err, _out, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stderr }),
      ),
    );
    assert.equal(r.code, 0, `${name}: ${r.stderr}`);
    // Unknown keys are only warnings for systemd: any output is a failure here.
    assert.equal(r.stderr.trim(), '', `${name}: ${r.stderr}`);
  }
});
