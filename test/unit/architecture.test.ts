/**
 * Module boundaries (docs/conventions.md §1), checked on every .ts file under shared/, hub/, agent/, sim/, lab/, fleet/ and
 * bin/ with the TypeScript compiler (test/helpers/source-scan.ts): import specifiers from its pre-processor
 * (`ts.preProcessFile`), cross-checked against the syntax tree, and process.argv / process.exit found in the tree, so
 * comments, strings and regexes never count.
 *
 * Rules:
 *  - agent/ never imports hub/, hub/ never imports agent/.
 *  - shared/ imports no program: not hub/, agent/, sim/, lab/, fleet/ or bin/ (bin/sitekd.ts, the process entry,
 *    is the one place that names them all).
 *  - shared/ml/ (the ML core) knows nothing of MQTT or files: no mqtt, fs, node-cron, shared/protocol,
 *    shared/transport or shared/data (the dataset readers; the core takes WindowSets).
 *  - node-cron only under hub/.
 *  - Only `<dir>/main.ts` files, bin/ and shared/cli/ read process.argv or call process.exit.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import type * as ts from 'typescript';
import { repoRoot as findRepoRoot } from '../helpers/repo-root';
import { astImports, extractImports, listFiles, parse, processArgvExitUses, type ImportRef } from '../helpers/source-scan';

const SCANNED_DIRS = ['shared', 'hub', 'agent', 'sim', 'lab', 'fleet', 'bin'] as const;
/** Programs built on shared/; shared/ imports none of them. */
const PROGRAM_DIRS = ['hub', 'agent', 'sim', 'lab', 'fleet', 'bin'] as const;

interface Violation {
  readonly file: string;
  readonly line: number;
  readonly message: string;
}

type Target = { kind: 'local'; path: string } | { kind: 'package'; name: string };

/** What a specifier in `file` (repo-relative, posix) points at: a repo path, or a package / builtin name. */
function resolveTarget(file: string, spec: string): Target {
  if (spec.startsWith('.') || spec.startsWith('/')) {
    return { kind: 'local', path: path.posix.normalize(path.posix.join(path.posix.dirname(file), spec)) };
  }
  const bare = spec.replace(/^node:/, '');
  const first = bare.split('/')[0] as string;
  // No `paths` mapping exists, but a repo path written as a bare specifier should still be judged as one.
  if ((SCANNED_DIRS as readonly string[]).includes(first)) return { kind: 'local', path: path.posix.normalize(bare) };
  const name = bare.startsWith('@') ? bare.split('/').slice(0, 2).join('/') : first;
  return { kind: 'package', name };
}

function under(p: string, dir: string): boolean {
  return p === dir || p.startsWith(`${dir}/`);
}

// ---------------------------------------------------------------------------------------------------------------
// Rules

const ML_FORBIDDEN_PACKAGES: Readonly<Record<string, string>> = {
  mqtt: 'the ML core knows nothing of MQTT',
  fs: 'the ML core does no file I/O (callers read files and pass data in)',
  'node-cron': 'the ML core has no schedules',
};
const ML_FORBIDDEN_DIRS: Readonly<Record<string, string>> = {
  'shared/protocol': 'the ML core knows nothing of the wire protocol',
  'shared/transport': 'the ML core knows nothing of MQTT',
  'shared/data': 'the ML core does not read datasets (it takes WindowSets)',
};

function importViolation(file: string, ref: ImportRef): string | undefined {
  const t = resolveTarget(file, ref.spec);
  if (t.kind === 'local') {
    const p = t.path.replace(/\.(js|ts)$/, '');
    if (under(file, 'agent') && under(p, 'hub')) return 'agent/ must not import hub/';
    if (under(file, 'hub') && under(p, 'agent')) return 'hub/ must not import agent/';
    const program = PROGRAM_DIRS.find((d) => under(p, d));
    if (under(file, 'shared') && program !== undefined) return `shared/ must not import ${program}/`;
    if (under(file, 'shared/ml')) {
      for (const [dir, why] of Object.entries(ML_FORBIDDEN_DIRS)) if (under(p, dir)) return `shared/ml must not import ${dir}: ${why}`;
    }
    return undefined;
  }
  if (under(file, 'shared/ml') && ML_FORBIDDEN_PACKAGES[t.name] !== undefined) {
    return `shared/ml must not import ${ref.spec}: ${ML_FORBIDDEN_PACKAGES[t.name]}`;
  }
  if (t.name === 'node-cron' && !under(file, 'hub')) return 'node-cron is for hub/ only';
  return undefined;
}

/** `<dir>/main.ts` (a process's composition root) and the CLI may touch process.argv / process.exit. */
function mayUseProcessArgvExit(file: string): boolean {
  return /^[^/]+\/main\.ts$/.test(file) || under(file, 'shared/cli') || under(file, 'bin');
}

/** All violations in one file; `file` is repo-relative with forward slashes. */
function checkFile(file: string, src: string | ts.SourceFile): Violation[] {
  const sf = typeof src === 'string' ? parse(file, src) : src;
  const out: Violation[] = [];
  for (const ref of extractImports(sf)) {
    const message = importViolation(file, ref);
    if (message !== undefined) out.push({ file, line: ref.line, message: `${message} ('${ref.spec}')` });
  }
  if (!mayUseProcessArgvExit(file)) {
    for (const use of processArgvExitUses(sf)) {
      out.push({ file, line: use.line, message: `process.${use.what} is only for */main.ts and shared/cli/ (pass values in, return or throw instead)` });
    }
  }
  return out.sort((a, b) => a.line - b.line);
}

/**
 * Where the pre-processor and the parser disagree on a file's imports, or undefined. The pre-processor scans tokens
 * without knowing where a regex literal starts, so a quote inside one can hide the imports after it on that line.
 */
function importDisagreement(file: string, src: string | ts.SourceFile): string | undefined {
  const sf = typeof src === 'string' ? parse(file, src) : src;
  const show = (refs: readonly ImportRef[]): string => refs.map((r) => `${r.line}:${r.spec}`).sort().join(', ');
  const [pre, tree] = [show(extractImports(sf)), show(astImports(sf))];
  return pre === tree ? undefined : `${file}: pre-processor [${pre}], parser [${tree}]`;
}

function format(vs: readonly Violation[]): string {
  return vs.map((v) => `${v.file}:${v.line}: ${v.message}`).join('\n');
}

// ---------------------------------------------------------------------------------------------------------------
// The repository

let scanned: ReadonlyMap<string, ts.SourceFile> | undefined;

/** Every scanned file, parsed once for both repository tests. */
function scannedFiles(): ReadonlyMap<string, ts.SourceFile> {
  if (scanned !== undefined) return scanned;
  const root = findRepoRoot(__dirname);
  const files = SCANNED_DIRS.flatMap((d) => listFiles(root, d, (f) => f.endsWith('.ts'), new Set(['node_modules'])));
  scanned = new Map(files.map((f) => [f, parse(f, fs.readFileSync(path.join(root, f), 'utf8'))]));
  return scanned;
}

test('shared/, hub/, agent/ and the other programs keep the module boundaries', () => {
  const files = scannedFiles();
  assert.ok(files.has('shared/errors.ts') && files.has('bin/sitekd.ts'), `the scan missed shared/errors.ts or bin/sitekd.ts under ${findRepoRoot(__dirname)}`);
  const violations = [...files].flatMap(([f, sf]) => checkFile(f, sf));
  assert.equal(violations.length, 0, `${violations.length} boundary violation(s):\n${format(violations)}`);
});

test('the pre-processor reads the imports of every scanned file as the parser does', () => {
  const differ = [...scannedFiles()].map(([f, sf]) => importDisagreement(f, sf)).filter((d) => d !== undefined);
  assert.deepEqual(differ, [], 'the boundary rules would miss (or invent) these imports; rewrite the line the pre-processor misreads');
});

// ---------------------------------------------------------------------------------------------------------------
// The checker itself, on made-up files (so a rule that silently stopped matching is caught)

const lines = (...ls: string[]): string => ls.join('\n');
const messages = (file: string, src: string): string[] => checkFile(file, src).map((v) => `${v.line}: ${v.message}`);
const imports = (src: string): ImportRef[] => extractImports(parse('x.ts', src));

test('extractImports finds every import form with its line', () => {
  const src = lines(
    "import { a } from './a';",
    'import {',
    '  b,',
    "} from '../b.js';",
    "import type { C } from 'c';",
    "import 'side-effect';",
    "export * from './re';",
    "export { d } from \"./d\";",
    "const e = require('e');",
    'const f = await import(`f`);',
    "import g = require('node:g');",
    "type H = import('h').H;",
  );
  const want = [
    { spec: './a', line: 1 },
    { spec: '../b.js', line: 4 },
    { spec: 'c', line: 5 },
    { spec: 'side-effect', line: 6 },
    { spec: './re', line: 7 },
    { spec: './d', line: 8 },
    { spec: 'e', line: 9 },
    { spec: 'f', line: 10 },
    { spec: 'node:g', line: 11 },
    { spec: 'h', line: 12 },
  ];
  assert.deepEqual(imports(src), want);
  assert.deepEqual(astImports(parse('x.ts', src)), want);
});

test('comments and strings are not imports, and prose about process.exit is not a use', () => {
  const src = lines(
    "// import x from 'mqtt'",
    '/* require("node:fs") and process.exit(1)',
    " * process.argv in a doc comment */ const url = 'http://example/*'; import { y } from './y';",
    "const s = \"require('q') process.exit()\"; const z = require('z'); // process.exit()",
    'const t = `${a /* c */} import v from "v"`; const h = 1 / 2; import w from "./w";',
  );
  assert.deepEqual(imports(src).map((r) => r.spec), ['./y', 'z', './w']);
  assert.equal(importDisagreement('shared/x.ts', src), undefined);
  assert.deepEqual(messages('shared/x.ts', src), []);
});

test('a quote in a regex literal hides the rest of its line from the pre-processor; the parser cross-check says so', () => {
  const src = "const re = /'(-[^']*)'/; const z = require('node:fs');";
  assert.deepEqual(astImports(parse('x.ts', src)).map((r) => r.spec), ['node:fs']);
  // TypeScript ~5.9's pre-processor misses it (if a later one does not, this case has become moot: delete it).
  assert.deepEqual(imports(src), []);
  assert.equal(importDisagreement('shared/ml/x.ts', src), 'shared/ml/x.ts: pre-processor [], parser [1:node:fs]');
});

test('agent and hub stay apart; shared imports no program; bin names them all', () => {
  assert.match(messages('agent/agent.ts', "import { Hub } from '../hub/hub';").join(), /agent\/ must not import hub/);
  assert.match(messages('hub/jobs/x.ts', "import a from '../../agent/agent';").join(), /hub\/ must not import agent/);
  assert.match(messages('shared/ml/train.ts', "import { h } from '../../hub/main';").join(), /shared\/ must not import/);
  assert.match(messages('shared/cli/other.ts', "import { h } from '../../hub/main';").join(), /shared\/ must not import/);
  assert.match(messages('shared/cli/common.ts', "import { s } from '../../sim/cli';").join(), /shared\/ must not import sim/);
  assert.match(messages('shared/data/har.ts', "import { l } from '../../lab/scenario';").join(), /shared\/ must not import lab/);
  assert.deepEqual(messages('bin/sitekd.ts', "import { runHub } from '../hub/main';\nimport('../agent/main');\nrequire('../sim/cli');"), []);
  assert.deepEqual(messages('agent/agent.ts', "import { x } from '../shared/ml/train';\nimport { y } from './hub-client';"), []);
});

test('the ML core imports no MQTT, fs, cron, protocol, transport or data readers', () => {
  for (const spec of ['mqtt', 'fs', 'node:fs', 'node:fs/promises', 'fs/promises', 'node-cron', '../protocol/codec', '../transport/mqtt-transport', '../data/har', '../../shared/data/synthetic']) {
    assert.equal(messages('shared/ml/train.ts', `import x from '${spec}';`).length, 1, spec);
  }
  assert.deepEqual(messages('shared/ml/cnn.ts', "import { tf } from './tf';\nimport { z } from 'zod';\nimport { E } from '../errors';\nimport '@tensorflow/tfjs';"), []);
  // Only the ML core is restricted: the data readers may use fs.
  assert.deepEqual(messages('shared/data/har.ts', "import * as fs from 'node:fs';"), []);
});

test('node-cron is only for hub/', () => {
  assert.deepEqual(messages('hub/redistill-scheduler.ts', "import cron from 'node-cron';"), []);
  assert.equal(messages('agent/agent.ts', "import cron from 'node-cron';").length, 1);
  assert.equal(messages('shared/random.ts', "const cron = require('node-cron');").length, 1);
});

test('process.argv and process.exit only in */main.ts, bin/ and shared/cli/', () => {
  const src = lines(
    'const a = process.argv.slice(2);',
    'if (bad) process.exit(1);',
    "process['exit'](2);",
    "import { argv } from 'node:process';",
    'const { exit: quit } = process;',
    'globalThis.process.exit(3);',
    "const { argv: args } = require('process');",
    'process?.exit(4);',
  );
  assert.deepEqual(
    messages('hub/hub.ts', src).map((m) => m.split(':')[0]),
    ['1', '2', '3', '4', '5', '6', '7', '8'],
  );
  assert.match(messages('hub/hub.ts', src)[0] ?? '', /^1: process\.argv is only for/);
  assert.deepEqual(messages('hub/main.ts', src), []);
  assert.deepEqual(messages('agent/main.ts', src), []);
  assert.deepEqual(messages('bin/sitekd.ts', src), []);
  assert.deepEqual(messages('shared/cli/commands/distill.ts', src), []);
  assert.equal(messages('hub/sub/main.ts', src).length, 8);
  // The process module under another name.
  const aliased = lines("import proc from 'node:process';", "import * as p2 from 'process';", "import p3 = require('node:process');", 'proc.exit(1); p2.argv; p3.exit();');
  assert.deepEqual(messages('sim/simulator.ts', aliased).map((m) => m.split(':')[0]), ['4', '4', '4']);
  // Not the same thing: exitCode, a local `argv`, a method named exit, another object's `process`, a string.
  const unrelated = "process.exitCode = 1; const argv = []; worker.exit(); job.process.exit(); const s = 'process.exit()'; const { env } = process;";
  assert.deepEqual(messages('hub/hub.ts', unrelated), []);
});
