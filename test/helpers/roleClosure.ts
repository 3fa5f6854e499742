/**
 * What a role loads at run time: the source files reachable from its entry modules through
 * value imports (static, `import()`, `require()`, re-exports; type-only imports are erased), and
 * the npm packages those files import (also `require.resolve('pkg/…')`, which locates a package's
 * files). `test/installRoles.test.ts` checks that a provider's and a coordinator's packages are all
 * production dependencies, so `npm install --omit=dev` gives a working provider and coordinator.
 */

import { readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, normalize, sep } from 'node:path';
import ts from 'typescript';

/** The npm package a bare specifier names (`@scope/name/sub` → `@scope/name`), or null. */
export function packageOf(spec: string): string | null {
  if (spec.startsWith('.') || spec.startsWith('/') || spec.startsWith('node:')) return null;
  const parts = spec.split('/');
  const name = spec.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
  return builtinModules.includes(name) ? null : name;
}

/** Value imports of one file: relative ones resolved to repo-relative paths, and package names. */
export function valueImports(path: string, text: string): { files: string[]; packages: string[] } {
  const sf = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true);
  const files: string[] = [];
  const packages: string[] = [];
  const add = (spec: string) => {
    if (spec.startsWith('.'))
      files.push(
        normalize(join(dirname(path), spec))
          .split(sep)
          .join('/'),
      );
    else {
      const p = packageOf(spec);
      if (p) packages.push(p);
    }
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const c = node.importClause;
      const typeOnly =
        c !== undefined &&
        (c.isTypeOnly ||
          (c.name === undefined &&
            c.namedBindings !== undefined &&
            ts.isNamedImports(c.namedBindings) &&
            c.namedBindings.elements.length > 0 &&
            c.namedBindings.elements.every((e) => e.isTypeOnly)));
      if (!typeOnly) add(node.moduleSpecifier.text);
    } else if (
      ts.isExportDeclaration(node) &&
      node.moduleSpecifier &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      if (!node.isTypeOnly) add(node.moduleSpecifier.text);
    } else if (ts.isCallExpression(node) && node.arguments[0] && ts.isStringLiteral(node.arguments[0])) {
      const callee = node.expression;
      const isImport = callee.kind === ts.SyntaxKind.ImportKeyword;
      // require('x'), and createRequire(import.meta.url)('x') as ESM code loads JSON and addons.
      const isRequire =
        (ts.isIdentifier(callee) && callee.text === 'require') ||
        (ts.isCallExpression(callee) && callee.expression.getText(sf) === 'createRequire');
      const isResolve =
        ts.isPropertyAccessExpression(callee) &&
        callee.name.text === 'resolve' &&
        /require/i.test(callee.expression.getText(sf));
      if (isImport || isRequire || isResolve) add(node.arguments[0].text);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return { files, packages };
}

/**
 * Every file and package reachable from `entries` (repo-relative paths under `root`).
 *
 * @example const { packages } = roleClosure(root, ['src/cli/provider.ts']);
 */
export function roleClosure(
  root: string,
  entries: readonly string[],
  /** Files not followed (another role's entry). */
  exclude: readonly string[] = [],
): { files: Set<string>; packages: Map<string, string> } {
  const files = new Set<string>();
  /** package → the first file that imports it (for the failure message). */
  const packages = new Map<string, string>();
  const queue = [...entries];
  while (queue.length > 0) {
    const f = queue.pop()!;
    if (files.has(f) || exclude.includes(f)) continue;
    files.add(f);
    const imports = valueImports(f, readFileSync(join(root, f), 'utf8'));
    for (const p of imports.packages) if (!packages.has(p)) packages.set(p, f);
    for (const next of imports.files) if (!files.has(next)) queue.push(next);
  }
  return { files, packages };
}
