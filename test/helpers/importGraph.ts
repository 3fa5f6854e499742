/**
 * The project's import graph, read with the TypeScript compiler API, and the rules that keep the
 * roles of the network apart (docs/architecture.md, "Who may import what"). `test/import-rules.test.ts`
 * runs them over the whole tree and over deliberately bad fixtures.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative, sep } from 'node:path';
import ts from 'typescript';

/** One import of a source file: the repo-relative file it resolves to and whether it is type-only. */
export type ImportEdge = { from: string; to: string; typeOnly: boolean };

/** A source file as the rules see it: its repo-relative path and text. */
export type SourceFile = { path: string; text: string };

/** A broken rule: which, where, and the offending import or line. */
export type Violation = { rule: string; file: string; detail: string };

const SOURCE = /\.(ts|tsx|mts|mjs|js)$/;

/** Every source file under `dirs` (repo-relative), skipping node_modules, dist and generated code. */
export function readSources(root: string, dirs: readonly string[]): SourceFile[] {
  const out: SourceFile[] = [];
  const walk = (rel: string): void => {
    let names: string[];
    try {
      names = readdirSync(join(root, rel));
    } catch {
      return;
    }
    for (const name of names) {
      if (name === 'node_modules' || name === 'dist' || name.startsWith('.')) continue;
      const path = join(rel, name);
      if (statSync(join(root, path)).isDirectory()) walk(path);
      else if (SOURCE.test(name))
        out.push({ path: path.split(sep).join('/'), text: readFileSync(join(root, path), 'utf8') });
    }
  };
  for (const d of dirs) walk(d);
  return out;
}

/**
 * The relative imports of a file (static imports and re-exports, `import()` and `require()`),
 * resolved to repo-relative paths. Package imports (no leading dot) are not edges of the graph.
 */
export function importsOf(file: SourceFile): ImportEdge[] {
  const sf = ts.createSourceFile(file.path, file.text, ts.ScriptTarget.Latest, true);
  const edges: ImportEdge[] = [];
  const add = (spec: string, typeOnly: boolean): void => {
    if (!spec.startsWith('.')) return;
    const to = normalize(join(dirname(file.path), spec))
      .split(sep)
      .join('/');
    edges.push({ from: file.path, to, typeOnly });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.importClause;
      const allTypes =
        clause !== undefined &&
        (clause.isTypeOnly ||
          (clause.name === undefined &&
            clause.namedBindings !== undefined &&
            ts.isNamedImports(clause.namedBindings) &&
            clause.namedBindings.elements.length > 0 &&
            clause.namedBindings.elements.every((e) => e.isTypeOnly)));
      add(node.moduleSpecifier.text, allTypes);
    } else if (
      ts.isExportDeclaration(node) &&
      node.moduleSpecifier &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      add(node.moduleSpecifier.text, node.isTypeOnly);
    } else if (
      ts.isCallExpression(node) &&
      (node.expression.kind === ts.SyntaxKind.ImportKeyword ||
        (ts.isIdentifier(node.expression) && node.expression.text === 'require')) &&
      node.arguments[0] &&
      ts.isStringLiteral(node.arguments[0])
    ) {
      add(node.arguments[0].text, false);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      const lit = node.argument.literal;
      if (ts.isStringLiteral(lit)) add(lit.text, true);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return edges;
}

const under = (path: string, dir: string): boolean => path === dir || path.startsWith(`${dir}/`);
const isTest = (path: string): boolean => /\.test\.tsx?$/.test(path);

/** Query-builder and raw-SQL calls: what a route handler must leave to the module owning the table. */
const SQL_CALL =
  /\.(selectFrom|insertInto|updateTable|deleteFrom|replaceInto|mergeInto)\s*\(|\bsql\s*`|\bsql\.(raw|ref|table|id|lit)\s*\(/;

/** The coordinator modules an independent validator may import: pure, no store, no I/O. */
export const VALIDATOR_MAY_IMPORT: readonly string[] = [
  'src/coordinator/settlement/epochComputation.ts',
  'src/coordinator/settlement/evidence.ts',
  'src/coordinator/settlement/epochFacts.ts',
  'src/coordinator/market/priceExecution.ts',
  'src/coordinator/market/bigMath.ts',
  'src/coordinator/market/constants.ts',
  'src/coordinator/verification/policy.ts',
  'src/coordinator/verification/constants.ts',
  'src/coordinator/verification/auditPolicy.ts',
  'src/coordinator/verification/reputation.ts',
  // Audit rates recomputed from the replayed reputation journal (checkAuditRates.ts).
  'src/coordinator/verification/drawRate.ts',
  'src/coordinator/verification/renderAuditRate.ts',
  // Render value rewards re-derived from their size and frame (checkAuditRates.ts).
  'src/coordinator/verification/renderValue.ts',
  'src/sensors/constants.ts',
  'src/sensors/identity/sensorMessages.ts',
  'src/sensors/protocol.ts',
  'src/sensors/rewards/splitExact.ts',
  'src/coordinator/verification/compareTensors.ts',
  // Render audit regions: the growth step over the primary's pixels (checkRenderRegions.ts).
  'src/coordinator/verification/renderAuditRegion.ts',
  'src/coordinator/verification/compareRenders.ts',
  // Which of the two above judges a pair of outputs (a render frame's or any other), pure.
  'src/coordinator/verification/outputsAgree.ts',
  'src/coordinator/ledger/rewardsTree.ts',
  'src/coordinator/ledger/accounts.ts',
  'src/coordinator/ledger/epochPayload.ts',
  // The providers a bundle proves faulty, which `inputs.faulted` must list (version 10).
  'src/coordinator/settlement/bundleFaults.ts',
  // The protocol's storage constants: the retrieval price per byte a validator pins (pure).
  'src/coordinator/storage/constants.ts',
  // A review checker's independence re-derived from its draw's basis (checkReviewCheckers.ts).
  'src/coordinator/work/checkerIndependence.ts',
  // The review checker's seeded draw and its priority ranks, re-derived (checkCheckerDraw.ts).
  'src/coordinator/work/checkerDraw.ts',
  // Capability proofs in the evidence (version 12): which providers need one, their packing, and
  // the coordinator's own Freivalds check and credited throughput (checkCapabilityProofs.ts).
  'src/coordinator/settlement/capabilityEvidence.ts',
  'src/coordinator/verification/capabilityProof.ts',
];

/**
 * Checks every rule over `files` and returns what breaks them (empty when the tree is clean):
 *
 * - `peers`: `src/provider/` and `src/coordinator/` never import each other;
 * - `client`: `src/client/` imports only `src/protocol/`, `src/errors/`, `src/storage/` (the pure
 *   piece format a reader decodes and checks: it imports only protocol and errors) and itself;
 * - `lab`: nothing in `src/` imports `lab/`, `bench/` or `test/`;
 * - `web`: `web/` imports from `src/` are type-only and only from `src/protocol/`;
 * - `money`: `coordinator/ledger` ← `coordinator/market` ← `coordinator/settlement` import downward
 *   only (ledger imports neither, market does not import settlement), and none of them imports the
 *   HTTP routes or the work loop;
 * - `routes`: HTTP route handlers (`src/coordinator/api/`) contain no SQL and do not import kysely's
 *   `sql` tag: queries live with the module that owns the table;
 * - `validator`: `src/validator/` imports from the coordinator only its pure epoch computation,
 *   evidence codec and pure ledger modules (VALIDATOR_MAY_IMPORT), and otherwise only
 *   `src/protocol`, `src/chain`, `src/keystore`, `src/errors`, `src/storage` (the pure proof-of-storage
 *   check), the logger and itself: a validator
 *   that shared the coordinator's store or routes would not be independent.
 *
 * @example
 * const bad = checkImportRules(readSources(repoRoot, ['src', 'web', 'lab']));
 */
export function checkImportRules(files: readonly SourceFile[]): Violation[] {
  const out: Violation[] = [];
  for (const file of files) {
    const p = file.path;
    for (const e of importsOf(file)) {
      const to = e.to;
      const bad = (rule: string, why: string): void => {
        out.push({ rule, file: p, detail: `imports ${to} (${why})` });
      };
      if (under(p, 'src/provider') && under(to, 'src/coordinator')) bad('peers', 'provider → coordinator');
      if (under(p, 'src/coordinator') && under(to, 'src/provider')) bad('peers', 'coordinator → provider');
      if (
        under(p, 'src/client') &&
        !under(to, 'src/client') &&
        !under(to, 'src/protocol') &&
        !under(to, 'src/errors') &&
        !under(to, 'src/storage')
      ) {
        bad('client', 'the SDK may import only src/protocol, src/errors and src/storage');
      }
      if (under(p, 'src') && (under(to, 'lab') || under(to, 'bench') || under(to, 'test'))) {
        bad('lab', 'production code never imports research, benchmark or test code');
      }
      if (under(p, 'web') && under(to, 'src')) {
        if (!under(to, 'src/protocol')) bad('web', 'the explorer may import only src/protocol');
        else if (!e.typeOnly) bad('web', 'imports from src/protocol must be type-only in the web build');
      }
      if (under(p, 'src/validator') && under(to, 'src')) {
        const ok =
          [
            'src/validator',
            'src/protocol',
            'src/chain',
            'src/keystore',
            'src/errors',
            'src/runtimes',
            // Pure: storage proofs, receipts and prices (imports protocol and errors only).
            'src/storage',
          ].some((d) => under(to, d)) ||
          to === 'src/logger.ts' ||
          VALIDATOR_MAY_IMPORT.includes(to);
        if (!ok) bad('validator', 'a validator imports only the pure epoch computation from the coordinator');
      }
      const layer = (path: string): number =>
        under(path, 'src/coordinator/ledger')
          ? 0
          : under(path, 'src/coordinator/market')
            ? 1
            : under(path, 'src/coordinator/settlement')
              ? 2
              : -1;
      const from = layer(p);
      const toLayer = layer(to);
      if (from >= 0 && toLayer > from) bad('money', 'ledger ← market ← settlement import downward only');
      if (from >= 0 && (under(to, 'src/coordinator/api') || under(to, 'src/coordinator/work'))) {
        bad('money', 'the money path does not depend on routes or the work loop');
      }
    }
    if (under(p, 'src/coordinator/api') && !isTest(p)) {
      file.text.split('\n').forEach((line, i) => {
        if (SQL_CALL.test(line))
          out.push({ rule: 'routes', file: p, detail: `line ${i + 1}: ${line.trim()}` });
      });
      if (/import\s*\{[^}]*\bsql\b[^}]*\}\s*from\s*'kysely'/.test(file.text)) {
        out.push({ rule: 'routes', file: p, detail: "imports kysely's sql tag" });
      }
    }
  }
  return out;
}

/** Source files over `maxLines` lines, generated code excepted. */
export function longFiles(files: readonly SourceFile[], maxLines: number): { file: string; lines: number }[] {
  return files
    .filter((f) => !f.path.includes('/generated/'))
    .map((f) => ({ file: f.path, lines: f.text.split('\n').length - (f.text.endsWith('\n') ? 1 : 0) }))
    .filter((f) => f.lines > maxLines);
}

/** `path` relative to `root`, with forward slashes. */
export function repoPath(root: string, path: string): string {
  return relative(root, path).split(sep).join('/');
}
