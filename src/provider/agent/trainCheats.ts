/**
 * The training cheats of the adversary harness (`--behaviour train-noise|train-stale|train-copy|
 * train-malformed|train-nan`, tests only): what a Byzantine DiLoCo worker sends instead of its
 * pseudo-gradient. The first three are plausible updates (the right names, shapes and scale), so
 * only verification against an honest re-run, or robust aggregation, stops them; the last two are
 * the cheap garbage the coordinator's layout check refuses to pay for (docs/training.md).
 */
import { randomInt } from 'node:crypto';
import { cidOf } from '../../protocol/ids.ts';
import { decodeSafetensors, encodeSafetensors, type Tensor } from '../../protocol/safetensors.ts';
import type { TaskOutput } from './runOnnxTask.ts';

/**
 * `noise`: Gaussian noise of each tensor's own RMS; `stale`: an update from an earlier round;
 * `copy`: another worker's update of the same round; `malformed`: the update without its first
 * weight tensor; `nan`: the update with NaN in every float.
 */
export type TrainCheat = 'noise' | 'stale' | 'copy' | 'malformed' | 'nan';

/** Which task of which job an output answers (the descriptor's fields; the topology cid stands for the job). */
export type TrainTaskRef = { model: string; round: number; worker: number };

/** The `--behaviour` value → cheat, or undefined. */
export function parseTrainCheat(value: string): TrainCheat | undefined {
  const m = /^train-(noise|stale|copy|malformed|nan)$/.exec(value);
  return m ? (m[1] as TrainCheat) : undefined;
}

/** A standard normal draw (Box–Muller over the OS generator; the harness needs no reproducibility). */
function gaussian(): number {
  const u = (randomInt(1, 2 ** 32) / 2 ** 32) as number;
  const v = randomInt(0, 2 ** 32) / 2 ** 32;
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

function noiseOf(output: TaskOutput): TaskOutput {
  const out: Record<string, Tensor> = {};
  for (const [name, t] of Object.entries(decodeSafetensors(output.bytes))) {
    if (t.dtype !== 'float32' || name === 'train/loss') {
      out[name] = t;
      continue;
    }
    const data = t.data as Float32Array;
    let sq = 0;
    for (const x of data) sq += x * x;
    const rms = Math.sqrt(sq / Math.max(1, data.length)) || 1e-3;
    out[name] = { ...t, data: data.map(() => rms * gaussian()) };
  }
  const bytes = encodeSafetensors(out);
  return { bytes, cid: cidOf(bytes), usage: output.usage };
}

/** `malformed`: the first weight tensor (name order) left out; `nan`: every weight float NaN. */
function garbageOf(output: TaskOutput, cheat: 'malformed' | 'nan'): TaskOutput {
  const out: Record<string, Tensor> = {};
  const tensors = decodeSafetensors(output.bytes);
  const weights = Object.keys(tensors)
    .filter((n) => n !== 'train/loss')
    .sort();
  for (const [name, t] of Object.entries(tensors)) {
    if (name === 'train/loss' || t.dtype !== 'float32') out[name] = t;
    else if (cheat === 'nan') out[name] = { ...t, data: new Float32Array(t.data.length).fill(Number.NaN) };
    else if (name !== weights[0]) out[name] = t;
  }
  const bytes = encodeSafetensors(out);
  return { bytes, cid: cidOf(bytes), usage: output.usage };
}

/**
 * A cheater with memory of what it computed: the stale one keeps the first update it made for a
 * job and sends it again in every later round; the copier computes the first task it gets in a
 * round and sends that update for every other worker's task of the round. Until it has something
 * to resend, each is honest.
 *
 * @example
 * const cheat = createTrainCheater('stale'); const sent = cheat({ model, round: 2, worker: 0 }, honestOutput);
 */
export function createTrainCheater(
  cheat: TrainCheat,
): (task: TrainTaskRef, output: TaskOutput) => TaskOutput {
  const first = new Map<string, { round: number; output: TaskOutput }>();
  const ofRound = new Map<string, { worker: number; output: TaskOutput }>();
  return (task, output) => {
    if (cheat === 'noise') return noiseOf(output);
    if (cheat === 'malformed' || cheat === 'nan') return garbageOf(output, cheat);
    if (cheat === 'stale') {
      const kept = first.get(task.model);
      if (kept && kept.round < task.round) return { ...kept.output, usage: output.usage };
      if (!kept) first.set(task.model, { round: task.round, output });
      return output;
    }
    const key = `${task.model}:${task.round}`;
    const other = ofRound.get(key);
    if (other && other.worker !== task.worker) return { ...other.output, usage: output.usage };
    if (!other) {
      ofRound.set(key, { worker: task.worker, output });
      if (ofRound.size > 64) ofRound.delete(ofRound.keys().next().value as string);
    }
    return output;
  };
}
