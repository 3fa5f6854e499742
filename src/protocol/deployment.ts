/**
 * Where a Plexus network's contracts live: the deployment file (`dataDir/deployment.json`, written
 * by the devnet and by whoever deploys): one schema, used by every reader (coordinator, CLI, ledger
 * check, devnet). `GET /v1/chain`'s schema is in `./http/chain.ts`.
 */
import { readFile, stat } from 'node:fs/promises';
import { z } from 'zod';
import { PlexusError } from '../errors/PlexusError.ts';
import { addressSchema, contractsShape, httpUrlSchema } from './http/chain.ts';

/** A deployment file is small; anything larger is not one. */
export const MAX_DEPLOYMENT_FILE_BYTES = 64 * 1024;

/** A uint as JSON: a decimal string (bigints are written that way) or a safe integer. */
const uintSchema = z.union([
  z.string().regex(/^\d{1,78}$/, 'must be a decimal integer'),
  z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
]);

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
