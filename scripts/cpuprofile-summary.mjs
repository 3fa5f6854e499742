// Summarises a V8 .cpuprofile: total, top self times, top inclusive times (optionally only frames
// whose name contains FILTER). Usage: node scripts/cpuprofile-summary.mjs FILE.cpuprofile [FILTER]
import { readFileSync } from 'node:fs';

const p = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const dt = p.timeDeltas;
const total = dt.reduce((a, b) => a + b, 0);
const parent = new Map();
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const selfT = new Map();
for (let i = 0; i < p.samples.length; i++)
  selfT.set(p.samples[i], (selfT.get(p.samples[i]) ?? 0) + (dt[i] ?? 0));
const key = (n) =>
  `${n.callFrame.functionName || '(anon)'} ${n.callFrame.url.replace(/.*node_modules\//, 'nm/').replace(/.*\/main\//, '')}:${n.callFrame.lineNumber}`;
const agg = new Map();
const incl = new Map();
for (const [id, t] of selfT) {
  const n = byId.get(id);
  agg.set(key(n), (agg.get(key(n)) ?? 0) + t);
  const seen = new Set();
  let cur = id;
  while (cur !== undefined) {
    const k = key(byId.get(cur));
    if (!seen.has(k)) {
      seen.add(k);
      incl.set(k, (incl.get(k) ?? 0) + t);
    }
    cur = parent.get(cur);
  }
}
const filter = process.argv[3];
console.log('total ms', (total / 1000).toFixed(0));
console.log('--- self');
for (const [k, t] of [...agg].sort((a, b) => b[1] - a[1]).slice(0, 35))
  console.log((t / 1000).toFixed(1).padStart(8), k);
console.log('--- inclusive');
for (const [k, t] of [...incl]
  .sort((a, b) => b[1] - a[1])
  .filter(([k]) => !filter || k.includes(filter))
  .slice(0, 60))
  console.log((t / 1000).toFixed(1).padStart(8), k);
