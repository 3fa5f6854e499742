/**
 * Spawns `plexus validator start` for an end-to-end test: its own keystore, its own store under
 * `dir/validator-<i>`, the deployment at `dir/deployment.json`, polling the coordinator every 300 ms.
 */
import { join } from 'node:path';
import { type NodeChild, spawnPlexus } from '../../src/devnet/spawnNode.ts';

/**
 * Starts validator `i`, listening on the port of `url`.
 *
 * @example
 * const v = spawnValidator(0, { keystore, dir, coordinator, url: 'http://127.0.0.1:7301', env });
 * await v.waitFor('PLEXUS_VALIDATOR_READY', 60_000);
 */
export function spawnValidator(
  i: number,
  o: {
    keystore: string;
    dir: string;
    coordinator: string;
    url: string;
    env: NodeJS.ProcessEnv;
    print?: (line: string) => void;
  },
): NodeChild {
  const port = new URL(o.url).port;
  const args = [
    'validator',
    'start',
    '--keystore',
    o.keystore,
    '--deployment',
    join(o.dir, 'deployment.json'),
  ];
  args.push('--coordinator', o.coordinator, '--data-dir', join(o.dir, `validator-${i}`), '--port', port);
  args.push('--poll-ms', '300');
  return spawnPlexus(`validator-${i}`, args, { env: o.env, ...(o.print ? { print: o.print } : {}) });
}
