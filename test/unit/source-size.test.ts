/**
 * Size rules for the sources outside test/ (issue 6, "Done when"):
 *  - no source file is over 400 lines (a failure);
 *  - files over 300 lines and functions over 60 lines (found in the TypeScript syntax tree) are reported as
 *    diagnostics of the last repository test, not failures: they are the ones to split next.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { repoRoot } from '../helpers/repo-root';
import { lineCount, listFiles, longFunctions, parse } from '../helpers/source-scan';

const MAX_FILE_LINES = 400;
const REPORT_FILE_LINES = 300;
const REPORT_FUNCTION_LINES = 60;

/** Code, by extension, and the CI script; not configs, docs or data. */
const SOURCE = /\.(ts|mts|cts|js|mjs|cjs|sh)$/;
const SCRIPTS: ReadonlySet<string> = new Set(['.ci/run']);
const SKIP_DIRS: ReadonlySet<string> = new Set(['node_modules', 'dist', '.git', 'test']);
const TS = /\.(ts|mts|cts|js|mjs|cjs)$/;

interface Sized {
  readonly file: string;
  readonly text: string;
  readonly lines: number;
}

let sources: readonly Sized[] | undefined;

/** Every source file outside test/ (and outside node_modules, dist, .git), with its line count. */
function sourceFiles(): readonly Sized[] {
  if (sources !== undefined) return sources;
  const root = repoRoot(__dirname);
  const files = listFiles(root, '', (f) => SOURCE.test(f) || SCRIPTS.has(f), SKIP_DIRS);
  sources = files.map((file) => {
    const text = fs.readFileSync(path.join(root, file), 'utf8');
    return { file, text, lines: lineCount(text) };
  });
  return sources;
}

test(`no source file outside test/ is over ${MAX_FILE_LINES} lines`, () => {
  const all = sourceFiles();
  for (const f of ['hub/hub.ts', 'bin/sitekd.ts', '.ci/run']) assert.ok(all.some((s) => s.file === f), `the scan missed ${f}`);
  assert.ok(!all.some((s) => s.file.startsWith('test/') || s.file.includes('node_modules/')), 'test/ and node_modules are not scanned');
  const over = all.filter((s) => s.lines > MAX_FILE_LINES);
  assert.deepEqual(over.map((s) => `${s.file}: ${s.lines} lines`), [], `split these files (at most ${MAX_FILE_LINES} lines each)`);
});

test(`report: files over ${REPORT_FILE_LINES} lines, functions over ${REPORT_FUNCTION_LINES} lines`, (t) => {
  const all = sourceFiles();
  const bigFiles = all.filter((s) => s.lines > REPORT_FILE_LINES).sort((a, b) => b.lines - a.lines);
  const longFns = all
    .filter((s) => TS.test(s.file))
    .flatMap((s) => longFunctions(parse(s.file, s.text), REPORT_FUNCTION_LINES).map((f) => ({ ...f, file: s.file })))
    .sort((a, b) => b.lines - a.lines);
  t.diagnostic(`${bigFiles.length} file(s) over ${REPORT_FILE_LINES} lines (of ${all.length} scanned)${bigFiles.length > 0 ? ':' : ''}`);
  for (const s of bigFiles) t.diagnostic(`  ${s.file}: ${s.lines} lines`);
  t.diagnostic(`${longFns.length} function(s) over ${REPORT_FUNCTION_LINES} lines${longFns.length > 0 ? ':' : ''}`);
  for (const f of longFns) t.diagnostic(`  ${f.file}:${f.line} ${f.name}: ${f.lines} lines`);
});

// ---------------------------------------------------------------------------------------------------------------
// The measures themselves, on made-up sources

const body = (n: number): string => Array.from({ length: n }, (_, i) => `  x += ${i};`).join('\n');

test('lineCount counts lines as wc -l does, plus an unterminated last line', () => {
  assert.deepEqual(['', 'a', 'a\n', 'a\nb', 'a\nb\n', '\n\n'].map(lineCount), [0, 1, 1, 2, 2, 2]);
});

test('longFunctions: every kind of function, by the lines it spans, named where it can be', () => {
  // Header + 59 body lines + closing brace = 61 lines: over 60; with 58 body lines it is exactly 60, not reported.
  const src = [
    `function long() {\n${body(59)}\n}`,
    `function fits() {\n${body(58)}\n}`,
    `const arrow = () => {\n${body(59)}\n};`,
    `class C {\n  method() {\n${body(59)}\n  }\n  constructor() {\n${body(59)}\n  }\n  get value() {\n${body(59)}\n  }\n}`,
    `const o = { prop: function () {\n${body(59)}\n} };`,
    `run(() => {\n${body(59)}\n});`,
    `declare function signature(): void;`,
  ].join('\n');
  const found = longFunctions(parse('x.ts', src), 60).map((f) => `${f.name}:${f.lines}`);
  assert.deepEqual(found, ['long:61', 'arrow:61', 'method:61', 'constructor:61', 'value:61', 'prop:61', '<anonymous>:61']);
});

test('longFunctions reports a nested long function and the one holding it', () => {
  const src = `function outer() {\n  const inner = () => {\n${body(59)}\n  };\n}`;
  assert.deepEqual(longFunctions(parse('x.ts', src), 60).map((f) => [f.name, f.line, f.lines]), [['outer', 1, 63], ['inner', 2, 61]]);
});
