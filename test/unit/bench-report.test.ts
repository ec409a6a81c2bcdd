/**
 * The benchmarks' honesty rules (issue 6):
 *  - every reference figure in bench/references.ts appears in the section of the doc it cites, so a number cannot
 *    drift from its source (docs that are not in the tree yet are checked once they are);
 *  - the accuracy report prints what ran (epochs, workers, seeds, the networks' widths and parameter counts), not
 *    fixed text, and says when the references were measured with other settings.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { renderAccuracy, type AccuracyRun } from '../../bench/accuracy-report';
import * as refs from '../../bench/references';
import type { ModelScore, ScenarioJobResult } from '../../bench/scenario-worker';
import { repoRoot } from '../helpers/repo-root';

const ROOT = repoRoot(__dirname);

/** Numbers of a value, however deeply nested. */
function numbers(v: unknown): number[] {
  if (typeof v === 'number') return [v];
  if (typeof v === 'object' && v !== null) return Object.values(v).flatMap(numbers);
  return [];
}

/** `docs/x.md §3` → the text of section 3 (from `## 3.` to the next `## `), or undefined when the doc is absent. */
function section(source: string): string | undefined {
  const m = /^(docs\/[\w.-]+\.md) §(\d+)$/.exec(source);
  assert.ok(m, `source "${source}" should read "docs/<file>.md §<n>"`);
  const file = path.join(ROOT, m[1] as string);
  if (!fs.existsSync(file)) return undefined;
  const text = fs.readFileSync(file, 'utf8');
  const start = text.search(new RegExp(`^## ${m[2]}\\b`, 'm'));
  assert.ok(start >= 0, `${m[1]} has no section ${m[2]}`);
  const next = text.slice(start + 3).search(/^## /m);
  return next < 0 ? text.slice(start) : text.slice(start, start + 3 + next);
}

/** Every cited figure: the Cited exports and each PyTorch time. */
function citations(): { name: string; source: string; values: number[] }[] {
  const out: { name: string; source: string; values: number[] }[] = [];
  for (const [name, v] of Object.entries(refs)) {
    if (typeof v === 'object' && v !== null && 'source' in v && 'value' in v) out.push({ name, source: String(v.source), values: numbers(v.value) });
  }
  for (const [id, r] of Object.entries(refs.PYTORCH_MS)) out.push({ name: `PYTORCH_MS.${id}`, source: r.source, values: [r.two, r.best] });
  return out;
}

test('every reference figure appears in the section of the doc it cites', () => {
  const cited = citations();
  assert.ok(cited.length >= 6);
  let checked = 0;
  for (const c of cited) {
    const text = section(c.source);
    if (text === undefined) {
      assert.notEqual(c.source.split(' ')[0], 'docs/pytorch-reference.md', 'docs/pytorch-reference.md must exist');
      continue;
    }
    const inDoc = new Set((text.match(/\d+(?:\.\d+)?/g) ?? []).map(Number));
    for (const x of c.values) assert.ok(inDoc.has(x), `${c.name}: ${x} is not in ${c.source}`);
    checked++;
  }
  assert.ok(checked >= cited.length - 1, 'only the paper\'s figures may wait for their doc');
});

function model(name: string, macroF1: number, teacher: boolean): ModelScore {
  return {
    name, macroF1, macroF1Official: macroF1, accuracy: macroF1, accuracyOfficial: macroF1, trainSeconds: 1.5,
    params: teacher ? 4242 : 777, widths: teacher ? '8/16/16' : '4/8/8',
  };
}

function run(over: Partial<AccuracyRun>): AccuracyRun {
  const job = { dataDir: '/x', source: '2', target: '11', seed: 0, epochs: 3, teacherEpochs: 4, teacherCandidates: 1, presets: ['code'], backend: 'cpu' as const };
  const result: ScenarioJobResult = { job, backend: 'cpu', chosenTeacher: 0, models: [model('teacher', 70, true), model('source-only', 50, false), model('unikd-code', 80, false)] };
  return {
    command: 'npm run bench:accuracy -- --epochs 3', startedAt: '2026-01-01T00:00:00.000Z', epochs: 3, teacherEpochs: 4, teachers: 1, seeds: [0],
    lanes: 1, cores: 2, wallSeconds: 12, load: { start: 'load 0.1', end: 'load 0.2' }, scenarios: [{ source: '2', target: '11' }], results: [result], ...over,
  };
}

test('the accuracy report prints the epochs, workers and networks that ran', () => {
  const md = renderAccuracy(run({})).join('\n');
  assert.match(md, /Students: 3 epochs, 4\/8\/8 \(777 params\)/);
  assert.match(md, /Teachers: DANN, 4 epochs, 8\/16\/16 \(4,242 params\)/);
  assert.match(md, /1 worker thread \(1 run in parallel on 2 cores\)/);
  assert.match(md, /over 1 seed \(0\)/);
  assert.match(md, /not like for like/);
  assert.doesNotMatch(md, /13,366|200,902|10 epochs\)/);
  // With other epochs than the official code's, its training times are not shown.
  assert.match(md, /\| unikd-code \| 4\/8\/8 \| 1\.50 \| – \|/);
  assert.match(md, /Not the hub's path/);
});

test('with the official settings the report sets the official figures beside the same algorithm only', () => {
  const md = renderAccuracy(run({ epochs: 10, teacherEpochs: 10, seeds: [0, 1, 2], lanes: 2 })).join('\n');
  assert.doesNotMatch(md, /not like for like/);
  assert.match(md, /2 worker threads \(2 runs in parallel/);
  const t = refs.OFFICIAL_TRAIN_SECONDS.value.mean;
  assert.match(md, new RegExp(`\\| unikd-code \\| 4/8/8 \\| 1\\.50 \\| ${t.unikd.toFixed(2)} \\|`));
  assert.match(md, new RegExp(`\\| teacher \\| 8/16/16 \\| 1\\.50 \\| ${t.teacher.toFixed(2)} \\|`));
  assert.match(md, new RegExp(`docs/unikd\\.md §5\\) \\| – \\| ${refs.PAPER_F1_MEAN.value['source-only'].toFixed(2)} \\| ${refs.PAPER_F1_MEAN.value.unikd.toFixed(2)} \\|`));
});
