import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { loadDomain, writeDataset } from '../../shared/data/har';
import { defaultSyntheticSpec, generateSites, syntheticChannelNames, syntheticClassNames, type SyntheticSpec } from '../../shared/data/synthetic';
import { ErrorCode, isSitekdError } from '../../shared/errors';
import type { WindowSet } from '../../shared/ml/types';

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'sitekd-syn-'));
after(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));

const tiny = defaultSyntheticSpec.tiny;
const har = defaultSyntheticSpec.harLike;

function classCounts(ws: WindowSet, k: number): number[] {
  const c = new Array<number>(k).fill(0);
  for (const y of ws.y ?? []) c[y] = (c[y] as number) + 1;
  return c;
}

/** Mean over windows and time of each channel. */
function channelMeans(ws: WindowSet): number[] {
  const m = new Array<number>(ws.channels).fill(0);
  for (let i = 0; i < ws.n; i++) for (let c = 0; c < ws.channels; c++) for (let t = 0; t < ws.length; t++) m[c] = (m[c] as number) + (ws.x[(i * ws.channels + c) * ws.length + t] as number);
  return m.map((v) => v / (ws.n * ws.length));
}

const dist = (a: number[], b: number[]): number => Math.hypot(...a.map((v, i) => v - (b[i] as number)));

test('tiny preset: shapes, ids, balanced source, finite values, valid labels', () => {
  const sites = generateSites(tiny);
  assert.deepEqual(sites.map((d) => d.id), ['site-0', 'site-1', 'site-2']);
  for (const d of sites) {
    for (const ws of [d.train, d.test]) {
      assert.deepEqual([ws.channels, ws.length], [3, 32]);
      assert.equal(ws.x.length, ws.n * 3 * 32);
      assert.equal(ws.y?.length, ws.n);
      assert.ok(ws.x.every(Number.isFinite));
      assert.ok((ws.y ?? []).every((y) => y < 3));
    }
  }
  const src = sites[0];
  assert.ok(src !== undefined);
  assert.deepEqual(classCounts(src.train, 3), [12, 12, 12]);
  assert.deepEqual(classCounts(src.test, 3), [6, 6, 6]);
  // Windows are shuffled, not class-sorted.
  assert.notDeepEqual(Array.from(src.train.y ?? []), [...(src.train.y ?? [])].sort((a, b) => a - b));
});

test('harLike preset: 9 × 128, 6 classes, gravity on the last triple', () => {
  const [src] = generateSites({ ...har, sites: 1 });
  assert.ok(src !== undefined);
  assert.deepEqual([src.train.channels, src.train.length], [9, 128]);
  assert.deepEqual(classCounts(src.train, 6), new Array<number>(6).fill(40));
  const means = channelMeans(src.train);
  // Device near upright at the source: ~1 g on "total acc x", body channels ~0.
  assert.ok((means[6] as number) > 0.7, `total x mean ${means[6]}`);
  for (const c of [0, 1, 2, 3, 4, 5]) assert.ok(Math.abs(means[c] as number) < 0.1, `channel ${c} mean ${means[c]}`);
});

test('dynamic classes move more than static ones', () => {
  const [src] = generateSites({ ...har, sites: 1 });
  assert.ok(src !== undefined);
  const { x, n, y } = src.train;
  const sd = new Array<number>(6).fill(0);
  const cnt = new Array<number>(6).fill(0);
  for (let i = 0; i < n; i++) {
    let s = 0;
    let s2 = 0;
    for (let t = 0; t < 128; t++) {
      const v = x[(i * 9 + 0) * 128 + t] as number; // body acc x
      s += v;
      s2 += v * v;
    }
    const k = y?.[i] as number;
    sd[k] = (sd[k] as number) + Math.sqrt(s2 / 128 - (s / 128) ** 2);
    cnt[k] = (cnt[k] as number) + 1;
  }
  const avg = sd.map((v, k) => v / (cnt[k] as number));
  assert.ok(Math.min(...avg.slice(0, 3)) > 2 * Math.max(...avg.slice(3)), `per-class sd ${avg.join(', ')}`);
});

test('fully determined by the seed; site s does not depend on the number of sites', () => {
  const a = generateSites(tiny);
  const b = generateSites(tiny);
  assert.deepEqual(a, b);
  const c = generateSites({ ...tiny, seed: 2 });
  assert.notDeepEqual(a[0]?.train.x, c[0]?.train.x);
  const fewer = generateSites({ ...tiny, sites: 2 });
  assert.deepEqual(fewer, a.slice(0, 2));
});

test('shift moves the shifted sites away from the source, shift 0 does not', () => {
  const spec: SyntheticSpec = { ...har, sites: 3, trainPerClass: 20, testPerClass: 1 };
  const gap = (shift: number): number => {
    const [s0, s1, s2] = generateSites({ ...spec, shift }).map((d) => channelMeans(d.train));
    return (dist(s1 as number[], s0 as number[]) + dist(s2 as number[], s0 as number[])) / 2;
  };
  const none = gap(0);
  const some = gap(0.6);
  assert.ok(some > 5 * none, `mean gap shift 0: ${none}, shift 0.6: ${some}`);
});

test('shift 0 keeps classes balanced at every site; label skew changes class counts', () => {
  for (const d of generateSites({ ...tiny, shift: 0 })) assert.deepEqual(classCounts(d.train, 3), [12, 12, 12]);
  const skewed = generateSites({ ...har, sites: 3, shift: 1, knobs: { labelSkew: 1 } });
  const counts = classCounts((skewed[1] as { train: WindowSet }).train, 6);
  assert.ok(Math.max(...counts) > Math.min(...counts), `counts ${counts.join(', ')}`);
  // Source stays balanced whatever the knobs.
  assert.deepEqual(classCounts((skewed[0] as { train: WindowSet }).train, 6), new Array<number>(6).fill(40));
});

test('knobs at 0 with shift 1 reproduce the source distribution parameters', () => {
  const zero = { rotationDeg: 0, gain: 0, offset: 0, noise: 0, timeScale: 0, intensity: 0, labelSkew: 0 };
  const sites = generateSites({ ...tiny, shift: 1, knobs: zero, trainPerClass: 200 });
  const m0 = channelMeans((sites[0] as { train: WindowSet }).train);
  const m1 = channelMeans((sites[1] as { train: WindowSet }).train);
  assert.ok(dist(m0, m1) < 0.05, `means ${m0} vs ${m1}`);
});

test('round trip through writeDataset / loadDomain', () => {
  const sites = generateSites(tiny);
  const dir = path.join(tmpRoot, 'SYN');
  writeDataset(dir, { name: 'SYN', classNames: syntheticClassNames(3), channelNames: syntheticChannelNames(3), samplingRateHz: 25, domains: sites });
  const back = loadDomain(dir, 'site-1');
  assert.deepEqual(back, sites[1]);
  assert.deepEqual(syntheticChannelNames(5), ['s0_x', 's0_y', 's0_z', 'aux0', 'aux1']);
});

test('odd channel counts and zero test windows work', () => {
  const [d] = generateSites({ ...tiny, sites: 1, channels: 5, testPerClass: 0 });
  assert.equal(d?.train.x.length, 36 * 5 * 32);
  assert.equal(d?.test.n, 0);
});

test('invalid specs → CONFIG_INVALID', () => {
  const bad: Array<Partial<SyntheticSpec>> = [{ shift: 1.5 }, { shift: -0.1 }, { sites: 0 }, { channels: 0 }, { length: 1 }, { numClasses: 300 }, { trainPerClass: 1.5 }, { seed: Number.NaN }];
  for (const b of bad) {
    assert.throws(() => generateSites({ ...tiny, ...b }), (e: unknown) => isSitekdError(e, ErrorCode.CONFIG_INVALID), JSON.stringify(b));
  }
});
