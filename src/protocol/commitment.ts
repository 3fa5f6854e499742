/**
 * Task commitments: before revealing its output a provider commits to
 * `sha256(abi.encode(taskId, provider, outputDigest, salt))` (and signs it, EIP-712 TaskCommitment).
 * The provider address inside the commitment stops one provider from replaying another's commitment.
 * Providers compute commitments, the coordinator and validators check reveals against them.
 */
import { createHash } from 'node:crypto';
import type { Hex } from 'viem';
import { normalizeAddress } from './address.ts';

/**
 * What a provider reveals after the commit phase closes.
 *
 * @example
 * const reveal: Reveal = { outputDigest: tensorSetDigest(outputs), salt };
 */
export type Reveal = { outputDigest: Hex; salt: Hex };

/**
 * The commitment a provider signs and sends before revealing its output digest.
 *
 * @example
 * const salt = toHex(crypto.getRandomValues(new Uint8Array(32)));
 * const c = computeCommitment({ taskId: 'task-1', provider: account.address, outputDigest, salt });
 */
export function computeCommitment(args: {
  taskId: string;
  provider: Hex;
  outputDigest: Hex;
  salt: Hex;
}): Hex {
  // ABI encoding so a contract can recompute it (`sha256(abi.encode(...))`, the sha256 precompile);
  // sha256 rather than keccak256 because Node hashes it natively, ~30× faster than keccak in JS.
  // The encoding of (string, address, bytes32, bytes32) is written out directly (a generic ABI
  // encoder built hex strings for it, twice per result): four head words, the string's offset
  // (0x80), the address left-padded, the two words as they are, then the string's byte length and
  // its UTF-8 bytes right-padded to whole words.
  const text = Buffer.from(args.taskId, 'utf8');
  const encoded = Buffer.alloc(32 * (5 + Math.ceil(text.length / 32)));
  encoded[31] = 0x80;
  encoded.write(normalizeAddress(args.provider).slice(2), 44, 'hex');
  encoded.write(bytes32Hex(args.outputDigest, 'outputDigest'), 64, 'hex');
  encoded.write(bytes32Hex(args.salt, 'salt'), 96, 'hex');
  encoded.writeUIntBE(text.length, 154, 6);
  text.copy(encoded, 160);
  return `0x${createHash('sha256').update(encoded).digest('hex')}`;
}

/** The 64 hex digits of a bytes32 value; anything else is refused. */
function bytes32Hex(value: string, name: string): string {
  if (!/^0x[0-9a-fA-F]{64}$/.test(value)) throw new TypeError(`${name} is not a bytes32 value`);
  return value.slice(2);
}

/**
 * True when `reveal` opens `commitment` for this task and provider.
 *
 * @example
 * verifyReveal({ taskId, provider, commitment, reveal: { outputDigest, salt } }); // true
 */
export function verifyReveal(args: {
  taskId: string;
  provider: Hex;
  commitment: Hex;
  reveal: Reveal;
}): boolean {
  try {
    return (
      computeCommitment({ taskId: args.taskId, provider: args.provider, ...args.reveal }).toLowerCase() ===
      args.commitment.toLowerCase()
    );
  } catch {
    return false; // malformed digest or salt (wrong length) cannot open anything
  }
}
