import jsSha3 from 'js-sha3';
import type { Hex } from 'viem';

/**
 * keccak-256 with js-sha3: the same digest as viem's `keccak256` (@noble/hashes), 4–5× faster
 * for the short inputs hashed per task (measured on the 2-core VM: a 288-byte EIP-712 struct
 * 95 → 20 µs, 64 bytes 32 → 7.5 µs). The coordinator hashes a few per task result (the
 * signature check) and one per task at a job's submission (its id).
 *
 * @example const digest = keccak256Bytes(new Uint8Array(64));
 */
export function keccak256Bytes(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(jsSha3.keccak256.arrayBuffer(bytes));
}

/**
 * keccak-256 as 0x-prefixed hex, of bytes or of a text's UTF-8 (what viem's
 * `keccak256(toBytes(text))` gives for a text that is not itself hex).
 *
 * @example keccak256Hex('abc') // '0x4e03657a…'
 */
export function keccak256Hex(data: Uint8Array | string): Hex {
  return `0x${jsSha3.keccak256(typeof data === 'string' ? Buffer.from(data, 'utf8') : data)}`;
}
