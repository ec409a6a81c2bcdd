/** Worker side of bench/accuracy.ts: one (scenario, seed) job → teacher and student scores. */
import { parentPort } from 'node:worker_threads';
import { loadDomain, loadManifest } from '../shared/data/har';
import { selectBackend } from '../shared/ml/backend';
import { runScenario, type ModelOutcome } from '../hub/distill/scenario';
import { parseUniKdVariant } from '../shared/ml/algorithms/unikd-options';

export interface ScenarioJob {
  readonly dataDir: string;
  readonly source: string;
  readonly target: string;
  readonly seed: number;
  readonly epochs: number;
  readonly teacherEpochs: number;
  /** UNI-KD variants: `code`, `paper` or `code+ln+tgt…` (unikd-options.ts). */
  readonly presets: readonly string[];
  readonly backend: 'wasm' | 'cpu' | 'tensorflow';
}

export interface ModelScore {
  readonly name: string;
  readonly macroF1: number;
  readonly macroF1Official: number;
  readonly accuracy: number;
  readonly trainSeconds: number;
  readonly params: number;
}

export interface ScenarioJobResult {
  readonly job: ScenarioJob;
  readonly backend: string;
  readonly models: ModelScore[];
}

function score(name: string, m: ModelOutcome): ModelScore {
  return { name, macroF1: m.score.macroF1, macroF1Official: m.scoreOfficial.macroF1, accuracy: m.score.accuracy, trainSeconds: m.trainSeconds, params: m.params };
}

async function run(job: ScenarioJob): Promise<ScenarioJobResult> {
  const backend = await selectBackend(job.backend);
  const manifest = loadManifest(job.dataDir);
  const source = loadDomain(manifest, job.source);
  const target = loadDomain(manifest, job.target);
  const base = { source, target, seed: job.seed, numClasses: manifest.classNames.length, hparams: { epochs: job.epochs }, teacherHparams: { epochs: job.teacherEpochs } };
  const variant = (v: string): NonNullable<Parameters<typeof runScenario>[0]['unikd']> => {
    const o = parseUniKdVariant(v);
    if (o === undefined) throw new Error(`unknown UNI-KD variant ${v}`);
    return o;
  };
  const first = runScenario({ ...base, students: ['source-only', 'kd', 'unikd'], unikd: variant(job.presets[0] ?? 'code') });
  const models = [score('teacher', first.teacher), ...first.students.map((s) => score(s.algorithm === 'unikd' ? `unikd-${job.presets[0] ?? 'code'}` : s.algorithm, s))];
  for (const preset of job.presets.slice(1)) {
    const more = runScenario({ ...base, teacher: first.teacher.net, students: ['unikd'], unikd: variant(preset) });
    models.push(score(`unikd-${preset}`, more.students[0] as ModelOutcome));
    for (const s of more.students) for (const v of Object.values(s.net.vars)) v.dispose();
  }
  for (const m of [first.teacher, ...first.students]) for (const v of Object.values(m.net.vars)) v.dispose();
  return { job, backend: backend.name, models };
}

parentPort?.on('message', (job: ScenarioJob) => {
  run(job).then(
    (result) => parentPort?.postMessage({ ok: true, result }),
    (err: unknown) => parentPort?.postMessage({ ok: false, error: (err as Error).stack ?? String(err) }),
  );
});
