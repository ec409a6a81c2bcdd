/**
 * Test runner: `node dist/test/run.js [PREFIX ...] [--node-test-flag ...]`.
 *
 * Node 20's `node --test` has no glob support, and given a directory it would also run helper files under test/.
 * So this finds every `*.test.js` below dist/test itself (recursively, sorted), keeps those whose path relative to dist/test
 * starts with one of the PREFIX arguments (e.g. `unit`, `unit/data-`; `test/unit` and `.ts` paths are accepted too),
 * and hands them to `node --test --test-concurrency=2`. Arguments starting with `-` go to node before the files, in `--flag=value` form
 * (e.g. `--test-name-pattern=checksum`).
 *
 * Compiled tests whose `.test.ts` source under test/ no longer exists are skipped: tsc never deletes outputs, so a
 * renamed or removed test would otherwise keep running from a stale dist/.
 *
 * Nothing is printed after node's test runner finishes: CI reads its closing summary lines. The exit code is the
 * child's (128 + the signal number if it was killed by a signal).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { constants } from 'node:os';
import * as path from 'node:path';
import { repoRoot as findRepoRoot } from './helpers/repo-root';

const TEST_SUFFIX = '.test.js';


/** Every `*.test.js` below `dir`, as posix paths relative to `dir`, sorted. */
function listTests(dir: string, rel = ''): string[] {
  const out: string[] = [];
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(path.join(dir, rel), { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const r = rel === '' ? e.name : `${rel}/${e.name}`;
    if (e.isDirectory()) out.push(...listTests(dir, r));
    else if (e.isFile() && e.name.endsWith(TEST_SUFFIX)) out.push(r);
  }
  return out.sort();
}

/** `unit`, `test/unit/`, `dist/test/unit`, `test/unit/x.test.ts` → a prefix relative to dist/test. */
function normalisePrefix(arg: string): string {
  let p = arg.replace(/\\/g, '/').replace(/^\.\//, '');
  for (const lead of ['dist/test/', 'test/']) if (p.startsWith(lead)) p = p.slice(lead.length);
  if (p.endsWith('.test.ts')) p = `${p.slice(0, -'.ts'.length)}.js`;
  return p;
}

function matches(rel: string, prefix: string, distTestDir: string): boolean {
  if (prefix === '' || prefix === '/') return true;
  const p = prefix.replace(/\/+$/, '');
  // A prefix naming a directory matches whole path segments only (`unit` must not pick up `unit-old/`).
  const isDir = fs.existsSync(path.join(distTestDir, p)) && fs.statSync(path.join(distTestDir, p)).isDirectory();
  return isDir ? rel.startsWith(`${p}/`) : rel.startsWith(p);
}

function main(argv: readonly string[]): void {
  const root = findRepoRoot(__dirname);
  const distTestDir = __dirname; // dist/test
  // dist/test/x/y.test.js ↔ <root>/test/x/y.test.ts (the same path relative to the outDir).
  const srcTestDir = path.join(root, path.relative(path.join(root, 'dist'), distTestDir));

  const nodeFlags = argv.filter((a) => a.startsWith('-'));
  const prefixes = argv.filter((a) => !a.startsWith('-')).map(normalisePrefix);

  const all = listTests(distTestDir);
  const stale = all.filter((rel) => !fs.existsSync(path.join(srcTestDir, `${rel.slice(0, -'.js'.length)}.ts`)));
  if (stale.length > 0) {
    console.error(`run: ignoring ${stale.length} compiled test(s) without a source in test/: ${stale.join(', ')}`);
  }
  const selected = all
    .filter((rel) => !stale.includes(rel))
    .filter((rel) => prefixes.length === 0 || prefixes.some((p) => matches(rel, p, distTestDir)));

  if (selected.length === 0) {
    const what = prefixes.length === 0 ? '' : ` matching ${prefixes.join(', ')}`;
    console.error(`run: no test files${what} under ${path.relative(root, distTestDir) || '.'} (did the build run?)`);
    process.exit(1);
  }

  const files = selected.map((rel) => path.join(distTestDir, rel));
  const child = spawn(process.execPath, ['--test', '--test-concurrency=2', ...nodeFlags, ...files], {
    cwd: root,
    stdio: 'inherit',
  });
  // Ctrl-C reaches the child through the process group: wait for it to finish its report instead of dying first.
  // A SIGTERM sent to this process alone is passed on.
  process.on('SIGINT', () => undefined);
  process.on('SIGTERM', () => child.kill('SIGTERM'));
  child.on('error', (err) => {
    console.error(`run: cannot start ${process.execPath}: ${err.message}`);
    process.exit(1);
  });
  child.on('exit', (code, signal) => {
    process.exit(code ?? (signal === null ? 1 : 128 + (constants.signals[signal] ?? 0)));
  });
}

main(process.argv.slice(2));
