/**
 * Benchmark runner: `npm run bench -- NAME [--json] [bench options]` runs `bench/NAME.ts`.
 * Each benchmark module exports `run(args: string[]): Promise<Record<string, unknown>>`,
 * prints a human-readable table as it goes, and returns its figures; with `--json` the last
 * stdout line is those figures as one JSON object.
 */
import { readdirSync } from 'node:fs';

const [name, ...rest] = process.argv.slice(2);
const available = readdirSync(new URL('.', import.meta.url))
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts' && !f.endsWith('.test.ts'))
  .map((f) => f.slice(0, -3));
if (!name || !available.includes(name)) {
  console.error(`usage: npm run bench -- NAME [--json]\navailable: ${available.join(', ')}`);
  process.exit(2);
}
const json = rest.includes('--json');
const args = rest.filter((a) => a !== '--json');
const mod = (await import(`./${name}.ts`)) as { run: (args: string[]) => Promise<Record<string, unknown>> };
const figures = await mod.run(args);
if (json) console.log(JSON.stringify({ bench: name, date: new Date().toISOString(), ...figures }));
process.exit(0);
