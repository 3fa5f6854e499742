import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { listOrtExecutionProviders } from '../../runtimes/onnx/listOrtExecutionProviders.ts';
import { type ExecText, NVIDIA_SMI_ARGS, parseNvidiaSmiCsv, probeHardware } from './probeHardware.ts';

const logger = pino({ level: 'silent' });

// The shape of `nvidia-smi --query-gpu=name,memory.total,driver_version,uuid --format=csv,noheader,nounits`:
// one line per GPU, ", "-separated, memory in MiB without unit.
const TWO_GPUS =
  'NVIDIA H100 80GB HBM3, 81559, 550.54.15, GPU-6f1c2d3e-aaaa-bbbb-cccc-0123456789ab\n' +
  'NVIDIA GeForce RTX 4090, 24564, 550.54.15, GPU-0b9e8d7c-1111-2222-3333-abcdefabcdef\n';

test('parses nvidia-smi CSV, tolerating junk lines, [N/A] fields, CRLF and commas in names', () => {
  assert.deepEqual(parseNvidiaSmiCsv(TWO_GPUS), [
    {
      name: 'NVIDIA H100 80GB HBM3',
      memoryMiB: 81559,
      driverVersion: '550.54.15',
      uuid: 'GPU-6f1c2d3e-aaaa-bbbb-cccc-0123456789ab',
    },
    {
      name: 'NVIDIA GeForce RTX 4090',
      memoryMiB: 24564,
      driverVersion: '550.54.15',
      uuid: 'GPU-0b9e8d7c-1111-2222-3333-abcdefabcdef',
    },
  ]);
  const messy = [
    'NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver.',
    'Tesla T4, [N/A], 470.82.01, GPU-aaaaaaaa-0000-0000-0000-000000000000',
    'Odd, Name, Inc GPU, 16384, 535.104.05, GPU-bbbbbbbb-0000-0000-0000-000000000000\r',
    '',
    'garbage, not, a, gpu',
  ].join('\n');
  assert.deepEqual(parseNvidiaSmiCsv(messy), [
    {
      name: 'Odd, Name, Inc GPU',
      memoryMiB: 16384,
      driverVersion: '535.104.05',
      uuid: 'GPU-bbbbbbbb-0000-0000-0000-000000000000',
    },
  ]);
  assert.deepEqual(parseNvidiaSmiCsv(''), []);
});

test('probes CPU, memory, OS and runtime; GPUs from nvidia-smi when it answers', async () => {
  const calls: [string, string[], number][] = [];
  const exec: ExecText = async (file, args, timeoutMs) => {
    calls.push([file, args, timeoutMs]);
    return TWO_GPUS;
  };
  const hw = await probeHardware({ exec, logger, timeoutMs: 1234 });
  assert.deepEqual(calls, [['nvidia-smi', [...NVIDIA_SMI_ARGS], 1234]]);
  assert.equal(hw.gpus.length, 2);
  assert.ok(hw.cpuCores >= 1, 'hw.cpuCores >= 1');
  assert.ok(hw.cpuModel.length > 0, 'hw.cpuModel.length > 0');
  assert.ok(
    hw.memoryBytes > 0 && hw.freeMemoryBytes > 0 && hw.freeMemoryBytes <= hw.memoryBytes,
    'hw.memoryBytes > 0 && hw.freeMemoryBytes > 0 && hw.freeMemoryBytes <= hw.memoryBytes',
  );
  assert.equal(hw.os.arch, process.arch);
  assert.equal(hw.nodeVersion, process.versions.node);
  assert.match(hw.onnxruntimeVersion, /^\d+\.\d+\.\d+/);
  // cuda is offered only where onnxruntime's CUDA provider is actually installed.
  assert.deepEqual(hw.executionProviders, listOrtExecutionProviders());
  assert.deepEqual(JSON.parse(JSON.stringify(hw)), hw, 'plain JSON');
});

test('a missing or failing nvidia-smi means no GPUs and CPU only, not an error', async () => {
  const missing = await probeHardware({ nvidiaSmi: '/nonexistent/nvidia-smi', logger });
  assert.deepEqual(missing.gpus, []);
  assert.deepEqual(missing.executionProviders, ['cpu']);
  const failing: ExecText = async () => {
    throw Object.assign(new Error('Command failed: nvidia-smi'), { code: 9 });
  };
  assert.deepEqual((await probeHardware({ exec: failing, logger })).gpus, []);
});

test('runs a real nvidia-smi binary with a time limit', { skip: process.platform === 'win32' }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'plexus-smi-'));
  try {
    const fake = join(dir, 'nvidia-smi');
    await writeFile(
      fake,
      `#!/bin/sh\n[ "$1 $2" = "${NVIDIA_SMI_ARGS.join(' ')}" ] || exit 6\nprintf '${TWO_GPUS.replaceAll('\n', '\\n')}'\n`,
      {
        mode: 0o755,
      },
    );
    assert.equal((await probeHardware({ nvidiaSmi: fake, logger })).gpus[1]?.name, 'NVIDIA GeForce RTX 4090');
    const hung = join(dir, 'hung-smi');
    await writeFile(hung, '#!/bin/sh\nexec sleep 5\n', { mode: 0o755 });
    const started = Date.now();
    assert.deepEqual((await probeHardware({ nvidiaSmi: hung, timeoutMs: 100, logger })).gpus, []);
    assert.ok(Date.now() - started < 3000, 'the time limit stopped it');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
