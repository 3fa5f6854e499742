import { PlexusError } from '../../errors/PlexusError.ts';
import type { Ingester } from './createIngester.ts';

/**
 * The ingester of a coordinator whose store cannot take sensor readings yet (PostgreSQL: the
 * ingester writes through SQLite's synchronous statements). Every batch is refused with
 * PLX_STORE_UNSUPPORTED; nothing is queued.
 *
 * @example const ingester = store.sqlite ? createIngester(store.sqlite, opts) : unsupportedIngester();
 */
export function unsupportedIngester(): Ingester {
  return {
    async ingest() {
      throw new PlexusError(
        'PLX_STORE_UNSUPPORTED',
        'sensor ingestion does not run on a PostgreSQL store yet (docs/scaling.md)',
      );
    },
    invalidate() {},
    queuedReadings: () => 0,
    flush: async () => {},
    stop: async () => {},
  };
}
