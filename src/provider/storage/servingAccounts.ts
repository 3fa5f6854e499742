/**
 * A piece server's pay-as-you-go book (servePieces.ts), per `reader/object`: the highest receipt
 * it has seen (`paidUpTo`) and the bytes it served (or is serving) since (`owed`). With a `file`
 * the book is a journal on disk (one line per change, `key paidUpTo owed`, appended before the
 * change is acted on; compacted when it grows past a few times the book), so a restarted server
 * remembers who owes it: before, a restart forgot every reader, and each could take one more
 * piece of every object unpaid (docs/storage.md, "Direct serving").
 */
import { appendFileSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';

export type ServingAccount = { paidUpTo: bigint; owed: bigint };

const LINE = /^([0-9a-fx]{1,42}\/0x[0-9a-f]{64}) (\d{1,78}) (\d{1,78})$/;

/**
 * @example
 * const book = createServingAccounts({ file: join(dir, 'serving-accounts.log'), max: 10_000 });
 * const a = book.get(key); a.owed += 5000n; book.save(key);
 */
export function createServingAccounts(o: { file?: string; max: number }) {
  const accounts = new Map<string, ServingAccount>();
  let lines = 0;
  if (o.file && existsSync(o.file)) {
    for (const line of readFileSync(o.file, 'utf8').split('\n')) {
      const m = LINE.exec(line);
      if (!m) continue; // a torn last line (a crash mid-append) is skipped
      accounts.delete(m[1]!);
      accounts.set(m[1]!, { paidUpTo: BigInt(m[2]!), owed: BigInt(m[3]!) });
      lines++;
    }
    while (accounts.size > o.max) accounts.delete(accounts.keys().next().value as string);
  }
  const lineOf = (k: string, a: ServingAccount) => `${k} ${a.paidUpTo} ${a.owed}\n`;
  /** Rewrites the journal with one line per account (renamed into place). */
  const compact = (file: string) => {
    writeFileSync(`${file}.tmp`, [...accounts].map(([k, a]) => lineOf(k, a)).join(''));
    renameSync(`${file}.tmp`, file);
    lines = accounts.size;
  };
  return {
    /** The account of `key`, created empty (the oldest forgotten past `max`). */
    get(key: string): ServingAccount {
      let a = accounts.get(key);
      if (!a) {
        a = { paidUpTo: 0n, owed: 0n };
        accounts.set(key, a);
        if (accounts.size > o.max) accounts.delete(accounts.keys().next().value as string);
      }
      return a;
    },
    /** Writes `key`'s account to the journal (synchronously: it is on disk before the piece moves). */
    save(key: string): void {
      const a = accounts.get(key);
      if (!o.file || !a || !LINE.test(lineOf(key, a).trimEnd())) return;
      appendFileSync(o.file, lineOf(key, a));
      if (++lines > 4 * Math.max(o.max, 256)) compact(o.file);
    },
    size: () => accounts.size,
  };
}
