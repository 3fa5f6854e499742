import { createHash } from 'node:crypto';
import type { Hex } from 'viem';
import { keccak256Hex } from './keccak.ts';

/** A content id: the lowercase hex sha256 of a blob's bytes (64 characters, no prefix). */
export type Cid = string;

const CID_RE = /^[0-9a-f]{64}$/;
const HEX32_RE = /^0x[0-9a-f]{64}$/;

/**
 * True when `value` is a well-formed content id.
 * @example isCid('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855') // true
 */
export function isCid(value: string): boolean {
  return CID_RE.test(value);
}

/** True when `value` is a 0x-prefixed lowercase 32-byte hex id (job, task and assignment ids). */
export function isHex32(value: string): value is `0x${string}` {
  return HEX32_RE.test(value);
}

/**
 * The content id of some bytes.
 * @example cidOf(new Uint8Array()) // 'e3b0c442…b855'
 */
export function cidOf(bytes: Uint8Array): Cid {
  return createHash('sha256').update(bytes).digest('hex');
}

/** A content id as the bytes32 that goes into signed messages. */
export function cidToBytes32(cid: Cid): `0x${string}` {
  return `0x${cid}`;
}

/**
 * The task id of input `idx` of a job: deterministic, so resubmitting cannot create twins, and
 * anyone holding the signed job can tell which input a task ran on (a validator re-executing it).
 *
 * @example taskIdOf(jobId, 0) // '0x5c…'
 */
export function taskIdOf(jobId: Hex, idx: number): Hex {
  return keccak256Hex(`${jobId}:${idx}`);
}
