/**
 * Module boundaries (docs/conventions.md §1), checked by scanning the import specifiers of every .ts file under shared/,
 * hub/ and agent/ with regular expressions: no dependency, no type checker. Comments are blanked first (keeping line
 * numbers), so prose that mentions `process.exit` or an example import does not count; strings are kept, since the
 * specifiers live in them.
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
import { repoRoot as findRepoRoot } from '../helpers/repo-root';

const SCANNED_DIRS = ['shared', 'hub', 'agent', 'sim', 'lab', 'fleet', 'bin'] as const;
/** Programs built on shared/; shared/ imports none of them. */
const PROGRAM_DIRS = ['hub', 'agent', 'sim', 'lab', 'fleet', 'bin'] as const;

export interface ImportRef {
  readonly spec: string;
  readonly line: number;
}

export interface Violation {
  readonly file: string;
  readonly line: number;
  readonly message: string;
}

// ---------------------------------------------------------------------------------------------------------------
// Scanning

/**
 * Replaces comments by spaces (newlines kept). Understands strings, template literals (with `${}` nesting) and
 * regex literals (by the usual "what came before the slash" rule), so `'http://x'` and `/'[^']*'/` survive.
 */
export function blankComments(src: string): string {
  const out = src.split('');
  const blank = (from: number, to: number): void => {
    for (let k = from; k < to; k++) if (out[k] !== '\n' && out[k] !== '\r') out[k] = ' ';
  };
  const braces: number[] = []; // per open template `${`: the brace depth at which it closes
  let depth = 0;
  let prev = ''; // last significant character outside comments/strings
  let prevWord = '';
  let i = 0;
  const n = src.length;
  const skipString = (quote: string): void => {
    i++;
    while (i < n && src[i] !== quote && src[i] !== '\n') i += src[i] === '\\' ? 2 : 1;
    i++;
  };
  // Scans template text from i (just after ` or }) to the closing ` or a `${`.
  const skipTemplate = (): void => {
    while (i < n) {
      const c = src[i];
      if (c === '\\') i += 2;
      else if (c === '`') {
        i++;
        return;
      } else if (c === '$' && src[i + 1] === '{') {
        i += 2;
        braces.push(depth);
        depth++;
        return;
      } else i++;
    }
  };
  while (i < n) {
    const c = src[i] as string;
    const d = src[i + 1];
    if (c === '/' && d === '/') {
      const end = src.indexOf('\n', i);
      const stop = end < 0 ? n : end;
      blank(i, stop);
      i = stop;
    } else if (c === '/' && d === '*') {
      const end = src.indexOf('*/', i + 2);
      const stop = end < 0 ? n : end + 2;
      blank(i, stop);
      i = stop;
    } else if (c === '"' || c === "'") {
      skipString(c);
      prev = 'a';
      prevWord = '';
    } else if (c === '`') {
      i++;
      skipTemplate();
      prev = 'a';
      prevWord = '';
    } else if (c === '/') {
      const regexAllowed = prev === '' || '(,=:[!&|?{};+-*%<>~^'.includes(prev) || /^(return|typeof|case|do|else|in|of|void|yield|await|delete|throw|new)$/.test(prevWord);
      if (regexAllowed) {
        i++;
        let inClass = false;
        while (i < n && src[i] !== '\n') {
          const r = src[i];
          if (r === '\\') i++;
          else if (r === '[') inClass = true;
          else if (r === ']') inClass = false;
          else if (r === '/' && !inClass) break;
          i++;
        }
        i++;
        prev = 'a';
        prevWord = '';
      } else {
        prev = '/';
        prevWord = '';
        i++;
      }
    } else if (c === '{') {
      depth++;
      prev = c;
      prevWord = '';
      i++;
    } else if (c === '}') {
      depth--;
      i++;
      if (braces.length > 0 && braces[braces.length - 1] === depth) {
        braces.pop();
        skipTemplate();
        prev = 'a';
      } else prev = c;
      prevWord = '';
    } else if (/\s/.test(c)) {
      i++;
    } else if (/[\w$]/.test(c)) {
      const m = /^[\w$]+/.exec(src.slice(i, i + 64)) as RegExpExecArray;
      prevWord = m[0];
      prev = 'a';
      i += m[0].length;
    } else {
      prev = c;
      prevWord = '';
      i++;
    }
  }
  return out.join('');
}

const IMPORT_PATTERNS: readonly RegExp[] = [
  // import x from '…', import { a, b } from '…' (multi-line), import type …, export … from '…'
  /(?<![\w$.])(?:import|export)(?:\s+type)?\s+[^;'"`]*?\bfrom\s*(['"])([^'"\n]+)\1/g,
  // import '…' (side effects only)
  /(?<![\w$.])import\s*(['"])([^'"\n]+)\1/g,
  // require('…'), import x = require('…')
  /(?<![\w$.])require\s*\(\s*(['"`])([^'"`\n]+)\1\s*\)/g,
  // import('…')
  /(?<![\w$.])import\s*\(\s*(['"`])([^'"`\n]+)\1/g,
];

/** Import specifiers of a TypeScript source, with the 1-based line of each specifier. */
export function extractImports(src: string): ImportRef[] {
  const text = blankComments(src);
  const found = new Map<number, ImportRef>(); // by offset: the patterns may overlap
  for (const re of IMPORT_PATTERNS) {
    for (const m of text.matchAll(re)) {
      const spec = m[2] as string;
      const at = (m.index ?? 0) + m[0].lastIndexOf(spec);
      found.set(at, { spec, line: lineOf(text, at) });
    }
  }
  return [...found.entries()].sort((a, b) => a[0] - b[0]).map(([, r]) => r);
}

function lineOf(text: string, offset: number): number {
  let line = 1;
  for (let k = 0; k < offset; k++) if (text.charCodeAt(k) === 10) line++;
  return line;
}

type Target = { kind: 'local'; path: string } | { kind: 'package'; name: string };

/** What a specifier in `file` (repo-relative, posix) points at: a repo path, or a package / builtin name. */
export function resolveTarget(file: string, spec: string): Target {
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

const PROCESS_USE = /(?<![\w$.])process\s*(?:\.\s*|\[\s*['"`])(argv|exit)(?![\w$])/g;
const PROCESS_IMPORT = /\{[^}]*\b(argv|exit)\b[^}]*\}\s*(?:from\s*|=\s*require\s*\(\s*)['"](?:node:)?process['"]/g;

/** `<dir>/main.ts` (a process's composition root) and the CLI may touch process.argv / process.exit. */
function mayUseProcessArgvExit(file: string): boolean {
  return /^[^/]+\/main\.ts$/.test(file) || under(file, 'shared/cli') || under(file, 'bin');
}

/** All violations in one file; `file` is repo-relative with forward slashes. */
export function checkFile(file: string, src: string): Violation[] {
  const out: Violation[] = [];
  for (const ref of extractImports(src)) {
    const message = importViolation(file, ref);
    if (message !== undefined) out.push({ file, line: ref.line, message: `${message} ('${ref.spec}')` });
  }
  if (!mayUseProcessArgvExit(file)) {
    const text = blankComments(src);
    for (const re of [PROCESS_USE, PROCESS_IMPORT]) {
      for (const m of text.matchAll(re)) {
        out.push({
          file,
          line: lineOf(text, m.index ?? 0),
          message: `process.${m[1]} is only for */main.ts and shared/cli/ (pass values in, return or throw instead)`,
        });
      }
    }
  }
  return out.sort((a, b) => a.line - b.line);
}

function format(vs: readonly Violation[]): string {
  return vs.map((v) => `${v.file}:${v.line}: ${v.message}`).join('\n');
}

// ---------------------------------------------------------------------------------------------------------------
// The repository


function listTs(root: string, rel: string): string[] {
  const abs = path.join(root, rel);
  if (!fs.existsSync(abs)) return [];
  const out: string[] = [];
  for (const e of fs.readdirSync(abs, { withFileTypes: true })) {
    const r = `${rel}/${e.name}`;
    if (e.isDirectory() && e.name !== 'node_modules') out.push(...listTs(root, r));
    else if (e.isFile() && e.name.endsWith('.ts')) out.push(r);
  }
  return out.sort();
}

test('shared/, hub/ and agent/ keep the module boundaries', () => {
  const root = findRepoRoot(__dirname);
  const files = SCANNED_DIRS.flatMap((d) => listTs(root, d));
  assert.ok(files.includes('shared/errors.ts'), `the scan found no shared/errors.ts under ${root}`);
  const violations = files.flatMap((f) => checkFile(f, fs.readFileSync(path.join(root, f), 'utf8')));
  assert.equal(violations.length, 0, `${violations.length} boundary violation(s):\n${format(violations)}`);
});

// ---------------------------------------------------------------------------------------------------------------
// The checker itself, on made-up files (so a rule that silently stopped matching is caught)

const lines = (...ls: string[]): string => ls.join('\n');
const messages = (file: string, src: string): string[] => checkFile(file, src).map((v) => `${v.line}: ${v.message}`);

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
  );
  assert.deepEqual(extractImports(src), [
    { spec: './a', line: 1 },
    { spec: '../b.js', line: 4 },
    { spec: 'c', line: 5 },
    { spec: 'side-effect', line: 6 },
    { spec: './re', line: 7 },
    { spec: './d', line: 8 },
    { spec: 'e', line: 9 },
    { spec: 'f', line: 10 },
    { spec: 'node:g', line: 11 },
  ]);
});

test('comments are ignored, strings and regexes are not mistaken for comments', () => {
  const src = lines(
    "// import x from 'mqtt'",
    '/* require("node:fs") and process.exit(1)',
    " * process.argv in a doc comment */ const url = 'http://example/*'; import { y } from './y';",
    "const re = /'(-[^']*)'/; const z = require('z'); // process.exit()",
    'const t = `${a /* c */}`; const s = 1 / 2; import w from "./w";',
  );
  assert.deepEqual(
    extractImports(src).map((r) => r.spec),
    ['./y', 'z', './w'],
  );
  assert.deepEqual(messages('shared/x.ts', src), []);
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

test('process.argv and process.exit only in */main.ts and shared/cli/', () => {
  const src = lines('const a = process.argv.slice(2);', 'if (bad) process.exit(1);', "process['exit'](2);", "import { argv } from 'node:process';");
  assert.deepEqual(
    messages('hub/hub.ts', src).map((m) => m.split(':')[0]),
    ['1', '2', '3', '4'],
  );
  assert.deepEqual(messages('hub/main.ts', src), []);
  assert.deepEqual(messages('agent/main.ts', src), []);
  assert.deepEqual(messages('bin/sitekd.ts', src), []);
  assert.deepEqual(messages('shared/cli/commands/distill.ts', src), []);
  assert.equal(messages('hub/sub/main.ts', src).length, 4);
  // Not the same thing: exitCode, a local `argv`, a method named exit.
  assert.deepEqual(messages('hub/hub.ts', 'process.exitCode = 1; const argv = []; worker.exit();'), []);
});
