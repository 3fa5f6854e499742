/**
 * The shared set-up of the render network tests (renderCheats.test.ts, renderNetwork.test.ts): a
 * test coordinator, real provider processes started on demand, and the check of a finished job's
 * frames against local renders of the same tasks within the network's thresholds.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeRenderFrames } from '../../src/cli/renderJob.ts';
import { createClient } from '../../src/client/createClient.ts';
import {
  decodePng,
  imageScores,
  RENDER_MIN_PSNR_DB,
  RENDER_MIN_SSIM,
} from '../../src/coordinator/verification/compareRenders.ts';
import { type NodeChild, spawnPlexus } from '../../src/devnet/spawnNode.ts';
import { renderTasksOf } from '../../src/protocol/render.ts';
import type { BlenderInfo } from '../../src/runtimes/blender/probeBlender.ts';
import { randomAccount, tempDir, testCoordinator } from './fixtures.ts';
import { blenderOrSkip, renderLocally } from './renderFixtures.ts';
import { trustProviderDir } from './trustedProvider.ts';

const env = {
  PLEXUS_KEYSTORE_PASSWORD: 'render-test',
  PLEXUS_LOG_LEVEL: process.env.PLEXUS_TEST_LOG ?? 'warn',
};
const print = process.env.PLEXUS_TEST_LOG ? (l: string) => console.error(l) : () => {};

/**
 * A render test network; `open` before the tests, `close` after.
 *
 * @example
 * const net = renderNetwork();
 * before(() => net.open('plexus-render-', (dir) => makeScene(join(dir, 'scene.blend'), { frames: 12 })));
 */
export type RenderNet = ReturnType<typeof renderNetwork>;

export function renderNetwork() {
  const net = {
    blender: undefined as BlenderInfo | undefined,
    c: undefined as unknown as Awaited<ReturnType<typeof testCoordinator>>,
    dir: '',
    client: undefined as unknown as ReturnType<typeof createClient>,
    children: new Map<string, NodeChild>(),
    cleanup: async () => {},
    scene: () => join(net.dir, 'scene.blend'),
    /** Probes Blender, makes the scenes and starts the coordinator (nothing without Blender). */
    async open(prefix: string, makeScenes: (dir: string) => Promise<unknown>): Promise<void> {
      net.blender = await blenderOrSkip();
      ({ dir: net.dir, cleanup: net.cleanup } = await tempDir(prefix));
      if (!net.blender) return;
      await makeScenes(net.dir);
      net.c = await testCoordinator();
      net.client = createClient({ url: net.c.url, account: randomAccount() });
    },
    async close(): Promise<void> {
      await Promise.all([...net.children.values()].map((p) => p.stop(10_000)));
      await net.c?.cleanup();
      await net.cleanup();
    },
    /** `trusted`: its record is stored before it first connects (trustedProvider.ts). */
    async startProvider(name: string, behaviour = 'honest', trusted = false): Promise<string> {
      if (trusted) await trustProviderDir(net.c.store.db, join(net.dir, name), env.PLEXUS_KEYSTORE_PASSWORD);
      const child = spawnPlexus(
        name,
        [
          'provider',
          'start',
          '--coordinator',
          net.c.url,
          '--data-dir',
          join(net.dir, name),
          '--behaviour',
          behaviour,
          '--cores',
          '1',
        ],
        { env, print, showLevel: process.env.PLEXUS_TEST_LOG ? 30 : 50 },
      );
      const { address } = await child.waitFor<{ address: string }>('PLEXUS_PROVIDER_STARTED', 600_000);
      net.children.set(address.toLowerCase(), child);
      return address.toLowerCase();
    },
    async waitOnline(n: number): Promise<void> {
      const deadline = Date.now() + 600_000;
      while ((await net.client.health()).providersOnline < n) {
        if (Date.now() > deadline) throw new Error(`${n} providers did not come online`);
        await new Promise((r) => setTimeout(r, 200));
      }
    },
    /** Every frame of a finished job against local renders of the same tasks (the threshold). */
    async assertFramesMatchLocal(jobId: string, render: Parameters<typeof writeRenderFrames>[1]) {
      const out = join(net.dir, `frames-${jobId.slice(2, 10)}`);
      await mkdir(out, { recursive: true });
      const files = await writeRenderFrames(
        net.client,
        render,
        (await net.client.jobResults(jobId)).outputs as Array<{ index: number; output: string }>,
        out,
      );
      const whole = renderTasksOf({ ...render, tiles: { x: 1, y: 1 } });
      const local = await renderLocally(net.blender!, net.scene(), whole, join(net.dir, 'scratch'));
      assert.equal(files.length, whole.length);
      const scores = [];
      for (let i = 0; i < files.length; i++) {
        const s = imageScores(decodePng(await readFile(files[i]!)), decodePng(local[i]!));
        scores.push(s);
        assert.ok(
          s.ssim >= RENDER_MIN_SSIM && s.psnrDb >= RENDER_MIN_PSNR_DB,
          `frame ${whole[i]!.frame}: ${JSON.stringify(s)}`,
        );
      }
      return scores;
    },
  };
  return net;
}
