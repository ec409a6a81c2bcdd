/**
 * `sitekd demo` (what `npm start` runs until the fleet runtime exists): one cross-domain scenario, every algorithm
 * side by side. Real UCI-HAR (scenario 2 → 11) when the data is there, a synthetic shifted site otherwise.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { defineCommand } from '../shared/cli/command';
import { loadManifest, loadScenarios, resolveDataDir } from '../shared/data/har';
import { defaultSyntheticSpec, generateSites } from '../shared/data/synthetic';
import type { Domain } from '../shared/ml/types';
import { runScenario, type ModelOutcome } from './scenario';
import { chooseBackend, epochReporter, fmt, loadPair } from '../shared/cli/common';
import { demoSpec } from './specs';

interface DemoData {
  readonly label: string;
  readonly source: Domain;
  readonly target: Domain;
  readonly numClasses: number;
}

function findData(arg: string | undefined): DemoData {
  let dir: string | undefined;
  try {
    dir = resolveDataDir(arg);
  } catch (err) {
    if (arg !== undefined) throw err;
  }
  if (dir !== undefined && existsSync(join(dir, 'manifest.json'))) {
    const [first] = loadScenarios(join(dir, '..'));
    const sc = first ?? { source: '2', target: '11' };
    const pair = loadPair(dir, sc.source, sc.target);
    return { label: `UCI-HAR ${sc.source} → ${sc.target} (${loadManifest(dir).dir})`, ...pair };
  }
  const sites = generateSites({ ...defaultSyntheticSpec.harLike, sites: 2 });
  const [source, target] = sites as [Domain, Domain];
  return { label: 'synthetic site-0 → site-1 (no HAR data found; shifted orientation, gain, noise, rhythm)', source, target, numClasses: defaultSyntheticSpec.harLike.numClasses };
}

function row(name: string, m: ModelOutcome): string {
  return `${name.padEnd(24)} ${String(m.params).padStart(8)} ${fmt(m.score.macroF1).padStart(9)} ${fmt(m.score.accuracy).padStart(9)} ${fmt(m.trainSeconds, 1).padStart(8)}`;
}

export const demoCommand = defineCommand(demoSpec, async (a, { io, log }) => {
  const backend = await chooseBackend(a.backend, io, log);
  const d = findData(a.data);
  io.stdout.write(`sitekd demo: ${d.label}\nbackend ${backend.name}, ${a.epochs} epochs, seed ${a.seed}\n`);
  const res = runScenario({
    source: d.source, target: d.target, seed: a.seed, numClasses: d.numClasses, students: ['source-only', 'kd', 'unikd'],
    hparams: { epochs: a.epochs }, teacherHparams: { epochs: a.epochs }, onEpoch: epochReporter(io),
  });
  const [so, kd, uni] = res.students as [ModelOutcome, ModelOutcome, ModelOutcome];
  io.stdout.write(
    `\nTarget test split (${res.teacher.score.n} windows), macro-F1 and accuracy in %:\n` +
      `${'model'.padEnd(24)} ${'params'.padStart(8)} ${'macro-F1'.padStart(9)} ${'accuracy'.padStart(9)} ${'train s'.padStart(8)}\n` +
      `${row('teacher (DANN)', res.teacher)}\n${row('student source-only', so)}\n${row('student KD', kd)}\n${row('student UNI-KD', uni)}\n` +
      `\nThe UNI-KD student has ${fmt(res.teacher.params / uni.params, 1)}× fewer parameters than the teacher.\n` +
      `Accuracy over 5 scenarios × 3 seeds: npm run bench:accuracy (bench/results/accuracy-har.md).\n`,
  );
  return 0;
});
