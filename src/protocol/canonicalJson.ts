import canonicalize from 'canonicalize';
import { keccak256Hex } from './keccak.ts';

/**
 * RFC 8785 canonical JSON of `value`, so the same object always hashes the same way,
 * whatever order its keys were written in.
 * @example canonicalJson({ b: 1, a: 2 }) // '{"a":2,"b":1}'
 */
export function canonicalJson(value: unknown): string {
  const out = canonicalize(value);
  if (out === undefined) throw new TypeError('value cannot be canonicalized');
  return out;
}

/** keccak256 of the canonical JSON of `value`: what signed messages commit to. */
export function hashCanonical(value: unknown): `0x${string}` {
  return keccak256Hex(canonicalJson(value));
}
