/**
 * `npm run bench:speed`: ms per training step and per inference call on every available tfjs backend, beside PyTorch
 * CPU on the same kind of machine (docs/pytorch-reference.md §3–§4), then whole 10-epoch runs on the HAR scenarios
 * (bench/speed-runs.ts). Writes bench/results/speed.md. What is timed, and why twice for the UNI-KD step: see
 * bench/speed-steps.ts. Options: --backends tensorflow,wasm,cpu  --no-runs  --out FILE.
 */
import { resolve } from 'node:path';
import type { BackendName } from '../shared/ml/backend';
import { PYTORCH_MS } from './references';
import { benchBackend, taskLabels } from './speed-steps';
import { wholeRuns } from './speed-runs';
import { benchArgs, loadNote, runBench, type Timed, writeReport } from './timing';

type Results = Record<string, Record<string, Timed> | string>;

const fmt = (ms: number | undefined): string => (ms === undefined || Number.isNaN(ms) ? '–' : ms < 1 ? ms.toFixed(3) : ms.toFixed(1));

/** `2.0× slower` / `1.5× faster`: how the wasm time compares with a PyTorch time. */
function ratio(ours: number | undefined, ref: number | undefined): string {
  if (ours === undefined || ref === undefined) return '–';
  const r = ours / ref;
  return r >= 1 ? `${r.toFixed(1)}× slower` : `${(1 / r).toFixed(1)}× faster`;
}

const both = (t: Timed | undefined): string => (t === undefined ? '–' : `${fmt(t.ms)} (${fmt(t.cpuMs)})`);

function stepTable(backends: Results): string[] {
  const avail = Object.entries(backends);
  const wasm = typeof backends.wasm === 'object' ? backends.wasm : undefined;
  const lines = [
    `| task: ms wall (CPU) | ${avail.map(([b]) => b).join(' | ')} | PyTorch 2 threads | best PyTorch | wasm vs PyTorch 2 threads: wall · CPU | wasm vs best: wall · CPU | reference |`,
    `|---|${avail.map(() => '---:').join('|')}|---:|---:|---:|---:|---|`,
  ];
  for (const [id, label] of taskLabels()) {
    const cells = avail.map(([, r]) => (typeof r === 'string' ? 'n/a' : both(r[id])));
    const ref = PYTORCH_MS[id];
    const w = wasm?.[id];
    const vs = (x: number): string => `${ratio(w?.ms, x)} · ${ratio(w?.cpuMs, x)}`;
    const refCells = ref === undefined
      ? ['–', '–', '–', '–', 'no PyTorch figure for this network or step']
      : [String(ref.two), String(ref.best), vs(ref.two), vs(ref.best), `${ref.source}: ${ref.what}`];
    lines.push(`| ${label} | ${cells.join(' | ')} | ${refCells.join(' | ')} |`);
  }
  return lines;
}

/** Ratios between two timings of this run, on CPU time: same process, and the least disturbed by other work. */
function sameRunNotes(backends: Results): string[] {
  const w = typeof backends.wasm === 'object' ? backends.wasm : undefined;
  if (w === undefined) return [];
  const r = (a: string, b: string): string => ((w[a]?.cpuMs ?? NaN) / (w[b]?.cpuMs ?? NaN)).toFixed(2);
  const b1 = w['student-b1'];
  const dann = PYTORCH_MS['dann-step'];
  const uni = PYTORCH_MS['unikd-step-live'];
  const official = dann && uni ? ` (the official code: ${dann.two} / ${uni.two} ms = ${(dann.two / uni.two).toFixed(2)}×, ${uni.source})` : '';
  const met = (t: Timed | undefined): string => (t === undefined ? '–' : `${t.ms.toFixed(3)} ms wall, ${t.cpuMs.toFixed(3)} ms CPU: ${t.ms <= 0.2 ? 'met' : t.cpuMs <= 0.2 ? 'met on CPU time' : 'not met'}`);
  return [
    '', 'Ratios within this run (wasm, CPU time):',
    `- UNI-KD step with the teacher forward inside / with precomputed teacher outputs: ${r('unikd-step-live', 'unikd-step-pre')}×.`,
    `- DANN teacher step / UNI-KD step with the teacher forward: ${r('dann-step', 'unikd-step-live')}×${official}.`,
    `- Student 16/32/32 / 16/32/16 inference, batch 1: ${r('student-b1', 'study-student-b1')}×; training step: ${r('student-step', 'study-student-train-b32')}×.`,
    `- Issue 2's target for student inference at batch 1 (≤ 0.2 ms): ${met(b1)}.`,
  ];
}

function header(runs: boolean, startedAt: string, loadBefore: string): string[] {
  return [
    '# Speed: sitekd on tfjs backends vs PyTorch CPU (same kind of machine)', '',
    `Command: \`npm run bench:speed${runs ? '' : ' -- --no-runs'}\` — started ${startedAt}, Node ${process.version}, one process, single-threaded tfjs.`,
    `Machine load: ${loadBefore} at the start, ${loadNote()} at the end. The PyTorch figures were measured one benchmark at a time on a ` +
      'machine of the same kind; other work on the cores slows ours, so read ratios to them as rough (±30 % even between PyTorch runs, ' +
      'docs/pytorch-reference.md §4) and trust the ratios within this run, below the table, more.', '',
    'Median of 5 repetitions of ≥ 1.5 s (cpu: ≥ 3 calls) after warm-up, the method of the PyTorch per-step figures. Each cell gives the ' +
      "wall time and, in brackets, the process's CPU time. tfjs computes on one thread, so on an idle machine the two agree within a " +
      "few % (the CPU time also counts Node's helper threads, e.g. the garbage collector's); under load the CPU time leaves out the " +
      'waiting for a core that the wall time counts, though it still grows as busy neighbours share caches. Inference uses the folded-BN `Predictor` agents ' +
      "serve with. The official code's per-step figures are its 10-epoch loop time divided by its steps, so they include its data " +
      "loader's share; ours time the step alone on prepared tensors.", '',
  ];
}

async function main(): Promise<void> {
  const { values } = benchArgs({ options: { backends: { type: 'string', default: 'tensorflow,wasm,cpu' }, runs: { type: 'boolean', default: true }, out: { type: 'string' } }, allowNegative: true });
  const loadBefore = loadNote();
  const startedAt = new Date().toISOString();
  const backends: Results = {};
  for (const b of values.backends.split(',') as BackendName[]) {
    try {
      backends[b] = await benchBackend(b);
      process.stderr.write(`${b}: ${JSON.stringify(backends[b])}\n`);
    } catch (err) {
      backends[b] = (err as Error).message.split('\n')[0] ?? 'failed';
      process.stderr.write(`${b}: not available (${String(backends[b])})\n`);
    }
  }
  const runs = values.runs ? await wholeRuns() : [];
  const lines = header(values.runs, startedAt, loadBefore);
  lines.push(...stepTable(backends));
  for (const [b, r] of Object.entries(backends)) if (typeof r === 'string') lines.push('', `Backend \`${b}\` not available here: ${r}`);
  lines.push(...sameRunNotes(backends), ...runs);
  const out = values.out ?? resolve(__dirname, '../../bench/results/speed.md');
  writeReport(out, lines);
}

runBench(main);
