import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import {
  type Coordinator,
  type CoordinatorConfig,
  startCoordinator,
} from '../../src/coordinator/createCoordinator.ts';
import { textImageTensor } from '../../src/devnet/makeDemoInputs.ts';
import { ppocrDetectionModelPath } from '../../src/devnet/runDemo.ts';
import { createLogger } from '../../src/logger.ts';
import type { Tensor } from '../../src/protocol/safetensors.ts';

export { ppocrDetectionModelPath };

/** A fresh temporary folder, removed by the returned cleanup. */
export async function tempDir(
  prefix = 'plexus-test-',
): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** An in-process coordinator on a free port with its own temporary store. */
export async function testCoordinator(
  config: Partial<CoordinatorConfig> = {},
): Promise<Coordinator & { dataDir: string; cleanup: () => Promise<void> }> {
  const { dir, cleanup } = await tempDir('plexus-coord-');
  const c = await startCoordinator(
    { dataDir: dir, port: 0, sweepIntervalMs: 100, ...config },
    { log: createLogger('test-coordinator', { level: process.env.PLEXUS_TEST_LOG ?? 'silent' }) },
  );
  return {
    ...c,
    dataDir: dir,
    async cleanup() {
      await c.stop();
      await cleanup();
    },
  };
}

export function randomAccount() {
  return privateKeyToAccount(generatePrivateKey());
}

/** A PP-OCRv4 detection input (text drawn on a canvas), `size` pixels wide. */
export function ocrInput(seed: number, width = 320, height = 64): Record<string, Tensor> {
  return { x: textImageTensor(`Plexus test ${seed}`, seed, width, height) };
}
