import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { ErrorCode, isSitekdError, type ErrorCode as Code } from '../../shared/errors';
import {
  listDomains,
  loadDomain,
  loadDomains,
  loadManifest,
  loadScenarios,
  resolveDataDir,
  writeDataset,
} from '../../shared/data/har';
import { findRepoRoot } from '../../shared/fs/repo-root';
import type { Domain, WindowSet } from '../../shared/ml/types';
import { realData, realDataRoot, testNeeding } from '../helpers/requirements';

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'sitekd-har-'));
after(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));
let counter = 0;

const code = (c: Code) => (e: unknown): boolean => isSitekdError(e, c);

/** n windows of 3 channels × 4 samples with value i·100 + c·10 + t (+ offset), labels i % 2. */
function windows(n: number, offset: number): WindowSet {
  const x = new Float32Array(n * 3 * 4);
  for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) for (let t = 0; t < 4; t++) x[(i * 3 + c) * 4 + t] = offset + i * 100 + c * 10 + t;
  return { n, channels: 3, length: 4, x, y: Uint8Array.from({ length: n }, (_, i) => i % 2) };
}

const DOMAINS: Domain[] = [
  { id: '2', train: windows(5, 0), test: windows(2, 0.5) },
  { id: '11', train: windows(3, 1000), test: windows(1, 1000.5) },
];

/** A fresh `<root>/HAR/` dataset; returns the root. */
function makeDataset(): string {
  const root = path.join(tmpRoot, `ds${counter++}`);
  writeDataset(path.join(root, 'HAR'), {
    name: 'HAR',
    classNames: ['a', 'b', 'c'],
    channelNames: ['x', 'y', 'z'],
    samplingRateHz: 50,
    domains: DOMAINS,
  });
  return root;
}

function editManifest(root: string, edit: (m: Record<string, unknown>) => void): void {
  const file = path.join(root, 'HAR', 'manifest.json');
  const m = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  edit(m);
  fs.writeFileSync(file, JSON.stringify(m));
}

function firstFile(m: Record<string, unknown>): Record<string, unknown> {
  return (m.files as Array<Record<string, unknown>>)[0] as Record<string, unknown>;
}

describe('writeDataset / loadDomain round trip', () => {
  test('reads back exactly what was written, in aligned buffers', () => {
    const root = makeDataset();
    const m = loadManifest(root);
    assert.equal(m.dir, path.join(root, 'HAR'));
    assert.deepEqual(m.classNames, ['a', 'b', 'c']);
    assert.deepEqual(m.channelNames, ['x', 'y', 'z']);
    assert.equal(m.samplingRateHz, 50);
    assert.equal(m.channels, 3);
    assert.equal(m.length, 4);
    assert.deepEqual(listDomains(root), ['2', '11']);

    for (const want of DOMAINS) {
      const got = loadDomain(root, want.id, { verifyChecksums: true });
      assert.equal(got.id, want.id);
      for (const split of ['train', 'test'] as const) {
        const g = got[split];
        const w = want[split];
        assert.deepEqual([g.n, g.channels, g.length], [w.n, 3, 4]);
        assert.deepEqual(Array.from(g.x), Array.from(w.x));
        assert.deepEqual(Array.from(g.y ?? []), Array.from(w.y ?? []));
        // Own buffer at offset 0: safe to hand to tfjs / workers without copying again.
        assert.equal(g.x.byteOffset, 0);
        assert.equal(g.x.buffer.byteLength, g.x.byteLength);
      }
    }
    assert.deepEqual(loadDomains(m).map((d) => d.id), ['2', '11']);
    assert.deepEqual(loadDomains(root, ['11']).map((d) => d.test.n), [1]);
  });

  test('element (i, c, t) sits at (i·C + c)·L + t', () => {
    const d = loadDomain(makeDataset(), '2');
    assert.equal(d.train.x[(3 * 3 + 2) * 4 + 1], 321);
  });

  test('writes manifest fields that the real data also has', () => {
    const root = makeDataset();
    const raw = JSON.parse(fs.readFileSync(path.join(root, 'HAR', 'manifest.json'), 'utf8')) as Record<string, unknown>;
    const f = firstFile(raw);
    assert.equal(raw.num_classes, 3);
    assert.equal(f.samples_file, '2_train.f32');
    assert.equal(f.labels_file, '2_train.labels.u8');
    assert.deepEqual(f.label_counts, [3, 2, 0]);
    const bytes = fs.readFileSync(path.join(root, 'HAR', '2_train.f32'));
    assert.equal(f.sha256_samples, createHash('sha256').update(bytes).digest('hex'));
  });

  test('rejects unlabelled sets, unsafe ids, shape mismatches and non-finite values', () => {
    const dir = path.join(tmpRoot, `bad${counter++}`);
    const spec = { classNames: ['a', 'b'], domains: DOMAINS };
    const unlabelled: WindowSet = { n: 1, channels: 3, length: 4, x: new Float32Array(12) };
    assert.throws(() => writeDataset(dir, { ...spec, domains: [{ id: '1', train: unlabelled, test: unlabelled }] }), code(ErrorCode.INPUT_SHAPE));
    assert.throws(() => writeDataset(dir, { ...spec, domains: [{ ...(DOMAINS[0] as Domain), id: '../x' }] }), code(ErrorCode.INPUT_SHAPE));
    assert.throws(() => writeDataset(dir, { ...spec, domains: [DOMAINS[0] as Domain, DOMAINS[0] as Domain] }), code(ErrorCode.INPUT_SHAPE));
    const wrongShape: Domain = { id: '3', train: windows(1, 0), test: { ...windows(1, 0), length: 2, x: new Float32Array(6) } };
    assert.throws(() => writeDataset(dir, { ...spec, domains: [wrongShape] }), code(ErrorCode.INPUT_SHAPE));
    const nan = windows(1, 0);
    nan.x[0] = Number.NaN;
    assert.throws(() => writeDataset(dir, { ...spec, domains: [{ id: '4', train: nan, test: nan }] }), code(ErrorCode.DATA_NONFINITE));
    assert.throws(() => writeDataset(dir, { ...spec, classNames: ['only'] }), code(ErrorCode.DATA_MANIFEST_INVALID));
    assert.throws(() => writeDataset(dir, { ...spec, domains: [] }), code(ErrorCode.INPUT_SHAPE));
  });
});

describe('resolveDataDir', () => {
  test('accepts the dataset dir or a root with HAR/ inside', () => {
    const root = makeDataset();
    assert.equal(resolveDataDir(root), path.join(root, 'HAR'));
    assert.equal(resolveDataDir(path.join(root, 'HAR')), path.join(root, 'HAR'));
  });

  test('missing directory or manifest → DATA_NOT_FOUND', () => {
    assert.throws(() => resolveDataDir(path.join(tmpRoot, 'nope')), code(ErrorCode.DATA_NOT_FOUND));
    assert.throws(() => loadManifest(path.join(tmpRoot, 'nope')), code(ErrorCode.DATA_NOT_FOUND));
    const empty = path.join(tmpRoot, `empty${counter++}`);
    fs.mkdirSync(empty);
    assert.throws(() => loadDomain(empty, '2'), code(ErrorCode.DATA_NOT_FOUND));
  });
});

describe('manifest validation', () => {
  const invalidCases: Array<[string, (m: Record<string, unknown>) => void]> = [
    ['no class_names', (m) => delete m.class_names],
    ['class_names not strings', (m) => (m.class_names = [1, 2])],
    ['files empty', (m) => (m.files = [])],
    ['unknown split', (m) => (firstFile(m).split = 'val')],
    ['negative n', (m) => (firstFile(m).n = -1)],
    ['path escaping the dir', (m) => (firstFile(m).samples_file = '../2_train.f32')],
    ['bad sha256', (m) => (firstFile(m).sha256_samples = 'xyz')],
    ['num_classes ≠ class_names', (m) => (m.num_classes = 4)],
    ['channel_names ≠ channels', (m) => (m.channel_names = ['x', 'y'])],
    ['inconsistent file shapes', (m) => (firstFile(m).length = 5)],
    ['duplicate entry', (m) => (m.files = [firstFile(m), ...(m.files as unknown[])])],
    ['domain without test split', (m) => (m.files = (m.files as Array<Record<string, unknown>>).filter((f) => !(f.domain === '2' && f.split === 'test')))],
  ];
  for (const [name, edit] of invalidCases) {
    test(`${name} → DATA_MANIFEST_INVALID`, () => {
      const root = makeDataset();
      editManifest(root, edit);
      assert.throws(() => loadManifest(root), code(ErrorCode.DATA_MANIFEST_INVALID));
    });
  }

  test('unparsable JSON → DATA_MANIFEST_INVALID', () => {
    const root = makeDataset();
    fs.writeFileSync(path.join(root, 'HAR', 'manifest.json'), '{ nope');
    assert.throws(() => loadManifest(root), code(ErrorCode.DATA_MANIFEST_INVALID));
  });

  test('numeric domain ids and unknown extra fields are accepted', () => {
    const root = makeDataset();
    editManifest(root, (m) => {
      m.provenance = { anything: true };
      for (const f of m.files as Array<Record<string, unknown>>) if (f.domain === '2') f.domain = 2;
    });
    assert.deepEqual(listDomains(root), ['2', '11']);
    assert.equal(loadDomain(root, '2').train.n, 5);
  });
});

describe('file checks', () => {
  test('unknown domain → DATA_UNKNOWN_DOMAIN listing the known ids', () => {
    const root = makeDataset();
    assert.throws(
      () => loadDomain(root, '99'),
      (e: unknown) => isSitekdError(e, ErrorCode.DATA_UNKNOWN_DOMAIN) && e.message.includes('2, 11'),
    );
  });

  test('short or long .f32 / .labels.u8 → DATA_TRUNCATED', () => {
    for (const [file, delta] of [['2_train.f32', -4], ['2_train.f32', 4], ['2_test.labels.u8', -1], ['11_train.labels.u8', 1]] as const) {
      const root = makeDataset();
      const p = path.join(root, 'HAR', file);
      const buf = fs.readFileSync(p);
      fs.writeFileSync(p, delta < 0 ? buf.subarray(0, buf.length + delta) : Buffer.concat([buf, Buffer.alloc(delta)]));
      assert.throws(() => loadDomain(root, file.split('_')[0] as string), code(ErrorCode.DATA_TRUNCATED), file);
    }
  });

  test('missing data file → DATA_NOT_FOUND', () => {
    const root = makeDataset();
    fs.rmSync(path.join(root, 'HAR', '11_test.f32'));
    assert.throws(() => loadDomain(root, '11'), code(ErrorCode.DATA_NOT_FOUND));
    assert.equal(loadDomain(root, '2').train.n, 5);
  });

  test('NaN or ±Infinity in samples → DATA_NONFINITE', () => {
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      const root = makeDataset();
      const p = path.join(root, 'HAR', '2_test.f32');
      const buf = fs.readFileSync(p);
      buf.writeFloatLE(bad, 4 * 13);
      fs.writeFileSync(p, buf);
      assert.throws(() => loadDomain(root, '2'), code(ErrorCode.DATA_NONFINITE));
    }
  });

  test('label ≥ number of classes → DATA_MANIFEST_INVALID', () => {
    const root = makeDataset();
    fs.writeFileSync(path.join(root, 'HAR', '11_train.labels.u8'), Uint8Array.from([0, 3, 1]));
    assert.throws(() => loadDomain(root, '11'), code(ErrorCode.DATA_MANIFEST_INVALID));
  });

  test('verifyChecksums catches changed content of the right size', () => {
    const root = makeDataset();
    const p = path.join(root, 'HAR', '2_train.f32');
    const buf = fs.readFileSync(p);
    buf.writeFloatLE(42, 0);
    fs.writeFileSync(p, buf);
    assert.equal(loadDomain(root, '2').train.x[0], 42); // not checked by default
    assert.throws(() => loadDomain(root, '2', { verifyChecksums: true }), code(ErrorCode.DATA_TRUNCATED));
  });
});

describe('loadScenarios', () => {
  const realFormat = {
    source_of_scenarios: 'test',
    HAR: { data_dir: 'HAR', scenarios: [{ source: '2', target: '11', complete: true, missing: [] }, { source: 7, target: 13 }] },
  };

  test('reads the real format from the root, given the root or the dataset dir', () => {
    const root = makeDataset();
    fs.writeFileSync(path.join(root, 'scenarios.json'), JSON.stringify(realFormat));
    const want = [{ source: '2', target: '11' }, { source: '7', target: '13' }];
    assert.deepEqual(loadScenarios(root), want);
    assert.deepEqual(loadScenarios(path.join(root, 'HAR')), want);
  });

  test('finds the entry by data_dir when the key differs', () => {
    const root = makeDataset();
    fs.writeFileSync(path.join(root, 'scenarios.json'), JSON.stringify({ 'UCI-HAR': realFormat.HAR }));
    assert.equal(loadScenarios(root).length, 2);
  });

  test('missing file or entry → DATA_NOT_FOUND; malformed → DATA_MANIFEST_INVALID', () => {
    const root = makeDataset();
    assert.throws(() => loadScenarios(root), code(ErrorCode.DATA_NOT_FOUND));
    fs.writeFileSync(path.join(root, 'scenarios.json'), JSON.stringify({ EEG: { data_dir: 'EEG', scenarios: [] } }));
    assert.throws(() => loadScenarios(root), code(ErrorCode.DATA_NOT_FOUND));
    fs.writeFileSync(path.join(root, 'scenarios.json'), JSON.stringify({ HAR: { scenarios: [{ source: '2' }] } }));
    assert.throws(() => loadScenarios(root), code(ErrorCode.DATA_MANIFEST_INVALID));
    fs.writeFileSync(path.join(root, 'scenarios.json'), '[1, 2]');
    assert.throws(() => loadScenarios(root), code(ErrorCode.DATA_MANIFEST_INVALID));
  });
});

// ---- Real data (../shared/data next to the repo); skipped on a fresh clone without it. ----
const realRoot = realDataRoot(__dirname);
const REAL = realData(path.join(realRoot, 'HAR', 'manifest.json'));

describe('real UCI-HAR data', () => {
  const root = realRoot;

  testNeeding(REAL, 'manifest: 6 classes, 9 channels × 128 at 50 Hz, 30 subjects', {}, () => {
    const m = loadManifest(root);
    assert.deepEqual(m.classNames, ['walk', 'upstairs', 'downstairs', 'sit', 'stand', 'lie']);
    assert.equal(m.channelNames?.[6], 'total_acc_x');
    assert.equal(m.samplingRateHz, 50);
    assert.deepEqual([m.channels, m.length], [9, 128]);
    assert.deepEqual(listDomains(m), Array.from({ length: 30 }, (_, i) => String(i + 1)));
    // With no argument the resolver finds the same data next to the repo.
    assert.equal(resolveDataDir(), path.join(root, 'HAR'));
  });

  testNeeding(REAL, 'domain 2 train: n=211, 9 × 128, checksums match the manifest', {}, () => {
    const m = loadManifest(root);
    const d = loadDomain(m, '2', { verifyChecksums: true });
    assert.deepEqual([d.train.n, d.train.channels, d.train.length], [211, 9, 128]);
    assert.equal(d.test.n, 91);
    // Checksums computed independently here as well.
    const entry = m.files.find((f) => f.domain === '2' && f.split === 'train');
    assert.ok(entry !== undefined);
    for (const [file, sha] of [[entry.samplesFile, entry.sha256Samples], [entry.labelsFile, entry.sha256Labels]] as const) {
      if (sha === undefined) continue;
      assert.equal(createHash('sha256').update(fs.readFileSync(path.join(m.dir, file))).digest('hex'), sha);
    }
    // Gravity sits on total_acc_x (README: mean ≈ 0.81 g).
    let s = 0;
    for (let i = 0; i < d.train.n; i++) for (let t = 0; t < 128; t++) s += d.train.x[(i * 9 + 6) * 128 + t] as number;
    assert.ok(s / (d.train.n * 128) > 0.5);
  });

  testNeeding(REAL, 'all 30 subjects load; train + test = 10,299 windows', {}, () => {
    const domains = loadDomains(root);
    assert.equal(domains.length, 30);
    assert.equal(domains.reduce((a, d) => a + d.train.n + d.test.n, 0), 10299);
    assert.equal(domains.reduce((a, d) => a + d.train.n, 0), 7194);
  });

  testNeeding(REAL, 'scenarios: the five UNI-KD HAR pairs', {}, () => {
    assert.deepEqual(loadScenarios(root), [
      { source: '2', target: '11' },
      { source: '7', target: '13' },
      { source: '12', target: '16' },
      { source: '9', target: '18' },
      { source: '6', target: '23' },
    ]);
  });
});
