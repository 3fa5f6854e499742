import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isPlexusError } from '../errors/PlexusError.ts';
import { aggregationOf } from './trainJob.ts';

test('--rule defaults to the recommended rule for --workers; --byzantine is checked before upload', () => {
  assert.equal(aggregationOf({ workers: 8 }).rule, 'multi-krum', '8 workers: multi-krum, f = 2');
  assert.equal(aggregationOf({ workers: 4 }).rule, 'median', '4 workers: no Krum guarantee');
  assert.equal(aggregationOf({ workers: 8, rule: 'mean' }).rule, 'mean');
  const krum = aggregationOf({ workers: 8, rule: 'multi-krum', byzantine: 5 });
  assert.equal(krum.byzantine, 5, 'the explicit f reaches the spec');
  assert.throws(
    () => aggregationOf({ workers: 8, rule: 'multi-krum', byzantine: 6 }),
    (e: unknown) => isPlexusError(e, 'PLX_TRAIN_AGGREGATION_INVALID'),
  );
  assert.throws(
    () => aggregationOf({ workers: 2, rule: 'multi-krum' }),
    (e: unknown) => isPlexusError(e, 'PLX_TRAIN_AGGREGATION_INVALID'),
  );
  assert.throws(
    () => aggregationOf({ workers: 8, rule: 'krum' }),
    (e: unknown) => isPlexusError(e, 'PLX_USAGE'),
  );
});
