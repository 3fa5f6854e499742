import pg from 'pg';

/** The advisory lock key of the settlement leader (any fixed 64-bit number; "PLXSETTL" in ASCII). */
export const SETTLEMENT_LOCK_KEY = 0x504c58534554544cn;

export type LeaderLock = {
  /** Whether this process holds the lock now. */
  isLeader(): boolean;
  /** Tries at once, then every `retryMs`, until stopped. */
  start(): void;
  /** Releases the lock (closing its connection) and stops trying. */
  stop(): Promise<void>;
};

/**
 * Leadership among coordinator replicas on one PostgreSQL database: the holder of a session
 * advisory lock (`pg_try_advisory_lock`) on a connection of its own (a pooled one would be closed
 * when idle and drop the lock silently). When the leader's process dies its connection closes,
 * the server releases the lock, and the next replica's periodic try takes it. `onAcquired` and
 * `onLost` are called on each change; a lost connection counts as lost leadership at once.
 *
 * @example
 * const lock = createLeaderLock({ url, key: SETTLEMENT_LOCK_KEY, retryMs: 5000,
 *   onAcquired: () => settlement.start(), onLost: () => void settlement.stop() });
 * lock.start();
 */
export function createLeaderLock(opts: {
  url: string;
  key: bigint;
  retryMs: number;
  onAcquired: () => void;
  onLost: () => void;
  onError?: (err: unknown) => void;
}): LeaderLock {
  let client: pg.Client | undefined;
  let leader = false;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let trying: Promise<void> | undefined;

  const lose = () => {
    client = undefined;
    if (leader) {
      leader = false;
      opts.onLost();
    }
  };

  async function attempt(): Promise<void> {
    if (stopped || leader) return;
    try {
      if (!client) {
        // Named, so an operator (or a test) sees which process leads: pg_stat_activity joined
        // with pg_locks on the advisory lock names it.
        const c = new pg.Client({
          connectionString: opts.url,
          application_name: `plexus-settlement-leader pid=${process.pid}`,
        });
        c.on('error', (err) => {
          opts.onError?.(err);
          lose();
        });
        c.on('end', () => {
          if (client === c) lose();
        });
        await c.connect();
        client = c;
      }
      const r = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1::bigint) AS ok', [
        opts.key.toString(),
      ]);
      if (r.rows[0]?.ok && !stopped) {
        leader = true;
        opts.onAcquired();
      }
    } catch (err) {
      opts.onError?.(err);
      const c = client;
      lose();
      await c?.end().catch(() => {});
    }
  }

  const tick = () => {
    trying ??= attempt().finally(() => {
      trying = undefined;
    });
  };

  return {
    isLeader: () => leader,
    start() {
      if (timer) return;
      tick();
      timer = setInterval(tick, opts.retryMs);
      timer.unref();
    },
    async stop() {
      stopped = true;
      if (timer) clearInterval(timer);
      await trying;
      const c = client;
      client = undefined;
      if (leader) {
        leader = false;
        opts.onLost();
      }
      await c?.end().catch(() => {});
    },
  };
}
