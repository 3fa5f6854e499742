/**
 * Events across coordinator replicas on one PostgreSQL database (docs/scaling.md, "Events to
 * every replica"): LISTEN/NOTIFY wakes every replica's event streams, and a high-water mark keeps
 * them gap-free although replicas commit events out of id order.
 */
import pg from 'pg';

/** The NOTIFY channel every replica listens on. */
export const EVENTS_CHANNEL = 'plexus_events';
/**
 * The advisory lock of event appends ("PLXEVENT" in ASCII): every transaction appending an event
 * holds it shared from before its id is drawn until it commits; the high-water mark takes it
 * exclusively for an instant, so when it reads the newest id no transaction still holds a lower one.
 */
export const EVENTS_LOCK_KEY = 0x504c584556454e54n;
/** A notification's payload stays under PostgreSQL's 8,000-byte bound: beyond, "wake everyone". */
const MAX_PAYLOAD = 7_000;

/** What the event log needs from its replicas' bridge. */
export type EventBridge = {
  /**
   * The newest event id below which no event can still appear: every transaction that drew a
   * lower id has committed or rolled back. A call waits for a barrier that starts after it.
   */
  settledId(): Promise<number>;
  /** Tells the other replicas that events of these jobs (null: job-less events) were committed. */
  publish(jobIds: ReadonlyArray<string | null>): void;
  /** Starts listening; `onRemote` gets the job ids another replica published ('*': all may have). */
  start(onRemote: (jobIds: string[] | '*') => void): Promise<void>;
  stop(): Promise<void>;
};

/**
 * The PostgreSQL bridge: one connection of its own LISTENs and takes the high-water mark (a
 * pooled one could be closed when idle, losing the LISTEN); notifications are sent through
 * `send` (the store's pool) after the appending transaction committed.
 *
 * @example
 * const bridge = createPgEventBridge({ url, send: (p) => sql`select pg_notify(${EVENTS_CHANNEL}, ${p})`.execute(db) });
 * const events = createEventLog(db, undefined, { bridge });
 */
export function createPgEventBridge(opts: {
  url: string;
  /** Sends `pg_notify(EVENTS_CHANNEL, payload)` (through the store's pool). */
  send: (payload: string) => Promise<unknown>;
  onError?: (err: unknown) => void;
  /** Wait before reconnecting a lost listener (default 1 s). */
  retryMs?: number;
}): EventBridge {
  const replica = Math.random().toString(36).slice(2, 10);
  const retryMs = opts.retryMs ?? 1000;
  let client: pg.Client | undefined;
  let connecting: Promise<pg.Client> | undefined;
  let stopped = false;
  let onRemote: (jobIds: string[] | '*') => void = () => {};
  let retry: NodeJS.Timeout | undefined;

  const fail = (err: unknown) => {
    opts.onError?.(err);
    const c = client;
    client = undefined;
    void c?.end().catch(() => {});
    if (!stopped && !retry) {
      retry = setTimeout(() => {
        retry = undefined;
        void connect().catch(() => {});
      }, retryMs);
      retry.unref();
    }
  };

  async function connect(): Promise<pg.Client> {
    if (client) return client;
    if (stopped) throw new Error('the event bridge is stopped');
    connecting ??= (async () => {
      const c = new pg.Client({ connectionString: opts.url });
      c.on('error', (err) => {
        if (client === c) fail(err);
      });
      c.on('end', () => {
        if (client === c) fail(new Error('event listener connection ended'));
      });
      c.on('notification', (n) => {
        if (n.channel !== EVENTS_CHANNEL || !n.payload) return;
        const at = n.payload.indexOf(' ');
        if (n.payload.slice(0, at) === replica) return;
        const body = n.payload.slice(at + 1);
        onRemote(body === '*' ? '*' : (JSON.parse(body) as string[]));
      });
      await c.connect();
      await c.query(`LISTEN ${EVENTS_CHANNEL}`);
      client = c;
      // Whatever was published while no one listened: every stream reads again.
      onRemote('*');
      return c;
    })().finally(() => {
      connecting = undefined;
    });
    return connecting;
  }

  async function barrier(): Promise<number> {
    const c = await connect();
    try {
      await c.query('SELECT pg_advisory_lock($1::bigint)', [EVENTS_LOCK_KEY.toString()]);
      const r = await c.query<{ id: number | string }>(
        'SELECT (SELECT coalesce(max(id), 0) FROM events) AS id, pg_advisory_unlock($1::bigint) AS u',
        [EVENTS_LOCK_KEY.toString()],
      );
      return Number(r.rows[0]?.id ?? 0);
    } catch (err) {
      if (client === c) fail(err);
      throw err;
    }
  }
  let current: Promise<number> | undefined;
  let next: Promise<number> | undefined;
  function settledId(): Promise<number> {
    if (!current) {
      current = barrier().finally(() => {
        current = undefined;
      });
      return current;
    }
    // One already running may have read the newest id before the caller's events committed.
    next ??= current
      .catch(() => 0)
      .then(() => {
        next = undefined;
        return settledId();
      });
    return next;
  }

  return {
    settledId,
    publish(jobIds) {
      const ids = jobIds.filter((j): j is string => j !== null);
      let body = JSON.stringify(ids);
      if (body.length > MAX_PAYLOAD || ids.length < jobIds.length) body = '*';
      opts.send(`${replica} ${body}`).catch((err: unknown) => opts.onError?.(err));
    },
    async start(fn) {
      onRemote = fn;
      await connect();
    },
    async stop() {
      stopped = true;
      if (retry) clearTimeout(retry);
      await connecting?.catch(() => {});
      const c = client;
      client = undefined;
      await c?.end().catch(() => {});
    },
  };
}
