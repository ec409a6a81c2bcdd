/**
 * Whole 10-epoch training runs on the 5 HAR scenarios, one at a time on the wasm backend, beside the official code's
 * training-loop times (docs/pytorch-reference.md §3). At this level both sides do their whole job: sitekd's UNI-KD
 * time includes computing the teacher's outputs once, the official code's includes its teacher forward in every step.
 */
import { join } from 'node:path';
import { loadDomain, loadManifest, loadScenarios, resolveDataDir } from '../shared/data/har';
import { selectBackend } from '../shared/ml/backend';
import { HAR_INPUT, specFor } from '../shared/ml/model-spec';
import { disposeVars } from '../shared/ml/params';
import { train } from '../shared/ml/train';
import { OFFICIAL_SETTINGS, OFFICIAL_TRAIN_SECONDS } from './references';
import { cpuMsSince } from './timing';

const KINDS = ['teacher', 'unikd', 'source-only'] as const;
type Kind = (typeof KINDS)[number];

export interface RunTimes {
  readonly scenario: string;
  /** Wall seconds of the run (train()'s own clock). */
  readonly seconds: Record<Kind, number>;
  /** CPU seconds of the process over the same call (see Timed in bench/timing.ts). */
  readonly cpuSeconds: Record<Kind, number>;
}

/** train() and the process CPU seconds it used. */
function timed(req: Parameters<typeof train>[0]): { r: ReturnType<typeof train>; cpu: number } {
  const c0 = process.cpuUsage();
  const r = train(req);
  return { r, cpu: cpuMsSince(c0) / 1000 };
}

/** One scenario: a DANN teacher, then a UNI-KD (code preset) and a source-only student, seed 0. */
function timeScenario(dir: string, source: string, target: string): RunTimes {
  const manifest = loadManifest(dir);
  const src = loadDomain(manifest, source).train;
  const tgt = loadDomain(manifest, target).train;
  const t = timed({ algorithm: 'dann', spec: specFor(HAR_INPUT, 'teacher'), source: src, target: tgt, seed: 0 });
  const u = timed({ algorithm: 'unikd', spec: specFor(HAR_INPUT, 'student'), source: src, target: tgt, seed: 0, teacher: t.r.net });
  const s = timed({ algorithm: 'source-only', spec: specFor(HAR_INPUT, 'student'), source: src, target: tgt, seed: 0 });
  for (const x of [t, u, s]) disposeVars(x.r.net.vars);
  return {
    scenario: `${source}-${target}`,
    seconds: { teacher: t.r.trainSeconds, unikd: u.r.trainSeconds, 'source-only': s.r.trainSeconds },
    cpuSeconds: { teacher: t.cpu, unikd: u.cpu, 'source-only': s.cpu },
  };
}

/** `wall (CPU) / official (wall ratio · CPU ratio)`. */
function cell(wall: number, cpu: number, ref: number | undefined): string {
  const x = (v: number): string => (ref === undefined ? '–' : `${(v / ref).toFixed(1)}×`);
  return `${wall.toFixed(2)} (${cpu.toFixed(2)}) / ${ref?.toFixed(2) ?? '–'} (${x(wall)} · ${x(cpu)})`;
}

/** Markdown lines of the whole-run section, or why it was skipped. */
export async function wholeRuns(): Promise<string[]> {
  let dir: string;
  try {
    dir = resolveDataDir();
    loadManifest(dir);
  } catch {
    return ['', 'Whole-run timings skipped: ../shared/data/HAR not found.'];
  }
  await selectBackend('wasm');
  const ref = OFFICIAL_TRAIN_SECONDS.value;
  const runs = loadScenarios(join(dir, '..')).map((s) => timeScenario(dir, s.source, s.target));
  const mean = (k: Kind, f: 'seconds' | 'cpuSeconds' = 'seconds'): number => runs.reduce((a, r) => a + r[f][k], 0) / runs.length;
  const lines = [
    '', `## Whole ${OFFICIAL_SETTINGS.epochs}-epoch runs on UCI-HAR (wasm, one run at a time, seed 0)`, '',
    `Each cell: sitekd wall s (CPU s) / official code s (ratio on wall · on CPU time). The official figures are the mean over seeds ${OFFICIAL_SETTINGS.seeds} of its ` +
      `training loop with ${OFFICIAL_SETTINGS.threads} threads (${OFFICIAL_TRAIN_SECONDS.source}); sitekd's are one run, single-threaded: wall time ` +
      'from model creation to the last step, CPU time of the whole training call. The UNI-KD time includes computing the teacher\'s outputs once (sitekd) or ' +
      'the teacher forward in every step (official code).', '',
    '| scenario | DANN teacher run | UNI-KD run (code preset) | source-only student run |', '|---|---:|---:|---:|',
  ];
  for (const r of runs) {
    lines.push(`| ${r.scenario.replace('-', '→')} | ${KINDS.map((k) => cell(r.seconds[k], r.cpuSeconds[k], ref.perScenario[k][r.scenario])).join(' | ')} |`);
  }
  lines.push(`| **mean** | ${KINDS.map((k) => `**${cell(mean(k), mean(k, 'cpuSeconds'), ref.mean[k])}**`).join(' | ')} |`);
  const target = (k: 'teacher' | 'unikd', x: number): string => {
    const limit = x * ref.mean[k];
    const verdict = mean(k) <= limit ? 'met' : mean(k, 'cpuSeconds') <= limit ? 'met on CPU time only' : 'not met';
    return `${k} ≤ ${limit.toFixed(1)} s: ${verdict}`;
  };
  lines.push('', `Targets of issue 2, as multiples of the official means: 5× (${target('teacher', 5)}; ${target('unikd', 5)}), ` +
    `aim 3× (${target('teacher', 3)}; ${target('unikd', 3)}).`);
  return lines;
}
