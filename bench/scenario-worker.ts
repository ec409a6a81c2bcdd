/** Worker side of bench/accuracy.ts: one (scenario, seed) job → teacher and student scores. */
import { parentPort } from 'node:worker_threads';
import { loadDomain, loadManifest } from '../shared/data/har';
import { selectBackend } from '../shared/ml/backend';
import { runScenario, type ModelOutcome } from '../lab/scenario';
import { selectByConsensus } from '../shared/ml/teacher-selection';
import { parseUniKdVariant } from '../shared/ml/algorithms/unikd-options';

export interface ScenarioJob {
  readonly dataDir: string;
  readonly source: string;
  readonly target: string;
  readonly seed: number;
  readonly epochs: number;
  readonly teacherEpochs: number;
  readonly teacherCandidates: number;
  /** UNI-KD variants: `code`, `paper` or `code+ln+tgt…` (unikd-options.ts). */
  readonly presets: readonly string[];
  readonly backend: 'wasm' | 'cpu' | 'tensorflow';
}

export interface ModelScore {
  readonly name: string;
  readonly macroF1: number;
  readonly macroF1Official: number;
  readonly accuracy: number;
  readonly accuracyOfficial: number;
  readonly trainSeconds: number;
  readonly params: number;
  /** Block widths of the network that ran, e.g. `16/32/32`. */
  readonly widths: string;
}

export interface ScenarioJobResult {
  readonly job: ScenarioJob;
  readonly backend: string;
  readonly models: ModelScore[];
  /** Index of the consensus teacher among the candidates (0 = the single-teacher run's). */
  readonly chosenTeacher: number;
}

function score(name: string, m: ModelOutcome): ModelScore {
  const s = m.net.spec;
  return {
    name, macroF1: m.score.macroF1, macroF1Official: m.scoreOfficial.macroF1, accuracy: m.score.accuracy,
    accuracyOfficial: m.scoreOfficial.accuracy, trainSeconds: m.trainSeconds, params: m.params, widths: `${s.midChannels}/${s.midChannels * 2}/${s.finalChannels}`,
  };
}

async function run(job: ScenarioJob): Promise<ScenarioJobResult> {
  const backend = await selectBackend(job.backend);
  const manifest = loadManifest(job.dataDir);
  const source = loadDomain(manifest, job.source);
  const target = loadDomain(manifest, job.target);
  const base = { source, target, seed: job.seed, numClasses: manifest.classNames.length, hparams: { epochs: job.epochs }, teacherHparams: { epochs: job.teacherEpochs }, teacherCandidates: job.teacherCandidates };
  const variant = (v: string): NonNullable<Parameters<typeof runScenario>[0]['unikd']> => {
    const o = parseUniKdVariant(v);
    if (o === undefined) throw new Error(`unknown UNI-KD variant ${v}`);
    return o;
  };
  // Students distilled from one DANN teacher (seed = job seed): the default, as the released code does.
  const single = { ...base, teacherCandidates: 1 };
  const first = runScenario({ ...single, students: ['source-only', 'kd', 'unikd'], unikd: variant(job.presets[0] ?? 'code') });
  const label = (s: ModelOutcome, preset: string): string => (s.algorithm === 'unikd' ? `unikd-${preset}` : s.algorithm);
  const models = [score('teacher', first.teacher), ...first.students.map((s) => score(label(s, job.presets[0] ?? 'code'), s))];
  const owned: ModelOutcome[] = [first.teacher, ...first.students];
  for (const preset of job.presets.slice(1)) {
    const more = runScenario({ ...single, teacher: first.teacher.net, students: ['unikd'], unikd: variant(preset) });
    models.push(score(`unikd-${preset}`, more.students[0] as ModelOutcome));
    owned.push(...more.students);
  }
  let chosen = 0;
  if (job.teacherCandidates > 1) {
    // More DANN teachers (seeds + 1000·c) and the consensus choice among all of them; no target labels involved.
    const extra = runScenario({ ...base, teacherCandidates: job.teacherCandidates - 1, seed: job.seed + 1000, students: [] });
    const candidates = [first.teacher, ...(extra.candidates?.outcomes ?? [extra.teacher])];
    owned.push(...candidates.slice(1));
    chosen = selectByConsensus(candidates.map((c) => c.net), target.train).index;
    const teacher = candidates[chosen] as ModelOutcome;
    models.push(score('teacher [consensus]', teacher));
    if (chosen === 0) {
      for (const m of models.filter((x) => x.name === 'kd' || x.name.startsWith('unikd-'))) models.push({ ...m, name: `${m.name} [consensus]` });
    } else {
      for (const preset of job.presets) {
        const r = runScenario({ ...single, teacher: teacher.net, students: preset === job.presets[0] ? ['kd', 'unikd'] : ['unikd'], unikd: variant(preset) });
        for (const s of r.students) models.push(score(`${label(s, preset)} [consensus]`, s));
        owned.push(...r.students);
      }
    }
  }
  for (const m of owned) for (const v of Object.values(m.net.vars)) v.dispose();
  return { job, backend: backend.name, models, chosenTeacher: chosen };

}

parentPort?.on('message', (job: ScenarioJob) => {
  run(job).then(
    (result) => parentPort?.postMessage({ ok: true, result }),
    (err: unknown) => parentPort?.postMessage({ ok: false, error: (err as Error).stack ?? String(err) }),
  );
});
