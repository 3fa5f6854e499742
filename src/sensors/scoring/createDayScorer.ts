import type { Kysely } from 'kysely';
import type { Database } from '../../coordinator/store/schema.ts';
import type { Logger } from '../../logger.ts';
import { scoreSensors, storeScores } from './scoreSensors.ts';

const DAY = 86_400_000;
const META_KEY = 'sensor_days_scored_through';

export type DayScorer = {
  /** Scores every finished UTC day not scored yet (at most `maxDays` back); returns the days scored. */
  catchUp(): Promise<number[]>;
  start(intervalMs: number): void;
  stop(): Promise<void>;
};

/**
 * Scores each finished UTC day once (kind `day` in sensor_scores): the device-day scores datasets
 * filter on (`minQuality`) and the API shows. Runs at start and then on a timer.
 *
 * @example
 * const scorer = createDayScorer({ db, log }); scorer.start(600_000);
 */
export function createDayScorer(deps: {
  db: Kysely<Database>;
  log: Logger;
  now?: () => number;
  maxDays?: number;
}): DayScorer {
  const now = deps.now ?? Date.now;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> = Promise.resolve();
  async function catchUp(): Promise<number[]> {
    const row = await deps.db
      .selectFrom('market_meta')
      .select('value')
      .where('key', '=', META_KEY)
      .executeTakeFirst();
    const today = Math.floor(now() / DAY) * DAY;
    let day = Math.max(row ? Number(row.value) : 0, today - (deps.maxDays ?? 7) * DAY);
    const done: number[] = [];
    for (; day < today; day += DAY) {
      const scores = await scoreSensors(deps.db, { fromMs: day, toMs: day + DAY });
      await deps.db.transaction().execute(async (trx) => {
        await storeScores(trx as unknown as Kysely<Database>, 'day', day, day + DAY, scores, now());
        await trx
          .insertInto('market_meta')
          .values({ key: META_KEY, value: String(day + DAY) })
          .onConflict((oc) => oc.column('key').doUpdateSet({ value: String(day + DAY) }))
          .execute();
      });
      if (scores.length > 0)
        deps.log.info({ day: new Date(day).toISOString(), devices: scores.length }, 'sensor day scored');
      done.push(day);
    }
    return done;
  }
  return {
    catchUp,
    start(intervalMs) {
      const tick = () => {
        running = running.then(catchUp).catch((err) => deps.log.error({ err }, 'sensor day scoring failed'));
      };
      tick();
      timer = setInterval(tick, intervalMs);
    },
    async stop() {
      if (timer) clearInterval(timer);
      await running;
    },
  };
}
