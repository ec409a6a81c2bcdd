/**
 * Property-based fuzzing of every decoder and inbound handler (issue 8): 2,000 hostile payloads per target (10,000 in all) in
 * `npm test` (SITEKD_FUZZ_RUNS overrides; `npm run fuzz` is the long mode). A counterexample fails the test with the
 * payload fast-check shrank it to.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { createTargets, type FuzzSetup } from '../fuzz/targets';

const RUNS = Number(process.env['SITEKD_FUZZ_RUNS'] ?? 2000);
let dir: string;
let setup: FuzzSetup;

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sitekd-fuzz-'));
  setup = await createTargets(dir);
});

after(async () => {
  await setup?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('fuzz: no decoder or inbound handler crashes on hostile payloads', async () => {
  for (const target of setup.targets) {
    await fc.assert(fc.asyncProperty(target.arbitrary, async (input) => target.run(input)), { numRuns: RUNS, seed: 8, endOnFailure: false });
  }
});
