/**
 * `npm run bench:accuracy`: the 5 UNI-KD HAR scenarios × seeds for the DANN teacher and the source-only, KD and UNI-KD
 * students, beside the official PyTorch code run on this kind of machine (docs/pytorch-reference.md) and the paper
 * (docs/unikd.md §5). Writes bench/results/accuracy-har.md (bench/accuracy-report.ts).
 * Options: --epochs N (10), --teacher-epochs N (= epochs), --teachers K (1), --seeds 0,1,2, --presets code,paper,
 * --workers 2, --backend wasm, --data DIR, --out FILE.
 */
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { loadScenarios, resolveDataDir } from '../shared/data/har';
import { renderAccuracy } from './accuracy-report';
import { runPool } from './pool';
import type { ScenarioJob, ScenarioJobResult } from './scenario-worker';
import { benchArgs, loadNote, runBench, writeReport } from './timing';

async function main(): Promise<void> {
  const { values } = benchArgs({
    options: {
      epochs: { type: 'string', default: '10' }, seeds: { type: 'string', default: '0,1,2' }, presets: { type: 'string', default: 'code,paper' },
      workers: { type: 'string', default: '2' }, 'teacher-epochs': { type: 'string' }, teachers: { type: 'string', default: '1' }, data: { type: 'string' },
      out: { type: 'string' }, backend: { type: 'string', default: 'wasm' },
    },
  });
  const dataDir = resolveDataDir(values.data);
  const scenarios = loadScenarios(join(dataDir, '..'));
  const seeds = values.seeds.split(',').map(Number);
  const presets = values.presets.split(',');
  const epochs = Number(values.epochs);
  const teacherEpochs = Number(values['teacher-epochs'] ?? values.epochs);
  const teachers = Number(values.teachers);
  const backend = values.backend as ScenarioJob['backend'];
  const jobs: ScenarioJob[] = scenarios.flatMap((s) => seeds.map((seed) => ({
    dataDir, source: s.source, target: s.target, seed, epochs, teacherEpochs, teacherCandidates: teachers, presets, backend,
  })));
  const lanes = Math.min(Number(values.workers), jobs.length); // what runPool starts
  const loadStart = loadNote();
  const startedAt = new Date().toISOString();
  const started = performance.now();
  const results = await runPool<ScenarioJob, ScenarioJobResult>(join(__dirname, 'scenario-worker.js'), jobs, lanes, (r, j) => {
    process.stderr.write(`${j.source}→${j.target} seed ${j.seed}: ${r.models.map((m) => `${m.name} ${m.macroF1.toFixed(1)}`).join(', ')}\n`);
  });
  const wallSeconds = (performance.now() - started) / 1000;
  const command = `npm run bench:accuracy -- --epochs ${epochs} --teacher-epochs ${teacherEpochs} --teachers ${teachers} --seeds ${values.seeds} ` +
    `--presets ${values.presets} --workers ${values.workers}${backend === 'wasm' ? '' : ` --backend ${backend}`}`;
  const lines = renderAccuracy({
    command, startedAt, epochs, teacherEpochs, teachers, seeds, lanes, cores: cpus().length, wallSeconds,
    load: { start: loadStart, end: loadNote() }, scenarios, results,
  });
  const out = values.out ?? resolve(__dirname, '../../bench/results/accuracy-har.md');
  writeReport(out, lines);
}

runBench(main);
