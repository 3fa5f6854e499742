/**
 * Finds `assert.ok(x)` and `assert(x)` calls without a message in test code. When such a call
 * fails, Node's assert builds a message by re-reading and parsing the caller's source with a
 * JavaScript parser; on TypeScript sources it retries at every earlier position, which takes
 * minutes on a long test file — long enough for the runner's per-file timeout to report a
 * "timed out" file instead of the failed assertion (CI of 2026-12-06: two files lost that way).
 */
import ts from 'typescript';
import type { SourceFile } from './importGraph.ts';

/** `file:line` of every one-argument `assert.ok(…)` / `assert(…)` call in `files`. */
export function bareAsserts(files: readonly SourceFile[]): string[] {
  const out: string[] = [];
  for (const file of files) {
    if (!file.text.includes('assert')) continue;
    const sf = ts.createSourceFile(file.path, file.text, ts.ScriptTarget.Latest, true);
    const visit = (node: ts.Node): void => {
      if (
        ts.isCallExpression(node) &&
        node.arguments.length === 1 &&
        /^assert(\.ok)?$/.test(node.expression.getText(sf))
      ) {
        const { line } = sf.getLineAndCharacterOfPosition(node.getStart(sf));
        out.push(`${file.path}:${line + 1}`);
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }
  return out;
}
