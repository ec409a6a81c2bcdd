import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { loadDomain, loadManifest } from '../../shared/data/har';
import { allocateTestCounts, importUciHar, splitSubject, UCI_CLASS_NAMES, UCI_SIGNALS } from '../../shared/data/uci-import';
import { ErrorCode, isSitekdError, type ErrorCode as Code } from '../../shared/errors';
import { realData, realDataRoot, testNeeding } from '../helpers/requirements';

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'sitekd-uci-'));
after(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));
let counter = 0;
const code = (c: Code) => (e: unknown): boolean => isSitekdError(e, c);

/** UCI writes floats like "  2.5180850e-002". */
function uciFloat(v: number): string {
  const [mant, exp] = v.toExponential(7).split('e') as [string, string];
  const sign = exp.startsWith('-') ? '-' : '+';
  return `${v < 0 ? ' ' : '  '}${mant}e${sign}${exp.replace(/^[+-]/, '').padStart(3, '0')}`;
}

/** Value of window w (global, across both splits), signal s, time t: decodable in the output. */
const value = (w: number, s: number, t: number): number => (w + 1) * 0.125 + s * 0.01 + t * 1e-5 - 0.5;

interface FakeWindow {
  readonly subject: number;
  readonly activity: number; // 1..6
}

// Subject 1 only in train (13 windows), subject 3 only in test (7 windows), activities in bouts.
const TRAIN: FakeWindow[] = [1, 1, 1, 1, 1, 2, 2, 2, 4, 4, 4, 4, 6].map((activity) => ({ subject: 1, activity }));
const TEST: FakeWindow[] = [3, 3, 3, 5, 5, 5, 5].map((activity) => ({ subject: 3, activity }));

function writeFakeArchive(dir: string, length = 128): void {
  let w = 0;
  for (const [split, rows] of [['train', TRAIN], ['test', TEST]] as const) {
    const sdir = path.join(dir, 'UCI HAR Dataset', split);
    fs.mkdirSync(path.join(sdir, 'Inertial Signals'), { recursive: true });
    fs.writeFileSync(path.join(sdir, `subject_${split}.txt`), rows.map((r) => `${r.subject}\n`).join(''));
    fs.writeFileSync(path.join(sdir, `y_${split}.txt`), rows.map((r) => `${r.activity}\n`).join(''));
    UCI_SIGNALS.forEach((signal, s) => {
      const lines = rows.map((_, i) => Array.from({ length }, (_, t) => uciFloat(value(w + i, s, t))).join('') + '\n');
      fs.writeFileSync(path.join(sdir, 'Inertial Signals', `${signal}_${split}.txt`), lines.join(''));
    });
    w += rows.length;
  }
}

function freshArchive(): string {
  const dir = path.join(tmpRoot, `a${counter++}`);
  writeFakeArchive(dir);
  return dir;
}

describe('allocateTestCounts / splitSubject', () => {
  test('per-class counts follow sklearn stratified allocation (subject 2 of UCI-HAR by hand)', () => {
    // counts [59,48,47,46,54,48], n=302 → n_test = ceil(90.6) = 91, n_train = 211.
    // train share c·211/302 = 41.22, 33.54, 32.84, 32.14, 37.73, 33.54 → floors 41,33,32,32,37,33 (=208);
    // 3 leftovers to the largest remainders .84 (class 2), .73 (class 4), .54 (class 1; ties with
    // class 5 → lower index) → train 41,34,33,32,38,33 → test 18,14,14,14,16,15 (AdaTime's numbers).
    assert.deepEqual(allocateTestCounts([59, 48, 47, 46, 54, 48]), [18, 14, 14, 14, 16, 15]);
    // 0.3·10 = 3 exactly → 3 test windows; 0.3·11 = 3.3 → 4.
    assert.deepEqual(allocateTestCounts([10]), [3]);
    assert.deepEqual(allocateTestCounts([11]), [4]);
    assert.deepEqual(allocateTestCounts([0, 5]), [0, 2]);
    assert.throws(() => allocateTestCounts([5], 1), code(ErrorCode.CONFIG_INVALID));
  });

  test('test windows are spread evenly through each class, in original order', () => {
    // 20 windows of one class: 6 test; k is test iff floor((k+1)·6/20) > floor(k·6/20)
    // → k = 3, 6, 9, 13, 16, 19.
    const { train, test: testIdx } = splitSubject(new Array<number>(20).fill(0), 6);
    assert.deepEqual(testIdx, [3, 6, 9, 13, 16, 19]);
    assert.equal(train.length, 14);
    assert.deepEqual([...train, ...testIdx].sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i));
  });
});

describe('importUciHar on a fake archive', () => {
  test('one domain per subject, 9 channels in UCI order, labels − 1, ~70/30 split', () => {
    const archive = freshArchive();
    const out = path.join(tmpRoot, `out${counter++}`, 'HAR');
    const summary = importUciHar(archive, out);
    assert.equal(summary.totalWindows, 20);
    assert.deepEqual(summary.domains.map((d) => d.id), ['1', '3']);

    const m = loadManifest(out);
    assert.deepEqual(m.channelNames, [...UCI_SIGNALS]);
    assert.deepEqual(m.classNames, [...UCI_CLASS_NAMES]);
    assert.equal(m.samplingRateHz, 50);
    assert.deepEqual([m.channels, m.length], [9, 128]);

    // Global window index w is recoverable from x[i, 0, 0] = (w+1)/8 − 0.5 (exact in float32).
    const windowIds = (x: Float32Array, n: number): number[] => Array.from({ length: n }, (_, i) => Math.round(((x[i * 9 * 128] as number) + 0.5) * 8) - 1);
    const all = [...TRAIN, ...TEST];
    let seen: number[] = [];
    for (const [id, n] of [['1', 13], ['3', 7]] as const) {
      const d = loadDomain(out, id);
      assert.equal(d.train.n + d.test.n, n);
      assert.equal(d.test.n, Math.ceil(0.3 * n));
      const trainIds = windowIds(d.train.x, d.train.n);
      const testIds = windowIds(d.test.x, d.test.n);
      // Original order within each split, every window exactly once, all from this subject.
      assert.deepEqual(trainIds, [...trainIds].sort((a, b) => a - b));
      assert.deepEqual(testIds, [...testIds].sort((a, b) => a - b));
      for (const w of [...trainIds, ...testIds]) assert.equal(all[w]?.subject, Number(id));
      seen = seen.concat(trainIds, testIds);
      // Labels are the activity ids minus one.
      trainIds.forEach((w, i) => assert.equal(d.train.y?.[i], (all[w]?.activity ?? 0) - 1));
      testIds.forEach((w, i) => assert.equal(d.test.y?.[i], (all[w]?.activity ?? 0) - 1));
      // Channel order and time order: every value decodes back to (w, signal, t).
      for (const [ws, ids] of [[d.train, trainIds], [d.test, testIds]] as const) {
        ids.forEach((w, i) => {
          for (let s = 0; s < 9; s++) {
            for (const t of [0, 1, 127]) {
              assert.equal(ws.x[(i * 9 + s) * 128 + t], Math.fround(Number(uciFloat(value(w, s, t)))));
            }
          }
        });
      }
    }
    assert.deepEqual(seen.sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i));
  });

  test('subject 1: hand-computed per-class test windows', () => {
    // Subject 1: counts walk 5, upstairs 3, sit 4, lie 1 (n = 13 → n_test = ceil(3.9) = 4, n_train = 9).
    // train share c·9/13 = 3.46, 2.08, 2.77, 0.69 → floors 3,2,2,0 (=7); leftovers to .77 (sit) and
    // .69 (lie) → train 3,2,3,1 → test walk 2, upstairs 1, sit 1, lie 0.
    const archive = freshArchive();
    const out = path.join(tmpRoot, `out${counter++}`);
    importUciHar(path.join(archive, 'UCI HAR Dataset'), out);
    const d = loadDomain(out, '1');
    assert.deepEqual(Array.from(d.test.y ?? []), [0, 0, 1, 3]);
  });

  test('missing archive → DATA_NOT_FOUND', () => {
    assert.throws(() => importUciHar(path.join(tmpRoot, 'none'), path.join(tmpRoot, 'o')), code(ErrorCode.DATA_NOT_FOUND));
    const archive = freshArchive();
    fs.rmSync(path.join(archive, 'UCI HAR Dataset', 'test', 'Inertial Signals', 'body_gyro_y_test.txt'));
    assert.throws(() => importUciHar(archive, path.join(tmpRoot, `out${counter++}`)), code(ErrorCode.DATA_NOT_FOUND));
  });

  test('row count or row length mismatch → DATA_TRUNCATED', () => {
    const a1 = freshArchive();
    const f1 = path.join(a1, 'UCI HAR Dataset', 'train', 'Inertial Signals', 'total_acc_z_train.txt');
    fs.writeFileSync(f1, fs.readFileSync(f1, 'utf8').split('\n').slice(0, 5).join('\n'));
    assert.throws(() => importUciHar(a1, path.join(tmpRoot, `out${counter++}`)), code(ErrorCode.DATA_TRUNCATED));

    const a2 = freshArchive();
    const f2 = path.join(a2, 'UCI HAR Dataset', 'test', 'Inertial Signals', 'body_acc_x_test.txt');
    const lines = fs.readFileSync(f2, 'utf8').split('\n');
    lines[2] = (lines[2] ?? '').replace(/\s+\S+\s*$/, '');
    fs.writeFileSync(f2, lines.join('\n'));
    assert.throws(() => importUciHar(a2, path.join(tmpRoot, `out${counter++}`)), code(ErrorCode.DATA_TRUNCATED));

    const a3 = freshArchive();
    fs.appendFileSync(path.join(a3, 'UCI HAR Dataset', 'train', 'y_train.txt'), '1\n');
    assert.throws(() => importUciHar(a3, path.join(tmpRoot, `out${counter++}`)), code(ErrorCode.DATA_TRUNCATED));
  });

  test('activity outside 1..6 → DATA_MANIFEST_INVALID; junk number → DATA_NONFINITE', () => {
    const a1 = freshArchive();
    fs.writeFileSync(path.join(a1, 'UCI HAR Dataset', 'test', 'y_test.txt'), '3\n3\n7\n5\n5\n5\n5\n');
    assert.throws(() => importUciHar(a1, path.join(tmpRoot, `out${counter++}`)), code(ErrorCode.DATA_MANIFEST_INVALID));

    const a2 = freshArchive();
    const f2 = path.join(a2, 'UCI HAR Dataset', 'train', 'Inertial Signals', 'body_gyro_x_train.txt');
    fs.writeFileSync(f2, fs.readFileSync(f2, 'utf8').replace(/^\s*\S+/, ' abc'));
    assert.throws(() => importUciHar(a2, path.join(tmpRoot, `out${counter++}`)), code(ErrorCode.DATA_NONFINITE));
  });
});

// ---- Real data: our split rule reproduces AdaTime's per-class counts for every subject. ----
const realManifest = path.join(realDataRoot(__dirname), 'HAR', 'manifest.json');

testNeeding(realData(realManifest), 'allocateTestCounts matches AdaTime per-class test counts on all 30 subjects', {}, () => {
  type Counts = { label_counts: number[] };
  const m = JSON.parse(fs.readFileSync(realManifest, 'utf8')) as { per_domain: Record<string, { train: Counts; test: Counts }> };
  const entries = Object.entries(m.per_domain);
  assert.equal(entries.length, 30);
  for (const [id, d] of entries) {
    const total = d.train.label_counts.map((c, k) => c + (d.test.label_counts[k] ?? 0));
    assert.deepEqual(allocateTestCounts(total, 0.3), d.test.label_counts, `subject ${id}`);
  }
});
