/**
 * Issue 22: the README's commands must keep working as written. Every `plexus …` / `npx plexus …`
 * line of the README's `sh` blocks (continuations joined, comments dropped, the blocks' own shell
 * variables such as `$P` expanded) is checked against the real command tree (all commands
 * loaded, as `plexus` builds it): the command path exists, every option is one that command (or
 * `plexus` itself) takes, each option's value passes the option's own parser (amounts, addresses,
 * numbers; placeholders such as `0x…` or `ADDRESS` are not parsed), required options and arguments
 * are there. No network and nothing runs, so it stays fast; test/readmeDevnet.test.ts runs the same
 * lines, in order, against a devnet.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Command, Option } from 'commander';
import { buildProgram } from '../src/cli/program.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Shell words of one line: quotes grouped and removed, no globbing or substitution. */
export function shellWords(line: string): string[] {
  const words: string[] = [];
  const re = /"([^"]*)"|'([^']*)'|(\S+)/g;
  for (const m of line.matchAll(re)) words.push(m[1] ?? m[2] ?? m[3]!);
  return words;
}

/** Every `plexus` command line of the README's sh blocks, with its line number. */
export function readmeCommands(markdown: string): { line: number; words: string[] }[] {
  const out: { line: number; words: string[] }[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() !== '```sh') continue;
    const vars = new Map<string, string>();
    let text = '';
    let start = i + 1;
    for (i++; i < lines.length && lines[i]!.trim() !== '```'; i++) {
      const raw = lines[i]!;
      if (text === '') start = i + 1;
      // A comment starts at `#` after a space (or at the line's start); `#` inside words stays.
      const code = raw.replace(/(^|\s)#.*$/, '').trimEnd();
      if (code.endsWith('\\')) {
        text += `${code.slice(0, -1)} `;
        continue;
      }
      text += code;
      const assign = /^([A-Z_]+)=(["'])(.*)\2$/.exec(text.trim());
      if (assign) vars.set(assign[1]!, assign[3]!);
      else {
        const expanded = text.replace(/\$([A-Z_]+)/g, (_m, v: string) => vars.get(v) ?? `$${v}`);
        const words = shellWords(expanded);
        const at = words.findIndex((w, k) => w === 'plexus' && (k === 0 || words[k - 1] === 'npx'));
        if (at >= 0) out.push({ line: start, words: words.slice(at + 1) });
      }
      text = '';
    }
  }
  return out;
}

/** Placeholders the README uses where a reader puts their own value. */
const placeholder = (v: string) => v.includes('…') || /^(0x)?[A-Z][A-Z_]*$/.test(v) || v.startsWith('$');

/** What is wrong with one README command line (empty when it parses). */
function check(program: Command, words: string[]): string[] {
  const problems: string[] = [];
  let cmd = program;
  let k = 0;
  while (k < words.length && !words[k]!.startsWith('-')) {
    const sub = cmd.commands.find((c) => c.name() === words[k]);
    if (!sub) break;
    cmd = sub;
    k++;
  }
  if (cmd === program) return [`no command ${words[0]}`];
  if (
    cmd.commands.length > 0 &&
    cmd.registeredArguments.length === 0 &&
    words[k] &&
    !words[k]!.startsWith('-')
  )
    problems.push(`${cmd.name()} has no subcommand ${words[k]}`);
  const known = new Map<string, Option>();
  for (let c: Command | null = cmd; c; c = c.parent) for (const o of c.options) known.set(o.long ?? '', o);
  const positional: string[] = [];
  const given = new Set<string>();
  for (; k < words.length; k++) {
    const w = words[k]!;
    if (!w.startsWith('--')) {
      positional.push(w);
      continue;
    }
    const [flag, inline] = w.split('=', 2) as [string, string | undefined];
    const opt = known.get(flag) ?? known.get(flag.replace(/^--no-/, '--'));
    if (!opt) {
      problems.push(`${cmd.name()} takes no ${flag}`);
      continue;
    }
    given.add(opt.attributeName());
    if (!opt.required && !opt.optional) continue;
    const values: string[] = [];
    if (inline !== undefined) values.push(inline);
    else
      while (k + 1 < words.length && !words[k + 1]!.startsWith('--')) {
        values.push(words[++k]!);
        if (!opt.variadic) break;
      }
    if (values.length === 0 && opt.required) problems.push(`${flag} needs a value`);
    for (const v of values) {
      if (placeholder(v) || !opt.parseArg) continue;
      try {
        opt.parseArg(v, opt.defaultValue);
      } catch (err) {
        problems.push(`${flag} ${v}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }
  for (const o of cmd.options)
    if (o.mandatory && !given.has(o.attributeName()) && o.defaultValue === undefined)
      problems.push(`${cmd.name()} needs ${o.long}`);
  const required = cmd.registeredArguments.filter((a) => a.required).length;
  if (positional.length < required) problems.push(`${cmd.name()} needs ${required} argument(s)`);
  for (const [i, a] of cmd.registeredArguments.entries()) {
    const v = positional[i];
    if (v === undefined || placeholder(v) || !a.parseArg) continue;
    try {
      a.parseArg(v, a.defaultValue);
    } catch (err) {
      problems.push(`${a.name()} ${v}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return problems;
}

test("the README's commands name real commands and options with values that parse", async () => {
  const commands = readmeCommands(readFileSync(join(root, 'README.md'), 'utf8'));
  assert.ok(commands.length >= 20, `found ${commands.length} plexus commands in the README`);
  const program = await buildProgram([], { all: true });
  const problems = commands.flatMap((c) =>
    check(program, c.words).map((p) => `README.md:${c.line}: plexus ${c.words.join(' ')}: ${p}`),
  );
  assert.deepEqual(problems, []);
});

test('the README check fails on a drifted command (fixtures)', async () => {
  const program = await buildProgram([], { all: true });
  const md = [
    '```sh',
    'P="--data-dir x"',
    'npx plexus provider stake ten $P   # not an amount',
    'npx plexus job submit --modle m.onnx --input a b',
    'plexus sensors exprt --bbox 1,2,3,4',
    'npx plexus job status 0x…',
    'plexus validator start --keystore v.json --coordinator http://127.0.0.1:8080 --data-dir d',
    '```',
  ].join('\n');
  const found = readmeCommands(md).map((c) => check(program, c.words));
  assert.equal(found.length, 5);
  assert.match(found[0]!.join(), /ten/);
  assert.match(found[1]!.join(), /takes no --modle/);
  assert.match(found[2]!.join(), /no subcommand exprt/);
  assert.deepEqual(found[3], [], 'a placeholder is not parsed');
  assert.match(found[4]!.join(), /needs --deployment/, 'a required option left out');
});
