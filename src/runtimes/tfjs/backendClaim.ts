/**
 * The TF.js training backends this installation runs, as a provider claims them in its hello
 * (`hardware.trainBackends`, `<name>@<release>`): read from the packages' package.json files, so
 * the agent claims them without loading TF.js. A backend is claimed only where core, layers and
 * its own package are one release (a mixed install rounds like neither). The coordinator leases a
 * `train.diloco` task only to a provider claiming the job's backend (docs/training.md "The spec").
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

/**
 * @example trainBackendsClaim(); // ['wasm@4.22.0', 'cpu@4.22.0']
 */
export function trainBackendsClaim(): string[] {
  const require = createRequire(import.meta.url);
  const version = (pkg: string): string | undefined => {
    try {
      return (
        JSON.parse(readFileSync(require.resolve(`${pkg}/package.json`), 'utf8')) as { version?: string }
      ).version;
    } catch {
      return undefined;
    }
  };
  const core = version('@tensorflow/tfjs-core');
  if (!core || version('@tensorflow/tfjs-layers') !== core) return [];
  return (['wasm', 'cpu'] as const)
    .filter((b) => version(`@tensorflow/tfjs-backend-${b}`) === core)
    .map((b) => `${b}@${core}`);
}

/**
 * The claim's `trainBackends` field (absent where none is installed whole).
 *
 * @example const claimed = { ...hardwareClaim(hardware), ...trainClaim() };
 */
export function trainClaim(): { trainBackends?: string[] } {
  const b = trainBackendsClaim();
  return b.length > 0 ? { trainBackends: b } : {};
}
