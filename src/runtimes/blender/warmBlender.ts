/**
 * Warm Blenders: on small frames a render is mostly Blender's start, scene load and first BVH
 * build (~0.9 s of CPU for a 64×48 frame whose sampling takes ~50 ms), and a region audit pays it
 * in full. A pool keeps one sandboxed Blender per `.blend` (and thread count) running between
 * tasks: renderTask.py `--serve` renders one task per stdin line, in the same sandbox as a
 * one-shot render (renderBlender.ts `spawnSandboxedBlender`: auto-run off, address-space limit,
 * no network, a scratch home). A time limit or a cancelled task kills its process (the next task
 * starts a fresh one); an idle process exits after `idleMs`. Each task's usage is the CPU time
 * the process spent since its previous task (the first includes the start), so billing stays
 * per measured cpu-core-second.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { PlexusError } from '../../errors/PlexusError.ts';
import type { RenderOutput, RenderRequest } from './renderBlender.ts';
import { spawnSandboxedBlender } from './renderBlender.ts';

type Warm = {
  key: string;
  child: ChildProcess;
  dir: string;
  busy: boolean;
  exited: boolean;
  stderr: string;
  idle?: NodeJS.Timeout;
  /** The task in flight: its answer line, or the process's exit. */
  waiter?: { resolve: (line: string) => void; reject: (err: Error) => void } | undefined;
  tasks: number;
};

/**
 * A pool of warm Blenders.
 *
 * @example const pool = new BlenderPool({ scratchDir }); const out = await pool.render(req); await pool.close();
 */
export class BlenderPool {
  private readonly procs = new Set<Warm>();
  private readonly scratchDir: string;
  private readonly idleMs: number;
  private readonly maxProcesses: number;
  private seq = 0;
  private closed = false;

  constructor(opts: { scratchDir: string; idleMs?: number; maxProcesses?: number }) {
    this.scratchDir = opts.scratchDir;
    this.idleMs = opts.idleMs ?? 60_000;
    this.maxProcesses = Math.max(1, opts.maxProcesses ?? 2);
  }

  /** Processes running now (tests). */
  get size(): number {
    return this.procs.size;
  }

  /**
   * Renders `req.task` (its region) in a warm Blender for `req.blendPath`, starting one when none
   * is idle. Rejects like renderBlender: PLX_LEASE_EXPIRED on the time limit, AbortError when
   * cancelled, PLX_TASK_RUNTIME_ERROR when Blender fails.
   */
  async render(req: Omit<RenderRequest, 'scratchDir'> & { scratchDir?: string }): Promise<RenderOutput> {
    if (this.closed) throw new PlexusError('PLX_TASK_RUNTIME_ERROR', 'the Blender pool is closed');
    const key = `${req.blendPath}\n${req.threads}\n${req.memoryBytes ?? ''}`;
    let w = [...this.procs].find((p) => p.key === key && !p.busy && !p.exited);
    if (!w) w = await this.start(key, req);
    if (req.signal?.aborted) {
      const idle = w;
      if (!idle.busy && !idle.idle) idle.idle = setTimeout(() => this.kill(idle), this.idleMs);
      throw new DOMException('render cancelled', 'AbortError');
    }
    w.busy = true;
    if (w.idle) clearTimeout(w.idle);
    const out = join(w.dir, `out-${w.tasks++}.${req.task.format === 'exr' ? 'exr' : 'png'}`);
    const t0 = performance.now();
    let timedOut = false;
    const kill = () => this.kill(w);
    const timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, req.timeoutMs);
    req.signal?.addEventListener('abort', kill, { once: true });
    try {
      const line = await new Promise<string>((resolve, reject) => {
        w.waiter = { resolve, reject };
        w.child.stdin?.write(`${JSON.stringify({ task: req.task, out })}\n`);
      });
      const measured = JSON.parse(line) as { cpuMs: number; peakRssBytes: number };
      const png = await readFile(out).catch(() => undefined);
      if (!png) throw new PlexusError('PLX_TASK_RUNTIME_ERROR', 'blender wrote no image');
      return {
        png,
        usage: {
          wallMs: Math.round(performance.now() - t0),
          cpuMs: Math.max(0, Math.round(measured.cpuMs)),
          peakRssBytes: Math.max(0, Math.round(measured.peakRssBytes)),
        },
      };
    } catch (err) {
      if (req.signal?.aborted) throw new DOMException('render cancelled', 'AbortError');
      if (timedOut) throw new PlexusError('PLX_LEASE_EXPIRED', `render took longer than ${req.timeoutMs} ms`);
      throw err;
    } finally {
      clearTimeout(timer);
      req.signal?.removeEventListener('abort', kill);
      w.waiter = undefined;
      await rm(out, { force: true });
      w.busy = false;
      if (!w.exited) w.idle = setTimeout(() => this.kill(w), this.idleMs);
    }
  }

  /** Stops every process. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.procs].map((w) => this.kill(w)));
  }

  private async start(key: string, req: Omit<RenderRequest, 'scratchDir'>): Promise<Warm> {
    // Room for one more: idle processes of other scenes go first.
    for (const p of this.procs) {
      if (this.procs.size < this.maxProcesses) break;
      if (!p.busy) await this.kill(p);
    }
    const dir = join(this.scratchDir, `warm-${process.pid}-${this.seq++}`);
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    const child = spawnSandboxedBlender(req, dir, ['--serve', '-'], 'pipe');
    const w: Warm = { key, child, dir, busy: false, exited: false, stderr: '', tasks: 0 };
    this.procs.add(w);
    child.stderr?.on('data', (b: Buffer) => {
      w.stderr = (w.stderr + b.toString()).slice(-8192);
    });
    child.stdin?.on('error', () => {}); // a killed process: its exit rejects the waiter
    if (child.stdout)
      createInterface({ input: child.stdout }).on('line', (line) => {
        const at = line.indexOf('PLEXUS_RENDERED ');
        if (at >= 0) w.waiter?.resolve(line.slice(at + 16));
      });
    child.on('exit', (code) => {
      w.exited = true;
      this.procs.delete(w);
      if (w.idle) clearTimeout(w.idle);
      w.waiter?.reject(
        new PlexusError('PLX_TASK_RUNTIME_ERROR', `blender exited ${code}: ${w.stderr.trim().slice(-500)}`),
      );
      void rm(dir, { recursive: true, force: true });
    });
    child.on('error', (err) => w.waiter?.reject(err));
    return w;
  }

  private kill(w: Warm): Promise<void> {
    if (w.idle) clearTimeout(w.idle);
    if (w.exited) return Promise.resolve();
    return new Promise<void>((resolve) => {
      w.child.once('exit', () => resolve());
      w.child.kill('SIGKILL');
    });
  }
}
