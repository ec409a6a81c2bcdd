/**
 * Every bench answers `--help` with its own description and refuses an option it does not know with exit 64 and
 * the option's name, and a bad option value with exit 64 and the reason, before doing any work (bench/timing.ts
 * `runBench`, `benchArgs`, `benchUsage`).
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';

const BENCH = resolve(__dirname, '../../bench');
// Entry points: every bench file that runs something when started (helpers only export).
const ENTRIES = readdirSync(BENCH).filter((f) => f.endsWith('.js')).filter((f) => !['timing.js', 'references.js', 'scale-agents.js', 'scale-hub.js', 'scenario-worker.js', 'speed-runs.js', 'speed-steps.js', 'accuracy-report.js', 'pool.js'].includes(f));

const run = (file: string, arg: string): ReturnType<typeof spawnSync> => spawnSync(process.execPath, [join(BENCH, file), arg], { encoding: 'utf8', timeout: 30_000 });

test('each bench prints its description for --help and exits 0', () => {
  assert.ok(ENTRIES.length >= 9, `bench entry points: ${ENTRIES.join(', ')}`);
  for (const f of ENTRIES) {
    const r = run(f, '--help');
    assert.equal(r.status, 0, `${f}: ${String(r.stderr)}`);
    assert.match(String(r.stdout), /bench|`node dist\/bench/, `${f} describes itself`);
    assert.doesNotMatch(String(r.stdout), /^\s*\*/m, `${f}: comment markers stripped`);
  }
});

test('each bench refuses an unknown option with exit 64 and its name', () => {
  for (const f of ENTRIES) {
    const r = run(f, '--no-such-option');
    assert.equal(r.status, 64, `${f}: ${String(r.stderr)}`);
    assert.match(String(r.stderr), /Unknown option '--no-such-option'/, f);
  }
});

test('a bench refuses a bad option value with exit 64 and the reason, before any work', () => {
  for (const [file, args, reason] of [
    ['adaptation.js', ['--adapt-source-prior', '2'], /--adapt-source-prior must be in \[0, 1\], got 2/],
    ['adaptation.js', ['--round-recipe', 'dann'], /--round-recipe must be site-adapt or unikd/],
    ['scale.js', ['--agents', '0'], /--agents must be a number ≥ 1, got 0/],
  ] as const) {
    const r = spawnSync(process.execPath, [join(BENCH, file), ...args], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 64, `${file} ${args.join(' ')}: ${String(r.stderr)}`);
    assert.match(String(r.stderr), reason, file);
    assert.doesNotMatch(String(r.stderr), /\n\s+at /, `${file}: no stack trace`);
  }
});
