import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { decode } from '../../shared/protocol/codec';
import { SensorReadingSchema } from '../../shared/protocol/messages';
import { writeDataset } from '../../shared/data/har';
import { defaultSyntheticSpec } from '../../shared/data/synthetic';
import { ErrorCode, isSitekdError } from '../../shared/errors';
import type { Domain, WindowSet } from '../../shared/ml/types';
import { f32ToString, formatReading } from '../../sim/formats';
import { loadSimSites, pickHarSubjects, siteIds } from '../../sim/sources';
import { SiteStream } from '../../sim/site-stream';

/** n windows of C channels × L samples, channels-first, value = i·100 + c·10 + t; labels given. */
function windows(labels: readonly number[], C = 3, L = 4, offset = 0): WindowSet {
  const n = labels.length;
  const x = new Float32Array(n * C * L);
  for (let i = 0; i < n; i++) for (let c = 0; c < C; c++) for (let t = 0; t < L; t++) x[(i * C + c) * L + t] = offset + i * 100 + c * 10 + t;
  return { n, channels: C, length: L, x, y: Uint8Array.from(labels) };
}

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'sitekd-sim-sources-'));
after(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));

describe('SiteStream', () => {
  test('reading k holds every channel of window ⌊k/L⌋ at t = k mod L (channels-first → per-reading order)', () => {
    const s = new SiteStream(windows([0, 1, 2]));
    assert.equal(s.samplesPerLoop, 12);
    assert.deepEqual([...s.valuesAt(0)], [0, 10, 20]);
    assert.deepEqual([...s.valuesAt(3)], [3, 13, 23]);
    assert.deepEqual([...s.valuesAt(4)], [100, 110, 120]);
    assert.deepEqual([...s.valuesAt(11)], [203, 213, 223]);
  });

  test('loops for ever: reading k + n·L equals reading k, labels too', () => {
    const s = new SiteStream(windows([5, 1, 2]));
    for (let k = 0; k < 12; k++) {
      assert.deepEqual([...s.valuesAt(k + 12)], [...s.valuesAt(k)]);
      assert.deepEqual([...s.valuesAt(k + 12 * 1000)], [...s.valuesAt(k)]);
      assert.equal(s.labelAt(k + 24), s.labelAt(k));
    }
    assert.deepEqual([0, 3, 4, 7, 8, 11, 12].map((k) => s.labelAt(k)), [5, 5, 1, 1, 2, 2, 5]);
  });

  test('reuses the output buffer', () => {
    const s = new SiteStream(windows([0, 1]));
    const out = new Float32Array(3);
    assert.equal(s.valuesAt(5, out), out);
    assert.deepEqual([...out], [101, 111, 121]);
  });

  test('majority label by samples over windows that straddle two source windows; ties are reported', () => {
    const s = new SiteStream(windows([0, 1, 1, 2], 1, 4));
    assert.deepEqual(s.majorityLabel(0, 4), { kind: 'label', label: 0, samples: 4 });
    assert.deepEqual(s.majorityLabel(1, 4), { kind: 'label', label: 0, samples: 3 }); // 3 of window 0, 1 of window 1
    assert.deepEqual(s.majorityLabel(2, 4), { kind: 'tie' }); // 2 + 2
    assert.deepEqual(s.majorityLabel(3, 4), { kind: 'label', label: 1, samples: 3 });
    assert.deepEqual(s.majorityLabel(4, 8), { kind: 'label', label: 1, samples: 8 }); // windows 1 and 2 share label 1
    assert.deepEqual(s.majorityLabel(14, 4), { kind: 'tie' }); // 2 of window 3 (label 2), 2 of window 0 of loop 2
    assert.deepEqual(s.majorityLabel(13, 4), { kind: 'label', label: 2, samples: 3 });
    assert.deepEqual(s.majorityLabel(0, 12), { kind: 'label', label: 1, samples: 8 });
    assert.equal(s.majorityLabel(-1, 4), undefined);
    assert.equal(s.majorityLabel(0, 0), undefined);
  });

  test('shuffle order is a seeded permutation per loop; grouped order sorts by label', () => {
    const labels = Array.from({ length: 20 }, (_, i) => i % 4);
    const a = new SiteStream(windows(labels, 1, 2), { order: 'shuffle', seed: 7 });
    const b = new SiteStream(windows(labels, 1, 2), { order: 'shuffle', seed: 7 });
    const loop = (s: SiteStream, l: number): number[] => Array.from({ length: 20 }, (_, i) => s.windowAt(l * 40 + i * 2));
    assert.deepEqual(loop(a, 0), loop(b, 0));
    assert.deepEqual([...loop(a, 0)].sort((x, y) => x - y), Array.from({ length: 20 }, (_, i) => i));
    assert.notDeepEqual(loop(a, 0), loop(a, 1));
    assert.deepEqual(loop(a, 0), loop(b, 0)); // still the same after other loops were cached
    for (let k = 0; k < 40; k++) assert.equal(a.labelAt(k), labels[a.windowAt(k)]);

    const g = new SiteStream(windows(labels, 1, 2), { order: 'grouped' });
    const seq = Array.from({ length: 20 }, (_, i) => g.labelAt(i * 2));
    assert.deepEqual(seq, [...seq].sort((x, y) => x - y));
    assert.deepEqual([...g.valuesAt(2)], [400]); // the second window of label 0 is window 4
  });

  test('refuses unlabelled or empty window sets', () => {
    assert.throws(() => new SiteStream({ n: 1, channels: 1, length: 2, x: new Float32Array(2) }), (e: unknown) => isSitekdError(e, ErrorCode.INPUT_SHAPE));
    assert.throws(() => new SiteStream(windows([])), (e: unknown) => isSitekdError(e, ErrorCode.CONFIG_INVALID));
  });
});

describe('site ids and subjects', () => {
  test('site ids are prefix + 1..N and must be valid protocol ids', () => {
    assert.deepEqual(siteIds(3), ['site-1', 'site-2', 'site-3']);
    assert.deepEqual(siteIds(2, 'plant.'), ['plant.1', 'plant.2']);
    assert.throws(() => siteIds(2, 'a/b'), (e: unknown) => isSitekdError(e, ErrorCode.CONFIG_INVALID));
    assert.throws(() => siteIds(0), (e: unknown) => isSitekdError(e, ErrorCode.CONFIG_INVALID));
  });

  test('HAR subjects: scenario targets first, then non-sources, then sources', () => {
    const domains = ['1', '2', '6', '7', '11', '13', '20'];
    const scenarios = [
      { source: '2', target: '11' },
      { source: '7', target: '13' },
      { source: '6', target: '99' },
    ];
    assert.deepEqual(pickHarSubjects(domains, scenarios, 7), ['11', '13', '1', '20', '2', '6', '7']);
    assert.deepEqual(pickHarSubjects(domains, scenarios, 2), ['11', '13']);
    assert.throws(() => pickHarSubjects(domains, scenarios, 8), (e: unknown) => isSitekdError(e, ErrorCode.CONFIG_INVALID));
  });
});

describe('loadSimSites', () => {
  test('HAR data: subjects from scenarios.json, labels and values from the chosen split', () => {
    const dataDir = path.join(tmpRoot, 'HAR');
    const dom = (id: string, k: number): Domain => ({ id, train: windows([k, k], 3, 4, 5000), test: windows([k, (k + 1) % 3], 3, 4) });
    writeDataset(dataDir, { name: 'HAR', classNames: ['a', 'b', 'c'], samplingRateHz: 50, domains: [dom('2', 0), dom('11', 1), dom('13', 2)] });
    fs.writeFileSync(path.join(tmpRoot, 'scenarios.json'), JSON.stringify({ HAR: { data_dir: 'HAR', scenarios: [{ source: '2', target: '13' }] } }));

    const r = loadSimSites({ sites: 2, data: dataDir, order: 'file' });
    assert.equal(r.kind, 'har');
    assert.deepEqual(r.sites.map((s) => [s.site, s.subject, s.kind]), [['site-1', '13', 'har'], ['site-2', '11', 'har']]);
    const s1 = r.sites[0]!;
    assert.deepEqual(s1.classNames, ['a', 'b', 'c']);
    assert.equal(s1.samplingRateHz, 50);
    assert.deepEqual([0, 4, 8].map((k) => s1.stream.labelAt(k)), [2, 0, 2]);
    assert.deepEqual([...s1.stream.valuesAt(5)], [101, 111, 121]);
    assert.equal(s1.description, 'HAR subject 13 (test split, 2 windows back to back in file order)');

    const both = loadSimSites({ sites: 1, data: tmpRoot, split: 'both', order: 'file', subjects: ['2'] });
    const st = both.sites[0]!.stream;
    assert.equal(st.windowCount, 4);
    assert.deepEqual([...st.valuesAt(8)], [5000, 5010, 5020]); // test windows first, then train
    assert.match(both.sites[0]!.description, /subject 2 \(test \+ train splits, 4 windows back to back in file order\)/);

    assert.throws(() => loadSimSites({ sites: 1, data: path.join(tmpRoot, 'nope') }), (e: unknown) => isSitekdError(e, ErrorCode.DATA_NOT_FOUND));
  });

  test('HAR data plays each subject\'s rebuilt recording by default (test + train windows chained on their overlaps)', () => {
    // Subject 7: one recording of 10 samples × 2 channels cut into 4-sample windows with stride 2 (4 windows), plus an
    // unrelated window; shuffled over train and test.
    const rec = Array.from({ length: 10 }, (_, t) => [t + 1, -(t + 1)]);
    const cutAt = (t0: number): number[] => [0, 1].flatMap((c) => [0, 1, 2, 3].map((t) => rec[t0 + t]![c]!));
    const lone = [90, 91, 92, 93, 80, 81, 82, 83];
    const ws = (rows: number[][], labels: number[]): WindowSet => ({ n: rows.length, channels: 2, length: 4, x: Float32Array.from(rows.flat()), y: Uint8Array.from(labels) });
    const dir = path.join(tmpRoot, 'REC');
    writeDataset(dir, {
      name: 'HAR', classNames: ['a', 'b'], samplingRateHz: 50,
      domains: [{ id: '7', train: ws([cutAt(4), lone, cutAt(0)], [1, 0, 1]), test: ws([cutAt(6), cutAt(2)], [1, 1]) }],
    });
    const r = loadSimSites({ sites: 1, data: dir, subjects: ['7'] });
    const s = r.sites[0]!.stream;
    assert.equal(s.order, 'recorded');
    assert.equal(s.windowCount, 5);
    assert.equal(s.samplesPerLoop, 10 + 4);
    // Chains in the order of their first window (test windows first): the recording from cutAt(0) at train index 2 → set
    // index 4; the lone window at set index 3 comes first.
    const values = Array.from({ length: s.samplesPerLoop }, (_, k) => [...s.valuesAt(k)]);
    assert.deepEqual(values.slice(0, 4), [[90, 80], [91, 81], [92, 82], [93, 83]]);
    assert.deepEqual(values.slice(4), rec);
    assert.deepEqual(Array.from({ length: 14 }, (_, k) => s.labelAt(k)), [0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
    assert.equal(
      r.sites[0]!.description,
      'HAR subject 7 (test + train splits, recorded order: 5 windows chained by their exact 2-sample overlaps into 2 continuous recordings, 14 samples per loop)',
    );
    // The windows-back-to-back orders stay available.
    assert.equal(loadSimSites({ sites: 1, data: dir, subjects: ['7'], order: 'shuffle' }).sites[0]!.stream.samplesPerLoop, 2 * 4);
    assert.equal(loadSimSites({ sites: 1, data: dir, subjects: ['7'], order: 'grouped', split: 'both' }).sites[0]!.stream.samplesPerLoop, 5 * 4);
    // An explicit split is chained as it is: the train windows alone form the chains cutAt(4) and cutAt(0) (not adjacent) and the lone one.
    const train = loadSimSites({ sites: 1, data: dir, subjects: ['7'], split: 'train' }).sites[0]!.stream;
    assert.equal(train.recording!.chains.chains.length, 3);
  });

  test('synthetic sites are generator sites 1..N (site 0 is the source), 9 × 128 like HAR', () => {
    const spec = { ...defaultSyntheticSpec.harLike, trainPerClass: 2, testPerClass: 2 };
    const r = loadSimSites({ sites: 2, synthetic: true, syntheticSpec: spec });
    assert.equal(r.kind, 'synthetic');
    assert.equal(r.sites[0]!.stream.order, 'file'); // independent windows: back to back by default
    assert.match(r.sites[0]!.description, /test split, \d+ windows back to back in file order\)$/);
    // 'recorded' finds no overlaps between independent windows and plays them back to back.
    const rec = loadSimSites({ sites: 1, synthetic: true, syntheticSpec: spec, order: 'recorded' }).sites[0]!;
    assert.equal(rec.stream.recording!.chains.links, 0);
    assert.match(rec.description, /recorded order: none of the \d+ windows overlap/);
    assert.deepEqual([...rec.stream.valuesAt(130)], [...loadSimSites({ sites: 1, synthetic: true, syntheticSpec: spec, split: 'both' }).sites[0]!.stream.valuesAt(130)]);
    assert.deepEqual(r.sites.map((s) => [s.site, s.subject]), [['site-1', 'site-1'], ['site-2', 'site-2']]);
    const s = r.sites[0]!.stream;
    assert.equal(s.channels, 9);
    assert.equal(s.windowLength, 128);
    assert.equal(r.sites[0]!.samplingRateHz, 50);
    // Deterministic.
    const again = loadSimSites({ sites: 2, synthetic: true, syntheticSpec: spec });
    assert.deepEqual([...again.sites[1]!.stream.valuesAt(300)], [...r.sites[1]!.stream.valuesAt(300)]);
  });
});

describe('reading formats', () => {
  test('shortest float32 decimals', () => {
    assert.equal(f32ToString(Math.fround(0.1)), '0.1');
    assert.equal(f32ToString(Math.fround(-1.2345678)), '-1.2345678');
    assert.equal(f32ToString(0), '0');
    assert.equal(f32ToString(Math.fround(1e-30)), '1e-30');
    for (const v of [Math.fround(Math.PI), Math.fround(-0.000123456), Math.fround(123456.789)]) assert.equal(Math.fround(Number(f32ToString(v))), v);
  });

  test('json, csv and msgpack carry ts and the values in channel order', () => {
    const values = Float32Array.from([0.1, -2, 3.5]);
    const json = new TextDecoder().decode(formatReading('json', 1700000000020, values));
    assert.equal(json, '{"ts":1700000000020,"values":[0.1,-2,3.5]}');
    assert.equal(new TextDecoder().decode(formatReading('csv', 1700000000020, values)), '1700000000020,0.1,-2,3.5');
    const r = decode(SensorReadingSchema, formatReading('msgpack', 1700000000020, values));
    assert.ok(r.ok);
    assert.deepEqual(r.value, { ts: 1700000000020, values: [0.1, -2, 3.5] });
    const j = decode(SensorReadingSchema, formatReading('json', 5, values));
    assert.ok(j.ok);
  });
});
