import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** The PostgreSQL server every development machine and CI runs (trust auth, user postgres). */
export const POSTGRES_ADMIN_URL =
  process.env.PLEXUS_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/**
 * Whether the test server answers. Under CI (`CI=true`) an unreachable server is an error, never
 * a skip: the PostgreSQL half of a suite must not pass by not running.
 *
 * @example test('…', { skip: await postgresSkip() }, async () => { … });
 */
export async function postgresSkip(): Promise<string | false> {
  const client = new pg.Client({ connectionString: POSTGRES_ADMIN_URL, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
    return false;
  } catch (err) {
    if (process.env.CI === 'true')
      throw new Error(`CI=true and PostgreSQL is unreachable at ${POSTGRES_ADMIN_URL}`, { cause: err });
    return `PostgreSQL unreachable at ${POSTGRES_ADMIN_URL}`;
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * A fresh database with a random name on the test server, and its removal (connections still
 * open to it are closed by the drop).
 *
 * @example const { url, drop } = await createTestDatabase(); try { … } finally { await drop(); }
 */
export async function createTestDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `plexus_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(POSTGRES_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}
