/**
 * `GET /v1/chain`: where a coordinator's contracts are and how long an epoch lasts, and the
 * address and URL schemas the deployment file shares with it. No Node.js imports: the explorer
 * type-imports from here.
 */
import { type Address, isAddress } from 'viem';
import { z } from 'zod';

/**
 * A 0x-prefixed 20-byte address (any case).
 *
 * @example
 * addressSchema.parse('0x70997970c51812dc3a010c7d01b50e0d17dc79c8');
 */
export const addressSchema = z
  .string()
  .refine((s) => isAddress(s), 'must be a 0x-prefixed 20-byte address') as unknown as z.ZodType<Address>;

/**
 * An http(s) URL.
 *
 * @example
 * httpUrlSchema.parse('http://127.0.0.1:8545');
 */
export const httpUrlSchema = z.url({ protocol: /^https?$/ });

/**
 * The chain id and the four contracts of a deployment.
 *
 * @example
 * const schema = z.looseObject({ ...contractsShape, rpcUrl: httpUrlSchema });
 */
export const contractsShape = {
  chainId: z
    .int()
    .min(1)
    .max(2 ** 53),
  token: addressSchema,
  registry: addressSchema,
  escrow: addressSchema,
  settlement: addressSchema,
};

/**
 * The coordinator's `GET /v1/chain` (docs/protocol.md): where its contracts are and how long an
 * epoch lasts.
 *
 * @example
 * const info = chainInfoSchema.parse(await res.json());
 */
export const chainInfoSchema = z.looseObject({
  ...contractsShape,
  rpcUrl: httpUrlSchema,
  epochDuration: z.int().min(1),
  /** Where transaction hashes link to (`blockExplorerUrl/tx/HASH`), when the operator set one. */
  blockExplorerUrl: httpUrlSchema.optional(),
});

/**
 * The body of `GET /v1/chain`.
 *
 * @example
 * const info: ChainInfo = { chainId: 31337, rpcUrl, token, registry, escrow, settlement, epochDuration: 20 };
 */
export type ChainInfo = z.infer<typeof chainInfoSchema>;
