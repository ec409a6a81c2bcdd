/**
 * `npm run bench:accuracy`: the 5 UNI-KD HAR scenarios × seeds 0, 1, 2 for the DANN teacher and the source-only, KD
 * and UNI-KD students, beside the paper and the official PyTorch code run on this machine
 * (docs/pytorch-reference.md). Writes bench/results/accuracy-har.md.
 * Options: --epochs N (10), --seeds 0,1,2, --presets code,paper, --workers 2, --data DIR.
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadScenarios, resolveDataDir } from '../shared/data/har';
import { runPool } from './pool';
import type { ModelScore, ScenarioJob, ScenarioJobResult } from './scenario-worker';

/** The official UNI-KD code here (official metric: last partial test batch dropped), docs/pytorch-reference.md. */
const PYTORCH: Record<string, Record<string, number>> = {
  teacher: { '2-11': 80.16, '7-13': 89.84, '12-16': 60.72, '9-18': 74.84, '6-23': 90.6 },
  'source-only': { '2-11': 56.58, '7-13': 77.91, '12-16': 60.2, '9-18': 56.07, '6-23': 67.59 },
  unikd: { '2-11': 98.89, '7-13': 93.3, '12-16': 64.04, '9-18': 68.8, '6-23': 93.81 },
};
const PYTORCH_MEAN: Record<string, number> = { teacher: 79.23, 'source-only': 63.67, unikd: 83.77 };
const PAPER_MEAN: Record<string, number> = { 'source-only': 58.25, unikd: 86.84 };
const PYTORCH_SECONDS = { teacher: 2.68, unikd: 3.09, 'source-only': 0.52 };

function meanSd(xs: number[]): { mean: number; sd: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1)) : 0;
  return { mean, sd };
}

const f = (x: number | undefined): string => (x === undefined ? '–' : x.toFixed(2));

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      epochs: { type: 'string', default: '10' }, seeds: { type: 'string', default: '0,1,2' }, presets: { type: 'string', default: 'code,paper' },
      workers: { type: 'string', default: '2' }, 'teacher-epochs': { type: 'string' }, teachers: { type: 'string', default: '1' }, data: { type: 'string' }, out: { type: 'string' }, backend: { type: 'string', default: 'wasm' },
    },
  });
  const dataDir = resolveDataDir(values.data);
  const scenarios = loadScenarios(join(dataDir, '..'));
  const seeds = values.seeds.split(',').map(Number);
  const presets = values.presets.split(',');
  const epochs = Number(values.epochs);
  const teacherEpochs = Number(values['teacher-epochs'] ?? values.epochs);
  const jobs: ScenarioJob[] = scenarios.flatMap((s) => seeds.map((seed) => ({ dataDir, source: s.source, target: s.target, seed, epochs, teacherEpochs, teacherCandidates: Number(values.teachers), presets, backend: values.backend as ScenarioJob['backend'] })));
  const started = performance.now();
  const results = await runPool<ScenarioJob, ScenarioJobResult>(join(__dirname, 'scenario-worker.js'), jobs, Number(values.workers), (r, j) => {
    process.stderr.write(`${j.source}→${j.target} seed ${j.seed}: ${r.models.map((m) => `${m.name} ${m.macroF1.toFixed(1)}`).join(', ')}\n`);
  });
  const wall = (performance.now() - started) / 1000;
  const names = results[0]?.models.map((m) => m.name) ?? [];
  const key = (s: { source: string; target: string }): string => `${s.source}-${s.target}`;
  const pick = (name: string, sc: string, field: keyof ModelScore): number[] =>
    results.filter((r) => key(r.job) === sc).map((r) => r.models.find((m) => m.name === name)?.[field] as number);
  const lines: string[] = [];
  lines.push('# Accuracy on UCI-HAR: the 5 UNI-KD scenarios', '');
  lines.push(`Command: \`npm run bench:accuracy -- --epochs ${epochs} --teacher-epochs ${teacherEpochs} --teachers ${values.teachers} --seeds ${values.seeds} --presets ${values.presets} --workers ${values.workers}\``);
  lines.push(`Run ${new Date().toISOString()} on backend ${results[0]?.backend ?? '?'}, ${values.workers} worker threads; wall time ${wall.toFixed(0)} s for ${jobs.length} jobs.`, '');
  lines.push('Macro-F1 (%) on each target\'s full test split, mean ± sd over seeds. Student = 16/32/32 CNN (13,366 params), teacher = DANN 64/128/128 (200,902).', '');
  lines.push(`| scenario | ${names.join(' | ')} | PyTorch official: teacher / source-only / UNI-KD |`);
  lines.push(`|---|${names.map(() => '---:').join('|')}|---:|`);
  for (const s of scenarios) {
    const sc = key(s);
    const cells = names.map((n) => { const m = meanSd(pick(n, sc, 'macroF1')); return `${f(m.mean)} ± ${f(m.sd)}`; });
    lines.push(`| ${s.source}→${s.target} | ${cells.join(' | ')} | ${f(PYTORCH.teacher?.[sc])} / ${f(PYTORCH['source-only']?.[sc])} / ${f(PYTORCH.unikd?.[sc])} |`);
  }
  const overall = (n: string, field: keyof ModelScore): number => meanSd(scenarios.map((s) => meanSd(pick(n, key(s), field)).mean)).mean;
  lines.push(`| **mean** | ${names.map((n) => `**${f(overall(n, 'macroF1'))}**`).join(' | ')} | **${f(PYTORCH_MEAN.teacher)} / ${f(PYTORCH_MEAN['source-only'])} / ${f(PYTORCH_MEAN.unikd)}** |`);
  lines.push(`| mean, official metric (last partial batch of 32 dropped) | ${names.map((n) => f(overall(n, 'macroF1Official'))).join(' | ')} | same as above (that is the official metric) |`);
  lines.push(`| mean accuracy | ${names.map((n) => f(overall(n, 'accuracy'))).join(' | ')} | 80.31 / 68.16 / 84.17 |`);
  lines.push(`| paper (derived main-5 mean, docs/unikd.md §5.4) | ${names.map((n) => f(PAPER_MEAN[n.startsWith('unikd') ? 'unikd' : n])).join(' | ')} | |`, '');
  lines.push('## Training time per run (10 epochs), seconds, mean over all jobs', '');
  lines.push('| model | sitekd (this run, 2 runs in parallel) | official PyTorch code here (2 threads) |', '|---|---:|---:|');
  for (const n of names) {
    const t = meanSd(results.map((r) => r.models.find((m) => m.name === n)?.trainSeconds ?? 0)).mean;
    const ref = n === 'teacher' ? PYTORCH_SECONDS.teacher : n.startsWith('unikd') ? PYTORCH_SECONDS.unikd : n === 'source-only' ? PYTORCH_SECONDS['source-only'] : undefined;
    lines.push(`| ${n} | ${t.toFixed(2)} | ${ref === undefined ? '–' : ref.toFixed(2)} |`);
  }
  lines.push('', 'UNI-KD presets: `code` = the released code\'s behaviour (default); `paper` = all paper-intent flags of docs/unikd.md §2.7 ' +
    '(target logits in the target KD term, adversarial gradient to the student, natural-log β, detached domain weights, no second target forward).');
  lines.push(Number(values.teachers) > 1
    ? `Columns without a tag distill from one DANN teacher per (scenario, seed), as the released code does. Columns tagged [consensus] use no target labels either: ${values.teachers} DANN teachers per (scenario, seed) (seeds s, s+1000, s+2000), and the students distill from the one agreeing most with their majority vote on the target's unlabelled training windows (hub/distill/teacher-selection.ts). Chosen candidate per job: ${results.map((r) => `${r.job.source}→${r.job.target}/s${r.job.seed}: #${r.chosenTeacher + 1}`).join(', ')}.`
    : 'Teacher selection uses no target labels: one DANN teacher per (scenario, seed), the last epoch.');
  const out = values.out ?? resolve(__dirname, '../../bench/results/accuracy-har.md');
  mkdirSync(join(out, '..'), { recursive: true });
  writeFileSync(out, `${lines.join('\n')}\n`);
  process.stdout.write(`${lines.join('\n')}\n\nwrote ${out}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
