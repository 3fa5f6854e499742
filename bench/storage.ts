/**
 * storage: the core of the storage network (issue 19) measured on this machine, and the
 * durability model at the defaults.
 *
 * - Reed-Solomon encode and decode MB/s per core (one thread) at the defaults (K = 16, M = 16,
 *   32 MiB segments); decode is the worst case: all 16 data pieces lost, rebuilt from parity.
 * - Repair of one segment from pieces on disk: read K pieces (2 MiB each) from files, check each
 *   against its root, rebuild the lost pieces, check those against their roots.
 * - One challenge of one 2 MiB piece: the holder reads the challenged leaves from the piece file
 *   and takes their paths from its tree; the validator checks the answer.
 * - Durability (lab/storage/durability.ts): annual loss for the defaults and repair threshold at
 *   1%, 5% and 10% monthly churn, beside 2× and 3× replication, with the modelled repair time =
 *   detection delay (--detect-hours, default 24: one challenge window, an assumption) + the repair
 *   measured here; then the sensitivity to that delay.
 *
 * - Put and get through a local coordinator and real provider processes vs a plain local copy of
 *   the same bytes (bench/storageNetwork.ts): `putRatio`, `getRatio`.
 *
 * Options: --seconds S (1.5: time per throughput figure) --detect-hours H (24) --challenges N (200)
 * --net-mib N (16: object size of the network half) --net-rounds N (3) --net-k K (4) --net-m M (2)
 * --no-network (skip the network half: putRatio and getRatio are then null)
 * --net-direct (the network half again with every provider serving directly, `--serve-address`:
 *   `directGetMBps`, `directGetRatio`, `directPutMBps` beside the relayed figures of the same run)
 */

import { closeSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ReedSolomonErasure } from '@digitaldefiance/reed-solomon-erasure.wasm';
import { type Hex, keccak256, toHex } from 'viem';
import { compareSchemes, modelChain, nines } from '../lab/storage/durability.ts';
import { Rng } from '../src/protocol/rng.ts';
import {
  answerBytes,
  type Challenge,
  type ChallengeAnswer,
  challengeIndices,
  DEFAULT_CHALLENGE_LEAVES,
  verifyChallenge,
} from '../src/storage/challenge.ts';
import {
  DEFAULT_ERASURE,
  DEFAULT_REPAIR_THRESHOLD,
  decodeSegment,
  encodeObject,
  encodeSegment,
  repairSegment,
} from '../src/storage/erasure.ts';
import { PieceTree } from '../src/storage/pieceTree.ts';
import { putLoopStall } from './storageLoop.ts';
import { measureStorageNetwork, type NetworkFigures } from './storageNetwork.ts';

function num(args: string[], name: string, dflt: number): number {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return dflt;
  const v = Number(args[i + 1]);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} needs a positive number`);
  return v;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Runs `fn` repeatedly for at least `seconds` (at least 3 times); returns ms per run (median). */
function timeIt(seconds: number, fn: () => void): { ms: number; runs: number } {
  fn(); // warm-up: compiles the WASM module, JITs the paths
  const times: number[] = [];
  const end = performance.now() + seconds * 1000;
  while (times.length < 3 || performance.now() < end) {
    const t = performance.now();
    fn();
    times.push(performance.now() - t);
  }
  return { ms: median(times), runs: times.length };
}

function randomSegment(bytes: number): Uint8Array {
  const rng = new Rng('bench-storage');
  const out = new Uint8Array(bytes);
  const view = new DataView(out.buffer);
  for (let i = 0; i + 4 <= bytes; i += 4) view.setUint32(i, rng.nextUint32());
  return out;
}

const fmt = (x: number, d = 1) =>
  x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const seconds = num(args, 'seconds', 1.5);
  const detectHours = num(args, 'detect-hours', 24);
  const challenges = Math.round(num(args, 'challenges', 200));
  const { dataPieces: k, parityPieces: m, segmentBytes, leafBytes } = DEFAULT_ERASURE;
  const n = k + m;
  console.log(`storage: K=${k} M=${m}, ${segmentBytes / 2 ** 20} MiB segments, ${leafBytes} B leaves`);

  // --- Reed-Solomon throughput, one thread ---
  const segment = randomSegment(segmentBytes);
  const enc = timeIt(seconds, () => encodeSegment(segment, k, m));
  const rsEncodeMBps = segmentBytes / 1e6 / (enc.ms / 1000);
  // Baseline for the striping in erasure.ts: the codec in one call over the whole segment.
  const wasmPath = createRequire(import.meta.url).resolve('@digitaldefiance/reed-solomon-erasure.wasm/wasm');
  const module = new WebAssembly.Module(readFileSync(wasmPath));
  const Codec = ReedSolomonErasure as unknown as new (exports: WebAssembly.Exports) => ReedSolomonErasure;
  const wholeEnc = timeIt(seconds, () => {
    const buf = new Uint8Array(segmentBytes * (n / k));
    buf.set(segment);
    new Codec(new WebAssembly.Instance(module).exports).encode(buf, k, m);
  });
  const rsEncodeWholeMBps = segmentBytes / 1e6 / (wholeEnc.ms / 1000);
  console.log(
    `  (baseline: one codec call over the whole segment: ${fmt(rsEncodeWholeMBps)} MB/s, ${wholeEnc.runs} runs)`,
  );
  const pieces = encodeSegment(segment, k, m).map((p) => p.slice());
  const parityOnly = pieces.map((p, i) => (i < k ? undefined : p));
  const dec = timeIt(seconds, () => decodeSegment(parityOnly, k, m, segmentBytes));
  const rsDecodeMBps = segmentBytes / 1e6 / (dec.ms / 1000);
  console.log(
    `  RS encode: ${fmt(rsEncodeMBps)} MB/s (${fmt(enc.ms)} ms per 32 MiB segment, ${enc.runs} runs)`,
  );
  console.log(
    `  RS decode, all data pieces lost: ${fmt(rsDecodeMBps)} MB/s (${fmt(dec.ms)} ms, ${dec.runs} runs)`,
  );

  // --- Merkle tree of a piece (the holder's cost at storing, and a reader's check per piece) ---
  const piece = pieces[0]!;
  const treeTime = timeIt(seconds / 3, () => PieceTree.build(piece, leafBytes));
  console.log(`  Merkle tree of one ${fmt(piece.length / 2 ** 20, 0)} MiB piece: ${fmt(treeTime.ms, 2)} ms`);

  // --- Repair of one segment from pieces on disk ---
  const dir = mkdtempSync(join(tmpdir(), 'plexus-bench-storage-'));
  let repairMs: number;
  let challengeProviderMs: number;
  let challengeVerifyMs: number;
  let challengeBytes: number;
  try {
    const { manifest, pieces: coded } = encodeObject(segment, DEFAULT_ERASURE);
    const paths = coded[0]!.map((p, i) => {
      const path = join(dir, `piece-${i}`);
      writeFileSync(path, p);
      return path;
    });
    // At the threshold: n − R pieces lost, here the first ones (data pieces: the costly case).
    const lost = Array.from({ length: n - DEFAULT_REPAIR_THRESHOLD }, (_, i) => i);
    const sources = paths
      .map((_, i) => i)
      .filter((i) => !lost.includes(i))
      .slice(0, k);
    const repair = timeIt(seconds, () => {
      const slots: (Uint8Array | undefined)[] = new Array(n).fill(undefined);
      for (const i of sources) slots[i] = readFileSync(paths[i]!);
      const rebuilt = repairSegment(manifest, 0, slots, lost);
      if (rebuilt.size !== lost.length) throw new Error('repair rebuilt too little');
    });
    repairMs = repair.ms;
    console.log(
      `  repair at the threshold (${lost.length} pieces lost): read ${k} pieces from disk, check, rebuild, check: ${fmt(repairMs)} ms (${repair.runs} runs; files likely in the page cache)`,
    );

    // --- One challenge of one piece ---
    const tree = PieceTree.build(coded[0]![5]!, leafBytes);
    const fd = openSync(paths[5]!, 'r');
    const leafBuf = Buffer.alloc(leafBytes);
    const provider: number[] = [];
    const verifier: number[] = [];
    challengeBytes = 0;
    try {
      for (let w = 0; w < challenges; w++) {
        const c: Challenge = {
          seed: keccak256(toHex(`block ${w}`)) as Hex,
          window: w,
          pieceRoot: tree.root,
          pieceBytes: tree.pieceBytes,
          leafBytes,
          count: DEFAULT_CHALLENGE_LEAVES,
        };
        let t = performance.now();
        const answer: ChallengeAnswer = challengeIndices(c).map((index) => {
          const read = readSync(fd, leafBuf, 0, leafBytes, index * leafBytes);
          return { index, leaf: Uint8Array.from(leafBuf.subarray(0, read)), path: tree.path(index) };
        });
        provider.push(performance.now() - t);
        t = performance.now();
        const fault = verifyChallenge(c, answer);
        verifier.push(performance.now() - t);
        if (fault !== null) throw new Error(`honest answer refused: ${fault}`);
        challengeBytes = answerBytes(answer);
      }
    } finally {
      closeSync(fd);
    }
    challengeProviderMs = median(provider);
    challengeVerifyMs = median(verifier);
    console.log(
      `  challenge of one piece (${DEFAULT_CHALLENGE_LEAVES} leaves): holder ${fmt(challengeProviderMs, 3)} ms, answer ${challengeBytes} B; validator ${fmt(challengeVerifyMs, 3)} ms (medians of ${challenges})`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  // --- Durability ---
  const repairHours = detectHours + repairMs / 3_600_000;
  const code = { dataPieces: k, parityPieces: m, repairThreshold: DEFAULT_REPAIR_THRESHOLD };
  console.log(
    `\n  annual durability, repair time ${fmt(repairHours, 4)} h (${detectHours} h detection + measured repair):`,
  );
  console.log('  scheme                     overhead  churn/month  loss/year   nines');
  for (const r of compareSchemes(code, [0.01, 0.05, 0.1], repairHours))
    console.log(
      `  ${r.scheme.padEnd(26)} ${fmt(r.overhead, 2).padStart(7)}× ${`${r.churnPerMonth * 100}%`.padStart(11)}  ${r.lossProbability.toExponential(2).padStart(9)}  ${fmt(r.nines, 1).padStart(6)}`,
    );
  const atDefaults = modelChain({ ...code, churnPerMonth: 0.05, repairHours });
  const durabilityNines = nines(atDefaults.lossProbability);
  console.log(`  repairs per object per year at 5% churn: ${fmt(atDefaults.repairs, 2)}`);
  console.log('\n  sensitivity, defaults at 5% monthly churn: repair time → nines');
  for (const h of [1, 24, 72, 168]) {
    const x = nines(modelChain({ ...code, churnPerMonth: 0.05, repairHours: h }).lossProbability);
    console.log(`    ${String(h).padStart(4)} h: ${x >= 30 ? '≥ 30 (where the model caps)' : fmt(x, 1)}`);
  }

  // --- Put and get through the network, against a local copy of the same bytes ---
  let net: NetworkFigures | undefined;
  if (!args.includes('--no-network')) {
    net = await measureStorageNetwork({
      mib: num(args, 'net-mib', 16),
      k: Math.round(num(args, 'net-k', 4)),
      m: Math.round(num(args, 'net-m', 2)),
      rounds: Math.round(num(args, 'net-rounds', 3)),
    });
    console.log(
      `\n  network (${net.providers} provider processes, K=${net.dataPieces} M=${net.parityPieces}, ${net.objectMiB} MiB, median of rounds):`,
    );
    console.log(
      `    put ${fmt(net.putMBps, 2)} MB/s, get ${fmt(net.getMBps, 2)} MB/s, local copy ${fmt(net.copyMBps, 0)} MB/s → putRatio ${net.putRatio.toExponential(2)}, getRatio ${net.getRatio.toExponential(2)}`,
    );
  }
  let direct: NetworkFigures | undefined;
  if (net && args.includes('--net-direct')) {
    direct = await measureStorageNetwork({
      mib: net.objectMiB,
      k: net.dataPieces,
      m: net.parityPieces,
      rounds: Math.round(num(args, 'net-rounds', 3)),
      direct: true,
    });
    console.log(
      `    the same with direct serving: put ${fmt(direct.putMBps, 2)} MB/s, get ${fmt(direct.getMBps, 2)} MB/s (local copy ${fmt(direct.copyMBps, 0)} MB/s) → getRatio ${direct.getRatio.toExponential(2)}`,
    );
  }
  // --- What coding a put costs the coordinator's event loop: in-process vs the erasure thread ---
  const loop = await putLoopStall(Math.round(num(args, 'put-mib', 8) * 2 ** 20));
  console.log(
    `  put coding, ${loop.objectMiB} MiB at K=${k} M=${m}: longest event-loop stall ${fmt(loop.inlineStallMs, 0)} ms in-process (${fmt(loop.inlineMs, 0)} ms coding) vs ${fmt(loop.threadStallMs, 1)} ms with the erasure thread (${fmt(loop.threadMs, 0)} ms)`,
  );
  const r4 = (x: number) => Number(x.toPrecision(4));

  return {
    putRatio: net ? r4(net.putRatio) : null,
    getRatio: net ? r4(net.getRatio) : null,
    ...(net
      ? {
          putMBps: r4(net.putMBps),
          getMBps: r4(net.getMBps),
          copyMBps: r4(net.copyMBps),
          netObjectMiB: net.objectMiB,
          netProviders: net.providers,
        }
      : {}),
    ...(direct
      ? {
          directPutMBps: r4(direct.putMBps),
          directGetMBps: r4(direct.getMBps),
          directGetRatio: r4(direct.getRatio),
        }
      : {}),
    rsEncodeMBps: Number(rsEncodeMBps.toFixed(1)),
    rsDecodeMBps: Number(rsDecodeMBps.toFixed(1)),
    rsEncodeWholeMBps: Number(rsEncodeWholeMBps.toFixed(1)),
    durabilityNines: Number(durabilityNines.toFixed(2)),
    storageOverhead: n / k,
    challengeProviderMs: Number(challengeProviderMs.toFixed(4)),
    challengeVerifyMs: Number(challengeVerifyMs.toFixed(4)),
    challengeBytes,
    repairMs: Number(repairMs.toFixed(1)),
    pieceTreeMs: Number(treeTime.ms.toFixed(2)),
    repairThreshold: DEFAULT_REPAIR_THRESHOLD,
    putLoopStallMs: r4(loop.threadStallMs),
    putLoopStallMsInProcess: r4(loop.inlineStallMs),
    dataPieces: k,
    parityPieces: m,
    detectHours,
    repairsPerYear: Number(atDefaults.repairs.toFixed(2)),
  };
}
