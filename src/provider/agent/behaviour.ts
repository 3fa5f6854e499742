/**
 * Adversary harness (a hidden test option, `plexus provider start --behaviour …`): an agent that
 * runs its tasks and then misbehaves with its own output, so the coordinator's verification can be
 * tested against real provider processes. Never use it on a real network: every dishonest
 * behaviour gets the provider faulted and slashed.
 */
import { randomInt } from 'node:crypto';
import { cidOf } from '../../protocol/ids.ts';
import { decodeSafetensors, encodeSafetensors, type Tensor } from '../../protocol/safetensors.ts';
import { parseRenderCheat, type RenderCheat } from './renderCheats.ts';
import type { TaskOutput } from './runOnnxTask.ts';
import { parseTrainCheat, type TrainCheat } from './trainCheats.ts';

/**
 * How the agent treats its own results.
 *
 * @example
 * const b: AgentBehaviour = parseBehaviour('wrong:0.1'); // { kind: 'wrong', p: 0.1 }
 */
export type AgentBehaviour =
  | { kind: 'honest' }
  /** A wrong output on a share `p` of tasks (1 for `always-wrong`). */
  | { kind: 'wrong'; p: number }
  /** Skips the work: zeros, or random numbers, of the right shapes. */
  | { kind: 'lazy-zeros' }
  | { kind: 'lazy-random' }
  /** Would copy a peer; outputs are never shown before the verdict, so it can only guess (random). */
  | { kind: 'copycat' }
  /** Never delivers: the lease expires. */
  | { kind: 'slow' }
  /** Drops its connection instead of delivering, forgetting the task. */
  | { kind: 'disconnect' }
  /** Claims a GPU it does not have (computes honestly on the CPU): the capability proof exposes it. */
  | { kind: 'fake-gpu' }
  /** A Byzantine trainer: sends −10 × every float it computed (a training task's pseudo-gradient). */
  | { kind: 'sign-flip' }
  /** A Byzantine trainer sending noise, a stale update or another worker's update (trainCheats.ts). */
  | { kind: 'train-cheat'; cheat: TrainCheat }
  /** Cheats on render tasks (renderCheats.ts); honest on other work. */
  | { kind: 'render-cheat'; cheat: RenderCheat };

/** The `--behaviour` values, as documented in the CLI help of the hidden option. */
export const BEHAVIOUR_NAMES = [
  'honest',
  'always-wrong',
  'wrong:P',
  'lazy-zeros',
  'lazy-random',
  'copycat',
  'slow',
  'disconnect',
  'fake-gpu',
  'sign-flip',
  'train-noise',
  'train-stale',
  'train-copy',
  'train-malformed',
  'train-nan',
  'render-fewer-samples',
  'render-low-res',
  'render-black',
  'render-other-frame',
  'render-other-scene:PATH',
  'render-every-cheat:PATH',
  'render-each-cheat:PATH',
] as const;

/**
 * Parses a `--behaviour` value; throws a RangeError on anything else.
 *
 * @example
 * parseBehaviour('always-wrong'); // { kind: 'wrong', p: 1 }
 */
export function parseBehaviour(value: string): AgentBehaviour {
  if (value === 'honest') return { kind: 'honest' };
  if (value === 'always-wrong') return { kind: 'wrong', p: 1 };
  if (value === 'lazy-zeros' || value === 'lazy-random' || value === 'copycat') return { kind: value };
  if (value === 'slow' || value === 'disconnect' || value === 'fake-gpu' || value === 'sign-flip')
    return { kind: value };
  const cheat = parseRenderCheat(value);
  if (cheat) return { kind: 'render-cheat', cheat };
  const trainCheat = parseTrainCheat(value);
  if (trainCheat) return { kind: 'train-cheat', cheat: trainCheat };
  const m = /^wrong:(0(\.\d+)?|1(\.0+)?)$/.exec(value);
  if (m) return { kind: 'wrong', p: Number(m[1]) };
  throw new RangeError(`unknown behaviour ${value}; one of ${BEHAVIOUR_NAMES.join(', ')}`);
}

/**
 * What a misbehaving agent does with one finished task.
 *
 * @example
 * const act = misbehave(behaviour, output); if (act.action === 'deliver') send(act.output);
 */
export type Misbehaviour =
  | { action: 'deliver'; output: TaskOutput }
  | { action: 'withhold' }
  | { action: 'drop' };

/** Uniform in [0, 1) from the OS generator (the harness needs no reproducibility). */
function unit(): number {
  return randomInt(0, 2 ** 32) / 2 ** 32;
}

/** Float elements go through `f`; integer elements are zeroed (`zero`) or changed, both exact misses. */
function mapTensor(t: Tensor, f: (x: number) => number, zero: boolean): Tensor {
  switch (t.dtype) {
    case 'float32':
    case 'float64':
      return { ...t, data: (t.data as Float32Array | Float64Array).map(f) };
    case 'int64':
    case 'uint64':
      return { ...t, data: (t.data as BigInt64Array).map((x) => (zero ? 0n : x + 1n)) };
    default:
      // float16 bits, smaller integers and bools: change the raw element, keeping it in range.
      return { ...t, data: (t.data as Uint8Array).map((x) => (zero ? 0 : x ^ 1)) };
  }
}

function rewrite(output: TaskOutput, f: (x: number) => number, zero = false): TaskOutput {
  const tensors = decodeSafetensors(output.bytes);
  const out: Record<string, Tensor> = {};
  for (const [name, t] of Object.entries(tensors)) out[name] = mapTensor(t, f, zero);
  const bytes = encodeSafetensors(out);
  return { bytes, cid: cidOf(bytes), usage: output.usage };
}

/**
 * Applies a behaviour to one honest output.
 *
 * @example
 * misbehave({ kind: 'lazy-zeros' }, output); // { action: 'deliver', output: <zeros of the same shapes> }
 */
export function misbehave(b: AgentBehaviour, output: TaskOutput): Misbehaviour {
  switch (b.kind) {
    case 'honest':
    case 'fake-gpu':
    case 'render-cheat': // applied while rendering (renderCheats.ts)
    case 'train-cheat': // needs memory across tasks: startProvider applies it (trainCheats.ts)
      return { action: 'deliver', output };
    case 'wrong':
      // A plausible-looking wrong answer: same shapes and scale, different values.
      return unit() < b.p
        ? { action: 'deliver', output: rewrite(output, (x) => 1 - x + 0.5 * Math.sin(13 * x)) }
        : { action: 'deliver', output };
    case 'lazy-zeros':
      return { action: 'deliver', output: rewrite(output, () => 0, true) };
    case 'lazy-random':
    case 'copycat':
      return { action: 'deliver', output: rewrite(output, () => unit() * 2 - 1) };
    case 'sign-flip':
      return { action: 'deliver', output: rewrite(output, (x) => -10 * x) };
    case 'slow':
      return { action: 'withhold' };
    case 'disconnect':
      return { action: 'drop' };
  }
}
