/**
 * Epochs of one second from `t0` for the epoch-close tests: 1 closing (its close under way), 2 and
 * 3 open, and epoch 2's cpu base price — the state a close of epoch 2 races pricing on.
 */
import type { Store } from '../../src/coordinator/store/openStore.ts';

export async function seedCloseEpochs(store: Store, t0: number): Promise<void> {
  const row = (epoch: number, status: 'open' | 'closing') => ({
    epoch,
    status,
    starts_at: t0 + (epoch - 1) * 1000,
    ends_at: t0 + epoch * 1000,
    payload: null,
    tree: null,
    summary: null,
    signatures: null,
    tx_hash: null,
    settled_at: null,
    updated_at: 0,
  });
  await store.db
    .insertInto('epochs')
    .values([row(1, 'closing'), row(2, 'open'), row(3, 'open')])
    .execute();
  await store.db
    .insertInto('prices')
    .values({ class: 'cpu', epoch: 2, base_price: '200000000000000', utilization: null })
    .execute();
}
