/**
 * Finds Blender on a provider machine: its version and Cycles device types, and whether a render
 * can be cut off from the network (`unshare`). The agent installs nothing: without Blender it
 * simply advertises none and gets no render work (docs/render.md).
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const PROBE_SCRIPT = fileURLToPath(new URL('./probe.py', import.meta.url));

/**
 * What the probe found.
 *
 * @example const b: BlenderInfo = { path: '/usr/bin/blender', version: '3.4.1', devices: ['CPU'], isolateNetwork: true };
 */
export type BlenderInfo = {
  path: string;
  version: string;
  /** Cycles device types (`CPU`, `CUDA`, `OPTIX`, …). */
  devices: string[];
  /** `unshare --net` works here: renders run without any network. */
  isolateNetwork: boolean;
};

function run(file: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      { timeout: timeoutMs, maxBuffer: 1 << 20, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } },
      (err, stdout) => (err ? reject(err) : resolve(stdout)),
    );
  });
}

/**
 * Probes `blenderPath` (default `blender` on the PATH). Undefined when it is missing or broken.
 *
 * @example const blender = await probeBlender(); if (blender) console.log(blender.version);
 */
export async function probeBlender(
  blenderPath = 'blender',
  timeoutMs = 60_000,
): Promise<BlenderInfo | undefined> {
  let found: { version: string; devices: string[] } | undefined;
  try {
    const out = await run(
      blenderPath,
      ['-b', '--factory-startup', '--disable-autoexec', '-noaudio', '--python', PROBE_SCRIPT],
      timeoutMs,
    );
    const line = out.split('\n').find((l) => l.startsWith('PLEXUS_BLENDER '));
    if (line)
      found = JSON.parse(line.slice('PLEXUS_BLENDER '.length)) as { version: string; devices: string[] };
  } catch {
    return undefined;
  }
  if (!found || !/^\d{1,2}\.\d{1,3}(\.\d{1,3})?$/.test(found.version)) return undefined;
  const isolateNetwork = await run('unshare', ['--net', '--map-root-user', 'true'], 10_000).then(
    () => true,
    () => false,
  );
  return { path: blenderPath, version: found.version, devices: found.devices.slice(0, 16), isolateNetwork };
}

/** The major version of a Blender version string (`3.4.1` → 3). */
export function blenderMajor(version: string): number {
  return Number(version.split('.')[0]);
}
