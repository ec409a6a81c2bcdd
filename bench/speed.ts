/**
 * `npm run bench:speed`: ms per step / per call on every available backend, beside PyTorch CPU on the same kind of
 * machine (docs/backends.md, docs/pytorch-reference.md). Writes bench/results/speed.md.
 * Steps: DANN teacher step (32 source + 32 target), UNI-KD step (32 + 32), student training step (batch 32),
 * inference of student and teacher at batch 1 and 32 (folded-BN Predictor). With the HAR data present it also times
 * whole 10-epoch runs (teacher, UNI-KD) on the 5 scenarios, one at a time.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createRng } from '../shared/random';
import { loadDomain, loadManifest, loadScenarios, resolveDataDir } from '../shared/data/har';
import { selectBackend, type BackendName } from '../shared/ml/backend';
import { Dann } from '../shared/ml/algorithms/dann';
import { SourceOnly } from '../shared/ml/algorithms/baselines';
import { UniKd } from '../shared/ml/algorithms/unikd';
import { HParamsSchema, type DistillAlgorithm, type StepBatch } from '../shared/ml/algorithms/algorithm';
import { UNIKD_PRESETS } from '../shared/ml/algorithms/unikd-options';
import { createCnn, type Cnn } from '../shared/ml/cnn';
import { HAR_INPUT, specFor } from '../shared/ml/model-spec';
import { Predictor } from '../shared/ml/predictor';
import { tf } from '../shared/ml/tf';
import { train } from '../shared/ml/train';

const PYTORCH: Record<string, { two: number; best: number; note: string }> = {
  'DANN teacher step (32+32)': { two: 42, best: 42, note: 'official code: 0.27 s/epoch ≈ 42 ms/step (docs/pytorch-reference.md)' },
  'UNI-KD step (32+32)': { two: 48, best: 48, note: 'official code: 0.31 s/epoch ≈ 48 ms/step (teacher forward included)' },
  'student train step (b32)': { two: 3.86, best: 3.86, note: 'docs/backends.md §1a' },
  'student inference b1': { two: 0.369, best: 0.142, note: 'docs/backends.md §1b (best: + OpenBLAS, 1 thread)' },
  'student inference b32': { two: 0.581, best: 0.581, note: 'docs/backends.md §1b' },
  'teacher inference b1': { two: 4.75, best: 0.649, note: 'docs/backends.md §1b (best: + OpenBLAS, 1 thread)' },
  'teacher inference b32': { two: 3.37, best: 3.24, note: 'docs/backends.md §1b' },
};

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

/** Warm-up, then 5 repetitions of ≥ `minMs` each; the median of the per-repetition means (docs/backends.md, Method). */
function timeIt(fn: () => void, minMs: number, warmup = 3): number {
  for (let i = 0; i < warmup; i++) fn();
  const reps: number[] = [];
  for (let r = 0; r < 5; r++) {
    let n = 0;
    const t0 = performance.now();
    do {
      fn();
      n++;
    } while (performance.now() - t0 < minMs || n < 2);
    reps.push((performance.now() - t0) / n);
  }
  return median(reps);
}

function randomBatch(b: number): StepBatch {
  const idx = Int32Array.from({ length: b }, (_, i) => i);
  const labels = Array.from({ length: b }, (_, i) => i % 6);
  return {
    xs: tf.randomNormal([b, 128, 9]) as tf.Tensor3D, xt: tf.randomNormal([b, 128, 9]) as tf.Tensor3D,
    ysOneHot: tf.oneHot(tf.tensor1d(labels, 'int32'), 6) as tf.Tensor2D, srcIdx: idx, tgtIdx: idx,
  };
}

function stepTimer(alg: DistillAlgorithm, batch: StepBatch, minMs: number, warmup: number): number {
  let step = 0;
  return timeIt(() => { alg.step(batch, { epoch: 1, step: step++ % 6, stepsPerEpoch: 6, epochs: 10 }); }, minMs, warmup);
}

function fakeTeacherOutputs(teacher: Cnn, n: number): ConstructorParameters<typeof UniKd>[4] {
  const rows = (w: number): { n: number; width: number; data: Float32Array } => ({ n, width: w, data: Float32Array.from({ length: n * w }, () => Math.random()) });
  return { srcFeatures: rows(teacher.spec.finalChannels), tgtFeatures: rows(teacher.spec.finalChannels), srcLogits: rows(6), tgtLogits: rows(6) };
}

async function benchBackend(name: BackendName): Promise<Record<string, number>> {
  await selectBackend(name);
  const slow = name === 'cpu';
  const minMs = slow ? 1 : 1000;
  const warm = slow ? 1 : 3;
  const hp = HParamsSchema.parse({});
  const rng = createRng(0);
  const teacher = createCnn(specFor(HAR_INPUT, 'teacher'), rng);
  const student = createCnn(specFor(HAR_INPUT, 'student'), rng);
  const batch = randomBatch(32);
  const out: Record<string, number> = {};
  const dann = new Dann(teacher, hp, rng);
  out['DANN teacher step (32+32)'] = stepTimer(dann, batch, minMs, warm);
  dann.dispose();
  const uni = new UniKd(createCnn(specFor(HAR_INPUT, 'student'), rng), hp, UNIKD_PRESETS.code, rng, fakeTeacherOutputs(teacher, 32));
  out['UNI-KD step (32+32)'] = stepTimer(uni, batch, minMs, warm);
  uni.dispose();
  const so = new SourceOnly(createCnn(specFor(HAR_INPUT, 'student'), rng), hp, rng);
  out['student train step (b32)'] = stepTimer(so, batch, minMs, warm);
  so.dispose();
  for (const [label, net] of [['student', student], ['teacher', teacher]] as const) {
    const p = new Predictor(net);
    const w = Float32Array.from({ length: 128 * 9 }, () => Math.random() - 0.5);
    out[`${label} inference b1`] = timeIt(() => p.predictWindow(w), slow ? 200 : 1000, 20);
    const x32 = tf.randomNormal([32, 128, 9]) as tf.Tensor3D;
    out[`${label} inference b32`] = timeIt(() => { const z = p.logits(x32); z.dataSync(); z.dispose(); }, slow ? 200 : 1000, 3);
    x32.dispose();
    p.dispose();
  }
  tf.dispose(batch as unknown as tf.Tensor[]);
  return out;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { backends: { type: 'string', default: 'tensorflow,wasm,cpu' }, runs: { type: 'boolean', default: true }, out: { type: 'string' } } });
  const backends: Record<string, Record<string, number> | string> = {};
  for (const b of values.backends.split(',') as BackendName[]) {
    try {
      backends[b] = await benchBackend(b);
      process.stderr.write(`${b}: ${JSON.stringify(backends[b])}\n`);
    } catch (err) {
      backends[b] = (err as Error).message.split('\n')[0] ?? 'failed';
      process.stderr.write(`${b}: not available (${String(backends[b])})\n`);
    }
  }
  const lines = ['# Speed: sitekd on tfjs backends vs PyTorch CPU (same kind of machine)', ''];
  lines.push(`Command: \`npm run bench:speed\` — run ${new Date().toISOString()}, Node ${process.version}, one process, single-threaded tfjs.`, '');
  lines.push('Median of 5 repetitions after warm-up (docs/backends.md, Method). Inference uses the folded-BN `Predictor` agents serve with.', '');
  const avail = Object.entries(backends);
  lines.push(`| task (ms) | ${avail.map(([b]) => b).join(' | ')} | PyTorch CPU 2 thr | best PyTorch | ratio wasm / PyTorch 2 thr | reference |`);
  lines.push(`|---|${avail.map(() => '---:').join('|')}|---:|---:|---:|---|`);
  for (const [task, ref] of Object.entries(PYTORCH)) {
    const cells = avail.map(([, r]) => (typeof r === 'string' ? 'n/a' : (r[task] ?? NaN).toFixed(task.includes('b1') ? 3 : 1)));
    const w = backends.wasm;
    const ratio = typeof w === 'object' && w[task] !== undefined ? (w[task] / ref.two) : NaN;
    lines.push(`| ${task} | ${cells.join(' | ')} | ${ref.two} | ${ref.best} | ${ratio >= 1 ? `${ratio.toFixed(1)}× slower` : `${(1 / ratio).toFixed(1)}× faster`} | ${ref.note} |`);
  }
  for (const [b, r] of avail) if (typeof r === 'string') lines.push('', `Backend \`${b}\` not available here: ${r}`);
  if (values.runs) lines.push(...(await wholeRuns()));
  const out = values.out ?? resolve(__dirname, '../../bench/results/speed.md');
  mkdirSync(join(out, '..'), { recursive: true });
  writeFileSync(out, `${lines.join('\n')}\n`);
  process.stdout.write(`${lines.join('\n')}\n\nwrote ${out}\n`);
}

/** Whole 10-epoch runs on the real scenarios, one at a time on the wasm backend (the issue's speed targets). */
async function wholeRuns(): Promise<string[]> {
  let dir: string;
  try {
    dir = resolveDataDir();
    loadManifest(dir);
  } catch {
    return ['', 'Whole-run timings skipped: ../shared/data/HAR not found.'];
  }
  await selectBackend('wasm');
  const manifest = loadManifest(dir);
  const lines = ['', '## Whole 10-epoch runs on UCI-HAR (wasm, one run at a time, seed 0)', '',
    '| scenario | DANN teacher run (s) | UNI-KD run (s, incl. teacher outputs) | end to end (s) | PyTorch official: teacher / UNI-KD (s) |', '|---|---:|---:|---:|---:|'];
  const ref: Record<string, [number, number]> = { '2-11': [2.86, 3.17], '7-13': [2.7, 2.69], '12-16': [2.77, 3.12], '9-18': [2.31, 3.04], '6-23': [2.76, 3.46] };
  const sums: [number, number] = [0, 0];
  const scenarios = loadScenarios(join(dir, '..'));
  for (const s of scenarios) {
    const src = loadDomain(manifest, s.source);
    const tgt = loadDomain(manifest, s.target);
    const t = train({ algorithm: 'dann', spec: specFor(HAR_INPUT, 'teacher'), source: src.train, target: tgt.train, seed: 0 });
    const u = train({ algorithm: 'unikd', spec: specFor(HAR_INPUT, 'student'), source: src.train, target: tgt.train, seed: 0, teacher: t.net });
    sums[0] += t.trainSeconds;
    sums[1] += u.trainSeconds;
    const r = ref[`${s.source}-${s.target}`] ?? [NaN, NaN];
    lines.push(`| ${s.source}→${s.target} | ${t.trainSeconds.toFixed(2)} | ${u.trainSeconds.toFixed(2)} | ${(t.trainSeconds + u.trainSeconds).toFixed(2)} | ${r[0]} / ${r[1]} |`);
    for (const v of [...Object.values(t.net.vars), ...Object.values(u.net.vars)]) v.dispose();
  }
  const n = scenarios.length;
  lines.push(`| **mean** | **${(sums[0]! / n).toFixed(2)}** | **${(sums[1]! / n).toFixed(2)}** | **${((sums[0]! + sums[1]!) / n).toFixed(2)}** | 2.68 / 3.09 |`);
  lines.push('', 'Targets (issue 2): UNI-KD run ≤ 15 s, teacher run ≤ 14 s (5× PyTorch), aim 3× (≤ 9.3 s / ≤ 8.0 s); student b1 ≤ 0.2 ms.');
  return lines;
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
