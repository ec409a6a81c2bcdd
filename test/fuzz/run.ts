/**
 * `npm run fuzz`: the long fuzzing mode. Every target of test/fuzz/targets.ts gets `--runs N` hostile payloads
 * (default 100,000; or env SITEKD_FUZZ_RUNS), with a fresh seed unless `--seed S`. Prints, per target, the cases run,
 * cases per second, crashes (must be 0: the first one is shown with its shrunk payload) and the heap after a full GC
 * before and after (must stay flat: `--max-heap-growth-mb`, default 64). Exit status 1 on a crash or heap growth.
 * Run with `node --expose-gc` (the npm script does) so that the heap figures are after a collection.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import fc from 'fast-check';
import { createTargets } from './targets';

const MB = 1024 * 1024;

function heapMb(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().heapUsed / MB;
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { runs: { type: 'string' }, seed: { type: 'string' }, 'max-heap-growth-mb': { type: 'string' } } });
  const runs = Number(values.runs ?? process.env['SITEKD_FUZZ_RUNS'] ?? 100_000);
  const seed = values.seed !== undefined ? Number(values.seed) : Date.now() % 2 ** 31;
  const maxGrowth = Number(values['max-heap-growth-mb'] ?? 64);
  if (!(runs > 0) || !Number.isFinite(seed) || !(maxGrowth > 0)) throw new Error('--runs, --seed and --max-heap-growth-mb take positive numbers');
  if ((globalThis as { gc?: unknown }).gc === undefined) process.stderr.write('fuzz: run with node --expose-gc for heap figures after a collection\n');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sitekd-fuzz-'));
  const setup = await createTargets(dir);
  let failed = false;
  process.stdout.write(`fuzz: ${runs} cases per target, seed ${seed}\n`);
  try {
    for (const target of setup.targets) {
      const before = heapMb();
      const started = performance.now();
      const r = await fc.check(fc.asyncProperty(target.arbitrary, async (input) => target.run(input)), { numRuns: runs, seed, endOnFailure: true });
      const seconds = (performance.now() - started) / 1000;
      const after = heapMb();
      const crashes = r.failed ? 1 : 0;
      const grew = after - before > maxGrowth;
      failed ||= r.failed || grew;
      process.stdout.write(
        `${target.name}: ${r.numRuns} cases in ${seconds.toFixed(1)} s (${Math.round(r.numRuns / seconds)}/s), crashes ${crashes}, ` +
          `heap ${before.toFixed(1)} → ${after.toFixed(1)} MB${grew ? ' (GREW)' : ''}\n`,
      );
      if (r.failed) process.stdout.write(`  counterexample: ${fc.stringify(r.counterexample)}\n  error: ${String(r.errorInstance)}\n`);
    }
  } finally {
    await setup.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`fuzz: ${String(err)}\n`);
    process.exit(2);
  },
);
