/**
 * Where a Plexus network's contracts live: the deployment file (`dataDir/deployment.json`, written
 * by the devnet and by whoever deploys) and the coordinator's `GET /v1/chain`. One schema for each,
 * used by every reader (coordinator, CLI, ledger check, devnet, explorer).
 */
import { readFile, stat } from 'node:fs/promises';
import { type Address, isAddress } from 'viem';
import { z } from 'zod';
import { PlexusError } from '../errors/PlexusError.ts';

/** A deployment file is small; anything larger is not one. */
export const MAX_DEPLOYMENT_FILE_BYTES = 64 * 1024;

const addressSchema = z
  .string()
  .refine((s) => isAddress(s), 'must be a 0x-prefixed 20-byte address') as unknown as z.ZodType<Address>;
const httpUrlSchema = z.url({ protocol: /^https?$/ });
/** A uint as JSON: a decimal string (bigints are written that way) or a safe integer. */
const uintSchema = z.union([
  z.string().regex(/^\d{1,78}$/, 'must be a decimal integer'),
  z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
]);
const contractsShape = {
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
 * `deployment.json`: the chain, the four contracts, and (from a full deployment) the validator set,
 * threshold and parameters. Other fields are allowed and ignored.
 *
 * @example
 * const d = deploymentFileSchema.parse(JSON.parse(text));
 */
export const deploymentFileSchema = z.looseObject({
  ...contractsShape,
  rpcUrl: httpUrlSchema.optional(),
  validators: z.array(addressSchema).max(1000).optional(),
  threshold: z.int().min(1).max(1000).optional(),
  epochDuration: uintSchema.optional(),
  minStake: uintSchema.optional(),
});

/**
 * A parsed deployment file.
 *
 * @example
 * const d: DeploymentFile = await readDeploymentFile('.plexus/devnet/deployment.json');
 */
export type DeploymentFile = z.infer<typeof deploymentFileSchema>;

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
});

/**
 * The body of `GET /v1/chain`.
 *
 * @example
 * const info: ChainInfo = { chainId: 31337, rpcUrl, token, registry, escrow, settlement, epochDuration: 20 };
 */
export type ChainInfo = z.infer<typeof chainInfoSchema>;

/**
 * Reads and checks a deployment file: at most 64 KiB, JSON, and the schema above. Every problem
 * is a `PLX_VALIDATION` error that names the file (`label` is how the user gave it, e.g. the
 * option `--deployment`).
 *
 * @example
 * const d = await readDeploymentFile(opts.deployment);
 * const rpcUrl = opts.rpcUrl ?? d.rpcUrl;
 */
export async function readDeploymentFile(
  path: string,
  label = 'the deployment file',
): Promise<DeploymentFile> {
  let text: string;
  try {
    const { size } = await stat(path);
    if (size > MAX_DEPLOYMENT_FILE_BYTES) {
      throw new PlexusError('PLX_VALIDATION', `${path} is ${size} bytes; a deployment file is < 64 KiB`);
    }
    text = await readFile(path, 'utf8');
  } catch (cause) {
    if (cause instanceof PlexusError) throw cause;
    throw new PlexusError('PLX_VALIDATION', `cannot read ${label} ${path}: ${String(cause)}`, {
      cause,
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new PlexusError('PLX_VALIDATION', `${path} is not valid JSON`, { cause });
  }
  const parsed = deploymentFileSchema.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new PlexusError('PLX_VALIDATION', `${path} is not a deployment file: ${issues}`);
  }
  return parsed.data;
}

/**
 * The JSON text of a deployment file (bigints as decimal strings), as the devnet writes it.
 *
 * @example
 * await writeFile(join(dataDir, 'deployment.json'), deploymentFileJson({ rpcUrl, ...deployment }));
 */
export function deploymentFileJson(d: Record<string, unknown>): string {
  return JSON.stringify(d, (_k, v) => (typeof v === 'bigint' ? v.toString() : v), 2);
}
