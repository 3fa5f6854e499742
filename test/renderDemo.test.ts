/**
 * The core of `plexus devnet --demo render` (src/devnet/runRenderDemo.ts) on a real coordinator
 * with two real provider processes and Blender, for two small frames: it generates the scene with
 * the repo's script, renders it through the network, checks each frame against a local render,
 * and saves the frames (and an MP4 when ffmpeg is installed).
 */
import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { runRenderDemo } from '../src/devnet/runRenderDemo.ts';
import { renderNetwork } from './helpers/renderNetwork.ts';

const net = renderNetwork();
before(() => net.open('plexus-render-demo-', async () => {}));
after(() => net.close());

test('the render demo renders, checks and saves a short animation', { timeout: 900_000 }, async (t) => {
  if (!net.blender) return t.skip('Blender is not installed');
  await Promise.all([net.startProvider('p1'), net.startProvider('p2')]);
  await net.waitOnline(2);
  const lines: string[] = [];
  const s = await runRenderDemo(net.client, {
    outDir: join(net.dir, 'demo'),
    frames: 2,
    width: 64,
    height: 48,
    print: (l) => lines.push(l),
    blender: net.blender,
  });
  assert.equal(s.status, 'completed', lines.join('\n'));
  assert.equal(s.matched, 2, lines.join('\n'));
  assert.ok(s.ok, 's.ok');
  assert.equal(s.files.length, 2);
  for (const f of s.files) assert.ok((await stat(f)).size > 100, '(await stat(f)).size > 100');
  // Progress per frame and the check of each frame were printed.
  assert.equal(lines.filter((l) => /frame \d\/2 done/.test(l)).length, 2, lines.join('\n'));
  assert.equal(lines.filter((l) => /frame \d: SSIM .* ok/.test(l)).length, 2, lines.join('\n'));
  if (s.video) assert.ok((await stat(s.video)).size > 0, '(await stat(s.video)).size > 0');
});
